#include "config/config.h"

#include <gtest/gtest.h>

#include "common/testing/temp_dir.h"
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace quarry {
namespace {

using namespace std::chrono_literals;

// Every key the configuration knows, in the order RenderConfig prints them.
const std::vector<std::string> kAllKeys = {
    "data_dir",
    "listen",
    "demo",
    "server.io_threads",
    "server.blocking_threads",
    "server.max_connections",
    "server.max_header_bytes",
    "server.max_json_body_bytes",
    "server.idle_timeout",
    "server.read_timeout",
    "server.write_timeout",
    "server.shutdown_grace",
    "log.level",
    "log.format",
    "log.access",
    "metadata.url",
    "metadata.busy_timeout",
    "auth.cache_refresh",
    "auth.cache_max_entries",
    "auth.key_use_flush",
    "auth.password_memory",
    "auth.password_time_cost",
    "auth.password_max_concurrent",
    "auth.session_ttl",
    "auth.session_idle_timeout",
    "auth.cookie_secure",
    "auth.sign_in_failures_per_account",
    "auth.sign_in_failures_per_address",
    "auth.sign_in_failure_window",
    "jobs.workers",
    "jobs.lease",
    "jobs.heartbeat",
    "jobs.poll_interval",
    "jobs.rescue_interval",
    "jobs.retention",
    "jobs.shutdown_grace",
    "jobs.max_queued_per_tenant",
    "jobs.max_running_per_tenant",
    "jobs.memory_budget",
    "ingest.max_upload_bytes",
    "ingest.max_decompressed_bytes",
    "ingest.max_line_bytes",
    "ingest.memory_limit",
    "ingest.threads",
    "ingest.tenant_storage_quota",
    "ingest.upload_expiry",
    "ingest.keep_versions",
    "ingest.preserve_row_order",
    "quota.datasets",
    "quota.requests_per_second",
    "audit.retention",
    "audit.query_text",
    "jobs.allow_test_kinds",
    "query.threads",
    "query.memory_limit",
    "query.max_temp_bytes",
    "query.max_engines",
    "query.engine_idle_timeout",
    "query.default_timeout",
    "query.max_timeout",
    "query.default_rows",
    "query.max_rows",
    "query.max_concurrent_per_tenant",
    "query.cache_bytes",
    "query.max_result_bytes",
    "query.max_export_rows",
    "query.max_concurrent",
};

class ConfigTest : public ::testing::Test {
 protected:
  std::string WriteYaml(const std::string& text, const std::string& name = "quarry.yaml") {
    const std::string path = (dir_ / name).string();
    std::ofstream out(path);
    out << text;
    out.close();
    EXPECT_TRUE(out.good());
    return path;
  }

  testing::TempDir temp_{"config"};
  const std::filesystem::path dir_ = temp_.path();
};

Result<Config> LoadOverride(const std::string& key, const std::string& value) {
  ConfigSources sources;
  sources.overrides = {{key, value}};
  return LoadConfig(sources);
}

// Expects `result` to fail with `code`, with a message that names `key`.
void ExpectFailureNaming(const Result<Config>& result, const std::string& code, const std::string& key) {
  ASSERT_FALSE(result.ok()) << "expected an error naming " << key;
  EXPECT_EQ(result.status().category(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(result.status().code(), code);
  EXPECT_NE(result.status().message().find(key), std::string::npos)
      << "message does not name '" << key << "': " << result.status().message();
}

// Returns the line of `rendered` describing `key`, or "".
std::string LineFor(const std::string& rendered, const std::string& key) {
  std::istringstream in(rendered);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ": ", 0) == 0) return line;
  }
  return "";
}

TEST_F(ConfigTest, DefaultsWithNoSources) {
  auto config = LoadConfig(ConfigSources{});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->data_dir, "./data");
  EXPECT_EQ(config->listen, "127.0.0.1:8080");
  EXPECT_EQ(config->listen_host(), "127.0.0.1");
  EXPECT_EQ(config->listen_port(), 8080);
  EXPECT_FALSE(config->demo);
  EXPECT_EQ(config->io_threads, 2);
  EXPECT_EQ(config->blocking_threads, 8);
  EXPECT_EQ(config->max_connections, 1024);
  EXPECT_EQ(config->max_header_bytes, 16 * 1024);
  EXPECT_EQ(config->max_json_body_bytes, 1 << 20);
  EXPECT_EQ(config->idle_timeout, 60s);
  EXPECT_EQ(config->read_timeout, 30s);
  EXPECT_EQ(config->write_timeout, 30s);
  EXPECT_EQ(config->shutdown_grace, 10s);
  EXPECT_EQ(config->log_level, "info");
  EXPECT_EQ(config->log_format, "json");
  EXPECT_TRUE(config->access_log);
  EXPECT_EQ(config->metadata_url, "sqlite");
  EXPECT_EQ(config->metadata_busy_timeout, 5s);
  EXPECT_EQ(config->auth_cache_refresh, 250ms);
  EXPECT_EQ(config->auth_cache_max_entries, 100'000);
  EXPECT_EQ(config->auth_key_use_flush, 10s);
}

TEST_F(ConfigTest, YamlNestedKeys) {
  ConfigSources sources;
  sources.yaml_file = WriteYaml(
      "data_dir: /var/lib/quarry\n"
      "listen: 0.0.0.0:9000\n"
      "demo: true\n"
      "server:\n"
      "  io_threads: 4\n"
      "  max_json_body_bytes: 2MiB\n"
      "  read_timeout: 5s\n"
      "log:\n"
      "  level: debug\n"
      "  format: text\n"
      "  access: false\n"
      "auth:\n"
      "  cache_refresh: 100ms\n");
  auto config = LoadConfig(sources);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->data_dir, "/var/lib/quarry");
  EXPECT_EQ(config->listen_host(), "0.0.0.0");
  EXPECT_EQ(config->listen_port(), 9000);
  EXPECT_TRUE(config->demo);
  EXPECT_EQ(config->io_threads, 4);
  EXPECT_EQ(config->max_json_body_bytes, 2 << 20);
  EXPECT_EQ(config->read_timeout, 5s);
  EXPECT_EQ(config->log_level, "debug");
  EXPECT_EQ(config->log_format, "text");
  EXPECT_FALSE(config->access_log);
  EXPECT_EQ(config->auth_cache_refresh, 100ms);
  // Untouched keys keep their defaults.
  EXPECT_EQ(config->blocking_threads, 8);
  EXPECT_EQ(config->write_timeout, 30s);
}

TEST_F(ConfigTest, EmptyYamlFileMeansDefaults) {
  ConfigSources sources;
  sources.yaml_file = WriteYaml("# nothing configured\n");
  auto config = LoadConfig(sources);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->io_threads, 2);
}

TEST_F(ConfigTest, PrecedenceFileThenEnvironmentThenOverrides) {
  const std::string file =
      WriteYaml("server:\n  io_threads: 3\n  blocking_threads: 30\nlog:\n  level: warn\n");
  ConfigSources sources;
  sources.yaml_file = file;

  auto file_only = LoadConfig(sources);
  ASSERT_TRUE(file_only.ok()) << file_only.status().ToString();
  EXPECT_EQ(file_only->io_threads, 3);
  EXPECT_EQ(file_only->blocking_threads, 30);

  sources.environment = {{"QUARRY_SERVER_IO_THREADS", "4"}, {"QUARRY_LOG_LEVEL", "error"}};
  auto with_env = LoadConfig(sources);
  ASSERT_TRUE(with_env.ok()) << with_env.status().ToString();
  EXPECT_EQ(with_env->io_threads, 4);
  EXPECT_EQ(with_env->blocking_threads, 30);  // only in the file
  EXPECT_EQ(with_env->log_level, "error");

  sources.overrides = {{"server.io_threads", "5"}};
  auto with_flags = LoadConfig(sources);
  ASSERT_TRUE(with_flags.ok()) << with_flags.status().ToString();
  EXPECT_EQ(with_flags->io_threads, 5);
  EXPECT_EQ(with_flags->log_level, "error");
  EXPECT_EQ(with_flags->blocking_threads, 30);

  // Overrides apply in order: the last one wins.
  sources.overrides = {{"server.io_threads", "6"}, {"server.io_threads", "7"}};
  auto last_wins = LoadConfig(sources);
  ASSERT_TRUE(last_wins.ok()) << last_wins.status().ToString();
  EXPECT_EQ(last_wins->io_threads, 7);
}

TEST_F(ConfigTest, UnknownYamlKeyFailsNamingTheKey) {
  ConfigSources sources;
  sources.yaml_file = WriteYaml("server:\n  io_thread: 4\n");
  ExpectFailureNaming(LoadConfig(sources), "unknown_config_key", "server.io_thread");

  sources.yaml_file = WriteYaml("bogus: 1\n", "top.yaml");
  ExpectFailureNaming(LoadConfig(sources), "unknown_config_key", "bogus");
}

TEST_F(ConfigTest, UnknownEnvironmentVariableFailsNamingIt) {
  ConfigSources sources;
  sources.environment = {{"QUARRY_SERVER_IO_THREAD", "4"}};
  ExpectFailureNaming(LoadConfig(sources), "unknown_config_key", "QUARRY_SERVER_IO_THREAD");
}

TEST_F(ConfigTest, UnknownOverrideKeyFailsNamingIt) {
  ExpectFailureNaming(LoadOverride("server.nope", "1"), "unknown_config_key", "server.nope");
  // A YAML section name is not itself a key.
  ExpectFailureNaming(LoadOverride("server", "1"), "unknown_config_key", "server");
}

TEST_F(ConfigTest, NonQuarryEnvironmentIsIgnored) {
  ConfigSources sources;
  sources.environment = {{"HOME", "/root"}, {"PATH", "/bin"}, {"XQUARRY_LISTEN", "bad"}};
  auto config = LoadConfig(sources);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->listen, "127.0.0.1:8080");
}

TEST_F(ConfigTest, ClientEnvironmentVariablesAreIgnored) {
  ConfigSources sources;
  sources.environment = {{"QUARRY_URL", "http://localhost:9999"},
                         {"QUARRY_API_KEY", "qk_not_a_setting"},
                         {"QUARRY_CONFIG", "/nonexistent/quarry.yaml"}};
  auto config = LoadConfig(sources);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->listen, "127.0.0.1:8080");
  // Nor are they reported as the source of anything.
  const std::string rendered = RenderConfig(*config, sources);
  EXPECT_EQ(rendered.find("QUARRY_URL"), std::string::npos);
  EXPECT_EQ(rendered.find("QUARRY_API_KEY"), std::string::npos);
}

TEST_F(ConfigTest, BadValuesFailNamingTheKey) {
  struct Case {
    std::string key;
    std::string value;
  };
  const std::vector<Case> cases = {
      {"server.io_threads", "abc"},                      // not an integer
      {"server.io_threads", "4.5"},                      // not an integer
      {"server.io_threads", "-1"},                       // negative
      {"server.io_threads", "0"},                        // below the minimum
      {"server.io_threads", "257"},                      // above the maximum
      {"server.io_threads", ""},                         // empty
      {"server.io_threads", "4 "},                       // trailing garbage
      {"server.io_threads", "99999999999999999999999"},  // overflows int64
      {"server.max_connections", "1000001"},
      {"server.read_timeout", "30x"},  // unknown duration unit
      {"server.read_timeout", "30sec"},
      {"server.read_timeout", "s"},     // no number
      {"server.read_timeout", "50ms"},  // below 100ms
      {"server.read_timeout", "2h"},    // above 1h
      {"server.idle_timeout", "-5s"},
      {"server.max_header_bytes", "512"},   // below 1KiB
      {"server.max_header_bytes", "1TiB"},  // unknown size unit
      {"server.max_header_bytes", "1mb"},
      {"server.max_json_body_bytes", "65MiB"},  // above 64MiB
      {"auth.cache_refresh", "2s"},             // above 1s
      {"demo", "maybe"},                        // not a bool
      {"demo", "2"},
      {"log.access", ""},
      {"log.level", "verbose"},
      {"log.format", "xml"},
      {"metadata.url", "postgres://quarry@db/quarry"},
      {"data_dir", ""},               // at least one character
      {"listen", "nohost"},           // no port
      {"listen", "127.0.0.1:70000"},  // port out of range
      {"listen", "127.0.0.1:65536"},
      {"listen", ":8080"},           // no host
      {"listen", "127.0.0.1:"},      // no port
      {"listen", "127.0.0.1:http"},  // port not a number
      {"listen", "127.0.0.1:-1"},
      {"listen", "127.0.0.1:80x"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.key + "=" + c.value);
    ExpectFailureNaming(LoadOverride(c.key, c.value), "invalid_config", c.key);
  }
}

TEST_F(ConfigTest, BadValueFromEnvironmentNamesKeyAndVariable) {
  ConfigSources sources;
  sources.environment = {{"QUARRY_SERVER_READ_TIMEOUT", "10parsecs"}};
  auto config = LoadConfig(sources);
  ExpectFailureNaming(config, "invalid_config", "server.read_timeout");
  EXPECT_NE(config.status().message().find("QUARRY_SERVER_READ_TIMEOUT"), std::string::npos);
}

TEST_F(ConfigTest, BadValueFromFileNamesKeyAndFile) {
  ConfigSources sources;
  sources.yaml_file = WriteYaml("listen: 127.0.0.1:70000\n");
  auto config = LoadConfig(sources);
  ExpectFailureNaming(config, "invalid_config", "listen");
  EXPECT_NE(config.status().message().find(*sources.yaml_file), std::string::npos);
}

TEST_F(ConfigTest, YamlStructureErrors) {
  struct Case {
    std::string yaml;
    std::string key;  // named in the message ("" when the whole file is wrong)
  };
  const std::vector<Case> cases = {
      {"server:\n  io_threads:\n", "server.io_threads"},         // no value
      {"server:\n  io_threads: [1, 2]\n", "server.io_threads"},  // a sequence
      {"just a string\n", ""},                                   // not a mapping
      {"- a\n- b\n", ""},                                        // a sequence at the top
  };
  int n = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.yaml);
    ConfigSources sources;
    sources.yaml_file = WriteYaml(c.yaml, "structure" + std::to_string(n++) + ".yaml");
    auto config = LoadConfig(sources);
    ASSERT_FALSE(config.ok());
    EXPECT_EQ(config.status().code(), "invalid_config");
    if (!c.key.empty()) {
      EXPECT_NE(config.status().message().find(c.key), std::string::npos) << config.status().message();
    }
  }
}

TEST_F(ConfigTest, SizesAndDurations) {
  struct Case {
    std::string key;
    std::string value;
    std::int64_t expected;  // bytes or milliseconds
  };
  const std::vector<Case> cases = {
      {"server.max_json_body_bytes", "1MiB", 1 << 20},
      {"server.max_json_body_bytes", "64KiB", 64 << 10},
      {"server.max_json_body_bytes", "2048", 2048},
      {"server.max_json_body_bytes", "4096B", 4096},
      {"server.max_header_bytes", "1KiB", 1024},
      {"server.max_json_body_bytes", "64MiB", 64 << 20},  // the maximum is inclusive
      {"server.read_timeout", "500ms", 500},
      {"server.read_timeout", "30s", 30'000},
      {"server.read_timeout", "2m", 120'000},
      {"server.read_timeout", "1h", 3'600'000},
      {"server.read_timeout", "250", 250},    // no unit: milliseconds
      {"server.read_timeout", "100ms", 100},  // the minimum is inclusive
      {"server.shutdown_grace", "0s", 0},
      {"auth.cache_refresh", "500ms", 500},
      {"auth.key_use_flush", "30s", 30'000},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.key + "=" + c.value);
    auto config = LoadOverride(c.key, c.value);
    ASSERT_TRUE(config.ok()) << config.status().ToString();
    std::int64_t actual = -1;
    if (c.key == "server.max_json_body_bytes") actual = config->max_json_body_bytes;
    if (c.key == "server.max_header_bytes") actual = config->max_header_bytes;
    if (c.key == "server.read_timeout") actual = config->read_timeout.count();
    if (c.key == "server.shutdown_grace") actual = config->shutdown_grace.count();
    if (c.key == "auth.cache_refresh") actual = config->auth_cache_refresh.count();
    if (c.key == "auth.key_use_flush") actual = config->auth_key_use_flush.count();
    EXPECT_EQ(actual, c.expected);
  }
}

TEST_F(ConfigTest, Booleans) {
  struct Case {
    std::string value;
    bool expected;
  };
  const std::vector<Case> cases = {{"true", true}, {"TRUE", true}, {"1", true},
                                   {"yes", true},  {"on", true},   {"false", false},
                                   {"0", false},   {"No", false},  {"off", false}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.value);
    auto config = LoadOverride("demo", c.value);
    ASSERT_TRUE(config.ok()) << config.status().ToString();
    EXPECT_EQ(config->demo, c.expected);
  }
}

TEST_F(ConfigTest, ListenHostAndPort) {
  struct Case {
    std::string listen;
    std::string host;
    std::uint16_t port;
  };
  const std::vector<Case> cases = {
      {"127.0.0.1:8080", "127.0.0.1", 8080},
      {"0.0.0.0:0", "0.0.0.0", 0},
      {"[::1]:0", "::1", 0},
      {"[::]:443", "::", 443},
      {"localhost:8080", "127.0.0.1", 8080},
      {"example.internal:65535", "example.internal", 65535},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.listen);
    auto config = LoadOverride("listen", c.listen);
    ASSERT_TRUE(config.ok()) << config.status().ToString();
    EXPECT_EQ(config->listen, c.listen);  // the setting keeps what was written
    EXPECT_EQ(config->listen_host(), c.host);
    EXPECT_EQ(config->listen_port(), c.port);
  }
}

TEST_F(ConfigTest, MissingFileFails) {
  ConfigSources sources;
  sources.yaml_file = (dir_ / "does-not-exist.yaml").string();
  auto config = LoadConfig(sources);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), "invalid_config");
  EXPECT_NE(config.status().message().find("does-not-exist.yaml"), std::string::npos);
}

TEST_F(ConfigTest, InvalidYamlFails) {
  ConfigSources sources;
  sources.yaml_file = WriteYaml("server: {io_threads: 4\nlog: [\n");
  auto config = LoadConfig(sources);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), "invalid_config");
  EXPECT_NE(config.status().message().find("not valid YAML"), std::string::npos) << config.status().message();
  EXPECT_NE(config.status().message().find(*sources.yaml_file), std::string::npos);
}

TEST_F(ConfigTest, RenderConfigListsEveryKeyWithItsSource) {
  ConfigSources sources;
  sources.yaml_file = WriteYaml("server:\n  io_threads: 3\nlog:\n  level: warn\n");
  sources.environment = {{"QUARRY_LOG_LEVEL", "debug"}, {"QUARRY_SERVER_READ_TIMEOUT", "2m"}};
  sources.overrides = {{"server.read_timeout", "45s"}, {"demo", "true"}};
  auto config = LoadConfig(sources);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  const std::string rendered = RenderConfig(*config, sources);

  for (const auto& key : kAllKeys) {
    EXPECT_NE(LineFor(rendered, key), "") << "missing key " << key << " in:\n" << rendered;
  }
  // Exactly these keys (plus the header comment) are printed.
  std::istringstream in(rendered);
  std::string line;
  int key_lines = 0;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] != '#') ++key_lines;
  }
  EXPECT_EQ(key_lines, static_cast<int>(kAllKeys.size()));

  EXPECT_NE(LineFor(rendered, "server.io_threads").find("\"3\"  # " + *sources.yaml_file), std::string::npos)
      << LineFor(rendered, "server.io_threads");
  EXPECT_NE(LineFor(rendered, "log.level").find("\"debug\"  # environment QUARRY_LOG_LEVEL"),
            std::string::npos)
      << LineFor(rendered, "log.level");
  EXPECT_NE(LineFor(rendered, "server.read_timeout").find("\"45s\"  # command line"), std::string::npos)
      << LineFor(rendered, "server.read_timeout");
  EXPECT_NE(LineFor(rendered, "demo").find("\"true\"  # command line"), std::string::npos);
  EXPECT_NE(LineFor(rendered, "server.blocking_threads").find("\"8\"  # default"), std::string::npos);
  EXPECT_NE(LineFor(rendered, "server.max_json_body_bytes").find("\"1MiB\"  # default"), std::string::npos)
      << LineFor(rendered, "server.max_json_body_bytes");
  EXPECT_NE(LineFor(rendered, "auth.cache_refresh").find("\"250ms\"  # default"), std::string::npos);
}

TEST_F(ConfigTest, RenderConfigRedactsPasswordsInUrls) {
  ConfigSources sources;
  sources.overrides = {{"data_dir", "s3://quarry:hunter2@storage.internal/bucket"}};
  auto config = LoadConfig(sources);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  const std::string rendered = RenderConfig(*config, sources);
  EXPECT_EQ(rendered.find("hunter2"), std::string::npos) << rendered;
  EXPECT_NE(LineFor(rendered, "data_dir").find("s3://quarry:***@storage.internal/bucket"), std::string::npos)
      << LineFor(rendered, "data_dir");
}

TEST_F(ConfigTest, QuarryEnvironmentReadsOnlyQuarryVariables) {
  ASSERT_EQ(setenv("QUARRY_CONFIG_TEST_PROBE", "a=b", 1), 0);
  ASSERT_EQ(setenv("NOT_QUARRY_CONFIG_TEST_PROBE", "x", 1), 0);
  auto env = QuarryEnvironment();
  unsetenv("QUARRY_CONFIG_TEST_PROBE");
  unsetenv("NOT_QUARRY_CONFIG_TEST_PROBE");
  ASSERT_EQ(env.count("QUARRY_CONFIG_TEST_PROBE"), 1u);
  EXPECT_EQ(env["QUARRY_CONFIG_TEST_PROBE"], "a=b");  // split at the first '='
  EXPECT_EQ(env.count("NOT_QUARRY_CONFIG_TEST_PROBE"), 0u);
  for (const auto& [name, value] : env) EXPECT_EQ(name.rfind("QUARRY_", 0), 0u) << name;
}

}  // namespace
}  // namespace quarry

namespace quarry {
namespace {

TEST(ConfigCrossChecks, HeartbeatMustBeWellUnderTheLease) {
  ConfigSources sources;
  sources.overrides = {{"jobs.lease", "3s"}, {"jobs.heartbeat", "2s"}};
  auto config = LoadConfig(sources);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), "invalid_config");
  EXPECT_NE(config.status().message().find("jobs.heartbeat (2s)"), std::string::npos) << config.status().message();
  EXPECT_NE(config.status().message().find("jobs.lease (3s)"), std::string::npos);
  sources.overrides = {{"jobs.lease", "6s"}, {"jobs.heartbeat", "2s"}};
  EXPECT_TRUE(LoadConfig(sources).ok());
}

}  // namespace
}  // namespace quarry

namespace quarry {
namespace {

TEST(ConfigWebSignIn, DefaultsFollowRfc9106AndTestsMayLowerThem) {
  auto defaults = LoadConfig(ConfigSources{});
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->auth_password_memory, 64LL << 20);
  EXPECT_EQ(defaults->auth_password_time_cost, 3);
  EXPECT_EQ(defaults->auth_session_ttl.count(), 12 * 3'600'000);
  EXPECT_EQ(defaults->auth_session_idle_timeout.count(), 3'600'000);
  EXPECT_FALSE(defaults->auth_cookie_secure);
  EXPECT_EQ(defaults->auth_sign_in_failures_per_account, 5);
  EXPECT_EQ(defaults->auth_sign_in_failures_per_address, 50);
  EXPECT_EQ(defaults->auth_sign_in_failure_window.count(), 15 * 60'000);

  ConfigSources sources;
  sources.overrides = {{"auth.password_memory", "64KiB"}, {"auth.password_time_cost", "1"},
                       {"auth.cookie_secure", "true"}, {"auth.session_idle_timeout", "5m"}};
  auto lowered = LoadConfig(sources);
  ASSERT_TRUE(lowered.ok()) << lowered.status().ToString();
  EXPECT_EQ(lowered->auth_password_memory, 64 << 10);
  EXPECT_EQ(lowered->auth_password_time_cost, 1);
  EXPECT_TRUE(lowered->auth_cookie_secure);
  EXPECT_EQ(lowered->auth_session_idle_timeout.count(), 300'000);

  sources.overrides = {{"auth.password_memory", "8KiB"}};  // below what argon2id with 4 lanes needs
  auto too_small = LoadConfig(sources);
  ASSERT_FALSE(too_small.ok());
  EXPECT_NE(too_small.status().message().find("auth.password_memory"), std::string::npos);
}

}  // namespace
}  // namespace quarry
