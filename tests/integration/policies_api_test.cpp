// Row and column policies through the real server: two analysts with different attributes run
// the same SQL in every shape (plain, joins, subqueries, CTEs, set operations, windows, lateral
// joins, aggregates, previews, DESCRIBE) and get exactly their own rows and allowed columns;
// bypass attempts fail closed; the registry shows each caller only what they may see.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <chrono>

#include "harness.h"

namespace quarry::testing {
namespace {

using namespace std::chrono_literals;

boost::json::value Json(const HttpResult& r) { return boost::json::parse(r.body); }
std::string Str(const boost::json::value& v) { return std::string(v.as_string()); }

class PoliciesApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new QuarryServer({"--set", "query.cache_bytes=16MiB"});
    ASSERT_TRUE(server_->started());
    owner_ = server_->demo_key();
    Upload("sales",
           "id,region,org_id,email,amount\n"
           "1,north,10,a@x.io,100\n2,south,20,b@x.io,200\n3,north,30,c@x.io,300\n"
           "4,south,10,d@x.io,400\n5,east,20,e@x.io,500\n");
    Upload("regions", "region,manager\nnorth,Nora\nsouth,Sam\neast,Eve\n");
    alice_ = Member("alice@demo.io", "analyst", R"({"region": "north", "org_ids": [10, 30]})");
    bob_ = Member("bob@demo.io", "analyst", R"({"region": "south"})");
    carol_ = Member("carol@demo.io", "viewer", "{}");  // no attributes: sees nothing of sales
    AddPolicy("sales", R"({"kind": "row", "predicate": "region = {{user.region}}"})");
    AddPolicy("sales", R"({"kind": "column", "column": "email", "action": "hash"})");
    AddPolicy("sales", R"({"kind": "column", "column": "org_id", "action": "hide", "applies_to": ["viewer"]})");
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  static void Upload(const std::string& name, const std::string& csv) {
    auto r = server_->Request("PUT", "/v1/datasets/" + name + "/data", owner_, csv);
    ASSERT_EQ(r.status, 202) << r.body;
    ASSERT_EQ(server_->WaitForJob(owner_, Str(Json(r).at("id"))), "succeeded");
  }
  // A user with `role` and `attributes`, and a key of theirs.
  static std::string Member(const std::string& email, const std::string& role, const std::string& attributes) {
    auto user = server_->Request("POST", "/v1/users", owner_, R"({"email":")" + email + R"(","role":")" + role + R"("})");
    EXPECT_EQ(user.status, 201) << user.body;
    const std::string id = Str(Json(user).at("id"));
    auto set = server_->Request("PUT", "/v1/users/" + id + "/attributes", owner_, attributes);
    EXPECT_EQ(set.status, 200) << set.body;
    auto key = server_->Request("POST", "/v1/keys", owner_, R"({"name":"k","user_id":")" + id + R"("})");
    EXPECT_EQ(key.status, 201) << key.body;
    return Str(Json(key).at("secret"));
  }
  static std::string AddPolicy(const std::string& dataset, const std::string& definition) {
    auto r = server_->Request("POST", "/v1/datasets/" + dataset + "/policies", owner_, definition);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.status == 201 ? Str(Json(r).at("id")) : "";
  }
  static HttpResult Sql(const std::string& key, const std::string& sql) {
    return server_->Request("POST", "/v1/query", key, boost::json::serialize(boost::json::object{{"sql", sql}}));
  }
  // The rows of `sql` for `key`, each row's values joined by ',' and rows by ';'.
  static std::string Rows(const std::string& key, const std::string& sql) {
    auto r = Sql(key, sql);
    EXPECT_EQ(r.status, 200) << sql << ": " << r.body;
    if (r.status != 200) return "<" + std::to_string(r.status) + ">";
    std::string out;
    const boost::json::value answer = Json(r);
    for (const auto& row : answer.at("rows").as_array()) {
      if (!out.empty()) out += ";";
      std::string line;
      for (const auto& v : row.as_array()) {
        if (!line.empty()) line += ",";
        line += v.is_string() ? Str(v) : boost::json::serialize(v);
      }
      out += line;
    }
    return out;
  }

  static QuarryServer* server_;
  static std::string owner_, alice_, bob_, carol_;
};

QuarryServer* PoliciesApi::server_ = nullptr;
std::string PoliciesApi::owner_, PoliciesApi::alice_, PoliciesApi::bob_, PoliciesApi::carol_;

TEST_F(PoliciesApi, EachCallerGetsExactlyTheirRowsWhateverTheShapeOfTheQuery) {
  struct Case {
    const char* sql;
    const char* alice;
    const char* bob;
  };
  const Case cases[] = {
      {"SELECT id FROM sales ORDER BY id", "1;3", "2;4"},
      {"FROM sales SELECT id ORDER BY id", "1;3", "2;4"},
      {"SELECT count(*), sum(amount) FROM sales", "2,400", "2,600"},
      {"SELECT s.id, r.manager FROM sales s JOIN regions r USING (region) ORDER BY 1", "1,Nora;3,Nora", "2,Sam;4,Sam"},
      {"SELECT r.region, count(s.id) FROM regions r LEFT JOIN sales s ON s.region = r.region GROUP BY 1 ORDER BY 1",
       "east,0;north,2;south,0", "east,0;north,0;south,2"},
      {"SELECT id FROM sales WHERE id IN (SELECT id FROM sales WHERE amount > 0) ORDER BY id", "1;3", "2;4"},
      {"SELECT (SELECT max(id) FROM sales)", "3", "4"},
      {"WITH x AS (SELECT * FROM sales) SELECT count(*) FROM x", "2", "2"},
      {"WITH RECURSIVE r(n) AS (SELECT min(id) FROM sales UNION ALL SELECT n + 1 FROM r "
       "WHERE n < (SELECT max(id) FROM sales)) SELECT sum(n) FROM r",
       "6", "9"},
      {"SELECT id FROM sales UNION SELECT id + 100 FROM sales ORDER BY 1", "1;3;101;103", "2;4;102;104"},
      {"SELECT 9 EXCEPT SELECT id FROM sales", "9", "9"},
      {"SELECT id, row_number() OVER (ORDER BY amount DESC) FROM sales ORDER BY id", "1,2;3,1", "2,2;4,1"},
      {"SELECT r.region, l.n FROM regions r, LATERAL (SELECT count(*) AS n FROM sales s WHERE s.region = r.region) l "
       "ORDER BY 1",
       "east,0;north,2;south,0", "east,0;north,0;south,2"},
      {"SELECT count(*) FROM sales a, sales b", "4", "4"},
      {"SELECT count(*) FROM (SELECT * FROM (SELECT * FROM sales) t1) t2", "2", "2"},
      {"SELECT DISTINCT region FROM sales", "north", "south"},
      {"SELECT count(*) FROM sales AS \"SALES\" WHERE \"SALES\".region <> 'nowhere'", "2", "2"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Rows(alice_, c.sql), c.alice) << c.sql;
    EXPECT_EQ(Rows(bob_, c.sql), c.bob) << c.sql;
  }
  // The owner is not covered by the policies (default: analysts and viewers).
  EXPECT_EQ(Rows(owner_, "SELECT count(*) FROM sales"), "5");
  // No attribute: no rows, never everything.
  EXPECT_EQ(Rows(carol_, "SELECT count(*) FROM sales"), "0");
}

TEST_F(PoliciesApi, CachedAnswersAreNeverSharedAcrossCallersWhoSeeDifferentRows) {
  const std::string sql = "SELECT sum(amount) FROM sales";
  EXPECT_EQ(Rows(alice_, sql), "400");
  EXPECT_EQ(Rows(bob_, sql), "600");
  EXPECT_EQ(Rows(alice_, sql), "400");
  EXPECT_EQ(Rows(owner_, sql), "1500");
}

TEST_F(PoliciesApi, BypassAttemptsFailClosed) {
  for (const char* sql : {
           "SELECT * FROM read_parquet('*.parquet')",
           "SELECT getvariable('quarry_attr_region')",
           "SET VARIABLE quarry_attr_region = ['south']",
           "SELECT * FROM memory.temp.sales",
           "SELECT * FROM temp.sales",
           "SELECT * FROM duckdb_views()",
           "SELECT current_setting('enable_external_access')",
           "RESET VARIABLE quarry_attr_region",
           "CREATE OR REPLACE TEMP VIEW sales AS SELECT 1",
       }) {
    auto r = Sql(alice_, sql);
    EXPECT_TRUE(r.status == 403 || r.status == 400 || r.status == 404) << sql << ": " << r.status << " " << r.body;
  }
  // A CTE named like a dataset would, inside its own body, read the catalog's view: the one an
  // earlier query of another caller left on the pooled connection (found in review). Refused.
  EXPECT_EQ(Rows(owner_, "SELECT count(*) FROM sales"), "5");
  auto shadow = Sql(alice_, "WITH sales AS (SELECT * FROM sales) SELECT count(*) FROM sales");
  EXPECT_EQ(shadow.status, 403) << shadow.body;
  EXPECT_NE(shadow.body.find("also a dataset"), std::string::npos);
  // A dataset deleted after its view was made: its name as a CTE reads nothing left over.
  Upload("gone", "id,region\n1,north\n");
  EXPECT_EQ(Rows(owner_, "SELECT count(*) FROM gone"), "1");
  ASSERT_EQ(server_->Request("DELETE", "/v1/datasets/gone", owner_).status, 204);
  for (int i = 0; i < 4; ++i) {  // whichever pooled connection holds the old view
    EXPECT_NE(Sql(alice_, "WITH gone AS (SELECT * FROM gone) SELECT count(*) FROM gone").status, 200);
  }
  EXPECT_EQ(Rows(alice_, "WITH gone AS (SELECT 7 AS a) SELECT a FROM gone"), "7");
  // error() could raise from rows the policy has not filtered yet; engine messages are withheld.
  EXPECT_EQ(Sql(alice_, "SELECT error(region) FROM sales").status, 403);
  auto failed = Sql(alice_, "SELECT CAST(region AS INTEGER) FROM sales");
  EXPECT_EQ(failed.status, 400);
  EXPECT_NE(failed.body.find("withheld"), std::string::npos) << failed.body;
  EXPECT_EQ(failed.body.find("south"), std::string::npos) << failed.body;
  EXPECT_EQ(failed.body.find("north"), std::string::npos) << failed.body;
  // Pinning another version or naming the dataset another way reads the same view.
  EXPECT_EQ(Rows(alice_, "SELECT count(*) FROM SALES"), "2");
  // Attribute values are data, never SQL: a hostile value matches nothing and runs nothing.
  const std::string mallory = Member("mallory@demo.io", "analyst", R"({"region": "x' OR '1'='1"})");
  EXPECT_EQ(Rows(mallory, "SELECT count(*) FROM sales"), "0");
  EXPECT_EQ(Rows(owner_, "SELECT count(*) FROM sales"), "5");
}

TEST_F(PoliciesApi, ColumnPoliciesHoldUnderStarDescribeAndExpressions) {
  // email is hashed for analysts: the same value hashes alike, so equality still works.
  auto star = Json(Sql(alice_, "SELECT * FROM sales ORDER BY id LIMIT 1"));
  ASSERT_EQ(star.at("columns").as_array().size(), 5u);
  EXPECT_EQ(Str(star.at("rows").at(0).at(3)).size(), 64u);
  EXPECT_NE(Str(star.at("rows").at(0).at(3)), "a@x.io");
  EXPECT_EQ(Rows(alice_, "SELECT count(*) FROM sales WHERE email = 'a@x.io'"), "0");
  // org_id is hidden from viewers: not in *, not in DESCRIBE, an error when named.
  const std::string viewer = Member("vera@demo.io", "viewer", R"({"region": "north"})");
  auto viewer_star = Json(Sql(viewer, "SELECT * FROM sales ORDER BY id"));
  for (const auto& c : viewer_star.at("columns").as_array()) EXPECT_NE(Str(c.at("name")), "org_id");
  EXPECT_EQ(viewer_star.at("rows").as_array().size(), 2u);
  EXPECT_EQ(Rows(viewer, "SELECT count(*) FROM (DESCRIBE sales) WHERE column_name = 'org_id'"), "0");
  for (const char* sql : {"SELECT org_id FROM sales", "SELECT sum(org_id) FROM sales",
                          "SELECT count(*) FROM sales WHERE org_id = 10", "SELECT sales.org_id FROM sales"}) {
    EXPECT_NE(Sql(viewer, sql).status, 200) << sql;
  }
  auto schema = Json(server_->Request("GET", "/v1/datasets/sales/schema", viewer));
  EXPECT_EQ(schema.at("columns").as_array().size(), 4u) << boost::json::serialize(schema);
  auto preview = Json(server_->Request("GET", "/v1/datasets/sales/preview", viewer));
  EXPECT_EQ(preview.at("rows").as_array().size(), 2u);
}

TEST_F(PoliciesApi, TheRegistryShowsCallersOnlyWhatTheyMaySee) {
  auto mine = Json(server_->Request("GET", "/v1/datasets/sales", alice_));
  EXPECT_TRUE(mine.at("row_count").is_null());
  EXPECT_EQ(mine.at("rows_restricted"), true);
  EXPECT_TRUE(mine.at("stats").as_array().empty()) << "statistics span rows the caller cannot see";
  for (const auto& c : mine.at("schema").as_array()) {
    if (Str(c.at("name")) == "email") {
      EXPECT_EQ(Str(c.at("type")), "VARCHAR");
    }
  }
  auto full = Json(server_->Request("GET", "/v1/datasets/sales", owner_));
  EXPECT_EQ(full.at("row_count"), 5);
  EXPECT_EQ(full.at("rows_restricted"), false);
  auto list = Json(server_->Request("GET", "/v1/datasets", alice_));
  for (const auto& d : list.at("items").as_array()) {
    if (Str(d.at("name")) == "sales") {
      EXPECT_TRUE(d.at("row_count").is_null());
    } else if (Str(d.at("name")) == "regions") {
      EXPECT_EQ(d.at("row_count"), 3);
    }
  }
}

TEST_F(PoliciesApi, ManagingPoliciesAndAttributesIsForAdminsAndTakesEffectAtOnce) {
  EXPECT_EQ(server_->Request("POST", "/v1/datasets/regions/policies", alice_, R"({"kind": "row_required"})").status, 403);
  EXPECT_EQ(server_->Request("GET", "/v1/datasets/sales/policies", bob_).status, 403);
  auto me = Json(server_->Request("GET", "/v1/me", bob_));
  const std::string bob_id = Str(me.at("user").at("id"));
  EXPECT_EQ(server_->Request("PUT", "/v1/users/" + bob_id + "/attributes", bob_, R"({"region": "north"})").status, 403)
      << "users cannot set their own attributes";
  auto own = Json(server_->Request("GET", "/v1/users/" + bob_id + "/attributes", bob_));
  EXPECT_EQ(Str(own.at("attributes").at("region")), "south");
  // Bad definitions are refused with the reason.
  auto bad = server_->Request("POST", "/v1/datasets/regions/policies", owner_,
                              R"({"kind": "row", "predicate": "region = 'north' OR 1=1"})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("invalid_policy"), std::string::npos);
  EXPECT_EQ(server_->Request("PUT", "/v1/users/" + bob_id + "/attributes", owner_, R"({"Region": 1})").status, 400);

  // row_required on regions: analysts see none of it until a row policy applies to them.
  const std::string required = AddPolicy("regions", R"({"kind": "row_required"})");
  EXPECT_EQ(Rows(alice_, "SELECT count(*) FROM regions"), "0");
  const std::string mine = AddPolicy("regions", R"({"kind": "row", "predicate": "region = {{user.region}}"})");
  EXPECT_EQ(Rows(alice_, "SELECT manager FROM regions"), "Nora");
  EXPECT_EQ(Rows(bob_, "SELECT manager FROM regions"), "Sam");
  auto listed = Json(server_->Request("GET", "/v1/datasets/regions/policies", owner_));
  EXPECT_EQ(listed.at("items").as_array().size(), 2u);
  // Removing them takes effect on the next request.
  EXPECT_EQ(server_->Request("DELETE", "/v1/datasets/regions/policies/" + mine, owner_).status, 204);
  EXPECT_EQ(server_->Request("DELETE", "/v1/datasets/regions/policies/" + required, owner_).status, 204);
  EXPECT_EQ(server_->Request("DELETE", "/v1/datasets/regions/policies/" + required, owner_).status, 404);
  EXPECT_EQ(Rows(alice_, "SELECT count(*) FROM regions"), "3");
  // A changed attribute applies on the user's next request.
  ASSERT_EQ(server_->Request("PUT", "/v1/users/" + bob_id + "/attributes", owner_, R"({"region": "east"})").status, 200);
  const auto end = std::chrono::steady_clock::now() + 10s;  // the key cache refreshes within auth.cache_refresh
  std::string rows;
  while (std::chrono::steady_clock::now() < end && rows != "5") rows = Rows(bob_, "SELECT id FROM sales");
  EXPECT_EQ(rows, "5");
  ASSERT_EQ(server_->Request("PUT", "/v1/users/" + bob_id + "/attributes", owner_, R"({"region": "south"})").status, 200);
}

TEST_F(PoliciesApi, PoliciesApplyToTheGroupsTheyNameFromTheNextRequest) {
  const std::string bob_id = Str(Json(server_->Request("GET", "/v1/me", bob_)).at("user").at("id"));
  auto group = server_->Request("POST", "/v1/groups", owner_, R"({"name":"contractors"})");
  ASSERT_EQ(group.status, 201) << group.body;
  const std::string group_id = Str(Json(group).at("id"));
  // Applies to the group only (not to a role): the manager column is hidden from its members.
  const std::string hide =
      AddPolicy("regions", R"({"kind": "column", "column": "manager", "action": "hide", "applies_to": [")" + group_id +
                               R"("]})");
  auto listed = Json(server_->Request("GET", "/v1/datasets/regions/policies", owner_));
  EXPECT_EQ(Str(listed.at("items").as_array().back().at("applies_to").as_array().at(0)), group_id);
  EXPECT_EQ(Rows(bob_, "SELECT manager FROM regions WHERE region = 'south'"), "Sam");
  ASSERT_EQ(server_->Request("POST", "/v1/groups/" + group_id + "/members", owner_, R"({"user_id":")" + bob_id + R"("})")
                .status,
            200);
  EXPECT_EQ(Sql(bob_, "SELECT manager FROM regions").status, 400) << "no such column for a group member";
  EXPECT_EQ(Rows(bob_, "SELECT * FROM regions WHERE region = 'south'"), "south");
  EXPECT_EQ(Rows(alice_, "SELECT manager FROM regions WHERE region = 'north'"), "Nora") << "not in the group";
  ASSERT_EQ(server_->Request("DELETE", "/v1/groups/" + group_id + "/members/" + bob_id, owner_).status, 204);
  EXPECT_EQ(Rows(bob_, "SELECT manager FROM regions WHERE region = 'south'"), "Sam");
  // A group that does not exist is refused; the group's policy goes with the policy's removal.
  auto unknown = server_->Request("POST", "/v1/datasets/regions/policies", owner_,
                                  R"({"kind":"column","column":"manager","action":"hide","applies_to":["grp_01m8q0000000000000000000"]})");
  EXPECT_TRUE(unknown.status == 404 || unknown.status == 400) << unknown.body;
  EXPECT_EQ(server_->Request("DELETE", "/v1/datasets/regions/policies/" + hide, owner_).status, 204);
}

TEST_F(PoliciesApi, APolicyThatNoLongerFitsTheDataFailsClosed) {
  Upload("reshaped", "id,region\n1,north\n2,south\n");
  AddPolicy("reshaped", R"({"kind": "row", "predicate": "region = {{user.region}}"})");
  EXPECT_EQ(Rows(alice_, "SELECT count(*) FROM reshaped"), "1");
  // A new version without the column: analysts get an error, never every row.
  auto replaced = server_->Request("PUT", "/v1/datasets/reshaped/data?mode=replace", owner_, "id\n1\n2\n");
  ASSERT_EQ(replaced.status, 202);
  ASSERT_EQ(server_->WaitForJob(owner_, Str(Json(replaced).at("id"))), "succeeded");
  auto r = Sql(alice_, "SELECT count(*) FROM reshaped");
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_NE(r.body.find("policy_invalid"), std::string::npos);
  EXPECT_EQ(server_->Request("GET", "/v1/datasets/reshaped", alice_).status, 409);
  EXPECT_EQ(Rows(owner_, "SELECT count(*) FROM reshaped"), "2") << "the owner is not under the policy";
}

}  // namespace
}  // namespace quarry::testing
