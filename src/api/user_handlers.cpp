// /v1/users: a tenant's owners and admins manage the tenant's users.
#include "api/handler_support.h"
#include "api/session_cookie.h"

namespace quarry::api {
namespace {

auto UserJson = [](const User& u) { return ToJson(u); };

boost::json::object AttributesJson(const User& u) {
  boost::system::error_code ec;
  boost::json::value attributes = boost::json::parse(u.attributes_json, ec);
  return {{"user_id", u.id}, {"attributes", ec ? boost::json::value(boost::json::object()) : attributes}};
}

}  // namespace

void RegisterUserRoutes(http::Router& router, AppContext& app) {
  router.Add({"GET", "/v1/users", Authed(app, [&app](http::Request& req, const Principal& p) {
                auto page = ParsePage(req);
                if (!page.ok()) return Problem(req, page.status());
                return Render(req, app.identity.ListUsers(p, p.tenant.id, *page), 200,
                              [](const Page<User>& users) { return PageToJson(users); });
              })});

  router.Add({"POST", "/v1/users", Authed(app, [&app](http::Request& req, const Principal& p) {
                auto body = ParseJsonObject(req);
                if (!body.ok()) return Problem(req, body.status());
                FieldReader fields(*body);
                auto email = fields.String("email", true);
                if (!email.ok()) return Problem(req, email.status());
                auto role = fields.String("role", true);
                if (!role.ok()) return Problem(req, role.status());
                if (Status st = fields.RejectUnknownFields(); !st.ok()) return Problem(req, st);
                return Render(req, app.identity.CreateUser(p, p.tenant.id, NewUser{**email, **role}), 201,
                              UserJson);
              })});

  router.Add({"GET", "/v1/users/{id}", Authed(app, [&app](http::Request& req, const Principal& p) {
                return Render(req, app.identity.GetUser(p, p.tenant.id, req.path_params["id"]), 200,
                              UserJson);
              })});

  // Row policies compare columns with these (docs/security.md); the user or an admin reads them,
  // an admin replaces them.
  router.Add({"GET", "/v1/users/{id}/attributes", Authed(app, [&app](http::Request& req, const Principal& p) {
                return Render(req, app.identity.GetUser(p, p.tenant.id, req.path_params["id"]), 200, AttributesJson);
              })});

  router.Add({"PUT", "/v1/users/{id}/attributes", Authed(app, [&app](http::Request& req, const Principal& p) {
                auto body = ParseJsonObject(req);
                if (!body.ok()) return Problem(req, body.status());
                return Render(req, app.identity.SetUserAttributes(p, p.tenant.id, req.path_params["id"], *body), 200,
                              AttributesJson);
              })});

  // Web sign-in passwords: oneself (with current_password once one is set), or owners and admins
  // for others; the user's other sessions are signed out (session_service.h).
  router.Add({"PUT", "/v1/users/{id}/password", Authed(app, [&app](http::Request& req, const Principal& p) {
                auto body = ParseJsonObject(req);
                if (!body.ok()) return Problem(req, body.status());
                FieldReader fields(*body);
                auto current = fields.String("current_password");
                if (!current.ok()) return Problem(req, current.status());
                auto next = fields.String("new_password", true);
                if (!next.ok()) return Problem(req, next.status());
                if (Status st = fields.RejectUnknownFields(); !st.ok()) return Problem(req, st);
                return NoContent(req, app.sessions.SetPassword(p, p.tenant.id, req.path_params["id"], *current, **next,
                                                               ClientAddress(req)));
              })});

  router.Add({"PATCH", "/v1/users/{id}", Authed(app, [&app](http::Request& req, const Principal& p) {
                auto body = ParseJsonObject(req);
                if (!body.ok()) return Problem(req, body.status());
                FieldReader fields(*body);
                auto role = fields.String("role");
                if (!role.ok()) return Problem(req, role.status());
                auto status = fields.String("status");
                if (!status.ok()) return Problem(req, status.status());
                if (Status st = fields.RejectUnknownFields(); !st.ok()) return Problem(req, st);
                return Render(req,
                              app.identity.UpdateUser(p, p.tenant.id, req.path_params["id"],
                                                      UserChanges{*role, *status}),
                              200, UserJson);
              })});
}

}  // namespace quarry::api
