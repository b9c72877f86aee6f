#include "cli/web_sign_in.h"

#include <CLI/CLI.hpp>

#include <fmt/format.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "common/clock.h"
#include "identity/identity_service.h"
#include "meta/sqlite/sqlite_session_store.h"

namespace quarry::cli {
namespace {

// The first line of `path` ("-": standard input), without its line end.
Result<std::string> ReadPasswordLine(const std::string& path) {
  std::string line;
  if (path == "-") {
    std::getline(std::cin, line);
  } else {
    std::ifstream in(path);
    if (!in) return InvalidArgument("invalid_password_file", "cannot read " + path + "; check the path");
    std::getline(in, line);
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

}  // namespace

Result<std::unique_ptr<SessionStore>> OpenSessionStore(const Config& config, const DataDirPaths& paths) {
  SqliteOptions options;
  options.path = paths.meta_db();
  options.busy_timeout_ms = static_cast<int>(config.metadata_busy_timeout.count());
  options.max_connections = std::max(4, config.blocking_threads + config.io_threads);  // /v1/me loads inline
  return OpenSqliteSessionStore(options);
}

PasswordOptions PasswordOptionsFrom(const Config& config) {
  PasswordOptions o;
  o.memory_kib = static_cast<std::uint32_t>(config.auth_password_memory / 1024);
  o.time_cost = static_cast<std::uint32_t>(config.auth_password_time_cost);
  o.max_concurrent = config.auth_password_max_concurrent;
  return o;
}

SessionOptions SessionOptionsFrom(const Config& config) {
  return SessionOptions{config.auth_session_ttl, config.auth_sign_in_failures_per_account,
                        config.auth_sign_in_failures_per_address, config.auth_sign_in_failure_window};
}

SessionAuthOptions SessionAuthOptionsFrom(const Config& config) {
  SessionAuthOptions o;
  o.idle_timeout = config.auth_session_idle_timeout;
  return o;
}

void AddSetPasswordCommand(CLI::App* user_command, ConfigFlags* flags, int* exit_code) {
  struct Args {
    std::string tenant, user, password_file;
  };
  auto args = std::make_shared<Args>();
  CLI::App* sp = user_command->add_subcommand(
      "set-password", "set a user's web sign-in password (read from a file's first line, '-' for stdin); "
                      "signs the user's sessions out");
  sp->add_option("--tenant", args->tenant, "tenant slug or id")->required();
  sp->add_option("user", args->user, "user email or id")->required();
  sp->add_option("--password-file", args->password_file, "file whose first line is the password ('-': stdin)")
      ->required();
  sp->callback([=] {
    auto config = LoadConfigOrReport(*flags);
    if (!config) {
      *exit_code = 2;
      return;
    }
    DataDirPaths paths{config->data_dir};
    if (::access(paths.meta_db().c_str(), F_OK) != 0) {
      fmt::print(stderr, "error: no Quarry data dir at {} (no meta.db); pass the right --data-dir\n", paths.root);
      *exit_code = 1;
      return;
    }
    Status st = [&]() -> Status {
      QUARRY_ASSIGN_OR_RETURN(std::string password, ReadPasswordLine(args->password_file));
      QUARRY_ASSIGN_OR_RETURN(auto store, OpenMetaStore(*config, paths));
      QUARRY_ASSIGN_OR_RETURN(auto sessions, OpenSessionStore(*config, paths));
      const Clock& clock = SystemClock::Instance();
      IdentityService identity(*store, clock);
      // This process serves nothing: its authenticator only receives ForgetSessions; the server
      // picks the revocations up through the identity epoch.
      Authenticator authenticator(*store, clock, AuthenticatorOptions{});
      PasswordHasher hasher(PasswordOptionsFrom(*config));
      SessionService service(*store, *sessions, identity, authenticator, hasher, clock, SessionOptionsFrom(*config));
      const Principal op = Principal::LocalOperator();
      QUARRY_ASSIGN_OR_RETURN(Tenant tenant, identity.GetTenant(op, args->tenant));
      QUARRY_RETURN_IF_ERROR(service.SetPassword(op, tenant.id, args->user, std::nullopt, password, "local"));
      fmt::print("password set for {} in tenant {}; their sessions are signed out\n", args->user, tenant.slug);
      return Status::Ok();
    }();
    if (!st.ok()) fmt::print(stderr, "error: {}\n", st.message());
    *exit_code = st.ok() ? 0 : st.category() == ErrorCode::kInvalidArgument ? 2 : 1;
  });
}

}  // namespace quarry::cli
