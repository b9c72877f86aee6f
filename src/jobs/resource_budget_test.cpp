#include "jobs/resource_budget.h"

#include <gtest/gtest.h>

namespace quarry::jobs {
namespace {

using Kinds = std::vector<std::string>;

TEST(ResourceBudget, ZeroBudgetAdmitsEveryKind) {
  ResourceBudget budget(0, {{"big", 1'000}}, {"big", "small"});
  EXPECT_TRUE(budget.Validate().ok());
  auto hold = budget.ReserveForClaim();
  EXPECT_EQ(hold.kinds, (Kinds{"big", "small"}));
  EXPECT_EQ(hold.bytes, 0);
  budget.Settle(hold, &hold.kinds[0]);
  EXPECT_EQ(budget.reserved(), 0);
}

TEST(ResourceBudget, HoldsTheLargestFittingNeedUntilSettled) {
  ResourceBudget budget(8, {{"big", 6}, {"small", 1}}, {"big", "small", "free"});
  auto first = budget.ReserveForClaim();
  EXPECT_EQ(first.kinds, (Kinds{"big", "small", "free"}));
  EXPECT_EQ(first.bytes, 6);
  // A concurrent claim sees the first one's hold: only what still fits.
  auto second = budget.ReserveForClaim();
  EXPECT_EQ(second.kinds, (Kinds{"small", "free"}));
  EXPECT_EQ(second.bytes, 1);
  EXPECT_EQ(budget.reserved(), 7);
  const std::string big = "big";
  budget.Settle(first, &big);
  budget.Settle(second, nullptr);  // nothing claimed: the hold is returned
  EXPECT_EQ(budget.reserved(), 6);
  auto third = budget.ReserveForClaim();
  EXPECT_EQ(third.kinds, (Kinds{"small", "free"})) << "a second big job does not fit beside the first";
  const std::string free_kind = "free";
  budget.Settle(third, &free_kind);
  EXPECT_EQ(budget.reserved(), 6);
  budget.Release("big");
  EXPECT_EQ(budget.reserved(), 0);
}

TEST(ResourceBudget, FullBudgetOffersOnlyKindsThatNeedNothing) {
  ResourceBudget budget(4, {{"big", 4}}, {"big", "free"});
  auto first = budget.ReserveForClaim();
  const std::string big = "big";
  budget.Settle(first, &big);
  auto second = budget.ReserveForClaim();
  EXPECT_EQ(second.kinds, (Kinds{"free"}));
  EXPECT_EQ(second.bytes, 0);
}

TEST(ResourceBudget, RefusesKindsLargerThanTheWholeBudget) {
  ResourceBudget budget(4, {{"huge", 5}, {"big", 4}}, {"huge", "big"});
  Status st = budget.Validate();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), "job_memory_budget_too_small");
  EXPECT_NE(st.message().find("'huge' needs 5 bytes"), std::string::npos) << st.message();
  EXPECT_EQ(st.message().find("'big'"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace quarry::jobs
