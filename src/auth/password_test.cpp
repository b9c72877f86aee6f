#include "auth/password.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "auth/session_token.h"

namespace quarry {
namespace {

// Small parameters keep the tests fast (also under ASan); the format is the same.
PasswordOptions Small() {
  PasswordOptions o;
  o.memory_kib = 64;
  o.time_cost = 1;
  o.lanes = 1;
  return o;
}

TEST(PasswordHasher, HashesInTheStandardEncodingAndVerifies) {
  PasswordHasher hasher(Small());
  auto hash = hasher.Hash("correct horse battery");
  ASSERT_TRUE(hash.ok()) << hash.status().ToString();
  EXPECT_EQ(hash->rfind("$argon2id$v=19$m=64,t=1,p=1$", 0), 0u) << *hash;
  EXPECT_EQ(hash->find("correct"), std::string::npos);
  EXPECT_TRUE(*hasher.Verify("correct horse battery", *hash));
  EXPECT_FALSE(*hasher.Verify("correct horse batterY", *hash));
  EXPECT_FALSE(*hasher.Verify("", *hash));
  // A fresh salt each time.
  EXPECT_NE(*hasher.Hash("correct horse battery"), *hash);
}

TEST(PasswordHasher, VerifyReadsTheParametersFromTheEncoding) {
  PasswordOptions other = Small();
  other.memory_kib = 128;
  other.time_cost = 2;
  other.lanes = 2;
  PasswordHasher old_params(other);
  const std::string hash = *old_params.Hash("a long enough password");
  EXPECT_NE(hash.find("m=128,t=2,p=2"), std::string::npos);
  PasswordHasher current(Small());
  EXPECT_TRUE(*current.Verify("a long enough password", hash));
}

TEST(PasswordHasher, UnknownAccountsAreCheckedAgainstADummyAndNeverMatch) {
  PasswordHasher hasher(Small());
  auto result = hasher.Verify("anything at all", std::nullopt);
  ASSERT_TRUE(result.ok());
  EXPECT_FALSE(*result);
}

TEST(PasswordHasher, AMalformedStoredHashIsAnErrorNotAMatch) {
  PasswordHasher hasher(Small());
  auto result = hasher.Verify("x", std::string("$argon2id$garbage"));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), "password_hash_invalid");
}

TEST(PasswordHasher, AStoredHashAskingForFarMoreThanTheServersCostIsNotComputed) {
  PasswordHasher hasher(Small());
  // 4 GiB and 100 passes: a tampered row must not make one sign-in take the machine.
  auto result = hasher.Verify("x", std::string("$argon2id$v=19$m=4194304,t=100,p=4$c2FsdHNhbHRzYWx0$aGFzaA"));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), "password_hash_invalid");
}

TEST(PasswordHasher, BoundsConcurrentHashing) {
  PasswordOptions o = Small();
  o.memory_kib = 4096;
  o.time_cost = 4;
  o.max_concurrent = 1;
  o.max_wait = std::chrono::milliseconds(0);
  PasswordHasher hasher(o);
  const std::string hash = *hasher.Hash("some password here");
  std::atomic<int> busy{0}, ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      auto r = hasher.Verify("some password here", hash);
      if (r.ok()) {
        ++ok;
      } else {
        EXPECT_EQ(r.status().code(), "sign_in_busy");
        EXPECT_EQ(r.status().category(), ErrorCode::kResourceExhausted);
        EXPECT_EQ(r.status().details().at("retry_after_seconds"), "1");
        ++busy;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_GE(ok.load(), 1);
  EXPECT_EQ(ok + busy, 8);
}

TEST(SessionToken, ShapeHashAndCsrf) {
  GeneratedSessionToken t = GenerateSessionToken();
  EXPECT_TRUE(LooksLikeSessionToken(t.token));
  EXPECT_EQ(t.token.size(), kSessionTokenLength);
  EXPECT_EQ(t.hash.size(), 64u);
  EXPECT_NE(GenerateSessionToken().token, t.token);
  EXPECT_FALSE(LooksLikeSessionToken("qs_short"));
  EXPECT_FALSE(LooksLikeSessionToken("qk_" + t.token.substr(3)));
  EXPECT_FALSE(LooksLikeSessionToken(t.token.substr(0, 45) + ";"));
  const std::string csrf = CsrfTokenFor(t.token);
  EXPECT_EQ(csrf.size(), 64u);
  EXPECT_NE(csrf, t.hash);
  EXPECT_EQ(csrf, CsrfTokenFor(t.token));
  EXPECT_TRUE(IsSessionId("ses_01jd5w7k3a9x2m4q8r7t6v5b4c"));
  EXPECT_FALSE(IsSessionId("key_01jd5w7k3a9x2m4q8r7t6v5b4c"));
}

}  // namespace
}  // namespace quarry
