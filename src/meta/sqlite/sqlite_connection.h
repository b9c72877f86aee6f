// Thin RAII layer over the SQLite C API (and the connection pool), private to the SQLite
// metadata store.
//
// A Connection owns one sqlite3 handle configured the way the store needs it (WAL, FULL sync,
// foreign keys, busy timeout, extended result codes). It is not thread-safe: one thread uses it
// at a time (the pool hands it out exclusively). Errors come back as Status:
//   - SQLITE_BUSY / SQLITE_LOCKED (any extended code) -> Unavailable "metadata_store_busy",
//   - anything else -> Internal "metadata_store_error" carrying SQLite's message, with the
//     database path scrubbed out of it.
// Constraint violations keep that Internal status but the failing Statement reports which kind
// of constraint failed, so the store can turn it into the error its contract promises.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace quarry::sqlite {

class Connection;

enum class Constraint { kNone, kUnique, kPrimaryKey, kForeignKey, kOther };

// A prepared statement borrowed from its connection's cache (or owned, when the cached one is
// already in use). Destroying it resets the statement and clears its bindings, which also ends
// the implicit read transaction an unfinished SELECT would otherwise keep open; it must therefore
// be destroyed before its Connection is returned to the pool or closed.
// Bind indexes and column indexes follow SQLite: binds are 1-based, columns 0-based.
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  Statement& Bind(int index, std::string_view text);
  Statement& Bind(int index, const char* text) { return Bind(index, std::string_view(text)); }
  Statement& Bind(int index, std::int64_t value);
  Statement& Bind(int index, int value) { return Bind(index, static_cast<std::int64_t>(value)); }
  Statement& Bind(int index, const std::optional<std::int64_t>& value);
  Statement& BindNull(int index);
  // Binds NULL for an empty string (optional foreign keys are NULL, not '').
  Statement& BindTextOrNull(int index, std::string_view text);

  // Advances: true when a row is available, false when the statement is done. A bind error
  // recorded earlier is reported here.
  Result<bool> Step();
  // Steps until done, ignoring any rows.
  Status Run();
  // Steps until done, collecting the first column of every row as text.
  Result<std::vector<std::string>> FirstColumnTexts();

  bool ColumnIsNull(int col) const;
  // NULL reads as "" / 0.
  std::string ColumnText(int col) const;
  std::int64_t ColumnInt64(int col) const;
  std::optional<std::int64_t> ColumnOptionalInt64(int col) const;

  // After a failed Step/Run: which kind of constraint failed, if any.
  Constraint violated_constraint() const { return violated_; }

 private:
  friend class Connection;
  // `cache_in_use` is the in-use flag of the cache entry that owns `stmt`, or nullptr when the
  // statement is owned (finalized on destruction).
  Statement(Connection* conn, sqlite3_stmt* stmt, bool* cache_in_use);
  void NoteBindResult(int rc);

  Connection* conn_;
  sqlite3_stmt* stmt_;
  bool* cache_in_use_;
  int bind_error_ = 0;  // first failing sqlite3_bind_* result, 0 when none
  Constraint violated_ = Constraint::kNone;
};

class Connection {
 public:
  // Opens `path` (created if missing) and applies the store's PRAGMAs. Failure is Unavailable
  // "metadata_store_unavailable" (or "metadata_store_busy" when the file is locked).
  static Result<std::unique_ptr<Connection>> Open(const std::string& path, int busy_timeout_ms);

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  // Finalizes cached statements; no Statement of this connection may still exist.
  ~Connection();

  // A statement for `sql` (exactly one SQL statement), prepared once per connection and reused.
  Result<Statement> Prepare(std::string_view sql);
  // Runs one statement that returns no rows of interest (BEGIN, COMMIT, DDL, ...), uncached.
  Status Exec(std::string_view sql);
  // Rows changed by the most recent INSERT/UPDATE/DELETE on this connection.
  std::int64_t Changes() const;
  // True while a transaction is open (SQLite is not in autocommit mode).
  bool InTransaction() const;

  // The Status for a failed SQLite call that returned `rc`; see the file comment.
  Status ErrorStatus(int rc) const;

 private:
  friend class Statement;
  struct CachedStatement {
    sqlite3_stmt* stmt = nullptr;
    bool in_use = false;
  };

  Connection(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  // Switches the file to WAL (persistent; a no-op when already on) and returns the journal mode
  // now in effect. On a file not yet in WAL mode the switch upgrades a shared lock, and when
  // several connections race to do that (two processes creating a data dir at once) SQLite
  // answers SQLITE_BUSY at once instead of calling the busy handler (deadlock avoidance); this
  // retries for up to `busy_timeout_ms`, as the busy handler would have.
  Result<std::string> EnableWal(int busy_timeout_ms);

  sqlite3* db_;
  std::string path_;  // only to scrub it from error messages
  // Node-based: Statements keep pointers to entries' in_use flags.
  std::unordered_map<std::string, CachedStatement> cache_;
};

// Up to `max_connections` connections to one file, opened lazily and handed out exclusively, so
// that each is used by one thread at a time. Acquire waits at most `busy_timeout_ms` for one to
// become free, then fails with Unavailable "metadata_store_busy". Thread-safe.
// Invariants (under mu_): open_ counts the connections that exist, idle or leased, and never
// exceeds max_connections_; idle connections are outside any transaction.
class ConnectionPool {
 public:
  // Gives its connection back to the pool on destruction; must not outlive the pool.
  class Lease {
   public:
    Lease(ConnectionPool* pool, std::unique_ptr<Connection> conn)
        : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (conn_) pool_->Release(std::move(conn_));
    }
    Connection& operator*() const { return *conn_; }

   private:
    ConnectionPool* pool_;
    std::unique_ptr<Connection> conn_;
  };

  // `first` is an already open connection (the one migrations ran on).
  ConnectionPool(std::string path, int busy_timeout_ms, int max_connections,
                 std::unique_ptr<Connection> first);
  // No Lease may still exist.
  ~ConnectionPool() = default;

  Result<Lease> Acquire();

 private:
  void Release(std::unique_ptr<Connection> conn);

  const std::string path_;
  const int busy_timeout_ms_;
  const int max_connections_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Connection>> idle_;
  int open_ = 0;
};

// Runs `fn` so that its writes are all-or-nothing: inside BEGIN IMMEDIATE ... COMMIT, or, when
// `conn` is already in a transaction, inside a SAVEPOINT of it. Rolls back (to the savepoint)
// when `fn` returns an error or throws; the exception propagates. BEGIN IMMEDIATE takes the
// write lock up front, so a transaction never fails half-way for want of it.
Status Atomically(Connection& conn, const std::function<Status()>& fn);

}  // namespace quarry::sqlite
