// Principal: who is making a request, resolved once per request from its credentials and passed
// explicitly to every service call. It is a value: holding one never touches the store.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "meta/records.h"

namespace quarry {

// Key scopes narrow what a key may do within its user's role (docs/security.md).
inline constexpr std::string_view kScopeRead = "read";
inline constexpr std::string_view kScopeWrite = "write";
inline constexpr std::string_view kScopeAdmin = "admin";
// The scope of operator keys: manage tenants; sees no tenant data.
inline constexpr std::string_view kScopeOperator = "operator";

struct Principal {
  bool is_operator = false;
  Tenant tenant;  // empty for the operator
  User user;      // empty for the operator
  std::string key_id;
  std::vector<std::string> scopes;

  bool HasScope(std::string_view scope) const {
    return std::find(scopes.begin(), scopes.end(), scope) != scopes.end();
  }
  // The principal that local administration (the `quarry admin` CLI) acts as: it holds the
  // data dir itself, so it is the operator.
  static Principal LocalOperator() {
    Principal p;
    p.is_operator = true;
    p.scopes = {std::string(kScopeOperator)};
    return p;
  }
};

}  // namespace quarry
