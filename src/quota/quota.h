// Per-tenant quotas (docs/security.md, "Quotas"): each has a server default in the configuration
// and may be overridden per tenant by the operator (PATCH /v1/admin/tenants/{id} {"quotas": {...}}).
// Overrides live on the tenant record, so every request's Principal carries them and a change
// applies from the next request on (like a tenant's status).
// Exceeding a size or count quota answers 413, a rate or concurrency quota 429 with Retry-After;
// the message names the quota, the usage and the limit.
// Thread-safety: free functions over values; RateLimiter is safe to share.
#pragma once

#include <boost/json/fwd.hpp>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "meta/records.h"

namespace quarry::quota {

struct QuotaSpec {
  const char* name;
  std::int64_t min;
  std::int64_t max;
  const char* what;
};

// Every quota a tenant may override, by name.
const std::vector<QuotaSpec>& Specs();

// Applies `changes` ({"name": number, or null to drop an override}) to the overrides in
// `current_json`; InvalidArgument "invalid_quota" naming the quota and its bounds.
Result<std::string> MergeOverrides(const std::string& current_json, const boost::json::object& changes);

// The tenant's value of quota `name`: its override, or `fallback` (the server's default).
std::int64_t Value(const Tenant& tenant, std::string_view name, std::int64_t fallback);

// Per-tenant settings (not limits) whose server default is in the configuration; the operator
// sets them with PATCH /v1/admin/tenants/{id} {"settings": {...}}. All are booleans so far:
//   audit_query_text: the audit log records queries' SQL text (true) or its SHA-256 (false).
const std::vector<std::string_view>& SettingNames();
// Applies `changes` ({"name": true|false, or null to go back to the default}) to `current_json`;
// InvalidArgument "invalid_setting" naming the setting.
Result<std::string> MergeSettings(const std::string& current_json, const boost::json::object& changes);
// The tenant's choice for boolean setting `name`, or `fallback` (the server's default).
bool Setting(const Tenant& tenant, std::string_view name, bool fallback);

// 413 (size, count) or 429 (rate, concurrency: with retry_after_seconds, which becomes the
// Retry-After header) "quota_exceeded".
Status Exceeded(std::string_view name, std::int64_t used, std::int64_t limit, std::int64_t retry_after_ms = 0);

// Requests per second per API key: a token bucket per key (capacity 2 x the rate, at least 10),
// refilled continuously. Bounded: at most `max_keys` buckets (when full, buckets idle long enough
// to have refilled go; if none has, all start over full).
class RateLimiter {
 public:
  RateLimiter(const Clock& clock, std::size_t max_keys = 100'000) : clock_(clock), max_keys_(max_keys) {}
  // OK, or the 429 naming the quota (with the wait in retry_after_ms). `per_second` <= 0: no limit.
  Status Admit(const std::string& key_id, std::int64_t per_second);

 private:
  struct Bucket {
    double tokens = 0;
    UnixMillis refilled_at = 0;
  };
  const Clock& clock_;
  const std::size_t max_keys_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace quarry::quota
