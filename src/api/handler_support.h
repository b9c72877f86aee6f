// Helpers shared by the REST handler files: authentication wrapper and Result rendering.
#pragma once

#include <functional>

#include "api/app.h"
#include "api/json_io.h"
#include "auth/principal.h"

namespace quarry::api {

using AuthedHandler = std::function<http::Response(http::Request&, const Principal&)>;

// Authenticates the request (401/403 problem on failure) and adds tenant and key ids to the
// access log line, then runs `handler`. The credential is `Authorization: Bearer <key>` or, when
// that header is absent, the session cookie of web sign-in, under the CSRF rule of
// api/session_cookie.h (403 "csrf_failed").
http::Handler Authed(AppContext& app, AuthedHandler handler);

// 2xx with `to_json(value)` when `result` is OK, otherwise its problem document.
template <typename T, typename F>
http::Response Render(const http::Request& request, const Result<T>& result, int status, F to_json) {
  if (!result.ok()) return http::Response::Problem(result.status(), request);
  return JsonResponse(status, to_json(result.value()));
}

// For upload routes, whose preparer runs before the body is read: authenticates, applies the
// key's rate quota and records a refusal (403) in the audit log, as Authed does for handlers.
using AuthedPreparer = std::function<Result<http::UploadTarget>(http::Request&, const Principal&)>;
http::UploadPreparer AuthedUpload(AppContext& app, AuthedPreparer preparer);

// A job as GET /v1/jobs/{id} shows it (job_handlers.cpp).
boost::json::object JobViewToJson(const jobs::JobView& view);

inline http::Response Problem(const http::Request& request, const Status& status) {
  return http::Response::Problem(status, request);
}

// 204 when `status` is OK, otherwise its problem document.
inline http::Response NoContent(const http::Request& request, const Status& status) {
  if (!status.ok()) return Problem(request, status);
  http::Response response;
  response.status = 204;
  return response;
}

}  // namespace quarry::api
