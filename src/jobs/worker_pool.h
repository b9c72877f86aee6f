// WorkerPool: threads that claim jobs from the JobStore, run their handlers, heartbeat their
// leases (carrying progress), and rescue jobs whose workers vanished.
//
// Threads: `workers` worker threads (claim, run, finish), one heartbeat thread (renews the
// leases of running attempts every `heartbeat`, writes changed progress in the same write, and
// relays cancellation and lost leases to the handlers), one maintenance thread (rescues expired
// leases every `rescue_interval`; deletes finished jobs past `retention` in batches).
// Every loop step is also callable directly (RunOnce, HeartbeatOnce, MaintainOnce) so tests can
// drive the pool on a simulated clock without threads.
// Thread-safety: all public methods may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "jobs/job_handler.h"
#include "jobs/resource_budget.h"
#include "meta/job_store.h"

namespace quarry::jobs {

struct WorkerPoolOptions {
  // Lease owners are "<owner_prefix><run id>/<worker index>": a server expires the leases of its
  // previous runs at start-up by this prefix.
  std::string owner_prefix = "worker/";
  int workers = 2;
  std::chrono::milliseconds lease{30'000};
  std::chrono::milliseconds heartbeat{2'000};
  std::chrono::milliseconds poll_interval{250};
  std::chrono::milliseconds rescue_interval{1'000};
  std::chrono::milliseconds retention{7 * 24 * 3'600'000LL};
  int max_running_per_tenant = 2;
  // Memory the pool's running attempts may need at once, by their kinds' KindPolicy::memory_bytes
  // (ResourceBudget); 0 = unlimited.
  std::int64_t memory_budget_bytes = 0;
  std::string scratch_root;  // attempt scratch dirs live below it
  // Claim batching (KindPolicy::claim_batch): a worker claims several jobs of a short kind at
  // once and records their outcomes with its next claim, one durable commit for the batch. A
  // kind batches only once its recent running time (moving average) times the batch size fits
  // `batch_window`: that bounds how long a batched job waits for the ones before it, and how
  // late its outcome becomes visible.
  int max_claim_batch = 16;
  std::chrono::milliseconds batch_window{10};
};

// A lock-free histogram with fixed bucket bounds (seconds), for /metrics.
class DurationHistogram {
 public:
  explicit DurationHistogram(std::vector<double> bounds)
      : bounds_(std::move(bounds)), counts_(bounds_.size() + 1) {}
  void Observe(double seconds);
  // Prometheus text lines for `name` (buckets cumulative, then _sum and _count).
  std::string Render(const std::string& name, const std::string& help) const;

 private:
  const std::vector<double> bounds_;
  std::vector<std::atomic<std::uint64_t>> counts_;  // per bucket, the last one is +Inf only
  std::atomic<std::uint64_t> sum_micros_{0};
};

// Counters for /metrics.
struct JobMetrics {
  std::atomic<std::uint64_t> claims{0};
  std::atomic<std::uint64_t> claim_micros{0};  // total time spent in Claim calls that got a job
  std::atomic<std::uint64_t> succeeded{0};
  std::atomic<std::uint64_t> failed{0};
  std::atomic<std::uint64_t> canceled{0};
  std::atomic<std::uint64_t> retries{0};
  std::atomic<std::uint64_t> rescued{0};
  std::atomic<std::uint64_t> lease_lost{0};
  std::atomic<std::uint64_t> run_micros{0};  // total handler time
  DurationHistogram claim_seconds{{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1}};
  DurationHistogram run_seconds{{0.01, 0.1, 1, 10, 60, 300, 900, 3600, 4 * 3600}};
};

class WorkerPool {
 public:
  WorkerPool(JobStore& store, const HandlerRegistry& registry, const Clock& clock, WorkerPoolOptions options);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Checks that every kind fits the memory budget, expires leases still held by earlier runs with
  // this owner prefix, removes the scratch directories of attempts that no longer run (killed
  // processes leave their engine spill and partial output there), then starts the threads.
  Status Start();
  // Wakes idle workers: work may be available (called after a local enqueue).
  void Notify();
  // Stops claiming; lets running attempts finish until `grace` has passed; then asks the rest to
  // stop and releases their leases so that another worker picks their jobs up at once.
  void Stop(std::chrono::milliseconds grace);

  // One claim-run-finish on the calling thread (of a batch, when one was claimed); false when no
  // job was claimed.
  bool RunOnce(int worker_index);
  void HeartbeatOnce();
  void MaintainOnce();

  const JobMetrics& metrics() const { return metrics_; }
  const WorkerPoolOptions& options() const { return options_; }
  int running() const;
  bool stopping() const;
  std::int64_t memory_reserved() const { return budget_.reserved(); }

 private:
  // An attempt's private directory: scratch_root/{tenant}/{job id}-{fencing token}.
  std::string ScratchDir(const Job& job) const;
  // Removes the scratch directories of attempts that are not running (their process died).
  void SweepScratch();
  // Lets the handler of each job the rescuer failed release what its payload holds.
  void DiscardFailed(const RescueReport& report);
  std::string OwnerId(int worker_index) const;
  ClaimRequest MakeClaimRequest(int worker_index, std::vector<std::string> kinds) const;
  // Claims the worker's next batch (usually one job; empty when nothing fits).
  std::vector<Job> ClaimNext(int worker_index);
  // Runs a claimed batch (usually one job) in order and records the outcomes; with `chain`, claims
  // the worker's next batch in the same transaction and returns it. Jobs of the batch still
  // waiting when the pool stops are given back (their leases released, no attempt counted).
  std::vector<Job> RunBatch(int worker_index, std::vector<Job> batch, bool chain);
  // Records the outcomes and, with `claim`, claims the worker's next batch, in one transaction;
  // counts both in the metrics.
  std::vector<Job> RecordAndClaim(int worker_index, const std::vector<Completion>& completions, bool claim);
  // Runs one attempt's handler and decides its outcome; does not record it.
  Completion RunAttempt(const std::shared_ptr<JobContext>& context);
  // Fills the request's batch_kinds and max_batch from the kinds' policies and recent run times.
  void AddBatchLimits(ClaimRequest& request) const;
  void ObserveRunTime(const std::string& kind, double millis);
  void WorkerLoop(int worker_index);
  void PeriodicLoop(std::chrono::milliseconds interval, void (WorkerPool::*step)());
  AttemptOutcome Decide(const Job& job, const JobContext& context, const Result<std::string>& result);

  JobStore& store_;
  const HandlerRegistry& registry_;
  const Clock& clock_;
  const WorkerPoolOptions options_;
  const std::string run_id_;
  // What this pool claims; the registry is read-only once workers start, so these are computed
  // once rather than on every claim.
  const std::map<std::string, int> kind_limits_;
  ResourceBudget budget_;
  JobMetrics metrics_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // GUARDED_BY(mu_)
  bool notified_ = false;  // GUARDED_BY(mu_)
  // Idle worker threads wait here, and only they: a notify_one on cv_ could wake a periodic
  // thread (heartbeat, maintenance) instead, leaving the new job to the next poll interval.
  std::condition_variable wake_workers_;
  std::map<std::string, std::shared_ptr<JobContext>> active_;  // GUARDED_BY(mu_), by job id
  std::vector<std::thread> threads_;
  mutable std::mutex ewma_mu_;
  std::map<std::string, double> run_millis_ewma_;  // GUARDED_BY(ewma_mu_): per kind, milliseconds
};

}  // namespace quarry::jobs
