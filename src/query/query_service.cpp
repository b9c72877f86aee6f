#include "query/query_service.h"

#include "access/dataset_access.h"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "auth/permissions.h"
#include "common/ids.h"
#include "audit/audit_log.h"
#include "policy/policy.h"
#include "quota/quota.h"
#include "query/connection_pool.h"

#include <fmt/format.h>

namespace quarry::query {
namespace {

Status RequireMember(const Principal& actor) {
  if (actor.is_operator) {
    return PermissionDenied("tenant_member_required",
                            "queries read a tenant's datasets; use a key of a tenant's user, not the operator key");
  }
  return RequireScope(actor, kScopeRead);
}

// What users see of an engine failure: the category kept, host paths scrubbed, and the limits
// named where the engine's own words would not help.
Status UserFacing(const Status& error, const std::vector<std::string>& private_paths, const QueryLimits& limits,
                  std::int64_t memory_limit_bytes, std::chrono::milliseconds timeout) {
  if (error.code() == "deadline_exceeded") {
    return Status(ErrorCode::kResourceExhausted, "deadline_exceeded",
                  "the query ran longer than its timeout (" + std::to_string(timeout.count()) +
                      " ms); add filters or aggregate further, or raise timeout_ms (at most " +
                      std::to_string(limits.max_timeout.count()) + ")");
  }
  if (error.code() == "canceled") return Status(ErrorCode::kFailedPrecondition, "canceled", "the query was canceled");
  if (error.code() == "parameter_mismatch") return error;
  auto type = error.details().find("error_type");
  const std::string error_type = type == error.details().end() ? "" : type->second;
  if (error_type == "Out of Memory") {
    return Status(ErrorCode::kResourceExhausted, "query_memory_exceeded",
                  "the query needed more memory than the tenant's query memory (" +
                      std::to_string(memory_limit_bytes >> 20) + " MiB) and its spill space allow; "
                      "aggregate further or select fewer columns");
  }
  const std::string message = engine::ScrubPaths(error.message(), private_paths, "<storage>");
  if (error.category() == ErrorCode::kInternal) {
    spdlog::error("query engine failure: {}", message);
    return Internal("query_engine_error", "the query engine failed; see the server log");
  }
  ErrorCode category = error.category() == ErrorCode::kPermissionDenied ? ErrorCode::kPermissionDenied
                                                                        : ErrorCode::kInvalidArgument;
  return Status(category, category == ErrorCode::kPermissionDenied ? "sql_not_allowed" : "query_failed", message,
                {{"error_type", error_type}});
}

}  // namespace

Result<std::vector<std::string>> QueryService::VersionFiles(const std::string& storage_prefix) {
  {
    std::lock_guard lock(files_mu_);
    if (auto it = version_files_.find(storage_prefix); it != version_files_.end()) return it->second;
  }
  QUARRY_ASSIGN_OR_RETURN(std::vector<std::string> files, VersionDataLocations(objects_, storage_prefix));
  std::lock_guard lock(files_mu_);
  if (version_files_.size() >= kMaxRememberedVersions) version_files_.clear();
  version_files_.emplace(storage_prefix, files);
  return files;
}

QueryService::QueryUsage QueryService::UsageOf(const Principal& actor) {
  QueryUsage u;
  u.max_concurrent = quota::Value(actor.tenant, "concurrent_queries", limits_.max_concurrent_per_tenant);
  u.statement_timeout_ms = quota::Value(actor.tenant, "statement_timeout_ms", limits_.max_timeout.count());
  u.result_rows = quota::Value(actor.tenant, "result_rows", limits_.max_rows);
  u.query_memory_bytes = quota::Value(actor.tenant, "query_memory_bytes", engines_.limits().memory_limit_bytes);
  std::lock_guard lock(mu_);
  if (auto it = running_per_tenant_.find(actor.tenant.id); it != running_per_tenant_.end()) u.running = it->second;
  return u;
}

Status QueryService::Admit(const Tenant& tenant) {
  const std::string& tenant_id = tenant.id;
  const std::int64_t limit = quota::Value(tenant, "concurrent_queries", limits_.max_concurrent_per_tenant);
  std::lock_guard lock(mu_);
  int& running = running_per_tenant_[tenant_id];
  if (running >= limit) {
    return Status(ErrorCode::kResourceExhausted, "too_many_queries",
                  "the tenant already runs " + std::to_string(running) + " queries, its quota 'concurrent_queries' "
                  "is " + std::to_string(limit) + "; retry when one has finished",
                  {{"retry_after_seconds", "1"},
                   {"quota", "concurrent_queries"},
                   {"used", std::to_string(running + 1)},
                   {"limit", std::to_string(limit)}});
  }
  // Queries run on the server's blocking pool, which uploads and every other request share: the
  // total is bounded below its size, so queries can never starve them.
  if (running_total_ >= limits_.max_concurrent_total) {
    if (running == 0) running_per_tenant_.erase(tenant_id);
    return Status(ErrorCode::kResourceExhausted, "server_busy",
                  "the server already runs " + std::to_string(running_total_) +
                      " queries, all it takes at once; retry in a moment",
                  {{"retry_after_seconds", "1"}, {"limit", std::to_string(limits_.max_concurrent_total)}});
  }
  ++running;
  ++running_total_;
  return Status::Ok();
}

void QueryService::Release(const std::string& tenant_id) {
  std::lock_guard lock(mu_);
  --running_total_;
  if (--running_per_tenant_[tenant_id] <= 0) running_per_tenant_.erase(tenant_id);
}

struct QueryService::Checked {
  std::function<bool()> client_gone;
  std::int64_t limit = 0;
  std::chrono::milliseconds timeout{0};
  std::chrono::steady_clock::time_point started;
  CheckedStatement statement;
  std::map<std::string, DatasetVersion> resolved;  // by dataset name
  std::map<std::string, policy::AccessView> views;  // what the caller sees of each, by dataset name
};

struct AttachedQuery {
  QueryService* service = nullptr;
  std::string tenant_id;
  std::string query_id;
  TenantEngines::Lease engine;
  std::unique_ptr<PooledConnection> pooled;
  engine::Connection* connection = nullptr;  // pooled->connection
  std::shared_ptr<std::atomic<bool>> canceled = std::make_shared<std::atomic<bool>>(false);
  std::vector<DatasetRead> datasets;
  bool admitted = false;
  bool under_policy = false;             // a view it reads restricts rows or masks columns
  std::int64_t memory_limit_bytes = 0;   // of the tenant's engine (its quota)

  ~AttachedQuery() {
    if (!service) return;
    {
      std::lock_guard lock(service->mu_);
      service->running_.erase(query_id);
    }
    if (pooled && engine.connections) engine.connections->Give(std::move(pooled));  // before the engine lease
    pooled.reset();
    if (admitted) service->Release(tenant_id);
  }
};

Result<QueryService::Checked> QueryService::Check(const Principal& actor, const QueryRequest& request,
                                                  std::int64_t max_limit, std::int64_t default_limit) {
  QUARRY_RETURN_IF_ERROR(RequireMember(actor));
  Checked out;
  out.client_gone = request.client_gone;
  out.started = std::chrono::steady_clock::now();
  out.limit = request.limit.value_or(default_limit);
  if (out.limit < 1 || out.limit > max_limit) {
    return InvalidArgument("invalid_limit", "limit must be between 1 and " + std::to_string(max_limit));
  }
  // The tenant's quotas narrow (or widen) the server's limits.
  const std::int64_t max_timeout = quota::Value(actor.tenant, "statement_timeout_ms", limits_.max_timeout.count());
  const std::int64_t timeout_ms = request.timeout_ms.value_or(std::min(limits_.default_timeout.count(), max_timeout));
  if (timeout_ms < 1 || timeout_ms > max_timeout) {
    return InvalidArgument("invalid_timeout", "timeout_ms must be between 1 and " + std::to_string(max_timeout) +
                                                  " (the tenant's quota 'statement_timeout_ms')");
  }
  out.timeout = std::chrono::milliseconds(timeout_ms);
  const std::string& tenant_id = actor.tenant.id;

  // Layer 1: the guard, resolving each name it meets to a dataset version of this tenant.
  Status lookup_failure;
  auto is_dataset = [&](const std::string& name) {
    if (out.resolved.count(name)) return true;
    // Datasets the caller may not read (projects, grants) are unknown names, like missing ones.
    auto dataset = access::ReadableDataset(datasets_, access_, actor, name);
    if (!dataset.ok()) {
      if (dataset.status().code() != "dataset_not_found") lookup_failure = dataset.status();
      return false;
    }
    auto pin = request.versions.find(name);
    const int version = pin == request.versions.end() ? dataset->current_version : pin->second;
    auto found = datasets_.GetVersion(tenant_id, name, version);
    if (!found.ok()) {
      lookup_failure = found.status().code() == "version_not_found"
                           ? InvalidArgument("version_not_found", "dataset '" + name + "' has no version " +
                                                                      std::to_string(version))
                           : found.status();
      return false;
    }
    out.resolved.emplace(name, std::move(found).value());
    return true;
  };
  auto checked = guard_.Check(request.sql, is_dataset);
  if (!lookup_failure.ok()) return lookup_failure;
  if (!checked.ok()) {
    spdlog::info("query denied: tenant={} user={} code={} reason={}", tenant_id, actor.user.id,
                 checked.status().code(), checked.status().message());
    return checked.status();
  }
  out.statement = std::move(checked).value();

  // The one enforcement point of access policies: each dataset the statement reads becomes the
  // caller's view of it (docs/security.md). A policy that cannot apply fails the query.
  std::optional<std::vector<std::string>> groups;  // read once, when a policy names groups
  for (const std::string& name : out.statement.datasets) {
    const DatasetVersion& version = out.resolved.at(name);
    QUARRY_ASSIGN_OR_RETURN(auto stored, datasets_.ListPolicies(tenant_id, version.dataset_id));
    QUARRY_ASSIGN_OR_RETURN(auto policies, policy::ParseStored(stored));
    QUARRY_ASSIGN_OR_RETURN(auto files, VersionFiles(version.storage_prefix));
    if (!groups && policy::NamesGroups(policies)) {
      QUARRY_ASSIGN_OR_RETURN(groups, access_.GroupsOf(tenant_id, actor.user.id));
    }
    auto view = policy::CompileView(policy::ColumnsOf(version.schema_json), policies, actor.user.role,
                                    actor.user.attributes_json, engine::ReadParquetSql(files),
                                    groups.value_or(std::vector<std::string>{}));
    if (!view.ok()) {
      spdlog::info("query denied: tenant={} user={} dataset={} code={} reason={}", tenant_id, actor.user.id, name,
                   view.status().code(), view.status().message());
      return view.status();
    }
    out.views.emplace(name, std::move(view).value());
  }
  return out;
}

Result<std::shared_ptr<AttachedQuery>> QueryService::Attach(const Principal& actor,
                                                                     const QueryRequest& request,
                                                                     const Checked& checked) {
  const std::string& tenant_id = actor.tenant.id;
  QUARRY_RETURN_IF_ERROR(Admit(actor.tenant));
  auto attached = std::make_shared<Attached>();
  attached->service = this;
  attached->tenant_id = tenant_id;
  attached->admitted = true;
  attached->query_id = NewId("qry", clock_.NowMillis());

  // Layer 2: the tenant's sandboxed engine; each dataset a temporary view on this connection.
  attached->memory_limit_bytes = quota::Value(actor.tenant, "query_memory_bytes", engines_.limits().memory_limit_bytes);
  for (const auto& [name, view] : checked.views) {
    attached->under_policy = attached->under_policy || view.rows_restricted || !view.hidden_columns.empty() ||
                             !view.masked_columns.empty();
  }
  QUARRY_ASSIGN_OR_RETURN(attached->engine, engines_.Get(tenant_id, attached->memory_limit_bytes));
  std::map<std::string, std::string> wanted;
  for (const auto& [name, view] : checked.views) wanted.emplace(name, view.select_sql);
  QUARRY_ASSIGN_OR_RETURN(attached->pooled, attached->engine.connections->Take(wanted));
  attached->connection = attached->pooled->connection.get();
  // Views this statement does not read go: a name the guard did not resolve as a dataset for this
  // caller (a CTE's own name inside its body, a deleted dataset) must never reach a view made for
  // an earlier query, which may show another caller's rows.
  for (auto held = attached->pooled->views.begin(); held != attached->pooled->views.end();) {
    if (checked.views.count(held->first)) {
      ++held;
      continue;
    }
    auto dropped = attached->connection->Execute("DROP VIEW IF EXISTS " + engine::QuoteIdentifier(held->first));
    if (!dropped.ok()) return UserFacing(dropped.status(), *attached, checked.timeout);
    held = attached->pooled->views.erase(held);
  }
  for (const std::string& name : checked.statement.datasets) {
    const DatasetVersion& version = checked.resolved.at(name);
    // A pooled connection may hold this view already; it is (re)made unless it reads exactly
    // this version. Every name a statement reads is refreshed here, so no query ever meets a
    // stale view.
    // The view's text names the version's files and the caller's policies: equal text, same view.
    const policy::AccessView& view = checked.views.at(name);
    auto held = attached->pooled->views.find(name);
    if (held == attached->pooled->views.end() || held->second != view.select_sql) {
      attached->pooled->views.erase(name);
      auto created = attached->connection->Execute("CREATE OR REPLACE TEMP VIEW " + engine::QuoteIdentifier(name) +
                                                    " AS " + view.select_sql);
      if (!created.ok()) return UserFacing(created.status(), *attached, checked.timeout);
      attached->pooled->views[name] = view.select_sql;
    }
    // The caller's attribute values, bound (never spliced into SQL); every variable a view reads
    // is set or reset here, so nothing of an earlier caller on this connection is left over.
    // A variable already holding the caller's value (the same caller's previous query on this
    // connection) is left as it is.
    for (const auto& [variable, value] : view.bindings) {
      const std::string held = value ? "=" + *value : "<unset>";
      auto& current = attached->pooled->variables[variable];
      if (current == held) continue;
      current.clear();  // unknown until the statement below succeeds
      engine::ExecuteOptions bind;
      std::string sql = "RESET VARIABLE " + variable;
      if (value) {
        sql = "SET VARIABLE " + variable + " = CAST(json_extract_string(CAST(? AS JSON), '$[*]') AS VARCHAR[])";
        bind.params.push_back({"", engine::Param::Kind::kText, false, 0, 0, *value});
      }
      auto bound = attached->connection->Execute(sql, bind);
      if (!bound.ok()) return UserFacing(bound.status(), *attached, checked.timeout);
      current = held;
    }
    attached->datasets.push_back({name, version.version});
  }
  std::lock_guard lock(mu_);
  running_[attached->query_id] = Running{tenant_id, actor.user.id, attached->connection, attached->canceled,
                                         request.sql.substr(0, 1'000), clock_.NowMillis()};
  return attached;
}

engine::ExecuteOptions QueryService::OptionsFor(const Checked& checked, const Attached& attached) const {
  engine::ExecuteOptions options;
  options.deadline = checked.started + checked.timeout;
  options.max_rows = static_cast<std::size_t>(checked.limit);
  options.truncate_at_max_rows = true;
  options.nested_as_json = true;
  options.max_bytes = limits_.max_result_bytes;
  options.should_stop = [canceled = attached.canceled, gone = checked.client_gone] {
    return canceled->load() || (gone && gone());
  };
  return options;
}

Status QueryService::UserFacing(const Status& error, const Attached& attached, std::chrono::milliseconds timeout) const {
  Status shown = query::UserFacing(error, attached.engine.private_paths, limits_, attached.memory_limit_bytes, timeout);
  // The engine may evaluate a caller's expression on rows a row policy excludes before the
  // policy's filter (it reorders filters by cost): its messages ("Could not convert string
  // 'x'...") could then quote those rows. Under a policy, failures keep their type only.
  if (attached.under_policy && shown.code() == "query_failed") {
    auto type = shown.details().find("error_type");
    const std::string error_type = type == shown.details().end() ? "" : type->second;
    return Status(shown.category(), "query_failed",
                  "the query failed (" + (error_type.empty() ? std::string("error") : error_type) +
                      "); the engine's message is withheld because a row or column policy applies to a "
                      "dataset it reads",
                  {{"error_type", error_type}});
  }
  return shown;
}

Result<QueryAnswer> QueryService::Run(const Principal& actor, const QueryRequest& request) {
  // JSON answers: the tenant's quota 'result_rows' in place of the server's max_rows.
  const std::int64_t max_rows = quota::Value(actor.tenant, "result_rows", limits_.max_rows);
  QUARRY_ASSIGN_OR_RETURN(Checked checked,
                          Check(actor, request, max_rows, std::min<std::int64_t>(limits_.default_rows, max_rows)));
  auto elapsed_ms = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - checked.started)
        .count();
  };

  // The cache key: everything that determines the answer. Versions are exact, so a published
  // version (or a pin) never meets an answer computed from another.
  std::string cache_key;
  if (cache_.enabled() && checked.statement.deterministic) {
    cache_key = actor.tenant.id + '\n' + checked.statement.normalized + '\n' + std::to_string(checked.limit);
    for (const engine::Param& p : request.params) {
      cache_key += fmt::format("\n{}:{}:{}:{}:{}:{}", p.name, static_cast<int>(p.kind), p.bool_value, p.int_value,
                               p.double_value, p.text.size()) + p.text;
    }
    for (const std::string& name : checked.statement.datasets) {
      const DatasetVersion& v = checked.resolved.at(name);
      cache_key += "\n" + name + "@" + v.dataset_id + "/" + std::to_string(v.version);
      // The caller's view: equal only for callers who see the same rows and columns.
      const policy::AccessView& view = checked.views.at(name);
      cache_key += "\n" + view.select_sql;
      for (const auto& [variable, value] : view.bindings) cache_key += "\n" + variable + "=" + value.value_or("<unset>");
    }
    if (auto hit = cache_.Get(cache_key)) {
      QueryAnswer answer;
      answer.query_id = NewId("qry", clock_.NowMillis());
      answer.result = std::move(hit);
      answer.cached = true;
      for (const std::string& name : checked.statement.datasets) {
        answer.datasets.push_back({name, checked.resolved.at(name).version});
      }
      answer.elapsed_ms = elapsed_ms();
      AuditQuery(actor, request, answer.query_id, answer.datasets, static_cast<std::int64_t>(answer.result->rows.size()),
                 answer.elapsed_ms, "json (cached)", Status::Ok());
      return answer;
    }
  }

  QUARRY_ASSIGN_OR_RETURN(std::shared_ptr<Attached> attached, Attach(actor, request, checked));
  engine::ExecuteOptions options = OptionsFor(checked, *attached);
  options.params = request.params;
  auto result = attached->connection->Execute(checked.statement.sql, options);
  QueryAnswer answer;
  answer.query_id = attached->query_id;
  answer.datasets = attached->datasets;
  answer.elapsed_ms = elapsed_ms();
  if (!result.ok()) {
    Status error = UserFacing(result.status(), *attached, checked.timeout);
    AuditQuery(actor, request, answer.query_id, answer.datasets, 0, answer.elapsed_ms, "json", error);
    return error;
  }
  answer.result = std::make_shared<const engine::QueryResult>(std::move(result).value());
  AuditQuery(actor, request, answer.query_id, answer.datasets, static_cast<std::int64_t>(answer.result->rows.size()),
             answer.elapsed_ms, "json", Status::Ok());
  if (!cache_key.empty()) cache_.Put(cache_key, answer.result);
  spdlog::info("query {}: tenant={} user={} datasets={} rows={} truncated={} elapsed_ms={}", answer.query_id,
               actor.tenant.id, actor.user.id, answer.datasets.size(), answer.result->rows.size(),
               answer.result->truncated, answer.elapsed_ms);
  return answer;
}

Result<std::unique_ptr<QueryStream>> QueryService::Stream(const Principal& actor, const QueryRequest& request,
                                                          bool arrow) {
  QUARRY_ASSIGN_OR_RETURN(Checked checked, Check(actor, request, limits_.max_export_rows, limits_.max_export_rows));
  QUARRY_ASSIGN_OR_RETURN(std::shared_ptr<Attached> attached, Attach(actor, request, checked));
  engine::ExecuteOptions options = OptionsFor(checked, *attached);
  options.params = request.params;
  options.nested_as_json = !arrow;
  // Arrow batches are not cut by row: the statement applies the limit itself.
  const std::string sql = arrow ? "SELECT * FROM (\n" + checked.statement.embeddable_sql +
                                      "\n) AS quarry_stream LIMIT " + std::to_string(checked.limit)
                                : checked.statement.sql;
  auto cursor = attached->connection->Open(sql, options);
  if (!cursor.ok()) return UserFacing(cursor.status(), *attached, checked.timeout);
  std::unique_ptr<QueryStream> stream(new QueryStream());
  stream->service_ = this;
  stream->query_id_ = attached->query_id;
  stream->limit_ = checked.limit;
  stream->timeout_ = checked.timeout;
  stream->attached_ = attached;
  stream->cursor_ = std::move(cursor).value();
  stream->column_names_ = stream->cursor_->column_names();
  stream->json_columns_ = stream->cursor_->json_columns();
  // The first chunk now: a statement that fails at once is an error status, not a broken body.
  stream->arrow_ = arrow;
  auto first = arrow ? stream->cursor_->NextArrow(&stream->first_arrow_) : stream->cursor_->Next(&stream->first_);
  if (!first.ok()) return UserFacing(first.status(), *attached, checked.timeout);
  if (!*first) stream->done_ = true;
  if (stream->done_) stream->Release();
  AuditQuery(actor, request, stream->query_id_, attached->datasets, -1, 0, arrow ? "arrow" : "csv", Status::Ok());
  spdlog::info("query {}: tenant={} user={} datasets={} streaming", stream->query_id_, actor.tenant.id,
               actor.user.id, attached->datasets.size());
  return stream;
}

Result<std::unique_ptr<QueryExport>> QueryService::ExportParquet(const Principal& actor, const QueryRequest& request) {
  QUARRY_ASSIGN_OR_RETURN(Checked checked, Check(actor, request, limits_.max_export_rows, limits_.max_export_rows));
  QUARRY_ASSIGN_OR_RETURN(std::shared_ptr<Attached> attached, Attach(actor, request, checked));
  // The engine may write only inside its own temporary directory (and, as DuckDB allows, its
  // storage, which this never names).
  const std::string path = attached->engine.private_paths.at(1) + "/export-" + attached->query_id + ".parquet";
  engine::ExecuteOptions options = OptionsFor(checked, *attached);
  options.params = request.params;
  options.nested_as_json = false;
  auto written = attached->connection->Execute(
      "COPY (SELECT * FROM (\n" + checked.statement.embeddable_sql + "\n) AS quarry_export LIMIT " + std::to_string(checked.limit) +
          ") TO " + engine::QuoteLiteral(path) + " (FORMAT parquet, COMPRESSION zstd)",
      options);
  auto answer = std::make_unique<QueryExport>(attached->query_id, path, written.ok() ? written->rows_changed : 0);
  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - checked.started);
  if (!written.ok()) {
    Status error = UserFacing(written.status(), *attached, checked.timeout);  // the file goes with `answer`
    AuditQuery(actor, request, attached->query_id, attached->datasets, 0, elapsed.count(), "parquet", error);
    return error;
  }
  AuditQuery(actor, request, attached->query_id, attached->datasets, answer->rows(), elapsed.count(), "parquet",
             Status::Ok());
  spdlog::info("query {}: tenant={} user={} datasets={} exported {} rows as Parquet", answer->query_id(),
               actor.tenant.id, actor.user.id, attached->datasets.size(), answer->rows());
  return answer;
}

void QueryService::AuditQuery(const Principal& actor, const QueryRequest& request, const std::string& query_id,
                              const std::vector<DatasetRead>& datasets, std::int64_t rows, std::int64_t elapsed_ms,
                              const char* format, const Status& outcome) const {
  if (!audit_) return;
  const bool text = quota::Setting(actor.tenant, "audit_query_text", audit_->query_text());
  boost::json::array read;
  for (const DatasetRead& d : datasets) read.push_back({{"name", d.name}, {"version", d.version}});
  boost::json::object details{{"query_id", query_id},
                              {"datasets", std::move(read)},
                              {"rows", rows < 0 ? boost::json::value(nullptr) : boost::json::value(rows)},
                              {"elapsed_ms", elapsed_ms},
                              {"format", format},
                              {text ? "sql" : "sql_sha256", audit_->StatementField(request.sql, text)}};
  if (!outcome.ok()) details["error"] = outcome.code();
  audit_->Record(actor.tenant.id, &actor, "query", query_id, outcome.ok() ? "ok" : "failed", std::move(details));
}

QueryExport::~QueryExport() {
  std::error_code ec;
  std::filesystem::remove(path_, ec);
}

QueryStream::~QueryStream() { Release(); }

void QueryStream::Release() {
  cursor_.reset();  // stops the statement before the slot goes back
  attached_.reset();
}

Status QueryStream::UserFacing(const Status& error) const {
  return service_->UserFacing(error, *attached_, timeout_);
}

Result<bool> QueryStream::NextArrow(std::string* out) {
  if (!first_arrow_.empty()) {
    *out += first_arrow_;
    first_arrow_.clear();
    return !done_;
  }
  if (done_) return false;
  auto more = cursor_->NextArrow(out);
  if (!more.ok()) return UserFacing(more.status());
  if (!*more) {
    done_ = true;
    Release();
  }
  return *more;
}

Result<bool> QueryStream::Next(std::vector<engine::Row>* rows) {
  std::size_t before = rows->size();
  if (!first_.empty()) {
    for (auto& row : first_) rows->push_back(std::move(row));
    first_.clear();
  } else {
    if (done_ || truncated_) return false;
    auto more = cursor_->Next(rows);
    if (!more.ok()) return UserFacing(more.status());
    if (!*more) {
      done_ = true;
      Release();
      return false;
    }
  }
  // The limit: keep what fits; one row more than the limit means the result was cut.
  const std::int64_t got = static_cast<std::int64_t>(rows->size() - before);
  if (delivered_ + got > limit_) {
    rows->resize(before + static_cast<std::size_t>(limit_ - delivered_));
    truncated_ = true;
    Release();
  }
  delivered_ += static_cast<std::int64_t>(rows->size() - before);
  return true;
}

Result<QueryAnswer> QueryService::Preview(const Principal& actor, const std::string& dataset, std::int64_t rows) {
  QUARRY_RETURN_IF_ERROR(RequireMember(actor));
  // Resolve first, so a missing dataset is dataset_not_found like everywhere else.
  QUARRY_RETURN_IF_ERROR(access::ReadableDataset(datasets_, access_, actor, dataset).status());
  QueryRequest request;
  request.sql = "SELECT * FROM " + engine::QuoteIdentifier(dataset);
  request.limit = rows;
  return Run(actor, request);
}

bool QueryService::Visible(const Principal& actor, const Running& running) {
  return running.tenant_id == actor.tenant.id && (running.user_id == actor.user.id || actor.HasScope(kScopeAdmin));
}

Result<QueryAnswer> QueryService::Schema(const Principal& actor, const std::string& dataset) {
  QUARRY_RETURN_IF_ERROR(RequireMember(actor));
  QUARRY_RETURN_IF_ERROR(access::ReadableDataset(datasets_, access_, actor, dataset).status());
  QueryRequest request;
  request.sql = "DESCRIBE " + engine::QuoteIdentifier(dataset);
  return Run(actor, request);
}

Status QueryService::Cancel(const Principal& actor, const std::string& query_id) {
  QUARRY_RETURN_IF_ERROR(RequireMember(actor));
  std::lock_guard lock(mu_);
  auto it = running_.find(query_id);
  if (it == running_.end() || !Visible(actor, it->second)) {
    return NotFound("query_not_found", "no running query '" + query_id + "' of yours");
  }
  it->second.canceled->store(true);
  it->second.connection->Interrupt();
  return Status::Ok();
}

Result<std::vector<QueryService::RunningQuery>> QueryService::ListRunning(const Principal& actor) {
  QUARRY_RETURN_IF_ERROR(RequireMember(actor));
  std::vector<RunningQuery> out;
  std::lock_guard lock(mu_);
  for (const auto& [id, running] : running_) {
    if (Visible(actor, running)) out.push_back({id, running.user_id, running.sql, running.started_at});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.started_at < b.started_at; });
  return out;
}

}  // namespace quarry::query
