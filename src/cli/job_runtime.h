// Settings shared by the processes that run job workers (`quarry serve`, `quarry worker`).
#pragma once

#include <string>

#include "cli/data_dir.h"
#include "config/config.h"
#include "jobs/job_service.h"
#include "jobs/worker_pool.h"

namespace quarry::cli {

std::string HostName();
jobs::WorkerPoolOptions WorkerOptionsFrom(const Config& config, const DataDirPaths& paths, std::string owner_prefix);
jobs::JobServiceOptions JobServiceOptionsFrom(const Config& config);

}  // namespace quarry::cli
