// Configuration: defaults, then a YAML file (--config), then QUARRY_* environment variables,
// then command-line flags; each later source overrides the earlier ones.
//
// Every setting has one dotted key (e.g. "server.read_timeout"), used in YAML (nested maps),
// in the environment (QUARRY_ + key upper-cased with '.' -> '_', e.g. QUARRY_SERVER_READ_TIMEOUT)
// and in `--set key=value`. An unknown key or a bad value is an error naming the key and its
// source; nothing starts with a configuration that did not validate.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace quarry {

struct Config {
  std::string data_dir = "./data";
  std::string listen = "127.0.0.1:8080";
  bool demo = false;

  int io_threads = 2;
  int blocking_threads = 8;
  int max_connections = 1024;
  std::int64_t max_header_bytes = 16 * 1024;
  std::int64_t max_json_body_bytes = 1 << 20;
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds read_timeout{30'000};
  std::chrono::milliseconds write_timeout{30'000};
  std::chrono::milliseconds shutdown_grace{10'000};

  std::string log_level = "info";
  std::string log_format = "json";
  bool access_log = true;

  std::string metadata_url = "sqlite";  // the embedded store in the data dir
  std::chrono::milliseconds metadata_busy_timeout{5'000};

  std::chrono::milliseconds auth_cache_refresh{250};
  int auth_cache_max_entries = 100'000;
  std::chrono::milliseconds auth_key_use_flush{10'000};
  // Web sign-in (docs/security.md, "Web sign-in").
  std::int64_t auth_password_memory = 64LL << 20;  // argon2id memory per hash (RFC 9106: 64 MiB)
  int auth_password_time_cost = 3;                 // argon2id passes
  int auth_password_max_concurrent = 2;            // hashes computed at once
  std::chrono::milliseconds auth_session_ttl{12 * 3'600'000};
  std::chrono::milliseconds auth_session_idle_timeout{3'600'000};
  bool auth_cookie_secure = false;  // add Secure to the session cookie (true behind a TLS proxy)
  int auth_sign_in_failures_per_account = 5;
  int auth_sign_in_failures_per_address = 50;
  std::chrono::milliseconds auth_sign_in_failure_window{15 * 60'000};

  int job_workers = 2;  // in-process workers of `quarry serve` (0: none)
  std::chrono::milliseconds job_lease{30'000};
  std::chrono::milliseconds job_heartbeat{2'000};
  std::chrono::milliseconds job_poll_interval{250};
  std::chrono::milliseconds job_rescue_interval{1'000};
  std::chrono::milliseconds job_retention{7LL * 24 * 3'600'000};
  std::chrono::milliseconds job_shutdown_grace{30'000};
  int job_max_queued_per_tenant = 10'000;
  int job_max_running_per_tenant = 2;
  std::int64_t job_memory_budget = 0;  // bytes; 0 = no budget
  std::int64_t ingest_max_upload_bytes = 10LL << 30;
  std::int64_t ingest_max_decompressed_bytes = 64LL << 30;
  std::int64_t ingest_max_line_bytes = 2LL << 20;  // DuckDB sizes its CSV buffers at 16x this
  std::int64_t ingest_memory_limit = 1LL << 30;
  int ingest_threads = 2;
  int ingest_keep_versions = 20;
  bool ingest_preserve_row_order = false;
  std::int64_t quota_datasets = 10'000;             // datasets a tenant may have
  std::int64_t quota_requests_per_second = 1'000;  // per API key; 0: no limit
  std::chrono::milliseconds audit_retention{365LL * 24 * 3'600'000};
  bool audit_query_text = false;  // record queries' SQL text instead of its SHA-256  // newest versions kept per dataset (older ones deleted)
  std::int64_t ingest_tenant_storage_quota = 100LL << 30;
  std::chrono::milliseconds ingest_upload_expiry{24 * 3'600'000LL};
  bool job_allow_test_kinds = false;
  int query_threads = 2;                            // DuckDB threads of one tenant's engine
  std::int64_t query_memory_limit = 1LL << 30;      // memory of one tenant's engine
  std::int64_t query_max_temp_bytes = 10LL << 30;   // spill space of one tenant's engine
  int query_max_engines = 32;                       // tenant engines kept open
  std::chrono::milliseconds query_engine_idle_timeout{600'000};
  std::chrono::milliseconds query_default_timeout{30'000};
  std::chrono::milliseconds query_max_timeout{300'000};
  int query_default_rows = 10'000;
  int query_max_rows = 100'000;
  int query_max_concurrent_per_tenant = 2;
  int query_max_concurrent = 0;  // all tenants at once; 0: half of server.blocking_threads (at least 1)
  std::int64_t query_cache_bytes = 256LL << 20;     // result cache (0: off)
  std::int64_t query_max_result_bytes = 64LL << 20; // one answer's values (truncated beyond)
  std::int64_t query_max_export_rows = 10'000'000;  // rows of one streamed (CSV) answer

  // Listen address split into host and port (valid after a successful load).
  std::string listen_host() const;
  std::uint16_t listen_port() const;
};

struct ConfigSources {
  std::optional<std::string> yaml_file;
  std::map<std::string, std::string> environment;  // usually the process environment
  // From flags, applied last, in order: {key, value}.
  std::vector<std::pair<std::string, std::string>> overrides;
};

// Loads and validates. Errors are InvalidArgument with code "invalid_config" (or
// "unknown_config_key") and a message naming the key and where it came from.
Result<Config> LoadConfig(const ConfigSources& sources);

// The process environment as a map (only QUARRY_* variables).
std::map<std::string, std::string> QuarryEnvironment();

// The effective configuration as YAML-compatible "key: value  # source" lines, secrets
// (passwords inside URLs) redacted.
std::string RenderConfig(const Config& config, const ConfigSources& sources);

}  // namespace quarry
