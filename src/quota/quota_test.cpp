#include "quota/quota.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace quarry::quota {
namespace {

using namespace std::chrono_literals;

TEST(Quota, OverridesMergeValidateAndFallBackToTheDefault) {
  auto merged = MergeOverrides("{}", boost::json::parse(R"({"datasets": 3, "result_rows": 10})").as_object());
  ASSERT_TRUE(merged.ok()) << merged.status().ToString();
  Tenant t;
  t.quotas_json = *merged;
  EXPECT_EQ(Value(t, "datasets", 100), 3);
  EXPECT_EQ(Value(t, "storage_bytes", 100), 100) << "no override: the server's default";
  auto dropped = MergeOverrides(*merged, boost::json::parse(R"({"datasets": null})").as_object());
  t.quotas_json = *dropped;
  EXPECT_EQ(Value(t, "datasets", 100), 100);
  EXPECT_EQ(Value(t, "result_rows", 7), 10);
  for (const char* bad : {R"({"nope": 1})", R"({"datasets": -1})", R"({"datasets": "3"})", R"({"versions_kept": 0})",
                          R"({"datasets": 1.5})"}) {
    EXPECT_EQ(MergeOverrides("{}", boost::json::parse(bad).as_object()).status().code(), "invalid_quota") << bad;
  }
  t.quotas_json = "not json";
  EXPECT_EQ(Value(t, "datasets", 5), 5);
}

TEST(Quota, ExceededNamesTheQuotaUsageAndLimitWithTheRightStatus) {
  Status size = Exceeded("datasets", 4, 3);
  EXPECT_EQ(size.category(), ErrorCode::kPayloadTooLarge);
  EXPECT_NE(size.message().find("'datasets'"), std::string::npos);
  EXPECT_EQ(size.details().at("used"), "4");
  EXPECT_EQ(size.details().at("limit"), "3");
  Status rate = Exceeded("requests_per_second", 6, 5, 1500);
  EXPECT_EQ(rate.category(), ErrorCode::kResourceExhausted);
  EXPECT_EQ(rate.details().at("retry_after_seconds"), "2");
}

TEST(RateLimiter, ABucketPerKeyRefilledAtTheRate) {
  SimulatedClock clock;
  RateLimiter limiter(clock);
  int admitted = 0;
  for (int i = 0; i < 30; ++i) admitted += limiter.Admit("k1", 5).ok();
  EXPECT_EQ(admitted, 10) << "a burst of twice the rate (at least 10)";
  EXPECT_TRUE(limiter.Admit("k2", 5).ok()) << "each key its own bucket";
  clock.Advance(1s);
  admitted = 0;
  for (int i = 0; i < 30; ++i) admitted += limiter.Admit("k1", 5).ok();
  EXPECT_EQ(admitted, 5) << "one second refills the rate";
  EXPECT_TRUE(limiter.Admit("k1", 0).ok()) << "0: no limit";
  clock.Advance(100ms);
  Status refused = limiter.Admit("k1", 5);
  EXPECT_EQ(refused.code(), "quota_exceeded");
  EXPECT_EQ(refused.details().at("retry_after_seconds"), "1");
}

}  // namespace
}  // namespace quarry::quota
