#include "auth/api_key_token.h"

#include "common/ids.h"

namespace quarry {
namespace {

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

}  // namespace

GeneratedToken GenerateApiKeyToken() {
  GeneratedToken t;
  t.prefix = "qk_" + RandomAlphanumeric(12);
  t.token = t.prefix + "_" + RandomAlphanumeric(32);
  t.hash = Sha256Hex(t.token);
  return t;
}

std::optional<std::string> ApiKeyPrefixOf(std::string_view token) {
  if (token.size() != kApiKeyTokenLength || token.substr(0, 3) != "qk_" ||
      token[kApiKeyPrefixLength] != '_') {
    return std::nullopt;
  }
  for (std::size_t i = 3; i < token.size(); ++i) {
    if (i == kApiKeyPrefixLength) continue;
    if (!IsAlnum(token[i])) return std::nullopt;
  }
  return std::string(token.substr(0, kApiKeyPrefixLength));
}

}  // namespace quarry
