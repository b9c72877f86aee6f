// Projects, groups and grants through the real server: a dataset in a project exists only for the
// project's members, tenant owners/admins and its grantees, on every path that names it (registry,
// SQL in any shape, previews, schema, uploads, grants); removing a membership or grant applies to
// the very next request; a grant never allows changes.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <chrono>
#include <map>
#include <string>

#include "harness.h"

namespace quarry::testing {
namespace {

boost::json::value Json(const HttpResult& r) { return boost::json::parse(r.body.empty() ? "{}" : r.body); }
std::string Str(const boost::json::value& v) { return std::string(v.as_string()); }

struct Member {
  std::string id;
  std::string key;
};

class ProjectsApi : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<QuarryServer>(
        std::vector<std::string>{"--set", "query.cache_bytes=16MiB", "--set", "jobs.allow_test_kinds=true"});
    ASSERT_TRUE(server_->started());
    owner_ = server_->demo_key();
    alice_ = NewMember("alice@demo.io", "analyst");
    bob_ = NewMember("bob@demo.io", "analyst");
    carol_ = NewMember("carol@demo.io", "viewer");
    project_ = Id(Call(owner_, "POST", "/v1/projects", R"({"name":"Finance","description":"the books"})"), 201);
    Expect(Call(owner_, "POST", "/v1/projects/" + project_ + "/members",
                R"({"user_id":")" + alice_.id + R"(","role":"editor"})"),
           200);
    // Alice creates the project's dataset; Bob one outside any project.
    Ingest(alice_.key, "/v1/datasets/ledger/data?project=" + project_, "id,amount\n1,10\n2,20\n");
    Ingest(bob_.key, "/v1/datasets/open/data", "id,note\n1,hello\n");
  }

  HttpResult Call(const std::string& key, const std::string& method, const std::string& path,
                  const std::string& body = "") {
    return server_->Request(method, path, key, body);
  }
  static void Expect(const HttpResult& r, int status, const std::string& code = "") {
    EXPECT_EQ(r.status, status) << r.body;
    if (!code.empty() && r.status == status) {
      EXPECT_EQ(Str(Json(r).at("code")), code) << r.body;
    }
  }
  static std::string Id(const HttpResult& r, int status) {
    EXPECT_EQ(r.status, status) << r.body;
    return r.status == status ? Str(Json(r).at("id")) : "";
  }
  Member NewMember(const std::string& email, const std::string& role) {
    const std::string id =
        Id(Call(owner_, "POST", "/v1/users", R"({"email":")" + email + R"(","role":")" + role + R"("})"), 201);
    auto key = Call(owner_, "POST", "/v1/keys", R"({"name":"k","user_id":")" + id + R"("})");
    EXPECT_EQ(key.status, 201) << key.body;
    return {id, Str(Json(key).at("secret"))};
  }
  void Ingest(const std::string& key, const std::string& path, const std::string& csv) {
    auto r = Call(key, "PUT", path, csv);
    ASSERT_EQ(r.status, 202) << r.body;
    ASSERT_EQ(server_->WaitForJob(key, Str(Json(r).at("id"))), "succeeded");
  }
  std::vector<std::string> DatasetNames(const std::string& key) {
    auto r = Call(key, "GET", "/v1/datasets");
    EXPECT_EQ(r.status, 200) << r.body;
    std::vector<std::string> names;
    const boost::json::value body = Json(r);
    for (const auto& d : body.at("items").as_array()) names.push_back(Str(d.at("name")));
    return names;
  }
  // Every read path of the dataset answers `status` for the caller.
  void ExpectReads(const std::string& key, int status, const std::string& who) {
    SCOPED_TRACE(who);
    Expect(Call(key, "GET", "/v1/datasets/ledger"), status);
    Expect(Call(key, "GET", "/v1/datasets/ledger/versions"), status);
    Expect(Call(key, "GET", "/v1/datasets/ledger/preview"), status);
    Expect(Call(key, "GET", "/v1/datasets/ledger/schema"), status);
    for (const char* sql : {"SELECT sum(amount) AS s FROM ledger",
                            "SELECT count(*) FROM open o JOIN ledger l ON l.id = o.id",
                            "SELECT * FROM open WHERE id IN (SELECT id FROM ledger)",
                            "WITH x AS (SELECT * FROM ledger) SELECT count(*) FROM x",
                            "SELECT id FROM open UNION ALL SELECT id FROM ledger",
                            "FROM ledger", "SELECT l.id FROM ledger AS l", "DESCRIBE ledger"}) {
      auto r = Call(key, "POST", "/v1/query", boost::json::serialize(boost::json::object{{"sql", sql}}));
      EXPECT_EQ(r.status, status) << sql << ": " << r.body;
      if (status == 404) {
        EXPECT_EQ(r.body.find("Finance"), std::string::npos);
      }
    }
  }

  std::unique_ptr<QuarryServer> server_;
  std::string owner_;
  Member alice_, bob_, carol_;
  std::string project_;
};

TEST_F(ProjectsApi, ADatasetInAProjectExistsOnlyForItsMembersAdminsAndGrantees) {
  EXPECT_EQ(DatasetNames(owner_), (std::vector<std::string>{"ledger", "open"}));
  EXPECT_EQ(DatasetNames(alice_.key), (std::vector<std::string>{"ledger", "open"}));
  EXPECT_EQ(DatasetNames(bob_.key), (std::vector<std::string>{"open"}));
  EXPECT_EQ(DatasetNames(carol_.key), (std::vector<std::string>{"open"}));
  auto ledger = Call(alice_.key, "GET", "/v1/datasets/ledger");
  ASSERT_EQ(ledger.status, 200) << ledger.body;
  EXPECT_EQ(Str(Json(ledger).at("project_id")), project_);

  ExpectReads(owner_, 200, "owner");
  ExpectReads(alice_.key, 200, "project editor");
  ExpectReads(bob_.key, 404, "analyst outside the project");
  ExpectReads(carol_.key, 404, "viewer outside the project");

  // The project itself does not exist for non-members either.
  Expect(Call(bob_.key, "GET", "/v1/projects/" + project_), 404, "project_not_found");
  EXPECT_TRUE(Json(Call(bob_.key, "GET", "/v1/projects")).at("items").as_array().empty());
  EXPECT_EQ(Json(Call(alice_.key, "GET", "/v1/projects")).at("items").as_array().size(), 1u);
  // Uploads: a dataset Bob cannot see is missing for replace and append; its name is taken.
  Expect(Call(bob_.key, "PUT", "/v1/datasets/ledger/data?mode=replace", "id\n1\n"), 404, "dataset_not_found");
  Expect(Call(bob_.key, "PUT", "/v1/datasets/ledger/data?mode=append", "id,amount\n3,30\n"), 404, "dataset_not_found");
  Expect(Call(bob_.key, "PUT", "/v1/datasets/ledger/data", "id\n1\n"), 409, "dataset_exists");
  Expect(Call(bob_.key, "DELETE", "/v1/datasets/ledger"), 404, "dataset_not_found");
  Expect(Call(bob_.key, "POST", "/v1/datasets/ledger/rollback", R"({"version":1})"), 404, "dataset_not_found");
  // Creating in a project needs its editor role; a project one is no member of does not exist.
  Expect(Call(bob_.key, "PUT", "/v1/datasets/bobs/data?project=" + project_, "id\n1\n"), 404, "project_not_found");
  Expect(Call(owner_, "PUT", "/v1/datasets/x/data?project=prj_nonsense", "id\n1\n"), 400);
}

TEST_F(ProjectsApi, GrantsAndGroupMembershipsApplyToTheNextRequestAndNeverAllowChanges) {
  // A grant to Bob: he reads the dataset everywhere, and changes nothing.
  const std::string grant =
      Id(Call(owner_, "POST", "/v1/datasets/ledger/grants", R"({"user_id":")" + bob_.id + R"("})"), 201);
  ExpectReads(bob_.key, 200, "grantee");
  EXPECT_EQ(DatasetNames(bob_.key), (std::vector<std::string>{"ledger", "open"}));
  Expect(Call(bob_.key, "PUT", "/v1/datasets/ledger/data?mode=replace", "id\n1\n"), 403, "project_role_too_low");
  Expect(Call(bob_.key, "DELETE", "/v1/datasets/ledger"), 403, "project_role_too_low");
  Expect(Call(bob_.key, "GET", "/v1/datasets/ledger/grants"), 403, "grant_admin_required");
  Expect(Call(owner_, "POST", "/v1/datasets/ledger/grants", R"({"user_id":")" + bob_.id + R"("})"), 409, "grant_exists");
  // The result cache does not carry a grantee's answer past the grant.
  const std::string sql = R"({"sql":"SELECT sum(amount) AS s FROM ledger"})";
  Expect(Call(bob_.key, "POST", "/v1/query", sql), 200);
  Expect(Call(owner_, "DELETE", "/v1/datasets/ledger/grants/" + grant), 204);
  Expect(Call(bob_.key, "POST", "/v1/query", sql), 404);
  ExpectReads(bob_.key, 404, "grant removed");

  // Through a group: the grant and a project membership both reach its users.
  const std::string group = Id(Call(owner_, "POST", "/v1/groups", R"({"name":"auditors"})"), 201);
  Expect(Call(owner_, "POST", "/v1/groups/" + group + "/members", R"({"user_id":")" + carol_.id + R"("})"), 200);
  Expect(Call(owner_, "POST", "/v1/datasets/ledger/grants", R"({"group_id":")" + group + R"("})"), 201);
  ExpectReads(carol_.key, 200, "group grantee");
  Expect(Call(owner_, "DELETE", "/v1/groups/" + group + "/members/" + carol_.id), 204);
  ExpectReads(carol_.key, 404, "left the group");
  Expect(Call(owner_, "POST", "/v1/groups/" + group + "/members", R"({"user_id":")" + carol_.id + R"("})"), 200);
  Expect(Call(owner_, "GET", "/v1/datasets/ledger/grants"), 200);
  // Deleting the group takes its grants with it.
  Expect(Call(owner_, "DELETE", "/v1/groups/" + group), 204);
  ExpectReads(carol_.key, 404, "group deleted");
  EXPECT_TRUE(Json(Call(owner_, "GET", "/v1/datasets/ledger/grants")).at("items").as_array().empty());

  const std::string team = Id(Call(owner_, "POST", "/v1/groups", R"({"name":"team"})"), 201);
  Expect(Call(owner_, "POST", "/v1/groups/" + team + "/members", R"({"user_id":")" + bob_.id + R"("})"), 200);
  Expect(Call(owner_, "POST", "/v1/projects/" + project_ + "/members", R"({"group_id":")" + team + R"(","role":"editor"})"),
         200);
  ExpectReads(bob_.key, 200, "project member through a group");
  Ingest(bob_.key, "/v1/datasets/ledger/data?mode=append", "id,amount\n3,30\n");
  Expect(Call(owner_, "DELETE", "/v1/projects/" + project_ + "/members/" + team), 204);
  ExpectReads(bob_.key, 404, "group removed from the project");

  // The audit log holds every change of the session, each with its target.
  auto audit = Call(owner_, "GET", "/v1/audit?limit=1000");
  ASSERT_EQ(audit.status, 200) << audit.body;
  std::map<std::string, int> kinds;
  const boost::json::value events = Json(audit);
  for (const auto& e : events.at("items").as_array()) ++kinds[Str(e.at("kind"))];
  EXPECT_EQ(kinds["project.create"], 1);
  EXPECT_EQ(kinds["project.member.put"], 2);  // Alice (set-up), the team
  EXPECT_EQ(kinds["project.member.delete"], 1);
  EXPECT_EQ(kinds["group.create"], 2);
  EXPECT_EQ(kinds["group.member.put"], 3);
  EXPECT_EQ(kinds["group.member.delete"], 1);
  EXPECT_EQ(kinds["group.delete"], 1);
  EXPECT_EQ(kinds["grant.create"], 2);
  EXPECT_EQ(kinds["grant.delete"], 1);
  EXPECT_GE(kinds["denied"], 3);  // Bob's refused changes
  auto revoked = Call(owner_, "GET", "/v1/audit?kind=grant.delete");
  EXPECT_NE(revoked.body.find(grant), std::string::npos) << revoked.body;
}

TEST_F(ProjectsApi, ProjectRolesDecideWhoChangesDatasetsAndManagesTheProject) {
  // An editor changes datasets but manages neither members nor grants.
  Ingest(alice_.key, "/v1/datasets/ledger/data?mode=replace", "id,amount\n7,70\n");
  Expect(Call(alice_.key, "POST", "/v1/projects/" + project_ + "/members", R"({"user_id":")" + bob_.id + R"(","role":"viewer"})"),
         403, "project_role_too_low");
  Expect(Call(alice_.key, "GET", "/v1/datasets/ledger/grants"), 403, "grant_admin_required");
  Expect(Call(alice_.key, "PATCH", "/v1/datasets/ledger", R"({"project_id":null})"), 403, "role_too_low");
  // A project viewer reads only.
  Expect(Call(owner_, "POST", "/v1/projects/" + project_ + "/members", R"({"user_id":")" + alice_.id + R"(","role":"viewer"})"),
         200);
  Expect(Call(alice_.key, "PUT", "/v1/datasets/ledger/data?mode=replace", "id\n1\n"), 403, "project_role_too_low");
  Expect(Call(alice_.key, "PUT", "/v1/datasets/more/data?project=" + project_, "id\n1\n"), 403, "project_role_too_low");
  ExpectReads(alice_.key, 200, "project viewer");
  // A project admin manages members and grants (with a key that may write).
  Expect(Call(owner_, "POST", "/v1/projects/" + project_ + "/members", R"({"user_id":")" + alice_.id + R"(","role":"admin"})"),
         200);
  Expect(Call(alice_.key, "POST", "/v1/projects/" + project_ + "/members", R"({"user_id":")" + carol_.id + R"(","role":"viewer"})"),
         200);
  ExpectReads(carol_.key, 200, "added by the project admin");
  Expect(Call(alice_.key, "PATCH", "/v1/projects/" + project_, R"({"name":"Books"})"), 200);
  auto members = Json(Call(alice_.key, "GET", "/v1/projects/" + project_ + "/members"));
  EXPECT_EQ(members.at("items").as_array().size(), 2u);
  Expect(Call(alice_.key, "DELETE", "/v1/projects/" + project_ + "/members/" + carol_.id), 204);
  ExpectReads(carol_.key, 404, "removed by the project admin");
  Expect(Call(alice_.key, "DELETE", "/v1/projects/" + project_), 403, "role_too_low");

  // A project with datasets cannot be deleted; moving the dataset out makes it tenant-wide.
  Expect(Call(owner_, "DELETE", "/v1/projects/" + project_), 409, "project_not_empty");
  auto moved = Call(owner_, "PATCH", "/v1/datasets/ledger", R"({"project_id":null})");
  ASSERT_EQ(moved.status, 200) << moved.body;
  EXPECT_TRUE(Json(moved).at("project_id").is_null());
  ExpectReads(bob_.key, 200, "moved out of the project");
  Expect(Call(owner_, "DELETE", "/v1/projects/" + project_), 204);
  Expect(Call(owner_, "PATCH", "/v1/datasets/ledger", R"({"project_id":")" + project_ + R"("})"), 404, "project_not_found");
}

TEST_F(ProjectsApi, AnInvisibleDatasetsNameCannotReachWhatAMemberLeftOnAPooledConnection) {
  // Alice's queries leave her view of `ledger` on the tenant's pooled connections; Bob names
  // `ledger` in every shape that could resolve to a leftover catalog entry.
  for (const char* sql : {"WITH ledger AS (SELECT * FROM ledger) SELECT * FROM ledger",
                          "WITH x AS (SELECT 1) SELECT * FROM ledger", "SELECT * FROM open, ledger",
                          "SELECT * FROM (SELECT * FROM ledger)", "SELECT * FROM temp.main.ledger",
                          "SELECT * FROM query_table('ledger')"}) {
    for (int i = 0; i < 4; ++i) {
      Expect(Call(alice_.key, "POST", "/v1/query", R"({"sql":"SELECT sum(amount) FROM ledger"})"), 200);
      auto r = Call(bob_.key, "POST", "/v1/query", boost::json::serialize(boost::json::object{{"sql", sql}}));
      EXPECT_GE(r.status, 400) << sql << ": " << r.body;
      EXPECT_EQ(r.body.find("\"rows\""), std::string::npos) << sql << ": " << r.body;
    }
  }
}

TEST_F(ProjectsApi, AnIngestionThatWaitedChecksItsUsersRightsAgainWhenItStarts) {
  // One job of the tenant runs at a time, and a long one holds the slot.
  ASSERT_EQ(Call(server_->operator_key(), "PATCH", "/v1/admin/tenants/demo", R"({"quotas":{"running_jobs":1}})").status,
            200);
  const std::string blocker = Id(Call(owner_, "POST", "/v1/jobs", R"({"kind":"sleep","payload":{"ms":120000}})"), 202);
  std::string state;
  for (auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
       std::chrono::steady_clock::now() < end && state != "running";) {
    state = Str(Json(Call(owner_, "GET", "/v1/jobs/" + blocker)).at("state"));
  }
  ASSERT_EQ(state, "running");
  // Alice's replacement waits in the queue; meanwhile she leaves the project.
  const std::string waiting =
      Id(Call(alice_.key, "PUT", "/v1/datasets/ledger/data?mode=replace", "id,amount\n9,90\n"), 202);
  Expect(Call(owner_, "DELETE", "/v1/projects/" + project_ + "/members/" + alice_.id), 204);
  Expect(Call(owner_, "POST", "/v1/jobs/" + blocker + "/cancel"), 200);
  EXPECT_EQ(server_->WaitForJob(alice_.key, waiting), "failed");
  auto job = Json(Call(alice_.key, "GET", "/v1/jobs/" + waiting));
  EXPECT_EQ(Str(job.at("error").at("code")), "dataset_not_found") << boost::json::serialize(job);
  // The dataset is unchanged.
  auto sum = Json(Call(owner_, "POST", "/v1/query", R"({"sql":"SELECT sum(amount) AS s FROM ledger"})"));
  EXPECT_EQ(sum.at("rows").at(0).at(0), 30);
}

TEST_F(ProjectsApi, BadInputIsRefusedWithClearErrors) {
  Expect(Call(owner_, "POST", "/v1/projects", R"({"name":""})"), 400, "invalid_name");
  Expect(Call(owner_, "POST", "/v1/projects", R"({"name":"Finance"})"), 409, "project_name_taken");
  Expect(Call(owner_, "POST", "/v1/projects", R"({"name":"x","owner":"me"})"), 400, "unknown_field");
  Expect(Call(owner_, "POST", "/v1/projects/" + project_ + "/members", R"({"user_id":")" + bob_.id + R"(","role":"boss"})"),
         400, "invalid_role");
  Expect(Call(owner_, "POST", "/v1/projects/" + project_ + "/members",
              R"({"user_id":")" + bob_.id + R"(","group_id":"grp_x","role":"viewer"})"),
         400, "invalid_member");
  std::string unknown_user = bob_.id;
  unknown_user.back() = unknown_user.back() == 'a' ? 'b' : 'a';
  Expect(Call(owner_, "POST", "/v1/projects/" + project_ + "/members",
              R"({"user_id":")" + unknown_user + R"(","role":"viewer"})"),
         404, "user_not_found");
  Expect(Call(owner_, "POST", "/v1/groups", R"({"name":"a\u0001b"})"), 400, "invalid_name");
  Expect(Call(owner_, "POST", "/v1/datasets/ledger/grants", R"({"user_id":"someone"})"), 400, "invalid_member");
  Expect(Call(owner_, "DELETE", "/v1/datasets/ledger/grants/gnt_01m8q0000000000000000000"), 404, "grant_not_found");
  Expect(Call(owner_, "PATCH", "/v1/datasets/ledger", R"({"project_id":42})"), 400);

  // Another tenant's users and groups are not found, like missing ones.
  auto other = Call(server_->operator_key(), "POST", "/v1/admin/tenants",
                    R"({"slug":"other","name":"Other","owner_email":"o@other.io"})");
  ASSERT_EQ(other.status, 201) << other.body;
  const std::string other_owner = Str(Json(other).at("owner_key").at("secret"));
  const std::string other_user = Str(Json(other).at("owner").at("id"));
  Expect(Call(owner_, "POST", "/v1/projects/" + project_ + "/members", R"({"user_id":")" + other_user + R"(","role":"admin"})"),
         404, "user_not_found");
  Expect(Call(other_owner, "GET", "/v1/projects/" + project_), 404, "project_not_found");
  Expect(Call(other_owner, "POST", "/v1/projects/" + project_ + "/members", R"({"user_id":")" + other_user + R"(","role":"admin"})"),
         404, "project_not_found");
}

}  // namespace
}  // namespace quarry::testing
