// `quarry admin`: local administration of tenants, users and keys, acting as the operator on the
// data dir's metadata store directly. Safe while a server runs on the same data dir: the store
// serializes writers, and the server picks up revocations and disabled tenants through the
// identity epoch within a second.
#include <CLI/CLI.hpp>

#include <fmt/format.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/web_sign_in.h"
#include "common/clock.h"
#include "identity/identity_service.h"
#include "jobs/job_service.h"

namespace quarry::cli {
namespace {

struct AdminArgs {
  std::string tenant, slug, name, email, role, user, key_id, scopes;
  std::optional<std::string> owner_email;
  std::optional<int> expires_in_days;
  bool operator_key = false;
  int limit = 1000;
  int weight = 1;
};

std::string Time(const std::optional<UnixMillis>& t) { return t ? FormatRfc3339(*t) : "-"; }

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ",") + i;
  return out;
}

std::vector<std::string> Split(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    if (comma > start) out.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

// Runs `body` with an open store and the local operator principal; maps errors to exit codes.
int WithIdentity(const ConfigFlags& flags,
                 const std::function<Status(IdentityService&, const Principal&)>& body) {
  auto config = LoadConfigOrReport(flags);
  if (!config) return 2;
  DataDirPaths paths{config->data_dir};
  // Refuse a data dir that was never initialized: a mistyped --data-dir must not silently
  // create an empty store.
  if (::access(paths.meta_db().c_str(), F_OK) != 0) {
    fmt::print(stderr, "error: no Quarry data dir at {} (no meta.db); start `quarry serve --data-dir {}` "
               "once first, or pass the right --data-dir\n", paths.root, paths.root);
    return 1;
  }
  auto store = OpenMetaStore(*config, paths);
  if (!store.ok()) {
    fmt::print(stderr, "error: {}\n", store.status().message());
    return 1;
  }
  IdentityService identity(**store, SystemClock::Instance());
  Status st = body(identity, Principal::LocalOperator());
  if (!st.ok()) {
    fmt::print(stderr, "error: {}\n", st.message());
    return st.category() == ErrorCode::kInvalidArgument ? 2 : 1;
  }
  return 0;
}

Result<std::string> TenantId(IdentityService& identity, const Principal& op, const std::string& ref) {
  QUARRY_ASSIGN_OR_RETURN(Tenant tenant, identity.GetTenant(op, ref));
  return tenant.id;
}

template <typename T, typename F>
Status ForEachPage(F fetch, const std::function<void(const T&)>& print) {
  PageRequest page{"", 1000};
  while (true) {
    QUARRY_ASSIGN_OR_RETURN(Page<T> result, fetch(page));
    for (const auto& item : result.items) print(item);
    if (!result.next_cursor) return Status::Ok();
    page.after_id = *result.next_cursor;
  }
}

void PrintKey(const ApiKey& k) {
  fmt::print("{:<32} {:<16} {:<20} {:<18} {:<24} {:<24} {}\n", k.id, k.prefix, k.name.substr(0, 20),
             Join(k.scopes), Time(k.expires_at), Time(k.revoked_at), Time(k.last_used_at));
}

}  // namespace

void AddAdminCommands(CLI::App& app, ConfigFlags* flags, int* exit_code) {
  auto args = std::make_shared<AdminArgs>();
  CLI::App* admin = app.add_subcommand("admin", "manage tenants, users and API keys on this data dir");
  admin->require_subcommand(1);
  AddConfigFlags(admin, flags);

  // ---- tenants
  CLI::App* tenant = admin->add_subcommand("tenant", "tenants")->require_subcommand(1);
  CLI::App* tc = tenant->add_subcommand("create", "create a tenant (and optionally its owner and key)");
  tc->add_option("--slug", args->slug, "unique short name: lowercase letters, digits, '-'")->required();
  tc->add_option("--name", args->name, "display name")->required();
  tc->add_option("--owner-email", args->owner_email, "also create this owner and print an owner key");
  tc->callback([=] {
    *exit_code = WithIdentity(*flags, [&](IdentityService& identity, const Principal& op) -> Status {
      QUARRY_ASSIGN_OR_RETURN(CreatedTenant created,
                              identity.CreateTenant(op, NewTenant{args->slug, args->name, args->owner_email}));
      fmt::print("created tenant {} ({})\n", created.tenant.slug, created.tenant.id);
      if (created.owner_key) {
        fmt::print("owner {} key (shown once):\n{}\n", created.owner->email, created.owner_key->token);
      }
      return Status::Ok();
    });
  });
  tenant->add_subcommand("list", "list tenants")->callback([=] {
    *exit_code = WithIdentity(*flags, [&](IdentityService& identity, const Principal& op) -> Status {
      fmt::print("{:<32} {:<24} {:<10} {}\n", "ID", "SLUG", "STATUS", "NAME");
      return ForEachPage<Tenant>([&](const PageRequest& p) { return identity.ListTenants(op, p); },
                                 [](const Tenant& t) {
                                   fmt::print("{:<32} {:<24} {:<10} {}\n", t.id, t.slug, ToString(t.status), t.name);
                                 });
    });
  });
  for (const char* verb : {"disable", "enable"}) {
    CLI::App* td = tenant->add_subcommand(verb, std::string(verb) + " a tenant (takes effect within a second)");
    td->add_option("tenant", args->tenant, "tenant slug or id")->required();
    const std::string status = std::string(verb) == "disable" ? "disabled" : "active";
    td->callback([=] {
      *exit_code = WithIdentity(*flags, [&](IdentityService& identity, const Principal& op) -> Status {
        QUARRY_ASSIGN_OR_RETURN(Tenant t, identity.UpdateTenant(op, args->tenant, std::nullopt, status));
        fmt::print("tenant {} is {}\n", t.slug, ToString(t.status));
        return Status::Ok();
      });
    });
  }

  CLI::App* tw = tenant->add_subcommand("set-weight", "set a tenant's weight in the fair job claim (1-1000; default 1)");
  tw->add_option("tenant", args->tenant, "tenant slug or id")->required();
  tw->add_option("weight", args->weight, "a backlogged tenant of weight w gets w times the worker time of weight 1")
      ->required()
      ->check(CLI::Range(1, jobs::kMaxTenantWeight));
  tw->callback([=] {
    *exit_code = WithIdentity(*flags, [&](IdentityService& identity, const Principal& op) -> Status {
      QUARRY_ASSIGN_OR_RETURN(Tenant tenant, identity.GetTenant(op, args->tenant));
      auto config = LoadConfigOrReport(*flags);
      if (!config) return InvalidArgument("invalid_config", "the configuration could not be loaded");
      QUARRY_ASSIGN_OR_RETURN(auto job_store, OpenJobStore(*config, DataDirPaths{config->data_dir}));
      QUARRY_RETURN_IF_ERROR(job_store->SetTenantWeight(tenant.id, args->weight));
      fmt::print("tenant {} has job weight {}\n", tenant.slug, args->weight);
      return Status::Ok();
    });
  });

  // ---- users
  CLI::App* user = admin->add_subcommand("user", "users of a tenant")->require_subcommand(1);
  CLI::App* uc = user->add_subcommand("create", "create a user");
  uc->add_option("--tenant", args->tenant, "tenant slug or id")->required();
  uc->add_option("--email", args->email)->required();
  uc->add_option("--role", args->role, "owner, admin, analyst or viewer")->required();
  uc->callback([=] {
    *exit_code = WithIdentity(*flags, [&](IdentityService& identity, const Principal& op) -> Status {
      QUARRY_ASSIGN_OR_RETURN(std::string tenant_id, TenantId(identity, op, args->tenant));
      QUARRY_ASSIGN_OR_RETURN(User u, identity.CreateUser(op, tenant_id, NewUser{args->email, args->role}));
      fmt::print("created user {} ({}, {})\n", u.email, u.id, ToString(u.role));
      return Status::Ok();
    });
  });
  CLI::App* ul = user->add_subcommand("list", "list a tenant's users");
  ul->add_option("--tenant", args->tenant, "tenant slug or id")->required();
  ul->callback([=] {
    *exit_code = WithIdentity(*flags, [&](IdentityService& identity, const Principal& op) -> Status {
      QUARRY_ASSIGN_OR_RETURN(std::string tenant_id, TenantId(identity, op, args->tenant));
      fmt::print("{:<32} {:<40} {:<8} {}\n", "ID", "EMAIL", "ROLE", "STATUS");
      return ForEachPage<User>([&](const PageRequest& p) { return identity.ListUsers(op, tenant_id, p); },
                               [](const User& u) {
                                 fmt::print("{:<32} {:<40} {:<8} {}\n", u.id, u.email, ToString(u.role),
                                            ToString(u.status));
                               });
    });
  });
  for (const char* verb : {"disable", "enable"}) {
    CLI::App* ud = user->add_subcommand(verb, std::string(verb) + " a user (takes effect within a second)");
    ud->add_option("--tenant", args->tenant, "tenant slug or id")->required();
    ud->add_option("user", args->user, "user email or id")->required();
    const std::string status = std::string(verb) == "disable" ? "disabled" : "active";
    ud->callback([=] {
      *exit_code = WithIdentity(*flags, [&](IdentityService& identity, const Principal& op) -> Status {
        QUARRY_ASSIGN_OR_RETURN(std::string tenant_id, TenantId(identity, op, args->tenant));
        QUARRY_ASSIGN_OR_RETURN(User u, identity.UpdateUser(op, tenant_id, args->user, UserChanges{std::nullopt, status}));
        fmt::print("user {} is {}\n", u.email, ToString(u.status));
        return Status::Ok();
      });
    });
  }

  AddSetPasswordCommand(user, flags, exit_code);

  // ---- keys
  CLI::App* key = admin->add_subcommand("key", "API keys")->require_subcommand(1);
  CLI::App* kc = key->add_subcommand("create", "create an API key and print its secret once");
  kc->add_option("--tenant", args->tenant, "tenant slug or id");
  kc->add_option("--user", args->user, "user email or id (tenant keys)");
  kc->add_flag("--operator", args->operator_key, "create an operator key instead");
  kc->add_option("--name", args->name, "what the key is for")->required();
  kc->add_option("--scopes", args->scopes, "comma-separated: read,write,admin (default: all the role allows)");
  kc->add_option("--expires-in-days", args->expires_in_days, "1..3650 (default: never)");
  kc->callback([=] {
    *exit_code = WithIdentity(*flags, [&](IdentityService& identity, const Principal& op) -> Status {
      std::string tenant_id;
      NewKey request{args->name, std::nullopt, std::nullopt, args->expires_in_days};
      if (!args->operator_key) {
        if (args->tenant.empty() || args->user.empty()) {
          return InvalidArgument("missing_flag", "name --tenant and --user, or pass --operator");
        }
        QUARRY_ASSIGN_OR_RETURN(tenant_id, TenantId(identity, op, args->tenant));
        request.user_id = args->user;
      }
      if (!args->scopes.empty()) request.scopes = Split(args->scopes);
      QUARRY_ASSIGN_OR_RETURN(CreatedKey created, identity.CreateKey(op, tenant_id, request));
      fmt::print(stderr, "created key {} ({}); the secret is shown once:\n", created.key.id, Join(created.key.scopes));
      fmt::print("{}\n", created.token);
      return Status::Ok();
    });
  });
  CLI::App* kl = key->add_subcommand("list", "list keys of a tenant (or --operator keys)");
  kl->add_option("--tenant", args->tenant, "tenant slug or id");
  kl->add_flag("--operator", args->operator_key, "list operator keys");
  kl->callback([=] {
    *exit_code = WithIdentity(*flags, [&](IdentityService& identity, const Principal& op) -> Status {
      std::string tenant_id;
      if (!args->operator_key) {
        if (args->tenant.empty()) return InvalidArgument("missing_flag", "name --tenant, or pass --operator");
        QUARRY_ASSIGN_OR_RETURN(tenant_id, TenantId(identity, op, args->tenant));
      }
      fmt::print("{:<32} {:<16} {:<20} {:<18} {:<24} {:<24} {}\n", "ID", "PREFIX", "NAME", "SCOPES", "EXPIRES",
                 "REVOKED", "LAST USED");
      return ForEachPage<ApiKey>([&](const PageRequest& p) { return identity.ListKeys(op, tenant_id, p); },
                                 PrintKey);
    });
  });
  CLI::App* kr = key->add_subcommand("revoke", "revoke a key (takes effect within a second)");
  kr->add_option("--tenant", args->tenant, "tenant slug or id (omit for operator keys)");
  kr->add_option("key", args->key_id, "key id (key_...)")->required();
  kr->callback([=] {
    *exit_code = WithIdentity(*flags, [&](IdentityService& identity, const Principal& op) -> Status {
      std::string tenant_id;
      if (!args->tenant.empty()) {
        QUARRY_ASSIGN_OR_RETURN(tenant_id, TenantId(identity, op, args->tenant));
      }
      QUARRY_ASSIGN_OR_RETURN(ApiKey k, identity.RevokeKey(op, tenant_id, args->key_id));
      fmt::print("revoked key {} ({})\n", k.id, k.prefix);
      return Status::Ok();
    });
  });
}

}  // namespace quarry::cli
