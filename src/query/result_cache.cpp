#include "query/result_cache.h"

namespace quarry::query {

std::size_t ResultCache::SizeOf(const engine::QueryResult& result) {
  std::size_t bytes = sizeof(result);
  for (const auto& name : result.column_names) bytes += name.size() + sizeof(std::string);
  for (const auto& type : result.column_types) bytes += type.size() + sizeof(std::string);
  for (const auto& row : result.rows) {
    bytes += sizeof(row);
    for (const auto& value : row) bytes += sizeof(value) + (value ? value->size() : 0);
  }
  return bytes;
}

std::shared_ptr<const engine::QueryResult> ResultCache::Get(const std::string& key) {
  if (!enabled()) return nullptr;
  std::lock_guard lock(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  hits_.fetch_add(1, std::memory_order_relaxed);
  return it->second->result;
}

void ResultCache::Put(const std::string& key, std::shared_ptr<const engine::QueryResult> result) {
  if (!enabled() || !result) return;
  const std::size_t bytes = SizeOf(*result) + key.size();
  if (bytes > max_bytes_ / 8) return;
  std::lock_guard lock(mu_);
  if (auto it = index_.find(key); it != index_.end()) {
    bytes_ -= it->second->bytes;
    lru_.erase(it->second);
    index_.erase(it);
  }
  lru_.push_front(Entry{key, std::move(result), bytes});
  index_[key] = lru_.begin();
  bytes_ += bytes;
  while (bytes_ > max_bytes_ && !lru_.empty()) {
    bytes_ -= lru_.back().bytes;
    index_.erase(lru_.back().key);
    lru_.pop_back();
  }
}

ResultCache::Stats ResultCache::stats() const {
  std::lock_guard lock(mu_);
  return Stats{hits_.load(), misses_.load(), lru_.size(), bytes_};
}

}  // namespace quarry::query
