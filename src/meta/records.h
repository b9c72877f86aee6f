// Records persisted by the metadata store. Plain values: no behaviour beyond name conversions.
// Times are UnixMillis (UTC). Optional times are std::nullopt when unset.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"

namespace quarry {

enum class TenantStatus { kActive, kDisabled };
enum class UserStatus { kActive, kDisabled };
// Ordered from most to least privileged; see docs/security.md for the permission matrix.
enum class Role { kOwner, kAdmin, kAnalyst, kViewer };

std::string_view ToString(TenantStatus s);
std::string_view ToString(UserStatus s);
std::string_view ToString(Role r);
std::optional<TenantStatus> ParseTenantStatus(std::string_view s);
std::optional<UserStatus> ParseUserStatus(std::string_view s);
std::optional<Role> ParseRole(std::string_view s);

struct Tenant {
  std::string id;    // "ten_..."
  std::string slug;  // unique, [a-z0-9-], 2..63 chars
  std::string name;
  TenantStatus status = TenantStatus::kActive;
  UnixMillis created_at = 0;
  UnixMillis updated_at = 0;
  // The operator's overrides of the server's default quotas (quota/quota.h): a JSON object.
  std::string quotas_json = "{}";
  // The operator's per-tenant choices of settings whose server default is in the configuration
  // (quota/quota.h, SettingSpecs): a JSON object, e.g. {"audit_query_text": true}.
  std::string settings_json = "{}";
};

struct User {
  std::string id;  // "usr_..."
  std::string tenant_id;
  std::string email;  // unique within a tenant, stored lowercase
  Role role = Role::kViewer;
  UserStatus status = UserStatus::kActive;
  UnixMillis created_at = 0;
  UnixMillis updated_at = 0;
  // Set by admins; row policies compare columns with them (policy/policy.h). A JSON object.
  std::string attributes_json = "{}";
};

// An API key. The secret itself is never stored: only its SHA-256. Operator keys have an empty
// tenant_id and user_id.
struct ApiKey {
  std::string id;  // "key_..."
  std::string tenant_id;
  std::string user_id;
  std::string name;
  std::string prefix;       // the public, human-visible start of the token, unique
  std::string secret_hash;  // lowercase hex SHA-256 of the whole token
  std::vector<std::string> scopes;
  UnixMillis created_at = 0;
  std::optional<UnixMillis> last_used_at;
  std::optional<UnixMillis> expires_at;
  std::optional<UnixMillis> revoked_at;

  bool is_operator() const { return tenant_id.empty(); }
};

// Keyset pagination: items with id > after_id, in id (= creation) order.
struct PageRequest {
  std::string after_id;
  int limit = 100;
};

template <typename T>
struct Page {
  std::vector<T> items;
  std::optional<std::string> next_cursor;  // the last item's id when more may follow
};

}  // namespace quarry
