// Identity over REST and the admin CLI: /v1/me, users, keys, tenants, 401s without an oracle,
// tenant isolation, and revocation taking effect within a second.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "integration/harness.h"

namespace quarry::testing {
namespace {

using namespace std::chrono_literals;

boost::json::value Json(const HttpResult& r) { return boost::json::parse(r.body); }
std::string Str(const boost::json::value& v) { return std::string(v.as_string()); }

// Removes the request_id so that problem documents of different requests compare equal.
std::string WithoutRequestId(const std::string& body) {
  auto json = boost::json::parse(body).as_object();
  json.erase("request_id");
  return boost::json::serialize(json);
}

// Repeats `request` until `done` holds or the deadline passes; returns whether it held.
bool Eventually(const std::function<bool()>& done, std::chrono::milliseconds deadline) {
  auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
  }
  return done();
}

TEST(IdentityApi, MeAnswersTheDemoTenant) {
  QuarryServer server;
  ASSERT_TRUE(server.started());
  auto me = server.Request("GET", "/v1/me", server.demo_key());
  ASSERT_EQ(me.status, 200) << me.body;
  auto json = Json(me);
  EXPECT_EQ(json.at("tenant").at("slug"), "demo");
  EXPECT_EQ(json.at("user").at("email"), "owner@demo.local");
  EXPECT_EQ(json.at("user").at("role"), "owner");
  EXPECT_EQ(json.at("scopes").as_array().size(), 3u);
  auto op = Json(server.Request("GET", "/v1/me", server.operator_key()));
  EXPECT_EQ(op.at("operator"), true);
}

TEST(IdentityApi, InvalidKeysAllGetTheSame401) {
  QuarryServer server;
  ASSERT_TRUE(server.started());
  const std::string key = server.demo_key();
  // A key of the right shape that does not exist, one with the right prefix but a wrong secret,
  // a malformed one, and none at all.
  std::string wrong_secret = key.substr(0, 16) + std::string(32, 'A');
  std::vector<std::pair<std::string, std::string>> cases = {
      {"missing", ""},
      {"malformed", "not-a-key"},
      {"unknown", "qk_AAAAAAAAAAAA_" + std::string(32, 'B')},
      {"wrong secret", wrong_secret}};
  // A revoked key.
  auto created = server.Request("POST", "/v1/keys", key, R"({"name":"to revoke","scopes":["read"]})");
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string revoked = Str(Json(created).at("secret"));
  ASSERT_EQ(server.Request("GET", "/v1/me", revoked).status, 200);
  ASSERT_EQ(server.Request("DELETE", "/v1/keys/" + Str(Json(created).at("id")), key).status, 200);
  cases.emplace_back("revoked", revoked);

  std::string first;
  for (const auto& [name, token] : cases) {
    HttpResult r;
    // Revocation propagates through the identity epoch within a second.
    Eventually([&] { r = server.Request("GET", "/v1/me", token); return r.status == 401; }, 2s);
    EXPECT_EQ(r.status, 401) << name;
    EXPECT_EQ(r.headers["www-authenticate"], "Bearer") << name;
    if (first.empty()) first = WithoutRequestId(r.body);
    EXPECT_EQ(WithoutRequestId(r.body), first) << name << ": every invalid key gets the same answer";
  }
}

TEST(IdentityApi, UsersAndKeysLifecycle) {
  QuarryServer server;
  ASSERT_TRUE(server.started());
  const std::string owner = server.demo_key();
  auto user = server.Request("POST", "/v1/users", owner, R"({"email":"Ana@Example.com","role":"analyst"})");
  ASSERT_EQ(user.status, 201) << user.body;
  const std::string user_id = Str(Json(user).at("id"));
  EXPECT_EQ(Json(user).at("email"), "ana@example.com");
  EXPECT_EQ(server.Request("POST", "/v1/users", owner, R"({"email":"ana@example.com","role":"viewer"})").status, 409);
  EXPECT_EQ(Json(server.Request("GET", "/v1/users/ana@example.com", owner)).at("id"), user_id.c_str());

  auto key = server.Request("POST", "/v1/keys", owner, R"({"name":"ana's laptop","user_id":")" + user_id + R"("})");
  ASSERT_EQ(key.status, 201) << key.body;
  const std::string analyst = Str(Json(key).at("secret"));
  EXPECT_EQ(Json(key).at("scopes").as_array().size(), 2u) << "analysts get read and write";
  auto me = Json(server.Request("GET", "/v1/me", analyst));
  EXPECT_EQ(me.at("user").at("role"), "analyst");

  // The analyst is not an admin: listing users is forbidden, its own keys are visible.
  auto forbidden = server.Request("GET", "/v1/users", analyst);
  EXPECT_EQ(forbidden.status, 403);
  EXPECT_EQ(Json(forbidden).at("code"), "role_too_low");
  auto own_keys = Json(server.Request("GET", "/v1/keys", analyst));
  EXPECT_EQ(own_keys.at("items").as_array().size(), 1u);
  EXPECT_TRUE(own_keys.at("next_cursor").is_null());

  // Pagination over the owner's view of all keys.
  for (int i = 0; i < 3; ++i) server.Request("POST", "/v1/keys", owner, R"({"name":"k)" + std::to_string(i) + R"("})");
  auto page1 = Json(server.Request("GET", "/v1/keys?limit=2", owner));
  ASSERT_EQ(page1.at("items").as_array().size(), 2u);
  ASSERT_TRUE(page1.at("next_cursor").is_string());
  auto page2 = Json(server.Request("GET", "/v1/keys?limit=2&cursor=" + Str(page1.at("next_cursor")), owner));
  EXPECT_GE(page2.at("items").as_array().size(), 1u);
  EXPECT_NE(page1.at("items").as_array()[0].at("id"), page2.at("items").as_array()[0].at("id"));
  EXPECT_EQ(server.Request("GET", "/v1/keys?limit=0", owner).status, 400);

  // Disabling the user locks its keys out within a second.
  ASSERT_EQ(server.Request("PATCH", "/v1/users/" + user_id, owner, R"({"status":"disabled"})").status, 200);
  EXPECT_TRUE(Eventually([&] { return server.Request("GET", "/v1/me", analyst).status == 403; }, 2s));
}

TEST(IdentityApi, OtherTenantsIdsAnswer404LikeMissingOnes) {
  QuarryServer server;
  ASSERT_TRUE(server.started());
  auto created = server.Request("POST", "/v1/admin/tenants", server.operator_key(),
                                R"({"slug":"acme","name":"Acme","owner_email":"boss@acme.io"})");
  ASSERT_EQ(created.status, 201) << created.body;
  auto acme = Json(created);
  const std::string acme_user = Str(acme.at("owner").at("id"));
  const std::string acme_key_id = Str(acme.at("owner_key").at("id"));
  const std::string acme_key = Str(acme.at("owner_key").at("secret"));
  EXPECT_EQ(Json(server.Request("GET", "/v1/me", acme_key)).at("tenant").at("slug"), "acme");

  const std::string demo = server.demo_key();
  auto foreign_user = server.Request("GET", "/v1/users/" + acme_user, demo);
  auto missing_user = server.Request("GET", "/v1/users/usr_00000000000000000000000000", demo);
  EXPECT_EQ(foreign_user.status, 404);
  EXPECT_EQ(WithoutRequestId(foreign_user.body).size(), WithoutRequestId(missing_user.body).size() +
                                                            (acme_user.size() - 30));
  EXPECT_EQ(Json(foreign_user).at("code"), Json(missing_user).at("code"));
  EXPECT_EQ(Json(foreign_user).at("detail"), Json(missing_user).at("detail"));

  auto foreign_key = server.Request("GET", "/v1/keys/" + acme_key_id, demo);
  auto missing_key = server.Request("GET", "/v1/keys/key_00000000000000000000000000", demo);
  EXPECT_EQ(foreign_key.status, 404);
  EXPECT_EQ(Json(foreign_key).at("detail"), Json(missing_key).at("detail"));
  EXPECT_EQ(server.Request("DELETE", "/v1/keys/" + acme_key_id, demo).status, 404);
  EXPECT_EQ(server.Request("PATCH", "/v1/users/" + acme_user, demo, R"({"status":"disabled"})").status, 404);
  EXPECT_EQ(server.Request("GET", "/v1/me", acme_key).status, 200) << "acme's key still works";

  // Tenants are the operator's: a tenant owner sees 403 there.
  EXPECT_EQ(server.Request("GET", "/v1/admin/tenants", demo).status, 403);
  auto tenants = Json(server.Request("GET", "/v1/admin/tenants", server.operator_key()));
  EXPECT_EQ(tenants.at("items").as_array().size(), 2u);
  EXPECT_EQ(server.Request("POST", "/v1/admin/tenants", server.operator_key(), R"({"slug":"acme","name":"Again"})").status,
            409);
  EXPECT_EQ(server.Request("POST", "/v1/admin/tenants", server.operator_key(), R"({"slug":"Bad Slug!","name":"x"})").status,
            400);
}

TEST(IdentityApi, DisablingATenantTakesEffectWithinASecond) {
  QuarryServer server;
  ASSERT_TRUE(server.started());
  const std::string demo = server.demo_key();
  ASSERT_EQ(server.Request("GET", "/v1/me", demo).status, 200);
  ASSERT_EQ(server.Request("PATCH", "/v1/admin/tenants/demo", server.operator_key(), R"({"status":"disabled"})").status, 200);
  auto begin = std::chrono::steady_clock::now();
  HttpResult r;
  EXPECT_TRUE(Eventually([&] { r = server.Request("GET", "/v1/me", demo); return r.status == 403; }, 3s));
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 1500ms);
  EXPECT_EQ(Json(r).at("code"), "tenant_disabled");
}

TEST(IdentityApi, TheOperatorSetsATenantsJobWeight) {
  QuarryServer server;
  ASSERT_TRUE(server.started());
  const std::string op = server.operator_key();
  EXPECT_EQ(Json(server.Request("GET", "/v1/admin/tenants/demo", op)).at("job_weight").as_int64(), 1);
  auto set = server.Request("PATCH", "/v1/admin/tenants/demo", op, R"({"job_weight":4})");
  ASSERT_EQ(set.status, 200) << set.body;
  EXPECT_EQ(Json(set).at("job_weight").as_int64(), 4);
  EXPECT_EQ(Json(set).at("slug"), "demo");
  EXPECT_EQ(Json(server.Request("GET", "/v1/admin/tenants/demo", op)).at("job_weight").as_int64(), 4);
  EXPECT_EQ(server.Request("PATCH", "/v1/admin/tenants/demo", op, R"({"job_weight":0})").status, 400);
  EXPECT_EQ(server.Request("PATCH", "/v1/admin/tenants/demo", op, R"({"job_weight":1001})").status, 400);
  EXPECT_EQ(server.Request("PATCH", "/v1/admin/tenants/nope", op, R"({"job_weight":2})").status, 404);
  EXPECT_EQ(server.Request("PATCH", "/v1/admin/tenants/demo", server.demo_key(), R"({"job_weight":9})").status, 403);
  EXPECT_EQ(Json(server.Request("GET", "/v1/admin/tenants/demo", op)).at("job_weight").as_int64(), 4);
  // The same from the admin CLI, while the server runs.
  auto cli = server.Admin({"tenant", "set-weight", "demo", "7"});
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_EQ(Json(server.Request("GET", "/v1/admin/tenants/demo", op)).at("job_weight").as_int64(), 7);
  EXPECT_NE(server.Admin({"tenant", "set-weight", "demo", "0"}).exit_code, 0);
}

TEST(AdminCli, ManagesIdentityWhileTheServerRuns) {
  QuarryServer server;
  ASSERT_TRUE(server.started());
  auto tenant = server.Admin({"tenant", "create", "--slug", "globex", "--name", "Globex"});
  ASSERT_EQ(tenant.exit_code, 0) << tenant.err;
  auto user = server.Admin({"user", "create", "--tenant", "globex", "--email", "hank@globex.com", "--role", "owner"});
  ASSERT_EQ(user.exit_code, 0) << user.err;
  auto key = server.Admin({"key", "create", "--tenant", "globex", "--user", "hank@globex.com", "--name", "cli"});
  ASSERT_EQ(key.exit_code, 0) << key.err;
  std::string token = key.out.substr(0, key.out.find('\n'));
  auto me = server.Request("GET", "/v1/me", token);
  ASSERT_EQ(me.status, 200) << me.body;
  EXPECT_EQ(Json(me).at("tenant").at("slug"), "globex");

  auto list = server.Admin({"key", "list", "--tenant", "globex"});
  ASSERT_EQ(list.exit_code, 0);
  const std::string key_id = Str(Json(me).at("key").at("id"));
  EXPECT_NE(list.out.find(key_id), std::string::npos);
  EXPECT_EQ(list.out.find(token), std::string::npos) << "secrets are never listed";

  // Revoking from another process takes effect within a second.
  auto revoke = server.Admin({"key", "revoke", "--tenant", "globex", key_id});
  ASSERT_EQ(revoke.exit_code, 0) << revoke.err;
  auto begin = std::chrono::steady_clock::now();
  EXPECT_TRUE(Eventually([&] { return server.Request("GET", "/v1/me", token).status == 401; }, 3s));
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 1500ms);

  auto tenants = server.Admin({"tenant", "list"});
  EXPECT_NE(tenants.out.find("globex"), std::string::npos);
  auto bad = server.Admin({"user", "create", "--tenant", "globex", "--email", "nope", "--role", "viewer"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("email"), std::string::npos);
  auto missing = server.Admin({"user", "list", "--tenant", "no-such-tenant"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("No such tenant"), std::string::npos);
}

}  // namespace
}  // namespace quarry::testing
