#include "auth/permissions.h"

namespace quarry {

std::vector<std::string> MaxScopesForRole(Role role) {
  switch (role) {
    case Role::kOwner:
    case Role::kAdmin:  // sorted, like the scopes of keys created with explicit scopes
      return {std::string(kScopeAdmin), std::string(kScopeRead), std::string(kScopeWrite)};
    case Role::kAnalyst:
      return {std::string(kScopeRead), std::string(kScopeWrite)};
    case Role::kViewer:
      return {std::string(kScopeRead)};
  }
  return {};
}

Status RequireOperator(const Principal& p) {
  if (p.is_operator) return Status::Ok();
  return PermissionDenied("operator_only",
                          "Only the operator key may manage tenants; use the key in "
                          "DATA_DIR/secrets/operator.key");
}

Status RequireScope(const Principal& p, std::string_view scope) {
  if (p.HasScope(scope)) return Status::Ok();
  return PermissionDenied("missing_scope", "This API key lacks the '" + std::string(scope) +
                                               "' scope; create a key with that scope")
      .WithDetail("required_scope", std::string(scope));
}

Status RequireTenantAdmin(const Principal& p) {
  if (p.is_operator) {
    return PermissionDenied("tenant_member_only",
                            "The operator key manages tenants, not their members; use a tenant "
                            "owner's key or `quarry admin`");
  }
  if (p.user.role != Role::kOwner && p.user.role != Role::kAdmin) {
    return PermissionDenied("role_too_low", "This requires the owner or admin role; your role is " +
                                                std::string(ToString(p.user.role)));
  }
  return RequireScope(p, kScopeAdmin);
}

Status RequireTenantAccess(const Principal& p, const std::string& tenant_id) {
  if (p.is_operator || p.tenant.id == tenant_id) return Status::Ok();
  return NotFound("tenant_not_found", "No such tenant");
}

Status RequireActive(const Tenant& tenant, const User& user) {
  if (tenant.status != TenantStatus::kActive) {
    return PermissionDenied("tenant_disabled",
                            "This tenant is disabled; contact the operator of this Quarry server");
  }
  if (user.status != UserStatus::kActive) {
    return PermissionDenied("user_disabled", "This user is disabled; ask an owner or admin of your tenant");
  }
  return Status::Ok();
}

}  // namespace quarry
