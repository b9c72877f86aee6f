// Settings shared by the processes that run job workers (`quarry serve`, `quarry worker`).
#pragma once

#include <string>

#include "cli/data_dir.h"
#include "audit/audit_log.h"
#include "config/config.h"
#include "ingest/ingest_handler.h"
#include "ingest/ingest_request.h"
#include "meta/upload_store.h"
#include "jobs/job_service.h"
#include "jobs/worker_pool.h"

namespace quarry::cli {

std::string HostName();
jobs::WorkerPoolOptions WorkerOptionsFrom(const Config& config, const DataDirPaths& paths, std::string owner_prefix);
jobs::JobServiceOptions JobServiceOptionsFrom(const Config& config);
ingest::IngestOptions IngestOptionsFrom(const Config& config, const DataDirPaths& paths);

// What the job handlers reach (all outlive the registry).
struct HandlerStores {
  MetaStore& meta;
  DatasetStore& datasets;
  AccessStore& access;
  ObjectStore& objects;
};

// Registers the job kinds a worker process runs: the ingestion (which re-checks, as each attempt
// starts, that its user may still change the dataset: access::RequireJobWrite), and the test kinds
// when allowed. `audit` (optional): where the ingestion records the versions it publishes.
void RegisterHandlers(jobs::HandlerRegistry& registry, const Config& config, const DataDirPaths& paths,
                      const HandlerStores& stores, const Clock& clock, audit::AuditLog* audit = nullptr);

// Start-up housekeeping: deletes pending dataset versions whose job ended and dataset files the
// registry does not know. The server, which holds the data-dir lock and is not serving yet
// (`uploads` given), also deletes upload files nothing needs any more: partial bodies (*.part),
// and stored or resumable uploads that no queued or running ingestion and no incomplete
// resumable upload refers to (a job failed by lease expiry never ran its handler's cleanup).
void SweepAtStartup(const DataDirPaths& paths, DatasetStore& datasets, ObjectStore& objects, JobStore* jobs = nullptr,
                    UploadStore* uploads = nullptr);

}  // namespace quarry::cli
