#include "access/dataset_access.h"

#include "auth/permissions.h"

namespace quarry::access {
namespace {

bool CanEdit(const std::optional<ProjectRole>& role) {
  return role && (*role == ProjectRole::kAdmin || *role == ProjectRole::kEditor);
}

Status ProjectRoleTooLow(const std::string& what) {
  return PermissionDenied("project_role_too_low", what +
                                                      " needs the editor or admin role in the dataset's project; "
                                                      "ask a project admin to change your role");
}

}  // namespace

bool SeesAllDatasets(const Principal& actor) {
  return !actor.is_operator && (actor.user.role == Role::kOwner || actor.user.role == Role::kAdmin);
}

DatasetViewer ViewerOf(const Principal& actor) { return DatasetViewer{actor.user.id, SeesAllDatasets(actor)}; }

Result<DatasetRights> RightsOn(AccessStore& access, const Principal& actor, const Dataset& dataset) {
  DatasetRights rights;
  if (actor.is_operator || dataset.tenant_id != actor.tenant.id) return rights;
  const bool write_scope = actor.HasScope(kScopeWrite);
  if (SeesAllDatasets(actor)) {
    return DatasetRights{true, write_scope, actor.HasScope(kScopeAdmin)};
  }
  if (dataset.project_id.empty()) return DatasetRights{true, write_scope, false};
  QUARRY_ASSIGN_OR_RETURN(DatasetAccess held,
                          access.AccessOf(actor.tenant.id, dataset.id, dataset.project_id, actor.user.id));
  rights.read = held.project_role.has_value() || held.granted;
  rights.write = write_scope && CanEdit(held.project_role);
  rights.manage_grants = write_scope && held.project_role == ProjectRole::kAdmin;
  return rights;
}

Result<Dataset> ReadableDataset(DatasetStore& datasets, AccessStore& access, const Principal& actor,
                                const std::string& name) {
  if (actor.is_operator) {
    return PermissionDenied("tenant_member_required",
                            "datasets belong to tenants; use a key of a tenant's user, not the operator key");
  }
  QUARRY_ASSIGN_OR_RETURN(Dataset dataset, datasets.GetDataset(actor.tenant.id, name));
  QUARRY_ASSIGN_OR_RETURN(DatasetRights rights, RightsOn(access, actor, dataset));
  if (!rights.read) return DatasetNotFound();
  return dataset;
}

Status RequireWrite(AccessStore& access, const Principal& actor, const Dataset& dataset) {
  QUARRY_RETURN_IF_ERROR(RequireScope(actor, kScopeWrite));
  QUARRY_ASSIGN_OR_RETURN(DatasetRights rights, RightsOn(access, actor, dataset));
  if (!rights.write) return ProjectRoleTooLow("changing this dataset");
  return Status::Ok();
}

Status RequireCreateIn(AccessStore& access, const Principal& actor, const std::string& project_id) {
  QUARRY_RETURN_IF_ERROR(RequireScope(actor, kScopeWrite));
  if (project_id.empty() || SeesAllDatasets(actor)) {
    if (!project_id.empty()) QUARRY_RETURN_IF_ERROR(access.GetProject(actor.tenant.id, project_id).status());
    return Status::Ok();
  }
  QUARRY_ASSIGN_OR_RETURN(std::optional<ProjectRole> role,
                          access.ProjectRoleOf(actor.tenant.id, project_id, actor.user.id));
  // Projects the caller is no member of do not exist for it.
  if (!role) return ProjectNotFound();
  if (!CanEdit(role)) return ProjectRoleTooLow("creating a dataset in this project");
  return Status::Ok();
}

Status RequireJobWrite(MetaStore& meta, DatasetStore& datasets, AccessStore& access, const std::string& tenant_id,
                       const std::string& user_id, const std::string& name, const std::string& project_id) {
  Principal actor;
  QUARRY_ASSIGN_OR_RETURN(actor.tenant, meta.GetTenant(tenant_id));
  QUARRY_ASSIGN_OR_RETURN(actor.user, meta.GetUser(tenant_id, user_id));
  QUARRY_RETURN_IF_ERROR(RequireActive(actor.tenant, actor.user));
  actor.scopes = MaxScopesForRole(actor.user.role);
  auto dataset = datasets.GetDataset(tenant_id, name);
  if (!dataset.ok() && dataset.status().code() != "dataset_not_found") return dataset.status();
  if (!dataset.ok()) return RequireCreateIn(access, actor, project_id);
  QUARRY_ASSIGN_OR_RETURN(DatasetRights rights, RightsOn(access, actor, *dataset));
  if (!rights.read) return DatasetNotFound();
  return RequireWrite(access, actor, *dataset);
}

}  // namespace quarry::access
