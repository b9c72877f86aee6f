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
    request.log_fields["key_id"] = principal->key_id;
    if (!principal->is_operator) {
      request.log_fields["tenant_id"] = principal->tenant.id;
      request.log_fields["user_id"] = principal->user.id;
    }
    return handler(request, *principal);
  };
}

}  // namespace quarry::api
