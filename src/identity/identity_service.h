// IdentityService: tenants, users and API keys, with the permission rules of docs/security.md.
//
// Every call takes the acting Principal and decides what it may do; the HTTP handlers and the
// `quarry admin` CLI are thin layers over this service. Objects of tenants the actor cannot see
// are NotFound, exactly like missing ones. Validation errors name the field and the rule.
// Thread-safety: stateless apart from the store; safe to call concurrently.
#pragma once

#include <boost/json/fwd.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "auth/principal.h"
#include "common/clock.h"
#include "common/status.h"
#include "meta/meta_store.h"

namespace quarry {

struct CreatedKey {
  ApiKey key;
  std::string token;  // the secret: returned once, never stored
};

struct NewTenant {
  std::string slug;
  std::string name;
  std::optional<std::string> owner_email;  // also create an owner user and key
};

struct CreatedTenant {
  Tenant tenant;
  std::optional<User> owner;
  std::optional<CreatedKey> owner_key;
};

struct NewUser {
  std::string email;
  std::string role;  // owner, admin, analyst, viewer
};

struct UserChanges {
  std::optional<std::string> role;
  std::optional<std::string> status;  // active, disabled
};

struct NewKey {
  std::string name;
  std::optional<std::string> user_id;          // default: the actor
  std::optional<std::vector<std::string>> scopes;  // default: the most the user's role allows
  std::optional<int> expires_in_days;          // 1..3650; default: never
};

class IdentityService {
 public:
  IdentityService(MetaStore& store, const Clock& clock) : store_(store), clock_(clock) {}

  // --- tenants (operator only) ---
  Result<CreatedTenant> CreateTenant(const Principal& actor, const NewTenant& request);
  Result<Page<Tenant>> ListTenants(const Principal& actor, const PageRequest& page);
  // `id_or_slug`: a tenant id ("ten_...") or slug.
  Result<Tenant> GetTenant(const Principal& actor, const std::string& id_or_slug);
  Result<Tenant> UpdateTenant(const Principal& actor, const std::string& id_or_slug,
                              const std::optional<std::string>& name,
                              const std::optional<std::string>& status,
                              const boost::json::object* quotas = nullptr,
                              const boost::json::object* settings = nullptr);

  // --- users of `tenant_id` (the actor's own tenant; the operator may name any) ---
  Result<User> CreateUser(const Principal& actor, const std::string& tenant_id, const NewUser& request);
  Result<Page<User>> ListUsers(const Principal& actor, const std::string& tenant_id, const PageRequest& page);
  // `id_or_email`: a user id ("usr_...") or email.
  Result<User> GetUser(const Principal& actor, const std::string& tenant_id, const std::string& id_or_email);
  Result<User> UpdateUser(const Principal& actor, const std::string& tenant_id,
                          const std::string& id_or_email, const UserChanges& changes);
  // Replaces a user's attributes (owners and admins; a JSON object, policy::ValidateAttributes).
  // Row policies see them from the user's next request on. Reading them is GetUser.
  Result<User> SetUserAttributes(const Principal& actor, const std::string& tenant_id, const std::string& id_or_email,
                                 const boost::json::value& attributes);

  // --- API keys of `tenant_id` (empty tenant_id: operator keys, operator only) ---
  Result<CreatedKey> CreateKey(const Principal& actor, const std::string& tenant_id, const NewKey& request);
  Result<Page<ApiKey>> ListKeys(const Principal& actor, const std::string& tenant_id, const PageRequest& page);
  Result<ApiKey> GetKey(const Principal& actor, const std::string& tenant_id, const std::string& key_id);
  Result<ApiKey> RevokeKey(const Principal& actor, const std::string& tenant_id, const std::string& key_id);

  // --- first start ---
  // Creates an operator key when none exists. `persist` is called with the new token before the
  // key is committed (so a key is never valid without its secret saved); its error aborts.
  Result<std::optional<CreatedKey>> EnsureOperatorKey(
      const std::function<Status(const CreatedKey&)>& persist);
  // Creates the `demo` tenant with an owner and an owner key when no tenant `demo` exists.
  Result<std::optional<CreatedTenant>> EnsureDemoTenant(
      const std::function<Status(const CreatedKey&)>& persist);

 private:
  Result<CreatedKey> InsertKey(MetaStore& tx, const std::string& tenant_id, const std::string& user_id,
                               const std::string& name, std::vector<std::string> scopes,
                               std::optional<int> expires_in_days);
  Result<CreatedTenant> InsertTenant(const NewTenant& request,
                                     const std::function<Status(const CreatedKey&)>& persist);

  MetaStore& store_;
  const Clock& clock_;
};

// Field validators, exposed for the CLI and tests. Each returns InvalidArgument naming the field.
Status ValidateSlug(const std::string& slug);
Status ValidateDisplayName(const std::string& field, const std::string& name);
Result<std::string> NormalizeEmail(const std::string& email);

}  // namespace quarry
