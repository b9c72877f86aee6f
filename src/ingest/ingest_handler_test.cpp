// The ingest job against the real SQLite stores, local object store and DuckDB: formats, modes,
// bad files (each with its error code), fencing, and cleanup. Published data is read back with
// DuckDB from the stored Parquet file.
#include "ingest/ingest_handler.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "common/ids.h"
#include "common/testing/temp_dir.h"
#include "engine/engine.h"
#include "ingest/ingest_request.h"
#include "meta/sqlite/sqlite_meta_store.h"

namespace quarry::ingest {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class IngestHandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string db = (dir_.path() / "meta.db").string();
    meta_ = std::move(OpenSqliteMetaStore({db})).value();
    jobs_ = std::move(OpenSqliteJobStore({db})).value();
    datasets_ = std::move(OpenSqliteDatasetStore({db})).value();
    objects_ = std::move(OpenLocalObjectStore((dir_.path() / "storage").string())).value();
    Tenant t{NewId("ten", clock_.NowMillis()), "acme", "Acme", TenantStatus::kActive, 0, 0};
    ASSERT_TRUE(meta_->InsertTenant(t).ok());
    tenant_ = t.id;
    options_.uploads_dir = (dir_.path() / "uploads").string();
    options_.memory_limit_bytes = 256 << 20;  // small, as a busy server would give each ingestion
    fs::create_directories(options_.uploads_dir);
  }

  // Stores `bytes` as an upload and runs one ingest attempt of it; returns the attempt's result.
  Result<std::string> Ingest(const std::string& dataset, const std::string& bytes, Mode mode = Mode::kCreate,
                             IngestRequest request = {}) {
    request.dataset = dataset;
    request.mode = mode;
    request.upload_path = options_.uploads_dir + "/" + RandomAlphanumeric(10);
    if (request.filename.empty()) request.filename = "data.csv";
    std::ofstream(request.upload_path, std::ios::binary) << bytes;
    EnqueueIngest(request, 1);
    auto claimed = ClaimIngest();
    EXPECT_TRUE(claimed.ok() && *claimed);
    const std::string scratch = (dir_.path() / "scratch" / (*claimed)->id).string();
    fs::create_directories(scratch);
    jobs::JobContext context(**claimed, scratch);
    IngestHandler handler(*datasets_, *objects_, clock_, options_);
    auto result = handler.Run(context);
    AttemptOutcome outcome;
    outcome.kind = result.ok() ? AttemptOutcome::Kind::kSucceeded : AttemptOutcome::Kind::kFailed;
    EXPECT_TRUE(jobs_->Finish((*claimed)->id, (*claimed)->fencing_token, outcome, clock_.NowMillis()).ok());
    fs::remove_all(scratch);
    EXPECT_FALSE(fs::exists(request.upload_path)) << "the upload is deleted once the job cannot run again";
    return result;
  }

  void EnqueueIngest(const IngestRequest& request, int max_attempts) {
    NewJob job{tenant_, "usr_1", "ingest"};
    job.payload_json = ToJson(request);
    job.run_after = clock_.NowMillis();
    job.max_attempts = max_attempts;
    EXPECT_TRUE(jobs_->Enqueue(job, 1000, 24h, clock_.NowMillis()).ok());
  }

  Result<std::optional<Job>> ClaimIngest() {
    ClaimRequest claim;
    claim.worker_id = "w/1/";
    claim.kinds = {"ingest"};
    return jobs_->Claim(claim, clock_.NowMillis());
  }

  // Rows of `sql` over the current version's Parquet file (bound as relation t).
  std::vector<std::vector<std::optional<std::string>>> Query(const std::string& dataset, const std::string& sql) {
    auto version = datasets_->GetVersion(tenant_, dataset, 0);
    EXPECT_TRUE(version.ok()) << version.status().ToString();
    auto files = VersionDataLocations(*objects_, version->storage_prefix);
    EXPECT_TRUE(files.ok());
    engine::EngineOptions options;
    options.temp_directory = (dir_.path() / "qtmp").string();
    auto db = std::move(engine::OpenDatabase(options)).value();
    auto conn = std::move(db->Connect()).value();
    EXPECT_TRUE(conn->Execute("CREATE VIEW t AS SELECT * FROM " + engine::ReadParquetSql(*files)).ok());
    auto result = conn->Execute(sql);
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    return result->rows;
  }

  std::string ErrorOf(const Result<std::string>& r) { return r.ok() ? "ok" : r.status().code(); }

  testing::TempDir dir_{"ingest"};
  SimulatedClock clock_;
  std::unique_ptr<MetaStore> meta_;
  std::unique_ptr<JobStore> jobs_;
  std::unique_ptr<DatasetStore> datasets_;
  std::unique_ptr<ObjectStore> objects_;
  IngestOptions options_;
  std::string tenant_;
};

TEST_F(IngestHandlerTest, CsvBecomesAVersionWithSchemaAndStats) {
  auto result = Ingest("sales", "id,region,amount,day\n1,north,10.5,2024-01-02\n2,south,,2024-03-04\n3,north,7.25,2024-02-01\n");
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  auto dataset = datasets_->GetDataset(tenant_, "sales");
  ASSERT_TRUE(dataset.ok());
  EXPECT_EQ(dataset->current_version, 1);
  EXPECT_EQ(dataset->row_count, 3);
  EXPECT_GT(dataset->byte_size, 0);
  auto version = datasets_->GetVersion(tenant_, "sales", 1);
  EXPECT_NE(version->schema_json.find(R"({"name":"id","type":"BIGINT")"), std::string::npos) << version->schema_json;
  EXPECT_NE(version->schema_json.find(R"({"name":"day","type":"DATE")"), std::string::npos) << version->schema_json;
  EXPECT_NE(version->stats_json.find(R"({"name":"amount","min":"7.25","max":"10.5","null_count":1})"), std::string::npos)
      << version->stats_json;
  auto rows = Query("sales", "SELECT sum(id), count(*) FILTER (WHERE region = 'north') FROM t");
  EXPECT_EQ(rows[0][0], "6");
  EXPECT_EQ(rows[0][1], "2");
}

TEST_F(IngestHandlerTest, ReadsTsvJsonNdjsonGzipAndParquet) {
  IngestRequest tsv;
  tsv.delimiter = "\t";
  ASSERT_TRUE(Ingest("tsv", "a\tb\n1\tx\n2\ty\n", Mode::kCreate, tsv).ok());
  EXPECT_EQ(datasets_->GetDataset(tenant_, "tsv")->row_count, 2);
  auto arr = Ingest("arr", R"([{"a":1,"b":"x"},{"a":2,"b":"y"},{"a":3,"b":null}])");
  ASSERT_TRUE(arr.ok()) << arr.status().ToString();
  EXPECT_EQ(datasets_->GetDataset(tenant_, "arr")->row_count, 3);
  ASSERT_TRUE(Ingest("nd", "{\"a\":1}\n{\"a\":2}\n").ok());
  EXPECT_EQ(datasets_->GetDataset(tenant_, "nd")->row_count, 2);

  std::string csv = "a,b\n";
  for (int i = 0; i < 1000; ++i) csv += std::to_string(i) + ",row" + std::to_string(i) + "\n";
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY);
  std::string gz(deflateBound(&z, csv.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(csv.data());
  z.avail_in = static_cast<uInt>(csv.size());
  z.next_out = reinterpret_cast<Bytef*>(gz.data());
  z.avail_out = static_cast<uInt>(gz.size());
  deflate(&z, Z_FINISH);
  gz.resize(z.total_out);
  deflateEnd(&z);
  ASSERT_TRUE(Ingest("gz", gz).ok());
  EXPECT_EQ(datasets_->GetDataset(tenant_, "gz")->row_count, 1000);

  // The stored Parquet of one dataset, uploaded again, is a Parquet upload.
  auto version = datasets_->GetVersion(tenant_, "gz", 1);
  std::ifstream in(VersionDataLocations(*objects_, version->storage_prefix)->at(0), std::ios::binary);
  std::string parquet((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_TRUE(Ingest("pq", parquet).ok());
  EXPECT_EQ(datasets_->GetDataset(tenant_, "pq")->row_count, 1000);
}

TEST_F(IngestHandlerTest, ModesCreateReplaceAppend) {
  ASSERT_TRUE(Ingest("s", "id,name\n1,a\n2,b\n").ok());
  EXPECT_EQ(ErrorOf(Ingest("s", "id,name\n3,c\n")), "dataset_exists");
  EXPECT_EQ(ErrorOf(Ingest("nope", "id,name\n3,c\n", Mode::kAppend)), "dataset_not_found");
  ASSERT_TRUE(Ingest("s", "id,name\n3,c\n4,d\n5,e\n", Mode::kAppend).ok());
  EXPECT_EQ(datasets_->GetDataset(tenant_, "s")->row_count, 5);
  EXPECT_EQ(Query("s", "SELECT string_agg(name, '' ORDER BY id) FROM t")[0][0], "abcde");
  auto mismatch = Ingest("s", "id,label,extra\n6,f,1\n", Mode::kAppend);
  ASSERT_EQ(ErrorOf(mismatch), "schema_mismatch");
  EXPECT_NE(mismatch.status().message().find("column 'name' (VARCHAR) is missing from the file"), std::string::npos)
      << mismatch.status().message();
  EXPECT_NE(mismatch.status().message().find("column 'extra' (BIGINT) is not in the dataset"), std::string::npos);
  ASSERT_TRUE(Ingest("s", "x\n1\n", Mode::kReplace).ok());
  auto dataset = datasets_->GetDataset(tenant_, "s");
  EXPECT_EQ(dataset->current_version, 3);
  EXPECT_EQ(dataset->row_count, 1);
  EXPECT_EQ(datasets_->ListVersions(tenant_, "s")->size(), 3u);
}

TEST_F(IngestHandlerTest, RowOrderIsTheFilesOnlyWhenAskedForAndContentIsTheSameEitherWay) {
  std::string csv = "id,label\n";
  for (int i = 0; i < 400'000; ++i) csv += std::to_string(i) + ",row " + std::to_string(i) + "\n";
  options_.threads = 2;
  options_.preserve_row_order = true;
  ASSERT_TRUE(Ingest("ordered", csv).ok());
  // Four row groups written by two threads, read back in the file's order.
  EXPECT_EQ(Query("ordered", "SELECT count(*) FILTER (WHERE id <> pos) FROM "
                             "(SELECT id, row_number() OVER () - 1 AS pos FROM t)")[0][0], "0");
  options_.preserve_row_order = false;  // the default
  ASSERT_TRUE(Ingest("any_order", csv).ok());
  EXPECT_EQ(Query("any_order", "SELECT count(*), count(DISTINCT id), sum(id), min(label), max(label) FROM t")[0],
            Query("ordered", "SELECT count(*), count(DISTINCT id), sum(id), min(label), max(label) FROM t")[0]);
  EXPECT_EQ(datasets_->GetVersion(tenant_, "any_order", 0)->stats_json,
            datasets_->GetVersion(tenant_, "ordered", 0)->stats_json);
}

TEST_F(IngestHandlerTest, OldVersionsBeyondTheRetentionAreDeletedWithTheirFiles) {
  options_.keep_versions = 2;
  for (int i = 1; i <= 4; ++i) {
    ASSERT_TRUE(Ingest("s", "id\n" + std::to_string(i) + "\n", i == 1 ? Mode::kCreate : Mode::kReplace).ok());
  }
  auto versions = datasets_->ListVersions(tenant_, "s");
  ASSERT_TRUE(versions.ok());
  std::vector<int> kept;
  for (const auto& v : *versions) kept.push_back(v.version);
  EXPECT_EQ(kept, (std::vector<int>{4, 3}));
  int files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir_.path() / "storage")) files += entry.is_regular_file();
  EXPECT_EQ(files, 2) << "the pruned versions' Parquet files are gone";
  EXPECT_EQ(Query("s", "SELECT id FROM t")[0][0], "4");
}

TEST_F(IngestHandlerTest, BadFilesFailWithPreciseCodesAndPublishNothing) {
  EXPECT_EQ(ErrorOf(Ingest("e", "")), "empty_file");
  EXPECT_EQ(ErrorOf(Ingest("h", "a,b,c\n")), "empty_file");
  EXPECT_EQ(ErrorOf(Ingest("g", std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16))), "unsupported_format");
  EXPECT_EQ(ErrorOf(Ingest("x", std::string("PK\x03\x04", 4) + std::string(100, 'z'))), "unsupported_format");
  auto ragged = Ingest("r", "a,b,c\n1,2,3\n4,5\n6,7,8\n9,10,11,12\n");
  ASSERT_EQ(ErrorOf(ragged), "bad_rows");
  EXPECT_EQ(ragged.status().details().at("rejected_rows"), "2");
  EXPECT_NE(ragged.status().details().at("first_rejected").find(R"("line":3)"), std::string::npos)
      << ragged.status().details().at("first_rejected");
  auto utf = Ingest("u", "a,b\n1,caf\xe9\n2,ok\n3,\xff\xfe\n");
  EXPECT_EQ(ErrorOf(utf), "invalid_encoding") << utf.status().ToString() << " "
                                              << (utf.ok() ? "" : utf.status().details().at("first_rejected"));
  for (const char* name : {"e", "h", "g", "x", "r", "u"}) {
    EXPECT_EQ(datasets_->GetDataset(tenant_, name).status().code(), "dataset_not_found") << name;
  }
  EXPECT_TRUE(datasets_->ListStoragePrefixes()->empty()) << "no pending version is left behind";
  EXPECT_TRUE(objects_->List("", 10)->empty()) << "no file is left behind";
}

TEST_F(IngestHandlerTest, MaxBadRowsToleratesThatManyRejectedRows) {
  IngestRequest tolerant;
  tolerant.max_bad_rows = 2;
  auto result = Ingest("r", "a,b,c\n1,2,3\n4,5\n6,7,8\n9,10,11,12\n", Mode::kCreate, tolerant);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_NE(result->find(R"("rejected_rows":2)"), std::string::npos) << *result;
  EXPECT_EQ(datasets_->GetDataset(tenant_, "r")->row_count, 2);
}

TEST_F(IngestHandlerTest, AHugeSingleLineIsRefused) {
  std::string line = "a\n" + std::string(100 << 20, 'x') + "\n";
  EXPECT_EQ(ErrorOf(Ingest("long", line)), "line_too_long");
}

TEST_F(IngestHandlerTest, EngineErrorsNeverShowServerPaths) {
  // A JSON file that is not valid JSON makes DuckDB quote its statement, paths included.
  auto result = Ingest("broken", "[{\"a\": 1}, {\"a\": ");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().message().find(dir_.path().string()), std::string::npos) << result.status().message();
  EXPECT_EQ(result.status().message().find("LINE 1"), std::string::npos) << result.status().message();
}

TEST_F(IngestHandlerTest, ARetryOfAJobThatAlreadyPublishedReportsItsVersion) {
  // The worker published, then died before the job finished; the rescued job runs again. It must
  // not publish a second version (nor fail a create with dataset_exists).
  IngestRequest request;
  request.dataset = "s";
  request.mode = Mode::kCreate;
  request.filename = "s.csv";
  request.upload_path = options_.uploads_dir + "/upl_retry";
  std::ofstream(request.upload_path, std::ios::binary) << "id\n1\n2\n";
  EnqueueIngest(request, 3);
  IngestHandler handler(*datasets_, *objects_, clock_, options_);
  std::vector<std::string> results;
  for (int attempt = 1; attempt <= 2; ++attempt) {
    auto claimed = ClaimIngest();
    ASSERT_TRUE(claimed.ok() && *claimed) << "attempt " << attempt;
    const std::string scratch = (dir_.path() / "scratch" / std::to_string(attempt)).string();
    fs::create_directories(scratch);
    jobs::JobContext context(**claimed, scratch);
    auto result = handler.Run(context);
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    results.push_back(*result);
    clock_.Advance(31s);  // the worker vanishes without finishing the job
    ASSERT_TRUE(jobs_->RescueExpired(clock_.NowMillis(), [](const std::string&, int) { return 0ms; }).ok());
  }
  auto versions = datasets_->ListVersions(tenant_, "s");
  ASSERT_TRUE(versions.ok());
  EXPECT_EQ(versions->size(), 1u);
  EXPECT_EQ(results[0], results[1]);
  EXPECT_FALSE(fs::exists(request.upload_path));
}

TEST_F(IngestHandlerTest, DiscardDeletesTheUploadOfAJobThatNeverRan) {
  IngestRequest request;
  request.dataset = "gone";
  request.upload_path = options_.uploads_dir + "/upl_discard";
  std::ofstream(request.upload_path, std::ios::binary) << "id\n1\n";
  Job job;
  job.id = "job_x";
  job.kind = "ingest";
  job.payload_json = ToJson(request);
  IngestHandler handler(*datasets_, *objects_, clock_, options_);
  handler.Discard(job);
  EXPECT_FALSE(fs::exists(request.upload_path));
  handler.Discard(job);  // idempotent
  // A payload naming a file outside the uploads directory is left alone.
  const std::string outside = (dir_.path() / "precious.csv").string();
  std::ofstream(outside) << "x\n";
  request.upload_path = outside;
  job.payload_json = ToJson(request);
  handler.Discard(job);
  EXPECT_TRUE(fs::exists(outside));
}

TEST_F(IngestHandlerTest, StorageQuotaIsEnforced) {
  options_.tenant_storage_quota_bytes = 600;
  ASSERT_TRUE(Ingest("first", "a\n1\n").ok());
  std::string big = "a,b\n";
  for (int i = 0; i < 5000; ++i) big += std::to_string(i * 7919) + "," + RandomAlphanumeric(12) + "\n";
  EXPECT_EQ(ErrorOf(Ingest("second", big)), "quota_exceeded");
  EXPECT_EQ(datasets_->GetDataset(tenant_, "second").status().code(), "dataset_not_found");
}

}  // namespace
}  // namespace quarry::ingest
