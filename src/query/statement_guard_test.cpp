// The statement guard (layer 1 of the query sandbox) on hostile and ordinary SQL. Each hostile
// case asserts the denial and its code; the engine-level sandbox (layer 2) has its own tests.
#include "query/statement_guard.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "common/testing/temp_dir.h"

namespace quarry::query {
namespace {

class StatementGuardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    GuardOptions options;
    options.temp_directory = (temp_.path() / "tmp").string();
    auto guard = OpenStatementGuard(options);
    ASSERT_TRUE(guard.ok()) << guard.status().ToString();
    guard_ = std::move(guard).value();
  }

  Result<CheckedStatement> Check(const std::string& sql) {
    return guard_->Check(sql, [this](const std::string& name) { return datasets_.count(name) > 0; });
  }

  testing::TempDir temp_{"guard"};
  std::unique_ptr<StatementGuard> guard_;
  std::set<std::string> datasets_ = {"orders", "customers"};
};

struct Allowed {
  std::string sql;
  std::vector<std::string> datasets;
};

TEST_F(StatementGuardTest, ReadOnlyQueriesPassAndNameTheDatasetsTheyRead) {
  const std::vector<Allowed> cases = {
      {"SELECT 1", {}},
      {"select * from orders", {"orders"}},
      {"FROM orders", {"orders"}},
      {"SELECT o.id FROM Orders o JOIN customers c ON o.cid = c.id", {"orders", "customers"}},
      {"WITH t AS (SELECT * FROM orders) SELECT count(*) FROM t", {"orders"}},
      {"WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r", {}},
      {"SELECT * FROM orders WHERE id IN (SELECT id FROM customers)", {"orders", "customers"}},
      {"SELECT 1 UNION SELECT 2 EXCEPT SELECT 3", {}},
      {"VALUES (1, 'a'), (2, 'b')", {}},
      {"SELECT * FROM range(10)", {}},
      {"SELECT * FROM generate_series(1, 3)", {}},
      {"SELECT unnest([1, 2, 3])", {}},
      {"SELECT * FROM orders o, LATERAL (SELECT o.id + 1)", {"orders"}},
      {"SELECT sum(x) OVER (PARTITION BY y ORDER BY z) FROM orders", {"orders"}},
      {"DESCRIBE orders", {"orders"}},
      {"SUMMARIZE SELECT * FROM customers", {"customers"}},
      {"EXPLAIN SELECT * FROM orders", {"orders"}},
      {"explain analyze SELECT count(*) FROM orders", {"orders"}},
      {"SELECT $1::INTEGER, ?", {}},
      {"-- a comment\n/* another */ SELECT 1;", {}},
      {"SELECT 'read_csv(''/etc/passwd'')' AS just_text", {}},
      {"SELECT * FROM orders PIVOT (sum(amount) FOR region IN ('eu', 'us'))", {"orders"}},
  };
  for (const auto& c : cases) {
    auto checked = Check(c.sql);
    ASSERT_TRUE(checked.ok()) << c.sql << ": " << checked.status().ToString();
    EXPECT_EQ(checked->datasets, c.datasets) << c.sql;
  }
  EXPECT_EQ(Check("  explain   SELECT 1")->sql, "EXPLAIN SELECT 1");
  EXPECT_EQ(Check("SELECT 1 ; -- done\n/* really */ ")->sql, "SELECT 1 ; -- done\n/* really */ ");
  EXPECT_EQ(Check("SELECT 1 ; -- done\n/* really */ ")->embeddable_sql, "SELECT 1");
  EXPECT_EQ(Check("SELECT ';' AS s, \"a;\" AS t; ")->embeddable_sql, "SELECT ';' AS s, \"a;\" AS t");
  EXPECT_EQ(Check("SELECT $$x; -- y$$ AS d;")->embeddable_sql, "SELECT $$x; -- y$$ AS d");
  EXPECT_EQ(Check("SELECT $1::INT -- the value")->embeddable_sql, "SELECT $1::INT");
  EXPECT_EQ(Check("EXPLAIN ANALYSE SELECT 1")->sql, "EXPLAIN ANALYZE SELECT 1");
}

struct Denied {
  std::string sql;
  std::string code;  // sql_not_allowed unless said otherwise
};

TEST_F(StatementGuardTest, HostileStatementsAreDenied) {
  const std::vector<Denied> cases = {
      // file readers, paths and globs
      {"SELECT * FROM read_csv('/etc/passwd')", "sql_not_allowed"},
      {"SELECT * FROM read_csv_auto('../../secrets/demo.key')", "sql_not_allowed"},
      {"SELECT * FROM read_parquet('/var/lib/quarry/storage/tenants/*/datasets/*/*/*.parquet')", "sql_not_allowed"},
      {"SELECT * FROM read_json('data/other.json')", "sql_not_allowed"},
      {"SELECT * FROM read_text('/proc/self/environ')", "sql_not_allowed"},
      {"SELECT * FROM read_blob('/etc/shadow')", "sql_not_allowed"},
      {"SELECT * FROM glob('/**')", "sql_not_allowed"},
      {"SELECT * FROM parquet_metadata('x.parquet')", "sql_not_allowed"},
      {"SELECT * FROM parquet_schema('x.parquet')", "sql_not_allowed"},
      {"SELECT * FROM sniff_csv('/etc/passwd')", "sql_not_allowed"},
      {"FROM '/etc/passwd'", "sql_not_allowed"},
      {"SELECT * FROM 'data.csv'", "sql_not_allowed"},
      {"SELECT * FROM \"../x.parquet\"", "sql_not_allowed"},
      {"SELECT * FROM 's3://bucket/key.parquet'", "sql_not_allowed"},
      {"SELECT * FROM orders JOIN '/tmp/x.csv' USING (id)", "sql_not_allowed"},
      {"SELECT * FROM (SELECT * FROM read_csv('/etc/hosts'))", "sql_not_allowed"},
      {"WITH t AS (SELECT * FROM read_csv('/etc/hosts')) SELECT * FROM t", "sql_not_allowed"},
      {"SELECT (SELECT count(*) FROM read_csv('/etc/hosts'))", "sql_not_allowed"},
      {"SELECT * FROM query('SELECT 1')", "sql_not_allowed"},
      {"SELECT * FROM query_table('orders')", "sql_not_allowed"},
      // statements that are not queries
      {"ATTACH '/tmp/evil.db' AS evil", "sql_not_allowed"},
      {"DETACH evil", "sql_not_allowed"},
      {"COPY orders TO '/tmp/out.csv'", "sql_not_allowed"},
      {"COPY (SELECT 1) TO '/var/lib/quarry/storage/x.parquet'", "sql_not_allowed"},
      {"EXPORT DATABASE '/tmp/dump'", "sql_not_allowed"},
      {"IMPORT DATABASE '/tmp/dump'", "sql_not_allowed"},
      {"INSTALL httpfs", "sql_not_allowed"},
      {"LOAD httpfs", "sql_not_allowed"},
      {"SET enable_external_access = true", "sql_not_allowed"},
      {"SET allowed_directories = ['/']", "sql_not_allowed"},
      {"RESET memory_limit", "sql_not_allowed"},
      {"PRAGMA enable_profiling", "sql_not_allowed"},
      {"PRAGMA database_list", "sql_not_allowed"},
      {"CALL enable_logging()", "sql_not_allowed"},
      {"CREATE TABLE t AS SELECT 1", "sql_not_allowed"},
      {"CREATE VIEW orders2 AS SELECT * FROM orders", "sql_not_allowed"},
      {"CREATE MACRO m() AS getenv('HOME')", "sql_not_allowed"},
      {"CREATE SECRET (TYPE s3, KEY_ID 'x', SECRET 'y')", "sql_not_allowed"},
      {"INSERT INTO orders VALUES (1)", "sql_not_allowed"},
      {"UPDATE orders SET id = 1", "sql_not_allowed"},
      {"DELETE FROM orders", "sql_not_allowed"},
      {"DROP TABLE orders", "sql_not_allowed"},
      {"ALTER TABLE orders ADD COLUMN x INT", "sql_not_allowed"},
      {"CHECKPOINT", "sql_not_allowed"},
      {"USE evil", "sql_not_allowed"},
      {"SELECT 1; DROP TABLE orders", "sql_not_allowed"},
      {"SELECT 1; SELECT 2", "sql_not_allowed"},
      {"EXPLAIN COPY orders TO '/tmp/x.csv'", "sql_not_allowed"},
      // environment, settings and catalog
      {"SELECT getenv('HOME')", "sql_not_allowed"},
      {"SELECT current_setting('temp_directory')", "sql_not_allowed"},
      {"SELECT * FROM duckdb_settings()", "sql_not_allowed"},
      {"SELECT * FROM duckdb_views()", "sql_not_allowed"},
      {"SELECT * FROM duckdb_extensions()", "sql_not_allowed"},
      {"SELECT * FROM duckdb_secrets()", "sql_not_allowed"},
      {"SELECT * FROM pragma_database_list()", "sql_not_allowed"},
      {"SELECT * FROM enable_logging()", "sql_not_allowed"},
      {"SELECT pg_get_viewdef('orders')", "sql_not_allowed"},
      {"SELECT which_secret('s3://x', 's3')", "sql_not_allowed"},
      {"SELECT main.getenv('HOME')", "sql_not_allowed"},
      {"SELECT * FROM information_schema.tables", "sql_not_allowed"},
      {"SELECT * FROM pg_catalog.pg_class", "sql_not_allowed"},
      {"SELECT * FROM memory.main.orders", "sql_not_allowed"},
      {"SELECT * FROM temp.main.orders", "sql_not_allowed"},
      {"SHOW TABLES", "sql_not_allowed"},
      {"SHOW ALL TABLES", "sql_not_allowed"},
      {"SELECT * FROM orders AT (VERSION => 1)", "sql_not_allowed"},
      // names that are not the caller's datasets
      {"SELECT * FROM duckdb_settings", "unknown_relation"},
      {"SELECT * FROM sqlite_master", "unknown_relation"},
      {"SELECT * FROM other_tenants_orders", "unknown_relation"},
      {"WITH t AS (SELECT 1) SELECT * FROM (SELECT * FROM u)", "unknown_relation"},
      // a CTE defined in one subquery does not cover a reference elsewhere
      {"SELECT * FROM (WITH secret AS (SELECT 1) SELECT * FROM secret), secret", "unknown_relation"},
      {"WITH \"x.csv\" AS (SELECT 1) SELECT * FROM \"x.csv\"", "sql_not_allowed"},
      // malformed or oversized text
      {"", "sql_empty"},
      {"  -- only a comment", "sql_empty"},
      {"SELEC 1", "sql_syntax_error"},
      {"SELECT * FROM", "sql_syntax_error"},
      {"SELECT " + std::string(200'000, '1'), "sql_too_large"},
  };
  for (const auto& c : cases) {
    auto checked = Check(c.sql);
    ASSERT_FALSE(checked.ok()) << c.sql.substr(0, 100) << " passed the guard";
    EXPECT_EQ(checked.status().code(), c.code) << c.sql.substr(0, 100) << ": " << checked.status().ToString();
  }
  EXPECT_GE(cases.size(), 60u);
}

TEST_F(StatementGuardTest, DenialsNameTheConstructAndItsPosition) {
  auto denied = Check("SELECT 1 FROM orders, read_csv('/etc/passwd')");
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.status().category(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(denied.status().details().at("construct"), "table function read_csv");
  EXPECT_EQ(denied.status().details().at("position"), "22");
  EXPECT_NE(denied.status().message().find("read_csv"), std::string::npos);

  // Offsets count from the start of the text, EXPLAIN and comments included.
  auto explained = Check("EXPLAIN SELECT getenv('HOME')");
  ASSERT_FALSE(explained.ok());
  EXPECT_EQ(explained.status().details().at("position"), "15");

  auto copy = Check("  COPY orders TO 'x.csv'");
  ASSERT_FALSE(copy.ok());
  EXPECT_EQ(copy.status().details().at("construct"), "COPY");

  auto syntax = Check("SELECT * FROM orders WHERE");
  ASSERT_FALSE(syntax.ok());
  EXPECT_EQ(syntax.status().category(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(syntax.status().details().count("position"));
}

TEST_F(StatementGuardTest, DeeplyNestedQueriesFailCleanly) {
  for (int depth : {500, 3'000, 20'000}) {
    const std::string sql = "SELECT " + std::string(depth, '(') + "1" + std::string(depth, ')');
    auto checked = Check(sql);
    if (checked.ok()) continue;  // shallow enough to pass: fine
    EXPECT_TRUE(checked.status().code() == "sql_too_complex" || checked.status().code() == "sql_syntax_error")
        << depth << ": " << checked.status().ToString();
  }
  std::string chain = "SELECT 1";
  for (int i = 0; i < 5'000; ++i) chain += " + 1";
  auto long_chain = Check(chain);
  if (!long_chain.ok()) {
    EXPECT_EQ(long_chain.status().code(), "sql_too_complex");
  }
}

TEST_F(StatementGuardTest, NormalizedFormIgnoresSpacingCommentsAndCaseButNotValues) {
  auto a = Check("SELECT region, count(*) FROM orders WHERE x = 'a  b' GROUP BY region");
  auto b = Check("select  region,\n  COUNT(*)  -- per region\n from ORDERS where x = 'a  b' GROUP by region");
  auto c = Check("SELECT region, count(*) FROM orders WHERE x = 'a b' GROUP BY region");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->normalized, b->normalized);
  EXPECT_NE(a->normalized, c->normalized) << "string literals are values, not spacing";
  EXPECT_NE(Check("EXPLAIN SELECT 1")->normalized, Check("SELECT 1")->normalized);
}

TEST_F(StatementGuardTest, VolatileStatementsAreMarked) {
  EXPECT_TRUE(Check("SELECT count(*) FROM orders")->deterministic);
  for (const char* sql : {"SELECT random()", "SELECT now()", "SELECT current_date", "SELECT gen_random_uuid()",
                          "SELECT * FROM orders USING SAMPLE 10%", "SELECT * FROM orders TABLESAMPLE 5%",
                          "EXPLAIN ANALYZE SELECT 1"}) {
    auto checked = Check(sql);
    ASSERT_TRUE(checked.ok()) << sql << ": " << checked.status().ToString();
    EXPECT_FALSE(checked->deterministic) << sql;
  }
}

TEST_F(StatementGuardTest, ConcurrentChecksAgree) {
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        if (!Check("SELECT * FROM orders").ok()) ++wrong;
        if (Check("SELECT getenv('HOME')").ok()) ++wrong;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace quarry::query
