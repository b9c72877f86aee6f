// The audit log through the real server: a scripted session (users, keys, attributes, a policy,
// an upload and its publish, queries, a denial, a deletion) leaves exactly its events, readable
// by owners and admins only, filterable, never another tenant's, and queries carry what they read.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <chrono>

#include "integration/harness.h"

namespace quarry::testing {
namespace {

using namespace std::chrono_literals;

boost::json::value Json(const HttpResult& r) { return boost::json::parse(r.body); }
std::string Str(const boost::json::value& v) { return std::string(v.as_string()); }

class AuditApi : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<QuarryServer>();
    ASSERT_TRUE(server_->started());
    owner_ = server_->demo_key();
  }
  HttpResult As(const std::string& key, const std::string& method, const std::string& path, const std::string& body = "") {
    return server_->Request(method, path, key, body);
  }
  void WaitForJob(const std::string& id) { ASSERT_EQ(server_->WaitForJob(owner_, id), "succeeded"); }
  // The events of `filter` (a query string), oldest first.
  boost::json::array Events(const std::string& filter = "") {
    auto r = As(owner_, "GET", "/v1/audit" + filter);
    EXPECT_EQ(r.status, 200) << r.body;
    return Json(r).at("items").as_array();
  }
  std::vector<std::string> Kinds(const boost::json::array& events) {
    std::vector<std::string> out;
    for (const auto& e : events) out.push_back(Str(e.at("kind")));
    return out;
  }

  std::unique_ptr<QuarryServer> server_;
  std::string owner_;
};

TEST_F(AuditApi, AScriptedSessionLeavesItsEvents) {
  auto user = As(owner_, "POST", "/v1/users", R"({"email":"ana@demo.io","role":"analyst"})");
  ASSERT_EQ(user.status, 201);
  const std::string ana = Str(Json(user).at("id"));
  ASSERT_EQ(As(owner_, "PUT", "/v1/users/" + ana + "/attributes", R"({"region":"north"})").status, 200);
  auto key = As(owner_, "POST", "/v1/keys", R"({"name":"ana","user_id":")" + ana + R"("})");
  ASSERT_EQ(key.status, 201);
  const std::string ana_key = Str(Json(key).at("secret"));
  const std::string ana_key_id = Str(Json(key).at("id"));
  auto upload = As(ana_key, "PUT", "/v1/datasets/sales/data", "id,region\n1,north\n2,south\n");
  ASSERT_EQ(upload.status, 202);
  WaitForJob(Str(Json(upload).at("id")));
  ASSERT_EQ(As(owner_, "POST", "/v1/datasets/sales/policies", R"({"kind":"row","predicate":"region = {{user.region}}"})")
                .status,
            201);
  ASSERT_EQ(As(ana_key, "POST", "/v1/query", R"({"sql":"SELECT * FROM sales"})").status, 200);
  ASSERT_EQ(As(ana_key, "POST", "/v1/query", R"j({"sql":"SELECT * FROM read_csv('/etc/passwd')"})j").status, 403);
  ASSERT_EQ(As(ana_key, "GET", "/v1/audit").status, 403) << "analysts do not read the audit log";
  ASSERT_EQ(As(owner_, "DELETE", "/v1/keys/" + ana_key_id).status, 200);
  ASSERT_EQ(As(owner_, "DELETE", "/v1/datasets/sales").status, 204);

  auto events = Events();
  // The upload's event is recorded as its 202 leaves; the job may publish a moment before that.
  if (events.size() > 4 && Str(events[3].at("kind")) == "dataset.create") std::swap(events[3], events[4]);
  EXPECT_EQ(Kinds(events),
            (std::vector<std::string>{"user.create", "user.attributes", "key.create", "dataset.upload", "dataset.create",
                                      "policy.create", "query", "denied", "denied", "key.revoke", "dataset.delete"}));
  // Who did it, with which key, to what.
  EXPECT_EQ(Str(events[0].at("user_id")), Str(Json(As(owner_, "GET", "/v1/me")).at("user").at("id")));
  EXPECT_EQ(Str(events[1].at("target")), ana);
  EXPECT_EQ(Str(events[1].at("details").at("request").at("region")), "north");
  EXPECT_EQ(Str(events[2].at("details").at("id")), ana_key_id);
  EXPECT_EQ(events[2].at("details").as_object().count("secret"), 0u) << "never a secret";
  EXPECT_EQ(key.body.find(Str(events[2].at("details").at("id"))) != std::string::npos, true);
  EXPECT_EQ(Str(events[4].at("user_id")), ana) << "the publish is the uploader's";
  EXPECT_EQ(events[4].at("details").at("row_count"), 2);
  // The query: what it read, how many rows, how long, the SQL's hash (not its text by default).
  const auto& query = events[6].at("details").as_object();
  EXPECT_EQ(Str(events[6].at("user_id")), ana);
  EXPECT_EQ(Str(events[6].at("key_id")), ana_key_id);
  EXPECT_EQ(Str(query.at("datasets").at(0).at("name")), "sales");
  EXPECT_EQ(query.at("rows"), 1) << "the rows the caller got, under the row policy";
  EXPECT_EQ(Str(query.at("sql_sha256")).size(), 64u);
  EXPECT_FALSE(query.contains("sql"));
  // Denials carry the code and the reason.
  EXPECT_EQ(Str(events[7].at("outcome")), "denied");
  EXPECT_EQ(Str(events[7].at("details").at("code")), "sql_not_allowed");
  EXPECT_EQ(Str(events[8].at("details").at("code")), "role_too_low");

  // Filters and pages.
  EXPECT_EQ(Kinds(Events("?kind=denied")), (std::vector<std::string>{"denied", "denied"}));
  EXPECT_EQ(Events("?user_id=" + ana).size(), 5u);  // upload, publish, query, two denials
  auto first = Json(As(owner_, "GET", "/v1/audit?limit=4"));
  EXPECT_EQ(first.at("items").as_array().size(), 4u);
  auto rest = Events("?cursor=" + Str(first.at("next_cursor")));
  EXPECT_EQ(Str(rest[0].at("kind")), "dataset.create");
  EXPECT_TRUE(Events("?until=2000-01-01T00:00:00Z").empty());
  EXPECT_EQ(Events("?since=2000-01-01T00:00:00Z").size(), events.size());
  EXPECT_EQ(As(owner_, "GET", "/v1/audit?since=yesterday").status, 400);
  EXPECT_EQ(As(owner_, "GET", "/v1/audit?usr=x").status, 400);
}

TEST_F(AuditApi, TenantsSeeOnlyTheirOwnEventsAndTheOperatorsActionsOnThem) {
  auto created = As(server_->operator_key(), "POST", "/v1/admin/tenants",
                    R"({"slug":"acme","name":"Acme","owner_email":"o@acme.io"})");
  ASSERT_EQ(created.status, 201);
  const std::string acme_owner = Str(Json(created).at("owner_key").at("secret"));
  ASSERT_EQ(As(acme_owner, "POST", "/v1/users", R"({"email":"x@acme.io","role":"viewer"})").status, 201);
  auto acme = Json(As(acme_owner, "GET", "/v1/audit")).at("items").as_array();
  EXPECT_EQ(Kinds(acme), (std::vector<std::string>{"tenant.create", "user.create"}));
  EXPECT_EQ(Str(acme[0].at("user_id")), "operator");
  for (const auto& e : Events()) EXPECT_NE(Str(e.at("kind")), "user.create") << "the demo tenant saw nothing of acme";
  EXPECT_EQ(As(server_->operator_key(), "GET", "/v1/audit").status, 403);
}

TEST_F(AuditApi, EachTenantChoosesWhetherQueriesAreRecordedWithTheirText) {
  auto query = [&] {
    EXPECT_EQ(As(owner_, "POST", "/v1/query", R"({"sql":"SELECT 42 AS answer"})").status, 200);
    const boost::json::array events = Events("?kind=query&limit=1000");  // oldest first: the newest is last
    return events.empty() ? boost::json::object() : events.back().at("details").as_object();
  };
  EXPECT_TRUE(query().contains("sql_sha256")) << "the server's default (audit.query_text: false)";
  auto set = As(server_->operator_key(), "PATCH", "/v1/admin/tenants/demo", R"({"settings":{"audit_query_text":true}})");
  ASSERT_EQ(set.status, 200) << set.body;
  EXPECT_EQ(Json(set).at("settings").at("audit_query_text"), true);
  // The setting reaches requests within auth.cache_refresh, like a tenant's status.
  boost::json::object details;
  // (At most 500 queries, so that the newest event stays on the first page of 1,000.)
  for (auto [end, i] = std::pair{std::chrono::steady_clock::now() + 20s, 0};
       std::chrono::steady_clock::now() < end && i < 500 && !details.contains("sql"); ++i) {
    details = query();
  }
  ASSERT_TRUE(details.contains("sql")) << boost::json::serialize(details);
  EXPECT_EQ(Str(details.at("sql")), "SELECT 42 AS answer");
  // Bad settings are refused; null goes back to the default; only the operator sets them.
  EXPECT_EQ(As(server_->operator_key(), "PATCH", "/v1/admin/tenants/demo", R"({"settings":{"audit_query_text":1}})").status,
            400);
  EXPECT_EQ(As(server_->operator_key(), "PATCH", "/v1/admin/tenants/demo", R"({"settings":{"colour":true}})").status, 400);
  EXPECT_EQ(As(owner_, "PATCH", "/v1/admin/tenants/demo", R"({"settings":{"audit_query_text":false}})").status, 403);
  auto reset = As(server_->operator_key(), "PATCH", "/v1/admin/tenants/demo", R"({"settings":{"audit_query_text":null}})");
  ASSERT_EQ(reset.status, 200) << reset.body;
  EXPECT_FALSE(Json(reset).at("settings").as_object().contains("audit_query_text"));
}

TEST_F(AuditApi, RefusedUploadsAreRecordedBeforeTheirBodiesAreRead) {
  auto user = As(owner_, "POST", "/v1/users", R"({"email":"vic@demo.io","role":"viewer"})");
  ASSERT_EQ(user.status, 201);
  auto key = As(owner_, "POST", "/v1/keys", R"({"name":"vic","user_id":")" + Str(Json(user).at("id")) + R"("})");
  ASSERT_EQ(key.status, 201);
  const std::string vic = Str(Json(key).at("secret"));
  EXPECT_EQ(As(vic, "PUT", "/v1/datasets/data/data", "a\n1\n").status, 403);
  auto denied = Events("?kind=denied");
  ASSERT_EQ(denied.size(), 1u);
  EXPECT_EQ(Str(denied[0].at("details").at("code")), "missing_scope");
  EXPECT_EQ(Str(denied[0].at("target")), "data") << "the dataset, even when it is named like a path segment";
}

}  // namespace
}  // namespace quarry::testing
