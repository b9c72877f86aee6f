#include "api/handler_support.h"

namespace quarry::api {

http::Handler Authed(AppContext& app, AuthedHandler handler) {
  return [&app, handler = std::move(handler)](http::Request& request) {
    auto principal = app.authenticator.Authenticate(request.headers.Get("Authorization"));
    if (!principal.ok()) {
      http::Response response = http::Response::Problem(principal.status(), request);
      if (response.status == 401) response.headers.emplace_back("WWW-Authenticate", "Bearer");
      return response;
    }
    const Principal& p = **principal;
    request.log_owner = *principal;
    request.log_fields.emplace_back("key_id", p.key_id);
    if (!p.is_operator) {
      request.log_fields.emplace_back("tenant_id", p.tenant.id);
      request.log_fields.emplace_back("user_id", p.user.id);
    }
    return handler(request, p);
  };
}

}  // namespace quarry::api
