// SQLite implementation of JobStore (private to meta/sqlite/; callers use OpenSqliteJobStore in
// sqlite_meta_store.h). The methods are split over two files: sqlite_job_store.cpp (enqueue,
// reads, retention, opening) and sqlite_job_lifecycle.cpp (claim, heartbeat, finish, cancel,
// rescue).
//
// Schema: migration 2 (migrations.cpp): jobs, job_tenants (per-tenant counters and fair-share
// pass), job_fencing (the token counter).
//
// Invariants, kept by every method in the transaction that changes a job's state:
//   - job_tenants.queued / .running equal the number of the tenant's jobs in state queued /
//     running (a tenant's row exists from its first enqueue on);
//   - a running job has lease_owner, lease_expires_at and attempt_started_at set; every other
//     job has them NULL;
//   - fencing tokens come from job_fencing, incremented by each claim, so they strictly increase
//     across all jobs, store instances and processes sharing the file;
//   - pass (microseconds of service / weight) only grows: +1000/weight per claim, +(attempt
//     time in ms * 1000)/weight per finished attempt, and when a tenant becomes active it is
//     raised to the lowest pass among the active tenants (queued + running > 0).
//
// Concurrency: every method that writes is one BEGIN IMMEDIATE transaction (sqlite::Atomically)
// on a pooled connection, so writers are serialized across threads and processes; each read is
// one SELECT statement, which SQLite runs on one consistent snapshot.
#pragma once

#include <mutex>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "meta/job_store.h"
#include "meta/sqlite/group_commit.h"
#include "meta/sqlite/sqlite_connection.h"
#include "meta/sqlite/sqlite_meta_store.h"

namespace quarry::sqlite {

// The columns ReadJob expects, in its order. A macro so that it concatenates into SQL literals.
#define QUARRY_JOB_COLUMNS                                                                      \
  "id, tenant_id, user_id, kind, payload, state, priority, attempt, max_attempts, run_after, "  \
  "lease_owner, lease_expires_at, fencing_token, progress, result, error_code, error_message, " \
  "error_details, cancel_requested, idempotency_key, created_at, started_at, finished_at"

// A Job from a row selected (or RETURNING) QUARRY_JOB_COLUMNS. Internal error for a state the
// binary does not know.
Result<Job> ReadJob(const Statement& row);

// Steps `stmt` (which selects or returns QUARRY_JOB_COLUMNS) once: the job, or nullopt when there
// is no row. Steps on to the end so that a DML ... RETURNING statement has completed.
Result<std::optional<Job>> StepJob(Statement& stmt);

// NotFound "job_not_found": a missing job and another tenant's job look the same.
Status JobNotFound();
// The tenant's job `job_id`, or JobNotFound (also for another tenant's job).
Result<Job> LoadJob(Connection& conn, const std::string& tenant_id, const std::string& job_id);
// FailedPrecondition "lease_lost": the caller's attempt no longer owns the job.
Status LeaseLost();

// Applies a job state change to its tenant's row: queued += d_queued, running += d_running,
// pass += charge_micros / weight. Internal error when the tenant has no row (a broken invariant).
Status AdjustTenant(Connection& conn, const std::string& tenant_id, std::int64_t d_queued,
                    std::int64_t d_running, std::int64_t charge_micros);

class SqliteJobStore final : public JobStore {
 public:
  // `first` is the connection migrations ran on; it seeds the pool.
  SqliteJobStore(const SqliteOptions& options, std::unique_ptr<Connection> first)
      : pool_(options.path, options.busy_timeout_ms, options.max_connections, std::move(first)) {}

  Result<EnqueueResult> Enqueue(const NewJob& job, int max_queued,
                                std::chrono::milliseconds idempotency_window, UnixMillis now) override;
  Result<std::optional<Job>> Claim(const ClaimRequest& request, UnixMillis now) override;
  Result<FinishAndClaimResult> FinishAndClaim(const std::vector<Completion>& completions, UnixMillis now,
                                              const ClaimRequest& next) override;
  Result<bool> Heartbeat(const std::string& job_id, std::int64_t fencing_token, UnixMillis lease_expires_at,
                         const std::string& progress_json) override;
  Status Finish(const std::string& job_id, std::int64_t fencing_token, const AttemptOutcome& outcome,
                UnixMillis now) override;
  Result<Job> RequestCancel(const std::string& tenant_id, const std::string& job_id, UnixMillis now) override;
  Result<RescueReport> RescueExpired(
      UnixMillis now,
      const std::function<std::chrono::milliseconds(const std::string& kind, int attempt)>& backoff) override;
  Result<int> ExpireLeases(const std::string& owner_prefix, UnixMillis now) override;
  Result<int> ReleaseLeases(const std::string& owner_prefix, UnixMillis now) override;
  Result<Job> Get(const std::string& tenant_id, const std::string& job_id) override;
  Result<Page<Job>> List(const std::string& tenant_id, const JobFilter& filter,
                         const PageRequest& page) override;
  Result<std::int64_t> QueuePosition(const Job& job) override;
  Result<int> DeleteFinishedBefore(UnixMillis cutoff, int batch) override;
  Result<std::vector<JobEvent>> ListEvents(const std::string& tenant_id, const std::string& job_id,
                                           std::int64_t after_seq, int limit) override;
  Result<JobCounts> Counts() override;
  Result<std::vector<std::string>> ActivePayloads(const std::string& kind, int limit) override;
  Result<std::vector<std::pair<std::string, std::int64_t>>> RunningAttempts(int limit) override;
  Status SetTenantWeight(const std::string& tenant_id, int weight) override;
  Result<int> TenantWeight(const std::string& tenant_id) override;
  Status SetTenantRunningCap(const std::string& tenant_id, std::optional<int> cap) override;
  Result<std::pair<std::int64_t, std::int64_t>> TenantJobCounts(const std::string& tenant_id) override;

 private:
  // The bodies of Claim and Finish, inside a transaction the caller holds.
  Result<std::optional<Job>> ClaimIn(Connection& conn, const ClaimRequest& request, UnixMillis now);
  Status FinishIn(Connection& conn, const std::string& job_id, std::int64_t fencing_token,
                  const AttemptOutcome& outcome, UnixMillis now);
  // Runs `fn(conn)` as one atomic write: its writes commit when it succeeds and roll back when
  // it fails. Concurrent writes share commits (GroupCommitter).
  template <typename T, typename F>
  Result<T> Write(F&& fn) {
    std::optional<T> out;
    const std::function<Status(Connection&)> body = [&](Connection& conn) -> Status {
      Result<T> result = fn(conn);
      if (!result.ok()) return result.status();
      out.emplace(std::move(result).value());
      return Status::Ok();
    };
    QUARRY_RETURN_IF_ERROR(committer_.Run(body));
    return std::move(*out);
  }

  // Runs `fn(conn)` on a pooled connection outside any explicit transaction (single-statement
  // reads).
  template <typename T, typename F>
  Result<T> Read(F&& fn) {
    QUARRY_ASSIGN_OR_RETURN(ConnectionPool::Lease lease, pool_.Acquire());
    return fn(*lease);
  }

  ConnectionPool pool_;
  GroupCommitter committer_{pool_};
};

}  // namespace quarry::sqlite
