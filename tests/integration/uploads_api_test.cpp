// The tus 1.0.0 endpoints against the real binary, beyond what tus-js-client exercises
// (tests/node/tus_resume.test.mjs): protocol errors, offsets, creation-with-upload, limits,
// isolation and termination.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "integration/harness.h"

namespace quarry::testing {
namespace {

using namespace std::chrono_literals;

const std::string kTus = "Tus-Resumable: 1.0.0";
const std::string kOctets = "Content-Type: application/offset+octet-stream";


std::string Code(const HttpResult& r) {
  auto v = boost::json::parse(r.body);
  return std::string(v.at("code").as_string());
}

TEST(UploadsApi, ProtocolOffsetsAndTermination) {
  QuarryServer server({"--set", "ingest.max_upload_bytes=100000"});
  ASSERT_TRUE(server.started());
  const std::string key = server.demo_key();
  auto options = server.Request("OPTIONS", "/v1/uploads");
  EXPECT_EQ(options.status, 204);
  EXPECT_EQ(options.headers["tus-version"], "1.0.0");
  EXPECT_EQ(options.headers["tus-max-size"], "100000");

  const std::string meta = "Upload-Metadata: dataset " + Base64("sales") + ",filename " + Base64("s.csv");
  EXPECT_EQ(server.Request("POST", "/v1/uploads", key, "", {"Upload-Length: 10", meta}).status, 412) << "no Tus-Resumable";
  EXPECT_EQ(Code(server.Request("POST", "/v1/uploads", key, "", {kTus, "Upload-Length: 200000", meta})), "too_large");
  EXPECT_EQ(Code(server.Request("POST", "/v1/uploads", key, "", {kTus, "Upload-Length: 10",
                                                                 "Upload-Metadata: filename " + Base64("x")})),
            "missing_dataset");
  EXPECT_EQ(Code(server.Request("POST", "/v1/uploads", key, "", {kTus, "Upload-Length: 10", "Upload-Metadata: dataset !!"})),
            "invalid_upload_metadata");
  EXPECT_EQ(Code(server.Request("POST", "/v1/uploads", key, "",
                                {kTus, "Upload-Length: 10", "Upload-Metadata: dataset " + Base64("Bad Name")})),
            "invalid_dataset_name");

  const std::string csv = "id,v\n1,a\n2,b\n";
  // creation-with-upload: the first 5 bytes come with the POST.
  auto created = server.Request("POST", "/v1/uploads", key, csv.substr(0, 5),
                                {kTus, kOctets, "Upload-Length: " + std::to_string(csv.size()), meta});
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string location = created.headers["location"];
  ASSERT_EQ(location.rfind("/v1/uploads/upl_", 0), 0u) << location;
  EXPECT_EQ(created.headers["upload-offset"], "5");
  EXPECT_FALSE(created.headers["upload-expires"].empty());

  auto head = server.Request("HEAD", location, key, "", {kTus});
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.headers["upload-offset"], "5");
  EXPECT_EQ(head.headers["upload-length"], std::to_string(csv.size()));
  EXPECT_EQ(head.headers["cache-control"], "no-store");

  EXPECT_EQ(Code(server.Request("PATCH", location, key, csv.substr(3), {kTus, kOctets, "Upload-Offset: 3"})),
            "offset_mismatch");
  EXPECT_EQ(server.Request("PATCH", location, key, csv.substr(5), {kTus, "Content-Type: text/csv", "Upload-Offset: 5"}).status,
            415);
  EXPECT_EQ(server.Request("PATCH", location, key, csv.substr(5) + "too much", {kTus, kOctets, "Upload-Offset: 5"}).status,
            413);
  // Another tenant sees nothing.
  auto acme = boost::json::parse(server.Request("POST", "/v1/admin/tenants", server.operator_key(),
                                                R"({"slug":"acme","name":"Acme","owner_email":"o@acme.io"})").body);
  const std::string acme_key(acme.at("owner_key").at("secret").as_string());
  EXPECT_EQ(server.Request("HEAD", location, acme_key, "", {kTus}).status, 404);
  EXPECT_EQ(server.Request("PATCH", location, acme_key, csv.substr(5), {kTus, kOctets, "Upload-Offset: 5"}).status, 404);

  auto done = server.Request("PATCH", location, key, csv.substr(5), {kTus, kOctets, "Upload-Offset: 5"});
  ASSERT_EQ(done.status, 204) << done.body;
  EXPECT_EQ(done.headers["upload-offset"], std::to_string(csv.size()));
  const std::string job = done.headers["quarry-job"];
  ASSERT_EQ(job.rfind("/v1/jobs/job_", 0), 0u) << job;
  EXPECT_EQ(Code(server.Request("PATCH", location, key, "x", {kTus, kOctets, "Upload-Offset: " + std::to_string(csv.size())})),
            "upload_completed");
  auto deadline = std::chrono::steady_clock::now() + 30s;
  std::string state;
  while (state != "succeeded" && state != "failed" && std::chrono::steady_clock::now() < deadline) {
    state = std::string(boost::json::parse(server.Request("GET", job, key).body).at("state").as_string());
  }
  EXPECT_EQ(state, "succeeded");
  EXPECT_EQ(boost::json::parse(server.Request("GET", "/v1/datasets/sales", key).body).at("row_count").as_int64(), 2);

  // Termination.
  auto doomed = server.Request("POST", "/v1/uploads", key, "", {kTus, "Upload-Length: 100",
                                                                "Upload-Metadata: dataset " + Base64("doomed")});
  ASSERT_EQ(doomed.status, 201);
  EXPECT_EQ(server.Request("DELETE", doomed.headers["location"], key, "", {kTus}).status, 204);
  EXPECT_EQ(server.Request("HEAD", doomed.headers["location"], key, "", {kTus}).status, 404);
}

}  // namespace
}  // namespace quarry::testing
