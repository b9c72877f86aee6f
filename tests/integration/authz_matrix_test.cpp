// The authorization matrix (docs/security.md): every route of the API, called by every kind of
// principal (the operator, each tenant role, the owner of another tenant), answers exactly the
// status the matrix names. A route of openapi.json (which the router must match: openapi_test)
// without a row here fails the test, so no route ships without its permissions decided.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <array>
#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <set>

#include "integration/harness.h"

namespace quarry::testing {
namespace {

using namespace std::chrono_literals;

// Callers, in the order of the expectation arrays.
enum Caller { kOperator, kOther, kViewer, kAnalyst, kAdmin, kOwner, kCallers };
constexpr std::array<const char*, kCallers> kCallerNames = {"operator", "other tenant's owner", "viewer", "analyst",
                                                            "admin",    "owner"};

boost::json::value Json(const HttpResult& r) { return boost::json::parse(r.body.empty() ? "{}" : r.body); }
std::string Str(const boost::json::value& v) { return std::string(v.as_string()); }

struct Call {
  std::string path;
  std::string body;
  std::vector<std::string> headers;
};

struct Row {
  std::string method;
  std::string pattern;
  // Makes the request for `caller` (may create what it needs: each call gets a fresh target
  // where the route changes or destroys it).
  std::function<Call(Caller)> make;
  std::array<int, kCallers> expected;  // operator, other, viewer, analyst, admin, owner
};

class AuthzMatrix : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<QuarryServer>(std::vector<std::string>{"--set", "jobs.allow_test_kinds=true"});
    ASSERT_TRUE(server_->started());
    keys_[kOperator] = server_->operator_key();
    keys_[kOwner] = server_->demo_key();
    auto other = Send(kOperator, "POST", "/v1/admin/tenants", R"({"slug":"other","name":"Other","owner_email":"o@other.io"})");
    ASSERT_EQ(other.status, 201) << other.body;
    keys_[kOther] = Str(Json(other).at("owner_key").at("secret"));
    for (auto [caller, role] : {std::pair{kAdmin, "admin"}, std::pair{kAnalyst, "analyst"}, std::pair{kViewer, "viewer"}}) {
      auto user = Send(kOwner, "POST", "/v1/users", R"({"email":")" + std::string(role) + R"(@demo.io","role":")" + role + R"("})");
      ASSERT_EQ(user.status, 201) << user.body;
      user_ids_[caller] = Str(Json(user).at("id"));
      auto key = Send(kOwner, "POST", "/v1/keys", R"({"name":"k","user_id":")" + user_ids_[caller] + R"("})");
      ASSERT_EQ(key.status, 201) << key.body;
      keys_[caller] = Str(Json(key).at("secret"));
    }
    // The viewer can sign in with a password (the sign-in row).
    auto password = Send(kOwner, "PUT", "/v1/users/" + user_ids_[kViewer] + "/password", R"({"new_password":"the viewer's password"})");
    ASSERT_EQ(password.status, 204) << password.body;
    auto upload = Send(kOwner, "PUT", "/v1/datasets/d/data", "id,region\n1,north\n2,south\n");
    ASSERT_EQ(upload.status, 202) << upload.body;
    ingest_job_ = Str(Json(upload).at("id"));
    ASSERT_EQ(server_->WaitForJob(keys_[kOwner], ingest_job_), "succeeded");
    // A project whose admin is the analyst (the viewer is no member), and a user without a key
    // that membership routes add and remove.
    project_ = ProjectId();
    auto admin = Send(kOwner, "POST", "/v1/projects/" + project_ + "/members",
                      R"({"user_id":")" + user_ids_[kAnalyst] + R"(","role":"admin"})");
    ASSERT_EQ(admin.status, 200) << admin.body;
    auto extra = Send(kOwner, "POST", "/v1/users", R"({"email":"extra@demo.io","role":"viewer"})");
    ASSERT_EQ(extra.status, 201) << extra.body;
    extra_user_ = Str(Json(extra).at("id"));
  }

  HttpResult Send(Caller caller, const std::string& method, const std::string& path, const std::string& body = "",
                  const std::vector<std::string>& headers = {}) {
    return server_->Request(method, path, keys_[caller], body, headers);
  }
  std::string Fresh(const char* prefix) { return prefix + std::to_string(++counter_); }
  // A key of the analyst (a target for key routes), made by the owner.
  std::string AnalystKeyId() {
    auto key = Send(kOwner, "POST", "/v1/keys", R"({"name":"target","user_id":")" + user_ids_[kAnalyst] + R"("})");
    EXPECT_EQ(key.status, 201) << key.body;
    return Str(Json(key).at("id"));
  }
  // A resumable upload of the analyst's (in the demo tenant).
  std::string AnalystUpload() {
    auto r = Send(kAnalyst, "POST", "/v1/uploads", "",
                  {"Tus-Resumable: 1.0.0", "Upload-Length: 20", "Upload-Metadata: dataset " + Base64(Fresh("up"))});
    EXPECT_EQ(r.status, 201) << r.body;
    return r.headers["location"].substr(r.headers["location"].rfind('/') + 1);
  }
  std::string NoopJob() {
    auto r = Send(kOwner, "POST", "/v1/jobs", R"({"kind":"sleep","payload":{"ms":60000}})");
    EXPECT_EQ(r.status, 202) << r.body;
    return Str(Json(r).at("id"));
  }
  std::string ProjectId() {
    auto r = Send(kOwner, "POST", "/v1/projects", R"({"name":")" + Fresh("p") + R"("})");
    EXPECT_EQ(r.status, 201) << r.body;
    return Str(Json(r).at("id"));
  }
  std::string GroupId() {
    auto r = Send(kOwner, "POST", "/v1/groups", R"({"name":")" + Fresh("g") + R"("})");
    EXPECT_EQ(r.status, 201) << r.body;
    return Str(Json(r).at("id"));
  }
  // The extra user, made a member of the project (or of a fresh group) by the owner.
  std::string ProjectMemberPath() {
    auto r = Send(kOwner, "POST", "/v1/projects/" + project_ + "/members",
                  R"({"user_id":")" + extra_user_ + R"(","role":"viewer"})");
    EXPECT_EQ(r.status, 200) << r.body;
    return "/v1/projects/" + project_ + "/members/" + extra_user_;
  }
  std::string GroupMemberPath() {
    const std::string group = GroupId();
    auto r = Send(kOwner, "POST", "/v1/groups/" + group + "/members", R"({"user_id":")" + extra_user_ + R"("})");
    EXPECT_EQ(r.status, 200) << r.body;
    return "/v1/groups/" + group + "/members/" + extra_user_;
  }
  std::string GrantId() {
    auto r = Send(kOwner, "POST", "/v1/datasets/d/grants", R"({"group_id":")" + GroupId() + R"("})");
    EXPECT_EQ(r.status, 201) << r.body;
    return Str(Json(r).at("id"));
  }
  std::string PolicyId() {
    auto r = Send(kOwner, "POST", "/v1/datasets/d/policies", R"({"kind":"column","column":"region","action":"hash"})");
    EXPECT_EQ(r.status, 201) << r.body;
    return Str(Json(r).at("id"));
  }

  std::vector<Row> Matrix();

  std::unique_ptr<QuarryServer> server_;
  std::array<std::string, kCallers> keys_;
  std::map<Caller, std::string> user_ids_;
  std::string ingest_job_;
  std::string project_;
  std::string extra_user_;
  int counter_ = 0;
};

std::vector<Row> AuthzMatrix::Matrix() {
  const std::string tus = "Tus-Resumable: 1.0.0";
  auto fixed = [](std::string path, std::string body = "", std::vector<std::string> headers = {}) {
    return [=](Caller) { return Call{path, body, headers}; };
  };
  //                                                                  operator other viewer analyst admin owner
  return {
      {"GET", "/healthz", fixed("/healthz"), {200, 200, 200, 200, 200, 200}},
      {"GET", "/readyz", fixed("/readyz"), {200, 200, 200, 200, 200, 200}},
      {"GET", "/metrics", fixed("/metrics"), {200, 200, 200, 200, 200, 200}},
      {"GET", "/openapi.json", fixed("/openapi.json"), {200, 200, 200, 200, 200, 200}},
      {"GET", "/v1/me", fixed("/v1/me"), {200, 200, 200, 200, 200, 200}},
      // Tenants: the operator only.
      {"GET", "/v1/admin/tenants", fixed("/v1/admin/tenants"), {200, 403, 403, 403, 403, 403}},
      {"POST", "/v1/admin/tenants",
       [this](Caller) {
         const std::string slug = Fresh("t");
         return Call{"/v1/admin/tenants", R"({"slug":")" + slug + R"(","name":"T","owner_email":"o@)" + slug + R"(.io"})"};
       },
       {201, 403, 403, 403, 403, 403}},
      {"GET", "/v1/admin/tenants/{id}", fixed("/v1/admin/tenants/demo"), {200, 403, 403, 403, 403, 403}},
      {"PATCH", "/v1/admin/tenants/{id}", fixed("/v1/admin/tenants/demo", R"({"name":"Demo"})"),
       {200, 403, 403, 403, 403, 403}},
      // Users: owners and admins manage; everyone reads themself; another tenant's user is 404.
      {"GET", "/v1/users", fixed("/v1/users"), {403, 200, 403, 403, 200, 200}},
      {"POST", "/v1/users",
       [this](Caller) { return Call{"/v1/users", R"({"email":")" + Fresh("u") + R"(@demo.io","role":"viewer"})"}; },
       {403, 201, 403, 403, 201, 201}},
      {"GET", "/v1/users/{id}", [this](Caller) { return Call{"/v1/users/" + user_ids_[kAnalyst]}; },
       {403, 404, 403, 200, 200, 200}},
      {"PATCH", "/v1/users/{id}", [this](Caller) { return Call{"/v1/users/" + user_ids_[kAnalyst], R"({"role":"analyst"})"}; },
       {403, 404, 403, 403, 200, 200}},
      {"GET", "/v1/users/{id}/attributes", [this](Caller) { return Call{"/v1/users/" + user_ids_[kAnalyst] + "/attributes"}; },
       {403, 404, 403, 200, 200, 200}},
      {"PUT", "/v1/users/{id}/attributes",
       [this](Caller) { return Call{"/v1/users/" + user_ids_[kAnalyst] + "/attributes", R"({"region":"north"})"}; },
       {403, 404, 403, 403, 200, 200}},
      // Passwords: one's own (the analyst has none yet, so needs no current_password); owners and
      // admins others'.
      {"PUT", "/v1/users/{id}/password",
       [this](Caller) { return Call{"/v1/users/" + user_ids_[kAnalyst] + "/password", R"({"new_password":"a long new password"})"}; },
       {403, 404, 403, 204, 204, 204}},
      // Web sign-in: anyone with a password signs in (no key needed: the caller's key is ignored);
      // a key has no current session.
      {"POST", "/v1/sessions",
       fixed("/v1/sessions", R"({"tenant":"demo","email":"viewer@demo.io","password":"the viewer's password"})"),
       {201, 201, 201, 201, 201, 201}},
      {"GET", "/v1/sessions/current", fixed("/v1/sessions/current"), {404, 404, 404, 404, 404, 404}},
      {"DELETE", "/v1/sessions/current", fixed("/v1/sessions/current"), {404, 404, 404, 404, 404, 404}},
      // Keys: one's own; owners and admins the tenant's; the operator its own kind.
      {"GET", "/v1/keys", fixed("/v1/keys"), {200, 200, 200, 200, 200, 200}},
      {"POST", "/v1/keys", fixed("/v1/keys", R"({"name":"mine"})"), {201, 201, 201, 201, 201, 201}},
      {"GET", "/v1/keys/{id}", [this](Caller) { return Call{"/v1/keys/" + AnalystKeyId()}; },
       {404, 404, 404, 200, 200, 200}},
      {"DELETE", "/v1/keys/{id}", [this](Caller) { return Call{"/v1/keys/" + AnalystKeyId()}; },
       {404, 404, 404, 200, 200, 200}},
      // Datasets: members read; writers (the write scope: analysts and up) change; policies are
      // for owners and admins.
      {"GET", "/v1/datasets", fixed("/v1/datasets"), {403, 200, 200, 200, 200, 200}},
      {"PUT", "/v1/datasets/{name}/data",
       [this](Caller) { return Call{"/v1/datasets/" + Fresh("n") + "/data", "a\n1\n"}; },
       {403, 202, 403, 202, 202, 202}},
      {"GET", "/v1/datasets/{name}", fixed("/v1/datasets/d"), {403, 404, 200, 200, 200, 200}},
      {"GET", "/v1/datasets/{name}/versions", fixed("/v1/datasets/d/versions"), {403, 404, 200, 200, 200, 200}},
      {"GET", "/v1/datasets/{name}/preview", fixed("/v1/datasets/d/preview"), {403, 404, 200, 200, 200, 200}},
      {"GET", "/v1/datasets/{name}/schema", fixed("/v1/datasets/d/schema"), {403, 404, 200, 200, 200, 200}},
      {"POST", "/v1/datasets/{name}/rollback", fixed("/v1/datasets/d/rollback", R"({"version":1})"),
       {403, 404, 403, 200, 200, 200}},
      {"DELETE", "/v1/datasets/{name}", fixed("/v1/datasets/ghost"), {403, 404, 403, 404, 404, 404}},
      {"GET", "/v1/datasets/{name}/policies", fixed("/v1/datasets/d/policies"), {403, 404, 403, 403, 200, 200}},
      {"POST", "/v1/datasets/{name}/policies",
       fixed("/v1/datasets/d/policies", R"({"kind":"column","column":"region","action":"hash","applies_to":["viewer"]})"),
       {403, 404, 403, 403, 201, 201}},
      {"DELETE", "/v1/datasets/{name}/policies/{id}",
       [this](Caller) { return Call{"/v1/datasets/d/policies/" + PolicyId()}; }, {403, 404, 403, 403, 204, 204}},
      // Projects: owners and admins create and delete; a project's admins (the analyst) manage it;
      // to non-members (the viewer) it does not exist. Groups: owners and admins manage, members
      // read. Grants: owners and admins, or the admins of the dataset's project ('d' is in none).
      {"PATCH", "/v1/datasets/{name}", fixed("/v1/datasets/d", R"({"project_id":null})"), {403, 404, 403, 403, 200, 200}},
      {"GET", "/v1/projects", fixed("/v1/projects"), {403, 200, 200, 200, 200, 200}},
      {"POST", "/v1/projects", [this](Caller) { return Call{"/v1/projects", R"({"name":")" + Fresh("p") + R"("})"}; },
       {403, 201, 403, 403, 201, 201}},
      {"GET", "/v1/projects/{id}", [this](Caller) { return Call{"/v1/projects/" + project_}; },
       {403, 404, 404, 200, 200, 200}},
      {"PATCH", "/v1/projects/{id}", [this](Caller) { return Call{"/v1/projects/" + project_, R"({"description":"x"})"}; },
       {403, 404, 404, 200, 200, 200}},
      {"DELETE", "/v1/projects/{id}", [this](Caller) { return Call{"/v1/projects/" + ProjectId()}; },
       {403, 404, 403, 403, 204, 204}},
      {"GET", "/v1/projects/{id}/members", [this](Caller) { return Call{"/v1/projects/" + project_ + "/members"}; },
       {403, 404, 404, 200, 200, 200}},
      {"POST", "/v1/projects/{id}/members",
       [this](Caller) {
         return Call{"/v1/projects/" + project_ + "/members", R"({"user_id":")" + extra_user_ + R"(","role":"editor"})"};
       },
       {403, 404, 404, 200, 200, 200}},
      {"DELETE", "/v1/projects/{id}/members/{member_id}", [this](Caller) { return Call{ProjectMemberPath()}; },
       {403, 404, 404, 204, 204, 204}},
      {"GET", "/v1/groups", fixed("/v1/groups"), {403, 200, 200, 200, 200, 200}},
      {"POST", "/v1/groups", [this](Caller) { return Call{"/v1/groups", R"({"name":")" + Fresh("g") + R"("})"}; },
       {403, 201, 403, 403, 201, 201}},
      {"GET", "/v1/groups/{id}", [this](Caller) { return Call{"/v1/groups/" + GroupId()}; },
       {403, 404, 200, 200, 200, 200}},
      {"DELETE", "/v1/groups/{id}", [this](Caller) { return Call{"/v1/groups/" + GroupId()}; },
       {403, 404, 403, 403, 204, 204}},
      {"GET", "/v1/groups/{id}/members", [this](Caller) { return Call{"/v1/groups/" + GroupId() + "/members"}; },
       {403, 404, 403, 403, 200, 200}},
      {"POST", "/v1/groups/{id}/members",
       [this](Caller) { return Call{"/v1/groups/" + GroupId() + "/members", R"({"user_id":")" + extra_user_ + R"("})"}; },
       {403, 404, 403, 403, 200, 200}},
      {"DELETE", "/v1/groups/{id}/members/{user_id}", [this](Caller) { return Call{GroupMemberPath()}; },
       {403, 404, 403, 403, 204, 204}},
      {"GET", "/v1/datasets/{name}/grants", fixed("/v1/datasets/d/grants"), {403, 404, 403, 403, 200, 200}},
      {"POST", "/v1/datasets/{name}/grants",
       [this](Caller) { return Call{"/v1/datasets/d/grants", R"({"group_id":")" + GroupId() + R"("})"}; },
       {403, 404, 403, 403, 201, 201}},
      {"DELETE", "/v1/datasets/{name}/grants/{id}", [this](Caller) { return Call{"/v1/datasets/d/grants/" + GrantId()}; },
       {403, 404, 403, 403, 204, 204}},
      // Queries: members read; a dataset of another tenant does not exist for them.
      {"POST", "/v1/query", fixed("/v1/query", R"({"sql":"SELECT count(*) FROM d"})"), {403, 404, 200, 200, 200, 200}},
      {"GET", "/v1/queries", fixed("/v1/queries"), {403, 200, 200, 200, 200, 200}},
      {"DELETE", "/v1/queries/{id}", fixed("/v1/queries/qry_01m8q0000000000000000000"), {403, 404, 404, 404, 404, 404}},
      // Jobs: members see their own and owners and admins the tenant's (the target is the owner's
      // ingestion); submitting needs the write scope.
      {"GET", "/v1/jobs", fixed("/v1/jobs"), {403, 200, 200, 200, 200, 200}},
      {"POST", "/v1/jobs", fixed("/v1/jobs", R"({"kind":"noop"})"), {403, 202, 403, 202, 202, 202}},
      {"GET", "/v1/jobs/{id}", [this](Caller) { return Call{"/v1/jobs/" + ingest_job_}; }, {403, 404, 404, 404, 200, 200}},
      {"GET", "/v1/jobs/{id}/events", [this](Caller) { return Call{"/v1/jobs/" + ingest_job_ + "/events"}; },
       {403, 404, 404, 404, 200, 200}},
      {"POST", "/v1/jobs/{id}/cancel", [this](Caller) { return Call{"/v1/jobs/" + NoopJob() + "/cancel"}; },
       {403, 404, 404, 404, 200, 200}},
      // Usage against the quotas: any member, of their own tenant.
      {"GET", "/v1/usage", fixed("/v1/usage"), {403, 200, 200, 200, 200, 200}},
      // The audit log: owners and admins, of their own tenant.
      {"GET", "/v1/audit", fixed("/v1/audit"), {403, 200, 403, 403, 200, 200}},
      // Resumable uploads: writers; an upload is its tenant's.
      {"OPTIONS", "/v1/uploads", fixed("/v1/uploads"), {204, 204, 204, 204, 204, 204}},
      {"POST", "/v1/uploads",
       [this, tus](Caller) {
         return Call{"/v1/uploads", "", {tus, "Upload-Length: 5", "Upload-Metadata: dataset " + Base64(Fresh("up"))}};
       },
       {403, 201, 403, 201, 201, 201}},
      {"HEAD", "/v1/uploads/{id}", [this, tus](Caller) { return Call{"/v1/uploads/" + AnalystUpload(), "", {tus}}; },
       {403, 404, 403, 200, 200, 200}},
      {"GET", "/v1/uploads/{id}", [this](Caller) { return Call{"/v1/uploads/" + AnalystUpload()}; },
       {403, 404, 403, 200, 200, 200}},
      {"PATCH", "/v1/uploads/{id}",
       [this, tus](Caller) {
         return Call{"/v1/uploads/" + AnalystUpload(), "abc",
                     {tus, "Upload-Offset: 0", "Content-Type: application/offset+octet-stream"}};
       },
       {403, 404, 403, 204, 204, 204}},
      {"DELETE", "/v1/uploads/{id}", [this, tus](Caller) { return Call{"/v1/uploads/" + AnalystUpload(), "", {tus}}; },
       {403, 404, 403, 204, 204, 204}},
  };
}

TEST_F(AuthzMatrix, EveryRouteAnswersEveryCallerAsTheMatrixSays) {
  const std::vector<Row> matrix = Matrix();
  // Every documented route has its row.
  std::set<std::string> covered;
  for (const Row& row : matrix) covered.insert(row.method + " " + row.pattern);
  std::ifstream in(QUARRY_OPENAPI_JSON);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const boost::json::value document = boost::json::parse(text);
  for (const auto& [path, operations] : document.at("paths").as_object()) {
    for (const auto& [method, operation] : operations.as_object()) {
      if (method == "parameters" || method == "summary" || method == "description") continue;
      std::string upper(method);
      for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      EXPECT_TRUE(covered.count(upper + " " + std::string(path)))
          << upper << " " << path << " has no row in the authorization matrix: decide who may call it";
    }
  }
  for (const Row& row : matrix) {
    for (int caller = 0; caller < kCallers; ++caller) {
      const Call call = row.make(static_cast<Caller>(caller));
      const HttpResult r = Send(static_cast<Caller>(caller), row.method, call.path, call.body, call.headers);
      EXPECT_EQ(r.status, row.expected[caller])
          << row.method << " " << row.pattern << " as " << kCallerNames[caller] << ": " << r.body.substr(0, 300);
    }
  }
}

}  // namespace
}  // namespace quarry::testing
