// API key tokens: "qk_<12 alphanumerics>_<32 alphanumerics>".
//
// The first part ("qk_" + 12 characters) is the key's public prefix: unique, stored in clear,
// shown to humans and used to find the key. The whole token is the secret; only its SHA-256 is
// stored. 32 random alphanumerics carry about 190 bits of entropy, so a fast hash is adequate
// (no password stretching is needed for random secrets).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace quarry {

inline constexpr std::size_t kApiKeyPrefixLength = 3 + 12;
inline constexpr std::size_t kApiKeyTokenLength = kApiKeyPrefixLength + 1 + 32;

struct GeneratedToken {
  std::string token;   // shown once, never stored
  std::string prefix;  // stored, shown
  std::string hash;    // stored: SHA-256 hex of token
};

GeneratedToken GenerateApiKeyToken();

// The prefix of a well-formed token, or nullopt (malformed tokens never reach the store).
std::optional<std::string> ApiKeyPrefixOf(std::string_view token);

}  // namespace quarry
