#include "quota/quota.h"

#include <boost/json.hpp>

#include <algorithm>

namespace quarry::quota {

const std::vector<QuotaSpec>& Specs() {
  static const std::vector<QuotaSpec> specs = {
      {"storage_bytes", 0, 1LL << 50, "bytes of all dataset versions"},
      {"datasets", 0, 1'000'000, "datasets"},
      {"versions_kept", 1, 1'000'000, "versions kept per dataset"},
      {"upload_bytes", 1, 1LL << 50, "bytes of one upload"},
      {"queued_jobs", 1, 10'000'000, "queued jobs"},
      {"running_jobs", 1, 10'000, "jobs running at once"},
      {"concurrent_queries", 1, 10'000, "queries running at once"},
      {"statement_timeout_ms", 1, 24LL * 3'600'000, "milliseconds a statement may run"},
      {"result_rows", 1, 100'000'000, "rows of one answer"},
      {"query_memory_bytes", 64LL << 20, 1LL << 40, "memory of the tenant's query engine"},
      {"requests_per_second", 0, 1'000'000, "requests per second per API key (0: no limit)"},
  };
  return specs;
}

namespace {

// A tenant's overrides or settings as stored: a JSON object ({} when empty or unreadable).
boost::json::object StoredObject(const std::string& json) {
  if (json.size() <= 2) return {};  // "" or "{}"
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(json, ec);
  return !ec && v.is_object() ? v.as_object() : boost::json::object();
}

}  // namespace

Result<std::string> MergeOverrides(const std::string& current_json, const boost::json::object& changes) {
  boost::json::object merged = StoredObject(current_json);
  for (const auto& [key, value] : changes) {
    auto spec = std::find_if(Specs().begin(), Specs().end(), [&](const QuotaSpec& s) { return key == s.name; });
    if (spec == Specs().end()) {
      std::string names;
      for (const auto& s : Specs()) names += (names.empty() ? "" : ", ") + std::string(s.name);
      return InvalidArgument("invalid_quota", "unknown quota '" + std::string(key) + "'; quotas: " + names);
    }
    if (value.is_null()) {
      merged.erase(key);  // back to the server's default
      continue;
    }
    if (!value.is_int64() || value.as_int64() < spec->min || value.as_int64() > spec->max) {
      return InvalidArgument("invalid_quota", "quota '" + std::string(key) + "' (" + spec->what +
                                                  ") must be a whole number from " + std::to_string(spec->min) +
                                                  " to " + std::to_string(spec->max) + ", or null for the default");
    }
    merged[key] = value.as_int64();
  }
  return boost::json::serialize(merged);
}

std::int64_t Value(const Tenant& tenant, std::string_view name, std::int64_t fallback) {
  if (tenant.quotas_json.size() <= 2) return fallback;  // "{}": no overrides (the common case, per request)
  const boost::json::object overrides = StoredObject(tenant.quotas_json);
  const auto* v = overrides.if_contains(name);
  return v && v->is_int64() ? v->as_int64() : fallback;
}

const std::vector<std::string_view>& SettingNames() {
  static const std::vector<std::string_view> names = {"audit_query_text"};
  return names;
}

Result<std::string> MergeSettings(const std::string& current_json, const boost::json::object& changes) {
  boost::json::object merged = StoredObject(current_json);
  for (const auto& [key, value] : changes) {
    if (std::find(SettingNames().begin(), SettingNames().end(), std::string_view(key)) == SettingNames().end()) {
      std::string names;
      for (std::string_view n : SettingNames()) names += (names.empty() ? "" : ", ") + std::string(n);
      return InvalidArgument("invalid_setting", "unknown setting '" + std::string(key) + "'; settings: " + names);
    }
    if (value.is_null()) {
      merged.erase(key);  // back to the server's default
    } else if (value.is_bool()) {
      merged[key] = value;
    } else {
      return InvalidArgument("invalid_setting", "setting '" + std::string(key) + "' is true or false (null: the default)");
    }
  }
  return boost::json::serialize(merged);
}

bool Setting(const Tenant& tenant, std::string_view name, bool fallback) {
  if (tenant.settings_json.size() <= 2) return fallback;  // "{}": the defaults
  const boost::json::object settings = StoredObject(tenant.settings_json);
  const auto* v = settings.if_contains(name);
  return v && v->is_bool() ? v->as_bool() : fallback;
}

Status Exceeded(std::string_view name, std::int64_t used, std::int64_t limit, std::int64_t retry_after_ms) {
  auto spec = std::find_if(Specs().begin(), Specs().end(), [&](const QuotaSpec& s) { return name == s.name; });
  const std::string what = spec == Specs().end() ? std::string(name) : spec->what;
  Status st(retry_after_ms > 0 ? ErrorCode::kResourceExhausted : ErrorCode::kPayloadTooLarge, "quota_exceeded",
            "the tenant's quota '" + std::string(name) + "' (" + what + ") is " + std::to_string(limit) +
                "; this would use " + std::to_string(used) +
                (retry_after_ms > 0 ? "; retry later" : "; free some up, or ask the operator for a larger quota"));
  st.WithDetail("quota", std::string(name)).WithDetail("used", std::to_string(used)).WithDetail("limit", std::to_string(limit));
  if (retry_after_ms > 0) st.WithDetail("retry_after_seconds", std::to_string((retry_after_ms + 999) / 1000));
  return st;
}

Status RateLimiter::Admit(const std::string& key_id, std::int64_t per_second) {
  if (per_second <= 0) return Status::Ok();
  const double capacity = std::max<double>(10, 2.0 * static_cast<double>(per_second));
  const UnixMillis now = clock_.NowMillis();
  std::lock_guard lock(mu_);
  auto it = buckets_.find(key_id);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_keys_) {
      // Buckets idle long enough to be full again are the same as no bucket; only if every key
      // is active does the map start over (each bucket full again).
      for (auto b = buckets_.begin(); b != buckets_.end();) {
        const bool refilled = (now - b->second.refilled_at) * per_second >= static_cast<std::int64_t>(capacity) * 1000;
        b = refilled ? buckets_.erase(b) : std::next(b);
      }
      if (buckets_.size() >= max_keys_) buckets_.clear();
    }
    it = buckets_.emplace(key_id, Bucket{capacity, now}).first;
  }
  Bucket& b = it->second;
  b.tokens = std::min(capacity, b.tokens + static_cast<double>(now - b.refilled_at) * static_cast<double>(per_second) / 1000.0);
  b.refilled_at = now;
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return Status::Ok();
  }
  const auto wait = static_cast<std::int64_t>((1 - b.tokens) * 1000.0 / static_cast<double>(per_second)) + 1;
  return Exceeded("requests_per_second", per_second + 1, per_second, wait);
}

}  // namespace quarry::quota
