// Web sign-in's pieces as the configuration sets them up, for `quarry serve` and `quarry admin`.
#pragma once

#include <memory>

#include "auth/authenticator.h"
#include "auth/password.h"
#include "cli/data_dir.h"
#include "config/config.h"
#include "identity/session_service.h"
#include "meta/session_store.h"

namespace CLI {
class App;
}

namespace quarry::cli {

struct ConfigFlags;

// The session store on the data dir's metadata database.
Result<std::unique_ptr<SessionStore>> OpenSessionStore(const Config& config, const DataDirPaths& paths);
PasswordOptions PasswordOptionsFrom(const Config& config);
SessionOptions SessionOptionsFrom(const Config& config);
SessionAuthOptions SessionAuthOptionsFrom(const Config& config);

// `quarry admin user set-password --tenant T USER --password-file FILE`: the operator sets a
// user's password (so that a first sign-in is possible); the user's sessions are signed out.
void AddSetPasswordCommand(CLI::App* user_command, ConfigFlags* flags, int* exit_code);

}  // namespace quarry::cli
