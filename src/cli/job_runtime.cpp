#include "cli/job_runtime.h"

#include <unistd.h>

#include <algorithm>

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
  o.workers = std::max(1, c.job_workers);
  return o;
}

}  // namespace quarry::cli
