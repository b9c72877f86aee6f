// AccessService: managing projects, their members, groups and dataset grants (the rule they feed
// is in access/dataset_access.h; docs/security.md "Projects, groups and grants").
//
// Who may do what:
//   - projects: owners/admins (the `admin` scope) create and delete them and manage every one;
//     a project's admins (with the `write` scope) rename it and manage its members; its members
//     read it and its member list. To anyone else a project does not exist (404).
//   - groups: owners/admins (the `admin` scope) create, delete and fill them and read their
//     members; every tenant member may list and read groups (to add one to a project).
//   - grants: whoever may manage the dataset's grants (RightsOn(...).manage_grants).
// Thread-safety: safe to call concurrently.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "auth/principal.h"
#include "common/clock.h"
#include "meta/access_store.h"
#include "meta/dataset_store.h"

namespace quarry::access {

struct ProjectChange {
  std::optional<std::string> name;
  std::optional<std::string> description;
};

class AccessService {
 public:
  AccessService(AccessStore& access, DatasetStore& datasets, const Clock& clock)
      : access_(access), datasets_(datasets), clock_(clock) {}

  Result<Project> CreateProject(const Principal& actor, const std::string& name, const std::string& description);
  // Every project (owners/admins), or those the caller is a member of.
  Result<Page<Project>> ListProjects(const Principal& actor, const PageRequest& page);
  Result<Project> GetProject(const Principal& actor, const std::string& project_id);
  Result<Project> UpdateProject(const Principal& actor, const std::string& project_id, const ProjectChange& change);
  Status DeleteProject(const Principal& actor, const std::string& project_id);

  Result<Page<ProjectMember>> ListProjectMembers(const Principal& actor, const std::string& project_id,
                                                 const PageRequest& page);
  // Adds the user or group (by id prefix: usr_ / grp_) or changes its role.
  Result<ProjectMember> PutProjectMember(const Principal& actor, const std::string& project_id,
                                         const std::string& member_id, ProjectRole role);
  Status DeleteProjectMember(const Principal& actor, const std::string& project_id, const std::string& member_id);

  Result<Group> CreateGroup(const Principal& actor, const std::string& name);
  Result<Page<Group>> ListGroups(const Principal& actor, const PageRequest& page);
  Result<Group> GetGroup(const Principal& actor, const std::string& group_id);
  Status DeleteGroup(const Principal& actor, const std::string& group_id);
  Result<Page<GroupMember>> ListGroupMembers(const Principal& actor, const std::string& group_id,
                                             const PageRequest& page);
  Result<GroupMember> PutGroupMember(const Principal& actor, const std::string& group_id, const std::string& user_id);
  Status DeleteGroupMember(const Principal& actor, const std::string& group_id, const std::string& user_id);

  Result<std::vector<DatasetGrant>> ListGrants(const Principal& actor, const std::string& dataset);
  // The grantee by id prefix (usr_ / grp_).
  Result<DatasetGrant> CreateGrant(const Principal& actor, const std::string& dataset, const std::string& grantee_id);
  Status DeleteGrant(const Principal& actor, const std::string& dataset, const std::string& grant_id);

 private:
  // A project the caller may read (a member, or an owner/admin), with the caller's role there
  // (none for an owner/admin who is no member); ProjectNotFound otherwise.
  struct SeenProject {
    Project project;
    std::optional<ProjectRole> role;
  };
  Result<SeenProject> VisibleProject(const Principal& actor, const std::string& project_id);
  // The project, when the caller is a tenant owner/admin with the admin scope, or the project's
  // admin with the write scope.
  Result<Project> RequireProjectAdmin(const Principal& actor, const std::string& project_id);
  // The dataset, when the caller may manage its grants.
  Result<Dataset> GrantableDataset(const Principal& actor, const std::string& name);

  AccessStore& access_;
  DatasetStore& datasets_;
  const Clock& clock_;
};

// "usr_..." is a user, "grp_..." a group; anything else is InvalidArgument "invalid_member".
Result<PrincipalKind> KindOfId(const std::string& id);

}  // namespace quarry::access
