// ConnectionPool: idle connections of one engine, reused by later statements: a new connection
// costs DuckDB's connection setup and its pragmas (about a millisecond each time), paid once
// instead. A pooled connection also remembers which dataset views it holds (QueryService
// refreshes a view only when the version behind it changed). Tenant SQL cannot change a
// connection's state (the guard refuses SET, PRAGMA and CREATE), so reuse carries nothing over
// from one query to the next but those views.
// Thread-safety: Take and Give may be called concurrently; a taken connection is its taker's.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/engine.h"

namespace quarry::query {

struct PooledConnection {
  std::unique_ptr<engine::Connection> connection;
  std::map<std::string, std::string> views;      // view name -> its SELECT (version files, policies)
  std::map<std::string, std::string> variables;  // connection variable -> the value bound to it now
};

class ConnectionPool {
 public:
  ConnectionPool(std::shared_ptr<engine::Database> database, std::size_t max_idle)
      : database_(std::move(database)), max_idle_(max_idle) {}

  // An idle connection (the one that already holds the most of `views`, the view name -> SELECT
  // the query needs: callers who see datasets differently keep their own connections warm), or
  // a new one.
  Result<std::unique_ptr<PooledConnection>> Take(const std::map<std::string, std::string>& views = {});
  // Keeps the connection for the next Take (dropped when max_idle are idle already).
  void Give(std::unique_ptr<PooledConnection> connection);
  engine::Database& database() { return *database_; }

 private:
  std::shared_ptr<engine::Database> database_;  // outlives every connection it made
  const std::size_t max_idle_;
  std::mutex mu_;
  std::vector<std::unique_ptr<PooledConnection>> idle_;  // GUARDED_BY(mu_)
};

}  // namespace quarry::query
