#include "policy/policy.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "common/testing/temp_dir.h"
#include "engine/engine.h"

namespace quarry::policy {
namespace {

const std::vector<Column> kColumns = {{"id", "BIGINT"},     {"region", "VARCHAR"}, {"org_id", "INTEGER"},
                                      {"email", "VARCHAR"}, {"amount", "DOUBLE"},  {"tags", "VARCHAR[]"}};

Result<Policy> Parse(const std::string& json) { return ParsePolicy(boost::json::parse(json), &kColumns); }

TEST(PolicyParse, RowPredicatesAreConditionsOnColumnsBoundToAttributes) {
  auto p = Parse(R"({"kind": "row", "predicate": "region = {{user.region}} and \"org_id\" IN {{ user.org_ids }}"})");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_EQ(p->conditions.size(), 2u);
  EXPECT_EQ(p->conditions[0].column, "region");
  EXPECT_EQ(p->conditions[0].op, "=");
  EXPECT_EQ(p->conditions[1].op, "in");
  EXPECT_EQ(p->conditions[1].attribute, "org_ids");
  EXPECT_EQ(p->applies_to, (std::vector<Role>{Role::kAnalyst, Role::kViewer})) << "the default";
  EXPECT_EQ(Parse(R"({"kind": "row", "predicate": "amount NOT IN {{user.x}} AND id <> {{user.y}}"})")->conditions[1].op, "!=");
}

TEST(PolicyParse, RefusesWhatIsNotAConditionWithAClearMessage) {
  for (const char* bad : {
           R"({"kind": "row", "predicate": "region = 'north'"})",                      // a literal
           R"({"kind": "row", "predicate": "region = {{user.region}} OR 1=1"})",       // OR
           R"({"kind": "row", "predicate": "region = {{user.region}}; DROP TABLE x"})",
           R"({"kind": "row", "predicate": "lower(region) = {{user.region}}"})",       // a function
           R"({"kind": "row", "predicate": "nope = {{user.region}}"})",                // unknown column
           R"({"kind": "row", "predicate": "tags = {{user.region}}"})",                // a list column
           R"({"kind": "row", "predicate": "region = {{user.Region}}"})",              // attribute name
           R"({"kind": "row", "predicate": "region = {{tenant.id}}"})",
           R"({"kind": "row", "predicate": ""})",
           R"({"kind": "column", "column": "nope", "action": "hide"})",
           R"({"kind": "column", "column": "email", "action": "encrypt"})",
           R"({"kind": "row", "predicate": "id = {{user.x}}", "applies_to": ["root"]})",
           R"({"kind": "row", "predicate": "id = {{user.x}}", "extra": 1})",
           R"({"kind": "everything"})",
       }) {
    auto p = Parse(bad);
    EXPECT_EQ(p.status().code(), "invalid_policy") << bad;
  }
  EXPECT_NE(Parse(R"({"kind": "row", "predicate": "nope = {{user.r}}"})").status().message().find("it has: id, region"),
            std::string::npos);
}

TEST(PolicyCompile, NoApplyingPolicyReadsEverything) {
  auto viewer_only = Parse(R"({"kind": "column", "column": "email", "action": "hide", "applies_to": ["viewer"]})");
  auto view = CompileView(kColumns, {*viewer_only}, Role::kAnalyst, "{}", "src");
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->select_sql, "SELECT * FROM src");
  EXPECT_FALSE(view->rows_restricted);
}

TEST(PolicyCompile, AttributeValuesAreBindingsNeverSqlText) {
  auto p = Parse(R"({"kind": "row", "predicate": "region = {{user.region}}"})");
  auto view = CompileView(kColumns, {*p}, Role::kViewer, R"({"region": "north'); DROP TABLE t; --"})", "src");
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->select_sql.find("DROP"), std::string::npos);
  ASSERT_EQ(view->bindings.size(), 1u);
  EXPECT_EQ(view->bindings[0].first, "quarry_attr_region");
  EXPECT_EQ(view->bindings[0].second, R"(["north'); DROP TABLE t; --"])");
  auto without = CompileView(kColumns, {*p}, Role::kViewer, "{}", "src");
  EXPECT_FALSE(without->bindings[0].second.has_value()) << "a missing attribute is reset, never left over";
}

TEST(PolicyCompile, TheStrongestColumnPolicyWinsAndAllHiddenIsRefused) {
  auto hash = Parse(R"({"kind": "column", "column": "email", "action": "hash"})");
  auto hide = Parse(R"({"kind": "column", "column": "email", "action": "hide"})");
  auto view = CompileView(kColumns, {*hash, *hide}, Role::kViewer, "{}", "src");
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->hidden_columns, std::vector<std::string>{"email"});
  EXPECT_EQ(view->select_sql.find("email"), std::string::npos);
  std::vector<Policy> all;
  for (const auto& c : kColumns) {
    all.push_back(*ParsePolicy(boost::json::parse(R"({"kind": "column", "action": "hide", "column": ")" + c.name + "\"}"),
                               &kColumns));
  }
  EXPECT_EQ(CompileView(kColumns, all, Role::kViewer, "{}", "src").status().code(), "no_visible_columns");
}

TEST(PolicyCompile, APolicyOnAColumnTheVersionLacksFailsClosed) {
  auto p = Parse(R"({"kind": "row", "predicate": "region = {{user.region}}"})");
  const std::vector<Column> replaced = {{"id", "BIGINT"}};
  EXPECT_EQ(CompileView(replaced, {*p}, Role::kViewer, "{}", "src").status().code(), "policy_invalid");
}

TEST(PolicyAttributes, ValidatesNamesValuesAndSizes) {
  EXPECT_TRUE(ValidateAttributes(boost::json::parse(R"({"region": "north", "org_ids": [1, 2], "vip": true})")).ok());
  for (const char* bad : {R"([1])", R"({"Region": "x"})", R"({"a": {"b": 1}})", R"({"a": [[1]]})", R"({"a": null})"}) {
    EXPECT_EQ(ValidateAttributes(boost::json::parse(bad)).code(), "invalid_attributes") << bad;
  }
}

// The compiled views on a real engine: the rows and columns each caller gets.
class PolicyEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    engine::EngineOptions options;
    options.temp_directory = (dir_.path() / "tmp").string();
    db_ = std::move(engine::OpenDatabase(options)).value();
    conn_ = std::move(db_->Connect()).value();
    ASSERT_TRUE(conn_->Execute("CREATE TABLE src AS SELECT * FROM (VALUES "
                               "(1, 'north', 10, 'a@x.io', 1.5, ['t']), (2, 'south', 20, 'b@x.io', 2.5, ['t']), "
                               "(3, 'north', 30, 'c@x.io', 3.5, ['u'])) t(id, region, org_id, email, amount, tags)")
                    .ok());
  }

  // The rows of `sql` over the dataset `d` as a caller with `attributes` sees it.
  std::vector<std::vector<std::optional<std::string>>> As(const std::vector<Policy>& policies,
                                                         const std::string& attributes, const std::string& sql) {
    auto view = CompileView(kColumns, policies, Role::kViewer, attributes, "src");
    EXPECT_TRUE(view.ok()) << view.status().ToString();
    EXPECT_TRUE(conn_->Execute("CREATE OR REPLACE TEMP VIEW d AS " + view->select_sql).ok());
    for (const auto& [variable, value] : view->bindings) {
      engine::ExecuteOptions bind;
      if (value) {
        bind.params.push_back({"", engine::Param::Kind::kText, false, 0, 0, *value});
        EXPECT_TRUE(conn_->Execute("SET VARIABLE " + variable +
                                       " = CAST(json_extract_string(CAST(? AS JSON), '$[*]') AS VARCHAR[])",
                                   bind)
                        .ok());
      } else {
        EXPECT_TRUE(conn_->Execute("RESET VARIABLE " + variable).ok());
      }
    }
    auto result = conn_->Execute(sql);
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    return result.ok() ? result->rows : decltype(result->rows){};
  }

  quarry::testing::TempDir dir_{"policy"};
  std::unique_ptr<engine::Database> db_;
  std::unique_ptr<engine::Connection> conn_;
};

TEST_F(PolicyEngineTest, RowsFollowTheCallersAttributes) {
  const auto region = *Parse(R"({"kind": "row", "predicate": "region = {{user.region}}"})");
  const auto orgs = *Parse(R"({"kind": "row", "predicate": "org_id IN {{user.org_ids}}"})");
  EXPECT_EQ(As({region}, R"({"region": "north"})", "SELECT count(*) FROM d")[0][0], "2");
  EXPECT_EQ(As({region}, R"({"region": "south"})", "SELECT count(*) FROM d")[0][0], "1");
  EXPECT_EQ(As({region}, R"({})", "SELECT count(*) FROM d")[0][0], "0") << "a missing attribute matches nothing";
  EXPECT_EQ(As({region}, R"({"region": ["north", "south"]})", "SELECT count(*) FROM d")[0][0], "0")
      << "= with several values matches nothing (use IN)";
  EXPECT_EQ(As({orgs}, R"({"org_ids": [10, 30]})", "SELECT string_agg(id::VARCHAR, ',' ORDER BY id) FROM d")[0][0], "1,3");
  EXPECT_EQ(As({orgs}, R"({"org_ids": ["x"]})", "SELECT count(*) FROM d")[0][0], "0") << "values that do not cast";
  const auto not_in = *Parse(R"({"kind": "row", "predicate": "org_id NOT IN {{user.org_ids}}"})");
  EXPECT_EQ(As({not_in}, R"({"org_ids": [10]})", "SELECT count(*) FROM d")[0][0], "2");
  EXPECT_EQ(As({not_in}, R"({"org_ids": ["x"]})", "SELECT count(*) FROM d")[0][0], "0")
      << "a value that does not convert must not widen NOT IN (found in review)";
  EXPECT_EQ(As({not_in}, R"({"org_ids": [10, "x"]})", "SELECT count(*) FROM d")[0][0], "0");
  EXPECT_EQ(As({not_in}, R"({})", "SELECT count(*) FROM d")[0][0], "0");
  // Several policies: a row visible under any.
  EXPECT_EQ(As({region, orgs}, R"({"region": "south", "org_ids": [10]})", "SELECT count(*) FROM d")[0][0], "2");
  const auto required = *Parse(R"({"kind": "row_required"})");
  EXPECT_EQ(As({required}, R"({"region": "north"})", "SELECT count(*) FROM d")[0][0], "0");
}

TEST_F(PolicyEngineTest, MaskedAndHiddenColumnsUnderStarAndExpressions) {
  const auto hide = *Parse(R"({"kind": "column", "column": "email", "action": "hide"})");
  const auto redact = *Parse(R"({"kind": "column", "column": "amount", "action": "redact"})");
  const auto hash = *Parse(R"({"kind": "column", "column": "region", "action": "hash"})");
  auto star = As({hide, redact, hash}, "{}", "SELECT * FROM d ORDER BY id LIMIT 1");
  ASSERT_EQ(star[0].size(), 5u) << "email is not there";
  EXPECT_EQ(star[0][3], "[redacted]");
  EXPECT_EQ(star[0][1]->size(), 64u) << "a SHA-256 in hex";
  EXPECT_FALSE(conn_->Execute("SELECT email FROM d").ok());
  EXPECT_FALSE(conn_->Execute("SELECT count(*) FROM d WHERE email LIKE 'a%'").ok());
  EXPECT_EQ(As({hide}, "{}", "SELECT count(*) FROM (DESCRIBE d) WHERE column_name = 'email'")[0][0], "0");
}

}  // namespace
}  // namespace quarry::policy
