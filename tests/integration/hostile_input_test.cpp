// Bad input at the HTTP layer: each gets a precise problem+json answer and harms nothing.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "integration/harness.h"

namespace quarry::testing {
namespace {

using namespace std::chrono_literals;

boost::json::value ProblemOf(const std::string& raw_response) {
  auto body = raw_response.find("\r\n\r\n");
  return boost::json::parse(raw_response.substr(body + 4));
}

class HostileInput : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new QuarryServer({"--set", "server.read_timeout=700ms", "--set", "server.idle_timeout=700ms"});
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static QuarryServer* server_;
};
QuarryServer* HostileInput::server_ = nullptr;

TEST_F(HostileInput, MalformedRequestLineIs400AndCloses) {
  ASSERT_TRUE(server_->started());
  RawConnection conn(server_->host(), server_->port());
  ASSERT_TRUE(conn.Send("THIS IS NOT HTTP\r\n\r\n"));
  bool closed = false;
  std::string response = conn.ReadUntilClosed(5s, &closed);
  EXPECT_TRUE(closed);
  EXPECT_EQ(response.rfind("HTTP/1.1 400", 0), 0u) << response;
  EXPECT_NE(response.find("application/problem+json"), std::string::npos);
  EXPECT_EQ(ProblemOf(response).at("code"), "malformed_request");
}

TEST_F(HostileInput, OversizedHeaderIs431) {
  ASSERT_TRUE(server_->started());
  RawConnection conn(server_->host(), server_->port());
  ASSERT_TRUE(conn.Send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(64 * 1024, 'a') + "\r\n\r\n"));
  bool closed = false;
  std::string response = conn.ReadUntilClosed(5s, &closed);
  EXPECT_EQ(response.rfind("HTTP/1.1 431", 0), 0u) << response.substr(0, 200);
  EXPECT_EQ(ProblemOf(response).at("code"), "header_too_large");
}

TEST_F(HostileInput, BodyOverLimitIs413BeforeReading) {
  ASSERT_TRUE(server_->started());
  RawConnection conn(server_->host(), server_->port());
  // Declares 10 MiB but sends none of it: the answer must not wait for the body.
  ASSERT_TRUE(conn.Send("POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        "Content-Length: 10485760\r\n\r\n"));
  std::string response = conn.ReadUntil("}", 5s);
  EXPECT_EQ(response.rfind("HTTP/1.1 413", 0), 0u) << response;
  EXPECT_EQ(ProblemOf(response).at("code"), "body_too_large");
}

TEST_F(HostileInput, ChunkedBodyOverLimitIs413WhileStreaming) {
  ASSERT_TRUE(server_->started());
  RawConnection conn(server_->host(), server_->port());
  std::string request = "POST /v1/users HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  ASSERT_TRUE(conn.Send(request));
  const std::string chunk(64 * 1024, 'x');
  char size_line[32];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", chunk.size());
  for (int i = 0; i < 20; ++i) {
    if (!conn.Send(size_line + chunk + "\r\n")) break;  // the server may close early
  }
  std::string response = conn.ReadUntil("}", 5s);
  EXPECT_EQ(response.rfind("HTTP/1.1 413", 0), 0u) << response.substr(0, 200);
}

TEST_F(HostileInput, InvalidJsonIs400NamingWhere) {
  ASSERT_TRUE(server_->started());
  auto r = server_->Request("POST", "/v1/users", server_->demo_key(), "{\n  \"email\": \"a@b.co\",\n  \"role\" \"viewer\"\n}");
  ASSERT_EQ(r.status, 400);
  auto problem = boost::json::parse(r.body);
  EXPECT_EQ(problem.at("code"), "invalid_json");
  EXPECT_EQ(problem.at("details").at("line"), "3");
  EXPECT_NE(std::string(problem.at("detail").as_string()).find("line 3, column 10"), std::string::npos)
      << problem.at("detail");
  EXPECT_EQ(r.headers["content-type"], "application/problem+json");
}

TEST_F(HostileInput, UnknownFieldIs400) {
  ASSERT_TRUE(server_->started());
  auto r = server_->Request("POST", "/v1/users", server_->demo_key(), R"({"email":"x@y.co","role":"viewer","admin":true})");
  ASSERT_EQ(r.status, 400);
  EXPECT_EQ(boost::json::parse(r.body).at("code"), "unknown_field");
}

TEST_F(HostileInput, UnknownRouteIs404AndWrongMethodIs405WithAllow) {
  ASSERT_TRUE(server_->started());
  auto missing = server_->Request("GET", "/v1/nothing-here");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(boost::json::parse(missing.body).at("code"), "route_not_found");
  auto wrong = server_->Request("DELETE", "/v1/users");
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(wrong.headers["allow"], "GET, POST");
  auto problem = boost::json::parse(wrong.body);
  EXPECT_EQ(problem.at("status").as_int64(), 405);
  EXPECT_EQ(problem.at("title"), "Method Not Allowed");
}

TEST_F(HostileInput, SlowClientIsTimedOut) {
  ASSERT_TRUE(server_->started());
  RawConnection conn(server_->host(), server_->port());
  // A slowloris client: starts a request, then never finishes the header.
  ASSERT_TRUE(conn.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n"));
  bool closed = false;
  auto begin = std::chrono::steady_clock::now();
  std::string response = conn.ReadUntilClosed(10s, &closed);
  EXPECT_TRUE(closed) << "the server must drop a client that does not finish its request";
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 5s);
  EXPECT_EQ(response, "") << "nothing is answered to a request that never completed";
  auto metrics = server_->Request("GET", "/metrics");
  EXPECT_EQ(metrics.body.find("http_connections_timed_out_total 0"), std::string::npos);
}

TEST_F(HostileInput, IdleConnectionIsClosed) {
  ASSERT_TRUE(server_->started());
  RawConnection conn(server_->host(), server_->port());
  bool closed = false;
  conn.ReadUntilClosed(10s, &closed);
  EXPECT_TRUE(closed);
}

TEST_F(HostileInput, ExpectContinueIsHonoured) {
  ASSERT_TRUE(server_->started());
  RawConnection conn(server_->host(), server_->port());
  const std::string body = R"({"email":"cont@example.com","role":"viewer"})";
  ASSERT_TRUE(conn.Send("POST /v1/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + server_->demo_key() +
                        "\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n"));
  std::string interim = conn.ReadUntil("\r\n\r\n", 5s);
  EXPECT_EQ(interim.rfind("HTTP/1.1 100 Continue", 0), 0u) << interim;
  ASSERT_TRUE(conn.Send(body));
  std::string response = conn.ReadUntil("cont@example.com", 5s);
  EXPECT_NE(response.find("HTTP/1.1 201"), std::string::npos) << response;
}

TEST_F(HostileInput, ExpectContinueOverLimitIsRefusedWithoutReadingTheBody) {
  ASSERT_TRUE(server_->started());
  RawConnection conn(server_->host(), server_->port());
  ASSERT_TRUE(conn.Send("POST /v1/users HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                        "Content-Length: 104857600\r\n\r\n"));
  std::string response = conn.ReadUntil("}", 5s);
  EXPECT_EQ(response.rfind("HTTP/1.1 413", 0), 0u) << response;
}

TEST_F(HostileInput, NoStackTraceOrPathInErrors) {
  ASSERT_TRUE(server_->started());
  auto r = server_->Request("GET", "/v1/users/%00");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body.find(server_->data_dir()), std::string::npos);
  EXPECT_EQ(boost::json::parse(r.body).at("code"), "invalid_target");
}

TEST(ConnectionLimit, ExtraConnectionsGet503) {
  QuarryServer server({"--set", "server.max_connections=2"});
  ASSERT_TRUE(server.started());
  RawConnection a(server.host(), server.port()), b(server.host(), server.port());
  // Make sure both are accepted and registered before the third arrives.
  ASSERT_TRUE(a.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(b.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  a.ReadUntil("{\"status\":\"ok\"}", 5s);
  b.ReadUntil("{\"status\":\"ok\"}", 5s);
  RawConnection c(server.host(), server.port());
  bool closed = false;
  std::string response = c.ReadUntilClosed(5s, &closed);
  EXPECT_EQ(response.rfind("HTTP/1.1 503", 0), 0u) << response;
  EXPECT_NE(response.find("too_many_connections"), std::string::npos);
}

}  // namespace
}  // namespace quarry::testing
