#include "api/session_cookie.h"

#include <algorithm>

#include "auth/session_token.h"
#include "common/ids.h"

namespace quarry::api {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

Status CsrfFailed(const std::string& message) { return PermissionDenied("csrf_failed", message); }

}  // namespace

std::optional<std::string> SessionCookie(const http::Request& request) {
  std::string_view header = request.headers.Get("Cookie");
  while (!header.empty()) {
    const std::size_t semicolon = header.find(';');
    std::string_view pair = Trim(header.substr(0, semicolon));
    header = semicolon == std::string_view::npos ? std::string_view() : header.substr(semicolon + 1);
    const std::size_t eq = pair.find('=');
    if (eq != std::string_view::npos && Trim(pair.substr(0, eq)) == kSessionCookieName) {
      return std::string(Trim(pair.substr(eq + 1)));
    }
  }
  return std::nullopt;
}

std::string SessionCookieHeader(std::string_view token, bool secure) {
  return std::string(kSessionCookieName) + "=" + std::string(token) + "; Path=/; HttpOnly; SameSite=Strict" +
         (secure ? "; Secure" : "");
}

std::string ClearSessionCookieHeader(bool secure) {
  return std::string(kSessionCookieName) + "=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict" +
         (secure ? "; Secure" : "");
}

bool IsUnsafeMethod(std::string_view method) { return method != "GET" && method != "HEAD" && method != "OPTIONS"; }

Status CheckCsrf(const http::Request& request, std::string_view session_token) {
  const std::string_view sent = request.headers.Get("X-CSRF-Token");
  if (sent.empty() || !ConstantTimeEquals(sent, CsrfTokenFor(session_token))) {
    return CsrfFailed("A request signed in with the session cookie that changes something must send the header "
                      "X-CSRF-Token with the csrf_token of POST /v1/sessions (or GET /v1/sessions/current)");
  }
  return CheckSameOrigin(request);
}

Status CheckSameOrigin(const http::Request& request) {
  if (!request.headers.Has("Origin")) return Status::Ok();
  const std::string_view origin = request.headers.Get("Origin");
  const std::size_t scheme_end = origin.find("://");
  const std::string_view authority = scheme_end == std::string_view::npos ? std::string_view() : origin.substr(scheme_end + 3);
  if (authority.empty() || !EqualsIgnoreCase(authority, request.headers.Get("Host"))) {
    return CsrfFailed("The request's Origin is not this server's; a page may only sign in or change things through "
                      "the session cookie from Quarry's own origin");
  }
  return Status::Ok();
}

Status CheckSignInRequest(const http::Request& request) {
  // A cross-site form can send text/plain or form encodings without a preflight, never JSON: a
  // JSON body and a same-origin Origin keep other sites from signing a browser in (login CSRF).
  const std::string_view type = request.headers.Get("Content-Type");
  const std::string_view media = type.substr(0, std::min(type.find(';'), type.size()));
  if (!EqualsIgnoreCase(media, "application/json")) {
    return Status(ErrorCode::kUnsupportedMediaType, "unsupported_media_type",
                  "Sign in with a JSON body and Content-Type: application/json");
  }
  return CheckSameOrigin(request);
}

std::string ClientAddress(const http::Request& request) {
  const std::string& remote = request.remote_address;  // "ip:port"; IPv6 without brackets
  const std::size_t colon = remote.rfind(':');
  return colon == std::string::npos ? remote : remote.substr(0, colon);
}

}  // namespace quarry::api
