// Operational endpoints: liveness, readiness, metrics, the OpenAPI document.
#include "api/handler_support.h"

#include <spdlog/spdlog.h>

namespace quarry::api {

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

  router.Add({"GET", "/metrics",
              [&app](http::Request&) {
                return http::Response::Text(200, "text/plain; version=0.0.4; charset=utf-8",
                                            app.metrics.Render(QUARRY_VERSION));
              },
              http::Execution::kInline});

  router.Add({"GET", "/openapi.json",
              [](http::Request&) {
                return http::Response::Json(200, std::string(EmbeddedOpenApiDocument()));
              },
              http::Execution::kInline});
}

}  // namespace quarry::api
