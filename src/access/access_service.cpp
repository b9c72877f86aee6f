#include "access/access_service.h"

#include <spdlog/spdlog.h>

#include "access/dataset_access.h"
#include "auth/permissions.h"
#include "common/ids.h"

namespace quarry::access {
namespace {

Status RequireMember(const Principal& actor) {
  if (!actor.is_operator) return Status::Ok();
  return PermissionDenied("tenant_member_required",
                          "projects, groups and grants belong to tenants; use a key of a tenant's user, "
                          "not the operator key");
}


}  // namespace

Result<PrincipalKind> KindOfId(const std::string& id) {
  if (LooksLikeId(id, "usr")) return PrincipalKind::kUser;
  if (LooksLikeId(id, "grp")) return PrincipalKind::kGroup;
  return InvalidArgument("invalid_member", "name a user (usr_...) or a group (grp_...) by its id");
}

Result<AccessService::SeenProject> AccessService::VisibleProject(const Principal& actor,
                                                                 const std::string& project_id) {
  QUARRY_RETURN_IF_ERROR(RequireMember(actor));
  if (!LooksLikeId(project_id, "prj")) return ProjectNotFound();
  SeenProject seen;
  QUARRY_ASSIGN_OR_RETURN(seen.project, access_.GetProject(actor.tenant.id, project_id));
  if (SeesAllDatasets(actor)) return seen;
  QUARRY_ASSIGN_OR_RETURN(seen.role, access_.ProjectRoleOf(actor.tenant.id, project_id, actor.user.id));
  if (!seen.role) return ProjectNotFound();
  return seen;
}

Result<Project> AccessService::RequireProjectAdmin(const Principal& actor, const std::string& project_id) {
  QUARRY_ASSIGN_OR_RETURN(SeenProject seen, VisibleProject(actor, project_id));
  if (SeesAllDatasets(actor)) {
    QUARRY_RETURN_IF_ERROR(RequireScope(actor, kScopeAdmin));
    return seen.project;
  }
  QUARRY_RETURN_IF_ERROR(RequireScope(actor, kScopeWrite));
  if (seen.role != ProjectRole::kAdmin) {
    return PermissionDenied("project_role_too_low",
                            "this needs the admin role in the project (or the tenant owner or admin role); your role "
                            "there is " + std::string(ToString(*seen.role)));
  }
  return seen.project;
}

Result<Project> AccessService::CreateProject(const Principal& actor, const std::string& name,
                                             const std::string& description) {
  QUARRY_RETURN_IF_ERROR(RequireTenantAdmin(actor));
  QUARRY_RETURN_IF_ERROR(ValidateAccessName("project", name));
  if (description.size() > 1000) return InvalidArgument("invalid_description", "a description has at most 1000 bytes");
  const UnixMillis now = clock_.NowMillis();
  Project project{NewId("prj", now), actor.tenant.id, name, description, actor.user.id, now, now};
  QUARRY_RETURN_IF_ERROR(access_.InsertProject(project));
  spdlog::info("project {} ({}) created in tenant {} by {}", project.id, name, actor.tenant.id, actor.user.id);
  return project;
}

Result<Page<Project>> AccessService::ListProjects(const Principal& actor, const PageRequest& page) {
  QUARRY_RETURN_IF_ERROR(RequireMember(actor));
  return access_.ListProjects(actor.tenant.id, SeesAllDatasets(actor) ? "" : actor.user.id, page);
}

Result<Project> AccessService::GetProject(const Principal& actor, const std::string& project_id) {
  QUARRY_ASSIGN_OR_RETURN(SeenProject seen, VisibleProject(actor, project_id));
  return seen.project;
}

Result<Project> AccessService::UpdateProject(const Principal& actor, const std::string& project_id,
                                             const ProjectChange& change) {
  QUARRY_ASSIGN_OR_RETURN(Project project, RequireProjectAdmin(actor, project_id));
  if (change.name) {
    QUARRY_RETURN_IF_ERROR(ValidateAccessName("project", *change.name));
    project.name = *change.name;
  }
  if (change.description) {
    if (change.description->size() > 1000) {
      return InvalidArgument("invalid_description", "a description has at most 1000 bytes");
    }
    project.description = *change.description;
  }
  project.updated_at = clock_.NowMillis();
  QUARRY_RETURN_IF_ERROR(access_.UpdateProject(project));
  return project;
}

Status AccessService::DeleteProject(const Principal& actor, const std::string& project_id) {
  QUARRY_RETURN_IF_ERROR(RequireTenantAdmin(actor));
  QUARRY_RETURN_IF_ERROR(VisibleProject(actor, project_id).status());
  QUARRY_RETURN_IF_ERROR(access_.DeleteProject(actor.tenant.id, project_id));
  spdlog::info("project {} deleted from tenant {} by {}", project_id, actor.tenant.id, actor.user.id);
  return Status::Ok();
}

Result<Page<ProjectMember>> AccessService::ListProjectMembers(const Principal& actor, const std::string& project_id,
                                                              const PageRequest& page) {
  QUARRY_RETURN_IF_ERROR(VisibleProject(actor, project_id).status());
  return access_.ListProjectMembers(actor.tenant.id, project_id, page);
}

Result<ProjectMember> AccessService::PutProjectMember(const Principal& actor, const std::string& project_id,
                                                      const std::string& member_id, ProjectRole role) {
  QUARRY_RETURN_IF_ERROR(RequireProjectAdmin(actor, project_id).status());
  QUARRY_ASSIGN_OR_RETURN(PrincipalKind kind, KindOfId(member_id));
  ProjectMember member{project_id, kind, member_id, role, clock_.NowMillis()};
  QUARRY_RETURN_IF_ERROR(access_.PutProjectMember(actor.tenant.id, member));
  spdlog::info("project {} of tenant {}: {} {} is {} (by {})", project_id, actor.tenant.id, ToString(kind), member_id,
               ToString(role), actor.user.id);
  return member;
}

Status AccessService::DeleteProjectMember(const Principal& actor, const std::string& project_id,
                                          const std::string& member_id) {
  QUARRY_RETURN_IF_ERROR(RequireProjectAdmin(actor, project_id).status());
  QUARRY_RETURN_IF_ERROR(access_.DeleteProjectMember(actor.tenant.id, project_id, member_id));
  spdlog::info("project {} of tenant {}: {} removed (by {})", project_id, actor.tenant.id, member_id, actor.user.id);
  return Status::Ok();
}

Result<Group> AccessService::CreateGroup(const Principal& actor, const std::string& name) {
  QUARRY_RETURN_IF_ERROR(RequireTenantAdmin(actor));
  QUARRY_RETURN_IF_ERROR(ValidateAccessName("group", name));
  const UnixMillis now = clock_.NowMillis();
  Group group{NewId("grp", now), actor.tenant.id, name, now};
  QUARRY_RETURN_IF_ERROR(access_.InsertGroup(group));
  return group;
}

Result<Page<Group>> AccessService::ListGroups(const Principal& actor, const PageRequest& page) {
  QUARRY_RETURN_IF_ERROR(RequireMember(actor));
  return access_.ListGroups(actor.tenant.id, page);
}

Result<Group> AccessService::GetGroup(const Principal& actor, const std::string& group_id) {
  QUARRY_RETURN_IF_ERROR(RequireMember(actor));
  return access_.GetGroup(actor.tenant.id, group_id);
}

Status AccessService::DeleteGroup(const Principal& actor, const std::string& group_id) {
  QUARRY_RETURN_IF_ERROR(RequireTenantAdmin(actor));
  return access_.DeleteGroup(actor.tenant.id, group_id);
}

Result<Page<GroupMember>> AccessService::ListGroupMembers(const Principal& actor, const std::string& group_id,
                                                          const PageRequest& page) {
  QUARRY_RETURN_IF_ERROR(RequireTenantAdmin(actor));
  return access_.ListGroupMembers(actor.tenant.id, group_id, page);
}

Result<GroupMember> AccessService::PutGroupMember(const Principal& actor, const std::string& group_id,
                                                  const std::string& user_id) {
  QUARRY_RETURN_IF_ERROR(RequireTenantAdmin(actor));
  if (!LooksLikeId(user_id, "usr")) return InvalidArgument("invalid_member", "name the user by its id (usr_...)");
  GroupMember member{group_id, user_id, clock_.NowMillis()};
  QUARRY_RETURN_IF_ERROR(access_.PutGroupMember(actor.tenant.id, member));
  return member;
}

Status AccessService::DeleteGroupMember(const Principal& actor, const std::string& group_id,
                                        const std::string& user_id) {
  QUARRY_RETURN_IF_ERROR(RequireTenantAdmin(actor));
  return access_.DeleteGroupMember(actor.tenant.id, group_id, user_id);
}

Result<Dataset> AccessService::GrantableDataset(const Principal& actor, const std::string& name) {
  QUARRY_ASSIGN_OR_RETURN(Dataset dataset, ReadableDataset(datasets_, access_, actor, name));
  QUARRY_ASSIGN_OR_RETURN(DatasetRights rights, RightsOn(access_, actor, dataset));
  if (!rights.manage_grants) {
    return PermissionDenied("grant_admin_required",
                            "managing a dataset's grants needs the tenant owner or admin role (admin scope), or the "
                            "admin role in the dataset's project");
  }
  return dataset;
}

Result<std::vector<DatasetGrant>> AccessService::ListGrants(const Principal& actor, const std::string& name) {
  QUARRY_ASSIGN_OR_RETURN(Dataset dataset, GrantableDataset(actor, name));
  return access_.ListGrants(actor.tenant.id, dataset.id);
}

Result<DatasetGrant> AccessService::CreateGrant(const Principal& actor, const std::string& name,
                                                const std::string& grantee_id) {
  QUARRY_ASSIGN_OR_RETURN(Dataset dataset, GrantableDataset(actor, name));
  QUARRY_ASSIGN_OR_RETURN(PrincipalKind kind, KindOfId(grantee_id));
  const UnixMillis now = clock_.NowMillis();
  DatasetGrant grant{NewId("gnt", now), actor.tenant.id, dataset.id, kind, grantee_id, actor.user.id, now};
  QUARRY_RETURN_IF_ERROR(access_.InsertGrant(grant));
  spdlog::info("dataset {} of tenant {} granted to {} by {}", name, actor.tenant.id, grantee_id, actor.user.id);
  return grant;
}

Status AccessService::DeleteGrant(const Principal& actor, const std::string& name, const std::string& grant_id) {
  QUARRY_ASSIGN_OR_RETURN(Dataset dataset, GrantableDataset(actor, name));
  QUARRY_RETURN_IF_ERROR(access_.DeleteGrant(actor.tenant.id, dataset.id, grant_id));
  spdlog::info("grant {} on dataset {} of tenant {} removed by {}", grant_id, name, actor.tenant.id, actor.user.id);
  return Status::Ok();
}

}  // namespace quarry::access
