// ResultCache: answers of recent queries, keyed by everything that determines them (tenant, the
// statement's parse tree, parameters, row limit, and the exact dataset versions read; see
// QueryService), so that a repeated dashboard query costs a lookup. A published version changes
// the key, so stale entries are never found again; they age out of the LRU. Bounded by the bytes
// of the cached values (an entry larger than an eighth of the budget is not cached).
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "engine/engine.h"

namespace quarry::query {

class ResultCache {
 public:
  explicit ResultCache(std::size_t max_bytes) : max_bytes_(max_bytes) {}

  bool enabled() const { return max_bytes_ > 0; }
  std::shared_ptr<const engine::QueryResult> Get(const std::string& key);
  void Put(const std::string& key, std::shared_ptr<const engine::QueryResult> result);

  struct Stats {
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    std::size_t entries = 0;
    std::size_t bytes = 0;
  };
  Stats stats() const;

  static std::size_t SizeOf(const engine::QueryResult& result);

 private:
  struct Entry {
    std::string key;
    std::shared_ptr<const engine::QueryResult> result;
    std::size_t bytes = 0;
  };
  const std::size_t max_bytes_;
  mutable std::mutex mu_;
  std::list<Entry> lru_;  // GUARDED_BY(mu_): most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;  // GUARDED_BY(mu_)
  std::size_t bytes_ = 0;                                               // GUARDED_BY(mu_)
  std::atomic<std::uint64_t> hits_{0};
  std::atomic<std::uint64_t> misses_{0};
};

}  // namespace quarry::query
