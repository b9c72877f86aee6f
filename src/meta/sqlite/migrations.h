// Schema migrations of the SQLite metadata store.
//
// The schema is an ordered list of migrations, each identified by a version (1, 2, ...; gaps are
// allowed) and recorded in schema_migrations once applied. Invariants:
//   - a migration, once released, is never edited: changes go into a new migration;
//   - each migration runs in its own BEGIN IMMEDIATE transaction together with its
//     schema_migrations row, and re-checks that row inside the transaction, so two processes
//     migrating the same file at once apply each migration exactly once;
//   - the SQL stays portable to PostgreSQL: TEXT, INTEGER, BIGINT only; times are BIGINT unix
//     millis; one statement per string (no multi-statement scripts).
#pragma once

#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "meta/sqlite/sqlite_connection.h"

namespace quarry::sqlite {

struct Migration {
  int version;
  std::vector<std::string_view> statements;
};

// All migrations, in ascending version order.
const std::vector<Migration>& Migrations();

// The version of the last migration in Migrations().
int LatestMigrationVersion();

// The highest applied version (0 for a database that has none).
Result<int> AppliedSchemaVersion(Connection& conn);

// Applies every migration not recorded yet (also one below the highest recorded version).
// Refuses, with FailedPrecondition "schema_too_new", a database that has a version this binary does not know. `now` stamps
// schema_migrations.applied_at.
Status ApplyMigrations(Connection& conn, UnixMillis now);
// The first connection of a store: the database at `path` opened, its schema migrated.
// Unavailable "metadata_store_unavailable" when no path is configured.
Result<std::unique_ptr<Connection>> OpenMigrated(const std::string& path, int busy_timeout_ms);

}  // namespace quarry::sqlite
