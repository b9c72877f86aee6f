// The contract between the queue and the code that does a job's work.
//
// A JobHandler runs one attempt of one job on a worker thread. It reports progress through the
// JobContext (kept in memory and written with the next heartbeat, so progress costs no extra
// writes), checks the cancellation flag between units of work, and returns the result as JSON
// text or a Status. The queue decides what happens next:
//   - OK                                        -> succeeded with the result
//   - an error while cancellation was requested -> canceled
//   - a retryable error (IsRetryable)           -> queued again after a backoff, while attempts remain
//   - any other error                           -> failed with the error's code and message
// A handler that publishes anything (a dataset version) must make that write conditional on
// fencing_token() still being the job's token (the store offers such conditional writes), so
// an attempt that lost its lease can never publish.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "jobs/progress.h"
#include "meta/job_records.h"

namespace quarry::jobs {

// Thread-safety: the handler's thread calls ReportProgress/WaitForCancel/accessors; the worker
// pool's heartbeat thread reads progress and sets the flags. All members are safe for that.
class JobContext {
 public:
  JobContext(Job job, std::string scratch_dir) : job_(std::move(job)), scratch_dir_(std::move(scratch_dir)) {}

  const Job& job() const { return job_; }
  std::int64_t fencing_token() const { return job_.fencing_token; }
  // A private directory for this attempt's temporary files; removed after the attempt.
  const std::string& scratch_dir() const { return scratch_dir_; }

  // True once the user asked to cancel, the worker is shutting down past its grace period, or
  // the lease was lost. Handlers stop at the next unit of work and return an error.
  bool cancel_requested() const { return cancel_.load(); }
  bool lease_lost() const { return lease_lost_.load(); }
  void ReportProgress(const JobProgress& progress);
  // Waits until `timeout` passes or cancellation is requested; true when canceled.
  bool WaitForCancel(std::chrono::milliseconds timeout);

  // --- used by the worker pool ---
  JobProgress progress() const;
  bool TakeProgressChange();  // whether progress changed since the last call
  void ProgressNotSent();     // a write carrying progress failed: send it again next time
  void RequestCancel();
  void MarkLeaseLost();

 private:
  const Job job_;
  const std::string scratch_dir_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  JobProgress progress_;         // GUARDED_BY(mu_)
  bool progress_dirty_ = false;  // GUARDED_BY(mu_)
  std::atomic<bool> cancel_{false};
  std::atomic<bool> lease_lost_{false};
};

class JobHandler {
 public:
  virtual ~JobHandler() = default;
  // Returns the result as a JSON text ("{}" when there is nothing to say).
  virtual Result<std::string> Run(JobContext& context) = 0;
  // Called, best effort, when a job ended without its handler's own cleanup: canceled while
  // queued, or failed by the rescuer when its last lease expired. Releases what the payload
  // holds (the ingest handler deletes the upload file). Must be idempotent and must not fail
  // loudly: a crash before it runs leaves the start-up sweep to do the same.
  virtual void Discard(const Job& /*job*/) {}
  // What users see of a job's payload (GET /v1/jobs): a kind hides its server-internal fields,
  // such as file paths.
  virtual std::string PublicPayload(const std::string& payload_json) const { return payload_json; }
};

// How the queue treats a kind.
struct KindPolicy {
  int max_attempts = 3;
  std::chrono::milliseconds backoff_base{1'000};  // first retry waits up to this (full jitter)
  std::chrono::milliseconds backoff_cap{300'000};
  int max_running = 0;  // across all workers; 0 = no limit of its own
  // Peak memory one attempt may use; a worker pool runs only what fits its jobs.memory_budget
  // (ResourceBudget). 0 = negligible.
  std::int64_t memory_bytes = 0;
  // Whether API users may enqueue it directly (POST /v1/jobs). Kinds started by other
  // endpoints (ingest, export) say false.
  bool user_submittable = false;
  // Jobs of this kind a worker may claim at once when they run briefly (WorkerPoolOptions::
  // batch_window). 1: never batched. Only for kinds without a memory need.
  int claim_batch = 1;
};

// Kinds and their handlers. Built before workers start; read-only afterwards.
class HandlerRegistry {
 public:
  void Register(const std::string& kind, KindPolicy policy, std::shared_ptr<JobHandler> handler);
  const KindPolicy* Policy(const std::string& kind) const;
  JobHandler* Handler(const std::string& kind) const;
  std::vector<std::string> Kinds() const;
  std::map<std::string, int> KindLimits() const;
  std::map<std::string, std::int64_t> MemoryNeeds() const;  // kinds with memory_bytes > 0

 private:
  struct Entry {
    KindPolicy policy;
    std::shared_ptr<JobHandler> handler;
  };
  std::map<std::string, Entry> entries_;
};

// Whether an attempt that failed with `status` may succeed if tried again: storage and
// availability problems are; bad input and permission problems are not.
bool IsRetryable(const Status& status);

// Full-jitter exponential backoff before attempt `attempt + 1`: uniform in
// [0, min(cap, base * 2^(attempt-1))].
std::chrono::milliseconds Backoff(const KindPolicy& policy, int attempt);

// Registers the built-in kinds: "noop" (returns at once; benchmarks) and "sleep" (test kind:
// payload {"ms": N, "steps": K} waits N ms in K steps reporting progress, honouring cancel).
void RegisterBuiltinHandlers(HandlerRegistry& registry, bool allow_test_kinds);

}  // namespace quarry::jobs
