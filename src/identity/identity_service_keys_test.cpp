// IdentityService: API keys and the first start.
#include "identity/identity_service_test_support.h"

namespace quarry {
namespace {

// A suite name of its own: the fixture is defined in each test file's anonymous namespace.
class IdentityServiceKeysTest : public IdentityServiceTest {};

// --------------------------------------------------------------------------------------- keys

TEST_F(IdentityServiceKeysTest, DefaultKeyScopesFollowTheRole) {
  struct Case {
    std::string role;
    std::vector<std::string> scopes;
  };
  const std::vector<Case> cases = {
      {"owner", {"admin", "read", "write"}},
      {"admin", {"admin", "read", "write"}},
      {"analyst", {"read", "write"}},
      {"viewer", {"read"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.role);
    Principal member = AcmeMember("new-" + c.role + "@acme.test", c.role);
    CreatedKey key = OwnKey(member, c.role + " key");
    EXPECT_EQ(Sorted(key.key.scopes), c.scopes);
    EXPECT_EQ(key.key.user_id, member.user.id);
    EXPECT_EQ(key.key.tenant_id, acme_.id);
    EXPECT_FALSE(key.key.expires_at.has_value());
    EXPECT_EQ(ApiKeyPrefixOf(key.token), key.key.prefix);
  }
}

TEST_F(IdentityServiceKeysTest, ViewerCannotAskForWriteScope) {
  Principal viewer = AcmeMember("viewer@acme.test", "viewer");
  NewKey request;
  request.name = "wants write";
  request.scopes = std::vector<std::string>{"read", "write"};
  auto key = service_->CreateKey(viewer, acme_.id, request);
  ExpectError(key, ErrorCode::kPermissionDenied, "scope_exceeds_role");
  EXPECT_EQ(HttpStatusFor(key.status().category()), 403);

  // An owner creating a key for the viewer is bound by the viewer's role too.
  request.user_id = viewer.user.id;
  ExpectError(service_->CreateKey(acme_owner_, acme_.id, request), ErrorCode::kPermissionDenied,
              "scope_exceeds_role");
}

TEST_F(IdentityServiceKeysTest, KeyCannotGrantAScopeItLacks) {
  Principal read_only_owner = acme_owner_;
  read_only_owner.scopes = {"read"};
  NewKey request;
  request.name = "escalation";
  request.scopes = std::vector<std::string>{"write"};
  ExpectError(service_->CreateKey(read_only_owner, acme_.id, request), ErrorCode::kPermissionDenied,
              "scope_exceeds_key");
  // Without explicit scopes the default (everything the role allows) exceeds the key too.
  request.scopes.reset();
  ExpectError(service_->CreateKey(read_only_owner, acme_.id, request), ErrorCode::kPermissionDenied,
              "scope_exceeds_key");
  // Naming only what the key holds works.
  request.scopes = std::vector<std::string>{"read"};
  auto key = service_->CreateKey(read_only_owner, acme_.id, request);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(key->key.scopes, (std::vector<std::string>{"read"}));
}

TEST_F(IdentityServiceKeysTest, KeyRequestValidation) {
  NewKey request;
  request.name = "k";
  request.scopes = std::vector<std::string>{"read", "superpowers"};
  ExpectError(service_->CreateKey(acme_owner_, acme_.id, request), ErrorCode::kInvalidArgument,
              "invalid_scopes");
  request.scopes = std::vector<std::string>{};
  ExpectError(service_->CreateKey(acme_owner_, acme_.id, request), ErrorCode::kInvalidArgument,
              "invalid_scopes");
  request.scopes.reset();
  for (int days : {0, -1, 3651}) {
    request.expires_in_days = days;
    ExpectError(service_->CreateKey(acme_owner_, acme_.id, request), ErrorCode::kInvalidArgument,
                "invalid_expires_in_days");
  }
  request.expires_in_days = 3650;
  auto key = service_->CreateKey(acme_owner_, acme_.id, request);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(key->key.expires_at, clock_.NowMillis() + 3650LL * 86'400'000);
  request.name = "";
  ExpectError(service_->CreateKey(acme_owner_, acme_.id, request), ErrorCode::kInvalidArgument,
              "invalid_name");
}

TEST_F(IdentityServiceKeysTest, DuplicateScopesAreCollapsed) {
  NewKey request;
  request.name = "k";
  request.scopes = std::vector<std::string>{"read", "read", "write"};
  auto key = service_->CreateKey(acme_owner_, acme_.id, request);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(Sorted(key->key.scopes), (std::vector<std::string>{"read", "write"}));
}

TEST_F(IdentityServiceKeysTest, NoKeyForADisabledUser) {
  Principal analyst = AcmeMember("analyst@acme.test", "analyst");
  UserChanges disable;
  disable.status = "disabled";
  ASSERT_TRUE(service_->UpdateUser(acme_owner_, acme_.id, analyst.user.id, disable).ok());
  NewKey request;
  request.name = "k";
  request.user_id = analyst.user.id;
  ExpectError(service_->CreateKey(acme_owner_, acme_.id, request), ErrorCode::kFailedPrecondition,
              "user_disabled");
}

TEST_F(IdentityServiceKeysTest, AnalystCannotCreateKeysForOthers) {
  Principal analyst = AcmeMember("analyst@acme.test", "analyst");
  NewKey request;
  request.name = "for the owner";
  request.user_id = acme_owner_user_.id;
  ExpectError(service_->CreateKey(analyst, acme_.id, request), ErrorCode::kPermissionDenied, "role_too_low");
}

TEST_F(IdentityServiceKeysTest, AnalystListsOnlyOwnKeysAdminListsAll) {
  Principal analyst = AcmeMember("analyst@acme.test", "analyst");
  Principal admin = AcmeMember("admin@acme.test", "admin");
  CreatedKey analyst_key1 = OwnKey(analyst, "a1");
  CreatedKey analyst_key2 = OwnKey(analyst, "a2");
  CreatedKey admin_key = OwnKey(admin, "admin");

  auto own = service_->ListKeys(analyst, acme_.id, PageRequest{});
  ASSERT_TRUE(own.ok()) << own.status().ToString();
  ASSERT_EQ(own->items.size(), 2u);
  for (const auto& k : own->items) EXPECT_EQ(k.user_id, analyst.user.id);

  auto all = service_->ListKeys(admin, acme_.id, PageRequest{});
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->items.size(), 4u);  // with the owner's key from tenant creation

  // An admin whose key lacks the admin scope sees only their own keys.
  Principal narrow_admin = admin;
  narrow_admin.scopes = {"read"};
  auto narrow = service_->ListKeys(narrow_admin, acme_.id, PageRequest{});
  ASSERT_TRUE(narrow.ok());
  ASSERT_EQ(narrow->items.size(), 1u);
  EXPECT_EQ(narrow->items[0].id, admin_key.key.id);

  // Page limits are validated.
  ExpectError(service_->ListKeys(admin, acme_.id, PageRequest{"", 0}), ErrorCode::kInvalidArgument,
              "invalid_limit");
  ExpectError(service_->ListKeys(admin, acme_.id, PageRequest{"", 1001}), ErrorCode::kInvalidArgument,
              "invalid_limit");
}

TEST_F(IdentityServiceKeysTest, AnalystCannotSeeOrRevokeAnotherUsersKey) {
  Principal analyst = AcmeMember("analyst@acme.test", "analyst");
  Principal other = AcmeMember("other@acme.test", "analyst");
  CreatedKey others_key = OwnKey(other, "theirs");

  auto get = service_->GetKey(analyst, acme_.id, others_key.key.id);
  auto get_missing = service_->GetKey(analyst, acme_.id, NewId("key", clock_.NowMillis()));
  ExpectError(get, ErrorCode::kNotFound, "api_key_not_found");
  ExpectError(get_missing, ErrorCode::kNotFound, "api_key_not_found");
  EXPECT_EQ(get.status().message(), get_missing.status().message());

  ExpectError(service_->RevokeKey(analyst, acme_.id, others_key.key.id), ErrorCode::kNotFound,
              "api_key_not_found");
  auto stored = store_->GetApiKey(acme_.id, others_key.key.id);
  ASSERT_TRUE(stored.ok());
  EXPECT_FALSE(stored->revoked_at.has_value());
}

TEST_F(IdentityServiceKeysTest, RevokeOwnKey) {
  Principal analyst = AcmeMember("analyst@acme.test", "analyst");
  CreatedKey key = OwnKey(analyst, "mine");
  clock_.Advance(1min);
  auto revoked = service_->RevokeKey(analyst, acme_.id, key.key.id);
  ASSERT_TRUE(revoked.ok()) << revoked.status().ToString();
  ASSERT_TRUE(revoked->revoked_at.has_value());
  EXPECT_EQ(*revoked->revoked_at, clock_.NowMillis());
  // Revoking again is idempotent: the first time stands.
  clock_.Advance(1min);
  auto again = service_->RevokeKey(analyst, acme_.id, key.key.id);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->revoked_at, revoked->revoked_at);
}

TEST_F(IdentityServiceKeysTest, AdminRevokesAnotherUsersKey) {
  Principal analyst = AcmeMember("analyst@acme.test", "analyst");
  CreatedKey key = OwnKey(analyst, "theirs");
  auto revoked = service_->RevokeKey(acme_owner_, acme_.id, key.key.id);
  ASSERT_TRUE(revoked.ok()) << revoked.status().ToString();
  EXPECT_TRUE(revoked->revoked_at.has_value());
}

TEST_F(IdentityServiceKeysTest, KeysOfAnotherTenantAreNotFound) {
  auto other =
      service_->CreateTenant(operator_, NewTenant{"globex", "Globex", std::string("boss@globex.test")});
  ASSERT_TRUE(other.ok());
  const std::string foreign_key = other->owner_key->key.id;
  ExpectError(service_->GetKey(acme_owner_, acme_.id, foreign_key), ErrorCode::kNotFound,
              "api_key_not_found");
  ExpectError(service_->RevokeKey(acme_owner_, acme_.id, foreign_key), ErrorCode::kNotFound,
              "api_key_not_found");
  auto stored = store_->GetApiKey(other->tenant.id, foreign_key);
  ASSERT_TRUE(stored.ok());
  EXPECT_FALSE(stored->revoked_at.has_value());
}

TEST_F(IdentityServiceKeysTest, OperatorKeys) {
  NewKey request;
  request.name = "ops";
  auto key = service_->CreateKey(operator_, "", request);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_TRUE(key->key.is_operator());
  EXPECT_EQ(key->key.scopes, (std::vector<std::string>{"operator"}));
  // Tenant members cannot create or list operator keys.
  ExpectError(service_->CreateKey(acme_owner_, "", request), ErrorCode::kPermissionDenied, "operator_only");
  ExpectError(service_->ListKeys(acme_owner_, "", PageRequest{}), ErrorCode::kPermissionDenied,
              "operator_only");
  request.user_id = acme_owner_user_.id;
  ExpectError(service_->CreateKey(operator_, "", request), ErrorCode::kInvalidArgument, "invalid_user_id");
}

// -------------------------------------------------------------------------------- first start

TEST_F(IdentityServiceKeysTest, EnsureOperatorKeyCreatesOnce) {
  int persist_calls = 0;
  std::string persisted_token;
  auto persist = [&](const CreatedKey& key) {
    ++persist_calls;
    persisted_token = key.token;
    return Status::Ok();
  };
  auto first = service_->EnsureOperatorKey(persist);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_TRUE(first->has_value());
  EXPECT_EQ(persist_calls, 1);
  EXPECT_EQ(persisted_token, (*first)->token);
  EXPECT_TRUE((*first)->key.is_operator());
  EXPECT_EQ((*first)->key.scopes, (std::vector<std::string>{"operator"}));

  auto second = service_->EnsureOperatorKey(persist);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_FALSE(second->has_value());
  EXPECT_EQ(persist_calls, 1);

  auto keys = store_->ListApiKeys("", "", PageRequest{});
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->items.size(), 1u);
  EXPECT_EQ(keys->items[0].secret_hash, Sha256Hex(persisted_token));
}

TEST_F(IdentityServiceKeysTest, EnsureOperatorKeyDoesNotRecreateARevokedKey) {
  auto first = service_->EnsureOperatorKey([](const CreatedKey&) { return Status::Ok(); });
  ASSERT_TRUE(first.ok() && first->has_value());
  ASSERT_TRUE(service_->RevokeKey(operator_, "", (*first)->key.id).ok());
  auto second = service_->EnsureOperatorKey([](const CreatedKey&) { return Status::Ok(); });
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->has_value());
}

TEST_F(IdentityServiceKeysTest, EnsureOperatorKeyPersistErrorLeavesNoKey) {
  int persist_calls = 0;
  auto failing = [&](const CreatedKey&) {
    ++persist_calls;
    return Unavailable("secret_write_failed", "disk full");
  };
  auto result = service_->EnsureOperatorKey(failing);
  ExpectError(result, ErrorCode::kUnavailable, "secret_write_failed");
  EXPECT_EQ(persist_calls, 1);
  auto keys = store_->ListApiKeys("", "", PageRequest{});
  ASSERT_TRUE(keys.ok());
  EXPECT_TRUE(keys->items.empty());

  // The next start tries again and succeeds.
  auto retry = service_->EnsureOperatorKey([](const CreatedKey&) { return Status::Ok(); });
  ASSERT_TRUE(retry.ok()) << retry.status().ToString();
  EXPECT_TRUE(retry->has_value());
}

TEST_F(IdentityServiceKeysTest, EnsureDemoTenantIsIdempotent) {
  int persist_calls = 0;
  auto persist = [&](const CreatedKey&) {
    ++persist_calls;
    return Status::Ok();
  };
  auto first = service_->EnsureDemoTenant(persist);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_TRUE(first->has_value());
  EXPECT_EQ((*first)->tenant.slug, "demo");
  ASSERT_TRUE((*first)->owner.has_value());
  EXPECT_EQ((*first)->owner->email, "owner@demo.local");
  EXPECT_EQ((*first)->owner->role, Role::kOwner);
  ASSERT_TRUE((*first)->owner_key.has_value());
  EXPECT_EQ(persist_calls, 1);

  auto second = service_->EnsureDemoTenant(persist);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_FALSE(second->has_value());
  EXPECT_EQ(persist_calls, 1);

  auto tenants = store_->ListTenants(PageRequest{});
  ASSERT_TRUE(tenants.ok());
  EXPECT_EQ(std::count_if(tenants->items.begin(), tenants->items.end(),
                          [](const Tenant& t) { return t.slug == "demo"; }),
            1);
}

TEST_F(IdentityServiceKeysTest, EnsureDemoTenantPersistErrorLeavesNoTenant) {
  auto result = service_->EnsureDemoTenant(
      [](const CreatedKey&) { return Internal("secret_write_failed", "cannot write"); });
  ExpectError(result, ErrorCode::kInternal, "secret_write_failed");
  ExpectError(store_->GetTenantBySlug("demo"), ErrorCode::kNotFound, "tenant_not_found");
}

}  // namespace
}  // namespace quarry
