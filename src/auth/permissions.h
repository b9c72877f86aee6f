// Permission checks shared by the services. Each returns OK or a 403 Status that names what is
// missing. The role/scope matrix is documented in docs/security.md.
#pragma once

#include <string_view>
#include <vector>

#include "auth/principal.h"
#include "common/status.h"

namespace quarry {

// The scopes a key of a user with `role` may carry.
std::vector<std::string> MaxScopesForRole(Role role);

Status RequireOperator(const Principal& p);
Status RequireScope(const Principal& p, std::string_view scope);
// A tenant member with the owner or admin role, using a key with the `admin` scope.
Status RequireTenantAdmin(const Principal& p);
// OK when `tenant_id` is the caller's own tenant, or the caller is the operator. Otherwise
// NotFound, so that other tenants' ids are indistinguishable from missing ones.
Status RequireTenantAccess(const Principal& p, const std::string& tenant_id);
// OK when the tenant and the user are active (an operator's empty ones are): otherwise 403
// "tenant_disabled" or "user_disabled", whatever the credential (key, session, password).
Status RequireActive(const Tenant& tenant, const User& user);

}  // namespace quarry
