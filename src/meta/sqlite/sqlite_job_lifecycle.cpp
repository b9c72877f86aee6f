// SqliteJobStore, part 2: a job's life after enqueue — the fair claim, heartbeats, the end of an
// attempt, cancellation and the rescue of jobs whose worker vanished. Every method is one
// BEGIN IMMEDIATE transaction; see sqlite_job_store.h for the invariants they keep.
#include <algorithm>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "meta/sqlite/sqlite_job_store.h"

namespace quarry::sqlite {
namespace {

// What a claim costs the tenant (1 ms of service, in microseconds before the weight), so that
// even instant jobs rotate between tenants.
constexpr std::int64_t kClaimChargeMicros = 1000;
// Candidate tenants are read in pages of this many (least pass first). Usually the first
// candidate has a runnable job; the claim reads further pages only while every candidate so far
// had none (all its queued jobs wait for run_after or are of kinds this claim cannot take), so
// such tenants can delay, but never starve, the tenants behind them.
constexpr int kCandidatePage = 256;

Result<std::int64_t> CountRunning(Connection& conn, const std::string& kind) {
  QUARRY_ASSIGN_OR_RETURN(Statement stmt,
                          conn.Prepare("SELECT COUNT(*) FROM jobs WHERE state = 'running' AND kind = ?"));
  stmt.Bind(1, kind);
  QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
  return row ? stmt.ColumnInt64(0) : 0;
}

// A tenant's position in the fair order: least pass first, then fewest running, then id (so
// the order is total and a page can resume after its last candidate).
struct Candidate {
  std::string tenant_id;
  std::int64_t pass = 0;
  std::int64_t running = 0;
};

// The next page of tenants that have queued jobs and are below their running cap (their own, else
// `max_running`), in fair order,
// starting after `after` (from the start when nullopt).
Result<std::vector<Candidate>> CandidatePage(Connection& conn, int max_running,
                                             const std::optional<Candidate>& after) {
  auto prepared = after ? conn.Prepare(
                              "SELECT tenant_id, pass, running FROM job_tenants"
                              " WHERE queued > 0 AND running < COALESCE(max_running, ?1)"
                              " AND (pass, running, tenant_id) > (?2, ?3, ?4)"
                              " ORDER BY pass, running, tenant_id LIMIT ?5")
                        : conn.Prepare(
                              "SELECT tenant_id, pass, running FROM job_tenants"
                              " WHERE queued > 0 AND running < COALESCE(max_running, ?1)"
                              " ORDER BY pass, running, tenant_id LIMIT ?5");
  if (!prepared.ok()) return prepared.status();
  Statement& stmt = *prepared;
  stmt.Bind(1, max_running).Bind(5, kCandidatePage);
  if (after) stmt.Bind(2, after->pass).Bind(3, after->running).Bind(4, after->tenant_id);
  std::vector<Candidate> page;
  while (true) {
    QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return page;
    page.push_back({stmt.ColumnText(0), stmt.ColumnInt64(1), stmt.ColumnInt64(2)});
  }
}

// The SQL selecting a tenant's next runnable job of one of `n_kinds` kinds, in claim order.
// Parameters: tenant, now, then the kinds.
std::string NextJobSql(std::size_t n_kinds) {
  std::string sql =
      "SELECT id FROM jobs WHERE tenant_id = ? AND state = 'queued' AND run_after <= ?"
      " AND kind IN (";
  for (std::size_t i = 0; i < n_kinds; ++i) sql += i == 0 ? "?" : ", ?";
  sql += ") ORDER BY priority DESC, id LIMIT 1";
  return sql;
}

Result<std::int64_t> NextFencingToken(Connection& conn) {
  QUARRY_ASSIGN_OR_RETURN(
      Statement stmt, conn.Prepare("UPDATE job_fencing SET value = value + 1 WHERE id = 1 RETURNING value"));
  QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return Internal("metadata_store_error", "the job_fencing row is missing");
  const std::int64_t token = stmt.ColumnInt64(0);
  QUARRY_RETURN_IF_ERROR(stmt.Run());
  return token;
}

std::string_view OutcomeState(const AttemptOutcome& outcome, bool attempts_remain) {
  switch (outcome.kind) {
    case AttemptOutcome::Kind::kSucceeded:
      return ToString(JobState::kSucceeded);
    case AttemptOutcome::Kind::kFailed:
      return ToString(JobState::kFailed);
    case AttemptOutcome::Kind::kCanceled:
      return ToString(JobState::kCanceled);
    case AttemptOutcome::Kind::kRetry:
      return ToString(attempts_remain ? JobState::kQueued : JobState::kFailed);
  }
  return ToString(JobState::kFailed);
}

}  // namespace

// --- claim ---

Result<std::optional<Job>> SqliteJobStore::Claim(const ClaimRequest& request, UnixMillis now) {
  if (request.kinds.empty() || request.max_running_per_tenant <= 0) return std::optional<Job>();
  return Write<std::optional<Job>>([&](Connection& conn) { return ClaimIn(conn, request, now); });
}

Result<FinishAndClaimResult> SqliteJobStore::FinishAndClaim(const std::vector<Completion>& completions,
                                                            UnixMillis now, const ClaimRequest& next) {
  return Write<FinishAndClaimResult>([&](Connection& conn) -> Result<FinishAndClaimResult> {
    FinishAndClaimResult out;
    for (const Completion& done : completions) {
      // FinishIn reports a lost lease before it writes anything, so skipping it is safe.
      Status finished = FinishIn(conn, done.job_id, done.fencing_token, done.outcome, now);
      if (!finished.ok() && finished.code() != "lease_lost") return finished;
      out.finished.push_back(std::move(finished));
    }
    QUARRY_ASSIGN_OR_RETURN(std::optional<Job> first, ClaimIn(conn, next, now));
    if (!first) return out;
    ClaimRequest more = next;
    more.kinds.clear();
    for (const std::string& kind : next.batch_kinds) {
      if (std::find(next.kinds.begin(), next.kinds.end(), kind) != next.kinds.end()) more.kinds.push_back(kind);
    }
    const bool batch = next.max_batch > 1 &&
                       std::find(more.kinds.begin(), more.kinds.end(), first->kind) != more.kinds.end();
    out.claimed.push_back(std::move(*first));
    if (!batch) return out;
    while (static_cast<int>(out.claimed.size()) < next.max_batch) {
      QUARRY_ASSIGN_OR_RETURN(std::optional<Job> job, ClaimIn(conn, more, now));
      if (!job) break;
      out.claimed.push_back(std::move(*job));
    }
    return out;
  });
}

Result<std::optional<Job>> SqliteJobStore::ClaimIn(Connection& conn, const ClaimRequest& request, UnixMillis now) {
  // Deduplicated and sorted, so that one set of kinds always gives the same (cached) SQL text.
  const std::set<std::string> kinds(request.kinds.begin(), request.kinds.end());
  if (kinds.empty() || request.max_running_per_tenant <= 0) return std::optional<Job>();
  {
    // (a) The kinds this worker runs that are below their limit (counted over running jobs).
    std::vector<std::string> runnable;
    for (const std::string& kind : kinds) {
      auto limit = request.kind_limits.find(kind);
      if (limit != request.kind_limits.end()) {
        QUARRY_ASSIGN_OR_RETURN(std::int64_t running, CountRunning(conn, kind));
        if (running >= limit->second) continue;
      }
      runnable.push_back(kind);
    }
    if (runnable.empty()) return std::optional<Job>();

    // (b), (c) The first candidate tenant, in fair order, that has a runnable job.
    const std::string next_job_sql = NextJobSql(runnable.size());
    std::string job_id;
    std::string tenant_id;
    std::optional<Candidate> after;
    while (true) {
      QUARRY_ASSIGN_OR_RETURN(std::vector<Candidate> page,
                              CandidatePage(conn, request.max_running_per_tenant, after));
      for (const Candidate& candidate : page) {
        QUARRY_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare(next_job_sql));
        stmt.Bind(1, candidate.tenant_id).Bind(2, now);
        for (std::size_t i = 0; i < runnable.size(); ++i) {
          stmt.Bind(static_cast<int>(i) + 3, runnable[i]);
        }
        QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
        if (row) {
          job_id = stmt.ColumnText(0);
          tenant_id = candidate.tenant_id;
          break;
        }
      }
      if (!job_id.empty() || page.size() < static_cast<std::size_t>(kCandidatePage)) break;
      after = page.back();
    }
    if (job_id.empty()) return std::optional<Job>();

    // (d) Take it: a new token, the lease, the attempt; then the tenant's counters and charge.
    QUARRY_ASSIGN_OR_RETURN(std::int64_t token, NextFencingToken(conn));
    QUARRY_ASSIGN_OR_RETURN(
        Statement stmt,
        conn.Prepare("UPDATE jobs SET state = 'running', lease_owner = ?1, lease_expires_at = ?2,"
                     " attempt = attempt + 1, fencing_token = ?3,"
                     " started_at = COALESCE(started_at, ?4), attempt_started_at = ?4"
                     " WHERE id = ?5 AND state = 'queued'"
                     " RETURNING " QUARRY_JOB_COLUMNS));
    stmt.Bind(1, request.worker_id).Bind(2, now + request.lease.count()).Bind(3, token);
    stmt.Bind(4, now).Bind(5, job_id);
    QUARRY_ASSIGN_OR_RETURN(std::optional<Job> job, StepJob(stmt));
    if (!job) return Internal("metadata_store_error", "a queued job vanished during its claim");
    QUARRY_RETURN_IF_ERROR(AdjustTenant(conn, tenant_id, -1, +1, kClaimChargeMicros));
    return job;
  }
}

// --- the running attempt ---

Result<bool> SqliteJobStore::Heartbeat(const std::string& job_id, std::int64_t fencing_token,
                                       UnixMillis lease_expires_at, const std::string& progress_json) {
  return Write<bool>([&](Connection& conn) -> Result<bool> {
    QUARRY_ASSIGN_OR_RETURN(Statement stmt,
                            conn.Prepare("UPDATE jobs SET lease_expires_at = ?, progress = COALESCE(NULLIF(?, ''), progress)"
                                         " WHERE id = ? AND fencing_token = ? AND state = 'running'"
                                         " RETURNING cancel_requested"));
    stmt.Bind(1, lease_expires_at).Bind(2, progress_json).Bind(3, job_id).Bind(4, fencing_token);
    QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return LeaseLost();
    const bool cancel_requested = stmt.ColumnInt64(0) != 0;
    QUARRY_RETURN_IF_ERROR(stmt.Run());
    return cancel_requested;
  });
}

Status SqliteJobStore::Finish(const std::string& job_id, std::int64_t fencing_token,
                              const AttemptOutcome& outcome, UnixMillis now) {
  return Write<bool>([&](Connection& conn) -> Result<bool> {
           QUARRY_RETURN_IF_ERROR(FinishIn(conn, job_id, fencing_token, outcome, now));
           return true;
         })
      .status();
}

Status SqliteJobStore::FinishIn(Connection& conn, const std::string& job_id, std::int64_t fencing_token,
                                const AttemptOutcome& outcome, UnixMillis now) {
  {
           std::string tenant_id;
           bool attempts_remain = false;
           std::int64_t attempt_millis = 0;
           {
             QUARRY_ASSIGN_OR_RETURN(
                 Statement stmt,
                 conn.Prepare("SELECT tenant_id, attempt, max_attempts, attempt_started_at FROM jobs"
                              " WHERE id = ? AND fencing_token = ? AND state = 'running'"));
             stmt.Bind(1, job_id).Bind(2, fencing_token);
             QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
             if (!row) return LeaseLost();
             tenant_id = stmt.ColumnText(0);
             attempts_remain = stmt.ColumnInt64(1) < stmt.ColumnInt64(2);
             attempt_millis = outcome.ran_millis >= 0 ? outcome.ran_millis
                                                    : std::max<std::int64_t>(0, now - stmt.ColumnInt64(3));
           }
           const std::string_view state = OutcomeState(outcome, attempts_remain);
           const bool requeued = state == ToString(JobState::kQueued);
           const bool succeeded = outcome.kind == AttemptOutcome::Kind::kSucceeded;

           // Leaving `running`: the lease and the attempt start go. A success records the result and no
           // error; any other outcome records the outcome's error (a retry keeps it visible while
           // queued, so users see why). A requeued job waits until retry_at; a final one is finished.
           QUARRY_ASSIGN_OR_RETURN(
               Statement stmt,
               conn.Prepare("UPDATE jobs SET state = ?1, result = ?2, error_code = ?3,"
                            " error_message = ?4, error_details = ?5, run_after = COALESCE(?6, run_after),"
                            " finished_at = ?7, lease_owner = NULL, lease_expires_at = NULL,"
                            " attempt_started_at = NULL, progress = COALESCE(?10, progress)"
                            " WHERE id = ?8 AND fencing_token = ?9 AND state = 'running'"));
           stmt.Bind(1, state);
           if (succeeded) {
             stmt.Bind(2, outcome.result_json).BindNull(3).BindNull(4).BindNull(5);
           } else {
             stmt.BindNull(2).BindTextOrNull(3, outcome.error_code);
             stmt.BindTextOrNull(4, outcome.error_message).BindTextOrNull(5, outcome.error_details_json);
           }
           if (requeued) {
             stmt.Bind(6, outcome.retry_at).BindNull(7);
           } else {
             stmt.BindNull(6).Bind(7, now);
           }
           stmt.Bind(8, job_id).Bind(9, fencing_token).BindTextOrNull(10, outcome.progress_json);
           QUARRY_RETURN_IF_ERROR(stmt.Run());
           if (conn.Changes() != 1) return LeaseLost();  // unreachable under the write lock
           return AdjustTenant(conn, tenant_id, requeued ? 1 : 0, -1, attempt_millis * 1000);
  }
}

// --- cancellation ---

Result<Job> SqliteJobStore::RequestCancel(const std::string& tenant_id, const std::string& job_id,
                                          UnixMillis now) {
  return Write<Job>([&](Connection& conn) -> Result<Job> {
    QUARRY_ASSIGN_OR_RETURN(const Job current, LoadJob(conn, tenant_id, job_id));
    const JobState state = current.state;
    if (state == JobState::kQueued) {
      // Canceled at once; it leaves its tenant's queued count.
      QUARRY_ASSIGN_OR_RETURN(
          Statement stmt,
          conn.Prepare("UPDATE jobs SET state = 'canceled', cancel_requested = 1, finished_at = ?"
                       " WHERE id = ? AND state = 'queued'"));
      stmt.Bind(1, now).Bind(2, job_id);
      QUARRY_RETURN_IF_ERROR(stmt.Run());
      QUARRY_RETURN_IF_ERROR(AdjustTenant(conn, tenant_id, -1, 0, 0));
    } else if (state == JobState::kRunning) {
      // The worker learns it from its next heartbeat and ends the attempt as canceled.
      QUARRY_ASSIGN_OR_RETURN(
          Statement stmt,
          conn.Prepare("UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND state = 'running'"));
      stmt.Bind(1, job_id);
      QUARRY_RETURN_IF_ERROR(stmt.Run());
    }
    // A final job is left as it is.
    return LoadJob(conn, tenant_id, job_id);
  });
}

// --- rescue ---

Result<RescueReport> SqliteJobStore::RescueExpired(
    UnixMillis now, const std::function<std::chrono::milliseconds(const std::string& kind, int attempt)>& backoff) {
  return Write<RescueReport>([&](Connection& conn) -> Result<RescueReport> {
    struct Expired {
      std::string id;
      std::string tenant_id;
      std::string kind;
      int attempt;
      int max_attempts;
      std::int64_t fencing_token;
    };
    std::vector<Expired> expired;
    {
      QUARRY_ASSIGN_OR_RETURN(
          Statement stmt, conn.Prepare("SELECT id, tenant_id, kind, attempt, max_attempts, fencing_token FROM jobs"
                                       " WHERE state = 'running' AND lease_expires_at < ?"
                                       " ORDER BY lease_expires_at"));
      stmt.Bind(1, now);
      while (true) {
        QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
        if (!row) break;
        expired.push_back({stmt.ColumnText(0), stmt.ColumnText(1), stmt.ColumnText(2),
                           static_cast<int>(stmt.ColumnInt64(3)), static_cast<int>(stmt.ColumnInt64(4)),
                           stmt.ColumnInt64(5)});
      }
    }

    // The token stays: the vanished worker's token is no longer valid once the job leaves
    // `running`, and the next claim hands out a greater one. Its time is not charged.
    RescueReport report;
    for (const Expired& job : expired) {
      const bool requeue = job.attempt < job.max_attempts;
      QUARRY_ASSIGN_OR_RETURN(
          Statement stmt, conn.Prepare("UPDATE jobs SET state = ?1, run_after = COALESCE(?2, run_after),"
                                       " finished_at = ?3, error_code = 'lease_expired', error_message = ?4,"
                                       " error_details = NULL, lease_owner = NULL, lease_expires_at = NULL,"
                                       " attempt_started_at = NULL"
                                       " WHERE id = ?5 AND fencing_token = ?6 AND state = 'running'"));
      if (requeue) {
        stmt.Bind(1, ToString(JobState::kQueued)).Bind(2, now + backoff(job.kind, job.attempt).count());
        stmt.BindNull(3).Bind(4,
                              "the worker running this job stopped heartbeating and its lease "
                              "expired; the job will be retried");
      } else {
        stmt.Bind(1, ToString(JobState::kFailed)).BindNull(2).Bind(3, now);
        stmt.Bind(4,
                  "the worker running this job stopped heartbeating and its lease expired; "
                  "no attempts remain");
      }
      stmt.Bind(5, job.id).Bind(6, job.fencing_token);
      QUARRY_RETURN_IF_ERROR(stmt.Run());
      QUARRY_RETURN_IF_ERROR(AdjustTenant(conn, job.tenant_id, requeue ? 1 : 0, -1, 0));
      ++(requeue ? report.requeued : report.failed);
      if (!requeue) report.failed_jobs.emplace_back(job.tenant_id, job.id);
    }
    return report;
  });
}

Result<int> SqliteJobStore::ExpireLeases(const std::string& owner_prefix, UnixMillis now) {
  return Write<int>([&](Connection& conn) -> Result<int> {
    // A prefix test by substr, not LIKE: the prefix is data, and '%' or '_' in it must match
    // only themselves. Leases already expired by `now` keep their (earlier) expiry.
    QUARRY_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("UPDATE jobs SET lease_expires_at = ?1"
                                                         " WHERE state = 'running' AND lease_expires_at > ?1"
                                                         " AND substr(lease_owner, 1, length(?2)) = ?2"));
    stmt.Bind(1, now).Bind(2, owner_prefix);
    QUARRY_RETURN_IF_ERROR(stmt.Run());
    return static_cast<int>(conn.Changes());
  });
}

Result<int> SqliteJobStore::ReleaseLeases(const std::string& owner_prefix, UnixMillis now) {
  return Write<int>([&](Connection& conn) -> Result<int> {
    struct Held {
      std::string id, tenant_id;
      std::int64_t attempt_millis;
    };
    std::vector<Held> held;
    {
      QUARRY_ASSIGN_OR_RETURN(Statement stmt,
                              conn.Prepare("SELECT id, tenant_id, attempt_started_at FROM jobs"
                                           " WHERE state = 'running' AND substr(lease_owner, 1, length(?1)) = ?1"));
      stmt.Bind(1, owner_prefix);
      while (true) {
        QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
        if (!row) break;
        held.push_back({stmt.ColumnText(0), stmt.ColumnText(1), std::max<std::int64_t>(0, now - stmt.ColumnInt64(2))});
      }
    }
    for (const Held& job : held) {
      // Back to queued with the attempt given back. The fencing token stays: the next claim
      // issues a larger one, so the releasing worker's token is stale from then on, and until
      // then Heartbeat/Finish fail because the job is no longer running.
      QUARRY_ASSIGN_OR_RETURN(
          Statement stmt,
          conn.Prepare("UPDATE jobs SET state = 'queued', attempt = attempt - 1, run_after = ?1,"
                       " lease_owner = NULL, lease_expires_at = NULL, attempt_started_at = NULL"
                       " WHERE id = ?2 AND state = 'running'"));
      stmt.Bind(1, now).Bind(2, job.id);
      QUARRY_RETURN_IF_ERROR(stmt.Run());
      QUARRY_RETURN_IF_ERROR(AdjustTenant(conn, job.tenant_id, +1, -1, job.attempt_millis * 1000));
    }
    return static_cast<int>(held.size());
  });
}

}  // namespace quarry::sqlite
