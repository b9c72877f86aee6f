#include "query/result_cache.h"

#include <gtest/gtest.h>

namespace quarry::query {
namespace {

std::shared_ptr<const engine::QueryResult> Rows(int n, std::size_t width = 10) {
  auto r = std::make_shared<engine::QueryResult>();
  r->column_names = {"v"};
  r->column_types = {"VARCHAR"};
  for (int i = 0; i < n; ++i) r->rows.push_back({std::string(width, 'x')});
  return r;
}

TEST(ResultCacheTest, HitsMissesAndLeastRecentlyUsedEviction) {
  const std::size_t one = ResultCache::SizeOf(*Rows(10)) + 1;
  ResultCache cache(one * 8 * 2);  // room for about 16 entries; each is under an eighth
  EXPECT_EQ(cache.Get("a"), nullptr);
  cache.Put("a", Rows(10));
  ASSERT_NE(cache.Get("a"), nullptr);
  for (int i = 0; i < 40; ++i) {
    cache.Put("k" + std::to_string(i), Rows(10));
    ASSERT_NE(cache.Get("a"), nullptr) << "kept: used after every insertion";
  }
  EXPECT_EQ(cache.Get("k0"), nullptr) << "evicted: least recently used";
  EXPECT_NE(cache.Get("k39"), nullptr);
  const auto stats = cache.stats();
  EXPECT_LE(stats.bytes, one * 16);
  EXPECT_GT(stats.hits, 40u);
  EXPECT_EQ(stats.misses, 2u);
}

TEST(ResultCacheTest, LargeAnswersAndADisabledCacheStoreNothing) {
  ResultCache cache(64 * 1024);
  cache.Put("big", Rows(1000, 100));  // ~100 KB: over an eighth of the budget
  EXPECT_EQ(cache.Get("big"), nullptr);
  ResultCache off(0);
  EXPECT_FALSE(off.enabled());
  off.Put("a", Rows(1));
  EXPECT_EQ(off.Get("a"), nullptr);
  EXPECT_EQ(off.stats().entries, 0u);
}

}  // namespace
}  // namespace quarry::query
