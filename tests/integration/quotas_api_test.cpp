// Per-tenant quotas through the real server: the operator overrides the defaults per tenant,
// each quota is enforced where it applies with 413/429 naming the quota, the usage and the limit,
// and GET /v1/usage shows usage against every quota.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <chrono>
#include <thread>

#include "integration/harness.h"

namespace quarry::testing {
namespace {

using namespace std::chrono_literals;

boost::json::value Json(const HttpResult& r) { return boost::json::parse(r.body.empty() ? "{}" : r.body); }
std::string Str(const boost::json::value& v) { return std::string(v.as_string()); }

class QuotasApi : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<QuarryServer>(std::vector<std::string>{"--set", "jobs.allow_test_kinds=true"});
    ASSERT_TRUE(server_->started());
    owner_ = server_->demo_key();
  }
  HttpResult Quotas(const std::string& json) {
    return server_->Request("PATCH", "/v1/admin/tenants/demo", server_->operator_key(), R"({"quotas":)" + json + "}");
  }
  // Sets overrides and waits until the tenant's requests carry them (the key cache picks tenant
  // changes up within auth.cache_refresh, 250 ms).
  void SetQuotas(const std::string& json) {
    auto r = Quotas(json);
    ASSERT_EQ(r.status, 200) << r.body;
    const auto wanted = Json(r).at("quotas");
    const auto end = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < end) {
      auto usage = server_->Request("GET", "/v1/usage", owner_);
      if (usage.status != 200) continue;  // e.g. a rate quota that has just arrived
      auto me = Json(usage);
      bool all = true;
      for (const auto& [name, value] : wanted.as_object()) all = all && me.at("quotas").at(name).at("limit") == value;
      if (all) return;
    }
    FAIL() << "the overrides did not reach the tenant's requests within 10 s";
  }
  HttpResult Upload(const std::string& name, const std::string& csv, const std::string& mode = "create") {
    return server_->Request("PUT", "/v1/datasets/" + name + "/data?mode=" + mode, owner_, csv);
  }
  std::string JobEnd(const HttpResult& accepted) {
    EXPECT_EQ(accepted.status, 202) << accepted.body;
    const std::string id = Str(Json(accepted).at("id"));
    const auto end = std::chrono::steady_clock::now() + 60s;
    boost::json::value job;
    while (std::chrono::steady_clock::now() < end) {
      job = Json(server_->Request("GET", "/v1/jobs/" + id, owner_));
      const std::string state = Str(job.at("state"));
      if (state == "succeeded") return state;
      if (state == "failed") return Str(job.at("error").at("code"));
    }
    return "timeout";
  }
  boost::json::object Usage() { return Json(server_->Request("GET", "/v1/usage", owner_)).as_object(); }
  // The problem document's code and its quota details.
  static std::string Refusal(const HttpResult& r) {
    const auto doc = Json(r);
    const auto* details = doc.as_object().if_contains("details");
    std::string out = std::to_string(r.status) + " " + Str(doc.at("code"));
    if (details && details->as_object().contains("quota")) {
      out += " " + Str(details->at("quota")) + " " + Str(details->at("used")) + "/" + Str(details->at("limit"));
    }
    return out;
  }

  std::unique_ptr<QuarryServer> server_;
  std::string owner_;
};

TEST_F(QuotasApi, TheOperatorOverridesDefaultsPerTenantAndUsageShowsThem) {
  auto usage = Usage();
  EXPECT_EQ(usage.at("quotas").at("datasets").at("limit"), 10'000) << "the server's default";
  EXPECT_EQ(usage.at("quotas").at("datasets").at("used"), 0);
  for (const char* name : {"storage_bytes", "datasets", "versions_kept", "upload_bytes", "queued_jobs", "running_jobs",
                           "concurrent_queries", "statement_timeout_ms", "result_rows", "query_memory_bytes",
                           "requests_per_second"}) {
    EXPECT_TRUE(usage.at("quotas").as_object().contains(name)) << name;
  }
  auto set = Quotas(R"({"datasets": 3, "result_rows": 50})");
  ASSERT_EQ(set.status, 200) << set.body;
  EXPECT_EQ(Json(set).at("quotas").at("datasets"), 3);
  SetQuotas(R"({"datasets": 3})");
  EXPECT_EQ(Usage().at("quotas").at("datasets").at("limit"), 3);
  auto back = Quotas(R"({"datasets": null})");
  ASSERT_EQ(back.status, 200);
  EXPECT_FALSE(Json(back).at("quotas").as_object().contains("datasets")) << "null: back to the default";
  EXPECT_EQ(Json(back).at("quotas").at("result_rows"), 50) << "other overrides stay";
  // Bad overrides name the quota and its bounds; only the operator sets them.
  EXPECT_EQ(Quotas(R"({"datasets": -1})").status, 400);
  EXPECT_EQ(Quotas(R"({"disk": 1})").status, 400);
  EXPECT_EQ(Quotas(R"([1])").status, 400);
  EXPECT_EQ(server_->Request("PATCH", "/v1/admin/tenants/demo", owner_, R"({"quotas":{"datasets":99}})").status, 403);
}

TEST_F(QuotasApi, SizeAndCountQuotasAnswer413NamingQuotaUsageAndLimit) {
  SetQuotas(R"({"datasets": 1, "upload_bytes": 64})");
  EXPECT_EQ(JobEnd(Upload("one", "a\n1\n")), "succeeded");
  EXPECT_EQ(Refusal(Upload("two", "a\n1\n")), "413 quota_exceeded datasets 2/1");
  EXPECT_EQ(JobEnd(Upload("one", "a\n2\n", "replace")), "succeeded") << "a new version is not a new dataset";
  EXPECT_EQ(Refusal(Upload("one", std::string(100, 'x'), "replace")).substr(0, 13), "413 too_large");
  auto tus = server_->Request("POST", "/v1/uploads", owner_, "",
                              {"Tus-Resumable: 1.0.0", "Upload-Length: 100", "Upload-Metadata: dataset " + Base64("one")});
  EXPECT_EQ(Refusal(tus), "413 too_large upload_bytes 100/64");
  EXPECT_EQ(Usage().at("quotas").at("datasets").at("used"), 1);
}

TEST_F(QuotasApi, StorageAndVersionsKeptApplyToIngestion) {
  SetQuotas(R"({"versions_kept": 1})");
  EXPECT_EQ(JobEnd(Upload("v", "a\n1\n")), "succeeded");
  EXPECT_EQ(JobEnd(Upload("v", "a\n2\n", "replace")), "succeeded");
  EXPECT_EQ(Json(server_->Request("GET", "/v1/datasets/v/versions", owner_)).at("items").as_array().size(), 1u);
  const auto used = Usage().at("quotas").at("storage_bytes").at("used").as_int64();
  EXPECT_GT(used, 0);
  SetQuotas(R"({"versions_kept": 1, "storage_bytes": )" + std::to_string(used) + "}");
  EXPECT_EQ(JobEnd(Upload("w", "a\n1\n")), "quota_exceeded");
}

TEST_F(QuotasApi, QueryQuotasNarrowTimeoutsRowsAndConcurrency) {
  EXPECT_EQ(JobEnd(Upload("t", "a\n1\n2\n3\n")), "succeeded");
  SetQuotas(R"({"statement_timeout_ms": 2000, "result_rows": 2, "concurrent_queries": 1})");
  auto q = [&](const std::string& body) { return server_->Request("POST", "/v1/query", owner_, body); };
  EXPECT_EQ(q(R"({"sql":"SELECT 1","timeout_ms":5000})").status, 400);
  EXPECT_EQ(q(R"({"sql":"SELECT * FROM t","limit":3})").status, 400);
  auto truncated = Json(q(R"({"sql":"SELECT * FROM t"})"));
  EXPECT_EQ(truncated.at("row_count"), 2);
  EXPECT_EQ(truncated.at("truncated"), true);
  // One query at a time: a second one while the first runs is 429 with Retry-After.
  HttpResult slow;
  std::thread runner([&] { slow = q(R"j({"sql":"SELECT count(*) FROM range(100000000000)","timeout_ms":2000})j"); });
  const auto end = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < end &&
         Json(server_->Request("GET", "/v1/queries", owner_)).at("items").as_array().empty()) {
  }
  auto refused = q(R"({"sql":"SELECT 1"})");
  runner.join();
  EXPECT_EQ(Refusal(refused), "429 too_many_queries concurrent_queries 2/1");
  EXPECT_EQ(refused.headers["retry-after"], "1");
  EXPECT_EQ(slow.status, 429) << "the slow one ran into its 2 s quota: " << slow.body.substr(0, 200);
  EXPECT_EQ(Usage().at("quotas").at("concurrent_queries").at("used"), 0);
}

TEST_F(QuotasApi, TheQueryMemoryQuotaBoundsTheTenantsEngine) {
  const std::string hungry = R"j({"sql":"SELECT max(len(l)) FROM (SELECT list(range) AS l FROM range(40000000))"})j";
  EXPECT_EQ(server_->Request("POST", "/v1/query", owner_, hungry).status, 200) << "1 GiB by default";
  SetQuotas(R"({"query_memory_bytes": 67108864})");
  // (Another statement than the first: an answer in the result cache needs no memory.)
  auto refused = server_->Request("POST", "/v1/query", owner_,
                                  R"j({"sql":"SELECT max(len(l)) FROM (SELECT list(range) AS l FROM range(40000001))"})j");
  EXPECT_EQ(refused.status, 429) << refused.body.substr(0, 300);
  EXPECT_EQ(Str(Json(refused).at("code")), "query_memory_exceeded");
  EXPECT_EQ(server_->Request("POST", "/v1/query", owner_, R"({"sql":"SELECT 1"})").status, 200);
}

TEST_F(QuotasApi, RunningJobsCapsTheTenantsJobsRunningAtOnce) {
  EXPECT_EQ(Usage().at("quotas").at("running_jobs").at("limit"), 2) << "jobs.max_running_per_tenant";
  SetQuotas(R"({"running_jobs": 1})");
  EXPECT_EQ(Usage().at("quotas").at("running_jobs").at("limit"), 1);
  // Two long jobs, two idle workers: only one runs while the other stays queued.
  std::vector<std::string> ids;
  for (int i = 0; i < 2; ++i) {
    auto r = server_->Request("POST", "/v1/jobs", owner_, R"({"kind":"sleep","payload":{"ms":60000}})");
    ASSERT_EQ(r.status, 202) << r.body;
    ids.push_back(Str(Json(r).at("id")));
  }
  auto states = [&] {
    std::map<std::string, int> count;
    for (const auto& id : ids) ++count[Str(Json(server_->Request("GET", "/v1/jobs/" + id, owner_)).at("state"))];
    return count;
  };
  // Wait until one runs; the other must still be queued after the workers claimed what they may
  // (a later claim of either worker would run it: the running count is read again then).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (states()["running"] == 0 && std::chrono::steady_clock::now() < deadline) {
  }
  EXPECT_EQ(states()["running"], 1);
  EXPECT_EQ(Usage().at("quotas").at("running_jobs").at("used"), 1);
  SetQuotas(R"({"running_jobs": null})");
  while (states()["running"] < 2 && std::chrono::steady_clock::now() < deadline) {
  }
  EXPECT_EQ(states()["running"], 2) << "back to the default of 2";
  for (const auto& id : ids) (void)server_->Request("POST", "/v1/jobs/" + id + "/cancel", owner_);
}

TEST_F(QuotasApi, QueuedJobsAndRequestsPerSecondAnswer429) {
  SetQuotas(R"({"queued_jobs": 1, "requests_per_second": 5})");
  // At most one queued job: of four sleeping jobs submitted at once, some are refused.
  int refused = 0, accepted = 0;
  for (int i = 0; i < 4; ++i) {
    auto r = server_->Request("POST", "/v1/jobs", owner_, R"({"kind":"sleep","payload":{"ms":1000}})");
    if (r.status == 202) ++accepted;
    if (r.status == 429) {
      ++refused;
      EXPECT_EQ(Str(Json(r).at("code")), "queue_full") << r.body;
    }
  }
  EXPECT_GE(refused, 1);
  // 5 per second, bursts of 10: a burst of 20 sees refusals naming the quota, with Retry-After.
  int limited = 0;
  HttpResult last;
  for (int i = 0; i < 20; ++i) {
    auto r = server_->Request("GET", "/v1/me", owner_);
    if (r.status == 429) {
      ++limited;
      last = r;
    }
  }
  EXPECT_GE(limited, 5);
  EXPECT_EQ(Refusal(last).substr(0, 40), "429 quota_exceeded requests_per_second 6");
  EXPECT_FALSE(last.headers["retry-after"].empty());
  // Another key of the same tenant has its own bucket; the operator has none.
  EXPECT_EQ(server_->Request("GET", "/v1/admin/tenants", server_->operator_key()).status, 200);
}

}  // namespace
}  // namespace quarry::testing
