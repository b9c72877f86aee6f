// SQLite implementation of AuditStore (schema: migration 8).
#include <algorithm>

#include "meta/audit_store.h"
#include "meta/sqlite/migrations.h"
#include "meta/sqlite/sqlite_connection.h"
#include "meta/sqlite/sqlite_store_support.h"
#include "meta/sqlite/sqlite_meta_store.h"

namespace quarry {
namespace {

using sqlite::Atomically;
using sqlite::Connection;
using sqlite::ConnectionPool;
using sqlite::Statement;

class SqliteAuditStore final : public AuditStore, private sqlite::PooledStore {
 public:
  SqliteAuditStore(const SqliteOptions& options, std::unique_ptr<Connection> first)
      : PooledStore(options, std::move(first)) {}

  Status Append(const std::vector<AuditEvent>& events) override {
    if (events.empty()) return Status::Ok();
    QUARRY_ASSIGN_OR_RETURN(ConnectionPool::Lease lease, pool_.Acquire());
    Connection& conn = *lease;
    return Atomically(conn, [&]() -> Status {
      for (const AuditEvent& e : events) {
        QUARRY_ASSIGN_OR_RETURN(Statement stmt,
                                conn.Prepare("INSERT INTO audit_events (tenant_id, at, user_id, key_id, kind, target,"
                                             " outcome, details_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
        stmt.Bind(1, e.tenant_id).Bind(2, e.at).Bind(3, e.user_id).Bind(4, e.key_id).Bind(5, e.kind);
        stmt.Bind(6, e.target).Bind(7, e.outcome).Bind(8, e.details_json);
        QUARRY_RETURN_IF_ERROR(stmt.Run());
      }
      return Status::Ok();
    });
  }

  Result<std::vector<AuditEvent>> List(const std::string& tenant_id, const AuditFilter& f) override {
    QUARRY_ASSIGN_OR_RETURN(ConnectionPool::Lease lease, pool_.Acquire());
    QUARRY_ASSIGN_OR_RETURN(
        Statement stmt,
        (*lease).Prepare("SELECT id, tenant_id, at, user_id, key_id, kind, target, outcome, details_json"
                         " FROM audit_events WHERE tenant_id = ?1 AND id > ?2"
                         " AND (?3 = '' OR user_id = ?3) AND (?4 = '' OR kind = ?4)"
                         " AND at >= ?5 AND at < ?6 ORDER BY id LIMIT ?7"));
    stmt.Bind(1, tenant_id).Bind(2, f.after_id).Bind(3, f.user_id).Bind(4, f.kind);
    stmt.Bind(5, f.since.value_or(0)).Bind(6, f.until.value_or(INT64_MAX)).Bind(7, std::clamp(f.limit, 1, 1000));
    std::vector<AuditEvent> out;
    while (true) {
      QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      AuditEvent e;
      e.id = stmt.ColumnInt64(0);
      e.tenant_id = stmt.ColumnText(1);
      e.at = stmt.ColumnInt64(2);
      e.user_id = stmt.ColumnText(3);
      e.key_id = stmt.ColumnText(4);
      e.kind = stmt.ColumnText(5);
      e.target = stmt.ColumnText(6);
      e.outcome = stmt.ColumnText(7);
      e.details_json = stmt.ColumnText(8);
      out.push_back(std::move(e));
    }
    return out;
  }

  Result<int> Prune(UnixMillis before, int limit) override {
    QUARRY_ASSIGN_OR_RETURN(ConnectionPool::Lease lease, pool_.Acquire());
    Connection& conn = *lease;
    int removed = 0;
    QUARRY_RETURN_IF_ERROR(Atomically(conn, [&]() -> Status {
      QUARRY_ASSIGN_OR_RETURN(Statement stmt,
                              conn.Prepare("DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events"
                                           " WHERE at < ? ORDER BY id LIMIT ?)"));
      stmt.Bind(1, before).Bind(2, std::max(1, limit));
      QUARRY_RETURN_IF_ERROR(stmt.Run());
      removed = conn.Changes();
      return Status::Ok();
    }));
    return removed;
  }

};

}  // namespace

Result<std::unique_ptr<AuditStore>> OpenSqliteAuditStore(const SqliteOptions& options) {
  return sqlite::OpenStore<AuditStore, SqliteAuditStore>(options);
}

}  // namespace quarry
