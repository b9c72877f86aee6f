#include "query/connection_pool.h"

namespace quarry::query {

Result<std::unique_ptr<PooledConnection>> ConnectionPool::Take() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      auto connection = std::move(idle_.back());
      idle_.pop_back();
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
