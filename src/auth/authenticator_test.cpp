#include "auth/authenticator.h"

#include <gtest/gtest.h>

#include "common/testing/temp_dir.h"
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "auth/api_key_token.h"
#include "common/clock.h"
#include "identity/identity_service.h"
#include "meta/sqlite/sqlite_meta_store.h"

namespace quarry {
namespace {

using namespace std::chrono_literals;

// Forwards to a real store, counting the calls the authenticator's caching is meant to save, and
// able to simulate an unreachable store for IdentityEpoch.
class CountingMetaStore final : public MetaStore {
 public:
  explicit CountingMetaStore(MetaStore& inner) : inner_(inner) {}

  std::atomic<int> find_by_prefix_calls{0};
  std::atomic<int> record_use_calls{0};
  std::atomic<bool> fail_identity_epoch{false};

  Status Ping() override { return inner_.Ping(); }
  Result<int> SchemaVersion() override { return inner_.SchemaVersion(); }
  Status InTransaction(const std::function<Status(MetaStore&)>& body) override {
    return inner_.InTransaction(body);
  }
  Status InsertTenant(const Tenant& tenant) override { return inner_.InsertTenant(tenant); }
  Result<Tenant> GetTenant(const std::string& tenant_id) override { return inner_.GetTenant(tenant_id); }
  Result<Tenant> GetTenantBySlug(const std::string& slug) override { return inner_.GetTenantBySlug(slug); }
  Result<Page<Tenant>> ListTenants(const PageRequest& page) override { return inner_.ListTenants(page); }
  Status UpdateTenant(const Tenant& tenant) override { return inner_.UpdateTenant(tenant); }
  Status InsertUser(const User& user) override { return inner_.InsertUser(user); }
  Result<User> GetUser(const std::string& tenant_id, const std::string& user_id) override {
    return inner_.GetUser(tenant_id, user_id);
  }
  Result<User> GetUserByEmail(const std::string& tenant_id, const std::string& email) override {
    return inner_.GetUserByEmail(tenant_id, email);
  }
  Result<Page<User>> ListUsers(const std::string& tenant_id, const PageRequest& page) override {
    return inner_.ListUsers(tenant_id, page);
  }
  Status UpdateUser(const User& user) override { return inner_.UpdateUser(user); }
  Status SetTenantSettings(const std::string& tenant_id, const std::string& settings, UnixMillis now) override {
    return inner_.SetTenantSettings(tenant_id, settings, now);
  }
  Status SetTenantQuotas(const std::string& tenant_id, const std::string& quotas, UnixMillis now) override {
    return inner_.SetTenantQuotas(tenant_id, quotas, now);
  }
  Status SetUserAttributes(const std::string& tenant_id, const std::string& user_id, const std::string& attributes,
                           UnixMillis now) override {
    return inner_.SetUserAttributes(tenant_id, user_id, attributes, now);
  }
  Status InsertApiKey(const ApiKey& key) override { return inner_.InsertApiKey(key); }
  Result<ApiKey> GetApiKey(const std::string& tenant_id, const std::string& key_id) override {
    return inner_.GetApiKey(tenant_id, key_id);
  }
  Result<ApiKey> FindApiKeyByPrefix(const std::string& prefix) override {
    ++find_by_prefix_calls;
    return inner_.FindApiKeyByPrefix(prefix);
  }
  Result<Page<ApiKey>> ListApiKeys(const std::string& tenant_id, const std::string& user_id_or_empty,
                                   const PageRequest& page) override {
    return inner_.ListApiKeys(tenant_id, user_id_or_empty, page);
  }
  Status RevokeApiKey(const std::string& tenant_id, const std::string& key_id,
                      UnixMillis revoked_at) override {
    return inner_.RevokeApiKey(tenant_id, key_id, revoked_at);
  }
  Status RecordApiKeyUse(const std::vector<std::pair<std::string, UnixMillis>>& uses) override {
    ++record_use_calls;
    return inner_.RecordApiKeyUse(uses);
  }
  Result<std::int64_t> IdentityEpoch() override {
    if (fail_identity_epoch) return Unavailable("metadata_store_busy", "simulated outage");
    return inner_.IdentityEpoch();
  }

 private:
  MetaStore& inner_;
};

constexpr auto kFlushInterval = 10s;

class AuthenticatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = OpenSqliteMetaStore({(dir_ / "meta.db").string(), 5000, 4});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    real_store_ = std::move(store).value();
    store_ = std::make_unique<CountingMetaStore>(*real_store_);
    identity_ = std::make_unique<IdentityService>(*real_store_, clock_);

    auto created = identity_->CreateTenant(Principal::LocalOperator(),
                                           NewTenant{"acme", "Acme", std::string("owner@acme.test")});
    ASSERT_TRUE(created.ok()) << created.status().ToString();
    tenant_ = created->tenant;
    ASSERT_TRUE(created->owner && created->owner_key);
    owner_ = *created->owner;
    owner_key_ = *created->owner_key;

    AuthenticatorOptions options;
    options.refresh_interval = 250ms;
    options.key_use_flush_interval = kFlushInterval;
    auth_ = std::make_unique<Authenticator>(*store_, clock_, options);
  }

  void TearDown() override {
    auth_.reset();  // flushes key use into the store, so it goes before the store
    identity_.reset();
    store_.reset();
    real_store_.reset();
  }

  static std::string Bearer(const std::string& token) { return "Bearer " + token; }

  // The owner as a principal (for creating more users and keys through the service).
  Principal OwnerPrincipal() {
    Principal p;
    p.tenant = tenant_;
    p.user = owner_;
    p.key_id = owner_key_.key.id;
    p.scopes = owner_key_.key.scopes;
    return p;
  }

  // A second, non-owner user of the tenant with a key of its own.
  std::pair<User, CreatedKey> CreateAnalystWithKey() {
    auto user = identity_->CreateUser(OwnerPrincipal(), tenant_.id, NewUser{"analyst@acme.test", "analyst"});
    EXPECT_TRUE(user.ok()) << user.status().ToString();
    NewKey request;
    request.name = "analyst key";
    request.user_id = user->id;
    auto key = identity_->CreateKey(OwnerPrincipal(), tenant_.id, request);
    EXPECT_TRUE(key.ok()) << key.status().ToString();
    return {*user, *key};
  }

  static void ExpectInvalidKey(const Result<std::shared_ptr<const Principal>>& result, const std::string& what) {
    ASSERT_FALSE(result.ok()) << what << " was accepted";
    EXPECT_EQ(result.status().category(), ErrorCode::kUnauthenticated) << what;
    EXPECT_EQ(result.status().code(), "invalid_api_key") << what;
  }

  testing::TempDir temp_{"auth"};
  const std::filesystem::path dir_ = temp_.path();
  SimulatedClock clock_;
  std::unique_ptr<MetaStore> real_store_;
  std::unique_ptr<CountingMetaStore> store_;
  std::unique_ptr<IdentityService> identity_;
  std::unique_ptr<Authenticator> auth_;
  Tenant tenant_;
  User owner_;
  CreatedKey owner_key_;
};

TEST_F(AuthenticatorTest, ValidKeyYieldsPrincipal) {
  auto principal = auth_->Authenticate(Bearer(owner_key_.token));
  ASSERT_TRUE(principal.ok()) << principal.status().ToString();
  EXPECT_FALSE((*principal)->is_operator);
  EXPECT_EQ((*principal)->tenant.id, tenant_.id);
  EXPECT_EQ((*principal)->tenant.slug, "acme");
  EXPECT_EQ((*principal)->user.id, owner_.id);
  EXPECT_EQ((*principal)->user.email, "owner@acme.test");
  EXPECT_EQ((*principal)->user.role, Role::kOwner);
  EXPECT_EQ((*principal)->key_id, owner_key_.key.id);
  std::vector<std::string> scopes = (*principal)->scopes;
  std::sort(scopes.begin(), scopes.end());
  EXPECT_EQ(scopes, (std::vector<std::string>{"admin", "read", "write"}));
  EXPECT_TRUE((*principal)->HasScope(kScopeAdmin));
}

TEST_F(AuthenticatorTest, SchemeIsCaseInsensitiveAndTrailingSpacesAreIgnored) {
  EXPECT_TRUE(auth_->Authenticate("bearer " + owner_key_.token).ok());
  EXPECT_TRUE(auth_->Authenticate("BEARER " + owner_key_.token).ok());
  EXPECT_TRUE(auth_->Authenticate(Bearer(owner_key_.token) + "  ").ok());
}

TEST_F(AuthenticatorTest, BadCredentialsAreAllInvalidApiKey) {
  const std::string& token = owner_key_.token;
  std::string wrong_secret = token;
  wrong_secret.back() = wrong_secret.back() == 'a' ? 'b' : 'a';
  std::string unknown_prefix = token;
  unknown_prefix[5] = unknown_prefix[5] == 'a' ? 'b' : 'a';
  const GeneratedToken never_stored = GenerateApiKeyToken();

  struct Case {
    std::string what;
    std::string header;
  };
  const std::vector<Case> cases = {
      {"missing header", ""},
      {"scheme only", "Bearer"},
      {"scheme and space only", "Bearer "},
      {"non-Bearer scheme", "Basic " + token},
      {"no scheme", token},
      {"no space after scheme", "Bearer" + token},
      {"malformed token", "Bearer not-a-key"},
      {"token too short", "Bearer " + token.substr(0, token.size() - 1)},
      {"token too long", "Bearer " + token + "x"},
      {"unknown prefix", Bearer(unknown_prefix)},
      {"never stored", Bearer(never_stored.token)},
      {"right prefix, wrong secret", Bearer(wrong_secret)},
      {"hash instead of token", Bearer(owner_key_.key.secret_hash)},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    ExpectInvalidKey(auth_->Authenticate(c.header), c.what);
  }
  // The real key still works after all that (a wrong secret does not poison the cache).
  EXPECT_TRUE(auth_->Authenticate(Bearer(token)).ok());
  // Extra spaces between the scheme and the token are tolerated (regression: they were refused).
  EXPECT_TRUE(auth_->Authenticate("Bearer  " + token).ok());
}

TEST_F(AuthenticatorTest, UnknownPrefixIsLookedUpOncePerRefreshInterval) {
  const std::string fake = "Bearer qk_AAAAAAAAAAAA_" + std::string(32, 'B');
  for (int i = 0; i < 100; ++i) ExpectInvalidKey(auth_->Authenticate(fake), "fake key");
  EXPECT_EQ(store_->find_by_prefix_calls.load(), 1) << "misses are remembered";
  clock_.Advance(std::chrono::seconds(1));
  ExpectInvalidKey(auth_->Authenticate(fake), "fake key after the interval");
  EXPECT_EQ(store_->find_by_prefix_calls.load(), 2) << "and forgotten after one refresh interval";
  // A real key is unaffected by remembered misses.
  EXPECT_TRUE(auth_->Authenticate(Bearer(owner_key_.token)).ok());
}

TEST_F(AuthenticatorTest, MalformedTokensNeverReachTheStore) {
  ExpectInvalidKey(auth_->Authenticate("Bearer qk_short"), "short");
  ExpectInvalidKey(auth_->Authenticate("Basic abc"), "basic");
  ExpectInvalidKey(auth_->Authenticate(""), "empty");
  EXPECT_EQ(store_->find_by_prefix_calls.load(), 0);
}

TEST_F(AuthenticatorTest, VerifiedKeyIsServedFromMemory) {
  for (int i = 0; i < 100; ++i) {
    auto principal = auth_->Authenticate(Bearer(owner_key_.token));
    ASSERT_TRUE(principal.ok()) << principal.status().ToString();
  }
  EXPECT_EQ(store_->find_by_prefix_calls.load(), 1);
  EXPECT_EQ(auth_->cached_entries(), 1u);

  // A Refresh with no identity change keeps the cache.
  auth_->Refresh();
  EXPECT_TRUE(auth_->Authenticate(Bearer(owner_key_.token)).ok());
  EXPECT_EQ(store_->find_by_prefix_calls.load(), 1);
}

TEST_F(AuthenticatorTest, WrongSecretIsRejectedFromCacheToo) {
  ASSERT_TRUE(auth_->Authenticate(Bearer(owner_key_.token)).ok());
  std::string wrong = owner_key_.token;
  wrong.back() = wrong.back() == 'a' ? 'b' : 'a';
  ExpectInvalidKey(auth_->Authenticate(Bearer(wrong)), "wrong secret (cached prefix)");
  EXPECT_EQ(store_->find_by_prefix_calls.load(), 1);
}

TEST_F(AuthenticatorTest, RevocationTakesEffectAfterOneRefresh) {
  ASSERT_TRUE(auth_->Authenticate(Bearer(owner_key_.token)).ok());
  ASSERT_TRUE(real_store_->RevokeApiKey(tenant_.id, owner_key_.key.id, clock_.NowMillis()).ok());

  // Not before the refresh: the verified key is still served from memory.
  EXPECT_TRUE(auth_->Authenticate(Bearer(owner_key_.token)).ok());

  auth_->Refresh();
  ExpectInvalidKey(auth_->Authenticate(Bearer(owner_key_.token)), "revoked key");
  // And it stays revoked (now cached as revoked or reloaded: either way rejected).
  auth_->Refresh();
  ExpectInvalidKey(auth_->Authenticate(Bearer(owner_key_.token)), "revoked key, later");
}

TEST_F(AuthenticatorTest, KeyRevokedBeforeFirstUseIsRejected) {
  ASSERT_TRUE(identity_->RevokeKey(OwnerPrincipal(), tenant_.id, owner_key_.key.id).ok());
  ExpectInvalidKey(auth_->Authenticate(Bearer(owner_key_.token)), "revoked key");
}

TEST_F(AuthenticatorTest, ExpiredKeyIsRejected) {
  NewKey request;
  request.name = "short-lived";
  request.expires_in_days = 1;
  auto key = identity_->CreateKey(OwnerPrincipal(), tenant_.id, request);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  ASSERT_TRUE(key->key.expires_at.has_value());
  EXPECT_EQ(*key->key.expires_at, clock_.NowMillis() + 86'400'000);

  ASSERT_TRUE(auth_->Authenticate(Bearer(key->token)).ok());
  clock_.Advance(24h - 1ms);
  EXPECT_TRUE(auth_->Authenticate(Bearer(key->token)).ok()) << "valid until expires_at";
  clock_.Advance(2ms);  // past expires_at; no Refresh needed: expiry is checked on every request
  ASSERT_GT(clock_.NowMillis(), *key->key.expires_at);
  ExpectInvalidKey(auth_->Authenticate(Bearer(key->token)), "expired key");
  // Other keys are unaffected.
  EXPECT_TRUE(auth_->Authenticate(Bearer(owner_key_.token)).ok());
}

TEST_F(AuthenticatorTest, ExpiredKeyIsRejectedOnFirstUse) {
  NewKey request;
  request.name = "short-lived";
  request.expires_in_days = 1;
  auto key = identity_->CreateKey(OwnerPrincipal(), tenant_.id, request);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  clock_.Advance(48h);
  ExpectInvalidKey(auth_->Authenticate(Bearer(key->token)), "expired key");
}

TEST_F(AuthenticatorTest, DisabledTenantIsForbiddenAfterRefresh) {
  ASSERT_TRUE(auth_->Authenticate(Bearer(owner_key_.token)).ok());
  auto updated =
      identity_->UpdateTenant(Principal::LocalOperator(), tenant_.id, std::nullopt, std::string("disabled"));
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();

  EXPECT_TRUE(auth_->Authenticate(Bearer(owner_key_.token)).ok()) << "cached until Refresh";
  auth_->Refresh();
  auto result = auth_->Authenticate(Bearer(owner_key_.token));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().category(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(HttpStatusFor(result.status().category()), 403);
  EXPECT_EQ(result.status().code(), "tenant_disabled");

  // Re-enabling takes effect the same way.
  ASSERT_TRUE(
      identity_->UpdateTenant(Principal::LocalOperator(), tenant_.id, std::nullopt, std::string("active"))
          .ok());
  auth_->Refresh();
  EXPECT_TRUE(auth_->Authenticate(Bearer(owner_key_.token)).ok());
}

TEST_F(AuthenticatorTest, DisabledUserIsForbiddenAfterRefresh) {
  auto [analyst, analyst_key] = CreateAnalystWithKey();
  ASSERT_TRUE(auth_->Authenticate(Bearer(analyst_key.token)).ok());

  UserChanges changes;
  changes.status = "disabled";
  auto updated = identity_->UpdateUser(OwnerPrincipal(), tenant_.id, analyst.id, changes);
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();

  auth_->Refresh();
  auto result = auth_->Authenticate(Bearer(analyst_key.token));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().category(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(result.status().code(), "user_disabled");
  // The owner is not affected.
  EXPECT_TRUE(auth_->Authenticate(Bearer(owner_key_.token)).ok());
}

TEST_F(AuthenticatorTest, KeyUseIsWrittenOnRefreshAfterFlushInterval) {
  const UnixMillis used_at = clock_.NowMillis();
  ASSERT_TRUE(auth_->Authenticate(Bearer(owner_key_.token)).ok());

  // Not yet due: nothing written.
  auth_->Refresh();
  clock_.Advance(kFlushInterval - 1ms);
  auth_->Refresh();
  auto key = real_store_->GetApiKey(tenant_.id, owner_key_.key.id);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_FALSE(key->last_used_at.has_value());
  EXPECT_EQ(store_->record_use_calls.load(), 0);

  // Due: the time of the authentication is written, in one batch.
  clock_.Advance(1ms);
  auth_->Refresh();
  key = real_store_->GetApiKey(tenant_.id, owner_key_.key.id);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  ASSERT_TRUE(key->last_used_at.has_value());
  EXPECT_EQ(*key->last_used_at, used_at);
  EXPECT_EQ(store_->record_use_calls.load(), 1);

  // Nothing new to write: no further store writes.
  clock_.Advance(kFlushInterval);
  auth_->Refresh();
  EXPECT_EQ(store_->record_use_calls.load(), 1);

  // A later use is written with its own time at the next due refresh.
  const UnixMillis later = clock_.NowMillis();
  ASSERT_TRUE(auth_->Authenticate(Bearer(owner_key_.token)).ok());
  clock_.Advance(kFlushInterval);
  auth_->Refresh();
  key = real_store_->GetApiKey(tenant_.id, owner_key_.key.id);
  ASSERT_TRUE(key.ok() && key->last_used_at.has_value());
  EXPECT_EQ(*key->last_used_at, later);
  EXPECT_GT(later, used_at);
}

TEST_F(AuthenticatorTest, StopFlushesPendingKeyUse) {
  const UnixMillis used_at = clock_.NowMillis();
  ASSERT_TRUE(auth_->Authenticate(Bearer(owner_key_.token)).ok());
  auth_->Stop();  // without a background thread: just the final flush
  auto key = real_store_->GetApiKey(tenant_.id, owner_key_.key.id);
  ASSERT_TRUE(key.ok() && key->last_used_at.has_value());
  EXPECT_EQ(*key->last_used_at, used_at);
}

TEST_F(AuthenticatorTest, OperatorKeyYieldsOperatorPrincipal) {
  auto created = identity_->EnsureOperatorKey([](const CreatedKey&) { return Status::Ok(); });
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  ASSERT_TRUE(created->has_value());
  auto principal = auth_->Authenticate(Bearer((*created)->token));
  ASSERT_TRUE(principal.ok()) << principal.status().ToString();
  EXPECT_TRUE((*principal)->is_operator);
  EXPECT_EQ((*principal)->scopes, (std::vector<std::string>{"operator"}));
  EXPECT_EQ((*principal)->key_id, (*created)->key.id);
  EXPECT_TRUE((*principal)->tenant.id.empty());
  EXPECT_TRUE((*principal)->user.id.empty());
}

TEST_F(AuthenticatorTest, UnreachableStoreFailsClosed) {
  ASSERT_TRUE(auth_->Authenticate(Bearer(owner_key_.token)).ok());
  store_->fail_identity_epoch = true;
  auth_->Refresh();  // cannot read the epoch: the cache is dropped
  EXPECT_EQ(auth_->cached_entries(), 0u);
  auto result = auth_->Authenticate(Bearer(owner_key_.token));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().category(), ErrorCode::kUnavailable);

  store_->fail_identity_epoch = false;
  auth_->Refresh();
  EXPECT_TRUE(auth_->Authenticate(Bearer(owner_key_.token)).ok());
}

TEST_F(AuthenticatorTest, CacheIsBoundedByMaxEntries) {
  AuthenticatorOptions options;
  options.max_entries = 1;
  Authenticator small(*store_, clock_, options);
  auto [analyst, analyst_key] = CreateAnalystWithKey();
  ASSERT_TRUE(small.Authenticate(Bearer(owner_key_.token)).ok());
  ASSERT_TRUE(small.Authenticate(Bearer(analyst_key.token)).ok());
  EXPECT_LE(small.cached_entries(), 1u);
  ASSERT_TRUE(small.Authenticate(Bearer(owner_key_.token)).ok());
  EXPECT_LE(small.cached_entries(), 1u);
}

}  // namespace
}  // namespace quarry
