#include "engine/engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "common/testing/temp_dir.h"

namespace quarry::engine {
namespace {

using std::chrono::steady_clock;

// A query that runs for many seconds unless stopped (a single-threaded count over 10^10 rows).
constexpr char kEndlessQuery[] = "SELECT count(*) FROM range(10000000000)";

class EngineTest : public ::testing::Test {
 protected:
  EngineOptions Options() const {
    EngineOptions options;
    options.threads = 1;
    options.memory_limit_bytes = 256LL << 20;
    options.temp_directory = (dir_.path() / "spill").string();
    return options;
  }

  std::unique_ptr<Database> Open(const EngineOptions& options) {
    auto db = OpenDatabase(options);
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    return db.ok() ? std::move(db).value() : nullptr;
  }

  std::unique_ptr<Connection> Connect(Database& db) {
    auto conn = db.Connect();
    EXPECT_TRUE(conn.ok()) << conn.status().ToString();
    return conn.ok() ? std::move(conn).value() : nullptr;
  }

  void SetUp() override {
    db_ = Open(Options());
    ASSERT_NE(db_, nullptr);
    conn_ = Connect(*db_);
    ASSERT_NE(conn_, nullptr);
  }

  QueryResult MustExecute(Connection& conn, const std::string& sql) {
    auto result = conn.Execute(sql);
    EXPECT_TRUE(result.ok()) << sql << ": " << result.status().ToString();
    return result.ok() ? std::move(result).value() : QueryResult{};
  }

  std::string Path(const std::string& name) const { return (dir_.path() / name).string(); }

  quarry::testing::TempDir dir_{"engine"};
  std::unique_ptr<Database> db_;
  std::unique_ptr<Connection> conn_;
};

TEST_F(EngineTest, SelectReturnsNamesTypesValuesAndNulls) {
  QueryResult r = MustExecute(
      *conn_,
      "SELECT * FROM (VALUES "
      "(1::BIGINT, 'a'::VARCHAR, 1.5::DOUBLE, DATE '2024-01-02', true, 12.34::DECIMAL(10,2), 7::INTEGER), "
      "(NULL, NULL, NULL, NULL, NULL, NULL, NULL)) AS t(id, name, score, day, flag, amount, small)");
  EXPECT_EQ(r.column_names,
            (std::vector<std::string>{"id", "name", "score", "day", "flag", "amount", "small"}));
  EXPECT_EQ(r.column_types, (std::vector<std::string>{"BIGINT", "VARCHAR", "DOUBLE", "DATE", "BOOLEAN",
                                                      "DECIMAL(10,2)", "INTEGER"}));
  ASSERT_EQ(r.rows.size(), 2u);
  using Row = std::vector<std::optional<std::string>>;
  EXPECT_EQ(r.rows[0], (Row{"1", "a", "1.5", "2024-01-02", "true", "12.34", "7"}));
  EXPECT_EQ(r.rows[1], Row(7, std::nullopt));
  EXPECT_EQ(r.rows_changed, 0);
}

TEST_F(EngineTest, ValuesAreDuckDbVarcharCasts) {
  // Every column is compared with DuckDB's own CAST(... AS VARCHAR) of the same expression.
  const std::vector<std::string> expressions = {"42::TINYINT",
                                                "-7::SMALLINT",
                                                "123456789012345::HUGEINT",
                                                "18446744073709551615::UBIGINT",
                                                "0.1::FLOAT",
                                                "1e300::DOUBLE",
                                                "-123456789.123456789::DECIMAL(38,9)",
                                                "-1.5::DECIMAL(4,1)",
                                                "TIME '12:34:56.789'",
                                                "TIMESTAMP '2024-02-29 23:59:59.123456'",
                                                "TIMESTAMP_NS '2024-01-01 00:00:00.123456789'",
                                                "TIMESTAMP_S '2024-01-01 01:02:03'",
                                                "TIMESTAMP_MS '2024-01-01 01:02:03.456'",
                                                "TIMESTAMPTZ '2024-01-01 00:00:00+00'",
                                                "INTERVAL '1 year 2 months 3 days 04:05:06'",
                                                "'\\xAA\\x00z'::BLOB",
                                                "'10110'::BIT",
                                                "'6d3f2a30-8b5e-4bd1-9c44-0f1e2d3c4b5a'::UUID",
                                                "[1, NULL, 3]",
                                                "[['a'], [], NULL]",
                                                "{'a': 1, 'b c': 'x''y', 'n': NULL}",
                                                "MAP {'k': [1, 2], 'z': NULL}",
                                                "[1, 2, 3]::INTEGER[3]",
                                                "union_value(num := 2)::UNION(num INTEGER, str VARCHAR)",
                                                "'b'::ENUM('a', 'b')",
                                                "12345678901234567890123456789::BIGNUM",
                                                "-98765432109876543210::BIGNUM",
                                                "NULL",
                                                "[]::INTEGER[]",
                                                "MAP {}::MAP(VARCHAR, INTEGER)",
                                                "{'nested': {'list': [{'x': DATE '2020-01-01'}]}}"};
  std::string select = "SELECT ";
  std::string casts = "SELECT ";
  for (std::size_t i = 0; i < expressions.size(); ++i) {
    select += (i ? ", " : "") + expressions[i];
    casts += std::string(i ? ", " : "") + "CAST(" + expressions[i] + " AS VARCHAR)";
  }
  QueryResult values = MustExecute(*conn_, select);
  QueryResult expected = MustExecute(*conn_, casts);
  ASSERT_EQ(values.rows.size(), 1u);
  ASSERT_EQ(expected.rows.size(), 1u);
  for (std::size_t i = 0; i < expressions.size(); ++i) {
    EXPECT_EQ(values.rows[0][i], expected.rows[0][i])
        << expressions[i] << " (" << values.column_types[i] << ")";
  }
  EXPECT_EQ(values.rows[0][0], "42");
  EXPECT_EQ(values.rows[0][18], "[1, NULL, 3]");
  EXPECT_EQ(values.rows[0][27], std::nullopt);  // SQL NULL stays NULL
}

TEST_F(EngineTest, InsertionOrderIsKeptUnlessReleased) {
  EXPECT_EQ(MustExecute(*conn_, "SELECT current_setting('preserve_insertion_order')::VARCHAR").rows[0][0], "true");
  EngineOptions options = Options();
  options.preserve_insertion_order = false;
  auto db = Open(options);
  ASSERT_NE(db, nullptr);
  auto conn = Connect(*db);
  EXPECT_EQ(MustExecute(*conn, "SELECT current_setting('preserve_insertion_order')::VARCHAR").rows[0][0], "false");
}

TEST_F(EngineTest, TypeNames) {
  // A bare NULL column comes back as INTEGER (DuckDB's choice for an untyped NULL result).
  QueryResult r =
      MustExecute(*conn_,
                  "SELECT 1::HUGEINT, 1::FLOAT, 1::SMALLINT, 1::TINYINT, 1::UBIGINT, TIMESTAMP '2020-01-01', "
                  "TIMESTAMPTZ '2020-01-01 00:00:00+00', TIME '01:02:03', ''::BLOB, [1], {'a': 1, 'B': 'x'}, "
                  "MAP {'k': 1}, [1]::INTEGER[1], INTERVAL 1 DAY, NULL, 'a'::ENUM('a', 'it''s')");
  EXPECT_EQ(r.column_types,
            (std::vector<std::string>{"HUGEINT", "FLOAT", "SMALLINT", "TINYINT", "UBIGINT", "TIMESTAMP",
                                      "TIMESTAMP WITH TIME ZONE", "TIME", "BLOB", "INTEGER[]",
                                      "STRUCT(a INTEGER, \"B\" VARCHAR)", "MAP(VARCHAR, INTEGER)",
                                      "INTEGER[1]", "INTERVAL", "INTEGER", "ENUM('a', 'it''s')"}));
}

TEST_F(EngineTest, ParserErrorHasErrorType) {
  auto r = conn_->Execute("SELEC 1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), "engine_error");
  EXPECT_EQ(r.status().category(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.status().details().at("error_type"), "Parser");
  EXPECT_NE(r.status().message().find("syntax error"), std::string::npos) << r.status().message();
}

TEST_F(EngineTest, ConversionErrorHasErrorType) {
  auto r = conn_->Execute("SELECT 'x'::INTEGER");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), "engine_error");
  EXPECT_EQ(r.status().details().at("error_type"), "Conversion");

  // The same failure at execution time (not constant-folded while preparing).
  auto at_run =
      conn_->Execute("SELECT (CASE WHEN i = 5 THEN 'x' ELSE i::VARCHAR END)::INTEGER FROM range(10) t(i)");
  ASSERT_FALSE(at_run.ok());
  EXPECT_EQ(at_run.status().details().at("error_type"), "Conversion") << at_run.status().message();
}

TEST_F(EngineTest, ErrorWhileStreamingRows) {
  // The first rows fill DuckDB's stream buffer, so the error surfaces while chunks are fetched.
  ExecuteOptions options;
  options.max_rows = 2'000'000;
  auto r = conn_->Execute(
      "SELECT CASE WHEN i < 300000 THEN i ELSE error('late failure')::BIGINT END FROM range(1000000) t(i)",
      options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), "engine_error");
  EXPECT_EQ(r.status().details().at("error_type"), "Invalid Input") << r.status().message();
  EXPECT_NE(r.status().message().find("late failure"), std::string::npos);
  EXPECT_EQ(MustExecute(*conn_, "SELECT 1").rows[0][0], "1");
}

TEST_F(EngineTest, CatalogAndBinderAndIoErrorTypes) {
  auto catalog = conn_->Execute("SELECT * FROM no_such_table");
  ASSERT_FALSE(catalog.ok());
  EXPECT_EQ(catalog.status().details().at("error_type"), "Catalog");
  auto binder = conn_->Execute("SELECT no_such_column FROM range(1)");
  ASSERT_FALSE(binder.ok());
  EXPECT_EQ(binder.status().details().at("error_type"), "Binder");
  auto io = conn_->Execute("SELECT * FROM " + QuoteLiteral(Path("missing.parquet")));
  ASSERT_FALSE(io.ok());
  EXPECT_EQ(io.status().details().at("error_type"), "IO");
  // The connection stays usable after errors.
  EXPECT_EQ(MustExecute(*conn_, "SELECT 1").rows.size(), 1u);
}

TEST_F(EngineTest, CopyToParquetAndReadBack) {
  const std::string file = Path("x.parquet");
  QueryResult copy =
      MustExecute(*conn_, "COPY (SELECT * FROM range(1000)) TO " + QuoteLiteral(file) + " (FORMAT parquet)");
  EXPECT_EQ(copy.rows_changed, 1000);
  EXPECT_TRUE(std::filesystem::exists(file));
  QueryResult count = MustExecute(*conn_, "SELECT count(*) FROM " + QuoteLiteral(file));
  ASSERT_EQ(count.rows.size(), 1u);
  EXPECT_EQ(count.rows[0][0], "1000");
  EXPECT_EQ(count.rows_changed, 0);
}

TEST_F(EngineTest, InsertReportsRowsChanged) {
  MustExecute(*conn_, "CREATE TABLE t (a INTEGER)");
  EXPECT_EQ(MustExecute(*conn_, "INSERT INTO t SELECT * FROM range(5)").rows_changed, 5);
  EXPECT_EQ(MustExecute(*conn_, "DELETE FROM t WHERE a < 2").rows_changed, 2);
}

TEST_F(EngineTest, MaxRowsExceededIsResultTooLarge) {
  ExecuteOptions options;
  options.max_rows = 10;
  auto exact = conn_->Execute("SELECT * FROM range(10)", options);
  ASSERT_TRUE(exact.ok()) << exact.status().ToString();
  EXPECT_EQ(exact->rows.size(), 10u);

  auto over = conn_->Execute("SELECT * FROM range(11)", options);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), "result_too_large");

  // A huge streaming result stops at the limit instead of being produced in full.
  options.max_rows = 5000;
  auto start = steady_clock::now();
  auto huge = conn_->Execute("SELECT * FROM range(10000000000)", options);
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), "result_too_large");
  EXPECT_LT(steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(MustExecute(*conn_, "SELECT 42").rows[0][0], "42");
}

TEST_F(EngineTest, ShouldStopCancelsQuickly) {
  ExecuteOptions options;
  int polls = 0;
  options.should_stop = [&] { return ++polls > 3; };  // stop after a few execution tasks
  auto start = steady_clock::now();
  auto r = conn_->Execute(kEndlessQuery, options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), "canceled");
  EXPECT_LT(steady_clock::now() - start, std::chrono::seconds(10));

  options.should_stop = [] { return true; };  // before anything runs
  auto at_once = conn_->Execute(kEndlessQuery, options);
  ASSERT_FALSE(at_once.ok());
  EXPECT_EQ(at_once.status().code(), "canceled");
  // The next statement is not affected by the interrupt.
  EXPECT_EQ(MustExecute(*conn_, "SELECT 1").rows[0][0], "1");
}

TEST_F(EngineTest, DeadlineInThePastIsDeadlineExceeded) {
  ExecuteOptions options;
  options.deadline = steady_clock::now() - std::chrono::seconds(1);
  auto r = conn_->Execute(kEndlessQuery, options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), "deadline_exceeded");
  EXPECT_EQ(MustExecute(*conn_, "SELECT 1").rows[0][0], "1");
}

TEST_F(EngineTest, DeadlineStopsRunningQuery) {
  ExecuteOptions options;
  options.deadline = steady_clock::now() + std::chrono::milliseconds(50);
  auto start = steady_clock::now();
  auto r = conn_->Execute(kEndlessQuery, options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), "deadline_exceeded");
  EXPECT_LT(steady_clock::now() - start, std::chrono::seconds(10));
}

// Regression: a nested-loop join whose filter matches nothing runs inside one execution task and
// never returned to the deadline checks between tasks (a 1 s timeout ran for minutes).
TEST_F(EngineTest, DeadlineStopsAnOperatorThatNeverYields) {
  ExecuteOptions options;
  options.deadline = steady_clock::now() + std::chrono::milliseconds(300);
  auto start = steady_clock::now();
  auto r = conn_->Execute("SELECT count(*) FROM range(100000) a, range(100000) b WHERE a.range + b.range = -1",
                          options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), "deadline_exceeded");
  EXPECT_LT(steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_TRUE(conn_->Execute("SELECT 1").ok()) << "the connection is usable afterwards";
}

// Regression (found by ASan): the watchdog waited on a reference to the earliest deadline, which
// a finishing statement erased meanwhile.
TEST_F(EngineTest, StatementsWithDeadlinesEndingConcurrentlyAreSafe) {
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      auto conn = db_->Connect();
      if (!conn.ok()) {
        ++failures;
        return;
      }
      for (int i = 0; i < 200; ++i) {
        ExecuteOptions options;
        options.deadline = steady_clock::now() + std::chrono::seconds(10 + i % 7);
        if (!(*conn)->Execute("SELECT 1", options).ok()) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST_F(EngineTest, InterruptFromAnotherThreadCancels) {
  // The first should_stop poll happens on the executing thread after Execute began; the interrupt
  // sent from there (via another thread) must not be lost even though it precedes DuckDB's start.
  std::atomic<bool> started{false};
  ExecuteOptions options;
  options.should_stop = [&] {
    started.store(true);
    return false;
  };
  std::thread interrupter([&] {
    while (!started.load()) std::this_thread::yield();
    conn_->Interrupt();
  });
  auto start = steady_clock::now();
  auto r = conn_->Execute(kEndlessQuery, options);
  interrupter.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), "canceled");
  EXPECT_LT(steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(MustExecute(*conn_, "SELECT 2").rows[0][0], "2");

  // An Interrupt() while nothing runs does not cancel the next statement.
  conn_->Interrupt();
  EXPECT_EQ(MustExecute(*conn_, "SELECT 3").rows[0][0], "3");
}

TEST_F(EngineTest, ReportsProgress) {
  // Progress comes from the scans' own estimates: a table scan reports it (range() does not: DuckDB
  // then reports 0 only). With one thread the steps are deterministic (about 1.2% per task here).
  MustExecute(*conn_, "CREATE TABLE numbers AS SELECT range AS i FROM range(10000000)");
  ExecuteOptions options;
  std::vector<double> seen;
  options.on_progress = [&](double percent) { seen.push_back(percent); };
  auto sum = conn_->Execute("SELECT sum(i) FROM numbers", options);
  ASSERT_TRUE(sum.ok()) << sum.status().ToString();
  EXPECT_EQ(sum->rows[0][0], "49999995000000");
  ASSERT_GE(seen.size(), 2u);
  bool partial = false;
  for (std::size_t i = 0; i < seen.size(); ++i) {
    EXPECT_GE(seen[i], 0.0);
    EXPECT_LE(seen[i], 100.0);
    partial = partial || (seen[i] > 0.0 && seen[i] < 100.0);
    if (i > 0) {
      EXPECT_GT(seen[i], seen[i - 1]);  // reported on change only, and DuckDB's value never drops
    }
  }
  EXPECT_TRUE(partial);
}

TEST_F(EngineTest, MultiThreadedEngineCancelsAndCounts) {
  EngineOptions options = Options();
  options.threads = 2;
  auto db = Open(options);
  ASSERT_NE(db, nullptr);
  auto conn = Connect(*db);
  ASSERT_NE(conn, nullptr);
  EXPECT_EQ(MustExecute(*conn, "SELECT current_setting('threads')").rows[0][0], "2");
  EXPECT_EQ(MustExecute(*conn, "SELECT count(*) FROM range(5000000)").rows[0][0], "5000000");
  ExecuteOptions stop;
  stop.deadline = steady_clock::now() + std::chrono::milliseconds(50);
  auto r =
      conn->Execute("SELECT count(*) FROM range(10000000000) a JOIN range(10) b ON a.range = b.range", stop);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), "deadline_exceeded");
  EXPECT_EQ(MustExecute(*conn, "SELECT 3").rows[0][0], "3");
}

TEST_F(EngineTest, ConfigurationIsApplied) {
  QueryResult r = MustExecute(
      *conn_,
      "SELECT current_setting('memory_limit'), current_setting('threads'), "
      "current_setting('autoload_known_extensions'), current_setting('autoinstall_known_extensions'), "
      "current_setting('enable_progress_bar'), current_setting('enable_progress_bar_print'), "
      "current_setting('temp_directory'), current_setting('preserve_insertion_order'), "
      "current_setting('TimeZone')");
  ASSERT_EQ(r.rows.size(), 1u);
  using Row = std::vector<std::optional<std::string>>;
  EXPECT_EQ(r.rows[0], (Row{"256.0 MiB", "1", "false", "false", "true", "false", Options().temp_directory,
                            "true", "UTC"}));
  EXPECT_TRUE(std::filesystem::is_directory(Options().temp_directory));
}

TEST_F(EngineTest, ConnectionsShareTheDatabase) {
  auto other = Connect(*db_);
  ASSERT_NE(other, nullptr);
  MustExecute(*conn_, "CREATE TABLE shared AS SELECT 1 AS x");
  EXPECT_EQ(MustExecute(*other, "SELECT x FROM shared").rows[0][0], "1");
  // A connection keeps the instance alive after the Database object is gone.
  db_.reset();
  EXPECT_EQ(MustExecute(*other, "SELECT x + 1 FROM shared").rows[0][0], "2");
}

TEST_F(EngineTest, RejectsInvalidOptionsAndStatements) {
  EngineOptions options = Options();
  options.temp_directory.clear();
  EXPECT_EQ(OpenDatabase(options).status().category(), ErrorCode::kInvalidArgument);
  options = Options();
  options.allowed_directories = {dir_.path().string()};  // without sandboxed
  EXPECT_FALSE(OpenDatabase(options).ok());
  options.sandboxed = true;
  options.allowed_directories = {"relative/dir"};
  EXPECT_FALSE(OpenDatabase(options).ok());

  auto two = conn_->Execute("SELECT 1; SELECT 2");
  ASSERT_FALSE(two.ok());
  EXPECT_EQ(two.status().code(), "engine_error");
  auto nul = conn_->Execute(std::string("SELECT 1\0; DROP TABLE x", 22));
  ASSERT_FALSE(nul.ok());
  EXPECT_EQ(nul.status().code(), "engine_error");
}

class SandboxTest : public EngineTest {
 protected:
  void SetUp() override {
    allowed_ = dir_.path() / "allowed";
    outside_ = dir_.path() / "outside";
    std::filesystem::create_directories(allowed_);
    std::filesystem::create_directories(outside_);
    for (const auto& d : {allowed_, outside_}) {
      std::ofstream(d / "data.csv") << "a,b\n1,x\n2,y\n";
    }
    EngineOptions options = Options();
    options.sandboxed = true;
    options.allowed_directories = {allowed_.string()};
    db_ = Open(options);
    ASSERT_NE(db_, nullptr);
    conn_ = Connect(*db_);
    ASSERT_NE(conn_, nullptr);
  }
  std::filesystem::path allowed_;
  std::filesystem::path outside_;
};

TEST_F(SandboxTest, ReadsOnlyInsideAllowedDirectories) {
  QueryResult inside = MustExecute(
      *conn_, "SELECT sum(a) FROM read_csv(" + QuoteLiteral((allowed_ / "data.csv").string()) + ")");
  EXPECT_EQ(inside.rows[0][0], "3");

  for (const std::string& path :
       {(outside_ / "data.csv").string(), (allowed_ / ".." / "outside" / "data.csv").string(),
        std::string("/etc/passwd")}) {
    auto r = conn_->Execute("SELECT * FROM read_csv(" + QuoteLiteral(path) + ")");
    ASSERT_FALSE(r.ok()) << path;
    EXPECT_EQ(r.status().code(), "engine_error");
    EXPECT_EQ(r.status().category(), ErrorCode::kPermissionDenied);
    EXPECT_EQ(r.status().details().at("error_type"), "Permission") << r.status().message();
  }
  auto write = conn_->Execute("COPY (SELECT 1) TO " + QuoteLiteral((outside_ / "out.csv").string()));
  ASSERT_FALSE(write.ok());
  EXPECT_FALSE(std::filesystem::exists(outside_ / "out.csv"));
}

TEST_F(SandboxTest, ConfigurationIsLocked) {
  for (const char* sql : {"SET memory_limit='1GB'", "SET enable_external_access=true",
                          "SET lock_configuration=false", "SET allowed_directories=['/']", "SET threads=8"}) {
    auto r = conn_->Execute(sql);
    ASSERT_FALSE(r.ok()) << sql;
    EXPECT_EQ(r.status().code(), "engine_error") << sql;
  }
  EXPECT_EQ(MustExecute(*conn_, "SELECT current_setting('memory_limit')").rows[0][0], "256.0 MiB");
  // Progress still works on connections made after the lock.
  EXPECT_EQ(MustExecute(*conn_, "SELECT current_setting('enable_progress_bar')").rows[0][0], "true");
  MustExecute(*conn_, "CREATE TABLE numbers AS SELECT range AS i FROM range(2000000)");
  ExecuteOptions options;
  int reports = 0;
  options.on_progress = [&](double) { ++reports; };
  ASSERT_TRUE(conn_->Execute("SELECT sum(i) FROM numbers", options).ok());
  EXPECT_GE(reports, 2);
}

TEST(QuotingTest, QuoteLiteral) {
  EXPECT_EQ(QuoteLiteral("it's"), "'it''s'");
  EXPECT_EQ(QuoteLiteral(""), "''");
  EXPECT_EQ(QuoteLiteral("''"), "''''''");
  EXPECT_EQ(QuoteLiteral("/tmp/a b/c.csv"), "'/tmp/a b/c.csv'");
}

TEST(QuotingTest, QuoteIdentifier) {
  EXPECT_EQ(QuoteIdentifier("a\"b"), "\"a\"\"b\"");
  EXPECT_EQ(QuoteIdentifier("plain"), "\"plain\"");
  EXPECT_EQ(QuoteIdentifier(""), "\"\"");
}

TEST_F(EngineTest, QuotedValuesRoundTrip) {
  const std::string tricky = "it's \"quoted\"; --";
  QueryResult r = MustExecute(*conn_, "SELECT " + QuoteLiteral(tricky) + " AS " + QuoteIdentifier(tricky));
  EXPECT_EQ(r.column_names[0], tricky);
  EXPECT_EQ(r.rows[0][0], tricky);
}

TEST(ScrubPathsTest, ReplacesEveryOccurrence) {
  EXPECT_EQ(ScrubPaths("IO Error: /data/t1/in.csv not found; /data/t1/in.csv again", {"/data/t1/in.csv"}),
            "IO Error: <file> not found; <file> again");
  EXPECT_EQ(ScrubPaths("a /x/y b /z c", {"/x/y", "/z"}, "?"), "a ? b ? c");
  EXPECT_EQ(ScrubPaths("no paths here", {"/x"}), "no paths here");
  EXPECT_EQ(ScrubPaths("empty path ignored", {""}), "empty path ignored");
}

TEST(ScrubPathsTest, LongerPathsWinAndReplacementIsNotRescanned) {
  EXPECT_EQ(ScrubPaths("file /data/in.csv in /data", {"/data", "/data/in.csv"}), "file <file> in <file>");
  EXPECT_EQ(ScrubPaths("x x", {"x"}, "xx"), "xx xx");
}

TEST_F(EngineTest, ErrorMessagesCanBeScrubbed) {
  const std::string missing = Path("secret-name.parquet");
  auto r = conn_->Execute("SELECT * FROM " + QuoteLiteral(missing));
  ASSERT_FALSE(r.ok());
  ASSERT_NE(r.status().message().find(missing), std::string::npos);
  std::string scrubbed = ScrubPaths(r.status().message(), {missing});
  EXPECT_EQ(scrubbed.find("secret-name"), std::string::npos) << scrubbed;
  EXPECT_NE(scrubbed.find("<file>"), std::string::npos);
}

}  // namespace
}  // namespace quarry::engine
