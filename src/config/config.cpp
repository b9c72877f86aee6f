#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <functional>
#include <set>

#include <fmt/format.h>

extern char** environ;

namespace quarry {
namespace {

enum class Kind { kString, kInt, kBool, kBytes, kDuration };

struct Setting {
  const char* key;
  Kind kind;
  std::int64_t min;
  std::int64_t max;
  const char* description;
  // Applies a value already parsed into `number`/`text`; returns an error text or "".
  std::function<std::string(Config&, std::int64_t number, const std::string& text)> set;
  std::function<std::string(const Config&)> get;
};

std::string FormatDuration(std::chrono::milliseconds d) {
  auto ms = d.count();
  if (ms % 3'600'000 == 0 && ms) return fmt::format("{}h", ms / 3'600'000);
  if (ms % 60'000 == 0 && ms) return fmt::format("{}m", ms / 60'000);
  if (ms % 1000 == 0 && ms) return fmt::format("{}s", ms / 1000);
  return fmt::format("{}ms", ms);
}

std::string FormatBytes(std::int64_t b) {
  if (b % (1 << 30) == 0 && b) return fmt::format("{}GiB", b >> 30);
  if (b % (1 << 20) == 0 && b) return fmt::format("{}MiB", b >> 20);
  if (b % (1 << 10) == 0 && b) return fmt::format("{}KiB", b >> 10);
  return std::to_string(b);
}

#define QUARRY_INT(field) \
  [](Config& c, std::int64_t n, const std::string&) { c.field = static_cast<decltype(c.field)>(n); return std::string(); }, \
  [](const Config& c) { return std::to_string(c.field); }
#define QUARRY_BYTES(field) \
  [](Config& c, std::int64_t n, const std::string&) { c.field = n; return std::string(); }, \
  [](const Config& c) { return FormatBytes(c.field); }
#define QUARRY_DURATION(field) \
  [](Config& c, std::int64_t n, const std::string&) { c.field = std::chrono::milliseconds(n); return std::string(); }, \
  [](const Config& c) { return FormatDuration(c.field); }
#define QUARRY_BOOL(field) \
  [](Config& c, std::int64_t n, const std::string&) { c.field = n != 0; return std::string(); }, \
  [](const Config& c) { return std::string(c.field ? "true" : "false"); }

std::string ValidateListen(const std::string& value, std::string* host, std::uint16_t* port);

const std::vector<Setting>& Settings() {
  static const std::vector<Setting> kSettings = {
      {"data_dir", Kind::kString, 1, 4096, "directory holding the metadata store, datasets and secrets",
       [](Config& c, std::int64_t, const std::string& t) { c.data_dir = t; return std::string(); },
       [](const Config& c) { return c.data_dir; }},
      {"listen", Kind::kString, 1, 300, "HOST:PORT to serve on (port 0 picks a free port)",
       [](Config& c, std::int64_t, const std::string& t) {
         std::string host;
         std::uint16_t port;
         std::string error = ValidateListen(t, &host, &port);
         if (error.empty()) c.listen = t;
         return error;
       },
       [](const Config& c) { return c.listen; }},
      {"demo", Kind::kBool, 0, 1, "bootstrap a 'demo' tenant with an owner key on first start", QUARRY_BOOL(demo)},
      {"server.io_threads", Kind::kInt, 1, 256, "threads running network I/O", QUARRY_INT(io_threads)},
      {"server.blocking_threads", Kind::kInt, 1, 1024, "threads running handlers that touch the store or files", QUARRY_INT(blocking_threads)},
      {"server.max_connections", Kind::kInt, 1, 1'000'000, "open connections accepted at once", QUARRY_INT(max_connections)},
      {"server.max_header_bytes", Kind::kBytes, 1024, 1 << 20, "largest request header", QUARRY_BYTES(max_header_bytes)},
      {"server.max_json_body_bytes", Kind::kBytes, 1024, 64 << 20, "largest JSON request body", QUARRY_BYTES(max_json_body_bytes)},
      {"server.idle_timeout", Kind::kDuration, 100, 3'600'000, "how long a keep-alive connection may wait between requests", QUARRY_DURATION(idle_timeout)},
      {"server.read_timeout", Kind::kDuration, 100, 3'600'000, "how long a client may take to send one request", QUARRY_DURATION(read_timeout)},
      {"server.write_timeout", Kind::kDuration, 100, 3'600'000, "how long sending one response may take", QUARRY_DURATION(write_timeout)},
      {"server.shutdown_grace", Kind::kDuration, 0, 600'000, "how long in-flight requests may finish after SIGTERM", QUARRY_DURATION(shutdown_grace)},
      {"log.level", Kind::kString, 1, 10, "trace, debug, info, warn or error",
       [](Config& c, std::int64_t, const std::string& t) {
         static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn", "error"};
         if (!kLevels.count(t)) return std::string("expected one of trace, debug, info, warn, error");
         c.log_level = t;
         return std::string();
       },
       [](const Config& c) { return c.log_level; }},
      {"log.format", Kind::kString, 1, 10, "json or text",
       [](Config& c, std::int64_t, const std::string& t) {
         if (t != "json" && t != "text") return std::string("expected json or text");
         c.log_format = t;
         return std::string();
       },
       [](const Config& c) { return c.log_format; }},
      {"log.access", Kind::kBool, 0, 1, "write one access log line per request", QUARRY_BOOL(access_log)},
      {"metadata.url", Kind::kString, 1, 2048, "metadata store: 'sqlite' (embedded, in the data dir)",
       [](Config& c, std::int64_t, const std::string& t) {
         if (t != "sqlite") {
           return std::string("only 'sqlite' (the embedded store) is supported by this version; "
                              "PostgreSQL arrives with the scale-out mode");
         }
         c.metadata_url = t;
         return std::string();
       },
       [](const Config& c) { return c.metadata_url; }},
      {"metadata.busy_timeout", Kind::kDuration, 0, 600'000, "how long a store write waits for another writer", QUARRY_DURATION(metadata_busy_timeout)},
      {"auth.cache_refresh", Kind::kDuration, 10, 1'000, "how often key revocations and disabled tenants are picked up", QUARRY_DURATION(auth_cache_refresh)},
      {"auth.cache_max_entries", Kind::kInt, 1, 10'000'000, "API keys kept verified in memory", QUARRY_INT(auth_cache_max_entries)},
      {"auth.key_use_flush", Kind::kDuration, 100, 3'600'000, "how often keys' last-used times are written", QUARRY_DURATION(auth_key_use_flush)},
      {"auth.password_memory", Kind::kBytes, 64 << 10, 4LL << 30, "argon2id memory of one password hash (sign-in)", QUARRY_BYTES(auth_password_memory)},
      {"auth.password_time_cost", Kind::kInt, 1, 100, "argon2id passes of one password hash", QUARRY_INT(auth_password_time_cost)},
      {"auth.password_max_concurrent", Kind::kInt, 1, 256, "password hashes computed at once (others wait briefly, then 429 sign_in_busy)", QUARRY_INT(auth_password_max_concurrent)},
      {"auth.session_ttl", Kind::kDuration, 60'000, 30LL * 24 * 3'600'000, "a web session ends this long after sign-in", QUARRY_DURATION(auth_session_ttl)},
      {"auth.session_idle_timeout", Kind::kDuration, 60'000, 30LL * 24 * 3'600'000, "a web session unused this long ends", QUARRY_DURATION(auth_session_idle_timeout)},
      {"auth.cookie_secure", Kind::kBool, 0, 1, "mark the session cookie Secure (set it behind a TLS-terminating proxy)", QUARRY_BOOL(auth_cookie_secure)},
      {"auth.sign_in_failures_per_account", Kind::kInt, 1, 10'000, "failed sign-ins of one account per window before 429", QUARRY_INT(auth_sign_in_failures_per_account)},
      {"auth.sign_in_failures_per_address", Kind::kInt, 1, 1'000'000, "failed sign-ins from one address per window before 429", QUARRY_INT(auth_sign_in_failures_per_address)},
      {"auth.sign_in_failure_window", Kind::kDuration, 1'000, 24LL * 3'600'000, "the window failed sign-ins are counted over", QUARRY_DURATION(auth_sign_in_failure_window)},
      {"jobs.workers", Kind::kInt, 0, 256, "job worker threads run by `quarry serve` (0: none; use `quarry worker`)", QUARRY_INT(job_workers)},
      {"jobs.lease", Kind::kDuration, 1'000, 3'600'000, "how long a claimed job is leased before it must be renewed", QUARRY_DURATION(job_lease)},
      {"jobs.heartbeat", Kind::kDuration, 10, 600'000, "how often running jobs renew their lease and write progress", QUARRY_DURATION(job_heartbeat)},
      {"jobs.poll_interval", Kind::kDuration, 1, 60'000, "how often idle workers look for work", QUARRY_DURATION(job_poll_interval)},
      {"jobs.rescue_interval", Kind::kDuration, 10, 600'000, "how often jobs with expired leases are rescued", QUARRY_DURATION(job_rescue_interval)},
      {"jobs.retention", Kind::kDuration, 60'000, 3'650LL * 24 * 3'600'000, "how long finished jobs stay queryable", QUARRY_DURATION(job_retention)},
      {"jobs.shutdown_grace", Kind::kDuration, 0, 3'600'000, "how long running jobs may finish on shutdown before their leases are released", QUARRY_DURATION(job_shutdown_grace)},
      {"jobs.max_queued_per_tenant", Kind::kInt, 1, 10'000'000, "queued jobs a tenant may have (beyond: 429)", QUARRY_INT(job_max_queued_per_tenant)},
      {"jobs.max_running_per_tenant", Kind::kInt, 1, 10'000, "jobs of one tenant running at once", QUARRY_INT(job_max_running_per_tenant)},
      {"jobs.memory_budget", Kind::kBytes, 0, 1LL << 50, "memory the jobs of one process may need at once, by what each kind declares (0: no budget)", QUARRY_BYTES(job_memory_budget)},
      {"ingest.max_upload_bytes", Kind::kBytes, 1, 1LL << 50, "largest upload a tenant may send (413 beyond)", QUARRY_BYTES(ingest_max_upload_bytes)},
      {"ingest.max_decompressed_bytes", Kind::kBytes, 1, 1LL << 50, "largest size a compressed upload may expand to", QUARRY_BYTES(ingest_max_decompressed_bytes)},
      {"ingest.max_line_bytes", Kind::kBytes, 1024, 1LL << 30, "longest line (row) of a CSV upload", QUARRY_BYTES(ingest_max_line_bytes)},
      {"ingest.memory_limit", Kind::kBytes, 64LL << 20, 1LL << 40, "DuckDB memory limit of one ingestion", QUARRY_BYTES(ingest_memory_limit)},
      {"ingest.threads", Kind::kInt, 1, 256, "DuckDB threads of one ingestion", QUARRY_INT(ingest_threads)},
      {"ingest.tenant_storage_quota", Kind::kBytes, 0, 1LL << 50, "dataset bytes a tenant may store (all versions)", QUARRY_BYTES(ingest_tenant_storage_quota)},
      {"ingest.keep_versions", Kind::kInt, 1, 1'000'000, "newest versions kept per dataset; older ones (never the current one) are deleted after each publish", QUARRY_INT(ingest_keep_versions)},
      {"ingest.upload_expiry", Kind::kDuration, 60'000, 30LL * 24 * 3'600'000, "how long an incomplete resumable upload is kept after its last write", QUARRY_DURATION(ingest_upload_expiry)},
      {"ingest.preserve_row_order", Kind::kBool, 0, 1, "keep the uploaded file's row order in the dataset (ingestion about 13% slower)", QUARRY_BOOL(ingest_preserve_row_order)},
      {"quota.datasets", Kind::kInt, 0, 1'000'000, "datasets a tenant may have (tenants may be given their own)", QUARRY_INT(quota_datasets)},
      {"quota.requests_per_second", Kind::kInt, 0, 1'000'000, "requests per second per API key, bursts of twice that (0: no limit; tenants may be given their own)", QUARRY_INT(quota_requests_per_second)},
      {"audit.retention", Kind::kDuration, 3'600'000, 100LL * 365 * 24 * 3'600'000, "how long audit events are kept", QUARRY_DURATION(audit_retention)},
      {"audit.query_text", Kind::kBool, 0, 1, "record each query's SQL text in the audit log (otherwise its SHA-256)", QUARRY_BOOL(audit_query_text)},
      {"jobs.allow_test_kinds", Kind::kBool, 0, 1, "let API users submit the test kinds 'sleep' and 'noop'", QUARRY_BOOL(job_allow_test_kinds)},
      {"query.threads", Kind::kInt, 1, 256, "DuckDB threads of one tenant's query engine", QUARRY_INT(query_threads)},
      {"query.memory_limit", Kind::kBytes, 64LL << 20, 1LL << 40, "memory of one tenant's query engine (beyond it, queries spill, then fail)", QUARRY_BYTES(query_memory_limit)},
      {"query.max_temp_bytes", Kind::kBytes, 0, 1LL << 50, "spill space of one tenant's query engine", QUARRY_BYTES(query_max_temp_bytes)},
      {"query.max_engines", Kind::kInt, 1, 100'000, "tenant query engines kept open (least recently used closed first)", QUARRY_INT(query_max_engines)},
      {"query.engine_idle_timeout", Kind::kDuration, 1'000, 7LL * 24 * 3'600'000, "a tenant's query engine is closed after this long unused", QUARRY_DURATION(query_engine_idle_timeout)},
      {"query.default_timeout", Kind::kDuration, 1, 24LL * 3'600'000, "statement timeout when a query names none", QUARRY_DURATION(query_default_timeout)},
      {"query.max_timeout", Kind::kDuration, 1, 24LL * 3'600'000, "largest statement timeout a query may ask for", QUARRY_DURATION(query_max_timeout)},
      {"query.default_rows", Kind::kInt, 1, 100'000'000, "rows a query returns when it names no limit (truncated beyond)", QUARRY_INT(query_default_rows)},
      {"query.max_rows", Kind::kInt, 1, 100'000'000, "largest row limit a query may ask for", QUARRY_INT(query_max_rows)},
      {"query.max_result_bytes", Kind::kBytes, 1024, 1LL << 40, "text of one answer's values at most (truncated beyond)", QUARRY_BYTES(query_max_result_bytes)},
      {"query.max_export_rows", Kind::kInt, 1, 1LL << 40, "rows of one streamed answer (format=csv) at most, and its default limit", QUARRY_INT(query_max_export_rows)},
      {"query.cache_bytes", Kind::kBytes, 0, 1LL << 40, "memory for cached query answers (0: no cache)", QUARRY_BYTES(query_cache_bytes)},
      {"query.max_concurrent", Kind::kInt, 0, 10'000, "queries of all tenants running at once (beyond: 429 server_busy); 0: half of server.blocking_threads, so uploads and other requests always find a thread", QUARRY_INT(query_max_concurrent)},
      {"query.max_concurrent_per_tenant", Kind::kInt, 1, 10'000, "queries of one tenant running at once (beyond: 429)", QUARRY_INT(query_max_concurrent_per_tenant)},
  };
  return kSettings;
}

std::string EnvNameFor(const std::string& key) {
  std::string env = "QUARRY_";
  for (char c : key) env += c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return env;
}

// Environment variables read by Quarry's client commands, not the server's configuration.
const std::set<std::string>& ClientEnvironment() {
  static const std::set<std::string> kNames = {"QUARRY_URL", "QUARRY_API_KEY", "QUARRY_CONFIG"};
  return kNames;
}

std::string ParseBool(const std::string& text, std::int64_t* out) {
  std::string lower = text;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  if (lower == "true" || lower == "1" || lower == "yes" || lower == "on") *out = 1;
  else if (lower == "false" || lower == "0" || lower == "no" || lower == "off") *out = 0;
  else return "expected true or false";
  return "";
}

// Parses "<integer><unit>" where unit is one of `units` (with its multiplier).
std::string ParseWithUnits(const std::string& text,
                           const std::vector<std::pair<std::string, std::int64_t>>& units,
                           const char* example, std::int64_t* out) {
  std::int64_t number = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || ptr == text.data() || number < 0) {
    return fmt::format("'{}' is not a non-negative number; e.g. {}", text, example);
  }
  std::string unit(ptr, text.data() + text.size());
  for (const auto& [name, multiplier] : units) {
    if (unit == name) {
      if (number > INT64_MAX / multiplier) return fmt::format("'{}' is too large", text);
      *out = number * multiplier;
      return "";
    }
  }
  return fmt::format("'{}' has an unknown unit; e.g. {}", text, example);
}

std::string ParseValue(const Setting& s, const std::string& text, std::int64_t* number) {
  switch (s.kind) {
    case Kind::kString:
      if (static_cast<std::int64_t>(text.size()) < s.min || static_cast<std::int64_t>(text.size()) > s.max) {
        return fmt::format("expected {} to {} characters", s.min, s.max);
      }
      if (text.find('\0') != std::string::npos) return "contains a NUL byte";
      return "";
    case Kind::kBool:
      return ParseBool(text, number);
    case Kind::kInt: {
      std::string error = ParseWithUnits(text, {{"", 1}}, "8", number);
      if (!error.empty()) return error;
      break;
    }
    case Kind::kBytes: {
      std::string error = ParseWithUnits(
          text, {{"", 1}, {"B", 1}, {"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}}, "1MiB", number);
      if (!error.empty()) return error;
      break;
    }
    case Kind::kDuration: {
      std::string error = ParseWithUnits(
          text, {{"", 1}, {"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}}, "30s", number);
      if (!error.empty()) return error;
      break;
    }
  }
  if (*number < s.min || *number > s.max) {
    if (s.kind == Kind::kDuration) {
      return fmt::format("'{}' is out of range; expected {} to {}", text,
                         FormatDuration(std::chrono::milliseconds(s.min)),
                         FormatDuration(std::chrono::milliseconds(s.max)));
    }
    return fmt::format("'{}' is out of range; expected {} to {}", text, s.min, s.max);
  }
  return "";
}

const Setting* FindSetting(const std::string& key) {
  for (const auto& s : Settings()) {
    if (key == s.key) return &s;
  }
  return nullptr;
}

Status Apply(Config& config, const std::string& key, const std::string& value,
             const std::string& source) {
  const Setting* setting = FindSetting(key);
  if (!setting) {
    return InvalidArgument("unknown_config_key",
                           fmt::format("unknown configuration key '{}' ({}); `quarry config print` "
                                       "lists the keys that exist",
                                       key, source));
  }
  std::int64_t number = 0;
  std::string error = ParseValue(*setting, value, &number);
  if (error.empty()) error = setting->set(config, number, value);
  if (!error.empty()) {
    return InvalidArgument("invalid_config",
                           fmt::format("configuration key '{}' ({}): {}", key, source, error));
  }
  return Status::Ok();
}

Status FlattenYaml(const YAML::Node& node, const std::string& prefix,
                   std::vector<std::pair<std::string, std::string>>* out, const std::string& file) {
  if (!node.IsMap()) {
    return InvalidArgument("invalid_config",
                           fmt::format("configuration file {}: expected a mapping{}", file,
                                       prefix.empty() ? "" : " at '" + prefix + "'"));
  }
  for (const auto& entry : node) {
    std::string key = prefix.empty() ? entry.first.as<std::string>()
                                     : prefix + "." + entry.first.as<std::string>();
    const YAML::Node& value = entry.second;
    if (value.IsMap()) {
      QUARRY_RETURN_IF_ERROR(FlattenYaml(value, key, out, file));
    } else if (value.IsScalar()) {
      out->emplace_back(key, value.as<std::string>());
    } else if (value.IsNull()) {
      return InvalidArgument("invalid_config",
                             fmt::format("configuration key '{}' ({}): has no value", key, file));
    } else {
      return InvalidArgument("invalid_config",
                             fmt::format("configuration key '{}' ({}): expected a single value", key, file));
    }
  }
  return Status::Ok();
}

std::string ValidateListen(const std::string& value, std::string* host, std::uint16_t* port) {
  std::size_t colon = value.rfind(':');
  if (colon == std::string::npos || colon == 0) return "expected HOST:PORT, e.g. 127.0.0.1:8080";
  std::string h = value.substr(0, colon);
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  std::string p = value.substr(colon + 1);
  unsigned number = 0;
  auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), number);
  if (ec != std::errc() || ptr != p.data() + p.size() || p.empty() || number > 65535) {
    return "the port must be a number from 0 to 65535";
  }
  if (h == "localhost") h = "127.0.0.1";
  *host = h;
  *port = static_cast<std::uint16_t>(number);
  return "";
}

// Redacts the password of a URL ("scheme://user:password@host" -> "scheme://user:***@host").
std::string Redact(const std::string& value) {
  std::size_t scheme = value.find("://");
  std::size_t at = value.find('@');
  if (scheme == std::string::npos || at == std::string::npos || at < scheme) return value;
  std::size_t colon = value.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return value;
  return value.substr(0, colon + 1) + "***" + value.substr(at);
}

}  // namespace

std::string Config::listen_host() const {
  std::string host;
  std::uint16_t port = 0;
  ValidateListen(listen, &host, &port);
  return host;
}

std::uint16_t Config::listen_port() const {
  std::string host;
  std::uint16_t port = 0;
  ValidateListen(listen, &host, &port);
  return port;
}

Result<Config> LoadConfig(const ConfigSources& sources) {
  Config config;
  if (sources.yaml_file) {
    YAML::Node root;
    try {
      root = YAML::LoadFile(*sources.yaml_file);
    } catch (const YAML::BadFile&) {
      return InvalidArgument("invalid_config", fmt::format("configuration file {} cannot be read; "
                                                           "check the path and its permissions",
                                                           *sources.yaml_file));
    } catch (const YAML::Exception& e) {
      return InvalidArgument("invalid_config",
                             fmt::format("configuration file {} is not valid YAML: {}",
                                         *sources.yaml_file, e.what()));
    }
    if (!root.IsNull()) {
      std::vector<std::pair<std::string, std::string>> values;
      QUARRY_RETURN_IF_ERROR(FlattenYaml(root, "", &values, *sources.yaml_file));
      for (const auto& [key, value] : values) {
        QUARRY_RETURN_IF_ERROR(Apply(config, key, value, *sources.yaml_file));
      }
    }
  }
  for (const auto& [name, value] : sources.environment) {
    if (name.rfind("QUARRY_", 0) != 0 || ClientEnvironment().count(name)) continue;
    const Setting* match = nullptr;
    for (const auto& s : Settings()) {
      if (EnvNameFor(s.key) == name) match = &s;
    }
    if (!match) {
      return InvalidArgument("unknown_config_key",
                             fmt::format("unknown configuration variable {} (environment); "
                                         "`quarry config print` lists the keys that exist",
                                         name));
    }
    QUARRY_RETURN_IF_ERROR(Apply(config, match->key, value, "environment " + name));
  }
  for (const auto& [key, value] : sources.overrides) {
    QUARRY_RETURN_IF_ERROR(Apply(config, key, value, "command line"));
  }
  // Settings that only make sense together.
  if (config.job_heartbeat * 3 > config.job_lease) {
    return InvalidArgument(
        "invalid_config",
        fmt::format("jobs.heartbeat ({}) must be at most a third of jobs.lease ({}), or running jobs "
                    "lose their leases between heartbeats; shorten jobs.heartbeat or lengthen jobs.lease",
                    FormatDuration(config.job_heartbeat), FormatDuration(config.job_lease)));
  }
  return config;
}

std::map<std::string, std::string> QuarryEnvironment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string entry(*e);
    if (entry.rfind("QUARRY_", 0) != 0) continue;
    std::size_t eq = entry.find('=');
    if (eq == std::string::npos) continue;
    env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  return env;
}

std::string RenderConfig(const Config& config, const ConfigSources& sources) {
  std::set<std::string> from_file;
  if (sources.yaml_file) {
    try {
      std::vector<std::pair<std::string, std::string>> values;
      if (FlattenYaml(YAML::LoadFile(*sources.yaml_file), "", &values, *sources.yaml_file).ok()) {
        for (const auto& kv : values) from_file.insert(kv.first);
      }
    } catch (const YAML::Exception&) {
    }
  }
  std::string out = "# Effective Quarry configuration (key: value  # source)\n";
  for (const auto& s : Settings()) {
    std::string source = "default";
    if (from_file.count(s.key)) source = *sources.yaml_file;
    if (sources.environment.count(EnvNameFor(s.key))) source = "environment " + EnvNameFor(s.key);
    for (const auto& kv : sources.overrides) {
      if (kv.first == s.key) source = "command line";
    }
    std::string value;
    for (char c : Redact(s.get(config))) {
      if (c == '"' || c == '\\') value += '\\';
      value += c;
    }
    out += fmt::format("{}: \"{}\"  # {}; {}\n", s.key, value, source, s.description);
  }
  return out;
}

}  // namespace quarry
