// SQLite implementation of UploadStore (schema: migration 5).
#include <algorithm>

#include "meta/sqlite/migrations.h"
#include "meta/sqlite/sqlite_connection.h"
#include "meta/sqlite/sqlite_store_support.h"
#include "meta/sqlite/sqlite_meta_store.h"
#include "meta/upload_store.h"

namespace quarry {
namespace {

using sqlite::Atomically;
using sqlite::Connection;
using sqlite::ConnectionPool;
using sqlite::Statement;

#define QUARRY_UPLOAD_COLUMNS \
  "id, tenant_id, user_id, length, request_json, metadata, idempotency_key, created_at, expires_at, job_id"

Status UploadNotFound() {
  return NotFound("upload_not_found", "no such upload (it may have expired or been terminated); start a new one");
}

ResumableUpload ReadUpload(const Statement& s) {
  ResumableUpload u;
  u.id = s.ColumnText(0);
  u.tenant_id = s.ColumnText(1);
  u.user_id = s.ColumnText(2);
  u.length = s.ColumnInt64(3);
  u.request_json = s.ColumnText(4);
  u.metadata = s.ColumnText(5);
  u.idempotency_key = s.ColumnText(6);
  u.created_at = s.ColumnInt64(7);
  u.expires_at = s.ColumnInt64(8);
  u.job_id = s.ColumnText(9);
  return u;
}

class SqliteUploadStore final : public UploadStore, private sqlite::PooledStore {
 public:
  SqliteUploadStore(const SqliteOptions& options, std::unique_ptr<Connection> first)
      : PooledStore(options, std::move(first)) {}

  Status CreateUpload(const ResumableUpload& u) override {
    return Write([&](Connection& conn) -> Status {
      QUARRY_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("INSERT INTO uploads (" QUARRY_UPLOAD_COLUMNS
                                                           ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
      stmt.Bind(1, u.id).Bind(2, u.tenant_id).Bind(3, u.user_id).Bind(4, u.length).Bind(5, u.request_json)
          .Bind(6, u.metadata).Bind(7, u.idempotency_key).Bind(8, u.created_at).Bind(9, u.expires_at).Bind(10, u.job_id);
      return stmt.Run();
    });
  }

  Result<ResumableUpload> GetUpload(const std::string& tenant_id, const std::string& id) override {
    QUARRY_ASSIGN_OR_RETURN(ConnectionPool::Lease lease, pool_.Acquire());
    QUARRY_ASSIGN_OR_RETURN(Statement stmt, (*lease).Prepare("SELECT " QUARRY_UPLOAD_COLUMNS
                                                           " FROM uploads WHERE id = ? AND tenant_id = ?"));
    stmt.Bind(1, id).Bind(2, tenant_id);
    QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return UploadNotFound();
    ResumableUpload u = ReadUpload(stmt);
    QUARRY_RETURN_IF_ERROR(stmt.Run());
    return u;
  }

  Status SetUploadJob(const std::string& tenant_id, const std::string& id, const std::string& job_id) override {
    return Write([&](Connection& conn) -> Status {
      QUARRY_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("UPDATE uploads SET job_id = ? WHERE id = ? AND"
                                                           " tenant_id = ? AND job_id = ''"));
      stmt.Bind(1, job_id).Bind(2, id).Bind(3, tenant_id);
      QUARRY_RETURN_IF_ERROR(stmt.Run());
      if (conn.Changes() == 1) return Status::Ok();
      return FailedPrecondition("upload_completed", "the upload is complete and already being ingested");
    });
  }

  Status ExtendUpload(const std::string& tenant_id, const std::string& id, UnixMillis expires_at) override {
    return Write([&](Connection& conn) -> Status {
      QUARRY_ASSIGN_OR_RETURN(Statement stmt,
                              conn.Prepare("UPDATE uploads SET expires_at = ? WHERE id = ? AND tenant_id = ?"));
      stmt.Bind(1, expires_at).Bind(2, id).Bind(3, tenant_id);
      return stmt.Run();
    });
  }

  Status DeleteUpload(const std::string& tenant_id, const std::string& id) override {
    return Write([&](Connection& conn) -> Status {
      QUARRY_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("DELETE FROM uploads WHERE id = ? AND tenant_id = ?"));
      stmt.Bind(1, id).Bind(2, tenant_id);
      QUARRY_RETURN_IF_ERROR(stmt.Run());
      return conn.Changes() == 1 ? Status::Ok() : UploadNotFound();
    });
  }

  Result<std::vector<ResumableUpload>> ListExpiredUploads(UnixMillis now, int limit) override {
    QUARRY_ASSIGN_OR_RETURN(ConnectionPool::Lease lease, pool_.Acquire());
    QUARRY_ASSIGN_OR_RETURN(Statement stmt, (*lease).Prepare("SELECT " QUARRY_UPLOAD_COLUMNS " FROM uploads"
                                                           " WHERE expires_at < ? LIMIT ?"));
    stmt.Bind(1, now).Bind(2, std::clamp(limit, 1, 1000));
    std::vector<ResumableUpload> out;
    while (true) {
      QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      out.push_back(ReadUpload(stmt));
    }
    return out;
  }

  Result<std::vector<std::string>> ListIncompleteUploadIds(int limit) override {
    QUARRY_ASSIGN_OR_RETURN(ConnectionPool::Lease lease, pool_.Acquire());
    QUARRY_ASSIGN_OR_RETURN(Statement stmt, (*lease).Prepare("SELECT id FROM uploads WHERE job_id = '' LIMIT ?"));
    stmt.Bind(1, std::max(1, limit));
    return stmt.FirstColumnTexts();
  }

};

}  // namespace

Result<std::unique_ptr<UploadStore>> OpenSqliteUploadStore(const SqliteOptions& options) {
  return sqlite::OpenStore<UploadStore, SqliteUploadStore>(options);
}

}  // namespace quarry
