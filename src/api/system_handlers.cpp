// Operational endpoints: liveness, readiness, metrics, the OpenAPI document.
#include "api/handler_support.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace quarry::api {

namespace {

std::string RenderJobMetrics(AppContext& app) {
  std::string out;
  out += "# HELP quarry_jobs Jobs queued or running, by kind and state.\n# TYPE quarry_jobs gauge\n";
  auto counts = app.job_store.Counts();
  if (counts.ok()) {
    for (const auto& [key, n] : counts->active) {
      out += fmt::format("quarry_jobs{{kind=\"{}\",state=\"{}\"}} {}\n", key.first, ToString(key.second), n);
    }
  }
  if (const jobs::JobMetrics* m = app.job_metrics) {
    auto counter = [&out](const char* name, const char* help, auto value) {
      out += fmt::format("# HELP {0} {1}\n# TYPE {0} counter\n{0} {2}\n", name, help, value);
    };
    counter("quarry_job_claims_total", "Jobs claimed by this process's workers.", m->claims.load());
    counter("quarry_job_claim_seconds_total", "Time spent in claims that returned a job (sum).",
            static_cast<double>(m->claim_micros.load()) / 1e6);
    counter("quarry_job_run_seconds_total", "Time spent running handlers (sum).", static_cast<double>(m->run_micros.load()) / 1e6);
    counter("quarry_jobs_succeeded_total", "Attempts that succeeded.", m->succeeded.load());
    counter("quarry_jobs_failed_total", "Jobs that failed for good.", m->failed.load());
    counter("quarry_jobs_canceled_total", "Jobs canceled while running.", m->canceled.load());
    counter("quarry_job_retries_total", "Attempts that failed and were queued again.", m->retries.load());
    counter("quarry_job_rescues_total", "Jobs rescued after their worker stopped heartbeating.", m->rescued.load());
    counter("quarry_job_leases_lost_total", "Attempts whose outcome was discarded: the lease was lost.", m->lease_lost.load());
    out += m->claim_seconds.Render("quarry_job_claim_duration_seconds",
                                   "Time a worker's claim took (including finish-and-claim), when it got a job.");
    out += m->run_seconds.Render("quarry_job_run_duration_seconds", "Time a job attempt's handler ran.");
  }
  return out;
}

}  // namespace

std::string RenderQueryMetrics(AppContext& app) {
  const query::ResultCache::Stats cache = app.queries.cache_stats();
  std::string out;
  auto metric = [&out](const char* name, const char* type, const char* help, auto value) {
    out += fmt::format("# HELP {0} {1}\n# TYPE {0} {2}\n{0} {3}\n", name, help, type, value);
  };
  metric("quarry_query_cache_hits_total", "counter", "Queries answered from the result cache.", cache.hits);
  metric("quarry_query_cache_misses_total", "counter", "Cacheable queries that were not in the cache.", cache.misses);
  metric("quarry_query_cache_entries", "gauge", "Answers held by the result cache.", cache.entries);
  metric("quarry_query_cache_bytes", "gauge", "Memory held by the result cache (estimated).", cache.bytes);
  return out;
}

void RegisterSystemRoutes(http::Router& router, AppContext& app) {
  router.Add({"GET", "/healthz",
              [](http::Request&) { return http::Response::Json(200, R"({"status":"ok"})"); },
              http::Execution::kInline});

  router.Add({"GET", "/readyz",
              [&app](http::Request& request) {
                Status store = app.store.Ping();
                Status storage = app.objects.CheckWritable();
                boost::json::object checks{{"metadata_store", store.ok() ? "ok" : "unavailable"},
                                           {"storage", storage.ok() ? "ok" : "unavailable"}};
                if (store.ok() && storage.ok()) {
                  return JsonResponse(200, boost::json::object{{"status", "ready"}, {"checks", checks}});
                }
                // The causes go to the log; the response says which check failed.
                if (!store.ok()) spdlog::warn("readiness: metadata store: {}", store.ToString());
                if (!storage.ok()) spdlog::warn("readiness: storage: {}", storage.ToString());
                Status not_ready = Unavailable("not_ready", "A dependency is unavailable; see checks "
                                                            "and the server log");
                not_ready.WithDetail("metadata_store", store.ok() ? "ok" : "unavailable");
                not_ready.WithDetail("storage", storage.ok() ? "ok" : "unavailable");
                return http::Response::Problem(not_ready, request);
              }});

  // Blocking: the queue gauges read the job store.
  router.Add({"GET", "/metrics", [&app](http::Request&) {
                return http::Response::Text(200, "text/plain; version=0.0.4; charset=utf-8",
                                            app.metrics.Render(QUARRY_VERSION) + RenderJobMetrics(app) +
                                                RenderQueryMetrics(app));
              }});

  router.Add({"GET", "/openapi.json",
              [](http::Request&) {
                return http::Response::Json(200, std::string(EmbeddedOpenApiDocument()));
              },
              http::Execution::kInline});
}

}  // namespace quarry::api
