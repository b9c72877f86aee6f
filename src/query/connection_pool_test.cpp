#include "query/connection_pool.h"

#include <gtest/gtest.h>

#include "common/testing/temp_dir.h"

namespace quarry::query {
namespace {

TEST(ConnectionPoolTest, ReusesIdleConnectionsUpToItsLimit) {
  testing::TempDir dir{"pool"};
  engine::EngineOptions options;
  options.temp_directory = (dir.path() / "tmp").string();
  ConnectionPool pool(std::shared_ptr<engine::Database>(std::move(engine::OpenDatabase(options)).value()), 1);
  auto first = pool.Take();
  ASSERT_TRUE(first.ok());
  (*first)->views["orders"] = "ds_1/3";
  engine::Connection* raw = (*first)->connection.get();
  auto second = pool.Take();
  ASSERT_TRUE(second.ok());
  EXPECT_NE((*second)->connection.get(), raw) << "a taken connection is never handed out twice";
  pool.Give(std::move(first).value());
  pool.Give(std::move(second).value());  // beyond max_idle: dropped
  auto again = pool.Take();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->connection.get(), raw);
  EXPECT_EQ((*again)->views.at("orders"), "ds_1/3") << "what the connection holds travels with it";
  EXPECT_TRUE((*again)->connection->Execute("SELECT 1").ok());
}

TEST(ConnectionPoolTest, PrefersTheIdleConnectionThatAlreadyHoldsTheWantedViews) {
  testing::TempDir dir{"pool"};
  engine::EngineOptions options;
  options.temp_directory = (dir.path() / "tmp").string();
  ConnectionPool pool(std::shared_ptr<engine::Database>(std::move(engine::OpenDatabase(options)).value()), 4);
  auto owner = std::move(pool.Take()).value();
  auto analyst = std::move(pool.Take()).value();
  owner->views["orders"] = "SELECT * FROM all";
  analyst->views["orders"] = "SELECT * FROM all WHERE mine";
  engine::Connection* analyst_connection = analyst->connection.get();
  pool.Give(std::move(analyst));
  pool.Give(std::move(owner));  // the most recently given back
  auto taken = std::move(pool.Take({{"orders", "SELECT * FROM all WHERE mine"}})).value();
  EXPECT_EQ(taken->connection.get(), analyst_connection);
  auto other = std::move(pool.Take({{"orders", "SELECT * FROM something else"}})).value();
  EXPECT_EQ(other->views.at("orders"), "SELECT * FROM all") << "no match: the most recent";
}

}  // namespace
}  // namespace quarry::query
