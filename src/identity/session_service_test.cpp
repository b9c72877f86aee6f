// Web sign-in: SessionService (passwords, throttling, sign-out) together with the
// Authenticator's session cache (expiry, idle timeout, revocation, disabled users), on a
// simulated clock.
#include "identity/session_service.h"

#include "auth/session_token.h"
#include "identity/identity_service_test_support.h"
#include "meta/sqlite/sqlite_session_store.h"

namespace quarry {
namespace {

const std::string kPassword = "correct horse battery staple";

class SessionServiceTest : public IdentityServiceTest {
 protected:
  void SetUp() override {
    IdentityServiceTest::SetUp();
    sessions_store_ = std::move(OpenSqliteSessionStore({(dir_ / "meta.db").string(), 5000, 4})).value();
    authenticator_ = std::make_unique<Authenticator>(*store_, clock_, AuthenticatorOptions{});
    SessionAuthOptions auth_options;
    auth_options.idle_timeout = 30min;
    authenticator_->EnableSessions(*sessions_store_, auth_options);
    SessionOptions options;
    options.ttl = 2h;
    options.failures_per_account = 3;
    options.failures_per_address = 5;
    options.failure_window = 10min;
    sessions_ = std::make_unique<SessionService>(*store_, *sessions_store_, *service_, *authenticator_, hasher_,
                                                 clock_, options);
    ASSERT_TRUE(sessions_->SetPassword(operator_, acme_.id, "owner@acme.test", std::nullopt, kPassword, "local").ok());
  }
  void TearDown() override {
    sessions_.reset();
    authenticator_.reset();
    sessions_store_.reset();
    IdentityServiceTest::TearDown();
  }

  Result<SignedIn> SignIn(const std::string& email, const std::string& password, const std::string& address = "10.0.0.1",
                          const std::string& tenant = "acme") {
    return sessions_->SignIn(SignInRequest{tenant, email, password, address, "test-agent"});
  }
  Result<std::shared_ptr<const Principal>> Use(const SignedIn& s) { return authenticator_->AuthenticateSession(s.token); }

  PasswordHasher hasher_{PasswordOptions{64, 1, 1}};
  std::unique_ptr<SessionStore> sessions_store_;
  std::unique_ptr<Authenticator> authenticator_;
  std::unique_ptr<SessionService> sessions_;
};

TEST_F(SessionServiceTest, SignInMakesASessionThatActsAsTheUserWithTheRolesScopes) {
  auto signed_in = SignIn("Owner@Acme.test", kPassword);
  ASSERT_TRUE(signed_in.ok()) << signed_in.status().ToString();
  EXPECT_TRUE(LooksLikeSessionToken(signed_in->token));
  EXPECT_TRUE(IsSessionId(signed_in->session.id));
  EXPECT_EQ(signed_in->session.expires_at, clock_.NowMillis() + 2 * 3'600'000);
  EXPECT_EQ(signed_in->session.client_address, "10.0.0.1");
  EXPECT_EQ(signed_in->session.token_hash, Sha256Hex(signed_in->token));
  auto p = Use(*signed_in);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ((*p)->user.id, acme_owner_user_.id);
  EXPECT_EQ((*p)->key_id, signed_in->session.id);
  EXPECT_EQ(Sorted((*p)->scopes), Sorted(kAllScopes));
  EXPECT_EQ(sessions_->Current(**p)->id, signed_in->session.id);
  // A key has no session.
  ExpectError(sessions_->Current(acme_owner_), ErrorCode::kNotFound, "session_not_found");
  ExpectError(authenticator_->AuthenticateSession("qs_nonsense"), ErrorCode::kUnauthenticated, "invalid_session");
  ExpectError(authenticator_->AuthenticateSession(GenerateSessionToken().token), ErrorCode::kUnauthenticated,
              "invalid_session");
}

TEST_F(SessionServiceTest, EveryCredentialFailureAnswersAlike) {
  AcmeMember("nopass@acme.test", "viewer");  // a user without a password
  for (const auto& [tenant, email, password] :
       std::vector<std::tuple<std::string, std::string, std::string>>{{"acme", "owner@acme.test", "wrong password!!"},
                                                                       {"acme", "ghost@acme.test", kPassword},
                                                                       {"nowhere", "owner@acme.test", kPassword},
                                                                       {"acme", "nopass@acme.test", kPassword}}) {
    SCOPED_TRACE(tenant + " " + email);
    auto r = sessions_->SignIn(SignInRequest{tenant, email, password, "10.0.0." + email.substr(0, 1), ""});
    ExpectError(r, ErrorCode::kUnauthenticated, "invalid_credentials");
    EXPECT_EQ(r.status().message().find(email), std::string::npos);
  }
  ExpectError(SignIn("owner@acme.test", std::string(300, 'x')), ErrorCode::kInvalidArgument, "invalid_password");
}

TEST_F(SessionServiceTest, FailuresPerAccountLockItOutEvenForTheRightPasswordUntilTheWindowPasses) {
  for (int i = 0; i < 3; ++i) {
    ExpectError(SignIn("owner@acme.test", "wrong password " + std::to_string(i), "10.0.0." + std::to_string(i)),
                ErrorCode::kUnauthenticated, "invalid_credentials");
  }
  auto locked = SignIn("owner@acme.test", kPassword, "10.9.9.9");
  ExpectError(locked, ErrorCode::kResourceExhausted, "too_many_sign_in_attempts");
  EXPECT_EQ(locked.status().details().at("retry_after_seconds"), "600");
  clock_.Advance(9min);
  EXPECT_EQ(SignIn("owner@acme.test", kPassword).status().details().at("retry_after_seconds"), "60");
  clock_.Advance(1min);
  ASSERT_TRUE(SignIn("owner@acme.test", kPassword).ok());
  // Success forgot the account's failures: three more wrong ones are needed to lock it again.
  ExpectError(SignIn("owner@acme.test", "wrong again!!"), ErrorCode::kUnauthenticated, "invalid_credentials");
  ASSERT_TRUE(SignIn("owner@acme.test", kPassword).ok());
}

TEST_F(SessionServiceTest, FailuresPerAddressLockOutEveryAccountFromIt) {
  for (int i = 0; i < 5; ++i) {
    ExpectError(SignIn("user" + std::to_string(i) + "@acme.test", "whatever password", "192.0.2.7"),
                ErrorCode::kUnauthenticated, "invalid_credentials");
  }
  ExpectError(SignIn("owner@acme.test", kPassword, "192.0.2.7"), ErrorCode::kResourceExhausted,
              "too_many_sign_in_attempts");
  EXPECT_TRUE(SignIn("owner@acme.test", kPassword, "192.0.2.8").ok());
}

TEST_F(SessionServiceTest, SessionsEndAtTheirTtlAndWhenIdle) {
  auto a = *SignIn("owner@acme.test", kPassword);
  clock_.Advance(29min);
  ASSERT_TRUE(Use(a).ok());
  clock_.Advance(29min);  // used 29 minutes ago: still fresh
  ASSERT_TRUE(Use(a).ok());
  clock_.Advance(30min);
  ExpectError(Use(a), ErrorCode::kUnauthenticated, "invalid_session");

  auto b = *SignIn("owner@acme.test", kPassword);
  for (int i = 0; i < 4; ++i) {
    clock_.Advance(25min);
    ASSERT_TRUE(Use(b).ok()) << i;
  }
  // The last-seen time reached the store (at most about once a minute), so another process would
  // not find it idle.
  authenticator_->Refresh();
  authenticator_->ForgetSessions();
  EXPECT_EQ(sessions_store_->GetSession(acme_.id, b.session.id)->last_seen_at, clock_.NowMillis());
  clock_.Advance(25min);  // 2h05 after sign-in: past the absolute lifetime, not idle
  ExpectError(Use(b), ErrorCode::kUnauthenticated, "invalid_session");
}

TEST_F(SessionServiceTest, SignOutEndsTheSessionAtOnce) {
  auto a = *SignIn("owner@acme.test", kPassword);
  auto p = *Use(a);
  auto ended = sessions_->SignOut(*p);
  ASSERT_TRUE(ended.ok()) << ended.status().ToString();
  EXPECT_TRUE(ended->revoked_at.has_value());
  ExpectError(Use(a), ErrorCode::kUnauthenticated, "invalid_session");
}

TEST_F(SessionServiceTest, ASessionKeptBusyInAnotherProcessIsNotIdleHere) {
  Authenticator other(*store_, clock_, AuthenticatorOptions{});
  SessionAuthOptions options;
  options.idle_timeout = 30min;
  other.EnableSessions(*sessions_store_, options);
  auto a = *SignIn("owner@acme.test", kPassword);
  ASSERT_TRUE(other.AuthenticateSession(a.token).ok());  // cached there with its sign-in time
  // Used here every 20 minutes for an hour; the last-seen times reach the store.
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(20min);
    ASSERT_TRUE(Use(a).ok()) << i;
    authenticator_->Refresh();
  }
  authenticator_->ForgetSessions();  // flushes the last use
  clock_.Advance(1min);
  EXPECT_TRUE(other.AuthenticateSession(a.token).ok()) << "the other process asks the store before refusing";
}

TEST_F(SessionServiceTest, ASignOutInAnotherProcessEndsTheSessionHereAtTheNextRefreshOnly) {
  // Another process on the same store: its own authenticator and session cache.
  Authenticator other(*store_, clock_, AuthenticatorOptions{});
  other.EnableSessions(*sessions_store_, SessionAuthOptions{});
  auto a = *SignIn("owner@acme.test", kPassword);
  auto key = service_->CreateKey(operator_, acme_.id, NewKey{"k", "owner@acme.test", {}, std::nullopt});
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  ASSERT_TRUE(other.AuthenticateSession(a.token).ok());
  ASSERT_TRUE(other.Authenticate("Bearer " + key->token).ok());
  ASSERT_TRUE(sessions_->SignOut(**Use(a)).ok());
  other.Refresh();
  ExpectError(other.AuthenticateSession(a.token), ErrorCode::kUnauthenticated, "invalid_session");
  // The sign-out moved the session epoch only: the other process's cached keys stay.
  EXPECT_EQ(other.cached_entries(), 1u);
}

TEST_F(SessionServiceTest, DisabledUsersAndTenantsCannotUseTheirSessions) {
  Principal viewer = AcmeMember("viewer@acme.test", "viewer");
  ASSERT_TRUE(sessions_->SetPassword(acme_owner_, acme_.id, viewer.user.id, std::nullopt, kPassword, "x").ok());
  auto s = *SignIn("viewer@acme.test", kPassword);
  ASSERT_TRUE(Use(s).ok());
  ASSERT_TRUE(service_->UpdateUser(acme_owner_, acme_.id, viewer.user.id, UserChanges{std::nullopt, "disabled"}).ok());
  authenticator_->Refresh();  // the epoch moved
  ExpectError(Use(s), ErrorCode::kPermissionDenied, "user_disabled");
  ExpectError(SignIn("viewer@acme.test", kPassword), ErrorCode::kPermissionDenied, "user_disabled");
  ExpectError(SignIn("viewer@acme.test", "not the password"), ErrorCode::kUnauthenticated, "invalid_credentials");
}

TEST_F(SessionServiceTest, ChangingOnesPasswordKeepsThisSessionAndEndsTheOthers) {
  auto here = *SignIn("owner@acme.test", kPassword);
  auto there = *SignIn("owner@acme.test", kPassword);
  auto p = *Use(here);
  const std::string next = "a brand new passphrase";
  ExpectError(sessions_->SetPassword(*p, acme_.id, "owner@acme.test", std::nullopt, next, "a"),
              ErrorCode::kInvalidArgument, "invalid_current_password");
  ExpectError(sessions_->SetPassword(*p, acme_.id, "owner@acme.test", std::string("wrong current"), next, "a"),
              ErrorCode::kPermissionDenied, "wrong_current_password");
  ExpectError(sessions_->SetPassword(*p, acme_.id, "owner@acme.test", kPassword, "short", "a"),
              ErrorCode::kInvalidArgument, "invalid_new_password");
  ExpectError(sessions_->SetPassword(*p, acme_.id, "owner@acme.test", kPassword, "OWNER@acme.test", "a"),
              ErrorCode::kInvalidArgument, "invalid_new_password");
  ASSERT_TRUE(sessions_->SetPassword(*p, acme_.id, "owner@acme.test", kPassword, next, "a").ok());
  EXPECT_TRUE(Use(here).ok());
  ExpectError(Use(there), ErrorCode::kUnauthenticated, "invalid_session");
  ExpectError(SignIn("owner@acme.test", kPassword), ErrorCode::kUnauthenticated, "invalid_credentials");
  EXPECT_TRUE(SignIn("owner@acme.test", next).ok());
}

TEST_F(SessionServiceTest, AdminsSetOthersPasswordsButNotAnOwnersAndOthersCannot) {
  Principal admin = AcmeMember("admin@acme.test", "admin");
  Principal analyst = AcmeMember("analyst@acme.test", "analyst");
  ExpectError(sessions_->SetPassword(admin, acme_.id, "owner@acme.test", std::nullopt, "a fine new password", ""),
              ErrorCode::kPermissionDenied, "role_too_low");
  ExpectError(sessions_->SetPassword(analyst, acme_.id, admin.user.id, std::nullopt, "a fine new password", ""),
              ErrorCode::kPermissionDenied, "role_too_low");
  ExpectError(sessions_->SetPassword(admin, acme_.id, analyst.user.id, kPassword, "a fine new password", ""),
              ErrorCode::kInvalidArgument, "invalid_current_password");
  ASSERT_TRUE(sessions_->SetPassword(admin, acme_.id, analyst.user.id, std::nullopt, "a fine new password", "").ok());
  // A user without a password sets their first one without current_password (their key proves them).
  ASSERT_TRUE(sessions_->SetPassword(admin, acme_.id, admin.user.id, std::nullopt, "the admin's password", "").ok());
  ExpectError(sessions_->SetPassword(acme_owner_, "ten_other", analyst.user.id, std::nullopt, "a fine new password", ""),
              ErrorCode::kNotFound, "tenant_not_found");
}

}  // namespace
}  // namespace quarry
