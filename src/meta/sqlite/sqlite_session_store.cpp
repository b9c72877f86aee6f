// SQLite implementation of SessionStore (schema: migration 11).
#include "meta/sqlite/sqlite_session_store.h"

#include "meta/sqlite/migrations.h"
#include "meta/sqlite/sqlite_connection.h"
#include "meta/sqlite/sqlite_store_support.h"

#include <algorithm>

namespace quarry {
namespace {

using sqlite::Atomically;
using sqlite::Connection;
using sqlite::ConnectionPool;
using sqlite::Constraint;
using sqlite::Statement;

#define SESSION_COLUMNS                                                                                  \
  "id, tenant_id, user_id, token_hash, created_at, last_seen_at, expires_at, revoked_at, client_address, " \
  "user_agent"

Status UserNotFound() { return NotFound("user_not_found", "no such user in this tenant"); }
Status SessionNotFound() { return NotFound("session_not_found", "no such session"); }

Session ReadSession(const Statement& row) {
  Session s;
  s.id = row.ColumnText(0);
  s.tenant_id = row.ColumnText(1);
  s.user_id = row.ColumnText(2);
  s.token_hash = row.ColumnText(3);
  s.created_at = row.ColumnInt64(4);
  s.last_seen_at = row.ColumnInt64(5);
  s.expires_at = row.ColumnInt64(6);
  s.revoked_at = row.ColumnOptionalInt64(7);
  s.client_address = row.ColumnText(8);
  s.user_agent = row.ColumnText(9);
  return s;
}

Result<Session> FetchSession(Statement& stmt) {
  QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return SessionNotFound();
  return ReadSession(stmt);
}

// Revocations move the session epoch: the session caches of every process drop theirs when it
// moves (SessionStore's contract).
Status BumpEpoch(Connection& conn) {
  QUARRY_RETURN_IF_ERROR(conn.Exec("UPDATE session_epoch SET value = value + 1 WHERE id = 1"));
  return conn.Changes() == 1 ? Status::Ok() : Internal("metadata_store_error", "the session_epoch row is missing");
}

class SqliteSessionStore final : public SessionStore, private sqlite::PooledStore {
 public:
  SqliteSessionStore(const SqliteOptions& options, std::unique_ptr<Connection> first)
      : PooledStore(options, std::move(first)) {}

  Result<std::optional<std::string>> GetPasswordHash(const std::string& tenant_id, const std::string& user_id) override {
    QUARRY_ASSIGN_OR_RETURN(ConnectionPool::Lease lease, pool_.Acquire());
    QUARRY_ASSIGN_OR_RETURN(Statement stmt,
                            (*lease).Prepare("SELECT password_hash FROM users WHERE id = ? AND tenant_id = ?"));
    stmt.Bind(1, user_id).Bind(2, tenant_id);
    QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return UserNotFound();
    if (stmt.ColumnIsNull(0)) return std::optional<std::string>();
    return std::optional<std::string>(stmt.ColumnText(0));
  }

  Result<int> SetPasswordHash(const std::string& tenant_id, const std::string& user_id, const std::string& password_hash,
                              const std::string& keep_session_id, UnixMillis now) override {
    QUARRY_ASSIGN_OR_RETURN(ConnectionPool::Lease lease, pool_.Acquire());
    Connection& conn = *lease;
    int revoked = 0;
    QUARRY_RETURN_IF_ERROR(Atomically(conn, [&]() -> Status {
      QUARRY_ASSIGN_OR_RETURN(
          Statement set, conn.Prepare("UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ? AND tenant_id = ?"));
      set.Bind(1, password_hash).Bind(2, now).Bind(3, user_id).Bind(4, tenant_id);
      QUARRY_RETURN_IF_ERROR(set.Run());
      if (conn.Changes() == 0) return UserNotFound();
      QUARRY_ASSIGN_OR_RETURN(Statement revoke,
                              conn.Prepare("UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND tenant_id = ?"
                                           " AND revoked_at IS NULL AND id != ?"));
      revoke.Bind(1, now).Bind(2, user_id).Bind(3, tenant_id).Bind(4, keep_session_id);
      QUARRY_RETURN_IF_ERROR(revoke.Run());
      revoked = static_cast<int>(conn.Changes());
      return revoked > 0 ? BumpEpoch(conn) : Status::Ok();
    }));
    return revoked;
  }

  Status InsertSession(const Session& s, const std::string& verified_hash) override {
    QUARRY_ASSIGN_OR_RETURN(ConnectionPool::Lease lease, pool_.Acquire());
    Connection& conn = *lease;
    return Atomically(conn, [&]() -> Status {
      QUARRY_ASSIGN_OR_RETURN(Statement user,
                              conn.Prepare("SELECT password_hash IS ? FROM users WHERE id = ? AND tenant_id = ?"));
      user.BindTextOrNull(1, verified_hash).Bind(2, s.user_id).Bind(3, s.tenant_id);
      QUARRY_ASSIGN_OR_RETURN(bool exists, user.Step());
      if (!exists) return UserNotFound();
      const bool unchanged = user.ColumnInt64(0) != 0;
      QUARRY_RETURN_IF_ERROR(user.Run());
      if (!unchanged) {
        return FailedPrecondition("password_changed", "the password changed while signing in; sign in again");
      }
      QUARRY_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("INSERT INTO sessions (" SESSION_COLUMNS
                                                           ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
      stmt.Bind(1, s.id).Bind(2, s.tenant_id).Bind(3, s.user_id).Bind(4, s.token_hash).Bind(5, s.created_at);
      stmt.Bind(6, s.last_seen_at).Bind(7, s.expires_at).Bind(8, s.revoked_at).Bind(9, s.client_address);
      stmt.Bind(10, s.user_agent.substr(0, kMaxUserAgentBytes));
      Status st = stmt.Run();
      switch (stmt.violated_constraint()) {
        case Constraint::kPrimaryKey:
        case Constraint::kUnique: return AlreadyExists("session_id_taken", "a session with this id or token exists");
        default: return st;
      }
    });
  }

  Result<std::int64_t> SessionEpoch() override {
    QUARRY_ASSIGN_OR_RETURN(ConnectionPool::Lease lease, pool_.Acquire());
    QUARRY_ASSIGN_OR_RETURN(Statement stmt, (*lease).Prepare("SELECT value FROM session_epoch WHERE id = 1"));
    QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return Internal("metadata_store_error", "the session_epoch row is missing");
    return stmt.ColumnInt64(0);
  }

  Result<Session> FindSessionByTokenHash(const std::string& token_hash) override {
    QUARRY_ASSIGN_OR_RETURN(ConnectionPool::Lease lease, pool_.Acquire());
    QUARRY_ASSIGN_OR_RETURN(Statement stmt,
                            (*lease).Prepare("SELECT " SESSION_COLUMNS " FROM sessions WHERE token_hash = ?"));
    stmt.Bind(1, token_hash);
    return FetchSession(stmt);
  }

  Result<Session> GetSession(const std::string& tenant_id, const std::string& session_id) override {
    QUARRY_ASSIGN_OR_RETURN(ConnectionPool::Lease lease, pool_.Acquire());
    QUARRY_ASSIGN_OR_RETURN(Statement stmt, (*lease).Prepare("SELECT " SESSION_COLUMNS
                                                             " FROM sessions WHERE id = ? AND tenant_id = ?"));
    stmt.Bind(1, session_id).Bind(2, tenant_id);
    return FetchSession(stmt);
  }

  Status RevokeSession(const std::string& tenant_id, const std::string& session_id, UnixMillis now) override {
    QUARRY_ASSIGN_OR_RETURN(ConnectionPool::Lease lease, pool_.Acquire());
    Connection& conn = *lease;
    return Atomically(conn, [&]() -> Status {
      QUARRY_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("UPDATE sessions SET revoked_at = ?"
                                                           " WHERE id = ? AND tenant_id = ? AND revoked_at IS NULL"));
      stmt.Bind(1, now).Bind(2, session_id).Bind(3, tenant_id);
      QUARRY_RETURN_IF_ERROR(stmt.Run());
      if (conn.Changes() == 1) return BumpEpoch(conn);
      QUARRY_ASSIGN_OR_RETURN(Statement exists, conn.Prepare("SELECT 1 FROM sessions WHERE id = ? AND tenant_id = ?"));
      exists.Bind(1, session_id).Bind(2, tenant_id);
      QUARRY_ASSIGN_OR_RETURN(bool found, exists.Step());
      return found ? Status::Ok() : SessionNotFound();  // already revoked: the first time stands
    });
  }

  Status RecordSessionUse(const std::vector<std::pair<std::string, UnixMillis>>& uses) override {
    if (uses.empty()) return Status::Ok();
    QUARRY_ASSIGN_OR_RETURN(ConnectionPool::Lease lease, pool_.Acquire());
    Connection& conn = *lease;
    return Atomically(conn, [&]() -> Status {
      for (const auto& [session_id, seen_at] : uses) {
        QUARRY_ASSIGN_OR_RETURN(Statement stmt,
                                conn.Prepare("UPDATE sessions SET last_seen_at = ?1 WHERE id = ?2 AND last_seen_at < ?1"));
        stmt.Bind(1, seen_at).Bind(2, session_id);
        QUARRY_RETURN_IF_ERROR(stmt.Run());
      }
      return Status::Ok();
    });
  }

  Result<int> DeleteEndedSessions(UnixMillis before, int limit) override {
    QUARRY_ASSIGN_OR_RETURN(ConnectionPool::Lease lease, pool_.Acquire());
    Connection& conn = *lease;
    int removed = 0;
    QUARRY_RETURN_IF_ERROR(Atomically(conn, [&]() -> Status {
      QUARRY_ASSIGN_OR_RETURN(Statement stmt,
                              conn.Prepare("DELETE FROM sessions WHERE id IN (SELECT id FROM sessions"
                                           " WHERE expires_at < ?1 OR revoked_at < ?1 LIMIT ?2)"));
      stmt.Bind(1, before).Bind(2, std::max(1, limit));
      QUARRY_RETURN_IF_ERROR(stmt.Run());
      removed = static_cast<int>(conn.Changes());
      return Status::Ok();
    }));
    return removed;
  }

  Status RecordSignInFailure(const std::vector<std::string>& subjects, UnixMillis at, UnixMillis forget_before) override {
    QUARRY_ASSIGN_OR_RETURN(ConnectionPool::Lease lease, pool_.Acquire());
    Connection& conn = *lease;
    return Atomically(conn, [&]() -> Status {
      QUARRY_ASSIGN_OR_RETURN(Statement forget, conn.Prepare("DELETE FROM sign_in_failures WHERE at < ?"));
      forget.Bind(1, forget_before);
      QUARRY_RETURN_IF_ERROR(forget.Run());
      for (const std::string& subject : subjects) {
        QUARRY_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("INSERT INTO sign_in_failures (subject, at) VALUES (?, ?)"));
        stmt.Bind(1, subject).Bind(2, at);
        QUARRY_RETURN_IF_ERROR(stmt.Run());
      }
      return Status::Ok();
    });
  }

  Result<FailureCount> CountSignInFailures(const std::string& subject, UnixMillis since) override {
    QUARRY_ASSIGN_OR_RETURN(ConnectionPool::Lease lease, pool_.Acquire());
    QUARRY_ASSIGN_OR_RETURN(Statement stmt, (*lease).Prepare("SELECT COUNT(*), COALESCE(MIN(at), 0) FROM sign_in_failures"
                                                             " WHERE subject = ? AND at > ?"));
    stmt.Bind(1, subject).Bind(2, since);
    QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return FailureCount{};
    return FailureCount{static_cast<int>(stmt.ColumnInt64(0)), stmt.ColumnInt64(1)};
  }

  Status ClearSignInFailures(const std::string& subject) override {
    QUARRY_ASSIGN_OR_RETURN(ConnectionPool::Lease lease, pool_.Acquire());
    Connection& conn = *lease;
    return Atomically(conn, [&]() -> Status {
      QUARRY_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("DELETE FROM sign_in_failures WHERE subject = ?"));
      stmt.Bind(1, subject);
      return stmt.Run();
    });
  }

};

#undef SESSION_COLUMNS

}  // namespace

Result<std::unique_ptr<SessionStore>> OpenSqliteSessionStore(const SqliteOptions& options) {
  return sqlite::OpenStore<SessionStore, SqliteSessionStore>(options);
}

}  // namespace quarry
