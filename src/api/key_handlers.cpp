// /v1/keys: API keys. Everyone manages their own; owners and admins manage the tenant's.
#include "api/handler_support.h"

namespace quarry::api {
namespace {

auto KeyJson = [](const ApiKey& k) { return ToJson(k); };

// The operator has no tenant: its keys are the operator keys (tenant id "").
const std::string& TenantOf(const Principal& p) { return p.tenant.id; }

}  // namespace

void RegisterKeyRoutes(http::Router& router, AppContext& app) {
  router.Add({"GET", "/v1/keys", Authed(app, [&app](http::Request& req, const Principal& p) {
                auto page = ParsePage(req);
                if (!page.ok()) return Problem(req, page.status());
                return Render(req, app.identity.ListKeys(p, TenantOf(p), *page), 200,
                              [](const Page<ApiKey>& keys) { return PageToJson(keys); });
              })});

  router.Add({"POST", "/v1/keys", Authed(app, [&app](http::Request& req, const Principal& p) {
                auto body = ParseJsonObject(req);
                if (!body.ok()) return Problem(req, body.status());
                FieldReader fields(*body);
                auto name = fields.String("name", true);
                if (!name.ok()) return Problem(req, name.status());
                auto user_id = fields.String("user_id");
                if (!user_id.ok()) return Problem(req, user_id.status());
                auto scopes = fields.StringArray("scopes", 8);
                if (!scopes.ok()) return Problem(req, scopes.status());
                auto expires = fields.Int("expires_in_days", 1, 3650);
                if (!expires.ok()) return Problem(req, expires.status());
                if (Status st = fields.RejectUnknownFields(); !st.ok()) return Problem(req, st);
                NewKey request{**name, *user_id, *scopes,
                               *expires ? std::optional<int>(static_cast<int>(**expires)) : std::nullopt};
                auto created = app.identity.CreateKey(p, TenantOf(p), request);
                return Render(req, created, 201, [](const CreatedKey& c) {
                  boost::json::object out = ToJson(c.key);
                  out["secret"] = c.token;  // shown once; only its hash is stored
                  return out;
                });
              })});

  router.Add({"GET", "/v1/keys/{id}", Authed(app, [&app](http::Request& req, const Principal& p) {
                return Render(req, app.identity.GetKey(p, TenantOf(p), req.path_params["id"]), 200, KeyJson);
              })});

  router.Add({"DELETE", "/v1/keys/{id}", Authed(app, [&app](http::Request& req, const Principal& p) {
                return Render(req, app.identity.RevokeKey(p, TenantOf(p), req.path_params["id"]), 200,
                              KeyJson);
              })});
}

}  // namespace quarry::api
