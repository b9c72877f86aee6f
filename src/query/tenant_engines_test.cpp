// Layer 2 of the query sandbox: each tenant's engine reads its own storage and nothing else, and
// the cache of engines is bounded (least recently used first, idle ones closed).
#include "query/tenant_engines.h"

#include <gtest/gtest.h>

#include "common/testing/temp_dir.h"

namespace quarry::query {
namespace {

class TenantEnginesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    objects_ = std::move(OpenLocalObjectStore((temp_.path() / "storage").string())).value();
    // Each tenant's dataset file, written by an unrestricted engine (as ingestion does).
    engine::EngineOptions options;
    options.temp_directory = (temp_.path() / "writer_tmp").string();
    auto writer = std::move(engine::OpenDatabase(options)).value();
    auto conn = std::move(writer->Connect()).value();
    for (const char* tenant : {"ten_a", "ten_b"}) {
      const std::string dir = *objects_->ReadPrefixLocation(TenantStoragePrefix(tenant) + "datasets/ds/v1/");
      ASSERT_TRUE(conn->Execute("COPY (SELECT '" + std::string(tenant) + "' AS owner) TO " +
                                engine::QuoteLiteral(dir + "data.parquet") + " (FORMAT parquet)")
                      .ok());
      files_[tenant] = dir + "data.parquet";
    }
  }

  TenantEngines Make(std::size_t max_instances = 32) {
    EngineLimits limits;
    limits.threads = 1;
    limits.memory_limit_bytes = 128LL << 20;
    limits.temp_root = (temp_.path() / "query_tmp").string();
    limits.max_instances = max_instances;
    limits.idle_timeout = std::chrono::minutes(10);
    return TenantEngines(*objects_, limits, clock_);
  }

  Result<engine::QueryResult> Read(TenantEngines& engines, const std::string& tenant, const std::string& file) {
    auto lease = engines.Get(tenant);
    if (!lease.ok()) return lease.status();
    QUARRY_ASSIGN_OR_RETURN(auto conn, lease->database->Connect());
    return conn->Execute("SELECT owner FROM read_parquet(" + engine::QuoteLiteral(file) + ")");
  }

  testing::TempDir temp_{"tenant-engines"};
  SimulatedClock clock_;
  std::unique_ptr<ObjectStore> objects_;
  std::map<std::string, std::string> files_;
};

TEST_F(TenantEnginesTest, ATenantsEngineReadsItsOwnFilesOnly) {
  TenantEngines engines = Make();
  auto own = Read(engines, "ten_a", files_["ten_a"]);
  ASSERT_TRUE(own.ok()) << own.status().ToString();
  EXPECT_EQ(own->rows[0][0], "ten_a");
  for (const std::string& path : {files_["ten_b"], std::string("/etc/passwd"),
                                  files_["ten_a"] + "/../../../../../ten_b/datasets/ds/v1/data.parquet"}) {
    auto other = Read(engines, "ten_a", path);
    ASSERT_FALSE(other.ok()) << path;
    EXPECT_EQ(other.status().category(), ErrorCode::kPermissionDenied) << other.status().ToString();
  }
  auto lease = engines.Get("ten_a");
  ASSERT_TRUE(lease.ok());
  auto conn = std::move(lease->database->Connect()).value();
  for (const char* sql : {"SET enable_external_access=true", "SET allowed_directories=['/']",
                          "SET lock_configuration=false"}) {
    EXPECT_FALSE(conn->Execute(sql).ok()) << sql;
  }
  auto cache = conn->Execute("SELECT current_setting('parquet_metadata_cache')");
  ASSERT_TRUE(cache.ok()) << cache.status().ToString();
  EXPECT_EQ(cache->rows[0][0], "true") << "dataset files never change: their footers are cached";
  // Messages may name these; the service scrubs them.
  EXPECT_EQ(lease->private_paths.size(), 2u);
}

TEST_F(TenantEnginesTest, TheCacheIsBoundedAndIdleEnginesClose) {
  TenantEngines engines = Make(/*max_instances=*/2);
  auto a = engines.Get("ten_a");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(engines.Get("ten_a")->database, a->database) << "the same engine is reused";
  clock_.Advance(std::chrono::seconds(1));
  ASSERT_TRUE(engines.Get("ten_b").ok());
  clock_.Advance(std::chrono::seconds(1));
  ASSERT_TRUE(engines.Get("ten_c").ok());
  EXPECT_EQ(engines.open_instances(), 2u);
  // ten_a was the least recently used: it was closed (a query still holding it keeps it alive).
  EXPECT_NE(engines.Get("ten_a")->database, a->database);
  EXPECT_TRUE(a->database->Connect().ok());

  clock_.Advance(std::chrono::minutes(11));
  ASSERT_TRUE(engines.Get("ten_b").ok());
  EXPECT_EQ(engines.open_instances(), 1u) << "engines idle past the timeout were closed";
}

TEST_F(TenantEnginesTest, AChangedMemoryQuotaReplacesTheEngine) {
  TenantEngines engines = Make(/*max_instances=*/4);
  auto a = engines.Get("ten_a");
  ASSERT_TRUE(a.ok());
  auto conn = std::move(a->database->Connect()).value();
  EXPECT_EQ(conn->Execute("SELECT current_setting('memory_limit')")->rows[0][0], "128.0 MiB") << "configured";
  EXPECT_EQ(engines.Get("ten_a", 128LL << 20)->database, a->database) << "the same limit: the same engine";
  auto smaller = engines.Get("ten_a", 64LL << 20);
  ASSERT_TRUE(smaller.ok());
  EXPECT_NE(smaller->database, a->database);
  auto small_conn = std::move(smaller->database->Connect()).value();
  EXPECT_EQ(small_conn->Execute("SELECT current_setting('memory_limit')")->rows[0][0], "64.0 MiB");
  EXPECT_TRUE(conn->Execute("SELECT 1").ok()) << "a query holding the old engine finishes on it";
  EXPECT_EQ(engines.open_instances(), 1u);
}

}  // namespace
}  // namespace quarry::query
