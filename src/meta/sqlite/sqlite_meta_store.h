// SQLite implementations of MetaStore and JobStore for the embedded mode.
//
// One database file (WAL mode, foreign keys on, busy timeout, synchronous=FULL, temp_store=MEMORY:
// sorter and statement-journal scratch stays in memory instead of a file created in /var/tmp per
// statement; every query the stores run is bounded by a LIMIT) opened through a small pool of
// connections, so readers never wait on each other; writes use BEGIN IMMEDIATE.
// Other processes (the `quarry admin` CLI) may use the same file at the same time.
// Migrations run in Open(): idempotent, each in its own transaction; a database whose schema is
// newer than this binary knows is refused.
#pragma once

#include <memory>
#include <string>

#include "meta/access_store.h"
#include "meta/audit_store.h"
#include "meta/dataset_store.h"
#include "meta/job_store.h"
#include "meta/meta_store.h"
#include "meta/upload_store.h"

namespace quarry {

struct SqliteOptions {
  std::string path;             // database file; created if missing
  int busy_timeout_ms = 5000;   // how long a write waits for another writer
  int max_connections = 8;      // pool size
};

// The newest schema version this binary knows.
int SqliteLatestSchemaVersion();

// Opens (and migrates) the store. Errors: Unavailable "metadata_store_unavailable" when the file
// cannot be opened, FailedPrecondition "schema_too_new" when the schema is newer than known.
Result<std::unique_ptr<MetaStore>> OpenSqliteMetaStore(const SqliteOptions& options);

// Opens (and migrates) the job store, with its own connection pool, on the metadata database
// file (jobs reference tenants). Opening both stores, in either order and from several
// processes, is safe: migrations are idempotent. Errors as above.
Result<std::unique_ptr<JobStore>> OpenSqliteJobStore(const SqliteOptions& options);

// Opens (and migrates) the dataset registry on the metadata database file, with its own pool.
Result<std::unique_ptr<DatasetStore>> OpenSqliteDatasetStore(const SqliteOptions& options);

// Opens (and migrates) the resumable-upload store on the metadata database file.
Result<std::unique_ptr<UploadStore>> OpenSqliteUploadStore(const SqliteOptions& options);
Result<std::unique_ptr<AuditStore>> OpenSqliteAuditStore(const SqliteOptions& options);
// Opens (and migrates) the store of projects, groups and grants on the metadata database file.
Result<std::unique_ptr<AccessStore>> OpenSqliteAccessStore(const SqliteOptions& options);

}  // namespace quarry
