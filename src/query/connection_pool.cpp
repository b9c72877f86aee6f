#include "query/connection_pool.h"

namespace quarry::query {

Result<std::unique_ptr<PooledConnection>> ConnectionPool::Take(const std::map<std::string, std::string>& views) {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      // The most recently given back among those holding the most of the wanted views.
      std::size_t best = idle_.size() - 1;
      int best_hits = -1;
      for (std::size_t i = idle_.size(); i-- > 0;) {
        int hits = 0;
        for (const auto& [name, select] : views) {
          auto held = idle_[i]->views.find(name);
          hits += held != idle_[i]->views.end() && held->second == select;
        }
        if (hits > best_hits) {
          best_hits = hits;
          best = i;
        }
      }
      auto connection = std::move(idle_[best]);
      idle_.erase(idle_.begin() + static_cast<std::ptrdiff_t>(best));
      return connection;
    }
  }
  QUARRY_ASSIGN_OR_RETURN(std::unique_ptr<engine::Connection> connection, database_->Connect());
  auto pooled = std::make_unique<PooledConnection>();
  pooled->connection = std::move(connection);
  return pooled;
}

void ConnectionPool::Give(std::unique_ptr<PooledConnection> connection) {
  if (!connection) return;
  std::lock_guard lock(mu_);
  if (idle_.size() < max_idle_) idle_.push_back(std::move(connection));
}

}  // namespace quarry::query
