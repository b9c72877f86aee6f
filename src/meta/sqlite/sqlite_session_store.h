// The SQLite SessionStore (web sign-in: password hashes, sessions, failed attempts) on the
// metadata database file, with its own connection pool; see sqlite_meta_store.h for the options.
#pragma once

#include <memory>

#include "meta/session_store.h"
#include "meta/sqlite/sqlite_meta_store.h"

namespace quarry {

// Opens (and migrates) the store. Errors as OpenSqliteMetaStore.
Result<std::unique_ptr<SessionStore>> OpenSqliteSessionStore(const SqliteOptions& options);

}  // namespace quarry
