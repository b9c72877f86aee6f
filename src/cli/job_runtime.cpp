#include "cli/job_runtime.h"

#include "access/dataset_access.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include <spdlog/spdlog.h>

namespace quarry::cli {

std::string HostName() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

jobs::WorkerPoolOptions WorkerOptionsFrom(const Config& c, const DataDirPaths& paths, std::string owner_prefix) {
  jobs::WorkerPoolOptions o;
  o.owner_prefix = std::move(owner_prefix);
  o.workers = c.job_workers;
  o.lease = c.job_lease;
  o.heartbeat = c.job_heartbeat;
  o.poll_interval = c.job_poll_interval;
  o.rescue_interval = c.job_rescue_interval;
  o.retention = c.job_retention;
  o.max_running_per_tenant = c.job_max_running_per_tenant;
  o.memory_budget_bytes = c.job_memory_budget;
  o.scratch_root = paths.scratch();
  return o;
}

jobs::JobServiceOptions JobServiceOptionsFrom(const Config& c) {
  jobs::JobServiceOptions o;
  o.max_queued_per_tenant = c.job_max_queued_per_tenant;
  o.max_running_per_tenant = c.job_max_running_per_tenant;
  o.workers = std::max(1, c.job_workers);
  return o;
}

ingest::IngestOptions IngestOptionsFrom(const Config& c, const DataDirPaths& paths) {
  ingest::IngestOptions o;
  o.uploads_dir = paths.uploads();
  o.threads = c.ingest_threads;
  o.memory_limit_bytes = c.ingest_memory_limit;
  o.max_decompressed_bytes = c.ingest_max_decompressed_bytes;
  o.tenant_storage_quota_bytes = c.ingest_tenant_storage_quota;
  o.max_line_bytes = c.ingest_max_line_bytes;
  o.keep_versions = c.ingest_keep_versions;
  o.preserve_row_order = c.ingest_preserve_row_order;
  return o;
}

void RegisterHandlers(jobs::HandlerRegistry& registry, const Config& config, const DataDirPaths& paths,
                      const HandlerStores& stores, const Clock& clock, audit::AuditLog* audit) {
  jobs::RegisterBuiltinHandlers(registry, config.job_allow_test_kinds);
  const ingest::IngestOptions options = IngestOptionsFrom(config, paths);
  auto ingest = std::make_shared<ingest::IngestHandler>(stores.datasets, stores.objects, clock, options, audit);
  ingest->set_write_check([stores](const Job& job, const ingest::IngestRequest& request) {
    return access::RequireJobWrite(stores.meta, stores.datasets, stores.access, job.tenant_id, job.user_id,
                                   request.dataset, request.project_id);
  });
  registry.Register("ingest", ingest::IngestKindPolicy(options), std::move(ingest));
}

namespace {

void SweepUploadFiles(const DataDirPaths& paths, JobStore& jobs, UploadStore& uploads) {
  namespace fs = std::filesystem;
  auto payloads = jobs.ActivePayloads("ingest", 10'000'000);
  auto incomplete = uploads.ListIncompleteUploadIds(10'000'000);
  if (!payloads.ok() || !incomplete.ok()) {
    spdlog::warn("sweeping upload files skipped: the store could not be read");
    return;
  }
  std::set<std::string> needed;
  for (const auto& payload : *payloads) {
    auto request = ingest::IngestRequestFromJson(payload);
    if (request.ok()) needed.insert(fs::path(request->upload_path).filename().string());
  }
  for (const auto& id : *incomplete) needed.insert("tus_" + id);
  int removed = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(paths.uploads(), ec)) {
    const std::string name = entry.path().filename().string();
    const bool partial = entry.path().extension() == ".part";
    const bool stored = name.rfind("upl_", 0) == 0 || name.rfind("tus_", 0) == 0;
    if ((partial || (stored && !needed.count(name))) && fs::remove(entry.path(), ec)) ++removed;
  }
  if (removed > 0) spdlog::info("removed {} upload file(s) no job needs any more", removed);
}

}  // namespace

void SweepAtStartup(const DataDirPaths& paths, DatasetStore& datasets, ObjectStore& objects, JobStore* jobs,
                    UploadStore* uploads) {
  if (jobs && uploads) SweepUploadFiles(paths, *jobs, *uploads);
  auto swept = ingest::SweepAbandonedVersions(datasets, objects);
  if (!swept.ok()) {
    spdlog::warn("sweeping unpublished dataset versions failed: {}", swept.status().ToString());
  } else if (*swept > 0) {
    spdlog::info("removed {} unpublished dataset version(s) of ended jobs", *swept);
  }
  // Files first, then the registry: a version prepared after the listing has no file in it yet,
  // so nothing live is taken for an orphan.
  auto keys = objects.List("tenants/", 10'000'000);
  if (!keys.ok()) return;
  auto known = datasets.ListStoragePrefixes();
  if (!known.ok()) return;
  const std::set<std::string> prefixes(known->begin(), known->end());
  std::set<std::string> orphans;
  for (const auto& key : *keys) {
    // tenants/{t}/datasets/{d}/v{n}/file
    std::size_t slash = 0;
    for (int i = 0; i < 5 && slash != std::string::npos; ++i) slash = key.find('/', slash + 1);
    if (slash == std::string::npos || key.compare(key.find('/') + 1, 0, "") != 0) continue;
    const std::string prefix = key.substr(0, slash + 1);
    if (prefix.find("/datasets/") != std::string::npos && !prefixes.count(prefix)) orphans.insert(prefix);
  }
  for (const auto& prefix : orphans) {
    if (Status st = objects.DeletePrefix(prefix); !st.ok()) spdlog::warn("removing orphaned files failed: {}", st.ToString());
  }
  if (!orphans.empty()) spdlog::info("removed {} orphaned dataset version director(ies)", orphans.size());
}

}  // namespace quarry::cli
