// The dataset registry on SQLite: the prepare/publish protocol with fencing, modes, visibility,
// rollback, deletion, abandoned versions and tenant isolation.
#include <gtest/gtest.h>

#include <algorithm>

#include "common/ids.h"
#include "common/testing/temp_dir.h"
#include "meta/sqlite/sqlite_meta_store.h"

namespace quarry {
namespace {

using namespace std::chrono_literals;

constexpr UnixMillis kT0 = 1'767'225'600'000;

class SqliteDatasetStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string path = (temp_.path() / "meta.db").string();
    meta_ = std::move(OpenSqliteMetaStore({path})).value();
    jobs_ = std::move(OpenSqliteJobStore({path})).value();
    datasets_ = std::move(OpenSqliteDatasetStore({path})).value();
    a_ = AddTenant("acme");
    b_ = AddTenant("beta");
  }

  std::string AddTenant(const std::string& slug) {
    Tenant t{NewId("ten", kT0), slug, slug, TenantStatus::kActive, kT0, kT0};
    EXPECT_TRUE(meta_->InsertTenant(t).ok());
    return t.id;
  }

  // A running ingestion job of `tenant`: its id and fencing token.
  std::pair<std::string, std::int64_t> RunningJob(const std::string& tenant) {
    NewJob job{tenant, "usr_1", "ingest"};
    job.max_attempts = 3;
    job.run_after = kT0;
    auto enqueued = jobs_->Enqueue(job, 1000, 24h, kT0);
    EXPECT_TRUE(enqueued.ok());
    ClaimRequest claim;
    claim.worker_id = "w/1/";
    claim.kinds = {"ingest"};
    auto claimed = jobs_->Claim(claim, kT0);
    EXPECT_TRUE(claimed.ok() && *claimed);
    return {(*claimed)->id, (*claimed)->fencing_token};
  }

  PrepareVersionRequest Prepare(const std::string& tenant, const std::string& name,
                                const std::pair<std::string, std::int64_t>& job) {
    return PrepareVersionRequest{tenant, name, job.first, job.second};
  }

  PublishRequest Publish(const std::string& tenant, const PreparedVersion& v,
                         const std::pair<std::string, std::int64_t>& job, std::int64_t rows) {
    PublishRequest p;
    p.tenant_id = tenant;
    p.dataset_id = v.dataset_id;
    p.version = v.version;
    p.job_id = job.first;
    p.fencing_token = job.second;
    p.row_count = rows;
    p.byte_size = rows * 10;
    p.schema_json = R"([{"name":"a","type":"BIGINT","nullable":true}])";
    return p;
  }

  // Publishes a version of `name` with `rows` rows through a fresh job.
  PreparedVersion PublishNew(const std::string& tenant, const std::string& name, std::int64_t rows) {
    auto job = RunningJob(tenant);
    auto prepared = datasets_->PrepareVersion(Prepare(tenant, name, job), kT0);
    EXPECT_TRUE(prepared.ok()) << prepared.status().ToString();
    EXPECT_TRUE(datasets_->PublishVersion(Publish(tenant, *prepared, job, rows), kT0 + 1).ok());
    return *prepared;
  }

  testing::TempDir temp_{"datasets"};
  std::unique_ptr<MetaStore> meta_;
  std::unique_ptr<JobStore> jobs_;
  std::unique_ptr<DatasetStore> datasets_;
  std::string a_, b_;
};

TEST_F(SqliteDatasetStoreTest, PreparedVersionsAreInvisibleUntilPublished) {
  auto job = RunningJob(a_);
  auto prepared = datasets_->PrepareVersion(Prepare(a_, "sales", job), kT0);
  ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
  EXPECT_EQ(prepared->version, 1);
  EXPECT_EQ(prepared->base_version, 0);
  EXPECT_EQ(prepared->storage_prefix, "tenants/" + a_ + "/datasets/" + prepared->dataset_id + "/v1/");
  EXPECT_EQ(datasets_->GetDataset(a_, "sales").status().code(), "dataset_not_found");
  EXPECT_TRUE(datasets_->ListDatasets(a_, {}, {"", true})->items.empty());

  ASSERT_TRUE(datasets_->PublishVersion(Publish(a_, *prepared, job, 42), kT0 + 5).ok());
  auto dataset = datasets_->GetDataset(a_, "sales");
  ASSERT_TRUE(dataset.ok());
  EXPECT_EQ(dataset->current_version, 1);
  EXPECT_EQ(dataset->row_count, 42);
  EXPECT_EQ(dataset->byte_size, 420);
  EXPECT_EQ(datasets_->TenantBytes(a_).value(), 420);
}

TEST_F(SqliteDatasetStoreTest, TheDatasetsQuotaCountsDatasetsBeingCreatedToo) {
  PublishNew(a_, "first", 1);
  auto second = Prepare(a_, "second", RunningJob(a_));
  second.max_datasets = 2;
  ASSERT_TRUE(datasets_->PrepareVersion(second, kT0).ok()) << "1 published, this one makes 2";
  auto third = Prepare(a_, "third", RunningJob(a_));
  third.max_datasets = 2;
  auto refused = datasets_->PrepareVersion(third, kT0);
  EXPECT_EQ(refused.status().code(), "quota_exceeded") << "the pending 'second' counts: uploads in flight cannot pass together";
  EXPECT_EQ(refused.status().details().at("used"), "3");
  auto again = Prepare(a_, "first", RunningJob(a_));
  again.max_datasets = 2;
  EXPECT_TRUE(datasets_->PrepareVersion(again, kT0).ok()) << "a new version of an existing dataset is not a new dataset";
  EXPECT_EQ(datasets_->CountDatasets(a_).value(), 1) << "only published datasets count as visible";
}

TEST_F(SqliteDatasetStoreTest, AWorkerThatLostItsLeasePublishesNothing) {
  auto job = RunningJob(a_);
  auto prepared = datasets_->PrepareVersion(Prepare(a_, "sales", job), kT0);
  ASSERT_TRUE(prepared.ok());
  // The lease expires and the rescuer requeues the job; another worker claims it (new token).
  ASSERT_TRUE(jobs_->RescueExpired(kT0 + 3'600'000, [](const std::string&, int) { return 0ms; }).ok());
  ClaimRequest claim;
  claim.worker_id = "w/2/";
  claim.kinds = {"ingest"};
  auto second = jobs_->Claim(claim, kT0 + 3'600'001);
  ASSERT_TRUE(second.ok() && *second);
  Status stale = datasets_->PublishVersion(Publish(a_, *prepared, job, 1), kT0 + 3'600'002);
  EXPECT_EQ(stale.code(), "lease_lost");
  EXPECT_EQ(datasets_->GetDataset(a_, "sales").status().code(), "dataset_not_found");
  // The new attempt takes the pending version over instead of reserving another number.
  std::pair<std::string, std::int64_t> retry{(*second)->id, (*second)->fencing_token};
  auto again = datasets_->PrepareVersion(Prepare(a_, "sales", retry), kT0 + 3'600'003);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->version, prepared->version);
  EXPECT_EQ(datasets_->PrepareVersion(Prepare(a_, "sales", job), kT0).status().code(), "lease_lost");
  ASSERT_TRUE(datasets_->PublishVersion(Publish(a_, *again, retry, 7), kT0 + 3'600'004).ok());
  EXPECT_EQ(datasets_->GetDataset(a_, "sales")->row_count, 7);
}

TEST_F(SqliteDatasetStoreTest, CreateAppendAndReplaceModes) {
  PublishNew(a_, "sales", 10);
  auto job = RunningJob(a_);
  auto create = Prepare(a_, "sales", job);
  create.must_not_exist = true;
  EXPECT_EQ(datasets_->PrepareVersion(create, kT0).status().code(), "dataset_exists");
  auto append_missing = Prepare(a_, "other", job);
  append_missing.must_exist = true;
  EXPECT_EQ(datasets_->PrepareVersion(append_missing, kT0).status().code(), "dataset_not_found");

  auto append = Prepare(a_, "sales", job);
  append.must_exist = true;
  auto v2 = datasets_->PrepareVersion(append, kT0);
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(v2->version, 2);
  EXPECT_EQ(v2->base_version, 1);
  // Another version is published meanwhile: the append's base is stale.
  PublishNew(a_, "sales", 5);
  auto publish = Publish(a_, *v2, job, 15);
  publish.check_base = true;
  publish.expected_base_version = v2->base_version;
  Status changed = datasets_->PublishVersion(publish, kT0 + 2);
  EXPECT_EQ(changed.code(), "dataset_changed");
  EXPECT_EQ(changed.category(), ErrorCode::kUnavailable) << "retryable";
  EXPECT_EQ(datasets_->GetDataset(a_, "sales")->current_version, 3);
}

TEST_F(SqliteDatasetStoreTest, VersionsRollbackAndDelete) {
  PublishNew(a_, "sales", 10);
  PublishNew(a_, "sales", 20);
  auto versions = datasets_->ListVersions(a_, "sales");
  ASSERT_TRUE(versions.ok());
  ASSERT_EQ(versions->size(), 2u);
  EXPECT_EQ((*versions)[0].version, 2);
  EXPECT_EQ(datasets_->GetVersion(a_, "sales", 1)->row_count, 10);
  EXPECT_EQ(datasets_->GetVersion(a_, "sales", 9).status().code(), "version_not_found");
  auto rolled = datasets_->Rollback(a_, "sales", 1, kT0 + 10);
  ASSERT_TRUE(rolled.ok());
  EXPECT_EQ(rolled->current_version, 1);
  EXPECT_EQ(rolled->row_count, 10);
  EXPECT_EQ(datasets_->Rollback(a_, "sales", 7, kT0).status().code(), "version_not_found");

  auto prefixes = datasets_->DeleteDataset(a_, "sales");
  ASSERT_TRUE(prefixes.ok());
  EXPECT_EQ(prefixes->size(), 3u) << "two versions and the dataset's own prefix";
  EXPECT_EQ(datasets_->GetDataset(a_, "sales").status().code(), "dataset_not_found");
  EXPECT_TRUE(datasets_->ListStoragePrefixes()->empty());
  // The name is free again.
  EXPECT_EQ(PublishNew(a_, "sales", 1).version, 1);
}

TEST_F(SqliteDatasetStoreTest, TenantsNeverSeeEachOthersDatasets) {
  PublishNew(a_, "sales", 10);
  EXPECT_EQ(datasets_->GetDataset(b_, "sales").status().code(), "dataset_not_found");
  EXPECT_EQ(datasets_->ListVersions(b_, "sales").status().code(), "dataset_not_found");
  EXPECT_EQ(datasets_->Rollback(b_, "sales", 1, kT0).status().code(), "dataset_not_found");
  EXPECT_EQ(datasets_->DeleteDataset(b_, "sales").status().code(), "dataset_not_found");
  EXPECT_TRUE(datasets_->ListDatasets(b_, {}, {"", true})->items.empty());
  // The same name in another tenant is another dataset.
  PublishNew(b_, "sales", 3);
  EXPECT_EQ(datasets_->GetDataset(a_, "sales")->row_count, 10);
  EXPECT_EQ(datasets_->GetDataset(b_, "sales")->row_count, 3);
}

TEST_F(SqliteDatasetStoreTest, AbandonedPendingVersionsAreFoundAndDropped) {
  auto job = RunningJob(a_);
  auto prepared = datasets_->PrepareVersion(Prepare(a_, "sales", job), kT0);
  ASSERT_TRUE(prepared.ok());
  EXPECT_TRUE(datasets_->ListAbandonedVersions(10)->empty()) << "its job is still running";
  AttemptOutcome failed;
  failed.kind = AttemptOutcome::Kind::kFailed;
  failed.error_code = "bad_rows";
  ASSERT_TRUE(jobs_->Finish(job.first, job.second, failed, kT0 + 1).ok());
  auto abandoned = datasets_->ListAbandonedVersions(10);
  ASSERT_EQ(abandoned->size(), 1u);
  EXPECT_EQ((*abandoned)[0].storage_prefix, prepared->storage_prefix);
  ASSERT_TRUE(datasets_->DropPendingVersion(prepared->dataset_id, prepared->version).ok());
  EXPECT_TRUE(datasets_->ListAbandonedVersions(10)->empty());
  EXPECT_TRUE(datasets_->ListStoragePrefixes()->empty());
}

TEST_F(SqliteDatasetStoreTest, PruningKeepsTheNewestVersionsAndAlwaysTheCurrentOne) {
  PreparedVersion first = PublishNew(a_, "sales", 1);
  for (int rows = 2; rows <= 5; ++rows) PublishNew(a_, "sales", rows);
  // Roll back to version 2, then keep 2: versions 5 and 4 are the newest, 2 is current.
  ASSERT_TRUE(datasets_->Rollback(a_, "sales", 2, kT0 + 2).ok());
  auto pruned = datasets_->PruneVersions(first.dataset_id, 2);
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  ASSERT_EQ(pruned->size(), 2u);  // versions 1 and 3
  EXPECT_NE(std::find(pruned->begin(), pruned->end(), first.storage_prefix), pruned->end());
  auto versions = datasets_->ListVersions(a_, "sales");
  ASSERT_TRUE(versions.ok());
  std::vector<int> numbers;
  for (const auto& v : *versions) numbers.push_back(v.version);
  EXPECT_EQ(numbers, (std::vector<int>{5, 4, 2}));
  EXPECT_EQ(datasets_->GetDataset(a_, "sales")->current_version, 2);
  // Nothing more to prune; another dataset is untouched.
  PreparedVersion other = PublishNew(a_, "other", 1);
  EXPECT_TRUE(datasets_->PruneVersions(first.dataset_id, 2)->empty());
  EXPECT_TRUE(datasets_->PruneVersions(other.dataset_id, 1)->empty());
  EXPECT_EQ(datasets_->ListVersions(a_, "other")->size(), 1u);
}

TEST(DatasetNames, ValidatesCharactersLengthAndReservedWords) {
  for (const char* ok : {"sales", "sales_2024", "a", "x1_y2"}) EXPECT_TRUE(ValidateDatasetName(ok).ok()) << ok;
  for (const char* bad : {"", "Sales", "1sales", "_x", "sales-2024", "sales.csv", "select", "from", "order",
                          "duckdb_tables", "pg_class", "information_schema"}) {
    EXPECT_EQ(ValidateDatasetName(bad).code(), "invalid_dataset_name") << bad;
  }
  EXPECT_FALSE(ValidateDatasetName(std::string(64, 'a')).ok());
}

}  // namespace
}  // namespace quarry
