// The `quarry` binary: `quarry serve`, `quarry config print`, `quarry admin ...`, `quarry version`.
#include <CLI/CLI.hpp>

#include <duckdb.h>

#include <fmt/format.h>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"Quarry: a multi-tenant analytics data server"};
  app.require_subcommand(1);
  int exit_code = 0;

  quarry::cli::ConfigFlags serve_flags;
  CLI::App* serve = app.add_subcommand("serve", "run the server (API and, later, workers)");
  quarry::cli::AddConfigFlags(serve, &serve_flags);
  serve->callback([&] { exit_code = quarry::cli::RunServe(serve_flags); });

  quarry::cli::ConfigFlags worker_flags;
  CLI::App* worker = app.add_subcommand("worker", "run job workers only, on the data dir of a running server");
  quarry::cli::AddConfigFlags(worker, &worker_flags);
  worker->callback([&] { exit_code = quarry::cli::RunWorker(worker_flags); });

  quarry::cli::ConfigFlags config_flags;
  CLI::App* config = app.add_subcommand("config", "inspect the configuration")->require_subcommand(1);
  CLI::App* print = config->add_subcommand("print", "print the effective configuration, secrets redacted");
  quarry::cli::AddConfigFlags(print, &config_flags);
  print->callback([&] { exit_code = quarry::cli::RunConfigPrint(config_flags); });

  quarry::cli::ConfigFlags admin_flags;
  quarry::cli::AddAdminCommands(app, &admin_flags, &exit_code);
  quarry::cli::AddJobCommands(app, &exit_code);
  quarry::cli::AddUploadCommands(app, &exit_code);
  quarry::cli::AddQueryCommands(app, &exit_code);

  app.add_subcommand("version", "print versions")->callback([&] {
    fmt::print("quarry {} (DuckDB {})\n", QUARRY_VERSION, duckdb_library_version());
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return exit_code;
}
