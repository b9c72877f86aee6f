#include "query/query_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "auth/permissions.h"
#include "common/ids.h"

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

Status QueryService::Admit(const std::string& tenant_id) {
  std::lock_guard lock(mu_);
  int& running = running_per_tenant_[tenant_id];
  if (running >= limits_.max_concurrent_per_tenant) {
    return Status(ErrorCode::kResourceExhausted, "too_many_queries",
                  "the tenant already runs " + std::to_string(running) + " queries, its limit; retry when one "
                  "has finished",
                  {{"retry_after_seconds", "1"},
                   {"limit", std::to_string(limits_.max_concurrent_per_tenant)}});
  }
  ++running;
  return Status::Ok();
}

void QueryService::Release(const std::string& tenant_id) {
  std::lock_guard lock(mu_);
  if (--running_per_tenant_[tenant_id] <= 0) running_per_tenant_.erase(tenant_id);
}

Result<QueryAnswer> QueryService::Run(const Principal& actor, const QueryRequest& request) {
  QUARRY_RETURN_IF_ERROR(RequireMember(actor));
  const std::int64_t limit = request.limit.value_or(limits_.default_rows);
  if (limit < 1 || limit > limits_.max_rows) {
    return InvalidArgument("invalid_limit", "limit must be between 1 and " + std::to_string(limits_.max_rows));
  }
  const std::int64_t timeout_ms = request.timeout_ms.value_or(limits_.default_timeout.count());
  if (timeout_ms < 1 || timeout_ms > limits_.max_timeout.count()) {
    return InvalidArgument("invalid_timeout",
                           "timeout_ms must be between 1 and " + std::to_string(limits_.max_timeout.count()));
  }
  const auto started = std::chrono::steady_clock::now();
  const std::string& tenant_id = actor.tenant.id;

  // Layer 1: the guard, resolving each name it meets to a dataset version of this tenant.
  std::map<std::string, DatasetVersion> resolved;
  Status lookup_failure;
  auto is_dataset = [&](const std::string& name) {
    if (resolved.count(name)) return true;
    auto dataset = datasets_.GetDataset(tenant_id, name);
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
    resolved.emplace(name, std::move(found).value());
    return true;
  };
  auto checked = guard_.Check(request.sql, is_dataset);
  if (!lookup_failure.ok()) return lookup_failure;
  if (!checked.ok()) {
    spdlog::info("query denied: tenant={} user={} code={} reason={}", tenant_id, actor.user.id,
                 checked.status().code(), checked.status().message());
    return checked.status();
  }

  // The cache key: everything that determines the answer. Versions are exact, so a published
  // version (or a pin) never meets an answer computed from another.
  std::string cache_key;
  if (cache_.enabled() && checked->deterministic) {
    cache_key = tenant_id + '\n' + checked->normalized + '\n' + std::to_string(limit);
    for (const engine::Param& p : request.params) {
      cache_key += fmt::format("\n{}:{}:{}:{}:{}:{}", p.name, static_cast<int>(p.kind), p.bool_value, p.int_value,
                               p.double_value, p.text.size()) + p.text;
    }
    for (const std::string& name : checked->datasets) {
      cache_key += "\n" + name + "@" + resolved.at(name).dataset_id + "/" + std::to_string(resolved.at(name).version);
    }
    if (auto hit = cache_.Get(cache_key)) {
      QueryAnswer answer;
      answer.query_id = NewId("qry", clock_.NowMillis());
      answer.result = std::move(hit);
      answer.cached = true;
      for (const std::string& name : checked->datasets) answer.datasets.push_back({name, resolved.at(name).version});
      answer.elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
      return answer;
    }
  }

  QUARRY_RETURN_IF_ERROR(Admit(tenant_id));
  struct Admitted {
    QueryService* service;
    std::string tenant;
    ~Admitted() { service->Release(tenant); }
  } admitted{this, tenant_id};

  // Layer 2: the tenant's sandboxed engine; each dataset a temporary view on this connection.
  QUARRY_ASSIGN_OR_RETURN(TenantEngines::Lease engine, engines_.Get(tenant_id));
  QUARRY_ASSIGN_OR_RETURN(std::unique_ptr<engine::Connection> conn, engine.database->Connect());
  QueryAnswer answer;
  answer.query_id = NewId("qry", clock_.NowMillis());
  for (const std::string& name : checked->datasets) {
    const DatasetVersion& version = resolved.at(name);
    QUARRY_ASSIGN_OR_RETURN(std::string file, objects_.ReadLocation(version.storage_prefix + "data.parquet"));
    auto created = conn->Execute("CREATE OR REPLACE TEMP VIEW " + engine::QuoteIdentifier(name) +
                                 " AS SELECT * FROM read_parquet(" + engine::QuoteLiteral(file) + ")");
    if (!created.ok()) {
      return UserFacing(created.status(), engine.private_paths, limits_, engines_.limits().memory_limit_bytes,
                        std::chrono::milliseconds(timeout_ms));
    }
    answer.datasets.push_back({name, version.version});
  }

  auto canceled = std::make_shared<std::atomic<bool>>(false);
  {
    std::lock_guard lock(mu_);
    running_[answer.query_id] =
        Running{tenant_id, actor.user.id, conn.get(), canceled, request.sql.substr(0, 1'000), clock_.NowMillis()};
  }
  engine::ExecuteOptions options;
  options.deadline = started + std::chrono::milliseconds(timeout_ms);
  options.max_rows = static_cast<std::size_t>(limit);
  options.truncate_at_max_rows = true;
  options.nested_as_json = true;
  options.max_bytes = limits_.max_result_bytes;
  options.should_stop = [canceled] { return canceled->load(); };
  options.params = request.params;
  auto result = conn->Execute(checked->sql, options);
  {
    std::lock_guard lock(mu_);
    running_.erase(answer.query_id);
  }
  answer.elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  if (!result.ok()) {
    return UserFacing(result.status(), engine.private_paths, limits_, engines_.limits().memory_limit_bytes,
                      std::chrono::milliseconds(timeout_ms));
  }
  answer.result = std::make_shared<const engine::QueryResult>(std::move(result).value());
  if (!cache_key.empty()) cache_.Put(cache_key, answer.result);
  spdlog::info("query {}: tenant={} user={} datasets={} rows={} truncated={} elapsed_ms={}", answer.query_id,
               tenant_id, actor.user.id, checked->datasets.size(), answer.result->rows.size(), answer.result->truncated,
               answer.elapsed_ms);
  return answer;
}

Result<QueryAnswer> QueryService::Preview(const Principal& actor, const std::string& dataset, std::int64_t rows) {
  QUARRY_RETURN_IF_ERROR(RequireMember(actor));
  // Resolve first, so a missing dataset is dataset_not_found like everywhere else.
  QUARRY_RETURN_IF_ERROR(datasets_.GetDataset(actor.tenant.id, dataset).status());
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
  QUARRY_RETURN_IF_ERROR(datasets_.GetDataset(actor.tenant.id, dataset).status());
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
