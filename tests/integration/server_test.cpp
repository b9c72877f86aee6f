// The server core, end to end: health, readiness, metrics, request ids, access logs, keep-alive,
// graceful shutdown, start-up configuration errors.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <boost/json.hpp>

#include <csignal>
#include <fstream>

#include "integration/harness.h"

namespace quarry::testing {
namespace {

using namespace std::chrono_literals;

TEST(Server, HealthReadyAndMetrics) {
  QuarryServer server;
  ASSERT_TRUE(server.started());
  auto health = server.Request("GET", "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(boost::json::parse(health.body).at("status"), "ok");

  auto ready = server.Request("GET", "/readyz");
  EXPECT_EQ(ready.status, 200);
  auto checks = boost::json::parse(ready.body).at("checks");
  EXPECT_EQ(checks.at("metadata_store"), "ok");
  EXPECT_EQ(checks.at("storage"), "ok");

  server.Request("GET", "/nope");
  auto metrics = server.Request("GET", "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.headers["content-type"].find("text/plain"), std::string::npos);
  EXPECT_NE(metrics.body.find(R"(http_requests_total{route="/healthz",method="GET",status="200"} 1)"),
            std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find(R"(http_requests_total{route="unmatched",method="GET",status="404"} 1)"),
            std::string::npos);
  EXPECT_NE(metrics.body.find("http_request_duration_seconds_bucket{route=\"/readyz\""), std::string::npos);
  EXPECT_NE(metrics.body.find("http_requests_in_flight"), std::string::npos);
  EXPECT_NE(metrics.body.find("quarry_build_info{version="), std::string::npos);
}

TEST(Server, OpenApiDocumentIsServed) {
  QuarryServer server;
  ASSERT_TRUE(server.started());
  auto doc = server.Request("GET", "/openapi.json");
  ASSERT_EQ(doc.status, 200);
  auto json = boost::json::parse(doc.body);
  EXPECT_EQ(json.at("openapi"), "3.1.0");
  EXPECT_TRUE(json.at("paths").as_object().contains("/v1/me"));
}

TEST(Server, RequestIdIsHonouredOrGeneratedAndLogged) {
  QuarryServer server;
  ASSERT_TRUE(server.started());
  auto given = server.Request("GET", "/healthz", "", "", {"X-Request-Id: trace-abc.123"});
  EXPECT_EQ(given.headers["x-request-id"], "trace-abc.123");
  // Ill-formed ids are replaced, not echoed (they would poison logs).
  auto bad = server.Request("GET", "/healthz", "", "", {"X-Request-Id: has spaces and \"quotes\""});
  EXPECT_NE(bad.headers["x-request-id"], "");
  EXPECT_EQ(bad.headers["x-request-id"].find(' '), std::string::npos);
  auto generated = server.Request("GET", "/v1/me");
  const std::string id = generated.headers["x-request-id"];
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(boost::json::parse(generated.body).at("request_id"), id.c_str());
  // The access log line is JSON and carries the same id.
  EXPECT_TRUE(server.WaitForOutput([&](const std::string& line) {
    if (line.find(id) == std::string::npos) return false;
    auto log = boost::json::parse(line);
    return log.at("msg") == "request" && log.at("status").as_int64() == 401 && log.at("route") == "/v1/me";
  }));
  EXPECT_TRUE(server.WaitForOutput(
      [](const std::string& line) { return line.find("\"request_id\":\"trace-abc.123\"") != std::string::npos; }));
}

TEST(Server, KeepAliveServesSeveralRequestsOnOneConnection) {
  QuarryServer server;
  ASSERT_TRUE(server.started());
  RawConnection conn(server.host(), server.port());
  ASSERT_TRUE(conn.connected());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(conn.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    std::string response = conn.ReadUntil("{\"status\":\"ok\"}", 5s);
    EXPECT_NE(response.find("HTTP/1.1 200"), std::string::npos) << "request " << i;
  }
}

TEST(Server, GracefulShutdownOnSigterm) {
  QuarryServer server;
  ASSERT_TRUE(server.started());
  EXPECT_EQ(server.Request("GET", "/healthz").status, 200);
  EXPECT_EQ(server.Stop(SIGTERM), 0);
  EXPECT_TRUE(server.WaitForOutput([](const std::string& l) { return l.find("server stopped") != std::string::npos; }));
  struct stat st {};
  EXPECT_NE(::stat((server.data_dir() + "/server.addr").c_str(), &st), 0) << "server.addr is removed on exit";
}

TEST(Server, IdleKeepAliveConnectionDoesNotDelayShutdown) {
  QuarryServer server({"--set", "server.shutdown_grace=20s"});
  ASSERT_TRUE(server.started());
  RawConnection idle(server.host(), server.port());
  ASSERT_TRUE(idle.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  idle.ReadUntil("{\"status\":\"ok\"}", 5s);
  auto begin = std::chrono::steady_clock::now();
  EXPECT_EQ(server.Stop(SIGTERM), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 10s) << "idle connections are closed at once";
}

TEST(Server, BootstrapWritesPrivateSecretFiles) {
  QuarryServer server;
  ASSERT_TRUE(server.started());
  for (const char* name : {"operator.key", "demo.key"}) {
    struct stat st {};
    ASSERT_EQ(::stat((server.data_dir() + "/secrets/" + name).c_str(), &st), 0) << name;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << name;
  }
  EXPECT_EQ(server.demo_key().size(), 48u);
  // The secrets are printed once, on first start.
  EXPECT_TRUE(server.WaitForOutput([&](const std::string& l) { return l.find(server.demo_key()) != std::string::npos; }));
  const std::string dir = server.data_dir();
  const std::string key = server.demo_key();
  EXPECT_EQ(server.Stop(), 0);
  QuarryServer again({}, dir);
  ASSERT_TRUE(again.started());
  EXPECT_EQ(again.demo_key(), key) << "restart keeps the bootstrap keys";
  EXPECT_EQ(again.Request("GET", "/v1/me", key).status, 200);
  for (const auto& line : again.OutputLines()) EXPECT_EQ(line.find(key), std::string::npos) << "printed only once";
  again.Stop();
  RemoveTree(dir);
}

TEST(Server, SecondServerOnSameDataDirIsRefused) {
  QuarryServer server;
  ASSERT_TRUE(server.started());
  auto second = RunCommand({QUARRY_BINARY, "serve", "--data-dir", server.data_dir(), "--listen", "127.0.0.1:0"});
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_NE(second.err.find("another quarry server is using the data dir"), std::string::npos) << second.err;
}

TEST(Config, UnknownKeyOrBadValueStopsStartup) {
  const std::string dir = MakeTempDir();
  auto unknown = RunCommand({QUARRY_BINARY, "serve", "--data-dir", dir, "--set", "server.io_thread=4"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("'server.io_thread'"), std::string::npos) << unknown.err;

  auto bad = RunCommand({QUARRY_BINARY, "serve", "--data-dir", dir, "--listen", "127.0.0.1:99999"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("'listen'"), std::string::npos) << bad.err;

  std::string yaml = dir + "/quarry.yaml";
  { std::ofstream(yaml) << "server:\n  io_threads: 3\n  bogus: 1\n"; }
  auto file = RunCommand({QUARRY_BINARY, "serve", "--data-dir", dir, "--config", yaml});
  EXPECT_EQ(file.exit_code, 2);
  EXPECT_NE(file.err.find("'server.bogus'"), std::string::npos) << file.err;
  RemoveTree(dir);
}

TEST(Config, PrintShowsEffectiveValuesAndSources) {
  const std::string dir = MakeTempDir();
  std::string yaml = dir + "/quarry.yaml";
  { std::ofstream(yaml) << "server:\n  io_threads: 3\n  read_timeout: 5s\n"; }
  auto out = RunCommand({QUARRY_BINARY, "config", "print", "--config", yaml, "--set", "server.io_threads=6"});
  ASSERT_EQ(out.exit_code, 0) << out.err;
  EXPECT_NE(out.out.find("server.io_threads: \"6\"  # command line"), std::string::npos) << out.out;
  EXPECT_NE(out.out.find("server.read_timeout: \"5s\"  # " + yaml), std::string::npos) << out.out;
  EXPECT_NE(out.out.find("listen: \"127.0.0.1:8080\"  # default"), std::string::npos) << out.out;
  RemoveTree(dir);
}

}  // namespace
}  // namespace quarry::testing
