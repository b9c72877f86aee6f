// The SQLite MetaStore: opening and migrations, tenants, users, API keys, pagination, the
// identity epoch.
#include "meta/sqlite/sqlite_meta_store_test_support.h"

namespace quarry {
namespace {

// --- opening and migrations ---

TEST_F(SqliteMetaStoreTest, MigrationsAreIdempotentAcrossReopens) {
  Tenant t = MakeTenant("acme");
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    ASSERT_OK(store->Ping());
    auto version = store->SchemaVersion();
    ASSERT_TRUE(version.ok());
    EXPECT_EQ(*version, SqliteLatestSchemaVersion());
    ASSERT_OK(store->InsertTenant(t));
  }
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto version = store->SchemaVersion();
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(*version, SqliteLatestSchemaVersion());
  EXPECT_TRUE(store->GetTenant(t.id).ok());
  EXPECT_EQ(RawCount("SELECT COUNT(*) FROM schema_migrations"), MigrationCount());
  EXPECT_EQ(RawCount("SELECT COUNT(*) FROM identity_epoch"), 1);
}

TEST_F(SqliteMetaStoreTest, ConcurrentFirstOpensMigrateOnce) {
  std::vector<std::thread> threads;
  std::vector<Status> results(4);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      auto store = OpenSqliteMetaStore({path_, 5000, 2});
      results[i] = store.status();
    });
  }
  for (auto& t : threads) t.join();
  for (const Status& s : results) EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(RawCount("SELECT COUNT(*) FROM schema_migrations"), MigrationCount());
  EXPECT_EQ(RawCount("SELECT COUNT(*) FROM identity_epoch"), 1);
}

TEST_F(SqliteMetaStoreTest, RefusesSchemaNewerThanBinary) {
  ASSERT_NE(Open(), nullptr);
  RawExec("INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)");
  auto store = OpenSqliteMetaStore({path_, 5000, 8});
  ASSERT_FALSE(store.ok());
  ExpectError(store.status(), ErrorCode::kFailedPrecondition, "schema_too_new");
  EXPECT_NE(store.status().message().find("newer"), std::string::npos);
  EXPECT_NE(store.status().message().find("upgrade"), std::string::npos);
  EXPECT_EQ(store.status().message().find(dir_.string()), std::string::npos);
}

TEST_F(SqliteMetaStoreTest, AppliesAMigrationMissingBelowTheLatestVersion) {
  // A database migrated by a branch whose versions had a gap gets the missing one when the gap is
  // filled (here: version 9 forgotten and undone).
  ASSERT_NE(Open(), nullptr);
  RawExec("DELETE FROM schema_migrations WHERE version = 9");
  RawExec("ALTER TABLE tenants DROP COLUMN quotas_json");
  auto store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(RawCount("SELECT COUNT(*) FROM schema_migrations"), MigrationCount());
  EXPECT_EQ(RawCount("SELECT COUNT(*) FROM pragma_table_info('tenants') WHERE name = 'quotas_json'"), 1);
}

TEST_F(SqliteMetaStoreTest, UnopenablePathIsUnavailableWithoutPathInMessage) {
  std::string bad = (dir_ / "missing" / "meta.db").string();
  auto store = OpenSqliteMetaStore({bad, 5000, 8});
  ASSERT_FALSE(store.ok());
  ExpectError(store.status(), ErrorCode::kUnavailable, "metadata_store_unavailable");
  EXPECT_EQ(store.status().message().find(dir_.string()), std::string::npos);
}

TEST_F(SqliteMetaStoreTest, NotADatabaseIsUnavailable) {
  std::FILE* f = std::fopen(path_.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fputs("this is not an SQLite database, not even close to one...........", f);
  std::fclose(f);
  auto store = OpenSqliteMetaStore({path_, 5000, 8});
  ASSERT_FALSE(store.ok());
  ExpectError(store.status(), ErrorCode::kUnavailable, "metadata_store_unavailable");
}

// --- tenants ---

TEST_F(SqliteMetaStoreTest, TenantCrud) {
  auto store = Open();
  Tenant t = MakeTenant("acme");
  ASSERT_OK(store->InsertTenant(t));

  auto got = store->GetTenant(t.id);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->id, t.id);
  EXPECT_EQ(got->slug, "acme");
  EXPECT_EQ(got->name, t.name);
  EXPECT_EQ(got->status, TenantStatus::kActive);
  EXPECT_EQ(got->created_at, kT0);
  EXPECT_EQ(got->updated_at, kT0);

  auto by_slug = store->GetTenantBySlug("acme");
  ASSERT_TRUE(by_slug.ok());
  EXPECT_EQ(by_slug->id, t.id);

  t.name = "Acme Corp";
  t.status = TenantStatus::kDisabled;
  t.updated_at = kT0 + 1000;
  t.slug = "ignored";  // the slug is immutable
  ASSERT_OK(store->UpdateTenant(t));
  got = store->GetTenant(t.id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->name, "Acme Corp");
  EXPECT_EQ(got->status, TenantStatus::kDisabled);
  EXPECT_EQ(got->slug, "acme");
  EXPECT_EQ(got->created_at, kT0);
  EXPECT_EQ(got->updated_at, kT0 + 1000);

  ExpectError(store->GetTenant("ten_missing").status(), ErrorCode::kNotFound, "tenant_not_found");
  ExpectError(store->GetTenantBySlug("nope").status(), ErrorCode::kNotFound, "tenant_not_found");
  Tenant missing = MakeTenant("missing");
  ExpectError(store->UpdateTenant(missing), ErrorCode::kNotFound, "tenant_not_found");
}

TEST_F(SqliteMetaStoreTest, TenantSlugAndIdUniqueness) {
  auto store = Open();
  Tenant a = MakeTenant("acme");
  ASSERT_OK(store->InsertTenant(a));
  ExpectError(store->InsertTenant(MakeTenant("acme")), ErrorCode::kAlreadyExists,
              "tenant_slug_taken");
  Tenant same_id = MakeTenant("other");
  same_id.id = a.id;
  ExpectError(store->InsertTenant(same_id), ErrorCode::kAlreadyExists, "tenant_id_taken");
}

// --- users ---

TEST_F(SqliteMetaStoreTest, UserCrudAndUniqueness) {
  auto store = Open();
  Tenant t = MakeTenant("acme");
  Tenant other = MakeTenant("other");
  ASSERT_OK(store->InsertTenant(t));
  ASSERT_OK(store->InsertTenant(other));

  User u = MakeUser(t.id, "ann@example.com", Role::kOwner);
  ASSERT_OK(store->InsertUser(u));
  auto got = store->GetUser(t.id, u.id);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->tenant_id, t.id);
  EXPECT_EQ(got->email, "ann@example.com");
  EXPECT_EQ(got->role, Role::kOwner);
  EXPECT_EQ(got->status, UserStatus::kActive);

  auto by_email = store->GetUserByEmail(t.id, "ann@example.com");
  ASSERT_TRUE(by_email.ok());
  EXPECT_EQ(by_email->id, u.id);

  u.role = Role::kViewer;
  u.status = UserStatus::kDisabled;
  u.updated_at = kT0 + 5;
  u.email = "ignored@example.com";  // email is not updated
  ASSERT_OK(store->UpdateUser(u));
  got = store->GetUser(t.id, u.id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->role, Role::kViewer);
  EXPECT_EQ(got->status, UserStatus::kDisabled);
  EXPECT_EQ(got->email, "ann@example.com");
  EXPECT_EQ(got->updated_at, kT0 + 5);

  ExpectError(store->InsertUser(MakeUser(t.id, "ann@example.com")), ErrorCode::kAlreadyExists,
              "user_email_taken");
  // The same email in another tenant is a different user.
  ASSERT_OK(store->InsertUser(MakeUser(other.id, "ann@example.com")));
  ExpectError(store->InsertUser(MakeUser("ten_missing", "bob@example.com")), ErrorCode::kNotFound,
              "tenant_not_found");
  ExpectError(store->UpdateUser(MakeUser(t.id, "nobody@example.com")), ErrorCode::kNotFound,
              "user_not_found");
}

// --- API keys ---

TEST_F(SqliteMetaStoreTest, ApiKeyCrud) {
  auto store = Open();
  Tenant t = MakeTenant("acme");
  ASSERT_OK(store->InsertTenant(t));
  User u = MakeUser(t.id, "ann@example.com");
  ASSERT_OK(store->InsertUser(u));

  ApiKey k = MakeKey(t.id, u.id);
  k.expires_at = kT0 + 86'400'000;
  ASSERT_OK(store->InsertApiKey(k));
  auto got = store->GetApiKey(t.id, k.id);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->tenant_id, t.id);
  EXPECT_EQ(got->user_id, u.id);
  EXPECT_EQ(got->name, "key");
  EXPECT_EQ(got->prefix, k.prefix);
  EXPECT_EQ(got->secret_hash, k.secret_hash);
  EXPECT_EQ(got->scopes, k.scopes);
  EXPECT_EQ(got->created_at, kT0);
  EXPECT_EQ(got->expires_at, k.expires_at);
  EXPECT_FALSE(got->last_used_at.has_value());
  EXPECT_FALSE(got->revoked_at.has_value());
  EXPECT_FALSE(got->is_operator());

  auto by_prefix = store->FindApiKeyByPrefix(k.prefix);
  ASSERT_TRUE(by_prefix.ok());
  EXPECT_EQ(by_prefix->id, k.id);
  ExpectError(store->FindApiKeyByPrefix("qk_nope").status(), ErrorCode::kNotFound,
              "api_key_not_found");

  // Operator key: no tenant, no user, no scopes; stored as NULLs, read back as "".
  ApiKey op = MakeKey("", "");
  op.scopes = {};
  ASSERT_OK(store->InsertApiKey(op));
  auto got_op = store->GetApiKey("", op.id);
  ASSERT_TRUE(got_op.ok()) << got_op.status().ToString();
  EXPECT_TRUE(got_op->is_operator());
  EXPECT_TRUE(got_op->user_id.empty());
  EXPECT_TRUE(got_op->scopes.empty());
  EXPECT_EQ(RawCount("SELECT COUNT(*) FROM api_keys WHERE tenant_id IS NULL AND user_id IS NULL"),
            1);

  ApiKey dup = MakeKey(t.id, "");
  dup.prefix = k.prefix;
  ExpectError(store->InsertApiKey(dup), ErrorCode::kAlreadyExists, "api_key_prefix_taken");
  ApiKey same_id = MakeKey(t.id, "");
  same_id.id = k.id;
  ExpectError(store->InsertApiKey(same_id), ErrorCode::kAlreadyExists, "api_key_id_taken");
  ExpectError(store->InsertApiKey(MakeKey("ten_missing", "")), ErrorCode::kNotFound,
              "tenant_not_found");
  ExpectError(store->InsertApiKey(MakeKey(t.id, "usr_missing")), ErrorCode::kNotFound,
              "user_not_found");
  ExpectError(store->InsertApiKey(MakeKey("", u.id)), ErrorCode::kNotFound, "user_not_found");

  ApiKey bad_scope = MakeKey(t.id, "");
  bad_scope.scopes = {"a,b"};
  EXPECT_FALSE(store->InsertApiKey(bad_scope).ok());
}

TEST_F(SqliteMetaStoreTest, RevokeKeepsFirstRevocationTime) {
  auto store = Open();
  Tenant t = MakeTenant("acme");
  ASSERT_OK(store->InsertTenant(t));
  ApiKey k = MakeKey(t.id, "");
  ASSERT_OK(store->InsertApiKey(k));
  ASSERT_OK(store->RevokeApiKey(t.id, k.id, kT0 + 10));
  ASSERT_OK(store->RevokeApiKey(t.id, k.id, kT0 + 20));
  auto got = store->GetApiKey(t.id, k.id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->revoked_at, kT0 + 10);
  ExpectError(store->RevokeApiKey(t.id, "key_missing", kT0), ErrorCode::kNotFound,
              "api_key_not_found");
}

TEST_F(SqliteMetaStoreTest, TenantIsolation) {
  auto store = Open();
  Tenant a = MakeTenant("alpha");
  Tenant b = MakeTenant("beta");
  ASSERT_OK(store->InsertTenant(a));
  ASSERT_OK(store->InsertTenant(b));
  User ua = MakeUser(a.id, "ann@example.com");
  ASSERT_OK(store->InsertUser(ua));
  ApiKey ka = MakeKey(a.id, ua.id);
  ASSERT_OK(store->InsertApiKey(ka));
  ApiKey op = MakeKey("", "");
  ASSERT_OK(store->InsertApiKey(op));

  ExpectError(store->GetUser(b.id, ua.id).status(), ErrorCode::kNotFound, "user_not_found");
  ExpectError(store->GetUserByEmail(b.id, "ann@example.com").status(), ErrorCode::kNotFound,
              "user_not_found");
  User moved = ua;
  moved.tenant_id = b.id;
  moved.role = Role::kOwner;
  ExpectError(store->UpdateUser(moved), ErrorCode::kNotFound, "user_not_found");
  EXPECT_EQ(store->GetUser(a.id, ua.id)->role, Role::kAnalyst);

  ExpectError(store->GetApiKey(b.id, ka.id).status(), ErrorCode::kNotFound, "api_key_not_found");
  ExpectError(store->GetApiKey("", ka.id).status(), ErrorCode::kNotFound, "api_key_not_found");
  ExpectError(store->GetApiKey(a.id, op.id).status(), ErrorCode::kNotFound, "api_key_not_found");
  ExpectError(store->RevokeApiKey(b.id, ka.id, kT0), ErrorCode::kNotFound, "api_key_not_found");
  ExpectError(store->RevokeApiKey(a.id, op.id, kT0), ErrorCode::kNotFound, "api_key_not_found");
  EXPECT_FALSE(store->GetApiKey(a.id, ka.id)->revoked_at.has_value());
  EXPECT_FALSE(store->GetApiKey("", op.id)->revoked_at.has_value());
  // A user of tenant A cannot own a key of tenant B.
  ExpectError(store->InsertApiKey(MakeKey(b.id, ua.id)), ErrorCode::kNotFound, "user_not_found");

  auto users_b = store->ListUsers(b.id, {});
  ASSERT_TRUE(users_b.ok());
  EXPECT_TRUE(users_b->items.empty());
  auto keys_b = store->ListApiKeys(b.id, "", {});
  ASSERT_TRUE(keys_b.ok());
  EXPECT_TRUE(keys_b->items.empty());
}

// --- pagination ---

template <typename T, typename F>
std::vector<std::string> CollectIds(int limit, F list, int* pages) {
  std::vector<std::string> ids;
  PageRequest req;
  req.limit = limit;
  *pages = 0;
  while (true) {
    Result<Page<T>> page = list(req);
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    if (!page.ok()) return ids;
    ++*pages;
    EXPECT_LE(page->items.size(), static_cast<std::size_t>(limit));
    for (const T& item : page->items) ids.push_back(item.id);
    if (!page->next_cursor) return ids;
    EXPECT_EQ(*page->next_cursor, page->items.back().id);
    req.after_id = *page->next_cursor;
  }
}

TEST_F(SqliteMetaStoreTest, PaginationAcrossPages) {
  auto store = Open();
  std::vector<std::string> tenant_ids;
  for (int i = 0; i < 25; ++i) {
    Tenant t = MakeTenant("t" + std::to_string(i));
    ASSERT_OK(store->InsertTenant(t));
    tenant_ids.push_back(t.id);
  }
  std::sort(tenant_ids.begin(), tenant_ids.end());
  int pages = 0;
  auto list = [&](const PageRequest& r) { return store->ListTenants(r); };
  EXPECT_EQ(CollectIds<Tenant>(10, list, &pages), tenant_ids);
  EXPECT_EQ(pages, 3);

  // Exactly two full pages: the second one has no cursor.
  std::vector<std::string> user_ids;
  for (int i = 0; i < 20; ++i) {
    User u = MakeUser(tenant_ids[0], "u" + std::to_string(i) + "@example.com");
    ASSERT_OK(store->InsertUser(u));
    user_ids.push_back(u.id);
  }
  ASSERT_OK(store->InsertUser(MakeUser(tenant_ids[1], "elsewhere@example.com")));
  std::sort(user_ids.begin(), user_ids.end());
  auto list_users = [&](const PageRequest& r) { return store->ListUsers(tenant_ids[0], r); };
  EXPECT_EQ(CollectIds<User>(10, list_users, &pages), user_ids);
  EXPECT_EQ(pages, 2);

  // Limits are clamped to 1..1000.
  auto one = store->ListTenants({"", 0});
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->items.size(), 1u);
  EXPECT_TRUE(one->next_cursor.has_value());
  auto all = store->ListTenants({"", 5000});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->items.size(), 25u);
  EXPECT_FALSE(all->next_cursor.has_value());
}

TEST_F(SqliteMetaStoreTest, ListApiKeysFiltersByTenantAndUser) {
  auto store = Open();
  Tenant t = MakeTenant("acme");
  ASSERT_OK(store->InsertTenant(t));
  User ann = MakeUser(t.id, "ann@example.com");
  User bob = MakeUser(t.id, "bob@example.com");
  ASSERT_OK(store->InsertUser(ann));
  ASSERT_OK(store->InsertUser(bob));
  std::vector<std::string> ann_keys, all_keys, operator_keys;
  for (int i = 0; i < 7; ++i) {
    ApiKey k = MakeKey(t.id, i % 2 == 0 ? ann.id : bob.id);
    ASSERT_OK(store->InsertApiKey(k));
    all_keys.push_back(k.id);
    if (i % 2 == 0) ann_keys.push_back(k.id);
  }
  ApiKey tenant_key = MakeKey(t.id, "");
  ASSERT_OK(store->InsertApiKey(tenant_key));
  all_keys.push_back(tenant_key.id);
  for (int i = 0; i < 3; ++i) {
    ApiKey op = MakeKey("", "");
    ASSERT_OK(store->InsertApiKey(op));
    operator_keys.push_back(op.id);
  }
  for (auto* v : {&ann_keys, &all_keys, &operator_keys}) std::sort(v->begin(), v->end());

  int pages = 0;
  EXPECT_EQ(CollectIds<ApiKey>(
                3, [&](const PageRequest& r) { return store->ListApiKeys(t.id, "", r); }, &pages),
            all_keys);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(CollectIds<ApiKey>(
                2, [&](const PageRequest& r) { return store->ListApiKeys(t.id, ann.id, r); },
                &pages),
            ann_keys);
  EXPECT_EQ(CollectIds<ApiKey>(
                2, [&](const PageRequest& r) { return store->ListApiKeys("", "", r); }, &pages),
            operator_keys);
}

// --- identity epoch and key use ---

TEST_F(SqliteMetaStoreTest, EpochBumpsOnAuthChangesOnly) {
  auto store = Open();
  EXPECT_EQ(Epoch(*store), 0);
  Tenant t = MakeTenant("acme");
  ASSERT_OK(store->InsertTenant(t));
  User u = MakeUser(t.id, "ann@example.com");
  ASSERT_OK(store->InsertUser(u));
  ApiKey k = MakeKey(t.id, u.id);
  ASSERT_OK(store->InsertApiKey(k));
  EXPECT_EQ(Epoch(*store), 0);

  t.status = TenantStatus::kDisabled;
  ASSERT_OK(store->UpdateTenant(t));
  EXPECT_EQ(Epoch(*store), 1);
  u.status = UserStatus::kDisabled;
  ASSERT_OK(store->UpdateUser(u));
  EXPECT_EQ(Epoch(*store), 2);
  ASSERT_OK(store->RevokeApiKey(t.id, k.id, kT0 + 1));
  EXPECT_EQ(Epoch(*store), 3);

  ASSERT_OK(store->RecordApiKeyUse({{k.id, kT0 + 2}}));
  EXPECT_FALSE(store->UpdateTenant(MakeTenant("missing")).ok());
  EXPECT_FALSE(store->RevokeApiKey(t.id, "key_missing", kT0).ok());
  EXPECT_EQ(Epoch(*store), 3);
}

TEST_F(SqliteMetaStoreTest, RecordApiKeyUseKeepsLatestTime) {
  auto store = Open();
  Tenant t = MakeTenant("acme");
  ASSERT_OK(store->InsertTenant(t));
  ApiKey a = MakeKey(t.id, "");
  ApiKey b = MakeKey(t.id, "");
  ASSERT_OK(store->InsertApiKey(a));
  ASSERT_OK(store->InsertApiKey(b));

  ASSERT_OK(store->RecordApiKeyUse({}));
  ASSERT_OK(store->RecordApiKeyUse({{a.id, kT0 + 100}, {b.id, kT0 + 50}, {"key_unknown", kT0}}));
  EXPECT_EQ(store->GetApiKey(t.id, a.id)->last_used_at, kT0 + 100);
  EXPECT_EQ(store->GetApiKey(t.id, b.id)->last_used_at, kT0 + 50);
  ASSERT_OK(store->RecordApiKeyUse({{a.id, kT0 + 60}, {b.id, kT0 + 200}}));
  EXPECT_EQ(store->GetApiKey(t.id, a.id)->last_used_at, kT0 + 100);
  EXPECT_EQ(store->GetApiKey(t.id, b.id)->last_used_at, kT0 + 200);
}

}  // namespace
}  // namespace quarry
