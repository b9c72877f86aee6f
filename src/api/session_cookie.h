// The session cookie and the CSRF rule of web sign-in (docs/security.md, "Web sign-in").
//
//   - The cookie: `quarry_session=<token>; Path=/; HttpOnly; SameSite=Strict` plus `; Secure` when
//     auth.cookie_secure is set (the server speaks plain HTTP; behind a TLS-terminating proxy the
//     operator sets it). No Max-Age: the browser forgets it when it closes; the server ends it after
//     auth.session_ttl or auth.session_idle_timeout whatever the browser keeps.
//   - CSRF: a request authenticated by the cookie with an unsafe method (anything but GET, HEAD,
//     OPTIONS) must carry `X-CSRF-Token` equal to the session's CSRF token (constant-time compare)
//     and, when it has an Origin header, an Origin whose host[:port] is the request's Host.
//     Otherwise 403 "csrf_failed". Requests with an API key are not affected.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "http/http.h"

namespace quarry::api {

// The value of the request's quarry_session cookie, if any.
std::optional<std::string> SessionCookie(const http::Request& request);
std::string SessionCookieHeader(std::string_view token, bool secure);
// Tells the browser to drop the cookie (Max-Age=0).
std::string ClearSessionCookieHeader(bool secure);
bool IsUnsafeMethod(std::string_view method);
// OK, or 403 "csrf_failed" saying what to send.
Status CheckCsrf(const http::Request& request, std::string_view session_token);
// The client's IP as the server saw the connection (no port); forwarded headers are not trusted.
std::string ClientAddress(const http::Request& request);
// When an Origin header is present, it must name this server (its Host); else 403 csrf_failed.
Status CheckSameOrigin(const http::Request& request);
// POST /v1/sessions must be JSON (415 unsupported_media_type) from this server's origin, so that
// another site cannot sign a browser into an account of its choosing (login CSRF).
Status CheckSignInRequest(const http::Request& request);

}  // namespace quarry::api
