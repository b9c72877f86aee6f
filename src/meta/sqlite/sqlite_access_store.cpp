// SQLite implementation of AccessStore (schema: migration 10). Writes are one BEGIN IMMEDIATE
// transaction each; the existence checks of what a row refers to (project, group, user, dataset
// of the same tenant) run inside it.
#include <algorithm>
#include <utility>

#include "meta/access_store.h"
#include "meta/sqlite/migrations.h"
#include "meta/sqlite/sqlite_connection.h"
#include "meta/sqlite/sqlite_meta_store.h"
#include "meta/sqlite/sqlite_store_support.h"

namespace quarry {
namespace {

using sqlite::Atomically;
using sqlite::Connection;
using sqlite::ConnectionPool;
using sqlite::Constraint;
using sqlite::FetchPage;
using sqlite::Statement;

// The user and the groups they are in: the ids a membership or grant may name for them.
#define QUARRY_ME_CTE \
  "WITH me(id) AS (SELECT ?1 UNION ALL SELECT group_id FROM group_members WHERE user_id = ?1 AND tenant_id = ?2) "
#define QUARRY_ROLE_RANK "CASE role WHEN 'admin' THEN 0 WHEN 'editor' THEN 1 ELSE 2 END"

Status GroupNotFound() { return NotFound("group_not_found", "no such group; list them with GET /v1/groups"); }
Status MemberNotFound() { return NotFound("member_not_found", "no such member; list the members first"); }
Status UserNotFound() { return NotFound("user_not_found", "no such user; list them with GET /v1/users"); }
Status TooMany(const std::string& what, int limit) {
  return FailedPrecondition("too_many_" + what, "at most " + std::to_string(limit) + " " + what +
                                                    " are allowed here; remove some first");
}

ProjectRole RoleFromRank(std::int64_t rank) {
  return rank == 0 ? ProjectRole::kAdmin : rank == 1 ? ProjectRole::kEditor : ProjectRole::kViewer;
}
PrincipalKind KindOf(const std::string& text) { return text == "group" ? PrincipalKind::kGroup : PrincipalKind::kUser; }

Result<Project> ReadProject(const Statement& s) {
  return Project{s.ColumnText(0), s.ColumnText(1), s.ColumnText(2), s.ColumnText(3),
                 s.ColumnText(4), s.ColumnInt64(5), s.ColumnInt64(6)};
}
#define QUARRY_PROJECT_COLUMNS "id, tenant_id, name, description, created_by, created_at, updated_at"

Result<ProjectMember> ReadProjectMember(const Statement& s) {
  return ProjectMember{s.ColumnText(0), KindOf(s.ColumnText(1)), s.ColumnText(2),
                       ParseProjectRole(s.ColumnText(3)).value_or(ProjectRole::kViewer), s.ColumnInt64(4)};
}
Result<Group> ReadGroup(const Statement& s) {
  return Group{s.ColumnText(0), s.ColumnText(1), s.ColumnText(2), s.ColumnInt64(3)};
}
Result<GroupMember> ReadGroupMember(const Statement& s) {
  return GroupMember{s.ColumnText(0), s.ColumnText(1), s.ColumnInt64(2)};
}

// One row of `sql` (bound to the given texts) exists.
template <typename... Texts>
Result<bool> Exists(Connection& conn, const char* sql, const Texts&... texts) {
  QUARRY_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare(sql));
  int index = 0;
  (stmt.Bind(++index, std::string_view(texts)), ...);
  QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
  QUARRY_RETURN_IF_ERROR(stmt.Run());
  return row;
}

template <typename... Texts>
Result<std::int64_t> Count(Connection& conn, const char* sql, const Texts&... texts) {
  QUARRY_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare(sql));
  int index = 0;
  (stmt.Bind(++index, std::string_view(texts)), ...);
  QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
  const std::int64_t n = row ? stmt.ColumnInt64(0) : 0;
  QUARRY_RETURN_IF_ERROR(stmt.Run());
  return n;
}

Status RequireProject(Connection& conn, const std::string& tenant_id, const std::string& project_id) {
  QUARRY_ASSIGN_OR_RETURN(bool found, Exists(conn, "SELECT 1 FROM projects WHERE id = ? AND tenant_id = ?",
                                             project_id, tenant_id));
  return found ? Status::Ok() : ProjectNotFound();
}
Status RequireGroup(Connection& conn, const std::string& tenant_id, const std::string& group_id) {
  QUARRY_ASSIGN_OR_RETURN(bool found, Exists(conn, "SELECT 1 FROM user_groups WHERE id = ? AND tenant_id = ?",
                                             group_id, tenant_id));
  return found ? Status::Ok() : GroupNotFound();
}
Status RequireUser(Connection& conn, const std::string& tenant_id, const std::string& user_id) {
  QUARRY_ASSIGN_OR_RETURN(bool found,
                          Exists(conn, "SELECT 1 FROM users WHERE id = ? AND tenant_id = ?", user_id, tenant_id));
  return found ? Status::Ok() : UserNotFound();
}
Status RequirePrincipal(Connection& conn, const std::string& tenant_id, PrincipalKind kind, const std::string& id) {
  return kind == PrincipalKind::kGroup ? RequireGroup(conn, tenant_id, id) : RequireUser(conn, tenant_id, id);
}

class SqliteAccessStore final : public AccessStore, private sqlite::PooledStore {
 public:
  SqliteAccessStore(const SqliteOptions& options, std::unique_ptr<Connection> first)
      : PooledStore(options, std::move(first)) {}

  // --- projects ---

  Status InsertProject(const Project& p) override {
    return Write([&](Connection& conn) -> Status {
      QUARRY_ASSIGN_OR_RETURN(std::int64_t n, Count(conn, "SELECT count(*) FROM projects WHERE tenant_id = ?", p.tenant_id));
      if (n >= kMaxProjectsPerTenant) return TooMany("projects", kMaxProjectsPerTenant);
      QUARRY_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("INSERT INTO projects (" QUARRY_PROJECT_COLUMNS
                                                           ") VALUES (?, ?, ?, ?, ?, ?, ?)"));
      stmt.Bind(1, p.id).Bind(2, p.tenant_id).Bind(3, p.name).Bind(4, p.description).Bind(5, p.created_by);
      stmt.Bind(6, p.created_at).Bind(7, p.updated_at);
      return NameTaken(stmt, stmt.Run(), "project");
    });
  }

  Result<Project> GetProject(const std::string& tenant_id, const std::string& project_id) override {
    return Read<Project>([&](Connection& conn) -> Result<Project> {
      QUARRY_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("SELECT " QUARRY_PROJECT_COLUMNS
                                                           " FROM projects WHERE id = ? AND tenant_id = ?"));
      stmt.Bind(1, project_id).Bind(2, tenant_id);
      QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) return ProjectNotFound();
      return ReadProject(stmt);
    });
  }

  Result<Page<Project>> ListProjects(const std::string& tenant_id, const std::string& user_id,
                                     const PageRequest& page) override {
    return Read<Page<Project>>([&](Connection& conn) -> Result<Page<Project>> {
      const int limit = std::clamp(page.limit, 1, 1000);
      QUARRY_ASSIGN_OR_RETURN(
          Statement stmt,
          conn.Prepare(QUARRY_ME_CTE "SELECT " QUARRY_PROJECT_COLUMNS " FROM projects p WHERE p.tenant_id = ?2"
                                     " AND p.id > ?3 AND (?1 = '' OR EXISTS (SELECT 1 FROM project_members pm"
                                     " WHERE pm.project_id = p.id AND pm.member_id IN (SELECT id FROM me)))"
                                     " ORDER BY p.id LIMIT ?4"));
      stmt.Bind(1, user_id).Bind(2, tenant_id).Bind(3, page.after_id).Bind(4, limit + 1);
      return FetchPage(stmt, limit, &ReadProject);
    });
  }

  Status UpdateProject(const Project& p) override {
    return Write([&](Connection& conn) -> Status {
      QUARRY_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("UPDATE projects SET name = ?, description = ?,"
                                                           " updated_at = ? WHERE id = ? AND tenant_id = ?"));
      stmt.Bind(1, p.name).Bind(2, p.description).Bind(3, p.updated_at).Bind(4, p.id).Bind(5, p.tenant_id);
      QUARRY_RETURN_IF_ERROR(NameTaken(stmt, stmt.Run(), "project"));
      return conn.Changes() == 1 ? Status::Ok() : ProjectNotFound();
    });
  }

  Status DeleteProject(const std::string& tenant_id, const std::string& project_id) override {
    return Write([&](Connection& conn) -> Status {
      QUARRY_RETURN_IF_ERROR(RequireProject(conn, tenant_id, project_id));
      QUARRY_ASSIGN_OR_RETURN(std::int64_t datasets,
                              Count(conn, "SELECT count(*) FROM datasets WHERE project_id = ?", project_id));
      if (datasets > 0) {
        return FailedPrecondition("project_not_empty",
                                  "the project still holds " + std::to_string(datasets) +
                                      " dataset(s); delete them or move them out (PATCH /v1/datasets/{name}) first");
      }
      QUARRY_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("DELETE FROM projects WHERE id = ? AND tenant_id = ?"));
      stmt.Bind(1, project_id).Bind(2, tenant_id);
      return stmt.Run();
    });
  }

  Status PutProjectMember(const std::string& tenant_id, const ProjectMember& m) override {
    return Write([&](Connection& conn) -> Status {
      QUARRY_RETURN_IF_ERROR(RequireProject(conn, tenant_id, m.project_id));
      QUARRY_RETURN_IF_ERROR(RequirePrincipal(conn, tenant_id, m.kind, m.member_id));
      QUARRY_ASSIGN_OR_RETURN(std::int64_t n, Count(conn, "SELECT count(*) FROM project_members WHERE project_id = ?",
                                                    m.project_id));
      if (n >= kMaxMembersPerProject) return TooMany("members", kMaxMembersPerProject);
      QUARRY_ASSIGN_OR_RETURN(
          Statement stmt,
          conn.Prepare("INSERT INTO project_members (project_id, tenant_id, kind, member_id, role, added_at)"
                       " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, member_id) DO UPDATE SET role = excluded.role"));
      stmt.Bind(1, m.project_id).Bind(2, tenant_id).Bind(3, ToString(m.kind)).Bind(4, m.member_id);
      stmt.Bind(5, ToString(m.role)).Bind(6, m.added_at);
      return stmt.Run();
    });
  }

  Result<Page<ProjectMember>> ListProjectMembers(const std::string& tenant_id, const std::string& project_id,
                                                 const PageRequest& page) override {
    return Read<Page<ProjectMember>>([&](Connection& conn) -> Result<Page<ProjectMember>> {
      QUARRY_RETURN_IF_ERROR(RequireProject(conn, tenant_id, project_id));
      const int limit = std::clamp(page.limit, 1, 1000);
      QUARRY_ASSIGN_OR_RETURN(Statement stmt,
                              conn.Prepare("SELECT project_id, kind, member_id, role, added_at FROM project_members"
                                           " WHERE project_id = ? AND tenant_id = ? AND member_id > ?"
                                           " ORDER BY member_id LIMIT ?"));
      stmt.Bind(1, project_id).Bind(2, tenant_id).Bind(3, page.after_id).Bind(4, limit + 1);
      return FetchPage(stmt, limit, &ReadProjectMember, &ProjectMember::member_id);
    });
  }

  Status DeleteProjectMember(const std::string& tenant_id, const std::string& project_id,
                             const std::string& member_id) override {
    return Write([&](Connection& conn) -> Status {
      QUARRY_RETURN_IF_ERROR(RequireProject(conn, tenant_id, project_id));
      QUARRY_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("DELETE FROM project_members WHERE project_id = ?"
                                                           " AND tenant_id = ? AND member_id = ?"));
      stmt.Bind(1, project_id).Bind(2, tenant_id).Bind(3, member_id);
      QUARRY_RETURN_IF_ERROR(stmt.Run());
      return conn.Changes() == 1 ? Status::Ok() : MemberNotFound();
    });
  }

  Result<std::optional<ProjectRole>> ProjectRoleOf(const std::string& tenant_id, const std::string& project_id,
                                                   const std::string& user_id) override {
    QUARRY_ASSIGN_OR_RETURN(DatasetAccess access, AccessOf(tenant_id, "", project_id, user_id));
    return access.project_role;
  }

  // --- groups ---

  Status InsertGroup(const Group& g) override {
    return Write([&](Connection& conn) -> Status {
      QUARRY_ASSIGN_OR_RETURN(std::int64_t n,
                              Count(conn, "SELECT count(*) FROM user_groups WHERE tenant_id = ?", g.tenant_id));
      if (n >= kMaxGroupsPerTenant) return TooMany("groups", kMaxGroupsPerTenant);
      QUARRY_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("INSERT INTO user_groups (id, tenant_id, name, created_at)"
                                                           " VALUES (?, ?, ?, ?)"));
      stmt.Bind(1, g.id).Bind(2, g.tenant_id).Bind(3, g.name).Bind(4, g.created_at);
      return NameTaken(stmt, stmt.Run(), "group");
    });
  }

  Result<Group> GetGroup(const std::string& tenant_id, const std::string& group_id) override {
    return Read<Group>([&](Connection& conn) -> Result<Group> {
      QUARRY_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("SELECT id, tenant_id, name, created_at FROM user_groups"
                                                           " WHERE id = ? AND tenant_id = ?"));
      stmt.Bind(1, group_id).Bind(2, tenant_id);
      QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) return GroupNotFound();
      return ReadGroup(stmt);
    });
  }

  Result<Page<Group>> ListGroups(const std::string& tenant_id, const PageRequest& page) override {
    return Read<Page<Group>>([&](Connection& conn) -> Result<Page<Group>> {
      const int limit = std::clamp(page.limit, 1, 1000);
      QUARRY_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("SELECT id, tenant_id, name, created_at FROM user_groups"
                                                           " WHERE tenant_id = ? AND id > ? ORDER BY id LIMIT ?"));
      stmt.Bind(1, tenant_id).Bind(2, page.after_id).Bind(3, limit + 1);
      return FetchPage(stmt, limit, &ReadGroup);
    });
  }

  Status DeleteGroup(const std::string& tenant_id, const std::string& group_id) override {
    return Write([&](Connection& conn) -> Status {
      QUARRY_RETURN_IF_ERROR(RequireGroup(conn, tenant_id, group_id));
      for (const char* sql : {"DELETE FROM project_members WHERE member_id = ? AND tenant_id = ?",
                              "DELETE FROM dataset_grants WHERE grantee_id = ? AND tenant_id = ?",
                              "DELETE FROM user_groups WHERE id = ? AND tenant_id = ?"}) {
        QUARRY_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare(sql));
        stmt.Bind(1, group_id).Bind(2, tenant_id);
        QUARRY_RETURN_IF_ERROR(stmt.Run());
      }
      return Status::Ok();
    });
  }

  Status PutGroupMember(const std::string& tenant_id, const GroupMember& m) override {
    return Write([&](Connection& conn) -> Status {
      QUARRY_RETURN_IF_ERROR(RequireGroup(conn, tenant_id, m.group_id));
      QUARRY_RETURN_IF_ERROR(RequireUser(conn, tenant_id, m.user_id));
      QUARRY_ASSIGN_OR_RETURN(std::int64_t members,
                              Count(conn, "SELECT count(*) FROM group_members WHERE group_id = ?", m.group_id));
      if (members >= kMaxMembersPerGroup) return TooMany("members", kMaxMembersPerGroup);
      QUARRY_ASSIGN_OR_RETURN(std::int64_t groups,
                              Count(conn, "SELECT count(*) FROM group_members WHERE user_id = ?", m.user_id));
      if (groups >= kMaxGroupsPerUser) return TooMany("groups", kMaxGroupsPerUser);
      QUARRY_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("INSERT INTO group_members (group_id, tenant_id, user_id,"
                                                           " added_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"));
      stmt.Bind(1, m.group_id).Bind(2, tenant_id).Bind(3, m.user_id).Bind(4, m.added_at);
      return stmt.Run();
    });
  }

  Result<Page<GroupMember>> ListGroupMembers(const std::string& tenant_id, const std::string& group_id,
                                             const PageRequest& page) override {
    return Read<Page<GroupMember>>([&](Connection& conn) -> Result<Page<GroupMember>> {
      QUARRY_RETURN_IF_ERROR(RequireGroup(conn, tenant_id, group_id));
      const int limit = std::clamp(page.limit, 1, 1000);
      QUARRY_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("SELECT group_id, user_id, added_at FROM group_members"
                                                           " WHERE group_id = ? AND tenant_id = ? AND user_id > ?"
                                                           " ORDER BY user_id LIMIT ?"));
      stmt.Bind(1, group_id).Bind(2, tenant_id).Bind(3, page.after_id).Bind(4, limit + 1);
      return FetchPage(stmt, limit, &ReadGroupMember, &GroupMember::user_id);
    });
  }

  Status DeleteGroupMember(const std::string& tenant_id, const std::string& group_id,
                           const std::string& user_id) override {
    return Write([&](Connection& conn) -> Status {
      QUARRY_RETURN_IF_ERROR(RequireGroup(conn, tenant_id, group_id));
      QUARRY_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("DELETE FROM group_members WHERE group_id = ?"
                                                           " AND tenant_id = ? AND user_id = ?"));
      stmt.Bind(1, group_id).Bind(2, tenant_id).Bind(3, user_id);
      QUARRY_RETURN_IF_ERROR(stmt.Run());
      return conn.Changes() == 1 ? Status::Ok() : MemberNotFound();
    });
  }

  Result<std::vector<std::string>> GroupsOf(const std::string& tenant_id, const std::string& user_id) override {
    return Read<std::vector<std::string>>([&](Connection& conn) -> Result<std::vector<std::string>> {
      QUARRY_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("SELECT group_id FROM group_members WHERE user_id = ?"
                                                           " AND tenant_id = ? ORDER BY group_id LIMIT ?"));
      stmt.Bind(1, user_id).Bind(2, tenant_id).Bind(3, kMaxGroupsPerUser);
      return stmt.FirstColumnTexts();
    });
  }

  // --- grants ---

  Status InsertGrant(const DatasetGrant& g) override {
    return Write([&](Connection& conn) -> Status {
      QUARRY_ASSIGN_OR_RETURN(bool dataset, Exists(conn, "SELECT 1 FROM datasets WHERE id = ? AND tenant_id = ?",
                                                   g.dataset_id, g.tenant_id));
      if (!dataset) return DatasetNotFound();
      QUARRY_RETURN_IF_ERROR(RequirePrincipal(conn, g.tenant_id, g.kind, g.grantee_id));
      QUARRY_ASSIGN_OR_RETURN(std::int64_t n,
                              Count(conn, "SELECT count(*) FROM dataset_grants WHERE dataset_id = ?", g.dataset_id));
      if (n >= kMaxGrantsPerDataset) return TooMany("grants", kMaxGrantsPerDataset);
      QUARRY_ASSIGN_OR_RETURN(Statement stmt,
                              conn.Prepare("INSERT INTO dataset_grants (id, tenant_id, dataset_id, kind, grantee_id,"
                                           " created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"));
      stmt.Bind(1, g.id).Bind(2, g.tenant_id).Bind(3, g.dataset_id).Bind(4, ToString(g.kind)).Bind(5, g.grantee_id);
      stmt.Bind(6, g.created_by).Bind(7, g.created_at);
      Status s = stmt.Run();
      if (stmt.violated_constraint() == Constraint::kUnique) {
        return AlreadyExists("grant_exists", "this user or group already holds a grant on the dataset");
      }
      return s;
    });
  }

  Result<std::vector<DatasetGrant>> ListGrants(const std::string& tenant_id, const std::string& dataset_id) override {
    return Read<std::vector<DatasetGrant>>([&](Connection& conn) -> Result<std::vector<DatasetGrant>> {
      QUARRY_ASSIGN_OR_RETURN(Statement stmt,
                              conn.Prepare("SELECT id, tenant_id, dataset_id, kind, grantee_id, created_by, created_at"
                                           " FROM dataset_grants WHERE tenant_id = ? AND dataset_id = ?"
                                           " ORDER BY id LIMIT ?"));
      stmt.Bind(1, tenant_id).Bind(2, dataset_id).Bind(3, kMaxGrantsPerDataset);
      std::vector<DatasetGrant> out;
      while (true) {
        QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
        if (!row) return out;
        out.push_back(DatasetGrant{stmt.ColumnText(0), stmt.ColumnText(1), stmt.ColumnText(2),
                                   KindOf(stmt.ColumnText(3)), stmt.ColumnText(4), stmt.ColumnText(5),
                                   stmt.ColumnInt64(6)});
      }
    });
  }

  Status DeleteGrant(const std::string& tenant_id, const std::string& dataset_id, const std::string& grant_id) override {
    return Write([&](Connection& conn) -> Status {
      QUARRY_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("DELETE FROM dataset_grants WHERE id = ? AND tenant_id = ?"
                                                           " AND dataset_id = ?"));
      stmt.Bind(1, grant_id).Bind(2, tenant_id).Bind(3, dataset_id);
      QUARRY_RETURN_IF_ERROR(stmt.Run());
      if (conn.Changes() == 1) return Status::Ok();
      return NotFound("grant_not_found", "no such grant; list them with GET /v1/datasets/{name}/grants");
    });
  }

  Result<DatasetAccess> AccessOf(const std::string& tenant_id, const std::string& dataset_id,
                                 const std::string& project_id, const std::string& user_id) override {
    return Read<DatasetAccess>([&](Connection& conn) -> Result<DatasetAccess> {
      QUARRY_ASSIGN_OR_RETURN(
          Statement stmt,
          conn.Prepare(QUARRY_ME_CTE "SELECT (SELECT MIN(" QUARRY_ROLE_RANK ") FROM project_members"
                                     " WHERE project_id = ?3 AND tenant_id = ?2 AND member_id IN (SELECT id FROM me)),"
                                     " EXISTS (SELECT 1 FROM dataset_grants WHERE dataset_id = ?4 AND tenant_id = ?2"
                                     " AND grantee_id IN (SELECT id FROM me))"));
      stmt.Bind(1, user_id).Bind(2, tenant_id).Bind(3, project_id).Bind(4, dataset_id);
      QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
      DatasetAccess access;
      if (row) {
        if (!stmt.ColumnIsNull(0)) access.project_role = RoleFromRank(stmt.ColumnInt64(0));
        access.granted = stmt.ColumnInt64(1) != 0;
      }
      QUARRY_RETURN_IF_ERROR(stmt.Run());
      return access;
    });
  }

 private:
  static Status NameTaken(const Statement& stmt, Status status, const std::string& what) {
    if (stmt.violated_constraint() == Constraint::kUnique) {
      return AlreadyExists(what + "_name_taken", "a " + what + " with this name already exists; choose another name");
    }
    return status;
  }

};

}  // namespace

Result<std::unique_ptr<AccessStore>> OpenSqliteAccessStore(const SqliteOptions& options) {
  return sqlite::OpenStore<AccessStore, SqliteAccessStore>(options);
}

}  // namespace quarry
