#include "meta/sqlite/sqlite_connection.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <utility>

namespace quarry::sqlite {
namespace {

// Replaces every occurrence of `needle` in `text`: SQLite messages must never carry file paths.
std::string Scrub(std::string text, const std::string& needle) {
  if (needle.empty()) return text;
  static constexpr std::string_view kReplacement = "<metadata database>";
  for (std::size_t pos = text.find(needle); pos != std::string::npos;
       pos = text.find(needle, pos + kReplacement.size())) {
    text.replace(pos, needle.size(), kReplacement);
  }
  return text;
}

bool IsBusy(int rc) {
  int primary = rc & 0xff;
  return primary == SQLITE_BUSY || primary == SQLITE_LOCKED;
}

Constraint ConstraintOf(int rc) {
  if ((rc & 0xff) != SQLITE_CONSTRAINT) return Constraint::kNone;
  switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE: return Constraint::kUnique;
    case SQLITE_CONSTRAINT_PRIMARYKEY: return Constraint::kPrimaryKey;
    case SQLITE_CONSTRAINT_FOREIGNKEY: return Constraint::kForeignKey;
    default: return Constraint::kOther;
  }
}

Status BusyStatus() {
  return Unavailable("metadata_store_busy",
                     "the metadata store is locked by another writer and the busy timeout "
                     "expired; retry the request");
}

}  // namespace

// --- Statement ---

Statement::Statement(Connection* conn, sqlite3_stmt* stmt, bool* cache_in_use)
    : conn_(conn), stmt_(stmt), cache_in_use_(cache_in_use) {}

Statement::Statement(Statement&& other) noexcept
    : conn_(other.conn_), stmt_(std::exchange(other.stmt_, nullptr)),
      cache_in_use_(std::exchange(other.cache_in_use_, nullptr)), bind_error_(other.bind_error_),
      violated_(other.violated_) {}

Statement::~Statement() {
  if (stmt_ == nullptr) return;
  if (cache_in_use_ == nullptr) {
    sqlite3_finalize(stmt_);
    return;
  }
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  *cache_in_use_ = false;
}

void Statement::NoteBindResult(int rc) {
  if (rc != SQLITE_OK && bind_error_ == 0) bind_error_ = rc;
}

Statement& Statement::Bind(int index, std::string_view text) {
  // SQLITE_TRANSIENT: SQLite copies the bytes, so callers may pass temporaries.
  NoteBindResult(sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT,
                                     SQLITE_UTF8));
  return *this;
}

Statement& Statement::Bind(int index, std::int64_t value) {
  NoteBindResult(sqlite3_bind_int64(stmt_, index, value));
  return *this;
}

Statement& Statement::Bind(int index, const std::optional<std::int64_t>& value) {
  return value ? Bind(index, *value) : BindNull(index);
}

Statement& Statement::BindNull(int index) {
  NoteBindResult(sqlite3_bind_null(stmt_, index));
  return *this;
}

Statement& Statement::BindTextOrNull(int index, std::string_view text) {
  return text.empty() ? BindNull(index) : Bind(index, text);
}

Result<bool> Statement::Step() {
  if (bind_error_ != 0) return conn_->ErrorStatus(bind_error_);
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  violated_ = ConstraintOf(rc);
  return conn_->ErrorStatus(rc);
}

Status Statement::Run() {
  while (true) {
    QUARRY_ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return Status::Ok();
  }
}

Result<std::vector<std::string>> Statement::FirstColumnTexts() {
  std::vector<std::string> out;
  while (true) {
    QUARRY_ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return out;
    out.push_back(ColumnText(0));
  }
}

bool Statement::ColumnIsNull(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

std::string Statement::ColumnText(int col) const {
  const unsigned char* text = sqlite3_column_text(stmt_, col);
  if (text == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)));
}

std::int64_t Statement::ColumnInt64(int col) const { return sqlite3_column_int64(stmt_, col); }

std::optional<std::int64_t> Statement::ColumnOptionalInt64(int col) const {
  if (ColumnIsNull(col)) return std::nullopt;
  return ColumnInt64(col);
}

// --- Connection ---

Result<std::unique_ptr<Connection>> Connection::Open(const std::string& path,
                                                     int busy_timeout_ms) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return Unavailable("metadata_store_unavailable",
                       "cannot open the metadata database: " + Scrub(message, path));
  }
  std::unique_ptr<Connection> conn(new Connection(db, path));
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, busy_timeout_ms);

  auto unavailable = [&](const Status& cause) {
    if (cause.code() == "metadata_store_busy") return cause;
    return Unavailable("metadata_store_unavailable",
                       "cannot open the metadata database: " + cause.message());
  };
  Result<std::string> mode = conn->EnableWal(busy_timeout_ms);
  if (!mode.ok()) return unavailable(mode.status());
  if (*mode != "wal") {
    return Unavailable("metadata_store_unavailable",
                       "cannot open the metadata database: WAL journal mode is not available "
                       "on this file system");
  }
  for (std::string_view pragma : {"PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON", "PRAGMA temp_store=MEMORY"}) {
    Status s = conn->Exec(pragma);
    if (!s.ok()) return unavailable(s);
  }
  return conn;
}

Result<std::string> Connection::EnableWal(int busy_timeout_ms) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(busy_timeout_ms);
  int backoff_ms = 1;
  while (true) {
    QUARRY_ASSIGN_OR_RETURN(Statement stmt, Prepare("PRAGMA journal_mode=WAL"));
    Result<bool> row = stmt.Step();
    if (row.ok()) {
      if (!*row) return Internal("metadata_store_error", "PRAGMA journal_mode returned no row");
      return stmt.ColumnText(0);
    }
    if (row.status().code() != "metadata_store_busy" ||
        std::chrono::steady_clock::now() >= deadline) {
      return row.status();
    }
    // The failed statement released its shared lock when it finished, so the connection that
    // won the race can complete the switch.
    sqlite3_sleep(backoff_ms);
    backoff_ms = std::min(backoff_ms * 2, 50);
  }
}

Connection::~Connection() {
  for (auto& [sql, cached] : cache_) sqlite3_finalize(cached.stmt);
  sqlite3_close(db_);
}

Result<Statement> Connection::Prepare(std::string_view sql) {
  auto it = cache_.find(std::string(sql));
  if (it != cache_.end() && !it->second.in_use) {
    it->second.in_use = true;
    return Statement(this, it->second.stmt, &it->second.in_use);
  }
  sqlite3_stmt* stmt = nullptr;
  const bool cache = it == cache_.end();
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                              cache ? SQLITE_PREPARE_PERSISTENT : 0, &stmt, nullptr);
  if (rc != SQLITE_OK) return ErrorStatus(rc);
  if (stmt == nullptr) {
    return Internal("metadata_store_error", "empty SQL statement");
  }
  if (!cache) return Statement(this, stmt, nullptr);
  auto entry = cache_.emplace(std::string(sql), CachedStatement{stmt, /*in_use=*/true}).first;
  return Statement(this, stmt, &entry->second.in_use);
}

Status Connection::Exec(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) return ErrorStatus(rc);
  if (stmt == nullptr) return Status::Ok();  // only whitespace or comments
  Statement owned(this, stmt, nullptr);
  return owned.Run();
}

std::int64_t Connection::Changes() const { return sqlite3_changes64(db_); }

bool Connection::InTransaction() const { return sqlite3_get_autocommit(db_) == 0; }

Status Connection::ErrorStatus(int rc) const {
  if (IsBusy(rc)) return BusyStatus();
  std::string message = sqlite3_errmsg(db_);
  // sqlite3_errmsg describes the last call on the handle; a bind error is not one of those.
  if (rc == SQLITE_RANGE || rc == SQLITE_TOOBIG || rc == SQLITE_MISUSE) {
    message = sqlite3_errstr(rc);
  }
  return Internal("metadata_store_error", "metadata store error: " + Scrub(message, path_));
}

// --- ConnectionPool ---

ConnectionPool::ConnectionPool(std::string path, int busy_timeout_ms, int max_connections,
                               std::unique_ptr<Connection> first)
    : path_(std::move(path)),
      busy_timeout_ms_(std::max(0, busy_timeout_ms)),
      max_connections_(std::max(1, max_connections)) {
  idle_.push_back(std::move(first));
  open_ = 1;
}

Result<ConnectionPool::Lease> ConnectionPool::Acquire() {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(busy_timeout_ms_);
  std::unique_lock lock(mu_);
  if (!cv_.wait_until(lock, deadline,
                      [&] { return !idle_.empty() || open_ < max_connections_; })) {
    return Unavailable("metadata_store_busy",
                       "all metadata store connections stayed in use past the busy timeout; "
                       "retry the request");
  }
  if (!idle_.empty()) {
    std::unique_ptr<Connection> conn = std::move(idle_.back());
    idle_.pop_back();
    return Lease(this, std::move(conn));
  }
  ++open_;  // reserves the slot while the connection opens without the lock
  lock.unlock();
  auto opened = Connection::Open(path_, busy_timeout_ms_);
  if (!opened.ok()) {
    lock.lock();
    --open_;
    lock.unlock();
    cv_.notify_one();
    return opened.status();
  }
  return Lease(this, std::move(opened).value());
}

void ConnectionPool::Release(std::unique_ptr<Connection> conn) {
  // A transaction left open (a failed ROLLBACK) must not leak into the next lease.
  if (conn->InTransaction()) {
    (void)conn->Exec("ROLLBACK");
    if (conn->InTransaction()) conn.reset();
  }
  {
    std::lock_guard lock(mu_);
    if (conn) {
      idle_.push_back(std::move(conn));
    } else {
      --open_;
    }
  }
  cv_.notify_one();
}

// --- transactions ---

Status Atomically(Connection& conn, const std::function<Status()>& fn) {
  const bool nested = conn.InTransaction();
  QUARRY_RETURN_IF_ERROR(conn.Exec(nested ? "SAVEPOINT quarry_nested" : "BEGIN IMMEDIATE"));
  // Best effort: if SQLite already rolled the transaction back itself, these fail harmlessly.
  auto undo = [&] {
    if (nested) {
      (void)conn.Exec("ROLLBACK TO quarry_nested");
      (void)conn.Exec("RELEASE quarry_nested");
    } else {
      (void)conn.Exec("ROLLBACK");
    }
  };
  Status status;
  try {
    status = fn();
  } catch (...) {
    undo();
    throw;
  }
  if (!status.ok()) {
    undo();
    return status;
  }
  Status finished = conn.Exec(nested ? "RELEASE quarry_nested" : "COMMIT");
  if (!finished.ok()) undo();
  return finished;
}

}  // namespace quarry::sqlite
