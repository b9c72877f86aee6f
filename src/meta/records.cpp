#include "meta/records.h"

namespace quarry {

std::string_view ToString(TenantStatus s) {
  return s == TenantStatus::kActive ? "active" : "disabled";
}
std::string_view ToString(UserStatus s) { return s == UserStatus::kActive ? "active" : "disabled"; }
std::string_view ToString(Role r) {
  switch (r) {
    case Role::kOwner: return "owner";
    case Role::kAdmin: return "admin";
    case Role::kAnalyst: return "analyst";
    case Role::kViewer: return "viewer";
  }
  return "viewer";
}

std::optional<TenantStatus> ParseTenantStatus(std::string_view s) {
  if (s == "active") return TenantStatus::kActive;
  if (s == "disabled") return TenantStatus::kDisabled;
  return std::nullopt;
}
std::optional<UserStatus> ParseUserStatus(std::string_view s) {
  if (s == "active") return UserStatus::kActive;
  if (s == "disabled") return UserStatus::kDisabled;
  return std::nullopt;
}
std::optional<Role> ParseRole(std::string_view s) {
  if (s == "owner") return Role::kOwner;
  if (s == "admin") return Role::kAdmin;
  if (s == "analyst") return Role::kAnalyst;
  if (s == "viewer") return Role::kViewer;
  return std::nullopt;
}

}  // namespace quarry
