// AccessStore: who may see which dataset inside a tenant: projects and their members, groups of
// users, and explicit dataset grants (docs/security.md "Projects, groups and grants").
// Implementations: SQLite (meta/sqlite/) now, PostgreSQL in the scale-out mode.
//
// Contract:
//   - Every method takes the tenant id and never reads or changes another tenant's rows: another
//     tenant's project, group, user or dataset is NotFound, exactly like a missing one.
//   - Every method is atomic and safe to call concurrently. Changes take effect for the next read
//     (nothing here is cached), so a removed membership or grant stops the next request.
//   - Removing a group removes its memberships and grants; removing a project is refused while
//     datasets are in it. Counts are bounded (kMax* below): past them, FailedPrecondition.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "meta/records.h"

namespace quarry {

// A member's role in a project, most privileged first. admin: manages the project's members and
// edits its datasets; editor: uploads, replaces, appends to, rolls back and deletes the project's
// datasets; viewer: reads them. A project role never raises what the tenant role and key scopes
// allow (docs/security.md).
enum class ProjectRole { kAdmin, kEditor, kViewer };
std::string_view ToString(ProjectRole r);
std::optional<ProjectRole> ParseProjectRole(std::string_view s);

// Members and grantees are users or groups.
enum class PrincipalKind { kUser, kGroup };
std::string_view ToString(PrincipalKind k);

struct Project {
  std::string id;  // "prj_..."
  std::string tenant_id;
  std::string name;  // unique within the tenant
  std::string description;
  std::string created_by;  // user id
  UnixMillis created_at = 0;
  UnixMillis updated_at = 0;
};

struct ProjectMember {
  std::string project_id;
  PrincipalKind kind = PrincipalKind::kUser;
  std::string member_id;  // a user id or a group id
  ProjectRole role = ProjectRole::kViewer;
  UnixMillis added_at = 0;
};

struct Group {
  std::string id;  // "grp_..."
  std::string tenant_id;
  std::string name;  // unique within the tenant
  UnixMillis created_at = 0;
};

struct GroupMember {
  std::string group_id;
  std::string user_id;
  UnixMillis added_at = 0;
};

// Read access to one dataset for one user or group, whatever project it is in.
struct DatasetGrant {
  std::string id;  // "gnt_..."
  std::string tenant_id;
  std::string dataset_id;
  PrincipalKind kind = PrincipalKind::kUser;
  std::string grantee_id;  // a user id or a group id
  std::string created_by;
  UnixMillis created_at = 0;
};

// What one user holds on one dataset through projects and grants (directly or through groups).
struct DatasetAccess {
  std::optional<ProjectRole> project_role;  // the strongest role in the dataset's project
  bool granted = false;
};

inline constexpr int kMaxProjectsPerTenant = 10'000;
inline constexpr int kMaxGroupsPerTenant = 10'000;
inline constexpr int kMaxMembersPerProject = 10'000;
inline constexpr int kMaxMembersPerGroup = 10'000;
inline constexpr int kMaxGroupsPerUser = 1'000;
inline constexpr int kMaxGrantsPerDataset = 1'000;

class AccessStore {
 public:
  virtual ~AccessStore() = default;

  // --- projects ---
  virtual Status InsertProject(const Project& project) = 0;  // AlreadyExists "project_name_taken"
  virtual Result<Project> GetProject(const std::string& tenant_id, const std::string& project_id) = 0;
  // All of the tenant's projects (user_id empty), or those the user is a member of, directly or
  // through a group; in id order.
  virtual Result<Page<Project>> ListProjects(const std::string& tenant_id, const std::string& user_id_or_empty,
                                             const PageRequest& page) = 0;
  // Name and description. NotFound "project_not_found"; AlreadyExists "project_name_taken".
  virtual Status UpdateProject(const Project& project) = 0;
  // FailedPrecondition "project_not_empty" while datasets are in it.
  virtual Status DeleteProject(const std::string& tenant_id, const std::string& project_id) = 0;

  // Adds the member or changes its role. The member (user or group) must be the tenant's.
  virtual Status PutProjectMember(const std::string& tenant_id, const ProjectMember& member) = 0;
  virtual Result<Page<ProjectMember>> ListProjectMembers(const std::string& tenant_id, const std::string& project_id,
                                                         const PageRequest& page) = 0;
  // NotFound "member_not_found".
  virtual Status DeleteProjectMember(const std::string& tenant_id, const std::string& project_id,
                                     const std::string& member_id) = 0;
  // The user's strongest role in the project (directly or through a group), if any.
  virtual Result<std::optional<ProjectRole>> ProjectRoleOf(const std::string& tenant_id, const std::string& project_id,
                                                           const std::string& user_id) = 0;

  // --- groups ---
  virtual Status InsertGroup(const Group& group) = 0;  // AlreadyExists "group_name_taken"
  virtual Result<Group> GetGroup(const std::string& tenant_id, const std::string& group_id) = 0;
  virtual Result<Page<Group>> ListGroups(const std::string& tenant_id, const PageRequest& page) = 0;
  // Also removes the group's project memberships and grants.
  virtual Status DeleteGroup(const std::string& tenant_id, const std::string& group_id) = 0;
  virtual Status PutGroupMember(const std::string& tenant_id, const GroupMember& member) = 0;
  virtual Result<Page<GroupMember>> ListGroupMembers(const std::string& tenant_id, const std::string& group_id,
                                                     const PageRequest& page) = 0;
  virtual Status DeleteGroupMember(const std::string& tenant_id, const std::string& group_id,
                                   const std::string& user_id) = 0;  // NotFound "member_not_found"
  // The ids of the groups the user is in (at most kMaxGroupsPerUser).
  virtual Result<std::vector<std::string>> GroupsOf(const std::string& tenant_id, const std::string& user_id) = 0;

  // --- grants ---
  // AlreadyExists "grant_exists" when the grantee already holds one on the dataset.
  virtual Status InsertGrant(const DatasetGrant& grant) = 0;
  virtual Result<std::vector<DatasetGrant>> ListGrants(const std::string& tenant_id, const std::string& dataset_id) = 0;
  virtual Status DeleteGrant(const std::string& tenant_id, const std::string& dataset_id,
                             const std::string& grant_id) = 0;  // NotFound "grant_not_found"

  // What the user holds on a dataset of the project (project_id may be empty: no project).
  virtual Result<DatasetAccess> AccessOf(const std::string& tenant_id, const std::string& dataset_id,
                                         const std::string& project_id, const std::string& user_id) = 0;
};

// NotFound "project_not_found": a missing project, another tenant's, or one the caller is no
// member of, alike.
Status ProjectNotFound();

// Project and group names: 1-100 characters, printable, no leading or trailing space.
// InvalidArgument "invalid_name".
Status ValidateAccessName(std::string_view what, const std::string& name);

}  // namespace quarry
