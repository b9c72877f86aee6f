// Tests of the SQLite SessionStore: password hashes, sessions and their revocation, failed
// sign-in attempts.
#include "meta/sqlite/sqlite_session_store.h"

#include <gtest/gtest.h>

#include "common/ids.h"
#include "common/testing/temp_dir.h"

namespace quarry {
namespace {

constexpr UnixMillis kNow = 1'767'225'600'000;

class SqliteSessionStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    meta_ = std::move(OpenSqliteMetaStore({path_})).value();
    store_ = std::move(OpenSqliteSessionStore({path_})).value();
    ASSERT_TRUE(meta_->InsertTenant(Tenant{"ten_a", "a", "A", TenantStatus::kActive, kNow, kNow}).ok());
    ASSERT_TRUE(meta_->InsertTenant(Tenant{"ten_b", "b", "B", TenantStatus::kActive, kNow, kNow}).ok());
    ASSERT_TRUE(meta_->InsertUser(User{"usr_a", "ten_a", "ana@a.io", Role::kAnalyst, UserStatus::kActive, kNow, kNow}).ok());
  }

  Session MakeSession(const std::string& id, const std::string& token_hash) {
    Session s{id, "ten_a", "usr_a", token_hash, kNow, kNow, kNow + 3'600'000, std::nullopt, "127.0.0.1", "curl"};
    EXPECT_TRUE(store_->InsertSession(s, "").ok());
    return s;
  }
  std::int64_t Epoch() { return *store_->SessionEpoch(); }

  testing::TempDir temp_{"session-store"};
  const std::string path_ = (temp_.path() / "meta.db").string();
  std::unique_ptr<MetaStore> meta_;
  std::unique_ptr<SessionStore> store_;
};

TEST_F(SqliteSessionStoreTest, PasswordHashesBelongToTheirTenantsUsers) {
  EXPECT_FALSE(store_->GetPasswordHash("ten_a", "usr_a")->has_value());
  EXPECT_EQ(store_->GetPasswordHash("ten_b", "usr_a").status().code(), "user_not_found");
  EXPECT_EQ(store_->SetPasswordHash("ten_b", "usr_a", "$h", "", kNow).status().code(), "user_not_found");
  ASSERT_EQ(*store_->SetPasswordHash("ten_a", "usr_a", "$argon2id$x", "", kNow), 0);
  EXPECT_EQ(**store_->GetPasswordHash("ten_a", "usr_a"), "$argon2id$x");
  // The user's other fields are untouched.
  EXPECT_EQ(meta_->GetUser("ten_a", "usr_a")->email, "ana@a.io");
}

TEST_F(SqliteSessionStoreTest, SessionsAreFoundByTokenHashAndByTenant) {
  Session s = MakeSession("ses_1", "hash1");
  auto found = store_->FindSessionByTokenHash("hash1");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->id, "ses_1");
  EXPECT_EQ(found->client_address, "127.0.0.1");
  EXPECT_EQ(store_->FindSessionByTokenHash("nope").status().code(), "session_not_found");
  EXPECT_TRUE(store_->GetSession("ten_a", "ses_1").ok());
  EXPECT_EQ(store_->GetSession("ten_b", "ses_1").status().code(), "session_not_found");
  // Same token hash again, or a user of another tenant: refused.
  Session again = s;
  again.id = "ses_2";
  EXPECT_EQ(store_->InsertSession(again, "").code(), "session_id_taken");
  Session stranger = s;
  stranger.id = "ses_3";
  stranger.token_hash = "hash3";
  stranger.tenant_id = "ten_b";
  EXPECT_EQ(store_->InsertSession(stranger, "").code(), "user_not_found");
  // User agents are truncated.
  Session long_agent = s;
  long_agent.id = "ses_4";
  long_agent.token_hash = "hash4";
  long_agent.user_agent = std::string(1000, 'x');
  ASSERT_TRUE(store_->InsertSession(long_agent, "").ok());
  EXPECT_EQ(store_->GetSession("ten_a", "ses_4")->user_agent.size(), kMaxUserAgentBytes);
}

TEST_F(SqliteSessionStoreTest, ASignInVerifiedAgainstAnOldPasswordCreatesNoSession) {
  ASSERT_TRUE(store_->SetPasswordHash("ten_a", "usr_a", "$old", "", kNow).ok());
  Session s{"ses_1", "ten_a", "usr_a", "hash1", kNow, kNow, kNow + 3'600'000, std::nullopt, "127.0.0.1", "curl"};
  // The password changed between the verification and the insert (a race with a reset).
  ASSERT_TRUE(store_->SetPasswordHash("ten_a", "usr_a", "$new", "", kNow).ok());
  EXPECT_EQ(store_->InsertSession(s, "$old").code(), "password_changed");
  EXPECT_EQ(store_->FindSessionByTokenHash("hash1").status().code(), "session_not_found");
  EXPECT_TRUE(store_->InsertSession(s, "$new").ok());
}

TEST_F(SqliteSessionStoreTest, RevocationIsIdempotentAndBumpsTheEpoch) {
  MakeSession("ses_1", "hash1");
  const auto epoch = Epoch();
  const auto identity = *meta_->IdentityEpoch();
  ASSERT_TRUE(store_->RevokeSession("ten_a", "ses_1", kNow + 5).ok());
  EXPECT_EQ(Epoch(), epoch + 1);
  EXPECT_EQ(*meta_->IdentityEpoch(), identity) << "a sign-out does not flush every cached key";
  ASSERT_TRUE(store_->RevokeSession("ten_a", "ses_1", kNow + 9).ok());
  EXPECT_EQ(Epoch(), epoch + 1);
  EXPECT_EQ(*store_->GetSession("ten_a", "ses_1")->revoked_at, kNow + 5);
  EXPECT_EQ(store_->RevokeSession("ten_b", "ses_1", kNow).code(), "session_not_found");
}

TEST_F(SqliteSessionStoreTest, APasswordChangeRevokesTheUsersOtherSessions) {
  MakeSession("ses_1", "hash1");
  MakeSession("ses_2", "hash2");
  MakeSession("ses_3", "hash3");
  const auto epoch = Epoch();
  ASSERT_EQ(*store_->SetPasswordHash("ten_a", "usr_a", "$new", "ses_2", kNow + 1), 2);
  EXPECT_EQ(Epoch(), epoch + 1);
  EXPECT_TRUE(store_->GetSession("ten_a", "ses_1")->revoked_at.has_value());
  EXPECT_FALSE(store_->GetSession("ten_a", "ses_2")->revoked_at.has_value());
  EXPECT_TRUE(store_->GetSession("ten_a", "ses_3")->revoked_at.has_value());
  // Nothing left to revoke: no epoch bump.
  ASSERT_EQ(*store_->SetPasswordHash("ten_a", "usr_a", "$newer", "ses_2", kNow + 2), 0);
  EXPECT_EQ(Epoch(), epoch + 1);
}

TEST_F(SqliteSessionStoreTest, UseMovesLastSeenForwardOnlyAndEndedSessionsAreDeleted) {
  MakeSession("ses_1", "hash1");
  MakeSession("ses_2", "hash2");
  ASSERT_TRUE(store_->RecordSessionUse({{"ses_1", kNow + 100}}).ok());
  ASSERT_TRUE(store_->RecordSessionUse({{"ses_1", kNow + 50}}).ok());
  EXPECT_EQ(store_->GetSession("ten_a", "ses_1")->last_seen_at, kNow + 100);
  ASSERT_TRUE(store_->RevokeSession("ten_a", "ses_2", kNow + 10).ok());
  EXPECT_EQ(*store_->DeleteEndedSessions(kNow + 11, 100), 1);
  EXPECT_EQ(store_->GetSession("ten_a", "ses_2").status().code(), "session_not_found");
  EXPECT_EQ(*store_->DeleteEndedSessions(kNow + 3'600'001, 100), 1);  // ses_1 expired
}

TEST_F(SqliteSessionStoreTest, FailuresAreCountedPerSubjectInsideTheWindow) {
  const std::string account = "account:ten_a:ana@a.io", address = "address:10.0.0.1";
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(store_->RecordSignInFailure({account, address}, kNow + i * 1000, 0).ok());
  ASSERT_TRUE(store_->RecordSignInFailure({address}, kNow + 5000, 0).ok());
  FailureCount c = *store_->CountSignInFailures(account, kNow - 1);
  EXPECT_EQ(c.count, 3);
  EXPECT_EQ(c.oldest, kNow);
  EXPECT_EQ(store_->CountSignInFailures(account, kNow)->count, 2);  // strictly after `since`
  EXPECT_EQ(store_->CountSignInFailures(address, kNow - 1)->count, 4);
  EXPECT_EQ(store_->CountSignInFailures("account:other", 0)->count, 0);
  ASSERT_TRUE(store_->ClearSignInFailures(account).ok());
  EXPECT_EQ(store_->CountSignInFailures(account, 0)->count, 0);
  EXPECT_EQ(store_->CountSignInFailures(address, 0)->count, 4);
  // Failures older than the window are forgotten by the next write.
  ASSERT_TRUE(store_->RecordSignInFailure({account}, kNow + 9000, kNow + 4000).ok());
  EXPECT_EQ(store_->CountSignInFailures(address, 0)->count, 1);
}

}  // namespace
}  // namespace quarry
