// Uploads end to end against the real binary: streamed bodies (Content-Length and chunked),
// limits before and while reading, ingestion jobs, the dataset registry, idempotency, bad files,
// isolation and deletion. Published data is checked by reading the Parquet files with DuckDB.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <filesystem>
#include <fstream>

#include "engine/engine.h"
#include "integration/harness.h"

namespace quarry::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

boost::json::value Json(const HttpResult& r) { return boost::json::parse(r.body); }
std::string Str(const boost::json::value& v) { return std::string(v.as_string()); }

// Polls the job until it is final (or 60 s pass).
boost::json::value WaitForFinal(const QuarryServer& server, const std::string& key, const std::string& id) {
  auto end = std::chrono::steady_clock::now() + 60s;
  boost::json::value job;
  do {
    auto r = server.Request("GET", "/v1/jobs/" + id, key);
    if (r.status == 200) {
      job = Json(r);
      const auto state = Str(job.at("state"));
      if (state == "succeeded" || state == "failed" || state == "canceled") return job;
    }
  } while (std::chrono::steady_clock::now() < end);
  return job;
}

// Uploads `body` and waits for its ingestion job; returns the final job.
boost::json::value Upload(const QuarryServer& server, const std::string& key, const std::string& path,
                          const std::string& body, std::vector<std::string> headers = {}) {
  auto r = server.Request("PUT", path, key, body, headers);
  EXPECT_EQ(r.status, 202) << r.body;
  if (r.status != 202) return {};
  return WaitForFinal(server, key, Str(Json(r).at("id")));
}

std::vector<std::string> FilesUnder(const std::string& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); ++it) {
    if (it->is_regular_file()) files.push_back(it->path().string());
  }
  return files;
}

// count(*) and sum(first column) of the Parquet files under `dir`, read with DuckDB.
std::pair<std::string, std::string> CountAndSum(const std::string& dir, const std::string& column) {
  engine::EngineOptions options;
  options.temp_directory = dir + "/../duck_tmp";
  auto db = std::move(engine::OpenDatabase(options)).value();
  auto conn = std::move(db->Connect()).value();
  auto r = conn->Execute("SELECT count(*), sum(" + engine::QuoteIdentifier(column) + ") FROM read_parquet(" +
                         engine::QuoteLiteral(dir + "/**/*.parquet") + ")");
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return {r->rows[0][0].value_or("null"), r->rows[0][1].value_or("null")};
}

const std::string kCsv = "id,region,amount\n1,north,10\n2,south,20\n3,north,30\n";

TEST(DatasetsApi, UploadIngestsAndTheDatasetIsQueryable) {
  QuarryServer server;
  ASSERT_TRUE(server.started());
  const std::string key = server.demo_key();
  auto r = server.Request("PUT", "/v1/datasets/sales/data?filename=sales.csv", key, kCsv);
  ASSERT_EQ(r.status, 202) << r.body;
  const std::string id = Str(Json(r).at("id"));
  EXPECT_EQ(r.headers["location"], "/v1/jobs/" + id);
  EXPECT_EQ(Json(r).at("kind"), "ingest");
  auto job = WaitForFinal(server, key, id);
  ASSERT_EQ(job.at("state"), "succeeded") << boost::json::serialize(job);
  EXPECT_EQ(job.at("result").at("row_count").as_int64(), 3);
  EXPECT_EQ(job.at("progress").at("phase"), "publishing");
  // Jobs show their payload without server paths (regression: upload_path was shown).
  EXPECT_EQ(job.at("payload").at("dataset"), "sales");
  EXPECT_FALSE(job.at("payload").as_object().contains("upload_path"));
  EXPECT_EQ(r.body.find(server.data_dir()), std::string::npos) << r.body;
  auto listed = server.Request("GET", "/v1/jobs", key);
  EXPECT_EQ(listed.body.find(server.data_dir()), std::string::npos) << listed.body;

  auto dataset = Json(server.Request("GET", "/v1/datasets/sales", key));
  EXPECT_EQ(dataset.at("name"), "sales");
  EXPECT_EQ(dataset.at("current_version").as_int64(), 1);
  EXPECT_EQ(dataset.at("row_count").as_int64(), 3);
  EXPECT_GT(dataset.at("byte_size").as_int64(), 0);
  ASSERT_EQ(dataset.at("schema").as_array().size(), 3u);
  EXPECT_EQ(dataset.at("schema").at(0).at("name"), "id");
  EXPECT_EQ(dataset.at("schema").at(0).at("type"), "BIGINT");
  EXPECT_EQ(dataset.at("versions").as_array().size(), 1u);
  auto list = Json(server.Request("GET", "/v1/datasets", key));
  ASSERT_EQ(list.at("items").as_array().size(), 1u);
  auto versions = Json(server.Request("GET", "/v1/datasets/sales/versions", key));
  EXPECT_EQ(versions.at("items").at(0).at("source").at("filename"), "sales.csv");

  const std::string storage = server.data_dir() + "/storage/tenants";
  EXPECT_EQ(CountAndSum(storage, "amount"), std::make_pair(std::string("3"), std::string("60")));
  EXPECT_TRUE(FilesUnder(server.data_dir() + "/uploads").empty()) << "the upload is gone once ingested";

  // Append, then replace, then roll back.
  auto appended = Upload(server, key, "/v1/datasets/sales/data?mode=append", "id,region,amount\n4,east,40\n");
  ASSERT_EQ(appended.at("state"), "succeeded") << boost::json::serialize(appended);
  EXPECT_EQ(Json(server.Request("GET", "/v1/datasets/sales", key)).at("row_count").as_int64(), 4);
  auto replaced = Upload(server, key, "/v1/datasets/sales/data?mode=replace&format=json", R"([{"x":1}])");
  ASSERT_EQ(replaced.at("state"), "succeeded") << boost::json::serialize(replaced);
  auto rolled = server.Request("POST", "/v1/datasets/sales/rollback", key, R"({"version":2})");
  ASSERT_EQ(rolled.status, 200) << rolled.body;
  EXPECT_EQ(Json(rolled).at("row_count").as_int64(), 4);

  // Delete: metadata and every file gone.
  EXPECT_EQ(server.Request("DELETE", "/v1/datasets/sales", key).status, 204);
  EXPECT_EQ(server.Request("GET", "/v1/datasets/sales", key).status, 404);
  EXPECT_TRUE(FilesUnder(storage).empty());
}

TEST(DatasetsApi, BadRequestsAreRefusedBeforeTheBodyIsRead) {
  QuarryServer server({"--set", "ingest.max_upload_bytes=1000"});
  ASSERT_TRUE(server.started());
  const std::string key = server.demo_key();
  EXPECT_EQ(server.Request("PUT", "/v1/datasets/sales/data", "", kCsv).status, 401);
  EXPECT_EQ(Json(server.Request("PUT", "/v1/datasets/Bad-Name/data", key, kCsv)).at("code"), "invalid_dataset_name");
  EXPECT_EQ(Json(server.Request("PUT", "/v1/datasets/select/data", key, kCsv)).at("code"), "invalid_dataset_name");
  EXPECT_EQ(Json(server.Request("PUT", "/v1/datasets/s/data?mode=upsert", key, kCsv)).at("code"), "invalid_parameter");
  EXPECT_EQ(Json(server.Request("PUT", "/v1/datasets/s/data?colour=red", key, kCsv)).at("code"), "invalid_parameter");
  EXPECT_EQ(server.Request("PUT", "/v1/datasets/missing/data?mode=append", key, kCsv).status, 404);
  auto too_large = server.Request("PUT", "/v1/datasets/big/data", key, std::string(5000, 'x'));
  EXPECT_EQ(too_large.status, 413);
  EXPECT_EQ(Json(too_large).at("code"), "too_large");
  ASSERT_EQ(Upload(server, key, "/v1/datasets/sales/data", kCsv).at("state"), "succeeded");
  auto exists = server.Request("PUT", "/v1/datasets/sales/data", key, kCsv);
  EXPECT_EQ(exists.status, 409);
  EXPECT_EQ(Json(exists).at("code"), "dataset_exists");
  EXPECT_TRUE(FilesUnder(server.data_dir() + "/uploads").empty());
}

TEST(DatasetsApi, ChunkedBodiesStreamAndAreCutAtTheLimit) {
  QuarryServer server({"--set", "ingest.max_upload_bytes=4096"});
  ASSERT_TRUE(server.started());
  const std::string key = server.demo_key();
  auto chunked = [&](const std::string& name, const std::vector<std::string>& chunks, bool finish) {
    RawConnection conn(server.host(), server.port());
    std::string request = "PUT /v1/datasets/" + name + "/data HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key +
                          "\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (const auto& c : chunks) {
      char size[32];
      std::snprintf(size, sizeof size, "%zx\r\n", c.size());
      request += size + c + "\r\n";
    }
    if (finish) request += "0\r\n\r\n";
    EXPECT_TRUE(conn.Send(request));
    bool closed = false;
    return conn.ReadUntilClosed(finish ? 20s : 2s, &closed);
  };
  auto ok = chunked("chunks", {"id,v\n", "1,a\n2,", "b\n3,c\n"}, true);
  ASSERT_NE(ok.find("HTTP/1.1 202"), std::string::npos) << ok;
  const std::string id = Str(boost::json::parse(ok.substr(ok.find("\r\n\r\n") + 4)).at("id"));
  auto job = WaitForFinal(server, key, id);
  EXPECT_EQ(job.at("state"), "succeeded") << boost::json::serialize(job);
  EXPECT_EQ(job.at("result").at("row_count").as_int64(), 3);

  auto cut = chunked("toobig", {std::string(3000, 'a'), std::string(3000, 'b')}, true);
  EXPECT_NE(cut.find("HTTP/1.1 413"), std::string::npos) << cut;
  EXPECT_NE(cut.find("too_large"), std::string::npos);
  EXPECT_TRUE(FilesUnder(server.data_dir() + "/uploads").empty()) << "the partial file is deleted";
}

TEST(DatasetsApi, AClientThatGoesAwayLeavesNoPartialFile) {
  QuarryServer server;
  ASSERT_TRUE(server.started());
  {
    RawConnection conn(server.host(), server.port());
    ASSERT_TRUE(conn.Send("PUT /v1/datasets/gone/data HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                          server.demo_key() + "\r\nContent-Length: 100000\r\n\r\nid,v\n1,a\n"));
    // The server has the partial file once the header was accepted and the first bytes written.
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (FilesUnder(server.data_dir() + "/uploads").empty() && std::chrono::steady_clock::now() < deadline) {
    }
    ASSERT_FALSE(FilesUnder(server.data_dir() + "/uploads").empty());
  }  // closes the connection mid-body
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!FilesUnder(server.data_dir() + "/uploads").empty() && std::chrono::steady_clock::now() < deadline) {
  }
  EXPECT_TRUE(FilesUnder(server.data_dir() + "/uploads").empty());
  EXPECT_EQ(server.Request("GET", "/v1/datasets/gone", server.demo_key()).status, 404);
}

TEST(DatasetsApi, BadFilesFailTheirJobWithAPreciseError) {
  QuarryServer server;
  ASSERT_TRUE(server.started());
  const std::string key = server.demo_key();
  auto ragged = Upload(server, key, "/v1/datasets/ragged/data", "a,b,c\n1,2,3\n4,5\n6,7,8\n");
  ASSERT_EQ(ragged.at("state"), "failed") << boost::json::serialize(ragged);
  EXPECT_EQ(ragged.at("error").at("code"), "bad_rows");
  EXPECT_EQ(ragged.at("error").at("details").at("first_rejected").at(0).at("line").as_int64(), 3);
  EXPECT_EQ(ragged.at("attempt").as_int64(), 1) << "a bad file is not retried";
  auto binary = Upload(server, key, "/v1/datasets/binary/data", std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16));
  EXPECT_EQ(binary.at("error").at("code"), "unsupported_format");
  ASSERT_EQ(Upload(server, key, "/v1/datasets/base/data", "id,name\n1,a\n").at("state"), "succeeded");
  auto mismatch = Upload(server, key, "/v1/datasets/base/data?mode=append", "id,label\n2,b\n");
  EXPECT_EQ(mismatch.at("error").at("code"), "schema_mismatch");
  EXPECT_NE(Str(mismatch.at("error").at("message")).find("column 'name' (VARCHAR) is missing"), std::string::npos);
  for (const char* name : {"ragged", "binary"}) {
    EXPECT_EQ(server.Request("GET", std::string("/v1/datasets/") + name, key).status, 404) << name;
  }
  EXPECT_EQ(Json(server.Request("GET", "/v1/datasets/base", key)).at("row_count").as_int64(), 1);
  EXPECT_TRUE(FilesUnder(server.data_dir() + "/uploads").empty());
}

TEST(DatasetsApi, BrowserFormsUploadTheirFileAndRefuseFormFields) {
  QuarryServer server;
  ASSERT_TRUE(server.started());
  const std::string key = server.demo_key();
  const std::string work = MakeTempDir();
  const std::string csv = work + "/orders.csv";
  {
    std::ofstream out(csv);
    out << "id,amount\r\n";
    for (int i = 1; i <= 5000; ++i) out << i << "," << i * 2 << "\r\n";
  }
  // curl -F frames the file as a browser's form does (multipart/form-data).
  CommandResult sent = RunCommand({"/usr/bin/curl", "-sS", "-X", "PUT", "-H", "Authorization: Bearer " + key, "-F",
                                   "file=@" + csv, "-w", "\n%{http_code}",
                                   "http://" + server.address() + "/v1/datasets/orders/data"});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  ASSERT_NE(sent.out.find("\n202"), std::string::npos) << sent.out;
  auto job = WaitForFinal(server, key, Str(boost::json::parse(sent.out.substr(0, sent.out.rfind('\n'))).at("id")));
  ASSERT_EQ(job.at("state"), "succeeded") << boost::json::serialize(job);
  EXPECT_EQ(job.at("result").at("row_count").as_int64(), 5000);
  auto versions = Json(server.Request("GET", "/v1/datasets/orders/versions", key));
  EXPECT_EQ(versions.at("items").at(0).at("source").at("filename"), "orders.csv");
  EXPECT_EQ(CountAndSum(server.data_dir() + "/storage/tenants", "amount"),
            std::make_pair(std::string("5000"), std::string("25005000")));

  // A form field would change the ingestion behind the query string's back: refused, nothing kept.
  const std::string form = "--b0und\r\nContent-Disposition: form-data; name=\"mode\"\r\n\r\nreplace\r\n"
                           "--b0und\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.csv\"\r\n\r\n"
                           "id\n1\n\r\n--b0und--\r\n";
  auto field = server.Request("PUT", "/v1/datasets/other/data", key, form,
                              {"Content-Type: multipart/form-data; boundary=b0und"});
  EXPECT_EQ(field.status, 400);
  EXPECT_EQ(Json(field).at("code"), "multipart_field_not_supported");
  auto cut = server.Request("PUT", "/v1/datasets/other/data", key, form.substr(form.find("--b0und\r\nContent-Disposition: form-data; name=\"file"), 80),
                            {"Content-Type: multipart/form-data; boundary=b0und"});
  EXPECT_EQ(cut.status, 400);
  EXPECT_EQ(Json(cut).at("code"), "multipart_malformed");
  EXPECT_EQ(Json(server.Request("PUT", "/v1/datasets/other/data", key, "x", {"Content-Type: multipart/mixed; boundary=a"}))
                .at("code"),
            "unsupported_media_type");
  EXPECT_TRUE(FilesUnder(server.data_dir() + "/uploads").empty());
  EXPECT_EQ(server.Request("GET", "/v1/datasets/other", key).status, 404);
  RemoveTree(work);
}

TEST(DatasetsApi, CancelingAQueuedIngestionDeletesItsUpload) {
  QuarryServer server({"--set", "jobs.workers=0"});  // nothing runs: the job stays queued
  ASSERT_TRUE(server.started());
  const std::string key = server.demo_key();
  auto r = server.Request("PUT", "/v1/datasets/later/data", key, kCsv);
  ASSERT_EQ(r.status, 202) << r.body;
  ASSERT_EQ(FilesUnder(server.data_dir() + "/uploads").size(), 1u);
  auto canceled = server.Request("POST", "/v1/jobs/" + Str(Json(r).at("id")) + "/cancel", key);
  ASSERT_EQ(canceled.status, 200) << canceled.body;
  EXPECT_EQ(Json(canceled).at("state"), "canceled");
  EXPECT_TRUE(FilesUnder(server.data_dir() + "/uploads").empty());
}

TEST(DatasetsApi, IdempotentUploadsAndTenantIsolation) {
  QuarryServer server;
  ASSERT_TRUE(server.started());
  const std::string demo = server.demo_key();
  auto first = server.Request("PUT", "/v1/datasets/sales/data", demo, kCsv, {"Idempotency-Key: upload-1"});
  ASSERT_EQ(first.status, 202);
  const std::string id = Str(Json(first).at("id"));
  ASSERT_EQ(WaitForFinal(server, demo, id).at("state"), "succeeded");
  auto again = server.Request("PUT", "/v1/datasets/sales/data?mode=replace", demo, kCsv, {"Idempotency-Key: upload-1"});
  ASSERT_EQ(again.status, 202) << again.body;
  EXPECT_EQ(Str(Json(again).at("id")), id);
  EXPECT_EQ(again.headers["idempotent-replayed"], "true");
  EXPECT_EQ(Json(server.Request("GET", "/v1/datasets/sales", demo)).at("versions").as_array().size(), 1u);

  auto acme = Json(server.Request("POST", "/v1/admin/tenants", server.operator_key(),
                                  R"({"slug":"acme","name":"Acme","owner_email":"o@acme.io"})"));
  const std::string acme_key = Str(acme.at("owner_key").at("secret"));
  EXPECT_EQ(server.Request("GET", "/v1/datasets/sales", acme_key).status, 404);
  EXPECT_EQ(Json(server.Request("GET", "/v1/datasets", acme_key)).at("items").as_array().size(), 0u);
  EXPECT_EQ(server.Request("DELETE", "/v1/datasets/sales", acme_key).status, 404);
  // The same name in another tenant is another dataset.
  ASSERT_EQ(Upload(server, acme_key, "/v1/datasets/sales/data", "id\n7\n").at("state"), "succeeded");
  EXPECT_EQ(Json(server.Request("GET", "/v1/datasets/sales", acme_key)).at("row_count").as_int64(), 1);
  EXPECT_EQ(Json(server.Request("GET", "/v1/datasets/sales", demo)).at("row_count").as_int64(), 3);
  EXPECT_EQ(server.Request("GET", "/v1/datasets", server.operator_key()).status, 403);
}

}  // namespace
}  // namespace quarry::testing
