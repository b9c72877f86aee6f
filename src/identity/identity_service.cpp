#include "identity/identity_service.h"

#include <boost/json.hpp>

#include "policy/policy.h"
#include "quota/quota.h"

#include <algorithm>
#include <set>

#include "auth/api_key_token.h"
#include "auth/permissions.h"
#include "common/ids.h"

namespace quarry {
namespace {

constexpr int kMaxExpiryDays = 3650;
constexpr std::int64_t kDayMillis = 86'400'000;

bool IsControl(unsigned char c) { return c < 0x20 || c == 0x7f; }

Status Invalid(const std::string& field, const std::string& message) {
  return InvalidArgument("invalid_" + field, message).WithDetail("field", field);
}

Status NotFoundUser() { return NotFound("user_not_found", "No such user in this tenant"); }
Status NotFoundKey() { return NotFound("api_key_not_found", "No such API key in this tenant"); }
Status NotFoundTenant() { return NotFound("tenant_not_found", "No such tenant"); }

// The operator has no tenant of its own: tenant-scoped calls must name one (the CLI does).
Status RequireNamedTenant(const Principal& actor, const std::string& tenant_id) {
  if (tenant_id.empty() && actor.is_operator) {
    return PermissionDenied("tenant_member_only",
                            "The operator key manages tenants, not their members; use a tenant "
                            "owner's key, or `quarry admin` on the server's data dir");
  }
  return RequireTenantAccess(actor, tenant_id);
}

Status ValidatePage(const PageRequest& page) {
  if (page.limit < 1 || page.limit > 1000) return Invalid("limit", "limit must be between 1 and 1000");
  return Status::Ok();
}

bool IsPrivilegedRole(Role r) { return r == Role::kOwner || r == Role::kAdmin; }

}  // namespace

Status ValidateSlug(const std::string& slug) {
  const bool shape_ok = slug.size() >= 2 && slug.size() <= 63 &&
                        std::all_of(slug.begin(), slug.end(), [](char c) {
                          return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
                        }) &&
                        slug.front() != '-' && slug.back() != '-';
  if (!shape_ok) {
    return Invalid("slug", "slug must be 2 to 63 characters of lowercase letters, digits and '-', "
                           "not starting or ending with '-'");
  }
  return Status::Ok();
}

Status ValidateDisplayName(const std::string& field, const std::string& name) {
  if (name.empty() || name.size() > 200) return Invalid(field, field + " must be 1 to 200 characters");
  for (unsigned char c : name) {
    if (IsControl(c)) return Invalid(field, field + " must not contain control characters");
  }
  return Status::Ok();
}

Result<std::string> NormalizeEmail(const std::string& email) {
  std::string lower = email;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const auto at = lower.find('@');
  const bool ok = lower.size() >= 3 && lower.size() <= 254 && at != std::string::npos && at > 0 &&
                  at == lower.rfind('@') && at + 1 < lower.size() &&
                  std::none_of(lower.begin(), lower.end(), [](unsigned char c) {
                    return IsControl(c) || c == ' ' || c == ',' || c == '"' || c == '<' || c == '>';
                  });
  if (!ok) return Invalid("email", "email must look like name@example.com (at most 254 characters)");
  return lower;
}

// ------------------------------------------------------------------------------------ tenants

Result<CreatedTenant> IdentityService::InsertTenant(
    const NewTenant& request, const std::function<Status(const CreatedKey&)>& persist) {
  QUARRY_RETURN_IF_ERROR(ValidateSlug(request.slug));
  QUARRY_RETURN_IF_ERROR(ValidateDisplayName("name", request.name));
  std::optional<std::string> owner_email;
  if (request.owner_email) {
    QUARRY_ASSIGN_OR_RETURN(owner_email, NormalizeEmail(*request.owner_email));
  }
  CreatedTenant created;
  Status st = store_.InTransaction([&](MetaStore& tx) -> Status {
    const UnixMillis now = clock_.NowMillis();
    Tenant tenant{NewId("ten", now), request.slug, request.name, TenantStatus::kActive, now, now};
    QUARRY_RETURN_IF_ERROR(tx.InsertTenant(tenant));
    created.tenant = tenant;
    if (owner_email) {
      User owner{NewId("usr", now), tenant.id, *owner_email, Role::kOwner, UserStatus::kActive, now, now};
      QUARRY_RETURN_IF_ERROR(tx.InsertUser(owner));
      QUARRY_ASSIGN_OR_RETURN(CreatedKey key, InsertKey(tx, tenant.id, owner.id, "owner key",
                                                         MaxScopesForRole(Role::kOwner), std::nullopt));
      if (persist) QUARRY_RETURN_IF_ERROR(persist(key));
      created.owner = owner;
      created.owner_key = std::move(key);
    }
    return Status::Ok();
  });
  if (!st.ok()) {
    if (st.code() == "tenant_slug_taken") {
      return AlreadyExists("tenant_slug_taken", "A tenant with slug '" + request.slug +
                                                    "' already exists; choose another slug");
    }
    return st;
  }
  return created;
}

Result<CreatedTenant> IdentityService::CreateTenant(const Principal& actor, const NewTenant& request) {
  QUARRY_RETURN_IF_ERROR(RequireOperator(actor));
  return InsertTenant(request, nullptr);
}

Result<Page<Tenant>> IdentityService::ListTenants(const Principal& actor, const PageRequest& page) {
  QUARRY_RETURN_IF_ERROR(RequireOperator(actor));
  QUARRY_RETURN_IF_ERROR(ValidatePage(page));
  return store_.ListTenants(page);
}

Result<Tenant> IdentityService::GetTenant(const Principal& actor, const std::string& id_or_slug) {
  QUARRY_RETURN_IF_ERROR(RequireOperator(actor));
  auto tenant = LooksLikeId(id_or_slug, "ten") ? store_.GetTenant(id_or_slug)
                                                : store_.GetTenantBySlug(id_or_slug);
  if (!tenant.ok() && tenant.status().category() == ErrorCode::kNotFound) return NotFoundTenant();
  return tenant;
}

Result<Tenant> IdentityService::UpdateTenant(const Principal& actor, const std::string& id_or_slug,
                                             const std::optional<std::string>& name,
                                             const std::optional<std::string>& status,
                                             const boost::json::object* quotas,
                                             const boost::json::object* settings) {
  QUARRY_ASSIGN_OR_RETURN(Tenant tenant, GetTenant(actor, id_or_slug));
  if (name) {
    QUARRY_RETURN_IF_ERROR(ValidateDisplayName("name", *name));
    tenant.name = *name;
  }
  if (status) {
    auto parsed = ParseTenantStatus(*status);
    if (!parsed) return Invalid("status", "status must be 'active' or 'disabled'");
    tenant.status = *parsed;
  }
  if (quotas) {  // validated before anything is written
    QUARRY_RETURN_IF_ERROR(quota::MergeOverrides(tenant.quotas_json, *quotas).status());
  }
  if (settings) QUARRY_RETURN_IF_ERROR(quota::MergeSettings(tenant.settings_json, *settings).status());
  tenant.updated_at = clock_.NowMillis();
  QUARRY_RETURN_IF_ERROR(store_.InTransaction([&](MetaStore& tx) -> Status {
    QUARRY_RETURN_IF_ERROR(tx.UpdateTenant(tenant));
    if (!quotas && !settings) return Status::Ok();
    // Merged into the overrides as they are inside the transaction: concurrent changes of other
    // quotas and settings are kept.
    QUARRY_ASSIGN_OR_RETURN(Tenant current, tx.GetTenant(tenant.id));
    tenant.quotas_json = current.quotas_json;
    tenant.settings_json = current.settings_json;
    if (quotas) {
      QUARRY_ASSIGN_OR_RETURN(tenant.quotas_json, quota::MergeOverrides(current.quotas_json, *quotas));
      QUARRY_RETURN_IF_ERROR(tx.SetTenantQuotas(tenant.id, tenant.quotas_json, tenant.updated_at));
    }
    if (settings) {
      QUARRY_ASSIGN_OR_RETURN(tenant.settings_json, quota::MergeSettings(current.settings_json, *settings));
      QUARRY_RETURN_IF_ERROR(tx.SetTenantSettings(tenant.id, tenant.settings_json, tenant.updated_at));
    }
    return Status::Ok();
  }));
  return tenant;
}

// -------------------------------------------------------------------------------------- users

Result<User> IdentityService::CreateUser(const Principal& actor, const std::string& tenant_id,
                                         const NewUser& request) {
  QUARRY_RETURN_IF_ERROR(RequireNamedTenant(actor, tenant_id));
  if (!actor.is_operator) QUARRY_RETURN_IF_ERROR(RequireTenantAdmin(actor));
  QUARRY_ASSIGN_OR_RETURN(std::string email, NormalizeEmail(request.email));
  auto role = ParseRole(request.role);
  if (!role) return Invalid("role", "role must be one of owner, admin, analyst, viewer");
  if (*role == Role::kOwner && !actor.is_operator && actor.user.role != Role::kOwner) {
    return PermissionDenied("role_too_low", "Only an owner may create another owner");
  }
  if (actor.is_operator) {
    auto tenant = store_.GetTenant(tenant_id);
    if (!tenant.ok()) return tenant.status().category() == ErrorCode::kNotFound ? NotFoundTenant() : tenant.status();
  }
  const UnixMillis now = clock_.NowMillis();
  User user{NewId("usr", now), tenant_id, email, *role, UserStatus::kActive, now, now};
  Status st = store_.InsertUser(user);
  if (st.code() == "user_email_taken") {
    return AlreadyExists("user_email_taken", "A user with email '" + email +
                                                 "' already exists in this tenant");
  }
  QUARRY_RETURN_IF_ERROR(st);
  return user;
}

Result<Page<User>> IdentityService::ListUsers(const Principal& actor, const std::string& tenant_id,
                                              const PageRequest& page) {
  QUARRY_RETURN_IF_ERROR(RequireNamedTenant(actor, tenant_id));
  if (!actor.is_operator) QUARRY_RETURN_IF_ERROR(RequireTenantAdmin(actor));
  QUARRY_RETURN_IF_ERROR(ValidatePage(page));
  return store_.ListUsers(tenant_id, page);
}

Result<User> IdentityService::GetUser(const Principal& actor, const std::string& tenant_id,
                                      const std::string& id_or_email) {
  QUARRY_RETURN_IF_ERROR(RequireNamedTenant(actor, tenant_id));
  const bool by_id = LooksLikeId(id_or_email, "usr");
  std::string email;
  if (!by_id) {
    auto normalized = NormalizeEmail(id_or_email);
    if (!normalized.ok()) return NotFoundUser();
    email = *normalized;
  }
  const bool self = !actor.is_operator && (by_id ? id_or_email == actor.user.id : email == actor.user.email);
  if (!actor.is_operator && !self) QUARRY_RETURN_IF_ERROR(RequireTenantAdmin(actor));
  auto user = by_id ? store_.GetUser(tenant_id, id_or_email) : store_.GetUserByEmail(tenant_id, email);
  if (!user.ok() && user.status().category() == ErrorCode::kNotFound) return NotFoundUser();
  return user;
}

Result<User> IdentityService::SetUserAttributes(const Principal& actor, const std::string& tenant_id,
                                                const std::string& id_or_email, const boost::json::value& attributes) {
  QUARRY_RETURN_IF_ERROR(RequireNamedTenant(actor, tenant_id));
  if (!actor.is_operator) QUARRY_RETURN_IF_ERROR(RequireTenantAdmin(actor));
  QUARRY_RETURN_IF_ERROR(policy::ValidateAttributes(attributes));
  QUARRY_ASSIGN_OR_RETURN(User user, GetUser(actor, tenant_id, id_or_email));
  user.attributes_json = boost::json::serialize(attributes);
  user.updated_at = clock_.NowMillis();
  Status st = store_.SetUserAttributes(tenant_id, user.id, user.attributes_json, user.updated_at);
  if (!st.ok() && st.category() == ErrorCode::kNotFound) return NotFoundUser();
  QUARRY_RETURN_IF_ERROR(st);
  return user;
}

Result<User> IdentityService::UpdateUser(const Principal& actor, const std::string& tenant_id,
                                         const std::string& id_or_email, const UserChanges& changes) {
  QUARRY_RETURN_IF_ERROR(RequireNamedTenant(actor, tenant_id));
  if (!actor.is_operator) QUARRY_RETURN_IF_ERROR(RequireTenantAdmin(actor));
  std::optional<Role> new_role;
  std::optional<UserStatus> new_status;
  if (changes.role) {
    new_role = ParseRole(*changes.role);
    if (!new_role) return Invalid("role", "role must be one of owner, admin, analyst, viewer");
  }
  if (changes.status) {
    new_status = ParseUserStatus(*changes.status);
    if (!new_status) return Invalid("status", "status must be 'active' or 'disabled'");
  }
  QUARRY_ASSIGN_OR_RETURN(const User found, GetUser(actor, tenant_id, id_or_email));
  const bool actor_is_owner = actor.is_operator || actor.user.role == Role::kOwner;
  const UnixMillis now = clock_.NowMillis();
  User user, updated;
  Status st = store_.InTransaction([&](MetaStore& tx) -> Status {
    // Every check runs on the row as it is inside the transaction, so a concurrent change can
    // neither be overwritten with stale data nor slip past the owner rules.
    QUARRY_ASSIGN_OR_RETURN(user, tx.GetUser(tenant_id, found.id));
    if (user.role == Role::kOwner && !actor_is_owner) {
      return PermissionDenied("role_too_low", "Only an owner may change another owner");
    }
    if (new_role == Role::kOwner && !actor_is_owner) {
      return PermissionDenied("role_too_low", "Only an owner may make a user an owner");
    }
    updated = user;
    if (new_role) updated.role = *new_role;
    if (new_status) updated.status = *new_status;
    updated.updated_at = now;
    const bool loses_owner = user.role == Role::kOwner && user.status == UserStatus::kActive &&
                             (updated.role != Role::kOwner || updated.status != UserStatus::kActive);
    if (loses_owner) {
      // Keep at least one active owner: a tenant without one cannot be administered.
      int active_owners = 0;
      PageRequest page{"", 1000};
      while (true) {
        QUARRY_ASSIGN_OR_RETURN(Page<User> users, tx.ListUsers(tenant_id, page));
        for (const auto& u : users.items) {
          if (u.role == Role::kOwner && u.status == UserStatus::kActive) ++active_owners;
        }
        if (!users.next_cursor) break;
        page.after_id = *users.next_cursor;
      }
      if (active_owners <= 1) {
        return FailedPrecondition("last_owner",
                                  "This is the tenant's last active owner; make another user an "
                                  "owner first");
      }
    }
    return tx.UpdateUser(updated);
  });
  QUARRY_RETURN_IF_ERROR(st);
  return updated;
}

// --------------------------------------------------------------------------------------- keys

Result<CreatedKey> IdentityService::InsertKey(MetaStore& tx, const std::string& tenant_id,
                                              const std::string& user_id, const std::string& name,
                                              std::vector<std::string> scopes,
                                              std::optional<int> expires_in_days) {
  const UnixMillis now = clock_.NowMillis();
  GeneratedToken token = GenerateApiKeyToken();
  ApiKey key;
  key.id = NewId("key", now);
  key.tenant_id = tenant_id;
  key.user_id = user_id;
  key.name = name;
  key.prefix = token.prefix;
  key.secret_hash = token.hash;
  key.scopes = std::move(scopes);
  key.created_at = now;
  if (expires_in_days) key.expires_at = now + *expires_in_days * kDayMillis;
  QUARRY_RETURN_IF_ERROR(tx.InsertApiKey(key));
  return CreatedKey{std::move(key), std::move(token.token)};
}

Result<CreatedKey> IdentityService::CreateKey(const Principal& actor, const std::string& tenant_id,
                                              const NewKey& request) {
  QUARRY_RETURN_IF_ERROR(ValidateDisplayName("name", request.name));
  if (request.expires_in_days && (*request.expires_in_days < 1 || *request.expires_in_days > kMaxExpiryDays)) {
    return Invalid("expires_in_days", "expires_in_days must be between 1 and 3650");
  }
  if (tenant_id.empty()) {  // an operator key
    QUARRY_RETURN_IF_ERROR(RequireOperator(actor));
    if (request.user_id) return Invalid("user_id", "operator keys belong to no user");
    if (request.scopes) return Invalid("scopes", "operator keys always carry the operator scope");
    CreatedKey created;
    QUARRY_RETURN_IF_ERROR(store_.InTransaction([&](MetaStore& tx) -> Status {
      QUARRY_ASSIGN_OR_RETURN(created, InsertKey(tx, "", "", request.name,
                                                 {std::string(kScopeOperator)}, request.expires_in_days));
      return Status::Ok();
    }));
    return created;
  }
  QUARRY_RETURN_IF_ERROR(RequireTenantAccess(actor, tenant_id));
  std::string user_ref = request.user_id.value_or(actor.is_operator ? "" : actor.user.id);
  if (user_ref.empty()) return Invalid("user_id", "name the user the key belongs to");
  // GetUser lets callers see themselves and owners/admins see everyone.
  QUARRY_ASSIGN_OR_RETURN(User owner, GetUser(actor, tenant_id, user_ref));
  const bool self = !actor.is_operator && owner.id == actor.user.id;
  if (!actor.is_operator && !self) QUARRY_RETURN_IF_ERROR(RequireTenantAdmin(actor));
  if (owner.role == Role::kOwner && !actor.is_operator && actor.user.role != Role::kOwner) {
    // A key acts as its user: minting one for an owner would hand an admin the owner's powers.
    return PermissionDenied("role_too_low", "Only an owner may create keys for an owner");
  }
  if (owner.status != UserStatus::kActive) {
    return FailedPrecondition("user_disabled", "The user is disabled; enable it before creating keys");
  }
  const auto allowed = MaxScopesForRole(owner.role);
  std::vector<std::string> scopes = request.scopes.value_or(allowed);
  if (scopes.empty()) return Invalid("scopes", "scopes must name at least one of read, write, admin");
  std::sort(scopes.begin(), scopes.end());
  scopes.erase(std::unique(scopes.begin(), scopes.end()), scopes.end());
  for (const auto& scope : scopes) {
    if (scope != kScopeRead && scope != kScopeWrite && scope != kScopeAdmin) {
      return Invalid("scopes", "unknown scope '" + scope + "'; scopes are read, write, admin");
    }
    if (std::find(allowed.begin(), allowed.end(), scope) == allowed.end()) {
      return PermissionDenied("scope_exceeds_role", "The user's role (" + std::string(ToString(owner.role)) +
                                                        ") does not allow the '" + scope + "' scope");
    }
    if (!actor.is_operator && !actor.HasScope(scope)) {
      return PermissionDenied("scope_exceeds_key",
                              "A key cannot grant the '" + scope + "' scope that it lacks itself");
    }
  }
  CreatedKey created;
  QUARRY_RETURN_IF_ERROR(store_.InTransaction([&](MetaStore& tx) -> Status {
    QUARRY_ASSIGN_OR_RETURN(created, InsertKey(tx, tenant_id, owner.id, request.name, scopes,
                                               request.expires_in_days));
    return Status::Ok();
  }));
  return created;
}

Result<Page<ApiKey>> IdentityService::ListKeys(const Principal& actor, const std::string& tenant_id,
                                               const PageRequest& page) {
  QUARRY_RETURN_IF_ERROR(ValidatePage(page));
  if (tenant_id.empty()) {
    QUARRY_RETURN_IF_ERROR(RequireOperator(actor));
    return store_.ListApiKeys("", "", page);
  }
  QUARRY_RETURN_IF_ERROR(RequireTenantAccess(actor, tenant_id));
  // Owners and admins see every key of the tenant; everyone else sees their own.
  const bool all = actor.is_operator || (IsPrivilegedRole(actor.user.role) && actor.HasScope(kScopeAdmin));
  return store_.ListApiKeys(tenant_id, all ? "" : actor.user.id, page);
}

Result<ApiKey> IdentityService::GetKey(const Principal& actor, const std::string& tenant_id,
                                       const std::string& key_id) {
  if (tenant_id.empty()) {
    QUARRY_RETURN_IF_ERROR(RequireOperator(actor));
  } else {
    QUARRY_RETURN_IF_ERROR(RequireTenantAccess(actor, tenant_id));
  }
  if (!LooksLikeId(key_id, "key")) return NotFoundKey();
  auto key = store_.GetApiKey(tenant_id, key_id);
  if (!key.ok()) return key.status().category() == ErrorCode::kNotFound ? NotFoundKey() : key.status();
  const bool all = actor.is_operator || (IsPrivilegedRole(actor.user.role) && actor.HasScope(kScopeAdmin));
  if (!all && key->user_id != actor.user.id) return NotFoundKey();
  return key;
}

Result<ApiKey> IdentityService::RevokeKey(const Principal& actor, const std::string& tenant_id,
                                          const std::string& key_id) {
  QUARRY_ASSIGN_OR_RETURN(ApiKey key, GetKey(actor, tenant_id, key_id));
  const bool own = !actor.is_operator && key.user_id == actor.user.id;
  if (!actor.is_operator && !own) QUARRY_RETURN_IF_ERROR(RequireTenantAdmin(actor));
  QUARRY_RETURN_IF_ERROR(store_.RevokeApiKey(tenant_id, key_id, clock_.NowMillis()));
  return GetKey(actor, tenant_id, key_id);
}

// ---------------------------------------------------------------------------------- first start

Result<std::optional<CreatedKey>> IdentityService::EnsureOperatorKey(
    const std::function<Status(const CreatedKey&)>& persist) {
  std::optional<CreatedKey> created;
  Status st = store_.InTransaction([&](MetaStore& tx) -> Status {
    QUARRY_ASSIGN_OR_RETURN(Page<ApiKey> existing, tx.ListApiKeys("", "", PageRequest{"", 1}));
    if (!existing.items.empty()) return Status::Ok();
    QUARRY_ASSIGN_OR_RETURN(CreatedKey key, InsertKey(tx, "", "", "operator key (bootstrap)",
                                                       {std::string(kScopeOperator)}, std::nullopt));
    QUARRY_RETURN_IF_ERROR(persist(key));
    created = std::move(key);
    return Status::Ok();
  });
  QUARRY_RETURN_IF_ERROR(st);
  return created;
}

Result<std::optional<CreatedTenant>> IdentityService::EnsureDemoTenant(
    const std::function<Status(const CreatedKey&)>& persist) {
  auto existing = store_.GetTenantBySlug("demo");
  if (existing.ok()) return std::optional<CreatedTenant>();
  if (existing.status().category() != ErrorCode::kNotFound) return existing.status();
  auto created = InsertTenant(NewTenant{"demo", "Demo", std::string("owner@demo.local")}, persist);
  if (!created.ok()) {
    if (created.status().code() == "tenant_slug_taken") return std::optional<CreatedTenant>();
    return created.status();
  }
  return std::optional<CreatedTenant>(std::move(created).value());
}

}  // namespace quarry
