#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "http/http.h"
#include "http/metrics.h"

namespace quarry::http {
namespace {

Handler Returns(int status) {
  return [status](Request&) { return Response::Json(status, "{}"); };
}

Route MakeRoute(std::string method, std::string pattern, int status = 200) {
  Route r;
  r.method = std::move(method);
  r.pattern = std::move(pattern);
  r.handler = Returns(status);
  return r;
}

// ------------------------------------------------------------------------------------- Router

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router_.Add(MakeRoute("GET", "/", 1));
    router_.Add(MakeRoute("GET", "/v1/users", 2));
    router_.Add(MakeRoute("POST", "/v1/users", 3));
    router_.Add(MakeRoute("GET", "/v1/users/{id}", 4));
    router_.Add(MakeRoute("PATCH", "/v1/users/{id}", 5));
    router_.Add(MakeRoute("DELETE", "/v1/users/{id}", 6));
    router_.Add(MakeRoute("GET", "/v1/users/me", 7));  // a literal, added after the parameter
    router_.Add(MakeRoute("POST", "/v1/tenants/{tenant}/keys/{key}/revoke", 8));
    router_.Add(MakeRoute("GET", "/v1/tenants/{tenant}/keys/{key}", 9));
  }

  // The status the matched route's handler returns (it identifies the route), or -1.
  int MatchedRoute(std::string_view method, std::string_view path,
                   std::map<std::string, std::string>* params = nullptr) {
    auto result = router_.Match(method, path);
    auto* matched = std::get_if<Router::Matched>(&result);
    if (!matched) return -1;
    if (params) *params = matched->params;
    Request request;
    return matched->route->handler(request).status;
  }

  Router router_;
};

TEST_F(RouterTest, MatchesLiteralRoutes) {
  EXPECT_EQ(MatchedRoute("GET", "/"), 1);
  EXPECT_EQ(MatchedRoute("GET", "/v1/users"), 2);
  EXPECT_EQ(MatchedRoute("POST", "/v1/users"), 3);
}

TEST_F(RouterTest, MatchesParametersAndFillsThem) {
  std::map<std::string, std::string> params;
  EXPECT_EQ(MatchedRoute("GET", "/v1/users/usr_123", &params), 4);
  EXPECT_EQ(params, (std::map<std::string, std::string>{{"id", "usr_123"}}));

  EXPECT_EQ(MatchedRoute("POST", "/v1/tenants/ten_a/keys/key_b/revoke", &params), 8);
  EXPECT_EQ(params, (std::map<std::string, std::string>{{"tenant", "ten_a"}, {"key", "key_b"}}));

  EXPECT_EQ(MatchedRoute("GET", "/v1/tenants/ten_a/keys/key_b", &params), 9);
  EXPECT_EQ(params.at("key"), "key_b");
}

TEST_F(RouterTest, FirstAddedRouteWinsWhenPatternsOverlap) {
  // "/v1/users/{id}" was added before "/v1/users/me", so it wins for GET.
  std::map<std::string, std::string> params;
  EXPECT_EQ(MatchedRoute("GET", "/v1/users/me", &params), 4);
  EXPECT_EQ(params.at("id"), "me");
}

TEST_F(RouterTest, UnknownPathIsNotFound) {
  for (std::string_view path : {"/v2/users", "/v1", "/v1/users/a/b", "/v1/userss", "", "v1/users",
                                "/v1/tenants/t/keys/k/revoke/extra"}) {
    SCOPED_TRACE(path);
    EXPECT_TRUE(std::holds_alternative<Router::NotFound>(router_.Match("GET", path)));
  }
}

TEST_F(RouterTest, EmptyParameterSegmentDoesNotMatch) {
  EXPECT_TRUE(std::holds_alternative<Router::NotFound>(router_.Match("GET", "/v1/tenants//keys/k")));
}

TEST_F(RouterTest, TrailingSlashDoesNotMatch) {
  EXPECT_TRUE(std::holds_alternative<Router::NotFound>(router_.Match("GET", "/v1/users/")));
  EXPECT_TRUE(std::holds_alternative<Router::NotFound>(router_.Match("GET", "/v1/users/usr_1/")));
  EXPECT_TRUE(std::holds_alternative<Router::NotFound>(router_.Match("GET", "//")));
}

TEST_F(RouterTest, WrongMethodIsMethodNotAllowedWithSortedUniqueAllow) {
  auto result = router_.Match("PUT", "/v1/users/usr_1");
  auto* not_allowed = std::get_if<Router::MethodNotAllowed>(&result);
  ASSERT_NE(not_allowed, nullptr);
  EXPECT_EQ(not_allowed->allowed, (std::vector<std::string>{"DELETE", "GET", "PATCH"}));

  // "/v1/users/me" matches both the parameter route and the literal one for GET: GET is listed
  // once.
  result = router_.Match("POST", "/v1/users/me");
  not_allowed = std::get_if<Router::MethodNotAllowed>(&result);
  ASSERT_NE(not_allowed, nullptr);
  EXPECT_EQ(not_allowed->allowed, (std::vector<std::string>{"DELETE", "GET", "PATCH"}));

  result = router_.Match("DELETE", "/v1/users");
  not_allowed = std::get_if<Router::MethodNotAllowed>(&result);
  ASSERT_NE(not_allowed, nullptr);
  EXPECT_EQ(not_allowed->allowed, (std::vector<std::string>{"GET", "POST"}));
}

TEST_F(RouterTest, MethodIsCaseSensitive) {
  EXPECT_TRUE(std::holds_alternative<Router::MethodNotAllowed>(router_.Match("get", "/v1/users")));
}

TEST(RouterAddTest, DuplicateRouteThrows) {
  Router router;
  router.Add(MakeRoute("GET", "/v1/things/{id}"));
  EXPECT_THROW(router.Add(MakeRoute("GET", "/v1/things/{id}")), std::invalid_argument);
  // Same pattern, another method: fine.
  EXPECT_NO_THROW(router.Add(MakeRoute("DELETE", "/v1/things/{id}")));
  EXPECT_EQ(router.routes().size(), 2u);
}

TEST(RouterAddTest, MalformedRouteThrows) {
  Router router;
  EXPECT_THROW(router.Add(MakeRoute("GET", "")), std::invalid_argument);
  EXPECT_THROW(router.Add(MakeRoute("GET", "v1/things")), std::invalid_argument);
  Route no_handler = MakeRoute("GET", "/v1/things");
  no_handler.handler = nullptr;
  EXPECT_THROW(router.Add(std::move(no_handler)), std::invalid_argument);
  EXPECT_TRUE(router.routes().empty());
}

TEST(RouterAddTest, AddAssignsDenseIndexesAndDefaultBodyLimit) {
  Router router(4096);
  router.Add(MakeRoute("GET", "/a"));
  Route limited = MakeRoute("POST", "/a");
  limited.max_body_bytes = 10;
  router.Add(std::move(limited));
  ASSERT_EQ(router.routes().size(), 2u);
  EXPECT_EQ(router.routes()[0]->index, 0u);
  EXPECT_EQ(router.routes()[1]->index, 1u);
  EXPECT_EQ(router.routes()[0]->max_body_bytes, 4096u);  // 0 means the router's default
  EXPECT_EQ(router.routes()[1]->max_body_bytes, 10u);
  auto result = router.Match("POST", "/a");
  auto* matched = std::get_if<Router::Matched>(&result);
  ASSERT_NE(matched, nullptr);
  EXPECT_EQ(matched->route->index, 1u);
}

TEST(RouterAddTest, EmptyRouterFindsNothing) {
  Router router;
  EXPECT_TRUE(std::holds_alternative<Router::NotFound>(router.Match("GET", "/")));
}

// --------------------------------------------------------------------------------- ParseTarget

TEST(ParseTargetTest, SplitsAndDecodesPathAndQuery) {
  std::string path;
  std::map<std::string, std::string> query;
  ASSERT_TRUE(ParseTarget("/v1/users", &path, &query));
  EXPECT_EQ(path, "/v1/users");
  EXPECT_TRUE(query.empty());

  ASSERT_TRUE(ParseTarget("/v1/a%20b/c%41?x=1", &path, &query));
  EXPECT_EQ(path, "/v1/a b/cA");
  EXPECT_EQ(query, (std::map<std::string, std::string>{{"x", "1"}}));

  // '+' is a space in the query only, not in the path.
  ASSERT_TRUE(ParseTarget("/a+b?q=hello+world&r=hello%20world&s=1%2B1", &path, &query));
  EXPECT_EQ(path, "/a+b");
  EXPECT_EQ(query.at("q"), "hello world");
  EXPECT_EQ(query.at("r"), "hello world");
  EXPECT_EQ(query.at("s"), "1+1");
}

TEST(ParseTargetTest, QueryEdgeCases) {
  std::string path;
  std::map<std::string, std::string> query{{"stale", "x"}};
  ASSERT_TRUE(ParseTarget("/p?a=1&a=2&flag&&empty=&k%3Dey=v%26al&=novalue", &path, &query));
  EXPECT_EQ(path, "/p");
  EXPECT_EQ(query.count("stale"), 0u);  // the output is replaced, not merged
  EXPECT_EQ(query.at("a"), "2");        // the last one wins
  EXPECT_EQ(query.at("flag"), "");      // no '='
  EXPECT_EQ(query.at("empty"), "");
  EXPECT_EQ(query.at("k=ey"), "v&al");  // decoding happens after splitting
  EXPECT_EQ(query.at(""), "novalue");

  ASSERT_TRUE(ParseTarget("/p?", &path, &query));
  EXPECT_EQ(path, "/p");
  EXPECT_TRUE(query.empty());

  ASSERT_TRUE(ParseTarget("/p?limit=10&cursor=usr_01", &path, &query));
  EXPECT_EQ(query.at("limit"), "10");
  EXPECT_EQ(query.at("cursor"), "usr_01");
}

TEST(ParseTargetTest, DecodesHexInEitherCase) {
  std::string path;
  std::map<std::string, std::string> query;
  ASSERT_TRUE(ParseTarget("/%7e%7E%c3%A9", &path, &query));
  EXPECT_EQ(path, "/~~\xc3\xa9");
}

TEST(ParseTargetTest, RejectsInvalidTargets) {
  const std::vector<std::string> bad = {
      "",                       // empty
      "*",                      // asterisk-form
      "http://example.com/v1",  // absolute-form
      "example.com:443",        // authority-form
      "v1/users",               // relative
      "?a=1",                   // no path
      "/a%zz",                  // not hex
      "/a%4",                   // truncated escape
      "/a%",                    // truncated escape
      "/a%4g",                  // second digit not hex
      "/a%g4",                  // first digit not hex
      "/a%00b",                 // NUL in the path
      "/a?x=%zz",               // invalid escape in a value
      "/a?%zz=1",               // invalid escape in a key
      "/a?x=%4",                // truncated escape at the end of the query
      "/a?x=%00",               // NUL in a value
      "/a?%00=1",               // NUL in a key
  };
  for (const auto& target : bad) {
    std::string path;
    std::map<std::string, std::string> query;
    EXPECT_FALSE(ParseTarget(target, &path, &query)) << "'" << target << "'";
  }
}

// ------------------------------------------------------------------------------------ Headers

TEST(HeadersTest, GetIsCaseInsensitiveAndReturnsFirstValue) {
  Headers headers;
  headers.Add("Content-Type", "application/json");
  headers.Add("X-Request-Id", "first");
  headers.Add("x-request-id", "second");
  EXPECT_EQ(headers.Get("content-type"), "application/json");
  EXPECT_EQ(headers.Get("CONTENT-TYPE"), "application/json");
  EXPECT_EQ(headers.Get("Content-Type"), "application/json");
  EXPECT_EQ(headers.Get("X-REQUEST-ID"), "first");
  EXPECT_TRUE(headers.Has("x-REQUEST-id"));
  EXPECT_FALSE(headers.Has("Authorization"));
  EXPECT_EQ(headers.Get("Authorization"), "");
  EXPECT_EQ(headers.Get("Content-Typ"), "");  // prefixes do not match
  EXPECT_EQ(headers.Get("Content-Types"), "");
  EXPECT_EQ(headers.fields().size(), 3u);
}

// ---------------------------------------------------------------------------------- Responses

TEST(ResponseTest, ProblemDocumentFields) {
  Request request;
  request.path = "/v1/users/usr_x";
  request.target = "/v1/users/usr_x?token=secret";
  request.request_id = "req-123";
  Status status = NotFound("user_not_found", "No such user in this tenant")
                      .WithDetail("field", "id")
                      .WithDetail("hint", "check the id");

  Response response = Response::Problem(status, request);
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(response.content_type, "application/problem+json");

  boost::json::value parsed = boost::json::parse(response.body);
  ASSERT_TRUE(parsed.is_object());
  const auto& doc = parsed.as_object();
  EXPECT_EQ(doc.at("type").as_string(), "urn:quarry:problem:user_not_found");
  EXPECT_EQ(doc.at("title").as_string(), "Not Found");
  EXPECT_EQ(doc.at("status").as_int64(), 404);
  EXPECT_EQ(doc.at("detail").as_string(), "No such user in this tenant");
  EXPECT_EQ(doc.at("instance").as_string(), "/v1/users/usr_x");  // the path, never the query
  EXPECT_EQ(doc.at("code").as_string(), "user_not_found");
  EXPECT_EQ(doc.at("request_id").as_string(), "req-123");
  ASSERT_TRUE(doc.at("details").is_object());
  const auto& details = doc.at("details").as_object();
  EXPECT_EQ(details.size(), 2u);
  EXPECT_EQ(details.at("field").as_string(), "id");
  EXPECT_EQ(details.at("hint").as_string(), "check the id");
  EXPECT_EQ(response.body.find("secret"), std::string::npos);
}

TEST(ResponseTest, ProblemWithoutDetailsOmitsThem) {
  Request request;  // no path: instance is "/"
  request.request_id = "r";
  Response response = Response::Problem(
      Status(ErrorCode::kFailedPrecondition, "last_owner", "keep \"one\" owner\n"), request);
  EXPECT_EQ(response.status, 409);
  EXPECT_EQ(response.content_type, "application/problem+json");
  const auto doc = boost::json::parse(response.body).as_object();
  EXPECT_FALSE(doc.contains("details"));
  EXPECT_EQ(doc.at("instance").as_string(), "/");
  EXPECT_EQ(doc.at("title").as_string(), "Conflict");
  EXPECT_EQ(doc.at("status").as_int64(), 409);
  EXPECT_EQ(doc.at("detail").as_string(), "keep \"one\" owner\n");  // escaped correctly
}

TEST(ResponseTest, ProblemStatusFollowsCategory) {
  Request request;
  request.path = "/x";
  struct Case {
    ErrorCode code;
    int http;
  };
  for (const Case& c : std::vector<Case>{{ErrorCode::kInvalidArgument, 400},
                                         {ErrorCode::kUnauthenticated, 401},
                                         {ErrorCode::kPermissionDenied, 403},
                                         {ErrorCode::kMethodNotAllowed, 405},
                                         {ErrorCode::kPayloadTooLarge, 413},
                                         {ErrorCode::kResourceExhausted, 429},
                                         {ErrorCode::kInternal, 500},
                                         {ErrorCode::kUnavailable, 503}}) {
    Response response = Response::Problem(Status(c.code, "c", "m"), request);
    EXPECT_EQ(response.status, c.http);
    EXPECT_EQ(boost::json::parse(response.body).as_object().at("status").as_int64(), c.http);
  }
}

TEST(ResponseTest, JsonAndTextConstructors) {
  Response json = Response::Json(201, "{\"a\":1}");
  EXPECT_EQ(json.status, 201);
  EXPECT_EQ(json.content_type, "application/json");
  EXPECT_EQ(json.body, "{\"a\":1}");
  Response text = Response::Text(200, "text/plain; charset=utf-8", "hi");
  EXPECT_EQ(text.status, 200);
  EXPECT_EQ(text.content_type, "text/plain; charset=utf-8");
  EXPECT_EQ(text.body, "hi");
}

// ------------------------------------------------------------------------------------ Metrics

// Sample lines of `exposition` whose name and labels start with `prefix`: "<rest> <value>".
std::vector<std::pair<std::string, double>> Samples(const std::string& exposition,
                                                    const std::string& prefix) {
  std::vector<std::pair<std::string, double>> out;
  std::istringstream in(exposition);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) != 0) continue;
    const auto space = line.rfind(' ');
    out.emplace_back(line.substr(0, space), std::stod(line.substr(space + 1)));
  }
  return out;
}

bool HasLine(const std::string& exposition, const std::string& line) {
  std::istringstream in(exposition);
  std::string l;
  while (std::getline(in, l)) {
    if (l == line) return true;
  }
  return false;
}

// Route patterns and methods as the server registers them (Route::index order).
const std::vector<std::pair<std::string, std::string>> kMetricRoutes = {
    {"/v1/users/{id}", "GET"},  // 0
    {"/v1/x", "GET"},           // 1
    {"/a", "GET"},              // 2
    {"/a", "POST"},             // 3
};

TEST(HttpMetricsTest, RequestsTotalHasLabels) {
  HttpMetrics metrics;
  metrics.SetRoutes(kMetricRoutes);
  metrics.ObserveRoute(0, 200, 0.002);
  metrics.ObserveRoute(0, 200, 0.003);
  metrics.ObserveRoute(0, 404, 0.001);
  metrics.ObserveUnmatched("POST", 404, 0.0001);
  metrics.ObserveUnmatched("POST", 404, 0.0001);
  metrics.ObserveUnmatched("BREW", 405, 0.0001);  // non-standard methods are folded into "other"
  const std::string out = metrics.Render("1.2.3");
  EXPECT_TRUE(HasLine(out, "# TYPE http_requests_total counter")) << out;
  EXPECT_TRUE(HasLine(out, "http_requests_total{route=\"/v1/users/{id}\",method=\"GET\",status=\"200\"} 2"))
      << out;
  EXPECT_TRUE(HasLine(out, "http_requests_total{route=\"/v1/users/{id}\",method=\"GET\",status=\"404\"} 1"));
  EXPECT_TRUE(HasLine(out, "http_requests_total{route=\"unmatched\",method=\"POST\",status=\"404\"} 2"));
  EXPECT_TRUE(HasLine(out, "http_requests_total{route=\"unmatched\",method=\"other\",status=\"405\"} 1"));
  EXPECT_EQ(out.find("BREW"), std::string::npos);
  // Only observed combinations are rendered.
  EXPECT_EQ(Samples(out, "http_requests_total{").size(), 4u);
}

TEST(HttpMetricsTest, HistogramBucketsAreCumulativeAndInfEqualsCount) {
  HttpMetrics metrics;
  metrics.SetRoutes(kMetricRoutes);
  // One per interesting place: below the first bound, exactly on a bound, between bounds, above
  // the last bound.
  const std::vector<double> observations = {0.0001, 0.001, 0.003, 0.2, 0.2, 4.9, 10.0};
  double sum = 0;
  for (double s : observations) {
    metrics.ObserveRoute(1, 200, s);
    metrics.ObserveUnmatched("GET", 404, s);
    sum += s;
  }
  const std::string out = metrics.Render("v");
  EXPECT_TRUE(HasLine(out, "# TYPE http_request_duration_seconds histogram"));

  for (const std::string labels : {"route=\"/v1/x\",method=\"GET\"", "route=\"unmatched\",method=\"GET\""}) {
    SCOPED_TRACE(labels);
    const auto buckets = Samples(out, "http_request_duration_seconds_bucket{" + labels + ",");
    ASSERT_EQ(buckets.size(), HttpMetrics::kBucketsSeconds.size() + 1);
    // Each bucket counts the observations <= its bound (cumulative), in bound order.
    for (std::size_t i = 0; i < HttpMetrics::kBucketsSeconds.size(); ++i) {
      const double bound = HttpMetrics::kBucketsSeconds[i];
      double expected = 0;
      for (double s : observations) expected += s <= bound ? 1 : 0;
      EXPECT_EQ(buckets[i].second, expected) << buckets[i].first;
      if (i > 0) {
        EXPECT_GE(buckets[i].second, buckets[i - 1].second);
      }
    }
    EXPECT_NE(buckets.back().first.find("le=\"+Inf\""), std::string::npos) << buckets.back().first;
    EXPECT_EQ(buckets.back().second, static_cast<double>(observations.size()));
    // The le labels are the configured bounds, in order.
    EXPECT_NE(buckets[0].first.find("le=\"0.0005\""), std::string::npos) << buckets[0].first;
    EXPECT_NE(buckets[1].first.find("le=\"0.001\""), std::string::npos) << buckets[1].first;

    const auto count = Samples(out, "http_request_duration_seconds_count{" + labels + "}");
    ASSERT_EQ(count.size(), 1u);
    EXPECT_EQ(count[0].second, static_cast<double>(observations.size()));
    EXPECT_EQ(count[0].second, buckets.back().second);
    const auto sum_line = Samples(out, "http_request_duration_seconds_sum{" + labels + "}");
    ASSERT_EQ(sum_line.size(), 1u);
    EXPECT_NEAR(sum_line[0].second, sum, 1e-5);  // routes keep the sum in microseconds
  }
}

TEST(HttpMetricsTest, HistogramsAreSeparatePerRouteAndMethod) {
  HttpMetrics metrics;
  metrics.SetRoutes(kMetricRoutes);
  metrics.ObserveRoute(2, 200, 0.01);
  metrics.ObserveRoute(3, 201, 0.01);
  metrics.ObserveRoute(3, 400, 0.01);
  const std::string out = metrics.Render("v");
  EXPECT_TRUE(HasLine(out, "http_request_duration_seconds_count{route=\"/a\",method=\"GET\"} 1")) << out;
  EXPECT_TRUE(HasLine(out, "http_request_duration_seconds_count{route=\"/a\",method=\"POST\"} 2"));
  // Routes never observed have no histogram.
  EXPECT_TRUE(Samples(out, "http_request_duration_seconds_count{route=\"/v1/x\"").empty());
}

TEST(HttpMetricsTest, OutOfRangeObservationsAreIgnored) {
  HttpMetrics metrics;
  metrics.SetRoutes(kMetricRoutes);
  metrics.ObserveRoute(kMetricRoutes.size(), 200, 0.01);  // no such route
  metrics.ObserveRoute(0, 99, 0.01);                      // not an HTTP status
  metrics.ObserveRoute(0, 600, 0.01);
  const std::string out = metrics.Render("v");
  EXPECT_TRUE(Samples(out, "http_requests_total{").empty()) << out;
  EXPECT_TRUE(Samples(out, "http_request_duration_seconds_count").empty()) << out;
}

TEST(HttpMetricsTest, GaugesAndBuildInfo) {
  HttpMetrics metrics;
  metrics.RequestStarted();
  metrics.RequestStarted();
  metrics.RequestStarted();
  metrics.RequestFinished();
  metrics.ConnectionOpened();
  metrics.ConnectionOpened();
  metrics.ConnectionClosed();
  metrics.ConnectionRejected();
  metrics.ConnectionRejected();
  metrics.ConnectionTimedOut();
  EXPECT_EQ(metrics.in_flight(), 2);
  const std::string out = metrics.Render("0.1.0");
  EXPECT_TRUE(HasLine(out, "# TYPE http_requests_in_flight gauge"));
  EXPECT_TRUE(HasLine(out, "http_requests_in_flight 2")) << out;
  EXPECT_TRUE(HasLine(out, "http_connections_open 1"));
  EXPECT_TRUE(HasLine(out, "http_connections_rejected_total 2"));
  EXPECT_TRUE(HasLine(out, "http_connections_timed_out_total 1"));
  EXPECT_TRUE(HasLine(out, "# TYPE quarry_build_info gauge"));
  EXPECT_TRUE(HasLine(out, "quarry_build_info{version=\"0.1.0\"} 1")) << out;
}

TEST(HttpMetricsTest, EmptyMetricsStillRenderHeadersAndGauges) {
  HttpMetrics metrics;
  const std::string out = metrics.Render("x");
  EXPECT_TRUE(HasLine(out, "http_requests_in_flight 0"));
  EXPECT_TRUE(HasLine(out, "# TYPE http_requests_total counter"));
  EXPECT_TRUE(Samples(out, "http_requests_total{").empty());
  EXPECT_TRUE(Samples(out, "http_request_duration_seconds_bucket").empty());
}

TEST(HttpMetricsTest, LabelValuesAreEscaped) {
  HttpMetrics metrics;
  metrics.SetRoutes({{"/a\"b\\c\nd", "GET"}});
  metrics.ObserveRoute(0, 200, 0.01);
  const std::string out = metrics.Render("1\"2");
  EXPECT_TRUE(HasLine(out, "quarry_build_info{version=\"1\\\"2\"} 1")) << out;
  EXPECT_TRUE(HasLine(out, "http_requests_total{route=\"/a\\\"b\\\\c\\nd\",method=\"GET\",status=\"200\"} 1"))
      << out;
}

}  // namespace
}  // namespace quarry::http
