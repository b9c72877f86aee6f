// What the SQLite stores share (private to meta/sqlite/): their connection pool with one-transaction
// writes, and keyset pages read from a statement.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <utility>

#include "meta/records.h"
#include "meta/sqlite/migrations.h"
#include "meta/sqlite/sqlite_connection.h"
#include "meta/sqlite/sqlite_meta_store.h"

namespace quarry::sqlite {

// `stmt` selects up to limit + 1 rows in cursor order; the extra row only signals that more
// follow. The next cursor is the last item's `cursor` member (its id unless said otherwise).
template <typename T>
Result<Page<T>> FetchPage(Statement& stmt, int limit, Result<T> (*read)(const Statement&),
                          std::string T::*cursor = &T::id) {
  Page<T> page;
  while (true) {
    QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return page;
    if (page.items.size() == static_cast<std::size_t>(limit)) {
      page.next_cursor = page.items.back().*cursor;
      return page;
    }
    QUARRY_ASSIGN_OR_RETURN(T item, read(stmt));
    page.items.push_back(std::move(item));
  }
}

// Opens the metadata database (migrating it) and makes store `Impl` (constructed from the options
// and the first connection) behind its `Interface`: the factories' one shape.
template <typename Interface, typename Impl>
Result<std::unique_ptr<Interface>> OpenStore(const SqliteOptions& options) {
  QUARRY_ASSIGN_OR_RETURN(auto conn, OpenMigrated(options.path, options.busy_timeout_ms));
  return std::unique_ptr<Interface>(std::make_unique<Impl>(options, std::move(conn)));
}

// A store's pool of connections to the metadata database. Write runs `fn(Connection&)` in one
// BEGIN IMMEDIATE transaction (Atomically); Read runs it on a pooled connection as it is.
// Thread-safety: safe to call concurrently (each call holds its own connection).
class PooledStore {
 protected:
  PooledStore(const SqliteOptions& options, std::unique_ptr<Connection> first)
      : pool_(options.path, options.busy_timeout_ms, options.max_connections, std::move(first)) {}

  template <typename F>
  Status Write(F&& fn) {
    QUARRY_ASSIGN_OR_RETURN(ConnectionPool::Lease lease, pool_.Acquire());
    Connection& conn = *lease;
    return Atomically(conn, [&] { return fn(conn); });
  }

  template <typename T, typename F>
  Result<T> Read(F&& fn) {
    QUARRY_ASSIGN_OR_RETURN(ConnectionPool::Lease lease, pool_.Acquire());
    return fn(*lease);
  }

  ConnectionPool pool_;
};

}  // namespace quarry::sqlite
