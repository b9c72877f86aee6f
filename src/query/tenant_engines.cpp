#include "query/tenant_engines.h"

#include <algorithm>

namespace quarry::query {

std::string TenantStoragePrefix(const std::string& tenant_id) { return "tenants/" + tenant_id + "/"; }

Result<TenantEngines::Lease> TenantEngines::Get(const std::string& tenant_id, std::int64_t memory_limit_bytes) {
  const UnixMillis now = clock_.NowMillis();
  const std::int64_t memory = memory_limit_bytes > 0 ? memory_limit_bytes : limits_.memory_limit_bytes;
  {
    std::lock_guard lock(mu_);
    EvictLocked(now);
    if (auto it = entries_.find(tenant_id); it != entries_.end()) {
      if (it->second.memory_limit_bytes == memory) {
        it->second.last_used = now;
        return it->second.lease;
      }
      entries_.erase(it);  // the tenant's memory quota changed
    }
  }
  // Opened outside the lock: it takes a few milliseconds, and other tenants must not wait.
  QUARRY_ASSIGN_OR_RETURN(std::string storage, objects_.ReadPrefixLocation(TenantStoragePrefix(tenant_id)));
  engine::EngineOptions options;
  options.threads = limits_.threads;
  options.memory_limit_bytes = memory;
  options.max_temp_directory_bytes = limits_.max_temp_bytes;
  // Each instance its own: a replaced engine (quota change) finishing its queries must not share
  // (nor, closing, delete) the spill files and exports of its successor.
  options.temp_directory = limits_.temp_root + "/" + tenant_id + "/" + std::to_string(next_instance_++);
  options.sandboxed = true;
  options.parquet_metadata_cache = true;  // dataset versions are immutable
  options.allowed_directories = {storage};
  QUARRY_ASSIGN_OR_RETURN(std::unique_ptr<engine::Database> opened, engine::OpenDatabase(options));
  std::shared_ptr<engine::Database> database(std::move(opened));
  Lease lease{database, std::make_shared<ConnectionPool>(database, static_cast<std::size_t>(limits_.threads) * 4),
              {storage, options.temp_directory}};

  std::lock_guard lock(mu_);
  auto [it, inserted] = entries_.try_emplace(tenant_id, Entry{lease, now, memory});
  if (!inserted && it->second.memory_limit_bytes == memory) {  // another request opened it meanwhile
    it->second.last_used = now;
    return it->second.lease;
  }
  if (!inserted) it->second = Entry{lease, now, memory};
  EvictLocked(now);
  return lease;
}

void TenantEngines::EvictLocked(UnixMillis now) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (now - it->second.last_used >= limits_.idle_timeout.count()) {
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  while (entries_.size() > std::max<std::size_t>(1, limits_.max_instances)) {
    auto oldest = std::min_element(entries_.begin(), entries_.end(), [](const auto& a, const auto& b) {
      return a.second.last_used < b.second.last_used;
    });
    entries_.erase(oldest);
  }
}

std::size_t TenantEngines::open_instances() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace quarry::query
