// `quarry serve`: the embedded-mode server process.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "api/app.h"
#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/job_runtime.h"
#include "cli/web_sign_in.h"
#include "common/log.h"
#include "http/server.h"
#include "jobs/worker_pool.h"

namespace quarry::cli {
namespace {

http::ServerOptions ServerOptionsFrom(const Config& c) {
  http::ServerOptions o;
  o.host = c.listen_host();
  o.port = c.listen_port();
  o.io_threads = c.io_threads;
  o.blocking_threads = c.blocking_threads;
  o.max_connections = c.max_connections;
  o.max_header_bytes = static_cast<std::size_t>(c.max_header_bytes);
  o.idle_timeout = c.idle_timeout;
  o.read_timeout = c.read_timeout;
  o.write_timeout = c.write_timeout;
  o.shutdown_grace = c.shutdown_grace;
  return o;
}

// Persists a bootstrap secret (0600, the key alone on one line) before its key is committed.
auto SecretWriter(const std::string& path) {
  return [path](const CreatedKey& key) { return WriteFileAtomically(path, key.token + "\n", 0600); };
}

Status Bootstrap(IdentityService& identity, const DataDirPaths& paths, bool demo) {
  const std::string operator_path = paths.secrets() + "/operator.key";
  auto op = identity.EnsureOperatorKey(SecretWriter(operator_path));
  if (!op.ok()) return op.status();
  if (*op) {
    fmt::print("\nOperator key (manages tenants; shown once, saved to {}):\n  {}\n", operator_path,
               (*op)->token);
  }
  if (!demo) return Status::Ok();
  const std::string demo_path = paths.secrets() + "/demo.key";
  auto created = identity.EnsureDemoTenant(SecretWriter(demo_path));
  if (!created.ok()) return created.status();
  if (*created && (*created)->owner_key) {
    fmt::print("\nDemo tenant 'demo', owner {} (shown once, saved to {}):\n  {}\n",
               (*created)->owner->email, demo_path, (*created)->owner_key->token);
  }
  std::fflush(stdout);
  return Status::Ok();
}

}  // namespace

int RunServe(const ConfigFlags& flags) {
  auto config_or = LoadConfigOrReport(flags);
  if (!config_or) return 2;
  const Config& config = *config_or;
  log::InitLogging(config.log_level, config.log_format == "json" ? log::Format::kJson : log::Format::kText);
  log::SetAccessLog(config.access_log);

  DataDirPaths paths{config.data_dir};
  auto fail = [](const Status& st) {
    spdlog::critical("cannot start: {}", st.message());
    log::Flush();
    return 1;
  };
  if (Status st = PrepareDataDir(paths); !st.ok()) return fail(st);
  auto lock = LockDataDir(paths);
  if (!lock.ok()) return fail(lock.status());
  auto store = OpenMetaStore(config, paths);
  if (!store.ok()) return fail(store.status());
  auto objects = OpenLocalObjectStore(paths.storage());
  if (!objects.ok()) return fail(objects.status());
  auto job_store = OpenJobStore(config, paths);
  if (!job_store.ok()) return fail(job_store.status());
  auto datasets = OpenDatasetStore(config, paths);
  if (!datasets.ok()) return fail(datasets.status());
  auto access_store = OpenAccessStore(config, paths);
  if (!access_store.ok()) return fail(access_store.status());

  const Clock& clock = SystemClock::Instance();
  IdentityService identity(**store, clock);
  if (Status st = Bootstrap(identity, paths, config.demo); !st.ok()) return fail(st);

  Authenticator authenticator(**store, clock,
                              AuthenticatorOptions{config.auth_cache_refresh, config.auth_key_use_flush,
                                                   static_cast<std::size_t>(config.auth_cache_max_entries)});
  auto session_store = OpenSessionStore(config, paths);
  if (!session_store.ok()) return fail(session_store.status());
  authenticator.EnableSessions(**session_store, SessionAuthOptionsFrom(config));
  authenticator.StartBackgroundRefresh();

  auto audit_store = OpenAuditStore(config, paths);
  if (!audit_store.ok()) return fail(audit_store.status());
  audit::AuditLog audit_log(**audit_store, clock, audit::AuditOptions{std::chrono::milliseconds(100), 10'000,
                                                                       config.audit_retention, config.audit_query_text});
  audit_log.Start();
  jobs::HandlerRegistry registry;
  RegisterHandlers(registry, config, paths, HandlerStores{**store, **datasets, **access_store, **objects}, clock,
                   &audit_log);
  std::unique_ptr<jobs::WorkerPool> workers;
  if (config.job_workers > 0) {
    // Leases of this server's previous runs carry the same prefix and are expired at start.
    workers = std::make_unique<jobs::WorkerPool>(**job_store, registry, clock,
                                                 WorkerOptionsFrom(config, paths, "serve@" + HostName() + "/"));
    if (Status st = workers->Start(); !st.ok()) return fail(st);
  }
  auto upload_store = OpenUploadStore(config, paths);
  if (!upload_store.ok()) return fail(upload_store.status());
  // After Start: jobs of the previous run are requeued, so their pending versions and uploads are
  // kept. Before the server listens: no upload can arrive while the sweep runs.
  SweepAtStartup(paths, **datasets, **objects, job_store->get(), upload_store->get());
  jobs::JobService job_service(**job_store, registry, clock, JobServiceOptionsFrom(config),
                               [&workers] { if (workers) workers->Notify(); },
                               workers ? &workers->metrics() : nullptr);

  catalog::DatasetService dataset_service(
      **datasets, **access_store, **objects, job_service, clock,
      catalog::DatasetQuotas{config.ingest_tenant_storage_quota, config.quota_datasets, config.ingest_keep_versions,
                             config.ingest_max_upload_bytes});
  catalog::ResumableUploads resumable(**upload_store, dataset_service, clock,
                                      catalog::ResumableUploadOptions{paths.uploads(), config.ingest_max_upload_bytes,
                                                                      config.ingest_upload_expiry, config.ingest_max_line_bytes});
  (void)resumable.SweepExpired();
  // Spill files and Parquet exports of a previous run: nothing in query_tmp outlives a process.
  {
    std::error_code ec;
    std::filesystem::remove_all(paths.query_tmp(), ec);
    std::filesystem::create_directories(paths.query_tmp(), ec);
    std::filesystem::permissions(paths.query_tmp(), std::filesystem::perms::owner_all, ec);
  }
  query::GuardOptions guard_options;
  guard_options.temp_directory = paths.query_tmp() + "/.parser";
  auto guard = query::OpenStatementGuard(guard_options);
  if (!guard.ok()) return fail(guard.status());
  query::EngineLimits engine_limits;
  engine_limits.threads = config.query_threads;
  engine_limits.memory_limit_bytes = config.query_memory_limit;
  engine_limits.max_temp_bytes = config.query_max_temp_bytes;
  engine_limits.temp_root = paths.query_tmp();
  engine_limits.max_instances = static_cast<std::size_t>(config.query_max_engines);
  engine_limits.idle_timeout = config.query_engine_idle_timeout;
  query::TenantEngines engines(**objects, engine_limits, clock);
  query::QueryLimits query_limits;
  query_limits.max_timeout = config.query_max_timeout;
  query_limits.default_timeout = std::min(config.query_default_timeout, config.query_max_timeout);
  query_limits.max_rows = config.query_max_rows;
  query_limits.default_rows = std::min(config.query_default_rows, config.query_max_rows);
  query_limits.max_concurrent_per_tenant = config.query_max_concurrent_per_tenant;
  query_limits.max_concurrent_total =
      config.query_max_concurrent > 0 ? config.query_max_concurrent : std::max(1, config.blocking_threads / 2);
  query_limits.max_result_bytes = static_cast<std::size_t>(config.query_max_result_bytes);
  query_limits.max_export_rows = config.query_max_export_rows;
  query::ResultCache result_cache(static_cast<std::size_t>(config.query_cache_bytes));
  query::QueryService queries(**datasets, **access_store, **objects, **guard, engines, result_cache, clock, query_limits);

  queries.set_audit(&audit_log);

  quota::RateLimiter rate_limiter(clock);
  access::AccessService access_service(**access_store, **datasets, clock);
  PasswordHasher password_hasher(PasswordOptionsFrom(config));
  SessionService sessions(**store, **session_store, identity, authenticator, password_hasher, clock,
                          SessionOptionsFrom(config));
  sessions.set_audit(&audit_log);
  http::HttpMetrics metrics;
  api::AppContext app{config,      clock,       **store,
                      **objects,   authenticator, identity,
                      metrics,     job_service, **job_store,
                      workers ? &workers->metrics() : nullptr, dataset_service, resumable, paths.uploads(),
                      queries,     audit_log,   rate_limiter,
                      access_service, sessions};
  http::Router router(static_cast<std::size_t>(config.max_json_body_bytes));
  api::RegisterRoutes(router, app);

  auto server = http::CreateServer(ServerOptionsFrom(config), router, metrics);
  if (Status st = server->Start(); !st.ok()) return fail(st);
  const std::string address = server->BoundAddress();
  if (Status st = WriteFileAtomically(paths.server_addr(), address + "\n", 0644); !st.ok()) {
    spdlog::warn("{}", st.message());
  }
  spdlog::info("quarry {} listening on http://{} (data dir {})", QUARRY_VERSION, address, config.data_dir);
  fmt::print("\nQuarry is serving on http://{}\n", address);
  if (config.demo) {
    fmt::print("Try: curl -H \"Authorization: Bearer $(cat {}/demo.key)\" http://{}/v1/me\n",
               paths.secrets(), address);
  }
  std::fflush(stdout);
  log::Flush();

  server->RunUntilStopped();
  if (workers) workers->Stop(config.job_shutdown_grace);
  authenticator.Stop();
  ::unlink(paths.server_addr().c_str());
  spdlog::info("quarry stopped");
  log::Flush();
  ::close(*lock);
  return 0;
}

}  // namespace quarry::cli
