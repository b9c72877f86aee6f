// `quarry worker`: job workers only, against the same data dir as a running `quarry serve`, so an
// operator can add worker processes. Claims are atomic across processes, so two processes never
// run the same job.
#include <signal.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/job_runtime.h"
#include "common/log.h"

namespace quarry::cli {

int RunWorker(const ConfigFlags& flags) {
  auto config_or = LoadConfigOrReport(flags);
  if (!config_or) return 2;
  Config config = *config_or;
  log::InitLogging(config.log_level, config.log_format == "json" ? log::Format::kJson : log::Format::kText);
  auto fail = [](const Status& st) {
    spdlog::critical("cannot start: {}", st.message());
    log::Flush();
    return 1;
  };
  DataDirPaths paths{config.data_dir};
  if (::access(paths.meta_db().c_str(), F_OK) != 0) {
    return fail(FailedPrecondition("no_data_dir", "no Quarry data dir at " + paths.root +
                                                      "; start `quarry serve` on it first"));
  }
  if (config.job_workers < 1) config.job_workers = 1;
  auto job_store = OpenJobStore(config, paths);
  if (!job_store.ok()) return fail(job_store.status());

  // Signals are taken synchronously by this thread; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto datasets = OpenDatasetStore(config, paths);
  if (!datasets.ok()) return fail(datasets.status());
  auto meta = OpenMetaStore(config, paths);
  if (!meta.ok()) return fail(meta.status());
  auto access_store = OpenAccessStore(config, paths);
  if (!access_store.ok()) return fail(access_store.status());
  auto objects = OpenLocalObjectStore(paths.storage());
  if (!objects.ok()) return fail(objects.status());

  // Published versions go to the same audit log as the server's events.
  auto audit_store = OpenAuditStore(config, paths);
  if (!audit_store.ok()) return fail(audit_store.status());
  audit::AuditLog audit_log(**audit_store, SystemClock::Instance(),
                            audit::AuditOptions{std::chrono::milliseconds(100), 10'000, config.audit_retention,
                                                config.audit_query_text});
  audit_log.Start();

  jobs::HandlerRegistry registry;
  RegisterHandlers(registry, config, paths, HandlerStores{**meta, **datasets, **access_store, **objects},
                   SystemClock::Instance(), &audit_log);
  // A worker process has no stable identity across runs: its pid makes its leases its own.
  jobs::WorkerPool pool(**job_store, registry, SystemClock::Instance(),
                        WorkerOptionsFrom(config, paths, "worker@" + HostName() + ":" + std::to_string(::getpid()) + "/"));
  if (Status st = pool.Start(); !st.ok()) return fail(st);
  spdlog::info("quarry worker running {} worker thread(s) on data dir {}", config.job_workers, config.data_dir);
  log::Flush();

  int received = 0;
  sigwait(&signals, &received);
  spdlog::info("received signal {}, stopping workers (grace {} ms)", received, config.job_shutdown_grace.count());
  pool.Stop(config.job_shutdown_grace);
  spdlog::info("quarry worker stopped");
  log::Flush();
  return 0;
}

}  // namespace quarry::cli
