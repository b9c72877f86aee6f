// SQLite implementation of DatasetStore (schema: migration 4). Every write is one BEGIN IMMEDIATE
// transaction (Atomically) on a pooled connection; each read is one consistent SELECT or a
// read-only transaction of a few statements.
#include <algorithm>
#include <utility>

#include "common/ids.h"
#include "meta/dataset_store.h"
#include "meta/sqlite/migrations.h"
#include "meta/sqlite/sqlite_connection.h"
#include "meta/sqlite/sqlite_meta_store.h"
#include "meta/sqlite/sqlite_store_support.h"

namespace quarry {
namespace {

using sqlite::Atomically;
using sqlite::Connection;
using sqlite::ConnectionPool;
using sqlite::Statement;

#define QUARRY_VERSION_COLUMNS                                                                   \
  "v.dataset_id, v.version, v.state, v.storage_prefix, v.row_count, v.byte_size, v.schema_json, " \
  "v.stats_json, v.job_id, v.source_json, v.created_at"

#define QUARRY_DATASET_COLUMNS                                                                  \
  "d.id, d.tenant_id, d.name, d.current_version, COALESCE(cv.row_count, 0), "                   \
  "COALESCE(cv.byte_size, 0), d.created_at, d.updated_at, d.project_id"

#define QUARRY_DATASET_FROM                                                      \
  " FROM datasets d LEFT JOIN dataset_versions cv ON cv.dataset_id = d.id AND " \
  "cv.version = d.current_version"

Status VersionNotFound(int version) {
  return NotFound("version_not_found", "the dataset has no version " + std::to_string(version) +
                                           "; list them with GET /v1/datasets/{name}/versions");
}
Status LeaseLostStatus() {
  return FailedPrecondition("lease_lost", "the job no longer holds its lease; nothing was published");
}

DatasetVersion ReadVersion(const Statement& s) {
  DatasetVersion v;
  v.dataset_id = s.ColumnText(0);
  v.version = static_cast<int>(s.ColumnInt64(1));
  v.state = s.ColumnText(2) == "ready" ? VersionState::kReady : VersionState::kPending;
  v.storage_prefix = s.ColumnText(3);
  v.row_count = s.ColumnInt64(4);
  v.byte_size = s.ColumnInt64(5);
  v.schema_json = s.ColumnText(6);
  v.stats_json = s.ColumnText(7);
  v.job_id = s.ColumnText(8);
  v.source_json = s.ColumnText(9);
  v.created_at = s.ColumnInt64(10);
  return v;
}

Dataset ReadDataset(const Statement& s) {
  Dataset d;
  d.id = s.ColumnText(0);
  d.tenant_id = s.ColumnText(1);
  d.name = s.ColumnText(2);
  d.current_version = static_cast<int>(s.ColumnInt64(3));
  d.row_count = s.ColumnInt64(4);
  d.byte_size = s.ColumnInt64(5);
  d.created_at = s.ColumnInt64(6);
  d.updated_at = s.ColumnInt64(7);
  d.project_id = s.ColumnText(8);
  return d;
}

// The job still holds the lease identified by `token` (it is running with that fencing token).
Status CheckFencing(Connection& conn, const std::string& job_id, std::int64_t token) {
  QUARRY_ASSIGN_OR_RETURN(
      Statement stmt,
      conn.Prepare("SELECT 1 FROM jobs WHERE id = ? AND fencing_token = ? AND state = 'running'"));
  stmt.Bind(1, job_id).Bind(2, token);
  QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
  return row ? Status::Ok() : LeaseLostStatus();
}

// The tenant's dataset row by name, visible or not.
Result<std::optional<Dataset>> FindDataset(Connection& conn, const std::string& tenant_id, const std::string& name) {
  QUARRY_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("SELECT " QUARRY_DATASET_COLUMNS QUARRY_DATASET_FROM
                                                       " WHERE d.tenant_id = ? AND d.name = ?"));
  stmt.Bind(1, tenant_id).Bind(2, name);
  QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::optional<Dataset>();
  return std::optional<Dataset>(ReadDataset(stmt));
}

// The project is the tenant's.
Status CheckProject(Connection& conn, const std::string& tenant_id, const std::string& project_id) {
  QUARRY_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("SELECT 1 FROM projects WHERE id = ? AND tenant_id = ?"));
  stmt.Bind(1, project_id).Bind(2, tenant_id);
  QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
  QUARRY_RETURN_IF_ERROR(stmt.Run());
  if (!row) return ProjectNotFound();
  return Status::Ok();
}

Result<Dataset> VisibleDataset(Connection& conn, const std::string& tenant_id, const std::string& name) {
  QUARRY_ASSIGN_OR_RETURN(std::optional<Dataset> found, FindDataset(conn, tenant_id, name));
  if (!found || found->current_version == 0) return DatasetNotFound();
  return std::move(*found);
}

std::string StoragePrefix(const std::string& tenant_id, const std::string& dataset_id, int version) {
  return "tenants/" + tenant_id + "/datasets/" + dataset_id + "/v" + std::to_string(version) + "/";
}

class SqliteDatasetStore final : public DatasetStore, private sqlite::PooledStore {
 public:
  SqliteDatasetStore(const SqliteOptions& options, std::unique_ptr<Connection> first)
      : PooledStore(options, std::move(first)) {}

  Result<PreparedVersion> PrepareVersion(const PrepareVersionRequest& r, UnixMillis now) override {
    std::optional<PreparedVersion> out;
    QUARRY_RETURN_IF_ERROR(Write([&](Connection& conn) -> Status {
      QUARRY_RETURN_IF_ERROR(CheckFencing(conn, r.job_id, r.fencing_token));
      QUARRY_ASSIGN_OR_RETURN(std::optional<Dataset> dataset, FindDataset(conn, r.tenant_id, r.name));
      if (dataset && r.must_not_exist && dataset->current_version > 0) return DatasetExists(r.name);
      if (r.must_exist && (!dataset || dataset->current_version == 0)) return DatasetNotFound();
      if (dataset && dataset->project_id != r.project_id) {
        return FailedPrecondition("project_mismatch",
                                  "the dataset '" + r.name + "' is not in the project this upload was accepted for (it "
                                  "moved, or another upload created it elsewhere meanwhile); upload it again");
      }
      // A retried attempt of the same job takes its pending version over.
      QUARRY_ASSIGN_OR_RETURN(Statement pending,
                              conn.Prepare("SELECT dataset_id, version, storage_prefix FROM dataset_versions"
                                           " WHERE job_id = ? AND state = 'pending'"));
      pending.Bind(1, r.job_id);
      QUARRY_ASSIGN_OR_RETURN(bool has_pending, pending.Step());
      if (has_pending && dataset && pending.ColumnText(0) == dataset->id) {
        out = PreparedVersion{dataset->id, static_cast<int>(pending.ColumnInt64(1)), dataset->current_version,
                              pending.ColumnText(2)};
        QUARRY_RETURN_IF_ERROR(pending.Run());
        QUARRY_ASSIGN_OR_RETURN(Statement take, conn.Prepare("UPDATE dataset_versions SET fencing_token = ?"
                                                             " WHERE dataset_id = ? AND version = ?"));
        take.Bind(1, r.fencing_token).Bind(2, out->dataset_id).Bind(3, out->version);
        return take.Run();
      }
      QUARRY_RETURN_IF_ERROR(pending.Run());
      if (!dataset) {
        if (r.max_datasets > 0) {
          QUARRY_ASSIGN_OR_RETURN(Statement count, conn.Prepare("SELECT count(*) FROM datasets WHERE tenant_id = ?"));
          count.Bind(1, r.tenant_id);
          QUARRY_ASSIGN_OR_RETURN(bool counted, count.Step());
          const std::int64_t existing = counted ? count.ColumnInt64(0) : 0;
          if (existing >= r.max_datasets) {
            return Status(ErrorCode::kPayloadTooLarge, "quota_exceeded",
                          "the tenant's quota 'datasets' is " + std::to_string(r.max_datasets) + "; this would use " +
                              std::to_string(existing + 1) + "; delete a dataset, or ask the operator for a larger quota",
                          {{"quota", "datasets"}, {"used", std::to_string(existing + 1)},
                           {"limit", std::to_string(r.max_datasets)}});
          }
        }
        Dataset created;
        created.id = NewId("ds", now);
        if (!r.project_id.empty()) QUARRY_RETURN_IF_ERROR(CheckProject(conn, r.tenant_id, r.project_id));
        QUARRY_ASSIGN_OR_RETURN(Statement insert, conn.Prepare("INSERT INTO datasets (id, tenant_id, name, created_at,"
                                                               " updated_at, project_id) VALUES (?, ?, ?, ?, ?, ?)"));
        insert.Bind(1, created.id).Bind(2, r.tenant_id).Bind(3, r.name).Bind(4, now).Bind(5, now);
        insert.BindTextOrNull(6, r.project_id);
        QUARRY_RETURN_IF_ERROR(insert.Run());
        created.project_id = r.project_id;
        dataset = created;
      }
      QUARRY_ASSIGN_OR_RETURN(Statement bump, conn.Prepare("UPDATE datasets SET next_version = next_version + 1"
                                                           " WHERE id = ? RETURNING next_version - 1"));
      bump.Bind(1, dataset->id);
      QUARRY_ASSIGN_OR_RETURN(bool bumped, bump.Step());
      if (!bumped) return Internal("metadata_store_error", "the dataset row vanished");
      const int version = static_cast<int>(bump.ColumnInt64(0));
      QUARRY_RETURN_IF_ERROR(bump.Run());
      out = PreparedVersion{dataset->id, version, dataset->current_version,
                            StoragePrefix(r.tenant_id, dataset->id, version)};
      QUARRY_ASSIGN_OR_RETURN(Statement insert,
                              conn.Prepare("INSERT INTO dataset_versions (dataset_id, version, state, storage_prefix,"
                                           " job_id, fencing_token, created_at) VALUES (?, ?, 'pending', ?, ?, ?, ?)"));
      insert.Bind(1, out->dataset_id).Bind(2, version).Bind(3, out->storage_prefix).Bind(4, r.job_id)
          .Bind(5, r.fencing_token).Bind(6, now);
      return insert.Run();
    }));
    return std::move(*out);
  }

  Status PublishVersion(const PublishRequest& r, UnixMillis now) override {
    return Write([&](Connection& conn) -> Status {
      QUARRY_RETURN_IF_ERROR(CheckFencing(conn, r.job_id, r.fencing_token));
      QUARRY_ASSIGN_OR_RETURN(Statement current,
                              conn.Prepare("SELECT d.current_version, d.name FROM datasets d JOIN dataset_versions v"
                                           " ON v.dataset_id = d.id WHERE d.id = ? AND d.tenant_id = ? AND v.version = ?"
                                           " AND v.state = 'pending' AND v.job_id = ? AND v.fencing_token = ?"));
      current.Bind(1, r.dataset_id).Bind(2, r.tenant_id).Bind(3, r.version).Bind(4, r.job_id).Bind(5, r.fencing_token);
      QUARRY_ASSIGN_OR_RETURN(bool row, current.Step());
      if (!row) return LeaseLostStatus();  // the pending version was taken over or swept
      const int current_version = static_cast<int>(current.ColumnInt64(0));
      const std::string name = current.ColumnText(1);
      QUARRY_RETURN_IF_ERROR(current.Run());
      if (r.must_not_exist && current_version > 0) return DatasetExists(name);
      if (r.check_base && current_version != r.expected_base_version) {
        return Unavailable("dataset_changed",
                           "another version of the dataset was published while this append ran; the "
                           "append is retried on top of it");
      }
      QUARRY_ASSIGN_OR_RETURN(Statement ready,
                              conn.Prepare("UPDATE dataset_versions SET state = 'ready', row_count = ?, byte_size = ?,"
                                           " schema_json = ?, stats_json = ?, source_json = ?, created_at = ?"
                                           " WHERE dataset_id = ? AND version = ?"));
      ready.Bind(1, r.row_count).Bind(2, r.byte_size).Bind(3, r.schema_json).Bind(4, r.stats_json)
          .Bind(5, r.source_json).Bind(6, now).Bind(7, r.dataset_id).Bind(8, r.version);
      QUARRY_RETURN_IF_ERROR(ready.Run());
      QUARRY_ASSIGN_OR_RETURN(Statement head,
                              conn.Prepare("UPDATE datasets SET current_version = ?, updated_at = ? WHERE id = ?"));
      head.Bind(1, r.version).Bind(2, now).Bind(3, r.dataset_id);
      return head.Run();
    });
  }

  Result<std::vector<DatasetVersion>> ListAbandonedVersions(int limit) override {
    return Read<std::vector<DatasetVersion>>([&](Connection& conn) -> Result<std::vector<DatasetVersion>> {
      QUARRY_ASSIGN_OR_RETURN(
          Statement stmt,
          conn.Prepare("SELECT " QUARRY_VERSION_COLUMNS " FROM dataset_versions v LEFT JOIN jobs j ON j.id = v.job_id"
                       " WHERE v.state = 'pending' AND (j.id IS NULL OR j.state IN ('succeeded', 'failed', 'canceled'))"
                       " LIMIT ?"));
      stmt.Bind(1, std::clamp(limit, 1, 1000));
      return Collect(stmt);
    });
  }

  Status DropPendingVersion(const std::string& dataset_id, int version) override {
    return Write([&](Connection& conn) -> Status {
      QUARRY_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("DELETE FROM dataset_versions WHERE dataset_id = ?"
                                                           " AND version = ? AND state = 'pending'"));
      stmt.Bind(1, dataset_id).Bind(2, version);
      QUARRY_RETURN_IF_ERROR(stmt.Run());
      if (conn.Changes() == 0) return Status::Ok();
      // The number is given back when it was the last one handed out, so that failed ingestions
      // leave no gaps in the version numbers.
      QUARRY_ASSIGN_OR_RETURN(Statement back, conn.Prepare("UPDATE datasets SET next_version = ?"
                                                           " WHERE id = ? AND next_version = ?"));
      back.Bind(1, version).Bind(2, dataset_id).Bind(3, version + 1);
      QUARRY_RETURN_IF_ERROR(back.Run());
      // A dataset that never got a version disappears with its last pending one.
      QUARRY_ASSIGN_OR_RETURN(Statement empty,
                              conn.Prepare("DELETE FROM datasets WHERE id = ? AND current_version = 0 AND NOT EXISTS"
                                           " (SELECT 1 FROM dataset_versions WHERE dataset_id = ?)"));
      empty.Bind(1, dataset_id).Bind(2, dataset_id);
      return empty.Run();
    });
  }

  Result<Dataset> GetDataset(const std::string& tenant_id, const std::string& name) override {
    return Read<Dataset>([&](Connection& conn) { return VisibleDataset(conn, tenant_id, name); });
  }

  Result<Page<Dataset>> ListDatasets(const std::string& tenant_id, const PageRequest& page,
                                     const DatasetViewer& viewer) override {
    return Read<Page<Dataset>>([&](Connection& conn) -> Result<Page<Dataset>> {
      const int limit = std::clamp(page.limit, 1, 1000);
      // The visibility rule (meta/access_store.h): outside any project, or the viewer (directly
      // or through a group) is a member of the project or holds a grant.
      QUARRY_ASSIGN_OR_RETURN(
          Statement stmt,
          conn.Prepare("WITH me(id) AS (SELECT ?4 UNION ALL SELECT group_id FROM group_members"
                       " WHERE user_id = ?4 AND tenant_id = ?1)"
                       " SELECT " QUARRY_DATASET_COLUMNS QUARRY_DATASET_FROM
                       " WHERE d.tenant_id = ?1 AND d.current_version > 0 AND d.name > ?2"
                       " AND (?5 OR d.project_id IS NULL"
                       " OR EXISTS (SELECT 1 FROM project_members pm WHERE pm.project_id = d.project_id"
                       " AND pm.member_id IN (SELECT id FROM me))"
                       " OR EXISTS (SELECT 1 FROM dataset_grants g WHERE g.dataset_id = d.id"
                       " AND g.grantee_id IN (SELECT id FROM me)))"
                       " ORDER BY d.name LIMIT ?3"));
      stmt.Bind(1, tenant_id).Bind(2, page.after_id).Bind(3, limit + 1).Bind(4, viewer.user_id);
      stmt.Bind(5, viewer.sees_all ? 1 : 0);
      Page<Dataset> out;
      while (true) {
        QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
        if (!row) break;
        out.items.push_back(ReadDataset(stmt));
      }
      if (static_cast<int>(out.items.size()) > limit) {
        out.items.pop_back();
        out.next_cursor = out.items.back().name;
      }
      return out;
    });
  }

  Result<Dataset> SetDatasetProject(const std::string& tenant_id, const std::string& name,
                                    const std::string& project_id, UnixMillis now) override {
    std::optional<Dataset> out;
    QUARRY_RETURN_IF_ERROR(Write([&](Connection& conn) -> Status {
      QUARRY_ASSIGN_OR_RETURN(Dataset dataset, VisibleDataset(conn, tenant_id, name));
      if (!project_id.empty()) QUARRY_RETURN_IF_ERROR(CheckProject(conn, tenant_id, project_id));
      QUARRY_ASSIGN_OR_RETURN(Statement stmt,
                              conn.Prepare("UPDATE datasets SET project_id = ?, updated_at = ? WHERE id = ?"));
      stmt.BindTextOrNull(1, project_id).Bind(2, now).Bind(3, dataset.id);
      QUARRY_RETURN_IF_ERROR(stmt.Run());
      QUARRY_ASSIGN_OR_RETURN(out, VisibleDataset(conn, tenant_id, name));
      return Status::Ok();
    }));
    return std::move(*out);
  }

  Result<std::vector<DatasetVersion>> ListVersions(const std::string& tenant_id, const std::string& name) override {
    return Read<std::vector<DatasetVersion>>([&](Connection& conn) -> Result<std::vector<DatasetVersion>> {
      QUARRY_ASSIGN_OR_RETURN(Dataset dataset, VisibleDataset(conn, tenant_id, name));
      QUARRY_ASSIGN_OR_RETURN(Statement stmt,
                              conn.Prepare("SELECT " QUARRY_VERSION_COLUMNS " FROM dataset_versions v"
                                           " WHERE v.dataset_id = ? AND v.state = 'ready' ORDER BY v.version DESC LIMIT 1000"));
      stmt.Bind(1, dataset.id);
      return Collect(stmt);
    });
  }

  Result<std::optional<DatasetVersion>> VersionPublishedBy(const std::string& job_id) override {
    return Read<std::optional<DatasetVersion>>([&](Connection& conn) -> Result<std::optional<DatasetVersion>> {
      QUARRY_ASSIGN_OR_RETURN(Statement stmt,
                              conn.Prepare("SELECT " QUARRY_VERSION_COLUMNS " FROM dataset_versions v"
                                           " WHERE v.job_id = ? AND v.state = 'ready' LIMIT 1"));
      stmt.Bind(1, job_id);
      QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) return std::optional<DatasetVersion>();
      return std::optional<DatasetVersion>(ReadVersion(stmt));
    });
  }

  Result<DatasetVersion> GetVersion(const std::string& tenant_id, const std::string& name, int version) override {
    return Read<DatasetVersion>([&](Connection& conn) -> Result<DatasetVersion> {
      QUARRY_ASSIGN_OR_RETURN(Dataset dataset, VisibleDataset(conn, tenant_id, name));
      return ReadyVersion(conn, dataset.id, version == 0 ? dataset.current_version : version);
    });
  }

  Result<Dataset> Rollback(const std::string& tenant_id, const std::string& name, int version, UnixMillis now) override {
    std::optional<Dataset> out;
    QUARRY_RETURN_IF_ERROR(Write([&](Connection& conn) -> Status {
      QUARRY_ASSIGN_OR_RETURN(Dataset dataset, VisibleDataset(conn, tenant_id, name));
      QUARRY_RETURN_IF_ERROR(ReadyVersion(conn, dataset.id, version).status());
      QUARRY_ASSIGN_OR_RETURN(Statement stmt,
                              conn.Prepare("UPDATE datasets SET current_version = ?, updated_at = ? WHERE id = ?"));
      stmt.Bind(1, version).Bind(2, now).Bind(3, dataset.id);
      QUARRY_RETURN_IF_ERROR(stmt.Run());
      QUARRY_ASSIGN_OR_RETURN(Dataset updated, VisibleDataset(conn, tenant_id, name));
      out = std::move(updated);
      return Status::Ok();
    }));
    return std::move(*out);
  }

  Result<std::vector<std::string>> DeleteDataset(const std::string& tenant_id, const std::string& name) override {
    std::vector<std::string> prefixes;
    QUARRY_RETURN_IF_ERROR(Write([&](Connection& conn) -> Status {
      prefixes.clear();
      QUARRY_ASSIGN_OR_RETURN(Dataset dataset, VisibleDataset(conn, tenant_id, name));
      QUARRY_ASSIGN_OR_RETURN(Statement list,
                              conn.Prepare("SELECT storage_prefix FROM dataset_versions WHERE dataset_id = ?"));
      list.Bind(1, dataset.id);
      QUARRY_ASSIGN_OR_RETURN(prefixes, list.FirstColumnTexts());
      // The dataset's own prefix (parent of its versions) goes too.
      prefixes.push_back("tenants/" + tenant_id + "/datasets/" + dataset.id + "/");
      QUARRY_ASSIGN_OR_RETURN(Statement del, conn.Prepare("DELETE FROM datasets WHERE id = ?"));
      del.Bind(1, dataset.id);
      return del.Run();  // versions go by ON DELETE CASCADE
    }));
    return prefixes;
  }

  Result<std::vector<std::string>> PruneVersions(const std::string& dataset_id, int keep) override {
    std::vector<std::string> prefixes;
    QUARRY_RETURN_IF_ERROR(Write([&](Connection& conn) -> Status {
      QUARRY_ASSIGN_OR_RETURN(
          Statement prune,
          conn.Prepare("DELETE FROM dataset_versions WHERE dataset_id = ?1 AND state = 'ready'"
                       " AND version <> (SELECT current_version FROM datasets WHERE id = ?1)"
                       " AND version < (SELECT MIN(version) FROM (SELECT version FROM dataset_versions"
                       "   WHERE dataset_id = ?1 AND state = 'ready' ORDER BY version DESC LIMIT ?2))"
                       " RETURNING storage_prefix"));
      prune.Bind(1, dataset_id).Bind(2, std::max(1, keep));
      QUARRY_ASSIGN_OR_RETURN(prefixes, prune.FirstColumnTexts());
      return Status::Ok();
    }));
    return prefixes;
  }

  Result<std::vector<std::string>> ListStoragePrefixes() override {
    return Read<std::vector<std::string>>([&](Connection& conn) -> Result<std::vector<std::string>> {
      QUARRY_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("SELECT storage_prefix FROM dataset_versions"));
      return stmt.FirstColumnTexts();
    });
  }

  Result<std::int64_t> CountDatasets(const std::string& tenant_id) override {
    return Read<std::int64_t>([&](Connection& conn) -> Result<std::int64_t> {
      QUARRY_ASSIGN_OR_RETURN(Statement stmt,
                              conn.Prepare("SELECT count(*) FROM datasets WHERE tenant_id = ? AND current_version > 0"));
      stmt.Bind(1, tenant_id);
      QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
      return row ? stmt.ColumnInt64(0) : 0;
    });
  }

  Status InsertPolicy(const DatasetPolicy& p) override {
    return Write([&](Connection& conn) -> Status {
      QUARRY_ASSIGN_OR_RETURN(Statement owner, conn.Prepare("SELECT 1 FROM datasets WHERE id = ? AND tenant_id = ?"));
      owner.Bind(1, p.dataset_id).Bind(2, p.tenant_id);
      QUARRY_ASSIGN_OR_RETURN(bool found, owner.Step());
      if (!found) return DatasetNotFound();
      QUARRY_ASSIGN_OR_RETURN(Statement count, conn.Prepare("SELECT count(*) FROM dataset_policies WHERE dataset_id = ?"));
      count.Bind(1, p.dataset_id);
      QUARRY_ASSIGN_OR_RETURN(bool row, count.Step());
      if (row && count.ColumnInt64(0) >= kMaxPoliciesPerDataset) {
        return FailedPrecondition("too_many_policies", "a dataset has at most " + std::to_string(kMaxPoliciesPerDataset) +
                                                           " policies; delete some first");
      }
      QUARRY_ASSIGN_OR_RETURN(Statement insert,
                              conn.Prepare("INSERT INTO dataset_policies (id, tenant_id, dataset_id, definition_json,"
                                           " created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)"));
      insert.Bind(1, p.id).Bind(2, p.tenant_id).Bind(3, p.dataset_id).Bind(4, p.definition_json);
      insert.Bind(5, p.created_by).Bind(6, p.created_at);
      return insert.Run();
    });
  }

  Result<std::vector<DatasetPolicy>> ListPolicies(const std::string& tenant_id, const std::string& dataset_id) override {
    return Read<std::vector<DatasetPolicy>>([&](Connection& conn) -> Result<std::vector<DatasetPolicy>> {
      QUARRY_ASSIGN_OR_RETURN(Statement stmt,
                              conn.Prepare("SELECT id, tenant_id, dataset_id, definition_json, created_by, created_at"
                                           " FROM dataset_policies WHERE tenant_id = ? AND dataset_id = ?"
                                           " ORDER BY created_at, id LIMIT ?"));
      stmt.Bind(1, tenant_id).Bind(2, dataset_id).Bind(3, kMaxPoliciesPerDataset);
      std::vector<DatasetPolicy> out;
      while (true) {
        QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
        if (!row) break;
        out.push_back({stmt.ColumnText(0), stmt.ColumnText(1), stmt.ColumnText(2), stmt.ColumnText(3),
                       stmt.ColumnText(4), stmt.ColumnInt64(5)});
      }
      return out;
    });
  }

  Status DeletePolicy(const std::string& tenant_id, const std::string& dataset_id, const std::string& policy_id) override {
    return Write([&](Connection& conn) -> Status {
      QUARRY_ASSIGN_OR_RETURN(Statement del,
                              conn.Prepare("DELETE FROM dataset_policies WHERE id = ? AND tenant_id = ? AND dataset_id = ?"));
      del.Bind(1, policy_id).Bind(2, tenant_id).Bind(3, dataset_id);
      QUARRY_RETURN_IF_ERROR(del.Run());
      if (conn.Changes() == 0) return NotFound("policy_not_found", "the dataset has no such policy");
      return Status::Ok();
    });
  }

  Result<std::int64_t> TenantBytes(const std::string& tenant_id) override {
    return Read<std::int64_t>([&](Connection& conn) -> Result<std::int64_t> {
      QUARRY_ASSIGN_OR_RETURN(Statement stmt,
                              conn.Prepare("SELECT COALESCE(SUM(v.byte_size), 0) FROM dataset_versions v"
                                           " JOIN datasets d ON d.id = v.dataset_id WHERE d.tenant_id = ?"));
      stmt.Bind(1, tenant_id);
      QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) return Internal("metadata_store_error", "SUM returned no row");
      return stmt.ColumnInt64(0);
    });
  }

 private:
  static Status DatasetExists(const std::string& name) {
    return FailedPrecondition("dataset_exists", "a dataset named '" + name +
                                                    "' already exists; upload with mode=replace or mode=append");
  }

  static Result<std::vector<DatasetVersion>> Collect(Statement& stmt) {
    std::vector<DatasetVersion> out;
    while (true) {
      QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      out.push_back(ReadVersion(stmt));
    }
    return out;
  }

  static Result<DatasetVersion> ReadyVersion(Connection& conn, const std::string& dataset_id, int version) {
    QUARRY_ASSIGN_OR_RETURN(Statement stmt,
                            conn.Prepare("SELECT " QUARRY_VERSION_COLUMNS " FROM dataset_versions v"
                                         " WHERE v.dataset_id = ? AND v.version = ? AND v.state = 'ready'"));
    stmt.Bind(1, dataset_id).Bind(2, version);
    QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return VersionNotFound(version);
    DatasetVersion v = ReadVersion(stmt);
    QUARRY_RETURN_IF_ERROR(stmt.Run());
    return v;
  }

};

}  // namespace

Result<std::unique_ptr<DatasetStore>> OpenSqliteDatasetStore(const SqliteOptions& options) {
  return sqlite::OpenStore<DatasetStore, SqliteDatasetStore>(options);
}

}  // namespace quarry
