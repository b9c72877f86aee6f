#include "meta/sqlite/migrations.h"

#include <set>
#include <string>

namespace quarry::sqlite {
namespace {

constexpr std::string_view kCreateMigrationsTable =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER PRIMARY KEY,"
    " applied_at BIGINT NOT NULL)";

// Version 1: identity (tenants, users, API keys) and the identity epoch.
const Migration kV1 = {
    1,
    {
        "CREATE TABLE tenants ("
        " id TEXT PRIMARY KEY NOT NULL,"
        " slug TEXT NOT NULL UNIQUE,"
        " name TEXT NOT NULL,"
        " status TEXT NOT NULL,"
        " created_at BIGINT NOT NULL,"
        " updated_at BIGINT NOT NULL)",

        "CREATE TABLE users ("
        " id TEXT PRIMARY KEY NOT NULL,"
        " tenant_id TEXT NOT NULL REFERENCES tenants(id),"
        " email TEXT NOT NULL,"
        " role TEXT NOT NULL,"
        " status TEXT NOT NULL,"
        " created_at BIGINT NOT NULL,"
        " updated_at BIGINT NOT NULL,"
        " UNIQUE (tenant_id, email))",

        // tenant_id and user_id are NULL for operator keys. scopes: comma-separated names.
        "CREATE TABLE api_keys ("
        " id TEXT PRIMARY KEY NOT NULL,"
        " tenant_id TEXT NULL REFERENCES tenants(id),"
        " user_id TEXT NULL REFERENCES users(id),"
        " name TEXT NOT NULL,"
        " prefix TEXT NOT NULL UNIQUE,"
        " secret_hash TEXT NOT NULL,"
        " scopes TEXT NOT NULL,"
        " created_at BIGINT NOT NULL,"
        " last_used_at BIGINT NULL,"
        " expires_at BIGINT NULL,"
        " revoked_at BIGINT NULL)",

        "CREATE INDEX api_keys_tenant_id ON api_keys (tenant_id, id)",
        "CREATE INDEX api_keys_user_id ON api_keys (user_id)",

        // Exactly one row; see MetaStore::IdentityEpoch.
        "CREATE TABLE identity_epoch ("
        " id INTEGER PRIMARY KEY CHECK (id = 1),"
        " value BIGINT NOT NULL)",

        "INSERT INTO identity_epoch (id, value) VALUES (1, 0)",
    },
};

// Version 2: the durable job queue (JobStore).
//   - jobs: one row per job; `state` is one of ToString(JobState). attempt_started_at is the
//     start of the running attempt (NULL unless running), the basis of the tenant's charge.
//   - job_tenants: per-tenant queue counters and fair-share position, maintained in the same
//     transaction as every job state change, so `queued` and `running` always equal the number
//     of the tenant's jobs in those states and the claim never counts rows in `jobs`.
//     `pass` is the tenant's service in microseconds divided by `weight` (an integer >= 1).
//   - job_fencing: exactly one row; the last fencing token handed out (tokens only grow).
const Migration kV2 = {
    2,
    {
        "CREATE TABLE jobs ("
        " id TEXT PRIMARY KEY NOT NULL,"
        " tenant_id TEXT NOT NULL REFERENCES tenants(id),"
        " user_id TEXT NOT NULL,"
        " kind TEXT NOT NULL,"
        " payload TEXT NOT NULL,"
        " state TEXT NOT NULL,"
        " priority INTEGER NOT NULL,"
        " attempt INTEGER NOT NULL,"
        " max_attempts INTEGER NOT NULL,"
        " run_after BIGINT NOT NULL,"
        " lease_owner TEXT NULL,"
        " lease_expires_at BIGINT NULL,"
        " fencing_token BIGINT NOT NULL,"
        " progress TEXT NOT NULL,"
        " result TEXT NULL,"
        " error_code TEXT NULL,"
        " error_message TEXT NULL,"
        " error_details TEXT NULL,"
        " cancel_requested INTEGER NOT NULL,"
        " idempotency_key TEXT NULL,"
        " created_at BIGINT NOT NULL,"
        " started_at BIGINT NULL,"
        " finished_at BIGINT NULL,"
        " attempt_started_at BIGINT NULL)",

        // The claim: a tenant's next queued job, highest priority first, then oldest.
        "CREATE INDEX jobs_claim ON jobs (tenant_id, state, priority DESC, id)",
        // The rescuer: running jobs whose lease expired. Partial indexes hold only the rows their
        // queries look at, so most state changes touch fewer index pages (fewer bytes a commit).
        "CREATE INDEX jobs_lease ON jobs (lease_expires_at) WHERE state = 'running'",
        // Listing a tenant's jobs, newest first.
        "CREATE INDEX jobs_tenant_id ON jobs (tenant_id, id)",
        // Idempotent enqueue: the tenant's recent job with the same key.
        "CREATE INDEX jobs_idempotency ON jobs (tenant_id, idempotency_key)"
        " WHERE idempotency_key IS NOT NULL",
        // Retention: final jobs by finish time.
        "CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL",
        // Per-kind running counts (kind limits) and Counts().
        "CREATE INDEX jobs_state_kind ON jobs (state, kind) WHERE state IN ('queued', 'running')",

        "CREATE TABLE job_tenants ("
        " tenant_id TEXT PRIMARY KEY NOT NULL REFERENCES tenants(id),"
        " weight BIGINT NOT NULL DEFAULT 1 CHECK (weight >= 1),"
        " pass BIGINT NOT NULL DEFAULT 0,"
        " queued BIGINT NOT NULL DEFAULT 0 CHECK (queued >= 0),"
        " running BIGINT NOT NULL DEFAULT 0 CHECK (running >= 0))",

        // The claim's candidate tenants (least pass first) and the activation rule's minimum
        // pass of the active tenants; only active tenants are in it.
        "CREATE INDEX job_tenants_active ON job_tenants (pass, running, tenant_id)"
        " WHERE queued > 0 OR running > 0",

        "CREATE TABLE job_fencing ("
        " id INTEGER PRIMARY KEY CHECK (id = 1),"
        " value BIGINT NOT NULL)",

        "INSERT INTO job_fencing (id, value) VALUES (1, 0)",
    },
};

// Version 3: an append-only log of each job's events (state changes and progress), for
// server-sent events that a reconnecting client can resume by sequence number. Written by a
// trigger in the same transaction as the change, so no code path can forget it. (SQLite
// trigger syntax: the PostgreSQL store writes these rows in its own way.)
const Migration kV3 = {
    3,
    {
        // id: one sequence for all jobs (rowid), so an event costs no per-job counting.
        "CREATE TABLE job_events ("
        " id INTEGER PRIMARY KEY,"
        " job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
        " type TEXT NOT NULL,"
        " data TEXT NOT NULL)",

        "CREATE INDEX job_events_job ON job_events (job_id, id)",

        "CREATE TRIGGER job_events_insert AFTER INSERT ON jobs BEGIN"
        " INSERT INTO job_events (job_id, type, data) VALUES (NEW.id, 'state',"
        "  json_object('state', NEW.state, 'attempt', NEW.attempt, 'cancel_requested', NEW.cancel_requested,"
        "   'error_code', NEW.error_code, 'error_message', NEW.error_message));"
        " END",

        // One trigger with two statements, so that when one UPDATE changes both (an attempt's
        // end) the progress entry comes before the state entry: SQLite gives no order between
        // separate triggers.
        "CREATE TRIGGER job_events_update AFTER UPDATE OF state, cancel_requested, progress ON jobs BEGIN"
        " INSERT INTO job_events (job_id, type, data)"
        "  SELECT NEW.id, 'progress', NEW.progress WHERE NEW.progress IS NOT OLD.progress;"
        " INSERT INTO job_events (job_id, type, data)"
        "  SELECT NEW.id, 'state',"
        "   json_object('state', NEW.state, 'attempt', NEW.attempt, 'cancel_requested', NEW.cancel_requested,"
        "    'error_code', NEW.error_code, 'error_message', NEW.error_message)"
        "  WHERE NEW.state IS NOT OLD.state OR NEW.cancel_requested IS NOT OLD.cancel_requested;"
        " END",
    },
};

// Version 4: the dataset registry. A dataset row exists from its first prepared version on and
// is visible once current_version > 0. Versions are immutable once 'ready'; a 'pending' version
// belongs to the ingestion job (and fencing token) that is writing it.
const Migration kV4 = {
    4,
    {
        "CREATE TABLE datasets ("
        " id TEXT PRIMARY KEY NOT NULL,"
        " tenant_id TEXT NOT NULL REFERENCES tenants(id),"
        " name TEXT NOT NULL,"
        " current_version INTEGER NOT NULL DEFAULT 0,"
        " next_version INTEGER NOT NULL DEFAULT 1,"
        " created_at BIGINT NOT NULL,"
        " updated_at BIGINT NOT NULL,"
        " UNIQUE (tenant_id, name))",

        "CREATE TABLE dataset_versions ("
        " dataset_id TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,"
        " version INTEGER NOT NULL,"
        " state TEXT NOT NULL CHECK (state IN ('pending', 'ready')),"
        " storage_prefix TEXT NOT NULL,"
        " row_count BIGINT NOT NULL DEFAULT 0,"
        " byte_size BIGINT NOT NULL DEFAULT 0,"
        " schema_json TEXT NOT NULL DEFAULT '[]',"
        " stats_json TEXT NOT NULL DEFAULT '[]',"
        " job_id TEXT NOT NULL,"
        " fencing_token BIGINT NOT NULL,"
        " source_json TEXT NOT NULL DEFAULT '{}',"
        " created_at BIGINT NOT NULL,"
        " PRIMARY KEY (dataset_id, version))",

        "CREATE INDEX dataset_versions_pending ON dataset_versions (job_id) WHERE state = 'pending'",
    },
};

// Version 5: resumable (tus) uploads in progress. The file's size is the offset; rows go when
// the upload is terminated or expires, or (with the job id kept) when the job is done with it.
const Migration kV5 = {
    5,
    {
        "CREATE TABLE uploads ("
        " id TEXT PRIMARY KEY NOT NULL,"
        " tenant_id TEXT NOT NULL REFERENCES tenants(id),"
        " user_id TEXT NOT NULL,"
        " length BIGINT NOT NULL CHECK (length >= 0),"
        " request_json TEXT NOT NULL,"
        " metadata TEXT NOT NULL DEFAULT '',"
        " idempotency_key TEXT NOT NULL DEFAULT '',"
        " created_at BIGINT NOT NULL,"
        " expires_at BIGINT NOT NULL,"
        " job_id TEXT NOT NULL DEFAULT '')",

        "CREATE INDEX uploads_expiry ON uploads (expires_at)",
    },
};

// Version 6: versions by job, whatever their state. Every ingestion attempt asks whether its job
// already published a version (ready) and takes over its pending one; the partial index served
// only the second, so the first scanned every version of every tenant.
const Migration kV6 = {
    6,
    {
        "CREATE INDEX dataset_versions_job ON dataset_versions (job_id, state)",
        "DROP INDEX dataset_versions_pending",
    },
};

// Version 7: access control inside a tenant: user attributes (bound into row policies) and the
// access policies of datasets (they go with their dataset).
const Migration kV7 = {
    7,
    {
        "ALTER TABLE users ADD COLUMN attributes_json TEXT NOT NULL DEFAULT '{}'",

        "CREATE TABLE dataset_policies ("
        " id TEXT PRIMARY KEY NOT NULL,"
        " tenant_id TEXT NOT NULL REFERENCES tenants(id),"
        " dataset_id TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,"
        " definition_json TEXT NOT NULL,"
        " created_by TEXT NOT NULL,"
        " created_at BIGINT NOT NULL)",

        "CREATE INDEX dataset_policies_dataset ON dataset_policies (dataset_id, created_at)",
    },
};

// Version 8: the audit log, append-only per tenant (removed only by retention, oldest first).
const Migration kV8 = {
    8,
    {
        "CREATE TABLE audit_events ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " tenant_id TEXT NOT NULL,"
        " at BIGINT NOT NULL,"
        " user_id TEXT NOT NULL DEFAULT '',"
        " key_id TEXT NOT NULL DEFAULT '',"
        " kind TEXT NOT NULL,"
        " target TEXT NOT NULL DEFAULT '',"
        " outcome TEXT NOT NULL,"
        " details_json TEXT NOT NULL DEFAULT '{}')",

        "CREATE INDEX audit_events_tenant ON audit_events (tenant_id, id)",
        "CREATE INDEX audit_events_at ON audit_events (at)",
    },
};

// Version 9: per-tenant quota overrides, on the tenant (so authentication carries them).
const Migration kV9 = {
    9,
    {
        "ALTER TABLE tenants ADD COLUMN quotas_json TEXT NOT NULL DEFAULT '{}'",
    },
};

// Version 10: projects, groups and grants (who inside a tenant may see which dataset), and the
// per-tenant running-jobs cap. Members
// and grantees are users or groups (`kind`); their ids never collide (usr_/grp_ prefixes), so a
// group's memberships and grants are removed by id when it goes.
const Migration kV10 = {
    10,
    {
        "CREATE TABLE projects ("
        " id TEXT PRIMARY KEY NOT NULL,"
        " tenant_id TEXT NOT NULL REFERENCES tenants(id),"
        " name TEXT NOT NULL,"
        " description TEXT NOT NULL DEFAULT '',"
        " created_by TEXT NOT NULL,"
        " created_at BIGINT NOT NULL,"
        " updated_at BIGINT NOT NULL,"
        " UNIQUE (tenant_id, name))",

        "CREATE TABLE user_groups ("
        " id TEXT PRIMARY KEY NOT NULL,"
        " tenant_id TEXT NOT NULL REFERENCES tenants(id),"
        " name TEXT NOT NULL,"
        " created_at BIGINT NOT NULL,"
        " UNIQUE (tenant_id, name))",

        "CREATE TABLE group_members ("
        " group_id TEXT NOT NULL REFERENCES user_groups(id) ON DELETE CASCADE,"
        " tenant_id TEXT NOT NULL,"
        " user_id TEXT NOT NULL REFERENCES users(id),"
        " added_at BIGINT NOT NULL,"
        " PRIMARY KEY (group_id, user_id))",
        "CREATE INDEX group_members_user ON group_members (user_id)",

        "CREATE TABLE project_members ("
        " project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,"
        " tenant_id TEXT NOT NULL,"
        " kind TEXT NOT NULL CHECK (kind IN ('user', 'group')),"
        " member_id TEXT NOT NULL,"
        " role TEXT NOT NULL CHECK (role IN ('admin', 'editor', 'viewer')),"
        " added_at BIGINT NOT NULL,"
        " PRIMARY KEY (project_id, member_id))",
        "CREATE INDEX project_members_member ON project_members (member_id)",

        "CREATE TABLE dataset_grants ("
        " id TEXT PRIMARY KEY NOT NULL,"
        " tenant_id TEXT NOT NULL,"
        " dataset_id TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,"
        " kind TEXT NOT NULL CHECK (kind IN ('user', 'group')),"
        " grantee_id TEXT NOT NULL,"
        " created_by TEXT NOT NULL,"
        " created_at BIGINT NOT NULL,"
        " UNIQUE (dataset_id, grantee_id))",
        "CREATE INDEX dataset_grants_grantee ON dataset_grants (grantee_id)",

        "ALTER TABLE datasets ADD COLUMN project_id TEXT REFERENCES projects(id)",
        "CREATE INDEX datasets_project ON datasets (project_id)",

        // The tenant's quota 'running_jobs' (NULL: the claiming worker's max_running_per_tenant).
        "ALTER TABLE job_tenants ADD COLUMN max_running BIGINT",
    },
};

// Version 11: web sign-in (docs/security.md, "Web sign-in"). The runner applies every version not
// yet recorded, so a data dir that got 11 before 10 (as built on separate branches) gets 10 too.
//   - users.password_hash: the encoded argon2id hash; NULL for users who only use API keys.
//   - sessions: signed-in browsers, found by the SHA-256 of their cookie token.
//   - sign_in_failures: one row per failed sign-in per subject ("account:<tenant id>:<email>" or
//     "address:<ip>"), counted over a window and forgotten once older than it.
const Migration kV11 = {
    11,
    {
        "ALTER TABLE users ADD COLUMN password_hash TEXT NULL",

        "CREATE TABLE sessions ("
        " id TEXT PRIMARY KEY NOT NULL,"
        " tenant_id TEXT NOT NULL REFERENCES tenants(id),"
        " user_id TEXT NOT NULL REFERENCES users(id),"
        " token_hash TEXT NOT NULL UNIQUE,"
        " created_at BIGINT NOT NULL,"
        " last_seen_at BIGINT NOT NULL,"
        " expires_at BIGINT NOT NULL,"
        " revoked_at BIGINT NULL,"
        " client_address TEXT NOT NULL DEFAULT '',"
        " user_agent TEXT NOT NULL DEFAULT '')",

        "CREATE INDEX sessions_user ON sessions (user_id) WHERE revoked_at IS NULL",
        "CREATE INDEX sessions_end ON sessions (expires_at)",

        "CREATE TABLE sign_in_failures ("
        " subject TEXT NOT NULL,"
        " at BIGINT NOT NULL)",

        "CREATE INDEX sign_in_failures_subject ON sign_in_failures (subject, at)",
        // Moves with every session revocation (SessionStore::SessionEpoch).
        "CREATE TABLE session_epoch (id INTEGER PRIMARY KEY CHECK (id = 1), value BIGINT NOT NULL)",
        "INSERT INTO session_epoch (id, value) VALUES (1, 0)",
        "CREATE INDEX sign_in_failures_at ON sign_in_failures (at)",
    },
};

// Version 12: per-tenant settings whose defaults are in the configuration (e.g. whether the audit
// log keeps queries' SQL text), on the tenant (so authentication carries them).
const Migration kV12 = {
    12,
    {
        "ALTER TABLE tenants ADD COLUMN settings_json TEXT NOT NULL DEFAULT '{}'",
    },
};

Status SchemaTooNew(int found) {
  return FailedPrecondition(
      "schema_too_new",
      "the data directory was written by a newer version of Quarry (metadata schema version " +
          std::to_string(found) + ", this binary knows up to " +
          std::to_string(LatestMigrationVersion()) +
          "); upgrade the quarry binary to at least the version that wrote it");
}

Result<bool> IsApplied(Connection& conn, int version) {
  QUARRY_ASSIGN_OR_RETURN(Statement stmt,
                          conn.Prepare("SELECT 1 FROM schema_migrations WHERE version = ?"));
  stmt.Bind(1, version);
  return stmt.Step();
}

Result<std::set<int>> AppliedVersions(Connection& conn) {
  QUARRY_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("SELECT version FROM schema_migrations"));
  std::set<int> versions;
  while (true) {
    QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return versions;
    versions.insert(static_cast<int>(stmt.ColumnInt64(0)));
  }
}

}  // namespace

const std::vector<Migration>& Migrations() {
  static const std::vector<Migration> kMigrations = {kV1, kV2, kV3, kV4, kV5, kV6, kV7, kV8, kV9, kV10, kV11, kV12};
  return kMigrations;
}

int LatestMigrationVersion() { return Migrations().back().version; }

Result<int> AppliedSchemaVersion(Connection& conn) {
  QUARRY_ASSIGN_OR_RETURN(
      Statement stmt, conn.Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"));
  QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return Internal("metadata_store_error", "schema_migrations returned no row");
  return static_cast<int>(stmt.ColumnInt64(0));
}

Status ApplyMigrations(Connection& conn, UnixMillis now) {
  QUARRY_RETURN_IF_ERROR(Atomically(conn, [&] { return conn.Exec(kCreateMigrationsTable); }));
  QUARRY_ASSIGN_OR_RETURN(int current, AppliedSchemaVersion(conn));
  if (current > LatestMigrationVersion()) return SchemaTooNew(current);
  // Versions may have gaps (branches take numbers in parallel): every migration not yet recorded
  // runs, also one below the highest applied version.
  QUARRY_ASSIGN_OR_RETURN(std::set<int> applied, AppliedVersions(conn));

  for (const Migration& migration : Migrations()) {
    if (applied.count(migration.version)) continue;
    QUARRY_RETURN_IF_ERROR(Atomically(conn, [&]() -> Status {
      // Another process may have migrated since `current` was read; the write lock is held now.
      QUARRY_ASSIGN_OR_RETURN(int latest, AppliedSchemaVersion(conn));
      if (latest > LatestMigrationVersion()) return SchemaTooNew(latest);
      QUARRY_ASSIGN_OR_RETURN(bool applied, IsApplied(conn, migration.version));
      if (applied) return Status::Ok();
      for (std::string_view sql : migration.statements) QUARRY_RETURN_IF_ERROR(conn.Exec(sql));
      QUARRY_ASSIGN_OR_RETURN(
          Statement record,
          conn.Prepare("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)"));
      record.Bind(1, migration.version).Bind(2, now);
      return record.Run();
    }));
  }
  return Status::Ok();
}

Result<std::unique_ptr<Connection>> OpenMigrated(const std::string& path, int busy_timeout_ms) {
  if (path.empty()) return Unavailable("metadata_store_unavailable", "no metadata database path is configured");
  QUARRY_ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn, Connection::Open(path, busy_timeout_ms));
  QUARRY_RETURN_IF_ERROR(ApplyMigrations(*conn, SystemClock::Instance().NowMillis()));
  return conn;
}

}  // namespace quarry::sqlite
