#include "api/handler_support.h"

#include <boost/json.hpp>

#include "api/session_cookie.h"

#include <map>

namespace quarry::api {
namespace {

// What an event acted on: the value of the route's last parameter ("/v1/datasets/{name}/
// policies/{id}": the policy id), or the route itself when it has none.
std::string TargetOf(const http::Request& request) {
  const std::string& pattern = request.route_pattern;
  const auto open = pattern.rfind('{');
  const auto close = pattern.find('}', open == std::string::npos ? 0 : open);
  if (open == std::string::npos || close == std::string::npos) return pattern;
  auto value = request.path_params.find(pattern.substr(open + 1, close - open - 1));
  return value == request.path_params.end() ? pattern : value->second;
}

// The changes the audit log names; `request` marks those whose JSON body is recorded (none
// carries a secret). Other changes are recorded as "<METHOD> <pattern>"; reads are not, except
// queries, which their handlers record with what they read (query_handlers.cpp). Byte transfers
// of resumable uploads (PATCH) are not events.
struct AuditKind {
  const char* kind;
  bool request;
};
const std::map<std::string, AuditKind>& Kinds() {
  static const std::map<std::string, AuditKind> kinds = {
      {"POST /v1/admin/tenants", {"tenant.create", true}},
      {"PATCH /v1/admin/tenants/{id}", {"tenant.update", true}},
      {"POST /v1/users", {"user.create", true}},
      {"PATCH /v1/users/{id}", {"user.update", true}},
      {"PUT /v1/users/{id}/attributes", {"user.attributes", true}},
      {"PUT /v1/users/{id}/password", {"user.password", false}},  // never the body: passwords
      {"DELETE /v1/sessions/current", {"session.revoke", false}},
      {"POST /v1/keys", {"key.create", true}},
      {"DELETE /v1/keys/{id}", {"key.revoke", false}},
      {"PUT /v1/datasets/{name}/data", {"dataset.upload", false}},
      {"POST /v1/datasets/{name}/rollback", {"dataset.rollback", true}},
      {"DELETE /v1/datasets/{name}", {"dataset.delete", false}},
      {"PATCH /v1/datasets/{name}", {"dataset.move", true}},
      {"POST /v1/projects", {"project.create", true}},
      {"PATCH /v1/projects/{id}", {"project.update", true}},
      {"DELETE /v1/projects/{id}", {"project.delete", false}},
      {"POST /v1/projects/{id}/members", {"project.member.put", true}},
      {"DELETE /v1/projects/{id}/members/{member_id}", {"project.member.delete", false}},
      {"POST /v1/groups", {"group.create", true}},
      {"DELETE /v1/groups/{id}", {"group.delete", false}},
      {"POST /v1/groups/{id}/members", {"group.member.put", true}},
      {"DELETE /v1/groups/{id}/members/{user_id}", {"group.member.delete", false}},
      {"POST /v1/datasets/{name}/grants", {"grant.create", true}},
      {"DELETE /v1/datasets/{name}/grants/{id}", {"grant.delete", false}},
      {"POST /v1/datasets/{name}/policies", {"policy.create", true}},
      {"DELETE /v1/datasets/{name}/policies/{id}", {"policy.delete", false}},
      {"POST /v1/jobs", {"job.submit", false}},
      {"POST /v1/jobs/{id}/cancel", {"job.cancel", false}},
      {"POST /v1/uploads", {"upload.create", false}},
      {"DELETE /v1/uploads/{id}", {"upload.terminate", false}},
      {"DELETE /v1/queries/{id}", {"query.cancel", false}},
  };
  return kinds;
}

boost::json::value ParsedObject(const std::string& text, std::size_t max_bytes) {
  if (text.empty() || text.size() > max_bytes) return nullptr;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  return !ec && v.is_object() ? v : boost::json::value(nullptr);
}

void RecordAudit(AppContext& app, const http::Request& request, const Principal& p, const http::Response& response) {
  const std::string& method = request.method;
  const bool change = method != "GET" && method != "HEAD" && method != "OPTIONS";
  const std::string& pattern = request.route_pattern;
  const std::string route = method + " " + pattern;
  if (route == "POST /v1/query" || route == "PATCH /v1/uploads/{id}") {
    if (response.status != 403) return;  // recorded by the handler / not an event
  }
  if (response.status != 403 && (!change || response.status >= 300)) return;

  const boost::json::value answer = response.stream ? boost::json::value(nullptr) : ParsedObject(response.body, 64 * 1024);
  const auto* answer_object = answer.if_object();
  boost::json::object details{{"method", method}, {"path", request.path}, {"status", response.status},
                              {"request_id", request.request_id}};
  std::string tenant_id = p.tenant.id;
  std::string kind, outcome = "ok";
  if (response.status == 403) {
    kind = "denied";
    outcome = "denied";
    if (answer_object) {
      if (const auto* code = answer_object->if_contains("code")) details["code"] = *code;
      if (const auto* detail = answer_object->if_contains("detail")) details["reason"] = *detail;
    }
  } else {
    auto known = Kinds().find(route);
    kind = known != Kinds().end() ? known->second.kind : route;
    if (known != Kinds().end() && known->second.request) details["request"] = ParsedObject(request.body, 64 * 1024);
    if (answer_object) {
      if (const auto* id = answer_object->if_contains("id"); id && id->is_string()) details["id"] = *id;
    }
  }
  if (p.is_operator) {
    // The operator's actions belong to the tenant they touch.
    const boost::json::value* tenant = answer_object ? answer_object->if_contains("tenant") : nullptr;
    const boost::json::value* id = tenant && tenant->is_object() ? tenant->as_object().if_contains("id")
                                   : answer_object                ? answer_object->if_contains("id")
                                                                  : nullptr;
    if (!id || !id->is_string() || pattern.rfind("/v1/admin/tenants", 0) != 0) return;  // nothing of a tenant
    tenant_id = std::string(id->as_string());
  }
  const std::string target = TargetOf(request);
  app.audit.Record(tenant_id, &p, std::move(kind), target, std::move(outcome), std::move(details));
}

// The tenant's quota 'requests_per_second', per key; the operator is not limited.
Status AdmitRate(AppContext& app, const Principal& p) {
  if (p.is_operator) return Status::Ok();
  return app.rate_limiter.Admit(p.key_id,
                                quota::Value(p.tenant, "requests_per_second", app.config.quota_requests_per_second));
}

// The request's principal: from `Authorization: Bearer <key>` when the header is present,
// otherwise from the session cookie, whose unsafe requests must pass the CSRF rule (a refusal is
// audited like any 403).
Result<std::shared_ptr<const Principal>> AuthenticateRequest(AppContext& app, const http::Request& request) {
  const std::string_view authorization = request.headers.Get("Authorization");
  std::optional<std::string> cookie;
  if (authorization.empty()) cookie = SessionCookie(request);
  if (!cookie) return app.authenticator.Authenticate(authorization);
  QUARRY_ASSIGN_OR_RETURN(auto principal, app.authenticator.AuthenticateSession(*cookie));
  if (IsUnsafeMethod(request.method)) {
    if (Status csrf = CheckCsrf(request, *cookie); !csrf.ok()) {
      RecordAudit(app, request, *principal, http::Response::Problem(csrf, request));
      return csrf;
    }
  }
  return principal;
}

}  // namespace

http::UploadPreparer AuthedUpload(AppContext& app, AuthedPreparer preparer) {
  return [&app, preparer = std::move(preparer)](http::Request& request) -> Result<http::UploadTarget> {
    QUARRY_ASSIGN_OR_RETURN(auto principal, AuthenticateRequest(app, request));
    const Principal& p = *principal;
    QUARRY_RETURN_IF_ERROR(AdmitRate(app, p));
    Result<http::UploadTarget> target = preparer(request, p);
    if (!target.ok() && target.status().category() == ErrorCode::kPermissionDenied) {
      RecordAudit(app, request, p, http::Response::Problem(target.status(), request));
    }
    return target;
  };
}

http::Handler Authed(AppContext& app, AuthedHandler handler) {
  return [&app, handler = std::move(handler)](http::Request& request) {
    auto principal = AuthenticateRequest(app, request);
    if (!principal.ok()) {
      http::Response response = http::Response::Problem(principal.status(), request);
      if (response.status == 401) response.headers.emplace_back("WWW-Authenticate", "Bearer");
      if (principal.status().code() == "invalid_session") {
        response.headers.emplace_back("Set-Cookie", ClearSessionCookieHeader(app.config.auth_cookie_secure));
      }
      return response;
    }
    const Principal& p = **principal;
    request.log_owner = *principal;
    request.log_fields.emplace_back("key_id", p.key_id);
    if (!p.is_operator) {
      request.log_fields.emplace_back("tenant_id", p.tenant.id);
      request.log_fields.emplace_back("user_id", p.user.id);
    }
    if (Status admitted = AdmitRate(app, p); !admitted.ok()) return http::Response::Problem(admitted, request);
    http::Response response = handler(request, p);
    RecordAudit(app, request, p, response);
    return response;
  };
}

}  // namespace quarry::api
