// The SQLite MetaStore tests' fixture and helpers (shared by sqlite_meta_store*_test.cpp).
#pragma once

#include <gtest/gtest.h>

#include "meta/sqlite/sqlite_meta_store.h"

#include "common/testing/status_testing.h"
#include "common/testing/temp_dir.h"
#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/ids.h"
#include "meta/sqlite/migrations.h"
#include "meta/sqlite/sqlite_connection.h"

namespace quarry {
namespace {

// Versions may have gaps: the number of migrations, not the latest version, is the row count.
[[maybe_unused]] int MigrationCount() { return static_cast<int>(sqlite::Migrations().size()); }

constexpr UnixMillis kT0 = 1'767'225'600'000;

class SqliteMetaStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (dir_ / "meta.db").string();
  }

  std::unique_ptr<MetaStore> Open(int max_connections = 8, int busy_timeout_ms = 5000) {
    auto store = OpenSqliteMetaStore({path_, busy_timeout_ms, max_connections});
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  // Raw SQL against the same file, bypassing the store (as another tool would).
  void RawExec(const std::string& sql) {
    auto conn = sqlite::Connection::Open(path_, 5000);
    ASSERT_TRUE(conn.ok()) << conn.status().ToString();
    Status s = (*conn)->Exec(sql);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  std::int64_t RawCount(const std::string& sql) {
    auto conn = sqlite::Connection::Open(path_, 5000);
    EXPECT_TRUE(conn.ok());
    auto stmt = (*conn)->Prepare(sql);
    EXPECT_TRUE(stmt.ok()) << stmt.status().ToString();
    auto row = stmt->Step();
    EXPECT_TRUE(row.ok() && *row);
    return stmt->ColumnInt64(0);
  }

  testing::TempDir temp_{"meta"};
  const std::filesystem::path dir_ = temp_.path();
  std::string path_;
};

[[maybe_unused]] Tenant MakeTenant(const std::string& slug) {
  Tenant t;
  t.id = NewId("ten", kT0);
  t.slug = slug;
  t.name = "Tenant " + slug;
  t.created_at = kT0;
  t.updated_at = kT0;
  return t;
}

[[maybe_unused]] User MakeUser(const std::string& tenant_id, const std::string& email, Role role = Role::kAnalyst) {
  User u;
  u.id = NewId("usr", kT0);
  u.tenant_id = tenant_id;
  u.email = email;
  u.role = role;
  u.created_at = kT0;
  u.updated_at = kT0;
  return u;
}

[[maybe_unused]] ApiKey MakeKey(const std::string& tenant_id, const std::string& user_id) {
  ApiKey k;
  k.id = NewId("key", kT0);
  k.tenant_id = tenant_id;
  k.user_id = user_id;
  k.name = "key";
  k.prefix = "qk_" + RandomAlphanumeric(12);
  k.secret_hash = Sha256Hex(k.prefix);
  k.scopes = {"datasets:read", "query"};
  k.created_at = kT0;
  return k;
}

using ::quarry::testing::ExpectError;

[[maybe_unused]] std::int64_t Epoch(MetaStore& store) {
  auto epoch = store.IdentityEpoch();
  EXPECT_TRUE(epoch.ok()) << epoch.status().ToString();
  return epoch.ok() ? *epoch : -1;
}

}  // namespace
}  // namespace quarry
