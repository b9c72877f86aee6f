// ResumableUploads on a simulated clock: expiry and the sweep, metadata parsing.
#include "catalog/resumable_uploads.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <filesystem>
#include <fstream>

#include "common/ids.h"
#include "common/testing/temp_dir.h"
#include "meta/sqlite/sqlite_meta_store.h"

namespace quarry::catalog {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// The jobs are only enqueued here, never run.
class NoHandler final : public jobs::JobHandler {
 public:
  Result<std::string> Run(jobs::JobContext&) override { return std::string("{}"); }
};

class ResumableUploadsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string db = (dir_.path() / "meta.db").string();
    meta_ = std::move(OpenSqliteMetaStore({db})).value();
    job_store_ = std::move(OpenSqliteJobStore({db})).value();
    dataset_store_ = std::move(OpenSqliteDatasetStore({db})).value();
    access_store_ = std::move(OpenSqliteAccessStore({db})).value();
    upload_store_ = std::move(OpenSqliteUploadStore({db})).value();
    objects_ = std::move(OpenLocalObjectStore((dir_.path() / "storage").string())).value();
    registry_.Register("ingest", jobs::KindPolicy{}, std::make_shared<NoHandler>());
    jobs_ = std::make_unique<jobs::JobService>(*job_store_, registry_, clock_, jobs::JobServiceOptions{});
    datasets_ = std::make_unique<DatasetService>(*dataset_store_, *access_store_, *objects_, *jobs_, clock_);
    fs::create_directories(dir_.path() / "uploads");
    uploads_ = std::make_unique<ResumableUploads>(*upload_store_, *datasets_, clock_,
                                                  ResumableUploadOptions{(dir_.path() / "uploads").string(), 1000, 1h});
    Tenant t{NewId("ten", clock_.NowMillis()), "acme", "Acme", TenantStatus::kActive, 0, 0};
    ASSERT_TRUE(meta_->InsertTenant(t).ok());
    actor_.tenant = t;
    actor_.user.id = "usr_1";
    actor_.user.role = Role::kAnalyst;
    actor_.scopes = {"read", "write"};
  }

  // What a PATCH body leaves behind: `bytes` appended to the upload's file.
  void Append(const std::string& id, const std::string& bytes) {
    std::ofstream(dir_.path() / "uploads" / ("tus_" + id), std::ios::app) << bytes;
  }

  testing::TempDir dir_{"resumable"};
  SimulatedClock clock_;
  std::unique_ptr<MetaStore> meta_;
  std::unique_ptr<JobStore> job_store_;
  std::unique_ptr<DatasetStore> dataset_store_;
  std::unique_ptr<UploadStore> upload_store_;
  std::unique_ptr<ObjectStore> objects_;
  jobs::HandlerRegistry registry_;
  std::unique_ptr<jobs::JobService> jobs_;
  std::unique_ptr<AccessStore> access_store_;
  std::unique_ptr<DatasetService> datasets_;
  std::unique_ptr<ResumableUploads> uploads_;
  Principal actor_;
};

TEST_F(ResumableUploadsTest, IncompleteUploadsExpireAfterTheirLastWriteAndAreSwept) {
  auto upload = uploads_->Create(actor_, 100, "dataset c2FsZXM=");
  ASSERT_TRUE(upload.ok()) << upload.status().ToString();
  const fs::path file = dir_.path() / "uploads" / ("tus_" + upload->id);
  ASSERT_TRUE(fs::exists(file));
  Append(upload->id, "id\n1\n");
  clock_.Advance(50min);
  auto state = uploads_->AfterAppend(actor_, upload->id);  // a write extends the expiry
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->offset, 5);
  clock_.Advance(50min);
  EXPECT_EQ(uploads_->SweepExpired().value(), 0) << "written 50 minutes ago: not expired";
  clock_.Advance(11min);
  EXPECT_EQ(uploads_->Get(actor_, upload->id).status().code(), "upload_not_found") << "expired uploads are gone";
  EXPECT_EQ(uploads_->SweepExpired().value(), 1);
  EXPECT_FALSE(fs::exists(file));
  EXPECT_EQ(upload_store_->GetUpload(actor_.tenant.id, upload->id).status().code(), "upload_not_found");
}

TEST_F(ResumableUploadsTest, CompletionStartsOneIngestion) {
  auto upload = uploads_->Create(actor_, 5, "dataset c2FsZXM=");
  ASSERT_TRUE(upload.ok());
  Append(upload->id, "id\n1\n");
  auto first = uploads_->AfterAppend(actor_, upload->id);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_FALSE(first->upload.job_id.empty());
  auto again = uploads_->AfterAppend(actor_, upload->id);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->upload.job_id, first->upload.job_id);
  EXPECT_EQ(job_store_->List(actor_.tenant.id, {}, {})->items.size(), 1u);
  EXPECT_EQ(uploads_->PrepareAppend(actor_, upload->id, 5).status().code(), "upload_completed");
}

TEST_F(ResumableUploadsTest, AnUploadIsItsUploadersAndTheTenantAdmins) {
  auto upload = uploads_->Create(actor_, 100, "dataset c2FsZXM=");
  ASSERT_TRUE(upload.ok()) << upload.status().ToString();
  Principal colleague = actor_;
  colleague.user.id = "usr_2";
  EXPECT_EQ(uploads_->Get(colleague, upload->id).status().code(), "upload_not_found");
  EXPECT_EQ(uploads_->PrepareAppend(colleague, upload->id, 0).status().code(), "upload_not_found");
  Principal admin = colleague;
  admin.user.role = Role::kAdmin;
  EXPECT_EQ(uploads_->Get(admin, upload->id).status().code(), "upload_not_found") << "without the admin scope";
  admin.scopes = {"admin", "read", "write"};
  EXPECT_TRUE(uploads_->Get(admin, upload->id).ok());
  EXPECT_TRUE(uploads_->Get(actor_, upload->id).ok());
}

TEST_F(ResumableUploadsTest, ACompleteUploadWithoutAJobStartsOneWhenInspected) {
  // The server stopped after the last byte was durable but before the job was enqueued; the
  // client reconnects, asks for the offset (HEAD) and, finding it complete, sends nothing more.
  auto upload = uploads_->Create(actor_, 5, "dataset c2FsZXM=");
  ASSERT_TRUE(upload.ok());
  Append(upload->id, "id\n1\n");
  auto seen = uploads_->Inspect(actor_, upload->id);
  ASSERT_TRUE(seen.ok()) << seen.status().ToString();
  ASSERT_FALSE(seen->upload.job_id.empty());
  EXPECT_EQ(uploads_->Inspect(actor_, upload->id)->upload.job_id, seen->upload.job_id);
  EXPECT_EQ(job_store_->List(actor_.tenant.id, {}, {})->items.size(), 1u);
  // An incomplete upload starts nothing.
  auto partial = uploads_->Create(actor_, 100, "dataset b3RoZXI=");
  ASSERT_TRUE(partial.ok());
  EXPECT_TRUE(uploads_->Inspect(actor_, partial->id)->upload.job_id.empty());
}

TEST(UploadMetadata, ParsesTusPairs) {
  auto parsed = ParseUploadMetadata("dataset c2FsZXM=, filename c2FsZXMuY3N2,empty");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->at("dataset"), "sales");
  EXPECT_EQ(parsed->at("filename"), "sales.csv");
  EXPECT_EQ(parsed->at("empty"), "");
  EXPECT_EQ(ParseUploadMetadata("a YQ==,a YQ==").status().code(), "invalid_upload_metadata");
  EXPECT_EQ(ParseUploadMetadata("a !!!!").status().code(), "invalid_upload_metadata");
  EXPECT_EQ(ParseUploadMetadata("a YQ").status().code(), "invalid_upload_metadata");
  EXPECT_EQ(ParseUploadMetadata(std::string(20000, 'a')).status().code(), "invalid_upload_metadata");
}

// The line check of the ingestion, done as the bytes arrive: the job's payload says how far every
// line was within the limit, so the job reads only the rest.
class LineCheckTest : public ResumableUploadsTest {
 protected:
  void SetUp() override {
    ResumableUploadsTest::SetUp();
    checked_ = std::make_unique<ResumableUploads>(
        *upload_store_, *datasets_, clock_, ResumableUploadOptions{(dir_.path() / "uploads").string(), 1000, 1h, 8});
  }
  // A PATCH body at `offset`: appended to the file and shown to the checker, as the HTTP layer does.
  void Patch(const std::string& id, std::int64_t offset, const std::string& bytes) {
    Append(id, bytes);
    checked_->LineChecker(id, offset)(bytes);
  }
  // Uploads `pieces` (each one PATCH) and returns the ingestion job's lines_checked_until.
  long long Checked(const std::string& name, const std::vector<std::string>& pieces, bool unseen_gap = false) {
    std::int64_t length = 0;
    for (const auto& p : pieces) length += static_cast<std::int64_t>(p.size());
    auto upload = checked_->Create(actor_, length, "dataset " + Base64(name));
    EXPECT_TRUE(upload.ok()) << upload.status().ToString();
    std::int64_t offset = 0;
    for (std::size_t i = 0; i < pieces.size(); ++i) {
      if (unseen_gap && i == 1) {
        Append(upload->id, pieces[i]);  // written, never shown: an interrupted body's last piece
      } else {
        Patch(upload->id, offset, pieces[i]);
      }
      offset += static_cast<std::int64_t>(pieces[i].size());
    }
    auto state = checked_->AfterAppend(actor_, upload->id);
    EXPECT_TRUE(state.ok() && !state->upload.job_id.empty());
    auto job = job_store_->Get(actor_.tenant.id, state->upload.job_id);
    EXPECT_TRUE(job.ok());
    auto request = ingest::IngestRequestFromJson(job->payload_json);
    EXPECT_TRUE(request.ok());
    return request->lines_checked_until;
  }
  static std::string Base64(const std::string& s) {
    std::string out(4 * ((s.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
  }
  std::unique_ptr<ResumableUploads> checked_;
};

TEST_F(LineCheckTest, AWholeUploadWithShortLinesIsCheckedToItsEnd) {
  // Lines split across PATCH bodies are measured whole.
  EXPECT_EQ(Checked("a", {"id,na", "me\n1,ab\n2,cd\n"}), 18);
  // A last line without its newline is left to the job (it may continue in a later body).
  EXPECT_EQ(Checked("a2", {"id\n1\n22"}), 5);
}

TEST_F(LineCheckTest, AnOverLongLineStopsTheCheckAtItsStart) {
  // The third line (10 bytes) exceeds 8: the job checks from its start and refuses it.
  EXPECT_EQ(Checked("b", {"id,x\n1,y\n", "0123456789\n3,z\n"}), 9);
}

TEST_F(LineCheckTest, BytesTheCheckerDidNotSeeEndItWhereItStood) {
  EXPECT_EQ(Checked("c", {"id\n1\n2", "3\n4\n", "5\n"}, /*unseen_gap=*/true), 5);
}

TEST_F(LineCheckTest, UsersCannotClaimTheirLinesWereChecked) {
  auto upload = checked_->Create(actor_, 6, "dataset " + Base64("e") + ",lines_checked_until " + Base64("6"));
  EXPECT_FALSE(upload.ok());
  EXPECT_NE(upload.status().message().find("lines_checked_until"), std::string::npos) << upload.status().ToString();
}

TEST_F(LineCheckTest, AnUploadFirstSeenMidwayIsNotChecked) {
  // After a restart the checker meets an upload at a later offset: the job checks everything.
  auto upload = checked_->Create(actor_, 6, "dataset " + Base64("d"));
  ASSERT_TRUE(upload.ok());
  Append(upload->id, "id\n");
  Patch(upload->id, 3, "1\n2");
  auto state = checked_->AfterAppend(actor_, upload->id);
  ASSERT_TRUE(state.ok());
  auto job = job_store_->Get(actor_.tenant.id, state->upload.job_id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(ingest::IngestRequestFromJson(job->payload_json)->lines_checked_until, 0);
}

}  // namespace
}  // namespace quarry::catalog
