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
// ResourceExhausted "too_many_queries" / "server_busy" (details retry_after_seconds), "deadline_exceeded",
// "query_memory_exceeded"; FailedPrecondition "canceled"; InvalidArgument "query_failed" for a
// statement DuckDB rejects at run time (its message, host paths scrubbed).
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <unordered_map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "auth/principal.h"
#include "common/clock.h"
#include "engine/engine.h"
#include "meta/access_store.h"
#include "meta/dataset_store.h"
#include "query/result_cache.h"
#include "query/statement_guard.h"
#include "query/tenant_engines.h"
#include "storage/object_store.h"

namespace quarry::audit {
class AuditLog;
}

namespace quarry::query {

struct QueryLimits {
  std::chrono::milliseconds default_timeout{30'000};
  std::chrono::milliseconds max_timeout{300'000};
  std::int64_t default_rows = 10'000;
  std::int64_t max_rows = 100'000;
  int max_concurrent_per_tenant = 4;
  int max_concurrent_total = 4;  // all tenants: keep it below the server's blocking threads
  std::size_t max_result_bytes = 64u << 20;  // text of the values; beyond, truncated
  std::int64_t max_export_rows = 10'000'000;  // streamed answers (Stream): rows at most
};

class QueryService;
// A query that holds a slot, an engine connection and its registration as running (defined in
// query_service.cpp; everything given back when it is destroyed).
struct AttachedQuery;

// A query's answer written as a Parquet file (format=parquet) in the tenant engine's temporary
// directory, to be sent and then forgotten: destroying this deletes the file.
class QueryExport {
 public:
  QueryExport(std::string query_id, std::string path, std::int64_t rows)
      : query_id_(std::move(query_id)), path_(std::move(path)), rows_(rows) {}
  ~QueryExport();
  QueryExport(const QueryExport&) = delete;
  QueryExport& operator=(const QueryExport&) = delete;
  const std::string& query_id() const { return query_id_; }
  const std::string& path() const { return path_; }
  std::int64_t rows() const { return rows_; }

 private:
  std::string query_id_;
  std::string path_;
  std::int64_t rows_ = 0;
};

// A query whose rows are read a chunk at a time (CSV exports): server memory stays bounded by a
// chunk whatever the result's size. It holds one of the tenant's query slots and its engine
// connection until destroyed; destroying it before the end stops the statement (a client that
// went away). Used by one thread at a time.
class QueryStream {
 public:
  ~QueryStream();
  QueryStream(const QueryStream&) = delete;
  QueryStream& operator=(const QueryStream&) = delete;

  const std::string& query_id() const { return query_id_; }
  const std::vector<std::string>& column_names() const { return column_names_; }
  const std::vector<bool>& json_columns() const { return json_columns_; }
  // Appends the next rows (a chunk); false once every row up to the limit has been read.
  // Errors: deadline_exceeded, canceled, query_failed (as QueryService::Run).
  Result<bool> Next(std::vector<engine::Row>* rows);
  // For a stream opened with `arrow`: appends the next Arrow IPC bytes (the schema message and
  // the first batch first); false once the end-of-stream marker has been appended.
  Result<bool> NextArrow(std::string* out);
  bool truncated() const { return truncated_; }  // the limit cut the result short

 private:
  friend class QueryService;
  QueryStream() = default;

  Status UserFacing(const Status& error) const;
  // The last rows were read: the statement, its connection and the tenant's query slot go back
  // now, before the caller sends the end of the answer, so that a client's next query never
  // finds its own finished one still holding a slot.
  void Release();

  QueryService* service_ = nullptr;
  std::string query_id_;
  std::int64_t limit_ = 0;
  std::int64_t delivered_ = 0;
  std::vector<engine::Row> first_;  // the first chunk, read when the stream opened
  std::string first_arrow_;          // or its Arrow bytes (arrow streams)
  bool arrow_ = false;
  bool truncated_ = false;
  bool done_ = false;
  std::vector<std::string> column_names_;
  std::vector<bool> json_columns_;
  std::chrono::milliseconds timeout_{0};
  std::shared_ptr<AttachedQuery> attached_;
  std::unique_ptr<engine::Cursor> cursor_;  // declared after: destroyed before the connection
};

struct QueryRequest {
  std::string sql;
  std::vector<engine::Param> params;
  std::map<std::string, int> versions;  // dataset name -> pinned version
  std::optional<std::int64_t> limit;
  std::optional<std::int64_t> timeout_ms;
  // Polled while the statement runs: true stops it as canceled (a client that went away).
  std::function<bool()> client_gone;
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
  QueryService(DatasetStore& datasets, AccessStore& access, ObjectStore& objects, StatementGuard& guard,
               TenantEngines& engines, ResultCache& cache, const Clock& clock, QueryLimits limits)
      : datasets_(datasets), access_(access), objects_(objects), guard_(guard), engines_(engines), cache_(cache), clock_(clock),
        limits_(limits) {}

  // Every query is recorded here (datasets read, rows, duration, the SQL or its hash), when set.
  void set_audit(audit::AuditLog* audit) { audit_ = audit; }

  Result<QueryAnswer> Run(const Principal& actor, const QueryRequest& request);
  // Like Run, for answers read a chunk at a time (no result cache, no byte cap; `limit` at most
  // max_export_rows, which is also the default). The first chunk is read before it returns, so
  // errors of the statement's start are errors here.
  // With `arrow`, the rows come as an Arrow IPC stream (QueryStream::NextArrow); the limit is then
  // applied by the statement itself.
  Result<std::unique_ptr<QueryStream>> Stream(const Principal& actor, const QueryRequest& request,
                                              bool arrow = false);
  // Like Stream, but the answer (at most `limit` rows, default and maximum max_export_rows) is
  // written as one zstd-compressed Parquet file first. Statements that cannot be a subquery
  // (EXPLAIN) fail with query_failed.
  Result<std::unique_ptr<QueryExport>> ExportParquet(const Principal& actor, const QueryRequest& request);
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
  // The caller's tenant's running queries and its query quotas.
  struct QueryUsage {
    std::int64_t running = 0, max_concurrent = 0, statement_timeout_ms = 0, result_rows = 0, query_memory_bytes = 0;
  };
  QueryUsage UsageOf(const Principal& actor);
  ResultCache::Stats cache_stats() const { return cache_.stats(); }

 private:
  friend class QueryStream;
  friend struct AttachedQuery;
  // What Run and Stream share. Checked: the request's limits, the statement through the guard
  // (layer 1) and the dataset versions it reads. AttachedQuery: a query slot of the tenant, its
  // engine (layer 2), a connection with the datasets as views, the query registered as running.
  struct Checked;
  using Attached = AttachedQuery;
  Result<Checked> Check(const Principal& actor, const QueryRequest& request, std::int64_t max_limit,
                        std::int64_t default_limit);
  Result<std::shared_ptr<Attached>> Attach(const Principal& actor, const QueryRequest& request,
                                           const Checked& checked);
  engine::ExecuteOptions OptionsFor(const Checked& checked, const Attached& attached) const;
  Status UserFacing(const Status& error, const Attached& attached, std::chrono::milliseconds timeout) const;
  // `rows`: -1 when not known (a stream, recorded as it starts). `outcome`: how it ended.
  void AuditQuery(const Principal& actor, const QueryRequest& request, const std::string& query_id,
                  const std::vector<DatasetRead>& datasets, std::int64_t rows, std::int64_t elapsed_ms,
                  const char* format, const Status& outcome) const;
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
  Status Admit(const Tenant& tenant);
  void Release(const std::string& tenant_id);

  DatasetStore& datasets_;
  AccessStore& access_;
  ObjectStore& objects_;
  StatementGuard& guard_;
  TenantEngines& engines_;
  ResultCache& cache_;
  const Clock& clock_;
  audit::AuditLog* audit_ = nullptr;
  const QueryLimits limits_;
  // The files of a version (an object-store listing), remembered: versions are immutable, so a
  // query does not list its datasets' files again. Bounded: emptied past kMaxRememberedVersions.
  Result<std::vector<std::string>> VersionFiles(const std::string& storage_prefix);
  static constexpr std::size_t kMaxRememberedVersions = 4096;
  std::mutex files_mu_;
  std::unordered_map<std::string, std::vector<std::string>> version_files_;  // GUARDED_BY(files_mu_)
  std::mutex mu_;
  std::map<std::string, int> running_per_tenant_;  // GUARDED_BY(mu_)
  int running_total_ = 0;                          // GUARDED_BY(mu_)
  std::map<std::string, Running> running_;         // GUARDED_BY(mu_), by query id
};

}  // namespace quarry::query
