// /v1/usage: the caller's tenant's use of each of its quotas (docs/security.md, "Quotas").
#include "api/handler_support.h"
#include "quota/quota.h"

namespace quarry::api {

void RegisterUsageRoutes(http::Router& router, AppContext& app) {
  router.Add({"GET", "/v1/usage", Authed(app, [&app](http::Request& req, const Principal& p) {
                auto datasets = app.datasets.UsageOf(p);
                if (!datasets.ok()) return Problem(req, datasets.status());
                auto jobs = app.jobs.Usage(p);
                if (!jobs.ok()) return Problem(req, jobs.status());
                const auto queries = app.queries.UsageOf(p);
                auto entry = [](std::int64_t limit, std::optional<std::int64_t> used) {
                  boost::json::object o{{"limit", limit}};
                  o["used"] = used ? boost::json::value(*used) : boost::json::value(nullptr);
                  return o;
                };
                const std::int64_t rate =
                    quota::Value(p.tenant, "requests_per_second", app.config.quota_requests_per_second);
                boost::json::object quotas{
                    {"storage_bytes", entry(datasets->storage_limit, datasets->storage_bytes)},
                    {"datasets", entry(datasets->datasets_limit, datasets->datasets)},
                    {"versions_kept", entry(datasets->versions_kept, std::nullopt)},
                    {"upload_bytes", entry(datasets->upload_bytes, std::nullopt)},
                    {"queued_jobs", entry(jobs->max_queued, jobs->queued)},
                    {"running_jobs", entry(jobs->max_running, jobs->running)},
                    {"concurrent_queries", entry(queries.max_concurrent, queries.running)},
                    {"statement_timeout_ms", entry(queries.statement_timeout_ms, std::nullopt)},
                    {"result_rows", entry(queries.result_rows, std::nullopt)},
                    {"query_memory_bytes", entry(queries.query_memory_bytes, std::nullopt)},
                    {"requests_per_second", entry(rate, std::nullopt)}};
                return JsonResponse(200, boost::json::object{{"tenant_id", p.tenant.id},
                                                             {"quotas", std::move(quotas)},
                                                             {"running_jobs", jobs->running}});
              })});
}

}  // namespace quarry::api
