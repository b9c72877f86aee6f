#include "auth/api_key_token.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "common/ids.h"

namespace quarry {
namespace {

bool IsAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

TEST(ApiKeyTokenTest, GeneratedTokenShape) {
  const GeneratedToken t = GenerateApiKeyToken();
  ASSERT_EQ(t.token.size(), kApiKeyTokenLength);
  ASSERT_EQ(t.token.size(), 48u);
  ASSERT_EQ(t.prefix.size(), kApiKeyPrefixLength);
  EXPECT_EQ(t.token.substr(0, 3), "qk_");
  EXPECT_EQ(t.token.substr(0, kApiKeyPrefixLength), t.prefix);
  EXPECT_EQ(t.token[kApiKeyPrefixLength], '_');
  for (std::size_t i = 3; i < t.token.size(); ++i) {
    if (i == kApiKeyPrefixLength) continue;
    EXPECT_TRUE(IsAlnum(t.token[i])) << "position " << i << ": " << t.token[i];
  }
  EXPECT_EQ(t.hash, Sha256Hex(t.token));
  EXPECT_EQ(t.hash.size(), 64u);
}

TEST(ApiKeyTokenTest, GeneratedTokensAreUniqueAndParse) {
  std::set<std::string> tokens, prefixes;
  for (int i = 0; i < 200; ++i) {
    const GeneratedToken t = GenerateApiKeyToken();
    tokens.insert(t.token);
    prefixes.insert(t.prefix);
    auto prefix = ApiKeyPrefixOf(t.token);
    ASSERT_TRUE(prefix.has_value()) << t.token;
    EXPECT_EQ(*prefix, t.prefix);
  }
  EXPECT_EQ(tokens.size(), 200u);
  EXPECT_EQ(prefixes.size(), 200u);
}

TEST(ApiKeyTokenTest, PrefixOfValidTokens) {
  const std::string prefix = "qk_" + std::string("AbCdEf012345");
  const std::string secret = "ZyXwVuTsRqPoNmLkJiHgFeDcBa987654";
  ASSERT_EQ(secret.size(), 32u);
  auto result = ApiKeyPrefixOf(prefix + "_" + secret);
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(*result, prefix);

  auto all_digits = ApiKeyPrefixOf("qk_000000000000_" + std::string(32, '9'));
  ASSERT_TRUE(all_digits.has_value());
  EXPECT_EQ(*all_digits, "qk_000000000000");
}

TEST(ApiKeyTokenTest, PrefixOfRejectsMalformedTokens) {
  const std::string good = "qk_AbCdEf012345_" + std::string(32, 'x');
  ASSERT_TRUE(ApiKeyPrefixOf(good).has_value());

  auto with_char = [&](std::size_t pos, char c) {
    std::string t = good;
    t[pos] = c;
    return t;
  };
  struct Case {
    std::string what;
    std::string token;
  };
  const std::vector<Case> cases = {
      {"empty", ""},
      {"one short", good.substr(0, good.size() - 1)},
      {"one long", good + "x"},
      {"prefix only", "qk_AbCdEf012345"},
      {"upper-case scheme", "QK" + good.substr(2)},
      {"wrong scheme", "qx" + good.substr(2)},
      {"no underscore after qk", with_char(2, 'x')},
      {"separator not underscore", with_char(kApiKeyPrefixLength, 'x')},
      {"separator is dash", with_char(kApiKeyPrefixLength, '-')},
      {"dash in prefix", with_char(5, '-')},
      {"underscore in prefix", with_char(5, '_')},
      {"underscore in secret", with_char(20, '_')},
      {"space in secret", with_char(20, ' ')},
      {"slash in secret", with_char(47, '/')},
      {"plus in secret", with_char(30, '+')},
      {"NUL in secret", with_char(30, '\0')},
      {"non-ASCII in prefix", with_char(4, '\xc3')},
      {"non-ASCII in secret", with_char(40, '\xa9')},
  };
  for (const auto& c : cases) {
    EXPECT_FALSE(ApiKeyPrefixOf(c.token).has_value()) << c.what;
  }
}

}  // namespace
}  // namespace quarry
