// Statement results: bound parameters, truncation by rows, nested values as JSON, cursors.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>

#include "common/testing/temp_dir.h"
#include "engine/engine.h"

namespace quarry::engine {
namespace {

class ParamsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    EngineOptions options;
    options.temp_directory = (dir_.path() / "spill").string();
    db_ = std::move(OpenDatabase(options)).value();
    conn_ = std::move(db_->Connect()).value();
  }
  testing::TempDir dir_{"engine-params"};
  std::unique_ptr<Database> db_;
  std::unique_ptr<Connection> conn_;
};

Param Text(std::string value, std::string name = "") {
  Param p;
  p.name = std::move(name);
  p.kind = Param::Kind::kText;
  p.text = std::move(value);
  return p;
}

TEST_F(ParamsTest, PositionalAndNamedValuesAreBoundAsValues) {
  ExecuteOptions options;
  Param number;
  number.kind = Param::Kind::kInt;
  number.int_value = 41;
  options.params = {number, Text("x'); DROP TABLE t; --")};
  auto r = conn_->Execute("SELECT ? + 1, ?", options);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rows[0][0], "42");
  EXPECT_EQ(r->rows[0][1], "x'); DROP TABLE t; --");

  ExecuteOptions named;
  Param flag;
  flag.name = "flag";
  flag.kind = Param::Kind::kBool;
  flag.bool_value = true;
  Param nothing;
  nothing.name = "nothing";
  named.params = {Text("hi", "greeting"), flag, nothing};
  auto n = conn_->Execute("SELECT $greeting, $flag, $nothing IS NULL", named);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(n->rows[0][0], "hi");
  EXPECT_EQ(n->rows[0][1], "true");
  EXPECT_EQ(n->rows[0][2], "true");
}

TEST_F(ParamsTest, TheStatementMustTakeExactlyTheValuesGiven) {
  ExecuteOptions options;
  options.params = {Text("a")};
  auto too_few = conn_->Execute("SELECT ?, ?", options);
  ASSERT_FALSE(too_few.ok());
  EXPECT_EQ(too_few.status().code(), "parameter_mismatch");
  auto none_taken = conn_->Execute("SELECT 1", options);
  EXPECT_EQ(none_taken.status().code(), "parameter_mismatch");
  options.params = {Text("a", "missing")};
  auto unknown = conn_->Execute("SELECT $present", options);
  EXPECT_EQ(unknown.status().code(), "parameter_mismatch");
}

TEST_F(ParamsTest, TruncationStopsAtMaxRowsAndSaysSo) {
  ExecuteOptions options;
  options.max_rows = 5;
  options.truncate_at_max_rows = true;
  auto r = conn_->Execute("SELECT * FROM range(100000)", options);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rows.size(), 5u);
  EXPECT_TRUE(r->truncated);
  auto exact = conn_->Execute("SELECT * FROM range(5)", options);
  ASSERT_TRUE(exact.ok());
  EXPECT_EQ(exact->rows.size(), 5u);
  EXPECT_FALSE(exact->truncated);
  // The connection is usable after an abandoned stream.
  auto next = conn_->Execute("SELECT 7");
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->rows[0][0], "7");
}

}  // namespace
}  // namespace quarry::engine

namespace quarry::engine {
namespace {

TEST_F(ParamsTest, NestedColumnsComeBackAsJsonWithTheirTypes) {
  ExecuteOptions options;
  options.nested_as_json = true;
  Param n;
  n.kind = Param::Kind::kInt;
  n.int_value = 2;
  options.params = {n};
  auto r = conn_->Execute("SELECT ? AS n, [1, 2] AS l, {'x': 'y\"', 'z': [NULL, 'nan'::DOUBLE]} AS s, 'text' AS t, "
                          "MAP {'k': [1.5]} AS m, [1, 2]::INTEGER[2] AS a", options);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->column_names, (std::vector<std::string>{"n", "l", "s", "t", "m", "a"}));
  EXPECT_EQ(r->column_types[1], "INTEGER[]");
  EXPECT_EQ(r->json_columns, (std::vector<bool>{false, true, true, false, true, true}));
  EXPECT_EQ(r->rows[0][0], "2");
  EXPECT_EQ(r->rows[0][1], "[1,2]");
  EXPECT_EQ(r->rows[0][2], R"({"x":"y\"","z":[null,"nan"]})");
  EXPECT_EQ(r->rows[0][4], R"({"k":[1.5]})");
  EXPECT_EQ(r->rows[0][5], "[1,2]");
  // Without the option: DuckDB's text.
  auto plain = conn_->Execute("SELECT [1, 2] AS l");
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(plain->json_columns, std::vector<bool>{false});
  EXPECT_EQ(plain->rows[0][0], "[1, 2]");
}

}  // namespace
}  // namespace quarry::engine

namespace quarry::engine {
namespace {

TEST_F(ParamsTest, ACursorFetchesEveryRowAChunkAtATime) {
  auto cursor = conn_->Open("SELECT i, [i] AS l FROM range(5000) t(i) ORDER BY i", ExecuteOptions{.nested_as_json = true});
  ASSERT_TRUE(cursor.ok()) << cursor.status().ToString();
  EXPECT_EQ((*cursor)->column_names(), (std::vector<std::string>{"i", "l"}));
  EXPECT_EQ((*cursor)->json_columns(), (std::vector<bool>{false, true}));
  std::vector<Row> rows;
  int chunks = 0;
  for (;;) {
    const std::size_t before = rows.size();
    auto more = (*cursor)->Next(&rows);
    ASSERT_TRUE(more.ok()) << more.status().ToString();
    if (!*more) break;
    EXPECT_LE(rows.size() - before, 2048u);
    ++chunks;
  }
  EXPECT_EQ(rows.size(), 5000u);
  EXPECT_GE(chunks, 3);
  EXPECT_EQ(rows[4999][0], "4999");
  EXPECT_EQ(rows[4999][1], "[4999]");
  EXPECT_FALSE(*(*cursor)->Next(&rows)) << "exhausted stays exhausted";
}

TEST_F(ParamsTest, ACursorDestroyedEarlyStopsItsStatementAndFreesTheConnection) {
  {
    auto cursor = conn_->Open("SELECT * FROM range(1000000000)");
    ASSERT_TRUE(cursor.ok());
    std::vector<Row> rows;
    ASSERT_TRUE(*(*cursor)->Next(&rows));
  }
  auto next = conn_->Execute("SELECT 42");
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ(next->rows[0][0], "42");
}

TEST_F(ParamsTest, ACursorHonoursItsDeadlineAndStopFlag) {
  ExecuteOptions options;
  options.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
  auto cursor = conn_->Open("SELECT * FROM range(1000000000000)", options);
  ASSERT_TRUE(cursor.ok());
  std::vector<Row> rows;
  Result<bool> more = true;
  while (more.ok() && *more) {
    rows.clear();
    more = (*cursor)->Next(&rows);
  }
  ASSERT_FALSE(more.ok());
  EXPECT_EQ(more.status().code(), "deadline_exceeded");

  std::atomic<bool> stop{false};
  ExecuteOptions stoppable;
  stoppable.should_stop = [&] { return stop.load(); };
  auto second = conn_->Open("SELECT * FROM range(1000000000)", stoppable);
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE(*(*second)->Next(&rows));
  stop = true;
  auto stopped = (*second)->Next(&rows);
  ASSERT_FALSE(stopped.ok());
  EXPECT_EQ(stopped.status().code(), "canceled");
}

}  // namespace
}  // namespace quarry::engine

namespace quarry::engine {
namespace {

TEST_F(ParamsTest, ACursorWritesAnArrowIpcStream) {
  auto cursor = conn_->Open("SELECT i, 'x' || i AS s FROM range(3000) t(i)");
  ASSERT_TRUE(cursor.ok());
  std::string ipc;
  int calls = 0;
  for (;;) {
    auto more = (*cursor)->NextArrow(&ipc);
    ASSERT_TRUE(more.ok()) << more.status().ToString();
    ++calls;
    if (!*more) break;
  }
  EXPECT_GE(calls, 3) << "a schema with the first batch, further batches, then the end";
  ASSERT_GE(ipc.size(), 16u);
  EXPECT_EQ(ipc.substr(0, 4), std::string("\xFF\xFF\xFF\xFF", 4)) << "an encapsulated message";
  EXPECT_EQ(ipc.substr(ipc.size() - 8), std::string("\xFF\xFF\xFF\xFF\0\0\0\0", 8)) << "the end-of-stream marker";
  EXPECT_NE(ipc.find("x2999"), std::string::npos) << "the last row's text is in a batch body";
}

TEST_F(ParamsTest, ArrowRefusesWhatItCannotWrite) {
  auto cursor = conn_->Open("SELECT 'a'::ENUM('a', 'b') AS e");
  ASSERT_TRUE(cursor.ok());
  std::string ipc;
  auto more = (*cursor)->NextArrow(&ipc);
  ASSERT_FALSE(more.ok());
  EXPECT_EQ(more.status().code(), "arrow_type_unsupported");
  EXPECT_NE(more.status().message().find("'e'"), std::string::npos) << more.status().message();
}

}  // namespace
}  // namespace quarry::engine

