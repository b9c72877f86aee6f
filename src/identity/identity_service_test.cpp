// IdentityService: tenants, users, permissions and validation.
#include "identity/identity_service_test_support.h"

namespace quarry {
namespace {


// ------------------------------------------------------------------------------------ tenants

TEST_F(IdentityServiceTest, OperatorCreatesTenantWithOwnerAndKey) {
  clock_.Advance(1h);
  auto created =
      service_->CreateTenant(operator_, NewTenant{"globex", "Globex", std::string("Boss@Globex.TEST")});
  ASSERT_TRUE(created.ok()) << created.status().ToString();

  const Tenant& t = created->tenant;
  EXPECT_TRUE(LooksLikeId(t.id, "ten")) << t.id;
  EXPECT_EQ(t.slug, "globex");
  EXPECT_EQ(t.name, "Globex");
  EXPECT_EQ(t.status, TenantStatus::kActive);
  EXPECT_EQ(t.created_at, clock_.NowMillis());

  ASSERT_TRUE(created->owner.has_value());
  EXPECT_TRUE(LooksLikeId(created->owner->id, "usr"));
  EXPECT_EQ(created->owner->tenant_id, t.id);
  EXPECT_EQ(created->owner->email, "boss@globex.test");
  EXPECT_EQ(created->owner->role, Role::kOwner);

  ASSERT_TRUE(created->owner_key.has_value());
  const CreatedKey& key = *created->owner_key;
  EXPECT_EQ(key.key.tenant_id, t.id);
  EXPECT_EQ(key.key.user_id, created->owner->id);
  EXPECT_EQ(Sorted(key.key.scopes), Sorted(kAllScopes));
  ASSERT_EQ(ApiKeyPrefixOf(key.token), key.key.prefix);
  EXPECT_EQ(key.key.secret_hash, Sha256Hex(key.token));

  // All three are in the store.
  auto stored_tenant = store_->GetTenantBySlug("globex");
  ASSERT_TRUE(stored_tenant.ok());
  EXPECT_EQ(stored_tenant->id, t.id);
  auto stored_user = store_->GetUser(t.id, created->owner->id);
  ASSERT_TRUE(stored_user.ok());
  EXPECT_EQ(stored_user->email, "boss@globex.test");
  auto stored_key = store_->FindApiKeyByPrefix(key.key.prefix);
  ASSERT_TRUE(stored_key.ok());
  EXPECT_EQ(stored_key->id, key.key.id);
  EXPECT_EQ(stored_key->secret_hash, Sha256Hex(key.token));
}

TEST_F(IdentityServiceTest, TenantWithoutOwnerEmailHasNoOwner) {
  auto created = service_->CreateTenant(operator_, NewTenant{"empty", "Empty", std::nullopt});
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_FALSE(created->owner.has_value());
  EXPECT_FALSE(created->owner_key.has_value());
  auto users = store_->ListUsers(created->tenant.id, PageRequest{});
  ASSERT_TRUE(users.ok());
  EXPECT_TRUE(users->items.empty());
}

TEST_F(IdentityServiceTest, SlugValidation) {
  struct Case {
    std::string slug;
    bool valid;
  };
  const std::vector<Case> cases = {
      {"ab", true},
      {"a1", true},
      {"my-tenant", true},
      {"a-b-c-1-2-3", true},
      {"00", true},
      {std::string(63, 'a'), true},
      {"", false},
      {"a", false},
      {std::string(64, 'a'), false},
      {"-ab", false},
      {"ab-", false},
      {"-", false},
      {"Acme", false},
      {"a_b", false},
      {"a b", false},
      {"a.b", false},
      {"a/b", false},
      {"caf\xc3\xa9", false},
      {std::string("a\0b", 3), false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE("slug '" + c.slug + "'");
    Status s = ValidateSlug(c.slug);
    EXPECT_EQ(s.ok(), c.valid) << s.ToString();
    if (!c.valid) {
      EXPECT_EQ(s.code(), "invalid_slug");
      EXPECT_EQ(s.category(), ErrorCode::kInvalidArgument);
      EXPECT_EQ(s.details().at("field"), "slug");
      // The service refuses it the same way.
      ExpectError(service_->CreateTenant(operator_, NewTenant{c.slug, "Name", std::nullopt}),
                  ErrorCode::kInvalidArgument, "invalid_slug");
    }
  }
}

TEST_F(IdentityServiceTest, TenantNameValidation) {
  ExpectError(service_->CreateTenant(operator_, NewTenant{"t1", "", std::nullopt}),
              ErrorCode::kInvalidArgument, "invalid_name");
  ExpectError(service_->CreateTenant(operator_, NewTenant{"t2", std::string(201, 'n'), std::nullopt}),
              ErrorCode::kInvalidArgument, "invalid_name");
  ExpectError(service_->CreateTenant(operator_, NewTenant{"t3", "tab\there", std::nullopt}),
              ErrorCode::kInvalidArgument, "invalid_name");
  EXPECT_TRUE(service_->CreateTenant(operator_, NewTenant{"t4", std::string(200, 'n'), std::nullopt}).ok());
}

TEST_F(IdentityServiceTest, DuplicateSlugAlreadyExists) {
  auto again = service_->CreateTenant(operator_, NewTenant{"acme", "Another Acme", std::string("x@y.test")});
  ExpectError(again, ErrorCode::kAlreadyExists, "tenant_slug_taken");
  EXPECT_EQ(HttpStatusFor(again.status().category()), 409);
  // Nothing of the failed attempt was left behind (the owner is rolled back with the tenant).
  auto tenants = store_->ListTenants(PageRequest{});
  ASSERT_TRUE(tenants.ok());
  EXPECT_EQ(tenants->items.size(), 1u);
}

TEST_F(IdentityServiceTest, TenantMemberCannotManageTenants) {
  auto list = service_->ListTenants(acme_owner_, PageRequest{});
  ExpectError(list, ErrorCode::kPermissionDenied, "operator_only");
  EXPECT_EQ(HttpStatusFor(list.status().category()), 403);
  ExpectError(service_->CreateTenant(acme_owner_, NewTenant{"mine", "Mine", std::nullopt}),
              ErrorCode::kPermissionDenied, "operator_only");
  ExpectError(service_->GetTenant(acme_owner_, acme_.id), ErrorCode::kPermissionDenied, "operator_only");
  ExpectError(service_->UpdateTenant(acme_owner_, acme_.id, std::string("x"), std::nullopt),
              ErrorCode::kPermissionDenied, "operator_only");

  auto operator_list = service_->ListTenants(operator_, PageRequest{});
  ASSERT_TRUE(operator_list.ok());
  EXPECT_EQ(operator_list->items.size(), 1u);
}

TEST_F(IdentityServiceTest, OperatorGetsAndUpdatesTenantByIdOrSlug) {
  auto by_slug = service_->GetTenant(operator_, "acme");
  ASSERT_TRUE(by_slug.ok());
  auto by_id = service_->GetTenant(operator_, acme_.id);
  ASSERT_TRUE(by_id.ok());
  EXPECT_EQ(by_slug->id, by_id->id);
  ExpectError(service_->GetTenant(operator_, "nope"), ErrorCode::kNotFound, "tenant_not_found");
  ExpectError(service_->GetTenant(operator_, NewId("ten", clock_.NowMillis())), ErrorCode::kNotFound,
              "tenant_not_found");

  clock_.Advance(5s);
  auto updated = service_->UpdateTenant(operator_, "acme", std::string("Acme Corp"), std::string("disabled"));
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_EQ(updated->name, "Acme Corp");
  EXPECT_EQ(updated->status, TenantStatus::kDisabled);
  EXPECT_EQ(updated->updated_at, clock_.NowMillis());
  ExpectError(service_->UpdateTenant(operator_, "acme", std::nullopt, std::string("paused")),
              ErrorCode::kInvalidArgument, "invalid_status");
}

// -------------------------------------------------------------------------------------- users

TEST_F(IdentityServiceTest, OwnerCreatesUsersOfEveryRole) {
  for (const std::string role : {"owner", "admin", "analyst", "viewer"}) {
    SCOPED_TRACE(role);
    auto user = service_->CreateUser(acme_owner_, acme_.id, NewUser{"new-" + role + "@acme.test", role});
    ASSERT_TRUE(user.ok()) << user.status().ToString();
    EXPECT_TRUE(LooksLikeId(user->id, "usr"));
    EXPECT_EQ(user->tenant_id, acme_.id);
    EXPECT_EQ(ToString(user->role), role);
    EXPECT_EQ(user->status, UserStatus::kActive);
  }
  auto users = service_->ListUsers(acme_owner_, acme_.id, PageRequest{});
  ASSERT_TRUE(users.ok()) << users.status().ToString();
  EXPECT_EQ(users->items.size(), 5u);  // with the original owner
  ExpectError(service_->CreateUser(acme_owner_, acme_.id, NewUser{"x@acme.test", "superuser"}),
              ErrorCode::kInvalidArgument, "invalid_role");
}

TEST_F(IdentityServiceTest, AdminCannotCreateAnOwner) {
  Principal admin = AcmeMember("admin@acme.test", "admin");
  auto owner = service_->CreateUser(admin, acme_.id, NewUser{"new-owner@acme.test", "owner"});
  ExpectError(owner, ErrorCode::kPermissionDenied, "role_too_low");
  EXPECT_EQ(HttpStatusFor(owner.status().category()), 403);
  // Other roles are fine.
  EXPECT_TRUE(service_->CreateUser(admin, acme_.id, NewUser{"new-admin@acme.test", "admin"}).ok());
  EXPECT_TRUE(service_->CreateUser(admin, acme_.id, NewUser{"new-viewer@acme.test", "viewer"}).ok());
}

TEST_F(IdentityServiceTest, AdminScopeIsRequiredToManageUsers) {
  Principal owner_without_admin_scope = acme_owner_;
  owner_without_admin_scope.scopes = {"read", "write"};
  ExpectError(service_->ListUsers(owner_without_admin_scope, acme_.id, PageRequest{}),
              ErrorCode::kPermissionDenied, "missing_scope");
  ExpectError(service_->CreateUser(owner_without_admin_scope, acme_.id, NewUser{"a@acme.test", "viewer"}),
              ErrorCode::kPermissionDenied, "missing_scope");
}

TEST_F(IdentityServiceTest, ViewerAndAnalystCannotListOrCreateUsers) {
  for (const std::string role : {"viewer", "analyst"}) {
    SCOPED_TRACE(role);
    Principal member = AcmeMember(role + "@acme.test", role);
    auto list = service_->ListUsers(member, acme_.id, PageRequest{});
    ExpectError(list, ErrorCode::kPermissionDenied, "role_too_low");
    EXPECT_EQ(HttpStatusFor(list.status().category()), 403);
    ExpectError(service_->CreateUser(member, acme_.id, NewUser{"other-" + role + "@acme.test", "viewer"}),
                ErrorCode::kPermissionDenied, "role_too_low");
    // But they can read themselves.
    auto self = service_->GetUser(member, acme_.id, member.user.id);
    ASSERT_TRUE(self.ok()) << self.status().ToString();
    EXPECT_EQ(self->id, member.user.id);
    // Not someone else.
    ExpectError(service_->GetUser(member, acme_.id, acme_owner_user_.id), ErrorCode::kPermissionDenied,
                "role_too_low");
  }
}

TEST_F(IdentityServiceTest, EmailIsNormalizedAndUniquePerTenant) {
  auto user = service_->CreateUser(acme_owner_, acme_.id, NewUser{"Ana.Lyst@Example.COM", "analyst"});
  ASSERT_TRUE(user.ok()) << user.status().ToString();
  EXPECT_EQ(user->email, "ana.lyst@example.com");
  auto stored = store_->GetUser(acme_.id, user->id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->email, "ana.lyst@example.com");

  auto duplicate = service_->CreateUser(acme_owner_, acme_.id, NewUser{"ANA.LYST@example.com", "viewer"});
  ExpectError(duplicate, ErrorCode::kAlreadyExists, "user_email_taken");
  EXPECT_EQ(HttpStatusFor(duplicate.status().category()), 409);

  // The same email in another tenant is fine.
  auto other =
      service_->CreateTenant(operator_, NewTenant{"other", "Other", std::string("ana.lyst@example.com")});
  ASSERT_TRUE(other.ok()) << other.status().ToString();
}

TEST_F(IdentityServiceTest, UserIsLookedUpByIdOrEmailInAnyCase) {
  auto user = service_->CreateUser(acme_owner_, acme_.id, NewUser{"Ana@Example.com", "analyst"});
  ASSERT_TRUE(user.ok()) << user.status().ToString();
  for (const std::string& ref : {user->id, std::string("ana@example.com"), std::string("Ana@Example.com"),
                                 std::string("ANA@EXAMPLE.COM")}) {
    auto found = service_->GetUser(acme_owner_, acme_.id, ref);
    ASSERT_TRUE(found.ok()) << ref << ": " << found.status().ToString();
    EXPECT_EQ(found->id, user->id);
  }
  // A user reading themselves by email, in any case, is "self".
  Principal ana = Member(acme_, *user, {"read", "write"});
  auto self = service_->GetUser(ana, acme_.id, "ANA@example.com");
  ASSERT_TRUE(self.ok()) << self.status().ToString();
  EXPECT_EQ(self->id, user->id);

  ExpectError(service_->GetUser(acme_owner_, acme_.id, "nobody@example.com"), ErrorCode::kNotFound,
              "user_not_found");
  ExpectError(service_->GetUser(acme_owner_, acme_.id, "not an email"), ErrorCode::kNotFound,
              "user_not_found");
}

TEST_F(IdentityServiceTest, InvalidEmailsAreRejected) {
  const std::vector<std::string> bad = {
      "",
      "a",
      "@example.com",
      "ana@",
      "ana",
      "ana@@example.com",
      "a@b@c",
      "ana @example.com",
      "ana,b@example.com",
      "\"ana\"@example.com",
      "<ana@example.com>",
      "ana\n@example.com",
      std::string(250, 'a') + "@x.io",
  };
  for (const auto& email : bad) {
    SCOPED_TRACE(email);
    auto user = service_->CreateUser(acme_owner_, acme_.id, NewUser{email, "viewer"});
    ExpectError(user, ErrorCode::kInvalidArgument, "invalid_email");
    if (!user.ok()) {
      EXPECT_EQ(user.status().details().at("field"), "email");
    }
  }
  EXPECT_TRUE(NormalizeEmail("a@b").ok());
}

TEST_F(IdentityServiceTest, OtherTenantsUserIsNotFoundLikeAMissingOne) {
  auto other =
      service_->CreateTenant(operator_, NewTenant{"globex", "Globex", std::string("boss@globex.test")});
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  const std::string foreign_id = other->owner->id;
  const std::string missing_id = NewId("usr", clock_.NowMillis());

  auto foreign = service_->GetUser(acme_owner_, acme_.id, foreign_id);
  auto missing = service_->GetUser(acme_owner_, acme_.id, missing_id);
  ExpectError(foreign, ErrorCode::kNotFound, "user_not_found");
  ExpectError(missing, ErrorCode::kNotFound, "user_not_found");
  EXPECT_EQ(HttpStatusFor(foreign.status().category()), 404);
  EXPECT_EQ(foreign.status().message(), missing.status().message());
  EXPECT_EQ(foreign.status().details(), missing.status().details());

  // By email too.
  ExpectError(service_->GetUser(acme_owner_, acme_.id, "boss@globex.test"), ErrorCode::kNotFound,
              "user_not_found");
  // Updating it is the same 404, and it is left unchanged.
  UserChanges changes;
  changes.status = "disabled";
  ExpectError(service_->UpdateUser(acme_owner_, acme_.id, foreign_id, changes), ErrorCode::kNotFound,
              "user_not_found");
  auto still = store_->GetUser(other->tenant.id, foreign_id);
  ASSERT_TRUE(still.ok());
  EXPECT_EQ(still->status, UserStatus::kActive);

  // Naming the other tenant itself is a 404 for the tenant.
  ExpectError(service_->GetUser(acme_owner_, other->tenant.id, foreign_id), ErrorCode::kNotFound,
              "tenant_not_found");
  ExpectError(service_->ListUsers(acme_owner_, other->tenant.id, PageRequest{}), ErrorCode::kNotFound,
              "tenant_not_found");
}

TEST_F(IdentityServiceTest, AdminCannotChangeAnOwnerOrPromoteToOwner) {
  Principal admin = AcmeMember("admin@acme.test", "admin");
  Principal analyst = AcmeMember("analyst@acme.test", "analyst");
  UserChanges to_owner;
  to_owner.role = "owner";
  ExpectError(service_->UpdateUser(admin, acme_.id, analyst.user.id, to_owner), ErrorCode::kPermissionDenied,
              "role_too_low");
  UserChanges disable;
  disable.status = "disabled";
  ExpectError(service_->UpdateUser(admin, acme_.id, acme_owner_user_.id, disable),
              ErrorCode::kPermissionDenied, "role_too_low");
  // An admin may change a non-owner.
  UserChanges to_viewer;
  to_viewer.role = "viewer";
  auto changed = service_->UpdateUser(admin, acme_.id, analyst.user.id, to_viewer);
  ASSERT_TRUE(changed.ok()) << changed.status().ToString();
  EXPECT_EQ(changed->role, Role::kViewer);
}

TEST_F(IdentityServiceTest, LastOwnerCannotBeDisabledOrDemoted) {
  UserChanges disable;
  disable.status = "disabled";
  auto disabled = service_->UpdateUser(acme_owner_, acme_.id, acme_owner_user_.id, disable);
  ExpectError(disabled, ErrorCode::kFailedPrecondition, "last_owner");
  EXPECT_EQ(HttpStatusFor(disabled.status().category()), 409);

  UserChanges demote;
  demote.role = "admin";
  ExpectError(service_->UpdateUser(acme_owner_, acme_.id, acme_owner_user_.id, demote),
              ErrorCode::kFailedPrecondition, "last_owner");
  // The operator is bound by the same rule.
  ExpectError(service_->UpdateUser(operator_, acme_.id, acme_owner_user_.id, demote),
              ErrorCode::kFailedPrecondition, "last_owner");

  auto stored = store_->GetUser(acme_.id, acme_owner_user_.id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->role, Role::kOwner);
  EXPECT_EQ(stored->status, UserStatus::kActive);

  // A disabled second owner does not count.
  Principal second = AcmeMember("second@acme.test", "owner");
  ASSERT_TRUE(service_->UpdateUser(acme_owner_, acme_.id, second.user.id, disable).ok());
  ExpectError(service_->UpdateUser(acme_owner_, acme_.id, acme_owner_user_.id, demote),
              ErrorCode::kFailedPrecondition, "last_owner");

  // With another active owner, the first can be demoted, then the new last one is protected.
  UserChanges enable;
  enable.status = "active";
  ASSERT_TRUE(service_->UpdateUser(acme_owner_, acme_.id, second.user.id, enable).ok());
  auto demoted = service_->UpdateUser(acme_owner_, acme_.id, acme_owner_user_.id, demote);
  ASSERT_TRUE(demoted.ok()) << demoted.status().ToString();
  EXPECT_EQ(demoted->role, Role::kAdmin);
  ExpectError(service_->UpdateUser(second, acme_.id, second.user.id, disable), ErrorCode::kFailedPrecondition,
              "last_owner");
}

TEST_F(IdentityServiceTest, OwnerCanBeDisabledWhenAnotherOwnerExists) {
  Principal second = AcmeMember("second@acme.test", "owner");
  UserChanges disable;
  disable.status = "disabled";
  auto disabled = service_->UpdateUser(second, acme_.id, acme_owner_user_.id, disable);
  ASSERT_TRUE(disabled.ok()) << disabled.status().ToString();
  EXPECT_EQ(disabled->status, UserStatus::kDisabled);
  EXPECT_EQ(disabled->role, Role::kOwner);
}

}  // namespace
}  // namespace quarry
