// SQL over datasets end to end against the real binary: POST /v1/query (JSON and CSV), typed
// values, parameters, version pins, limits and truncation, previews, cancellation, timeouts, the
// concurrency cap, hostile SQL through HTTP, and isolation between tenants with datasets of the
// same name.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "engine/engine.h"
#include "integration/harness.h"

namespace quarry::testing {
namespace {

using namespace std::chrono_literals;

boost::json::value Json(const HttpResult& r) { return boost::json::parse(r.body); }
std::string Str(const boost::json::value& v) { return std::string(v.as_string()); }

// Uploads `csv` as dataset `name` and waits (60 s at most) until its job is final.
void UploadCsv(const QuarryServer& server, const std::string& key, const std::string& name, const std::string& csv,
               const std::string& mode = "create") {
  auto r = server.Request("PUT", "/v1/datasets/" + name + "/data?mode=" + mode, key, csv);
  ASSERT_EQ(r.status, 202) << r.body;
  const std::string id = Str(Json(r).at("id"));
  const auto end = std::chrono::steady_clock::now() + 60s;
  std::string state;
  while (std::chrono::steady_clock::now() < end) {
    auto job = server.Request("GET", "/v1/jobs/" + id, key);
    state = Str(Json(job).at("state"));
    if (state == "succeeded" || state == "failed" || state == "canceled") break;
  }
  ASSERT_EQ(state, "succeeded");
}

HttpResult Query(const QuarryServer& server, const std::string& key, const boost::json::object& body) {
  return server.Request("POST", "/v1/query", key, boost::json::serialize(body));
}

class QueryApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new QuarryServer({"--set", "query.max_concurrent_per_tenant=2", "--set", "query.max_result_bytes=100KiB"});
    ASSERT_TRUE(server_->started());
    key_ = server_->demo_key();
    UploadCsv(*server_, key_, "sales", "id,region,amount\n1,north,10.5\n2,south,20\n3,north,30\n");
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static QuarryServer* server_;
  static std::string key_;
};
QuarryServer* QueryApi::server_ = nullptr;
std::string QueryApi::key_;

TEST_F(QueryApi, AnswersWithColumnsTypedRowsAndTheVersionsRead) {
  auto r = Query(*server_, key_, {{"sql", "SELECT region, sum(amount) AS total, count(*) AS n FROM sales "
                                          "GROUP BY region ORDER BY region"}});
  ASSERT_EQ(r.status, 200) << r.body;
  auto body = Json(r);
  EXPECT_EQ(body.at("columns").as_array().size(), 3u);
  EXPECT_EQ(body.at("columns").at(0).at("name"), "region");
  EXPECT_EQ(body.at("columns").at(2).at("type"), "BIGINT");
  EXPECT_EQ(body.at("row_count"), 2);
  EXPECT_EQ(body.at("truncated"), false);
  EXPECT_EQ(body.at("rows").at(0).at(0), "north");
  EXPECT_EQ(body.at("rows").at(0).at(2), 2);
  EXPECT_TRUE(body.at("query_id").as_string().starts_with("qry_"));
  EXPECT_TRUE(body.at("elapsed_ms").is_int64());
  EXPECT_EQ(body.at("datasets").at(0).at("name"), "sales");
  EXPECT_EQ(body.at("datasets").at(0).at("version"), 1);
}

TEST_F(QueryApi, ValuesTravelFaithfully) {
  auto r = Query(*server_, key_,
                 {{"sql", "SELECT 9007199254740993::BIGINT AS big, 42::BIGINT AS small, 1.10::DECIMAL(10,2) AS dec, "
                          "'nan'::DOUBLE AS nan, 'inf'::DOUBLE AS inf, 0.5::DOUBLE AS half, NULL AS nothing, "
                          "TIMESTAMP '2024-05-01 10:00:00' AS ts, DATE '2024-05-01' AS d, true AS flag, "
                          "170141183460469231731687303715884105727::HUGEINT AS huge, [1, NULL, 3] AS list, "
                          "{'a': 1, 'b': [true]} AS st, MAP {'k': 2.5} AS m, "
                          "[[1, 2], [3]] AS nested -- a trailing comment\n"}});
  ASSERT_EQ(r.status, 200) << r.body;
  const boost::json::value body = Json(r);
  const auto& row = body.at("rows").at(0).as_array();
  EXPECT_EQ(row[0], "9007199254740993");
  EXPECT_EQ(row[1], 42);
  EXPECT_EQ(row[2], "1.10");
  EXPECT_EQ(row[3], "NaN");
  EXPECT_EQ(row[4], "Infinity");
  EXPECT_EQ(row[5], 0.5);
  EXPECT_TRUE(row[6].is_null());
  EXPECT_EQ(row[7], "2024-05-01T10:00:00");
  EXPECT_EQ(row[8], "2024-05-01");
  EXPECT_EQ(row[9], true);
  EXPECT_EQ(row[10], "170141183460469231731687303715884105727");
  EXPECT_EQ(boost::json::serialize(row[11]), "[1,null,3]");
  EXPECT_EQ(boost::json::serialize(row[12]), R"({"a":1,"b":[true]})");
  EXPECT_EQ(boost::json::serialize(row[13]), R"({"k":2.5E0})") << "2.5 as boost serializes it";
  EXPECT_EQ(boost::json::serialize(row[14]), "[[1,2],[3]]");
  EXPECT_EQ(body.at("columns").at(11).at("type"), "INTEGER[]") << "the original type, not JSON";
}

TEST_F(QueryApi, ParametersAreBoundNeverSpliced) {
  auto positional = Query(*server_, key_, {{"sql", "SELECT count(*) AS n FROM sales WHERE region = ?"},
                                           {"params", boost::json::array{"north"}}});
  ASSERT_EQ(positional.status, 200) << positional.body;
  EXPECT_EQ(Json(positional).at("rows").at(0).at(0), 2);
  auto named = Query(*server_, key_, {{"sql", "SELECT count(*) FROM sales WHERE region = $r AND amount > $min"},
                                      {"params", boost::json::object{{"r", "north"}, {"min", 15}}}});
  ASSERT_EQ(named.status, 200) << named.body;
  EXPECT_EQ(Json(named).at("rows").at(0).at(0), 1);
  // An injection attempt is just a string that matches nothing.
  auto injected = Query(*server_, key_, {{"sql", "SELECT count(*) FROM sales WHERE region = ?"},
                                         {"params", boost::json::array{"x'; DROP TABLE sales; --"}}});
  ASSERT_EQ(injected.status, 200) << injected.body;
  EXPECT_EQ(Json(injected).at("rows").at(0).at(0), 0);
  auto missing = Query(*server_, key_, {{"sql", "SELECT ? + ?"}, {"params", boost::json::array{1}}});
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(Json(missing).at("code"), "parameter_mismatch");
}

TEST_F(QueryApi, LimitTruncatesAndCsvStreamsTheSameRows) {
  auto r = Query(*server_, key_, {{"sql", "SELECT * FROM range(1000) t(i)"}, {"limit", 10}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Json(r).at("row_count"), 10);
  EXPECT_EQ(Json(r).at("truncated"), true);
  auto csv = Query(*server_, key_, {{"sql", "SELECT id, region, NULL AS n, '' AS e FROM sales ORDER BY id"},
                                    {"format", "csv"}});
  ASSERT_EQ(csv.status, 200) << csv.body;
  EXPECT_EQ(csv.headers["content-type"], "text/csv; charset=utf-8");
  EXPECT_EQ(csv.body, "id,region,n,e\r\n1,north,,\"\"\r\n2,south,,\"\"\r\n3,north,,\"\"\r\n");
  // The byte cap (100 KiB for this server) truncates too: 1,000 rows of 1,000 bytes.
  auto wide = Json(Query(*server_, key_, {{"sql", "SELECT repeat('x', 1000) FROM range(1000)"}, {"limit", 1000}}));
  EXPECT_EQ(wide.at("truncated"), true);
  EXPECT_LT(wide.at("row_count").as_int64(), 1000);
  EXPECT_GE(wide.at("row_count").as_int64(), 100);
  EXPECT_EQ(Query(*server_, key_, {{"sql", "SELECT 1"}, {"limit", 0}}).status, 400);
  EXPECT_EQ(Query(*server_, key_, {{"sql", "SELECT 1"}, {"format", "xml"}}).status, 400);
  EXPECT_EQ(Query(*server_, key_, {{"sql", "SELECT 1"}, {"sqll", "typo"}}).status, 400);
}

TEST_F(QueryApi, CsvAnswersStreamPastTheRowCapWithBoundedMemory) {
  // 300,000 rows: three times query.max_rows, streamed with chunked transfer.
  auto r = Query(*server_, key_, {{"sql", "SELECT i, 'row ' || i AS label FROM range(300000) t(i) ORDER BY i"},
                                  {"format", "csv"}});
  ASSERT_EQ(r.status, 200) << r.body.substr(0, 300);
  EXPECT_EQ(r.headers["transfer-encoding"], "chunked");
  EXPECT_TRUE(r.headers["x-quarry-query-id"].starts_with("qry_"));
  EXPECT_EQ(std::count(r.body.begin(), r.body.end(), '\n'), 300'001);
  EXPECT_TRUE(r.body.starts_with("i,label\r\n0,row 0\r\n"));
  EXPECT_TRUE(r.body.ends_with("299999,row 299999\r\n"));
  // The finished stream gave back its query slot before its last bytes went out: a client's next
  // query never meets its own finished one (with 2 slots per tenant, that was a spurious 429).
  EXPECT_EQ(Json(server_->Request("GET", "/v1/queries", key_)).at("items").as_array().size(), 0u);
  // A limit stops the stream there.
  auto limited = Query(*server_, key_, {{"sql", "SELECT * FROM range(100000)"}, {"format", "csv"}, {"limit", 10}});
  EXPECT_EQ(std::count(limited.body.begin(), limited.body.end(), '\n'), 11);
  // An error before the first row is a status; one part-way breaks the body (never a short one
  // that looks complete).
  EXPECT_EQ(Query(*server_, key_, {{"sql", "SELECT * FROM nope"}, {"format", "csv"}}).status, 404);
  // Costly rows: the stream's row cap (10,000,000) must not be reached before the timeout (a fast
  // machine streamed 10 M bare integers within the second, and the answer ended complete); a
  // SHA-256 per row takes several seconds for that many.
  auto broken = Query(*server_, key_, {{"sql", "SELECT i, sha256(i::VARCHAR) FROM range(1000000000000) t(i)"},
                                       {"format", "csv"}, {"timeout_ms", 1000}});
  EXPECT_EQ(broken.status, 0) << "the transfer must fail: " << broken.body.size() << " bytes";
  EXPECT_EQ(Query(*server_, key_, {{"sql", "SELECT 1"}}).status, 200);
}

TEST_F(QueryApi, ParquetAnswersAreFilesDuckDbReadsBack) {
  auto r = Query(*server_, key_, {{"sql", "SELECT region, sum(amount) AS total FROM sales GROUP BY region ORDER BY 1;"},
                                  {"format", "parquet"}});
  ASSERT_EQ(r.status, 200) << r.body.substr(0, 300);
  EXPECT_EQ(r.headers["content-type"], "application/vnd.apache.parquet");
  EXPECT_EQ(r.headers["x-quarry-rows"], "2");
  ASSERT_GE(r.body.size(), 8u);
  EXPECT_EQ(r.body.substr(0, 4), "PAR1");
  EXPECT_EQ(r.body.substr(r.body.size() - 4), "PAR1");
  // Read it back with DuckDB.
  const std::string dir = MakeTempDir();
  const std::string file = dir + "/answer.parquet";
  std::ofstream(file, std::ios::binary) << r.body;
  engine::EngineOptions options;
  options.temp_directory = dir + "/tmp";
  auto db = std::move(engine::OpenDatabase(options)).value();
  auto rows = std::move(db->Connect()).value()->Execute("SELECT region, total FROM read_parquet(" +
                                                         engine::QuoteLiteral(file) + ") ORDER BY 1");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->rows.size(), 2u);
  EXPECT_EQ(rows->rows[0][0], "north");
  EXPECT_EQ(rows->rows[0][1], "40.5");
  RemoveTree(dir);
  // The export file is gone once sent; a statement that cannot be a subquery fails cleanly.
  auto explain = Query(*server_, key_, {{"sql", "EXPLAIN SELECT 1"}, {"format", "parquet"}});
  EXPECT_EQ(explain.status, 400) << explain.body;
  // (The server deletes the file once the last chunk is written, which may be a moment after the
  // client has it: a bounded wait.)
  auto leftovers = [&] {
    std::size_t n = 0;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(server_->data_dir() + "/query_tmp")) {
      if (entry.path().extension() == ".parquet") ++n;
    }
    return n;
  };
  const auto end = std::chrono::steady_clock::now() + 10s;
  while (leftovers() > 0 && std::chrono::steady_clock::now() < end) std::this_thread::yield();
  EXPECT_EQ(leftovers(), 0u);
}

TEST_F(QueryApi, AClientThatDisconnectsFromAStreamStopsItsQuery) {
  const std::string body = R"json({"sql": "SELECT * FROM range(1000000000000)", "format": "csv", "timeout_ms": 60000})json";
  {
    RawConnection client(server_->host(), server_->port());
    ASSERT_TRUE(client.connected());
    ASSERT_TRUE(client.Send("POST /v1/query HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key_ +
                            "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                            "\r\n\r\n" + body));
    const std::string start = client.ReadUntil("range\r\n0\r\n", 10'000ms);
    ASSERT_NE(start.find("200 OK"), std::string::npos) << start.substr(0, 300);
    auto listed = Json(server_->Request("GET", "/v1/queries", key_));
    EXPECT_EQ(listed.at("items").as_array().size(), 1u) << "the streaming query runs";
  }  // the client goes away
  const auto end = std::chrono::steady_clock::now() + 20s;
  std::size_t running = 1;
  while (running > 0 && std::chrono::steady_clock::now() < end) {
    running = Json(server_->Request("GET", "/v1/queries", key_)).at("items").as_array().size();
  }
  EXPECT_EQ(running, 0u) << "the query still runs after its client left";
}

TEST_F(QueryApi, AClientThatLeavesBeforeAJsonAnswerStopsItsQuery) {
  const std::string body = R"json({"sql": "SELECT count(*) FROM range(100000000000) a", "timeout_ms": 60000})json";
  {
    RawConnection client(server_->host(), server_->port());
    ASSERT_TRUE(client.connected());
    ASSERT_TRUE(client.Send("POST /v1/query HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key_ +
                            "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                            "\r\n\r\n" + body));
    bool running = false;
    const auto end = std::chrono::steady_clock::now() + 20s;
    while (!running && std::chrono::steady_clock::now() < end) {
      running = !Json(server_->Request("GET", "/v1/queries", key_)).at("items").as_array().empty();
    }
    ASSERT_TRUE(running);
  }  // the client goes away without reading its answer
  const auto end = std::chrono::steady_clock::now() + 20s;
  std::size_t running = 1;
  while (running > 0 && std::chrono::steady_clock::now() < end) {
    running = Json(server_->Request("GET", "/v1/queries", key_)).at("items").as_array().size();
  }
  EXPECT_EQ(running, 0u) << "the query still runs after its client left (it would run 60 s)";
}

TEST_F(QueryApi, HostileSqlIsDeniedWithTheConstructAndPosition) {
  struct Case {
    std::string sql;
    int status;
    std::string code;
  };
  const std::vector<Case> cases = {
      {"SELECT * FROM read_csv('/etc/passwd')", 403, "sql_not_allowed"},
      {"FROM '" + server_->data_dir() + "/meta.db'", 403, "sql_not_allowed"},
      {"COPY sales TO '/tmp/x.csv'", 403, "sql_not_allowed"},
      {"ATTACH '/tmp/x.db'", 403, "sql_not_allowed"},
      {"SET enable_external_access=true", 403, "sql_not_allowed"},
      {"SELECT getenv('HOME')", 403, "sql_not_allowed"},
      {"SELECT 1; DROP TABLE sales", 403, "sql_not_allowed"},
      {"SELECT * FROM duckdb_settings()", 403, "sql_not_allowed"},
      {"SELECT * FROM other", 404, "unknown_relation"},
      {"SELEC 1", 400, "sql_syntax_error"},
  };
  for (const auto& c : cases) {
    auto r = Query(*server_, key_, {{"sql", c.sql}});
    EXPECT_EQ(r.status, c.status) << c.sql << ": " << r.body;
    EXPECT_EQ(Str(Json(r).at("code")), c.code) << c.sql;
    EXPECT_EQ(r.body.find(server_->data_dir()), std::string::npos) << "a host path leaked: " << r.body;
  }
  auto denied = Json(Query(*server_, key_, {{"sql", "SELECT * FROM sales, read_csv('/etc/passwd')"}}));
  EXPECT_EQ(denied.at("details").at("construct"), "table function read_csv");
  EXPECT_EQ(denied.at("details").at("position"), "21");
}

TEST_F(QueryApi, RuntimeErrorsAreCleanAndScrubbed) {
  auto r = Query(*server_, key_, {{"sql", "SELECT 'abc'::INTEGER"}});
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(Json(r).at("code"), "query_failed");
  auto slow = Query(*server_, key_, {{"sql", "SELECT count(*) FROM range(100000000000) a"}, {"timeout_ms", 200}});
  EXPECT_EQ(slow.status, 429) << slow.body;
  EXPECT_EQ(Json(slow).at("code"), "deadline_exceeded");
  // The tenant's engine keeps working.
  EXPECT_EQ(Query(*server_, key_, {{"sql", "SELECT 1"}}).status, 200);
}

TEST_F(QueryApi, RepeatedQueriesAreAnsweredFromTheCacheUntilAVersionIsPublished) {
  UploadCsv(*server_, key_, "cached", "x\n1\n2\n");
  const std::string sql = "SELECT sum(x) AS s FROM cached";
  auto first = Json(Query(*server_, key_, {{"sql", sql}}));
  EXPECT_EQ(first.at("cached"), false);
  auto again = Json(Query(*server_, key_, {{"sql", "select   SUM(x) as s\nfrom CACHED -- same"}}));
  EXPECT_EQ(again.at("cached"), true);
  EXPECT_EQ(again.at("rows"), first.at("rows"));
  EXPECT_NE(again.at("query_id"), first.at("query_id"));
  EXPECT_EQ(Json(Query(*server_, key_, {{"sql", sql}, {"limit", 5}})).at("cached"), false) << "another limit";
  UploadCsv(*server_, key_, "cached", "x\n10\n", "replace");
  auto fresh = Json(Query(*server_, key_, {{"sql", sql}}));
  EXPECT_EQ(fresh.at("cached"), false) << "a new version is a new key";
  EXPECT_EQ(boost::json::serialize(fresh.at("rows")), "[[10]]");
  EXPECT_EQ(Json(Query(*server_, key_, {{"sql", "SELECT random() AS r"}})).at("cached"), false);
  EXPECT_EQ(Json(Query(*server_, key_, {{"sql", "SELECT random() AS r"}})).at("cached"), false) << "never cached";
  auto metrics = server_->Request("GET", "/metrics");
  EXPECT_NE(metrics.body.find("quarry_query_cache_hits_total"), std::string::npos);
}

TEST_F(QueryApi, PreviewAndVersionPins) {
  auto preview = server_->Request("GET", "/v1/datasets/sales/preview?rows=2", key_);
  ASSERT_EQ(preview.status, 200) << preview.body;
  EXPECT_EQ(Json(preview).at("row_count"), 2);
  EXPECT_EQ(Json(preview).at("truncated"), true);
  EXPECT_EQ(server_->Request("GET", "/v1/datasets/nope/preview", key_).status, 404);
  auto schema = server_->Request("GET", "/v1/datasets/sales/schema", key_);
  ASSERT_EQ(schema.status, 200) << schema.body;
  EXPECT_EQ(boost::json::serialize(Json(schema).at("columns")),
            R"([{"name":"id","type":"BIGINT","nullable":true},{"name":"region","type":"VARCHAR","nullable":true},)"
            R"({"name":"amount","type":"DOUBLE","nullable":true}])");
  EXPECT_EQ(Json(schema).at("version"), 1);
  EXPECT_EQ(server_->Request("GET", "/v1/datasets/nope/schema", key_).status, 404);
  EXPECT_EQ(server_->Request("GET", "/v1/datasets/sales/preview?rows=0", key_).status, 400);

  UploadCsv(*server_, key_, "pins", "x\n1\n");
  UploadCsv(*server_, key_, "pins", "x\n1\n2\n", "replace");
  auto current = Query(*server_, key_, {{"sql", "SELECT count(*) FROM pins"}});
  EXPECT_EQ(Json(current).at("rows").at(0).at(0), 2);
  EXPECT_EQ(Json(current).at("datasets").at(0).at("version"), 2);
  auto pinned = Query(*server_, key_, {{"sql", "SELECT count(*) FROM pins"},
                                       {"versions", boost::json::object{{"pins", 1}}}});
  ASSERT_EQ(pinned.status, 200) << pinned.body;
  EXPECT_EQ(Json(pinned).at("rows").at(0).at(0), 1);
  auto missing = Query(*server_, key_, {{"sql", "SELECT * FROM pins"}, {"versions", boost::json::object{{"pins", 9}}}});
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(Json(missing).at("code"), "version_not_found");
}

TEST_F(QueryApi, BeyondTheConcurrencyCapQueriesAreRefusedWith429) {
  // Three queries of 3 s each start together; the cap (2, set for this server) refuses one.
  const boost::json::object slow{{"sql", "SELECT count(*) FROM range(100000000000) a"}, {"timeout_ms", 3000}};
  std::vector<std::future<HttpResult>> runs;
  for (int i = 0; i < 3; ++i) {
    runs.push_back(std::async(std::launch::async, [&] { return Query(*server_, key_, slow); }));
  }
  int refused = 0, timed_out = 0;
  for (auto& run : runs) {
    HttpResult r = run.get();
    const std::string code = Str(Json(r).at("code"));
    if (code == "too_many_queries") {
      ++refused;
      EXPECT_EQ(r.status, 429);
      EXPECT_EQ(r.headers["retry-after"], "1");
    } else {
      EXPECT_EQ(code, "deadline_exceeded") << r.body;
      ++timed_out;
    }
  }
  EXPECT_GE(refused, 1);
  EXPECT_GE(timed_out, 1);
  EXPECT_EQ(Query(*server_, key_, {{"sql", "SELECT 1"}}).status, 200) << "the slots are free again";
}

TEST_F(QueryApi, ARunningQueryIsListedAndCanBeCanceled) {
  auto run = std::async(std::launch::async, [&] {
    return Query(*server_, key_, {{"sql", "SELECT count(*) FROM range(100000000000) a"}, {"timeout_ms", 20000}});
  });
  std::string id;
  const auto end = std::chrono::steady_clock::now() + 15s;
  while (id.empty() && std::chrono::steady_clock::now() < end) {
    auto listed = Json(server_->Request("GET", "/v1/queries", key_));
    for (const auto& item : listed.at("items").as_array()) id = Str(item.at("query_id"));
  }
  ASSERT_FALSE(id.empty()) << "the query never showed as running";
  auto canceled = server_->Request("DELETE", "/v1/queries/" + id, key_);
  EXPECT_EQ(canceled.status, 202) << canceled.body;
  HttpResult r = run.get();
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(Str(Json(r).at("code")), "canceled");
  EXPECT_EQ(server_->Request("DELETE", "/v1/queries/" + id, key_).status, 404) << "it no longer runs";
  EXPECT_EQ(server_->Request("DELETE", "/v1/queries/qry_unknown", key_).status, 404);
}

TEST(QueryLimits, ResourceBombsFailCleanlyAndTheServerKeepsWorking) {
  QuarryServer server({"--set", "query.memory_limit=64MiB", "--set", "query.threads=1", "--set",
                       "query.max_temp_bytes=64MiB"});
  ASSERT_TRUE(server.started());
  const std::string key = server.demo_key();
  struct Bomb {
    std::string sql;
    std::vector<std::string> codes;  // any of these
  };
  const std::vector<Bomb> bombs = {
      {"SELECT list(i) FROM range(100000000) t(i)", {"query_memory_exceeded"}},
      {"SELECT length(string_agg(repeat('x', 1000000), '')) FROM range(10000)", {"query_memory_exceeded"}},
      {"SELECT count(*) FROM range(100000) a, range(100000) b WHERE a.range + b.range = -1", {"deadline_exceeded"}},
      {"WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r",
       {"deadline_exceeded", "query_memory_exceeded"}},
  };
  for (const auto& bomb : bombs) {
    const auto start = std::chrono::steady_clock::now();
    auto r = Query(server, key, {{"sql", bomb.sql}, {"timeout_ms", 2000}});
    EXPECT_EQ(r.status, 429) << bomb.sql << ": " << r.body;
    const std::string code = Str(Json(r).at("code"));
    EXPECT_NE(std::find(bomb.codes.begin(), bomb.codes.end(), code), bomb.codes.end()) << bomb.sql << ": " << code;
    EXPECT_LT(std::chrono::steady_clock::now() - start, 15s) << bomb.sql << ": the timeout must hold";
    EXPECT_EQ(Query(server, key, {{"sql", "SELECT 42"}}).status, 200) << "after " << bomb.sql;
  }
}

TEST(QueryLimits, QueriesOfAllTenantsTogetherLeaveThreadsForOtherRequests) {
  // One query at a time for the whole server: another tenant's query is refused while one runs,
  // and uploads and other requests still get through.
  QuarryServer server({"--set", "query.max_concurrent=1"});
  ASSERT_TRUE(server.started());
  auto acme = Json(server.Request("POST", "/v1/admin/tenants", server.operator_key(),
                                  R"({"slug":"acme","name":"Acme","owner_email":"o@acme.io"})"));
  const std::string acme_key = Str(acme.at("owner_key").at("secret"));
  auto slow = std::async(std::launch::async, [&] {
    return Query(server, server.demo_key(),
                 {{"sql", "SELECT count(*) FROM range(100000000000) a"}, {"timeout_ms", 5000}});
  });
  // Wait until the slow query runs (it is listed), then ask as the other tenant.
  bool running = false;
  const auto end = std::chrono::steady_clock::now() + 20s;
  while (!running && std::chrono::steady_clock::now() < end) {
    running = !Json(server.Request("GET", "/v1/queries", server.demo_key())).at("items").as_array().empty();
  }
  ASSERT_TRUE(running);
  HttpResult busy = Query(server, acme_key, {{"sql", "SELECT 1"}});
  ASSERT_EQ(busy.status, 429) << busy.body;
  EXPECT_EQ(Str(Json(busy).at("code")), "server_busy");
  EXPECT_EQ(busy.headers["retry-after"], "1");
  EXPECT_EQ(server.Request("GET", "/v1/datasets", acme_key).status, 200) << "other requests go on";
  EXPECT_EQ(Str(Json(slow.get()).at("code")), "deadline_exceeded");
  EXPECT_EQ(Query(server, acme_key, {{"sql", "SELECT 1"}}).status, 200) << "the slot is free again";
}

TEST(QueryIsolation, TenantsWithTheSameDatasetNameSeeOnlyTheirOwnRows) {
  QuarryServer server;
  ASSERT_TRUE(server.started());
  const std::string demo = server.demo_key();
  auto acme = Json(server.Request("POST", "/v1/admin/tenants", server.operator_key(),
                                  R"({"slug":"acme","name":"Acme","owner_email":"o@acme.io"})"));
  const std::string acme_key = Str(acme.at("owner_key").at("secret"));
  UploadCsv(server, demo, "orders", "who\ndemo\ndemo\n");
  UploadCsv(server, acme_key, "orders", "who\nacme\n");
  auto demo_rows = Json(Query(server, demo, {{"sql", "SELECT who, count(*) FROM orders GROUP BY who"}}));
  auto acme_rows = Json(Query(server, acme_key, {{"sql", "SELECT who, count(*) FROM orders GROUP BY who"}}));
  EXPECT_EQ(boost::json::serialize(demo_rows.at("rows")), R"([["demo",2]])");
  EXPECT_EQ(boost::json::serialize(acme_rows.at("rows")), R"([["acme",1]])");
  // The operator sees no tenant data.
  EXPECT_EQ(Query(server, server.operator_key(), {{"sql", "SELECT 1"}}).status, 403);
  // A tenant without the dataset: the name is unknown, exactly like a name nobody uses.
  auto bare = Json(server.Request("POST", "/v1/admin/tenants", server.operator_key(),
                                  R"({"slug":"bare","name":"Bare","owner_email":"o@bare.io"})"));
  auto r = Query(server, Str(bare.at("owner_key").at("secret")), {{"sql", "SELECT * FROM orders"}});
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(Json(r).at("code"), "unknown_relation");
}

}  // namespace
}  // namespace quarry::testing
