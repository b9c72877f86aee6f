// GET /v1/me: who the caller is.
#include "api/handler_support.h"

namespace quarry::api {

void RegisterMeRoutes(http::Router& router, AppContext& app) {
  // Inline: the principal comes from the authenticator's in-memory cache once warm.
  router.Add({"GET", "/v1/me", Authed(app, [](http::Request&, const Principal& p) {
                boost::json::array scopes;
                for (const auto& s : p.scopes) scopes.emplace_back(s);
                boost::json::object body;
                if (p.is_operator) {
                  body["operator"] = true;
                  body["tenant"] = nullptr;
                  body["user"] = nullptr;
                } else {
                  body["operator"] = false;
                  body["tenant"] = {{"id", p.tenant.id}, {"slug", p.tenant.slug}, {"name", p.tenant.name}};
                  body["user"] = {{"id", p.user.id}, {"email", p.user.email}, {"role", ToString(p.user.role)}};
                }
                body["key"] = {{"id", p.key_id}};
                body["scopes"] = std::move(scopes);
                return JsonResponse(200, body);
              }),
              http::Execution::kInline});
}

}  // namespace quarry::api
