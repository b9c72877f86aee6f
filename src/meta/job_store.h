// JobStore: the durable queue's storage contract. Implementations: SQLite (embedded mode,
// meta/sqlite/) now, PostgreSQL (SELECT ... FOR UPDATE SKIP LOCKED) in the scale-out mode.
//
// Contract (every implementation):
//   - Every method is atomic (one transaction) and safe to call concurrently from any thread and
//     from several processes sharing the store.
//   - State changes follow IsLegalTransition; a final job never changes again.
//   - Claim hands a queued job to exactly one caller and gives it a fencing token greater than
//     every token handed out before. Heartbeat and Finish succeed only while the caller's token is
//     still the job's current token and the job is running: otherwise FailedPrecondition
//     "lease_lost", and nothing is written.
//   - Tenant reads take the tenant id; another tenant's job is NotFound "job_not_found", exactly
//     like a missing one.
//   - Fair claim: among tenants that have a runnable queued job and are below their running cap,
//     the one with the least service (its "pass": service in milliseconds divided by its weight,
//     charged 1 ms at each claim and the attempt's running time when it ends) goes first; a
//     tenant that becomes active starts at the lowest pass of the active tenants, so it cannot
//     bank credit while idle. Within the tenant: highest priority, then oldest.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "meta/job_records.h"
#include "meta/records.h"

namespace quarry {

struct NewJob {
  std::string tenant_id;
  std::string user_id;
  std::string kind;
  std::string payload_json = "{}";
  int priority = 0;
  int max_attempts = 1;
  UnixMillis run_after = 0;
  std::string idempotency_key;  // empty: none
};

struct EnqueueResult {
  Job job;
  bool existing = false;  // the idempotency key matched a job created within the window
};

struct ClaimRequest {
  std::string worker_id;
  std::chrono::milliseconds lease{30'000};
  std::vector<std::string> kinds;          // kinds this worker can run
  std::map<std::string, int> kind_limits;  // running at once across all workers; absent: no limit
  int max_running_per_tenant = 1'000'000;  // unless the tenant has its own (SetTenantRunningCap)
  // Claim batching, for kinds whose jobs take well under a millisecond or so: when the first job
  // claimed is of one of `batch_kinds`, up to `max_batch - 1` more jobs of those kinds are claimed
  // in the same transaction, each in fair order after the ones before it (so caps, kind limits and
  // the tenants' service count every job of the batch). FinishAndClaim only.
  std::vector<std::string> batch_kinds;
  int max_batch = 1;
};

// How a running attempt ends.
struct AttemptOutcome {
  enum class Kind { kSucceeded, kFailed, kRetry, kCanceled };
  Kind kind = Kind::kSucceeded;
  std::string result_json;         // kSucceeded
  std::string error_code;          // kFailed, kRetry
  std::string error_message;
  std::string error_details_json;
  UnixMillis retry_at = 0;         // kRetry: back to queued, runnable from then
  std::string progress_json;       // the attempt's last progress; empty keeps the stored one
  // How long the handler ran, charged to the tenant's service; -1: the time since the attempt
  // was claimed (exact unless the job waited in a claim batch).
  std::int64_t ran_millis = -1;
};

// An attempt that ended, as its worker reports it.
struct Completion {
  std::string job_id;
  std::int64_t fencing_token = 0;
  AttemptOutcome outcome;
};

struct FinishAndClaimResult {
  std::vector<Status> finished;  // one per completion, in order: Ok, or lease_lost (nothing written for it)
  std::vector<Job> claimed;      // in claim order; empty when nothing fits
};

struct JobFilter {
  std::optional<JobState> state;
  std::string kind;     // empty: any
  std::string user_id;  // empty: any
};

// One entry of a job's event log: a state change (data: {"state", "attempt", "cancel_requested",
// "error_code", "error_message"}) or new progress (data: the progress JSON). Sequence numbers
// grow strictly, in the order the changes were committed (one sequence shared by all jobs, so a
// job's numbers have gaps).
struct JobEvent {
  std::int64_t seq = 0;
  std::string type;  // "state" or "progress"
  std::string data_json;
};

struct JobCounts {
  // (kind, state) -> number of jobs, for queued and running only.
  std::map<std::pair<std::string, JobState>, std::int64_t> active;
};

// What the rescuer did.
struct RescueReport {
  int requeued = 0;
  int failed = 0;
  std::vector<std::pair<std::string, std::string>> failed_jobs;  // (tenant_id, job_id) of those failed
};

class JobStore {
 public:
  virtual ~JobStore() = default;

  // Errors: ResourceExhausted "queue_full" when the tenant already has `max_queued` queued jobs
  // (the message names the limit). An idempotency key already used by the same user for a job
  // created after `now - idempotency_window` returns that job with existing=true.
  virtual Result<EnqueueResult> Enqueue(const NewJob& job, int max_queued,
                                        std::chrono::milliseconds idempotency_window, UnixMillis now) = 0;

  // Claims the next job under the fair policy (see above), or nullopt when nothing fits.
  virtual Result<std::optional<Job>> Claim(const ClaimRequest& request, UnixMillis now) = 0;

  // Renews the lease to `lease_expires_at` and records progress (empty: unchanged). Returns
  // whether cancellation has been requested.
  virtual Result<bool> Heartbeat(const std::string& job_id, std::int64_t fencing_token,
                                 UnixMillis lease_expires_at, const std::string& progress_json) = 0;

  // Ends the running attempt. kRetry puts the job back to queued (attempt kept) when attempts
  // remain, otherwise it fails with the given error. Charges the tenant the attempt's time.
  virtual Status Finish(const std::string& job_id, std::int64_t fencing_token,
                        const AttemptOutcome& outcome, UnixMillis now) = 0;

  // Finishes every completion, then claims for the same worker (a batch when `next` allows), in
  // one transaction: one durable commit for the whole hot path of a worker. A completion whose
  // lease was lost is reported in `finished` and skipped; the others still apply. Any other error
  // writes nothing and is returned.
  virtual Result<FinishAndClaimResult> FinishAndClaim(const std::vector<Completion>& completions,
                                                      UnixMillis now, const ClaimRequest& next) = 0;

  // A queued job becomes canceled at once; a running one gets cancel_requested (its worker sees
  // it at the next heartbeat). A final job is returned unchanged.
  virtual Result<Job> RequestCancel(const std::string& tenant_id, const std::string& job_id,
                                    UnixMillis now) = 0;

  // Running jobs whose lease expired before `now`: back to queued with run_after =
  // now + backoff(kind, attempt) while attempt < max_attempts, else failed "lease_expired".
  virtual Result<RescueReport> RescueExpired(
      UnixMillis now,
      const std::function<std::chrono::milliseconds(const std::string& kind, int attempt)>& backoff) = 0;

  // Makes every lease held by an owner starting with `owner_prefix` expire at `now` (start-up:
  // the previous run of this server holds nothing any more). Returns how many.
  virtual Result<int> ExpireLeases(const std::string& owner_prefix, UnixMillis now) = 0;

  // Gives back the leases held by owners starting with `owner_prefix` (graceful shutdown): their
  // running jobs return to queued, runnable at once, and the interrupted attempt does not count
  // against max_attempts (the job did not fail; its worker stopped). Their old tokens are fenced
  // off. Returns how many.
  virtual Result<int> ReleaseLeases(const std::string& owner_prefix, UnixMillis now) = 0;

  virtual Result<Job> Get(const std::string& tenant_id, const std::string& job_id) = 0;
  // Newest first; the cursor is the last id returned.
  virtual Result<Page<Job>> List(const std::string& tenant_id, const JobFilter& filter,
                                 const PageRequest& page) = 0;

  // Jobs expected to start before this queued job under round-robin between tenants: with A the
  // queued jobs of its tenant ahead of it (higher priority, or equal and older), A plus, for every
  // other tenant with queued jobs, min(its queued jobs, A + 1). 0 for a job that is not queued.
  virtual Result<std::int64_t> QueuePosition(const Job& job) = 0;

  // The job's events with seq > after_seq, oldest first, at most `limit`. NotFound
  // "job_not_found" for another tenant's or a missing job.
  virtual Result<std::vector<JobEvent>> ListEvents(const std::string& tenant_id, const std::string& job_id,
                                                   std::int64_t after_seq, int limit) = 0;

  // Deletes up to `batch` final jobs that finished before `cutoff`; returns how many.
  virtual Result<int> DeleteFinishedBefore(UnixMillis cutoff, int batch) = 0;

  virtual Result<JobCounts> Counts() = 0;
  // The payloads of every queued or running job of `kind`, across tenants (housekeeping: which
  // files are still needed). At most `limit`.
  virtual Result<std::vector<std::string>> ActivePayloads(const std::string& kind, int limit) = 0;
  // (job id, fencing token) of every running attempt, across tenants, at most `limit`
  // (housekeeping: which attempts' scratch directories are live).
  virtual Result<std::vector<std::pair<std::string, std::int64_t>>> RunningAttempts(int limit) = 0;

  // The tenant's weight in the fair claim (>= 1; 1 unless set): a backlogged tenant of weight w
  // gets w times the worker time of a backlogged tenant of weight 1. A change applies to service
  // from then on. NotFound "tenant_not_found" for an unknown tenant.
  virtual Status SetTenantWeight(const std::string& tenant_id, int weight) = 0;
  virtual Result<int> TenantWeight(const std::string& tenant_id) = 0;
  // The tenant's own cap on running jobs (its quota 'running_jobs'), replacing the claiming
  // worker's max_running_per_tenant; nullopt goes back to that. NotFound "tenant_not_found".
  virtual Status SetTenantRunningCap(const std::string& tenant_id, std::optional<int> cap) = 0;
  // The tenant's queued and running jobs now (its counters).
  virtual Result<std::pair<std::int64_t, std::int64_t>> TenantJobCounts(const std::string& tenant_id) = 0;
};

}  // namespace quarry
