// The SQLite MetaStore: transactions, several stores on one file, concurrency.
#include "meta/sqlite/sqlite_meta_store_test_support.h"

namespace quarry {
namespace {

class SqliteMetaStoreMoreTest : public SqliteMetaStoreTest {};

// --- transactions ---

TEST_F(SqliteMetaStoreMoreTest, InTransactionCommits) {
  auto store = Open();
  Tenant t = MakeTenant("acme");
  User u = MakeUser(t.id, "ann@example.com");
  ASSERT_OK(store->InTransaction([&](MetaStore& tx) -> Status {
    QUARRY_RETURN_IF_ERROR(tx.InsertTenant(t));
    QUARRY_RETURN_IF_ERROR(tx.InsertUser(u));
    // Reads inside the transaction see its own writes.
    auto got = tx.GetUser(t.id, u.id);
    if (!got.ok()) return got.status();
    return tx.UpdateTenant(t);
  }));
  EXPECT_TRUE(store->GetTenant(t.id).ok());
  EXPECT_TRUE(store->GetUser(t.id, u.id).ok());
  EXPECT_EQ(Epoch(*store), 1);
}

TEST_F(SqliteMetaStoreMoreTest, InTransactionRollsBackOnError) {
  auto store = Open();
  Tenant t = MakeTenant("acme");
  Status s = store->InTransaction([&](MetaStore& tx) -> Status {
    QUARRY_RETURN_IF_ERROR(tx.InsertTenant(t));
    QUARRY_RETURN_IF_ERROR(tx.InsertUser(MakeUser(t.id, "ann@example.com")));
    QUARRY_RETURN_IF_ERROR(tx.UpdateTenant(t));
    return tx.InsertUser(MakeUser(t.id, "ann@example.com"));  // email taken
  });
  ExpectError(s, ErrorCode::kAlreadyExists, "user_email_taken");
  ExpectError(store->GetTenant(t.id).status(), ErrorCode::kNotFound, "tenant_not_found");
  EXPECT_EQ(RawCount("SELECT COUNT(*) FROM users"), 0);
  EXPECT_EQ(Epoch(*store), 0);
}

TEST_F(SqliteMetaStoreMoreTest, InTransactionRollsBackAndRethrowsOnException) {
  auto store = Open(/*max_connections=*/1);
  Tenant t = MakeTenant("acme");
  EXPECT_THROW((void)store->InTransaction([&](MetaStore& tx) -> Status {
    QUARRY_RETURN_IF_ERROR(tx.InsertTenant(t));
    throw std::runtime_error("boom");
  }),
               std::runtime_error);
  // The only connection went back to the pool, outside any transaction.
  ExpectError(store->GetTenant(t.id).status(), ErrorCode::kNotFound, "tenant_not_found");
  ASSERT_OK(store->InsertTenant(t));
  EXPECT_TRUE(store->GetTenant(t.id).ok());
}

TEST_F(SqliteMetaStoreMoreTest, NestedInTransactionIsASavepoint) {
  auto store = Open();
  Tenant t = MakeTenant("acme");
  Tenant inner_failed = MakeTenant("inner-failed");
  Tenant inner_ok = MakeTenant("inner-ok");
  ASSERT_OK(store->InTransaction([&](MetaStore& tx) -> Status {
    QUARRY_RETURN_IF_ERROR(tx.InsertTenant(t));
    Status inner = tx.InTransaction([&](MetaStore& tx2) -> Status {
      QUARRY_RETURN_IF_ERROR(tx2.InsertTenant(inner_failed));
      return FailedPrecondition("test", "inner fails");
    });
    EXPECT_EQ(inner.code(), "test");
    return tx.InTransaction([&](MetaStore& tx2) { return tx2.InsertTenant(inner_ok); });
  }));
  EXPECT_TRUE(store->GetTenant(t.id).ok());
  EXPECT_TRUE(store->GetTenant(inner_ok.id).ok());
  EXPECT_FALSE(store->GetTenant(inner_failed.id).ok());
}

TEST_F(SqliteMetaStoreMoreTest, PoolAcquisitionIsBounded) {
  auto store = Open(/*max_connections=*/1, /*busy_timeout_ms=*/100);
  ASSERT_OK(store->InTransaction([&](MetaStore&) -> Status {
    // Contract violation on purpose: the outer store has no free connection.
    ExpectError(store->Ping(), ErrorCode::kUnavailable, "metadata_store_busy");
    return Status::Ok();
  }));
  ASSERT_OK(store->Ping());
}

// --- several stores on one file (server and CLI processes) ---

TEST_F(SqliteMetaStoreMoreTest, TwoStoresOnOneFileSeeEachOthersWrites) {
  auto server = Open();
  auto cli = Open();
  ASSERT_NE(server, nullptr);
  ASSERT_NE(cli, nullptr);
  Tenant t = MakeTenant("acme");
  ASSERT_OK(cli->InsertTenant(t));
  ASSERT_TRUE(server->GetTenant(t.id).ok());

  EXPECT_EQ(Epoch(*server), 0);
  t.status = TenantStatus::kDisabled;
  ASSERT_OK(cli->UpdateTenant(t));
  EXPECT_EQ(Epoch(*server), 1);
  EXPECT_EQ(server->GetTenant(t.id)->status, TenantStatus::kDisabled);

  User u = MakeUser(t.id, "ann@example.com");
  ASSERT_OK(server->InsertUser(u));
  EXPECT_TRUE(cli->GetUserByEmail(t.id, "ann@example.com").ok());
}

TEST_F(SqliteMetaStoreMoreTest, WriterLockedPastBusyTimeoutIsUnavailable) {
  auto server = Open();
  auto cli = Open(/*max_connections=*/2, /*busy_timeout_ms=*/50);
  Tenant committed = MakeTenant("committed");
  ASSERT_OK(server->InsertTenant(committed));
  Tenant pending = MakeTenant("pending");
  ASSERT_OK(server->InTransaction([&](MetaStore& tx) -> Status {
    QUARRY_RETURN_IF_ERROR(tx.InsertTenant(pending));
    // The transaction holds the write lock: the other store's writes time out, its reads still
    // work (WAL) and do not see the uncommitted row.
    ExpectError(cli->InsertTenant(MakeTenant("blocked")), ErrorCode::kUnavailable,
                "metadata_store_busy");
    EXPECT_TRUE(cli->GetTenant(committed.id).ok());
    EXPECT_FALSE(cli->GetTenant(pending.id).ok());
    return Status::Ok();
  }));
  EXPECT_TRUE(cli->GetTenant(pending.id).ok());
  ASSERT_OK(cli->InsertTenant(MakeTenant("unblocked")));
}

// --- concurrency ---

TEST_F(SqliteMetaStoreMoreTest, ConcurrentInsertsFromSeveralThreads) {
  auto store = Open(/*max_connections=*/4);
  auto other = Open(/*max_connections=*/2);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50;
  std::vector<std::vector<std::string>> ids(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      // Half the threads write through a second store on the same file.
      MetaStore& s = i % 2 == 0 ? *store : *other;
      for (int j = 0; j < kPerThread; ++j) {
        Tenant t = MakeTenant("t" + std::to_string(i) + "-" + std::to_string(j));
        Status st = s.InsertTenant(t);
        EXPECT_TRUE(st.ok()) << st.ToString();
        if (st.ok()) ids[i].push_back(t.id);
        EXPECT_TRUE(s.GetTenant(t.id).ok());
        if (j % 10 == 0) {
          EXPECT_TRUE(s.UpdateTenant(t).ok());
          EXPECT_TRUE(s.ListTenants({"", 20}).ok());
        }
      }
    });
  }
  for (auto& t : threads) t.join();

  std::vector<std::string> expected;
  for (const auto& v : ids) expected.insert(expected.end(), v.begin(), v.end());
  std::sort(expected.begin(), expected.end());
  ASSERT_EQ(expected.size(), static_cast<std::size_t>(kThreads * kPerThread));
  auto all = store->ListTenants({"", 1000});
  ASSERT_TRUE(all.ok());
  std::vector<std::string> listed;
  for (const Tenant& t : all->items) listed.push_back(t.id);
  EXPECT_EQ(listed, expected);
  EXPECT_EQ(Epoch(*store), kThreads * (kPerThread / 10));
}

}  // namespace
}  // namespace quarry
