// Settings shared by the processes that run job workers (`quarry serve`, `quarry worker`).
#pragma once

#include <string>

#include "cli/data_dir.h"
#include "config/config.h"
#include "ingest/ingest_handler.h"
#include "jobs/job_service.h"
#include "jobs/worker_pool.h"

namespace quarry::cli {

std::string HostName();
jobs::WorkerPoolOptions WorkerOptionsFrom(const Config& config, const DataDirPaths& paths, std::string owner_prefix);
jobs::JobServiceOptions JobServiceOptionsFrom(const Config& config);
ingest::IngestOptions IngestOptionsFrom(const Config& config, const DataDirPaths& paths);

// Registers the job kinds a worker process runs: the ingestion, and the test kinds when allowed.
void RegisterHandlers(jobs::HandlerRegistry& registry, const Config& config, const DataDirPaths& paths,
                      DatasetStore& datasets, ObjectStore& objects, const Clock& clock);

// Start-up housekeeping of a process that holds the data dir or runs workers: deletes partial
// uploads (*.part; only the server, which holds the data-dir lock, may), pending dataset
// versions whose job ended, and dataset files the registry does not know.
void SweepAtStartup(const DataDirPaths& paths, DatasetStore& datasets, ObjectStore& objects, bool holds_lock);

}  // namespace quarry::cli
