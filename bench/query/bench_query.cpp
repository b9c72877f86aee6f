// bench/query: SQL over HTTP against the same SQL run in-process on DuckDB, in the same run.
//
//   data        BENCH_QUERY_ROWS orders (default 8,000,000; the bench/ingest generator), uploaded
//               with `quarry upload` into a fresh server, so the queries read the published Parquet.
//   in-process  DuckDB in this process with the server's query settings (2 threads, 1 GiB, Parquet
//               metadata cache on) over
//               the same Parquet file: each query's latency, rows fetched chunk by chunk.
//   http        POST /v1/query on one keep-alive connection, result cache off: the same queries,
//               p50 and p99.
//               aggregate  GROUP BY region (5 groups over every row)
//               filter     a selective WHERE (about 80 rows)
//               export     100,000 rows, as CSV, JSON and Arrow IPC
//   throughput  a cheap query (one order by id) from 32 keep-alive connections (wrk, 2
//               threads, BENCH_SECONDS, default 10): requests per second, with the result cache
//               off and then on (the same data dir, the server restarted).
//   postgres    with BENCH_QUERY_PG_URL: the aggregate on PostgreSQL (unlogged table, same rows),
//               for reference.
// Target (issue 6): aggregate HTTP p50 <= 1.15 x in-process p50 + 2 ms.
// Target (issue 7): the aggregate for an analyst under a row policy that keeps every row
// (region IN {{user.regions}}), p50 <= 1.1 x the owner's (no policy), requests interleaved.
// Usage: quarry_bench_query QUARRY_BINARY OUT_JSON [ROWS]
#include <signal.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "client/api_client.h"
#include "common/bench_support.h"

namespace {

namespace fs = std::filesystem;
using namespace quarry::bench;
using quarry::engine::QuoteLiteral;

constexpr int kThreads = 2;
constexpr std::int64_t kMemoryLimit = 1LL << 30;

struct Latency {
  double p50_ms = 0, p99_ms = 0;
};

Latency Summarize(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms[std::min(ms.size() - 1, ms.size() * 99 / 100)]};
}

struct Case {
  std::string name;
  std::string sql;
  int runs;
};

Latency InProcess(quarry::engine::Database& db, const std::string& parquet, const Case& c) {
  auto conn = std::move(db.Connect()).value();
  auto view = conn->Execute("CREATE OR REPLACE TEMP VIEW orders AS SELECT * FROM read_parquet(" + QuoteLiteral(parquet) + ")");
  if (!view.ok()) Die(view.status().ToString());
  quarry::engine::ExecuteOptions options;
  options.max_rows = 200'000;
  std::vector<double> ms;
  for (int i = 0; i < c.runs + 3; ++i) {
    auto start = Steady::now();
    auto r = conn->Execute(c.sql, options);
    if (!r.ok()) Die(c.name + " in-process: " + r.status().ToString());
    if (i >= 3) ms.push_back(Since(start) * 1000);
  }
  return Summarize(ms);
}

Latency OverHttp(quarry::client::ApiClient& api, const Case& c, const std::string& format) {
  const std::string body = boost::json::serialize(
      boost::json::object{{"sql", c.sql}, {"limit", 100'000}, {"format", format}, {"timeout_ms", 120'000}});
  std::vector<double> ms;
  for (int i = 0; i < c.runs + 3; ++i) {
    auto start = Steady::now();
    auto r = api.Send("POST", "/v1/query", body);
    if (!r.ok() || r->status != 200) Die(c.name + " over HTTP: " + (r.ok() ? r->body.substr(0, 300) : r.status().ToString()));
    if (i >= 3) ms.push_back(Since(start) * 1000);
  }
  return Summarize(ms);
}

// The same case over HTTP for two callers, request by request in turn so that the machine's drift
// hits both alike.
std::pair<Latency, Latency> PairedOverHttp(quarry::client::ApiClient& a, quarry::client::ApiClient& b, const Case& c) {
  const std::string body = boost::json::serialize(
      boost::json::object{{"sql", c.sql}, {"limit", 100'000}, {"timeout_ms", 120'000}});
  std::vector<double> ms_a, ms_b;
  for (int i = 0; i < c.runs + 3; ++i) {
    for (auto [api, ms] : {std::pair{&a, &ms_a}, std::pair{&b, &ms_b}}) {
      auto start = Steady::now();
      auto r = api->Send("POST", "/v1/query", body);
      if (!r.ok() || r->status != 200) Die(c.name + " over HTTP: " + (r.ok() ? r->body.substr(0, 300) : r.status().ToString()));
      if (i >= 3) ms->push_back(Since(start) * 1000);
    }
  }
  return {Summarize(ms_a), Summarize(ms_b)};
}

// An analyst of the demo tenant whose every query of `orders` passes a row policy that keeps all
// rows (region IN every region): what the policy itself costs. Returns the analyst's key.
std::string AnalystUnderPolicy(quarry::client::ApiClient& owner) {
  auto check = [](const quarry::Result<quarry::client::ApiResponse>& r, int status, const char* what) {
    if (!r.ok() || r->status != status) Die(std::string(what) + ": " + (r.ok() ? r->body.substr(0, 300) : r.status().ToString()));
    return boost::json::parse(r->body);
  };
  auto user = check(owner.Send("POST", "/v1/users", R"({"email":"analyst@bench.io","role":"analyst"})"), 201, "user");
  const std::string id(user.at("id").as_string());
  check(owner.Send("PUT", "/v1/users/" + id + "/attributes", R"({"regions":["north","south","east","west","central"]})"),
        200, "attributes");
  check(owner.Send("POST", "/v1/datasets/orders/policies", R"({"kind":"row","predicate":"region IN {{user.regions}}"})"),
        201, "policy");
  auto key = check(owner.Send("POST", "/v1/keys", R"({"name":"bench","user_id":")" + id + R"("})"), 201, "key");
  return std::string(key.at("secret").as_string());
}

// wrk's "Requests/sec:" (0 when wrk is missing or failed).
double Throughput(const std::string& url, const std::string& key, const std::string& sql, const std::string& work,
                  int seconds, long* non_2xx) {
  const std::string script = work + "/query.lua";
  std::ofstream(script) << "wrk.method = \"POST\"\n"
                        << "wrk.body = " << boost::json::serialize(boost::json::value(boost::json::serialize(
                                                boost::json::object{{"sql", sql}})))
                        << "\nwrk.headers[\"Content-Type\"] = \"application/json\"\n"
                        << "wrk.headers[\"Authorization\"] = \"Bearer " << key << "\"\n";
  const std::string out = work + "/wrk.out";
  const int exit = Wait(Spawn({"/usr/bin/wrk", "-t2", "-c32", fmt::format("-d{}s", seconds), "-s", script,
                               url + "/v1/query"},
                              out));
  std::ifstream in(out);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::smatch m;
  *non_2xx = std::regex_search(text, m, std::regex(R"(Non-2xx or 3xx responses: (\d+))")) ? std::stol(m[1]) : 0;
  if (exit != 0 || !std::regex_search(text, m, std::regex(R"(Requests/sec:\s+([0-9.]+))"))) return 0;
  return std::stod(m[1]);
}

// For reference only: the aggregate's p50 on PostgreSQL (an unlogged table loaded from the same
// CSV, then ANALYZE), when BENCH_QUERY_PG_URL names a server (psql on the PATH); -1 otherwise.
double PostgresAggregateP50(const std::string& csv, const std::string& work, const std::string& aggregate) {
  const char* url = std::getenv("BENCH_QUERY_PG_URL");
  if (!url || !*url) return -1;
  const std::string psql = "/usr/bin/psql";
  const std::string table = "quarry_bench_orders";
  auto run = [&](const std::vector<std::string>& extra, const std::string& log) {
    std::vector<std::string> args = {psql, url, "-v", "ON_ERROR_STOP=1", "-q"};
    args.insert(args.end(), extra.begin(), extra.end());
    return Wait(Spawn(args, log));
  };
  if (run({"-c", "DROP TABLE IF EXISTS " + table + "; CREATE UNLOGGED TABLE " + table +
                     " (id bigint, customer text, amount numeric, day date, region text, note text)"},
          work + "/psql.log") != 0 ||
      run({"-c", "\\copy " + table + " FROM '" + csv + "' WITH (FORMAT csv, HEADER true)"}, work + "/psql.log") != 0 ||
      run({"-c", "ANALYZE " + table}, work + "/psql.log") != 0) {
    return -1;
  }
  std::string sql = aggregate;
  sql.replace(sql.find("FROM orders"), 11, "FROM " + table);
  std::ofstream script(work + "/pg.sql");
  script << "\\timing on\n";
  for (int i = 0; i < 13; ++i) script << sql << ";\n";
  script.close();
  const int exit = run({"-f", work + "/pg.sql"}, work + "/pg.out");
  (void)run({"-c", "DROP TABLE IF EXISTS " + table}, work + "/psql.log");
  if (exit != 0) return -1;
  std::ifstream in(work + "/pg.out");
  std::vector<double> ms;
  std::string line;
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_search(line, m, std::regex(R"(Time: ([0-9.]+) ms)"))) ms.push_back(std::stod(m[1]));
  }
  if (ms.size() < 13) return -1;
  ms.erase(ms.begin(), ms.begin() + 3);  // warm-up
  return Summarize(ms).p50_ms;
}

std::string FindParquet(const std::string& storage) {
  for (const auto& entry : fs::recursive_directory_iterator(storage)) {
    if (entry.path().extension() == ".parquet") return entry.path().string();  // one part per version
  }
  Die("no published dataset file under " + storage);
}

}  // namespace

int main(int argc, char** argv) {
  SetBenchName("bench/query");
  if (argc < 3) Die("usage: quarry_bench_query QUARRY_BINARY OUT_JSON [ROWS]");
  const std::string binary = argv[1];
  const std::string out_json = argv[2];
  const long long rows = argc > 3 ? std::atoll(argv[3]) : 8'000'000;
  const int seconds = std::getenv("BENCH_SECONDS") ? std::atoi(std::getenv("BENCH_SECONDS")) : 10;
  const std::string work = fs::temp_directory_path() / fmt::format("quarry-bench-query-{}", ::getpid());
  fs::create_directories(work);

  const std::string csv = work + "/orders.csv";
  {
    auto db = Engine(work + "/gen_tmp", kThreads, kMemoryLimit);
    Generate(*db, csv, rows, 7);
  }
  auto start_server = [&](bool cache) {
    return StartServer(binary, work + "/data",
                       {fmt::format("query.threads={}", kThreads), fmt::format("query.memory_limit={}", kMemoryLimit),
                        "query.max_concurrent_per_tenant=64", "query.max_concurrent=64", "query.max_rows=200000",
                        cache ? "query.cache_bytes=256MiB" : "query.cache_bytes=0"});
  };
  // Latencies with the result cache off: each request runs its query.
  Server server = start_server(false);
  const std::string key = Key(server.dir + "/secrets/demo.key");
  if (Wait(Spawn({binary, "upload", csv, "--dataset", "orders", "--server", server.url, "--key", key},
                 work + "/upload.log")) != 0) {
    Die("the upload failed; see " + work + "/upload.log");
  }
  const std::string parquet = FindParquet(server.dir + "/storage");

  const std::vector<Case> cases = {
      {"aggregate", "SELECT region, count(*) AS n, sum(amount) AS total, avg(amount) AS mean FROM orders "
                    "GROUP BY region ORDER BY region", 30},
      {"filter", "SELECT * FROM orders WHERE customer = 'customer_4242' ORDER BY id", 30},
      {"export", "SELECT * FROM orders WHERE id < 100007 ORDER BY id", 8},
  };
  const double pg_p50 = PostgresAggregateP50(csv, work, cases[0].sql);
  fs::remove(csv);
  auto db = Engine(work + "/duck_tmp", kThreads, kMemoryLimit, /*parquet_metadata_cache=*/true);
  quarry::client::ApiClient api(server.url, key, std::chrono::seconds(120));
  std::map<std::string, Latency> local, http;
  for (const auto& c : cases) {
    local[c.name] = InProcess(*db, parquet, c);
    http[c.name] = OverHttp(api, c, c.name == "export" ? "csv" : "json");
  }
  // Issue 7: the aggregate with a row policy active, against the same query without one.
  quarry::client::ApiClient analyst(server.url, AnalystUnderPolicy(api), std::chrono::seconds(120));
  const auto [without_policy, with_policy] = PairedOverHttp(api, analyst, cases[0]);
  const double policy_ratio = with_policy.p50_ms / without_policy.p50_ms;
  const Latency export_json = OverHttp(api, cases[2], "json");
  const Latency export_arrow = OverHttp(api, cases[2], "arrow");
  const std::string cheap = "SELECT * FROM orders WHERE id = 4242";  // row-group statistics prune the scan
  long non_2xx = 0, non_2xx_cached = 0;
  const double rps = Throughput(server.url, key, cheap, work, seconds, &non_2xx);
  ::kill(server.pid, SIGTERM);
  Wait(server.pid);
  server = start_server(true);
  const double rps_cached = Throughput(server.url, key, cheap, work, seconds, &non_2xx_cached);
  ::kill(server.pid, SIGTERM);
  Wait(server.pid);

  const double target = 1.15 * local["aggregate"].p50_ms + 2;
  fmt::print("{:<34} {:>12} {:>12} {:>10}\n", "figure (ms)", "in-process", "HTTP", "ratio");
  for (const auto& c : cases) {
    for (auto [label, pick] : {std::pair{"p50", &Latency::p50_ms}, std::pair{"p99", &Latency::p99_ms}}) {
      fmt::print("{:<34} {:>12.2f} {:>12.2f} {:>10.2f}\n",
                 fmt::format("{} {}{}", c.name, label, c.name == "export" ? " (CSV)" : ""), local[c.name].*pick,
                 http[c.name].*pick, http[c.name].*pick / local[c.name].*pick);
    }
  }
  for (auto [label, latency] : {std::pair{"JSON", &export_json}, std::pair{"Arrow", &export_arrow}}) {
    fmt::print("{:<34} {:>12.2f} {:>12.2f} {:>10.2f}\n", fmt::format("export p50 ({})", label), local["export"].p50_ms,
               latency->p50_ms, latency->p50_ms / local["export"].p50_ms);
    fmt::print("{:<34} {:>12.2f} {:>12.2f} {:>10.2f}\n", fmt::format("export p99 ({})", label), local["export"].p99_ms,
               latency->p99_ms, latency->p99_ms / local["export"].p99_ms);
  }
  fmt::print("aggregate: HTTP p50 {:.2f} ms against the target 1.15 x {:.2f} + 2 = {:.2f} ms\n",
             http["aggregate"].p50_ms, local["aggregate"].p50_ms, target);
  fmt::print("aggregate with a row policy: HTTP p50 {:.2f} ms against {:.2f} without: {:.3f} x (target <= 1.1)\n",
             with_policy.p50_ms, without_policy.p50_ms, policy_ratio);
  if (pg_p50 >= 0) {
    fmt::print("aggregate on PostgreSQL 15 (reference): p50 {:.2f} ms ({:.1f} x Quarry over HTTP)\n", pg_p50,
               pg_p50 / http["aggregate"].p50_ms);
  } else {
    fmt::print("aggregate on PostgreSQL: n/a (set BENCH_QUERY_PG_URL)\n");
  }
  fmt::print("cheap query, 32 connections, cache off: {:.0f} requests/s ({} not 2xx)\n", rps, non_2xx);
  fmt::print("cheap query, 32 connections, cache on:  {:.0f} requests/s ({} not 2xx)\n", rps_cached, non_2xx_cached);

  boost::json::object figures;
  for (const auto& c : cases) {
    figures[c.name + "_inprocess_p50_ms"] = local[c.name].p50_ms;
    figures[c.name + "_inprocess_p99_ms"] = local[c.name].p99_ms;
    figures[c.name + "_http_p50_ms"] = http[c.name].p50_ms;
    figures[c.name + "_http_p99_ms"] = http[c.name].p99_ms;
  }
  figures["export_json_http_p50_ms"] = export_json.p50_ms;
  figures["export_arrow_http_p50_ms"] = export_arrow.p50_ms;
  figures["export_arrow_http_p99_ms"] = export_arrow.p99_ms;
  figures["export_json_http_p99_ms"] = export_json.p99_ms;
  figures["cheap_query_rps_32_connections"] = rps;
  figures["cheap_query_rps_32_connections_cached"] = rps_cached;
  figures["cheap_query_non_2xx"] = non_2xx + non_2xx_cached;
  figures["rows"] = rows;
  figures["aggregate_policy_http_p50_ms"] = with_policy.p50_ms;
  figures["aggregate_no_policy_http_p50_ms"] = without_policy.p50_ms;
  figures["aggregate_policy_ratio"] = policy_ratio;
  if (pg_p50 >= 0) figures["aggregate_postgres_p50_ms"] = pg_p50;
  boost::json::object doc{{"bench", "query"},
                          {"figures", figures},
                          {"checks", boost::json::array{boost::json::object{{"name", "aggregate_http_p50_ms"},
                                                                            {"value", http["aggregate"].p50_ms},
                                                                            {"op", "<="},
                                                                            {"target", target}},
                                                        boost::json::object{{"name", "aggregate_policy_ratio"},
                                                                            {"value", policy_ratio},
                                                                            {"op", "<="},
                                                                            {"target", 1.1}}}}};
  fs::create_directories(fs::path(out_json).parent_path());
  std::ofstream(out_json) << boost::json::serialize(doc) << "\n";
  fmt::print("wrote {}\n", out_json);
  fs::remove_all(work);
  return 0;
}
