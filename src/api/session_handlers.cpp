// /v1/sessions: web sign-in. POST signs in with a password (no key: it makes the credential) and
// sets the session cookie; GET and DELETE /v1/sessions/current read and end the caller's own
// session (session_service.h; cookie and CSRF: session_cookie.h).
#include "api/handler_support.h"
#include "api/session_cookie.h"
#include "auth/session_token.h"

namespace quarry::api {
namespace {

constexpr std::size_t kMaxSignInBodyBytes = 4 * 1024;

boost::json::object SessionJson(const Session& s) {
  boost::json::object out{{"id", s.id},
                          {"tenant_id", s.tenant_id},
                          {"user_id", s.user_id},
                          {"created_at", FormatRfc3339(s.created_at)},
                          {"last_seen_at", FormatRfc3339(s.last_seen_at)},
                          {"expires_at", FormatRfc3339(s.expires_at)}};
  out["revoked_at"] = s.revoked_at ? boost::json::value(FormatRfc3339(*s.revoked_at)) : boost::json::value(nullptr);
  return out;
}

// The session with the CSRF token its cookie's unsafe requests must send.
http::Response SessionAnswer(int status, const Session& session, std::string_view token) {
  return JsonResponse(status, boost::json::object{{"session", SessionJson(session)}, {"csrf_token", CsrfTokenFor(token)}});
}

}  // namespace

void RegisterSessionRoutes(http::Router& router, AppContext& app) {
  http::Route sign_in{"POST", "/v1/sessions", [&app](http::Request& req) {
                        if (Status st = CheckSignInRequest(req); !st.ok()) return Problem(req, st);
                        auto body = ParseJsonObject(req);
                        if (!body.ok()) return Problem(req, body.status());
                        FieldReader fields(*body);
                        auto tenant = fields.String("tenant", true);
                        if (!tenant.ok()) return Problem(req, tenant.status());
                        auto email = fields.String("email", true);
                        if (!email.ok()) return Problem(req, email.status());
                        auto password = fields.String("password", true);
                        if (!password.ok()) return Problem(req, password.status());
                        if (Status st = fields.RejectUnknownFields(); !st.ok()) return Problem(req, st);
                        auto signed_in = app.sessions.SignIn(SignInRequest{
                            **tenant, **email, **password, ClientAddress(req), std::string(req.headers.Get("User-Agent"))});
                        if (!signed_in.ok()) return Problem(req, signed_in.status());
                        http::Response response = SessionAnswer(201, signed_in->session, signed_in->token);
                        response.headers.emplace_back("Set-Cookie",
                                                      SessionCookieHeader(signed_in->token, app.config.auth_cookie_secure));
                        response.headers.emplace_back("Cache-Control", "no-store");
                        return response;
                      }};
  sign_in.max_body_bytes = kMaxSignInBodyBytes;
  router.Add(std::move(sign_in));

  router.Add({"GET", "/v1/sessions/current", Authed(app, [&app](http::Request& req, const Principal& p) {
                auto session = app.sessions.Current(p);
                if (!session.ok()) return Problem(req, session.status());
                http::Response response = SessionAnswer(200, *session, SessionCookie(req).value_or(""));
                response.headers.emplace_back("Cache-Control", "no-store");
                return response;
              })});

  router.Add({"DELETE", "/v1/sessions/current", Authed(app, [&app](http::Request& req, const Principal& p) {
                auto session = app.sessions.SignOut(p);
                if (!session.ok()) return Problem(req, session.status());
                http::Response response = JsonResponse(200, SessionJson(*session));
                response.headers.emplace_back("Set-Cookie", ClearSessionCookieHeader(app.config.auth_cookie_secure));
                return response;
              })});
}

}  // namespace quarry::api
