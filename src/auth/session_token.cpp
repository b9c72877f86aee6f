#include "auth/session_token.h"

#include <algorithm>

#include "common/ids.h"

namespace quarry {

GeneratedSessionToken GenerateSessionToken() {
  GeneratedSessionToken t;
  t.token = "qs_" + RandomAlphanumeric(kSessionTokenLength - 3);
  t.hash = Sha256Hex(t.token);
  return t;
}

bool LooksLikeSessionToken(std::string_view token) {
  return token.size() == kSessionTokenLength && token.substr(0, 3) == "qs_" &&
         std::all_of(token.begin() + 3, token.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
         });
}

std::string CsrfTokenFor(std::string_view session_token) {
  // A distinct prefix keeps this unrelated to the stored hash of the same token.
  return Sha256Hex("quarry-csrf-v1:" + std::string(session_token));
}

bool IsSessionId(std::string_view key_id) { return LooksLikeId(key_id, "ses"); }

}  // namespace quarry
