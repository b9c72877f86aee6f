// Web sign-in session tokens: "qs_<43 letters or digits>" (about 256 bits from OpenSSL's CSPRNG),
// sent by browsers in the HttpOnly cookie `quarry_session`.
//
// The store keeps only the token's SHA-256 and finds the session by it (a fast hash suffices for a
// random secret). The CSRF token of a session is derived from its session token with a one-way
// function: a page can ask for it (GET /v1/sessions/current) at any time, a cross-site attacker
// cannot compute it without the cookie, and nothing more needs storing.
#pragma once

#include <string>
#include <string_view>

namespace quarry {

inline constexpr std::string_view kSessionCookieName = "quarry_session";
inline constexpr std::size_t kSessionTokenLength = 3 + 43;

struct GeneratedSessionToken {
  std::string token;  // given to the browser once, never stored
  std::string hash;   // stored: SHA-256 hex of token
};

GeneratedSessionToken GenerateSessionToken();
// True for a token of the shape GenerateSessionToken makes (others never reach the store).
bool LooksLikeSessionToken(std::string_view token);
// The session's CSRF token (64 hex characters).
std::string CsrfTokenFor(std::string_view session_token);
// True when a principal's key_id names a session ("ses_..."), i.e. it signed in with a password.
bool IsSessionId(std::string_view key_id);

}  // namespace quarry
