// TenantEngines: layer 2 of the query sandbox. One in-memory DuckDB instance per tenant, opened
// on first use and configured before any tenant SQL runs: its own threads, memory_limit and temp
// directory (with max_temp_directory_size), extension autoload/autoinstall off, external access
// off except the tenant's own dataset storage (allowed_directories), then lock_configuration
// (engine/engine.h). A statement that slipped past the guard still cannot read another tenant's
// files, the host's files or the network, nor change those settings.
//
// Instances are cached: least recently used first out when more than `max_instances` are open,
// and closed after `idle_timeout` without use. An instance in use by a query stays alive until
// that query ends (shared ownership), even if evicted meanwhile.
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <atomic>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "engine/engine.h"
#include "query/connection_pool.h"
#include "storage/object_store.h"

namespace quarry::query {

struct EngineLimits {
  int threads = 2;
  std::int64_t memory_limit_bytes = 1LL << 30;
  std::int64_t max_temp_bytes = 10LL << 30;
  std::string temp_root;  // each tenant's spill directory is temp_root/{tenant id}
  std::size_t max_instances = 32;
  std::chrono::milliseconds idle_timeout{10 * 60 * 1000};
};

// What a tenant's engine may read: its storage prefix in the object store.
std::string TenantStoragePrefix(const std::string& tenant_id);

class TenantEngines {
 public:
  TenantEngines(ObjectStore& objects, EngineLimits limits, const Clock& clock)
      : objects_(objects), limits_(std::move(limits)), clock_(clock) {}

  // The tenant's engine (opened now if needed) and the directories its messages may mention,
  // which callers scrub from errors shown to users.
  struct Lease {
    std::shared_ptr<engine::Database> database;
    std::shared_ptr<ConnectionPool> connections;  // of `database`
    std::vector<std::string> private_paths;
  };
  // `memory_limit_bytes` (0: the configured limit) is the tenant's quota; an open engine with
  // another limit is replaced (queries holding the old one finish on it).
  Result<Lease> Get(const std::string& tenant_id, std::int64_t memory_limit_bytes = 0);
  std::size_t open_instances() const;
  const EngineLimits& limits() const { return limits_; }

 private:
  std::atomic<std::uint64_t> next_instance_{0};
  struct Entry {
    Lease lease;
    UnixMillis last_used = 0;
    std::int64_t memory_limit_bytes = 0;
  };
  void EvictLocked(UnixMillis now);

  ObjectStore& objects_;
  const EngineLimits limits_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;  // GUARDED_BY(mu_), by tenant id
};

}  // namespace quarry::query
