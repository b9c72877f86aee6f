// The `quarry` command line: `serve`, `config print`, `admin ...`, `version`.
// Each command returns a process exit code: 0 success, 1 runtime failure, 2 usage or config.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/config.h"

namespace CLI {
class App;
}

namespace quarry::cli {

// Flags every command that needs the configuration accepts.
struct ConfigFlags {
  std::optional<std::string> config_file;
  std::optional<std::string> data_dir;
  std::optional<std::string> listen;
  bool demo = false;
  std::vector<std::string> set;  // "key=value"
};

void AddConfigFlags(CLI::App* command, ConfigFlags* flags);
// Loads the configuration from file, environment and flags; on error prints it and returns
// nullopt (the caller exits with 2).
std::optional<Config> LoadConfigOrReport(const ConfigFlags& flags, ConfigSources* sources_out = nullptr);

int RunServe(const ConfigFlags& flags);
int RunWorker(const ConfigFlags& flags);
int RunConfigPrint(const ConfigFlags& flags);
void AddAdminCommands(CLI::App& app, ConfigFlags* flags, int* exit_code);
void AddJobCommands(CLI::App& app, int* exit_code);
void AddUploadCommands(CLI::App& app, int* exit_code);
void AddQueryCommands(CLI::App& app, int* exit_code);

}  // namespace quarry::cli
