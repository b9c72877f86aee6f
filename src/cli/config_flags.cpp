#include <CLI/CLI.hpp>

#include <cstdio>
#include <fmt/format.h>

#include "cli/commands.h"

namespace quarry::cli {

void AddConfigFlags(CLI::App* command, ConfigFlags* flags) {
  command->add_option("--config", flags->config_file, "YAML configuration file (also QUARRY_CONFIG)");
  command->add_option("--data-dir", flags->data_dir, "data directory (also QUARRY_DATA_DIR)");
  command->add_option("--listen", flags->listen, "HOST:PORT to serve on; port 0 picks one (also QUARRY_LISTEN)");
  command->add_flag("--demo", flags->demo, "on first start, create a 'demo' tenant and print its owner key");
  command->add_option("--set", flags->set, "override any configuration key: --set server.io_threads=4")
      ->take_all();
}

std::optional<Config> LoadConfigOrReport(const ConfigFlags& flags, ConfigSources* sources_out) {
  ConfigSources sources;
  sources.environment = QuarryEnvironment();
  sources.yaml_file = flags.config_file;
  if (!sources.yaml_file) {
    if (auto it = sources.environment.find("QUARRY_CONFIG"); it != sources.environment.end()) {
      sources.yaml_file = it->second;
    }
  }
  for (const auto& kv : flags.set) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      fmt::print(stderr, "error: --set expects key=value, got '{}'\n", kv);
      return std::nullopt;
    }
    sources.overrides.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  if (flags.data_dir) sources.overrides.emplace_back("data_dir", *flags.data_dir);
  if (flags.listen) sources.overrides.emplace_back("listen", *flags.listen);
  if (flags.demo) sources.overrides.emplace_back("demo", "true");
  auto config = LoadConfig(sources);
  if (!config.ok()) {
    fmt::print(stderr, "error: {}\n", config.status().message());
    return std::nullopt;
  }
  if (sources_out) *sources_out = sources;
  return std::move(config).value();
}

int RunConfigPrint(const ConfigFlags& flags) {
  ConfigSources sources;
  auto config = LoadConfigOrReport(flags, &sources);
  if (!config) return 2;
  fmt::print("{}", RenderConfig(*config, sources));
  return 0;
}

}  // namespace quarry::cli
