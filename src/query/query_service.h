// QueryService: SQL over a tenant's datasets. Every statement passes the statement guard
// (layer 1) and runs on the tenant's own sandboxed engine (layer 2); see docs/security.md.
//
// A query sees each dataset it names as a relation of that name: the current version, or the
// version the request pins, resolved when the query starts (a version published later is seen by
// the next query). Results are bounded: at most `limit` rows (truncated: true beyond), within
// the statement timeout; a client may cancel its running query by id. Deterministic statements'
// answers are cached (ResultCache) under the tenant, the statement's parse tree, its parameters,
// the row limit and the dataset versions read.
//
// Errors: the guard's (sql_syntax_error 400, sql_not_allowed 403, unknown_relation 404, ...);
// PermissionDenied "forbidden" for the operator (no tenant data); InvalidArgument
// "invalid_limit" / "invalid_timeout" / "version_not_found" / "parameter_mismatch";
// ResourceExhausted "too_many_queries" (details retry_after_seconds), "deadline_exceeded",
// "query_memory_exceeded"; FailedPrecondition "canceled"; InvalidArgument "query_failed" for a
// statement DuckDB rejects at run time (its message, host paths scrubbed).
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "auth/principal.h"
#include "common/clock.h"
#include "engine/engine.h"
#include "meta/dataset_store.h"
#include "query/result_cache.h"
#include "query/statement_guard.h"
#include "query/tenant_engines.h"
#include "storage/object_store.h"

namespace quarry::query {

struct QueryLimits {
  std::chrono::milliseconds default_timeout{30'000};
  std::chrono::milliseconds max_timeout{300'000};
  std::int64_t default_rows = 10'000;
  std::int64_t max_rows = 100'000;
  int max_concurrent_per_tenant = 4;
  std::size_t max_result_bytes = 64u << 20;  // text of the values; beyond, truncated
};

struct QueryRequest {
  std::string sql;
  std::vector<engine::Param> params;
  std::map<std::string, int> versions;  // dataset name -> pinned version
  std::optional<std::int64_t> limit;
  std::optional<std::int64_t> timeout_ms;
};

struct DatasetRead {
  std::string name;
  int version = 0;
};

struct QueryAnswer {
  std::string query_id;
  std::shared_ptr<const engine::QueryResult> result;  // never null in an answer
  bool cached = false;  // served from the result cache
  std::int64_t elapsed_ms = 0;
  std::vector<DatasetRead> datasets;
};

class QueryService {
 public:
  QueryService(DatasetStore& datasets, ObjectStore& objects, StatementGuard& guard, TenantEngines& engines,
               ResultCache& cache, const Clock& clock, QueryLimits limits)
      : datasets_(datasets), objects_(objects), guard_(guard), engines_(engines), cache_(cache), clock_(clock),
        limits_(limits) {}

  Result<QueryAnswer> Run(const Principal& actor, const QueryRequest& request);
  // The first `rows` rows of a dataset (its current version), through the same path as Run.
  Result<QueryAnswer> Preview(const Principal& actor, const std::string& dataset, std::int64_t rows);
  // The dataset's columns as the engine sees them (DESCRIBE), through the same path as Run.
  Result<QueryAnswer> Schema(const Principal& actor, const std::string& dataset);
  // Stops a running query of the caller's tenant, started by the caller (or any, for an admin).
  // NotFound "query_not_found" when no such query runs.
  Status Cancel(const Principal& actor, const std::string& query_id);
  struct RunningQuery {
    std::string query_id;
    std::string user_id;
    std::string sql;  // the first 1,000 bytes
    UnixMillis started_at = 0;
  };
  // The caller's running queries (an admin: the tenant's), oldest first.
  Result<std::vector<RunningQuery>> ListRunning(const Principal& actor);

  const QueryLimits& limits() const { return limits_; }
  ResultCache::Stats cache_stats() const { return cache_.stats(); }

 private:
  struct Running {
    std::string tenant_id;
    std::string user_id;
    engine::Connection* connection;
    // Set by Cancel: polled by the statement between tasks, so a cancel that arrives before
    // execution starts (when DuckDB would drop an interrupt) still stops it.
    std::shared_ptr<std::atomic<bool>> canceled;
    std::string sql;
    UnixMillis started_at = 0;
  };
  static bool Visible(const Principal& actor, const Running& running);
  Status Admit(const std::string& tenant_id);
  void Release(const std::string& tenant_id);

  DatasetStore& datasets_;
  ObjectStore& objects_;
  StatementGuard& guard_;
  TenantEngines& engines_;
  ResultCache& cache_;
  const Clock& clock_;
  const QueryLimits limits_;
  std::mutex mu_;
  std::map<std::string, int> running_per_tenant_;  // GUARDED_BY(mu_)
  std::map<std::string, Running> running_;         // GUARDED_BY(mu_), by query id
};

}  // namespace quarry::query
