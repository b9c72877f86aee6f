// SqliteJobStore, part 1: opening, shared row helpers, enqueue, reads and retention. The claim
// and the rest of a job's life are in sqlite_job_lifecycle.cpp. See sqlite_job_store.h for the
// invariants every method keeps.
#include "meta/sqlite/sqlite_job_store.h"

#include <algorithm>
#include <string>
#include <utility>

#include "common/ids.h"
#include "meta/sqlite/migrations.h"
#include "meta/sqlite/sqlite_store_support.h"

namespace quarry::sqlite {
namespace {

constexpr int kMaxPageLimit = 1000;

Status TenantNotFound() { return NotFound("tenant_not_found", "no such tenant"); }

Status QueueFull(int limit, std::int64_t queued) {
  return Status(ErrorCode::kResourceExhausted, "queue_full",
                "tenant has " + std::to_string(queued) + " queued jobs, the limit is " +
                    std::to_string(limit) + "; wait for some to finish",
                {{"limit", std::to_string(limit)}, {"queued", std::to_string(queued)}});
}

// Makes sure the tenant has its counters row. A tenant unknown to the metadata store is
// NotFound "tenant_not_found" (the foreign key on job_tenants.tenant_id).
Status EnsureTenantRow(Connection& conn, const std::string& tenant_id) {
  QUARRY_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("INSERT INTO job_tenants (tenant_id) VALUES (?)"
                                                       " ON CONFLICT (tenant_id) DO NOTHING"));
  stmt.Bind(1, tenant_id);
  Status s = stmt.Run();
  if (stmt.violated_constraint() == Constraint::kForeignKey) return TenantNotFound();
  return s;
}

struct TenantCounters {
  std::int64_t queued = 0;
  std::int64_t running = 0;
  std::int64_t pass = 0;
};

Result<TenantCounters> ReadTenantCounters(Connection& conn, const std::string& tenant_id) {
  QUARRY_ASSIGN_OR_RETURN(Statement stmt,
                          conn.Prepare("SELECT queued, running, pass FROM job_tenants WHERE tenant_id = ?"));
  stmt.Bind(1, tenant_id);
  QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return Internal("metadata_store_error", "a tenant's job counters row is missing");
  return TenantCounters{stmt.ColumnInt64(0), stmt.ColumnInt64(1), stmt.ColumnInt64(2)};
}

// The pass a tenant that is becoming active starts from: its own, raised to the lowest pass
// among the tenants that are active now, so that credit cannot be banked while idle.
Result<std::int64_t> ActivationPass(Connection& conn, std::int64_t own_pass) {
  QUARRY_ASSIGN_OR_RETURN(Statement stmt,
                          conn.Prepare("SELECT MIN(pass) FROM job_tenants WHERE queued > 0 OR running > 0"));
  QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row || stmt.ColumnIsNull(0)) return own_pass;  // nobody is active
  return std::max(own_pass, stmt.ColumnInt64(0));
}

}  // namespace

// --- shared helpers (declared in sqlite_job_store.h) ---

Status JobNotFound() { return NotFound("job_not_found", "No such job in this tenant"); }

Status LeaseLost() {
  return FailedPrecondition("lease_lost",
                            "this attempt no longer holds the job's lease (it expired and the "
                            "job was rescued, or the attempt already ended); discard its work");
}

Result<Job> ReadJob(const Statement& row) {
  Job j;
  j.id = row.ColumnText(0);
  j.tenant_id = row.ColumnText(1);
  j.user_id = row.ColumnText(2);
  j.kind = row.ColumnText(3);
  j.payload_json = row.ColumnText(4);
  auto state = ParseJobState(row.ColumnText(5));
  if (!state) {
    return Internal("metadata_store_error", "unrecognized job state value in the metadata database");
  }
  j.state = *state;
  j.priority = static_cast<int>(row.ColumnInt64(6));
  j.attempt = static_cast<int>(row.ColumnInt64(7));
  j.max_attempts = static_cast<int>(row.ColumnInt64(8));
  j.run_after = row.ColumnInt64(9);
  j.lease_owner = row.ColumnText(10);  // NULL reads as ""
  j.lease_expires_at = row.ColumnOptionalInt64(11);
  j.fencing_token = row.ColumnInt64(12);
  j.progress_json = row.ColumnText(13);
  j.result_json = row.ColumnText(14);
  j.error_code = row.ColumnText(15);
  j.error_message = row.ColumnText(16);
  j.error_details_json = row.ColumnText(17);
  j.cancel_requested = row.ColumnInt64(18) != 0;
  j.idempotency_key = row.ColumnText(19);
  j.created_at = row.ColumnInt64(20);
  j.started_at = row.ColumnOptionalInt64(21);
  j.finished_at = row.ColumnOptionalInt64(22);
  return j;
}

Result<Job> LoadJob(Connection& conn, const std::string& tenant_id, const std::string& job_id) {
  QUARRY_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("SELECT " QUARRY_JOB_COLUMNS
                                                       " FROM jobs WHERE id = ? AND tenant_id = ?"));
  stmt.Bind(1, job_id).Bind(2, tenant_id);
  QUARRY_ASSIGN_OR_RETURN(std::optional<Job> job, StepJob(stmt));
  if (!job) return JobNotFound();
  return std::move(*job);
}

Result<std::optional<Job>> StepJob(Statement& stmt) {
  QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::optional<Job>();
  QUARRY_ASSIGN_OR_RETURN(Job job, ReadJob(stmt));
  QUARRY_RETURN_IF_ERROR(stmt.Run());  // the rest, if any (only one row is expected)
  return std::optional<Job>(std::move(job));
}

Status AdjustTenant(Connection& conn, const std::string& tenant_id, std::int64_t d_queued,
                    std::int64_t d_running, std::int64_t charge_micros) {
  QUARRY_ASSIGN_OR_RETURN(Statement stmt,
                          conn.Prepare("UPDATE job_tenants SET queued = queued + ?1, running = running + ?2,"
                                       " pass = pass + ?3 / weight WHERE tenant_id = ?4"));
  stmt.Bind(1, d_queued).Bind(2, d_running).Bind(3, charge_micros).Bind(4, tenant_id);
  QUARRY_RETURN_IF_ERROR(stmt.Run());
  if (conn.Changes() != 1) {
    return Internal("metadata_store_error", "a tenant's job counters row is missing");
  }
  return Status::Ok();
}

// --- enqueue ---

Result<EnqueueResult> SqliteJobStore::Enqueue(const NewJob& job, int max_queued,
                                              std::chrono::milliseconds idempotency_window, UnixMillis now) {
  return Write<EnqueueResult>([&](Connection& conn) -> Result<EnqueueResult> {
    // 1. Idempotency: the user's newest job with this key created within the window (keys are
    //    per user: another user's key must not answer with their job).
    if (!job.idempotency_key.empty()) {
      QUARRY_ASSIGN_OR_RETURN(Statement stmt,
                              conn.Prepare("SELECT " QUARRY_JOB_COLUMNS " FROM jobs"
                                           " WHERE tenant_id = ? AND idempotency_key = ? AND created_at > ?"
                                           " AND user_id = ? ORDER BY created_at DESC, id DESC LIMIT 1"));
      stmt.Bind(1, job.tenant_id).Bind(2, job.idempotency_key);
      stmt.Bind(3, now - idempotency_window.count()).Bind(4, job.user_id);
      QUARRY_ASSIGN_OR_RETURN(std::optional<Job> existing, StepJob(stmt));
      if (existing) return EnqueueResult{std::move(*existing), /*existing=*/true};
    }

    // 2. The queue cap, from the tenant's counters (never a COUNT over jobs).
    QUARRY_RETURN_IF_ERROR(EnsureTenantRow(conn, job.tenant_id));
    QUARRY_ASSIGN_OR_RETURN(TenantCounters counters, ReadTenantCounters(conn, job.tenant_id));
    if (counters.queued >= max_queued) return QueueFull(max_queued, counters.queued);

    // 3. Activation: an idle tenant joins at the lowest pass of the active ones.
    std::int64_t pass = counters.pass;
    if (counters.queued + counters.running == 0) {
      QUARRY_ASSIGN_OR_RETURN(pass, ActivationPass(conn, counters.pass));
    }
    {
      QUARRY_ASSIGN_OR_RETURN(
          Statement stmt,
          conn.Prepare("UPDATE job_tenants SET queued = queued + 1, pass = ? WHERE tenant_id = ?"));
      stmt.Bind(1, pass).Bind(2, job.tenant_id);
      QUARRY_RETURN_IF_ERROR(stmt.Run());
    }

    // 4. The job itself.
    QUARRY_ASSIGN_OR_RETURN(
        Statement stmt,
        conn.Prepare("INSERT INTO jobs (id, tenant_id, user_id, kind, payload, state, priority,"
                     " attempt, max_attempts, run_after, fencing_token, progress,"
                     " cancel_requested, idempotency_key, created_at)"
                     " VALUES (?, ?, ?, ?, ?, 'queued', ?, 0, ?, ?, 0, '{}', 0, ?, ?)"
                     " RETURNING " QUARRY_JOB_COLUMNS));
    stmt.Bind(1, NewId("job", now)).Bind(2, job.tenant_id).Bind(3, job.user_id);
    stmt.Bind(4, job.kind).Bind(5, job.payload_json).Bind(6, job.priority);
    stmt.Bind(7, job.max_attempts).Bind(8, job.run_after);
    stmt.BindTextOrNull(9, job.idempotency_key).Bind(10, now);
    Result<std::optional<Job>> inserted = StepJob(stmt);
    if (stmt.violated_constraint() == Constraint::kForeignKey) return TenantNotFound();
    if (!inserted.ok()) return inserted.status();
    if (!*inserted) return Internal("metadata_store_error", "INSERT ... RETURNING returned no row");
    return EnqueueResult{std::move(**inserted), /*existing=*/false};
  });
}

// --- reads ---

Result<Job> SqliteJobStore::Get(const std::string& tenant_id, const std::string& job_id) {
  return Read<Job>([&](Connection& conn) { return LoadJob(conn, tenant_id, job_id); });
}

Result<Page<Job>> SqliteJobStore::List(const std::string& tenant_id, const JobFilter& filter,
                                       const PageRequest& page) {
  // Parameters keep fixed numbers whichever filters are present (unused ones stay unbound), so
  // each combination is one cached statement: ?1 tenant, ?2 cursor, ?3 state, ?4 kind, ?5 user,
  // ?6 limit. Newest first: ids sort by creation time.
  std::string sql = "SELECT " QUARRY_JOB_COLUMNS " FROM jobs WHERE tenant_id = ?1";
  if (!page.after_id.empty()) sql += " AND id < ?2";
  if (filter.state) sql += " AND state = ?3";
  if (!filter.kind.empty()) sql += " AND kind = ?4";
  if (!filter.user_id.empty()) sql += " AND user_id = ?5";
  sql += " ORDER BY id DESC LIMIT ?6";
  const int limit = std::clamp(page.limit, 1, kMaxPageLimit);

  return Read<Page<Job>>([&](Connection& conn) -> Result<Page<Job>> {
    QUARRY_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare(sql));
    stmt.Bind(1, tenant_id);
    if (!page.after_id.empty()) stmt.Bind(2, page.after_id);
    if (filter.state) stmt.Bind(3, ToString(*filter.state));
    if (!filter.kind.empty()) stmt.Bind(4, filter.kind);
    if (!filter.user_id.empty()) stmt.Bind(5, filter.user_id);
    stmt.Bind(6, limit + 1);  // the extra row only tells that more follow
    Page<Job> out;
    while (true) {
      QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) return out;
      if (out.items.size() == static_cast<std::size_t>(limit)) {
        out.next_cursor = out.items.back().id;
        return out;
      }
      QUARRY_ASSIGN_OR_RETURN(Job job, ReadJob(stmt));
      out.items.push_back(std::move(job));
    }
  });
}

Result<std::int64_t> SqliteJobStore::QueuePosition(const Job& job) {
  return Read<std::int64_t>([&](Connection& conn) -> Result<std::int64_t> {
    // One statement, so that the job's state, the jobs ahead of it and the other tenants'
    // counters come from one snapshot. A = the tenant's queued jobs ahead of it in claim order
    // (higher priority, or equal and older); every other tenant with queued jobs contributes
    // min(its queued, A + 1).
    QUARRY_ASSIGN_OR_RETURN(
        Statement stmt,
        conn.Prepare("WITH me AS ("
                     " SELECT j.state AS state,"
                     "  (SELECT COUNT(*) FROM jobs a"
                     "    WHERE a.tenant_id = j.tenant_id AND a.state = 'queued' AND j.state = 'queued'"
                     "      AND (a.priority > j.priority OR (a.priority = j.priority AND a.id < j.id)))"
                     "   AS ahead"
                     " FROM jobs j WHERE j.id = ?1 AND j.tenant_id = ?2)"
                     " SELECT me.state, me.ahead,"
                     "  (SELECT COALESCE(SUM(CASE WHEN t.queued < me.ahead + 1 THEN t.queued"
                     "                       ELSE me.ahead + 1 END), 0)"
                     "     FROM job_tenants t WHERE t.tenant_id <> ?2 AND t.queued > 0)"
                     " FROM me"));
    stmt.Bind(1, job.id).Bind(2, job.tenant_id);
    QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return JobNotFound();
    if (stmt.ColumnText(0) != ToString(JobState::kQueued)) return std::int64_t{0};
    return stmt.ColumnInt64(1) + stmt.ColumnInt64(2);
  });
}

Result<std::vector<std::string>> SqliteJobStore::ActivePayloads(const std::string& kind, int limit) {
  return Read<std::vector<std::string>>([&](Connection& conn) -> Result<std::vector<std::string>> {
    QUARRY_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("SELECT payload FROM jobs WHERE kind = ? AND"
                                                         " state IN ('queued', 'running') LIMIT ?"));
    stmt.Bind(1, kind).Bind(2, std::max(1, limit));
    return stmt.FirstColumnTexts();
  });
}

Result<std::vector<std::pair<std::string, std::int64_t>>> SqliteJobStore::RunningAttempts(int limit) {
  using Attempts = std::vector<std::pair<std::string, std::int64_t>>;
  return Read<Attempts>([&](Connection& conn) -> Result<Attempts> {
    QUARRY_ASSIGN_OR_RETURN(Statement stmt,
                            conn.Prepare("SELECT id, fencing_token FROM jobs WHERE state = 'running' LIMIT ?"));
    stmt.Bind(1, std::max(1, limit));
    Attempts out;
    while (true) {
      QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) return out;
      out.emplace_back(stmt.ColumnText(0), stmt.ColumnInt64(1));
    }
  });
}

Result<JobCounts> SqliteJobStore::Counts() {
  return Read<JobCounts>([&](Connection& conn) -> Result<JobCounts> {
    QUARRY_ASSIGN_OR_RETURN(Statement stmt,
                            conn.Prepare("SELECT kind, state, COUNT(*) FROM jobs"
                                         " WHERE state IN ('queued', 'running') GROUP BY kind, state"));
    JobCounts counts;
    while (true) {
      QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) return counts;
      auto state = ParseJobState(stmt.ColumnText(1));
      if (!state) {
        return Internal("metadata_store_error", "unrecognized job state value in the metadata database");
      }
      counts.active[{stmt.ColumnText(0), *state}] = stmt.ColumnInt64(2);
    }
  });
}

// --- tenant weights ---

Status SqliteJobStore::SetTenantWeight(const std::string& tenant_id, int weight) {
  if (weight < 1) return InvalidArgument("invalid_weight", "a tenant's job weight is at least 1");
  auto done = Write<bool>([&](Connection& conn) -> Result<bool> {
    QUARRY_RETURN_IF_ERROR(EnsureTenantRow(conn, tenant_id));
    QUARRY_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("UPDATE job_tenants SET weight = ? WHERE tenant_id = ?"));
    stmt.Bind(1, weight).Bind(2, tenant_id);
    QUARRY_RETURN_IF_ERROR(stmt.Run());
    return true;
  });
  return done.status();
}

Status SqliteJobStore::SetTenantRunningCap(const std::string& tenant_id, std::optional<int> cap) {
  if (cap && *cap < 1) return InvalidArgument("invalid_cap", "a tenant's running-jobs cap is at least 1");
  auto done = Write<bool>([&](Connection& conn) -> Result<bool> {
    QUARRY_RETURN_IF_ERROR(EnsureTenantRow(conn, tenant_id));
    QUARRY_ASSIGN_OR_RETURN(Statement stmt,
                            conn.Prepare("UPDATE job_tenants SET max_running = ? WHERE tenant_id = ?"));
    if (cap) {
      stmt.Bind(1, *cap);
    } else {
      stmt.BindNull(1);
    }
    stmt.Bind(2, tenant_id);
    QUARRY_RETURN_IF_ERROR(stmt.Run());
    return true;
  });
  return done.status();
}

Result<int> SqliteJobStore::TenantWeight(const std::string& tenant_id) {
  return Read<int>([&](Connection& conn) -> Result<int> {
    QUARRY_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("SELECT weight FROM job_tenants WHERE tenant_id = ?"));
    stmt.Bind(1, tenant_id);
    QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
    return row ? static_cast<int>(stmt.ColumnInt64(0)) : 1;
  });
}

Result<std::pair<std::int64_t, std::int64_t>> SqliteJobStore::TenantJobCounts(const std::string& tenant_id) {
  using Counts = std::pair<std::int64_t, std::int64_t>;
  return Read<Counts>([&](Connection& conn) -> Result<Counts> {
    QUARRY_ASSIGN_OR_RETURN(Statement stmt,
                            conn.Prepare("SELECT queued, running FROM job_tenants WHERE tenant_id = ?"));
    stmt.Bind(1, tenant_id);
    QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
    return row ? Counts{stmt.ColumnInt64(0), stmt.ColumnInt64(1)} : Counts{0, 0};
  });
}

// --- retention ---

Result<int> SqliteJobStore::DeleteFinishedBefore(UnixMillis cutoff, int batch) {
  if (batch <= 0) return 0;
  return Write<int>([&](Connection& conn) -> Result<int> {
    // Final jobs only: they count in no tenant's counters, so none change.
    QUARRY_ASSIGN_OR_RETURN(
        Statement stmt, conn.Prepare("DELETE FROM jobs WHERE id IN (SELECT id FROM jobs"
                                     " WHERE state IN ('succeeded', 'failed', 'canceled') AND finished_at < ?"
                                     " LIMIT ?)"));
    stmt.Bind(1, cutoff).Bind(2, batch);
    QUARRY_RETURN_IF_ERROR(stmt.Run());
    return static_cast<int>(conn.Changes());
  });
}

Result<std::vector<JobEvent>> SqliteJobStore::ListEvents(const std::string& tenant_id, const std::string& job_id,
                                                         std::int64_t after_seq, int limit) {
  return Read<std::vector<JobEvent>>([&](Connection& conn) -> Result<std::vector<JobEvent>> {
    QUARRY_RETURN_IF_ERROR(LoadJob(conn, tenant_id, job_id).status());  // tenant isolation
    QUARRY_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("SELECT id, type, data FROM job_events"
                                                         " WHERE job_id = ? AND id > ? ORDER BY id LIMIT ?"));
    stmt.Bind(1, job_id).Bind(2, after_seq).Bind(3, std::clamp(limit, 1, 1000));
    std::vector<JobEvent> events;
    while (true) {
      QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      events.push_back({stmt.ColumnInt64(0), stmt.ColumnText(1), stmt.ColumnText(2)});
    }
    return events;
  });
}

}  // namespace quarry::sqlite

namespace quarry {

Result<std::unique_ptr<JobStore>> OpenSqliteJobStore(const SqliteOptions& options) {
  return sqlite::OpenStore<JobStore, sqlite::SqliteJobStore>(options);
}

}  // namespace quarry
