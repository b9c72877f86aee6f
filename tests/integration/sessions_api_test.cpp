// Web sign-in through the real server: the cookie's attributes, cookie authentication and its
// CSRF rule, one answer for every credential failure, throttling, sign-out, password changes that
// end the other sessions, disabled users, the operator's `quarry admin user set-password`, and
// the audit events all of it leaves.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <chrono>
#include <fstream>

#include "integration/harness.h"

namespace quarry::testing {
namespace {

using namespace std::chrono_literals;

const std::string kPassword = "correct horse battery staple";

boost::json::value Json(const HttpResult& r) { return boost::json::parse(r.body.empty() ? "{}" : r.body); }
std::string Str(const boost::json::value& v) { return std::string(v.as_string()); }
std::string Code(const HttpResult& r) {
  const boost::json::value doc = Json(r);
  const auto* code = doc.is_object() ? doc.as_object().if_contains("code") : nullptr;
  return code && code->is_string() ? Str(*code) : "";
}

// A browser: the cookie it was given and the CSRF token that goes with it.
struct Browser {
  std::string cookie;  // "quarry_session=..."
  std::string csrf;
  std::string session_id;
};

class SessionsApi : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> args = {}) {
    server_ = std::make_unique<QuarryServer>(std::move(args));
    ASSERT_TRUE(server_->started());
    owner_ = server_->demo_key();
    owner_id_ = Str(Json(server_->Request("GET", "/v1/me", owner_)).at("user").at("id"));
  }

  HttpResult SignIn(const std::string& email, const std::string& password, const std::string& tenant = "demo") {
    boost::json::object body{{"tenant", tenant}, {"email", email}, {"password", password}};
    return server_->Request("POST", "/v1/sessions", "", boost::json::serialize(body));
  }
  Browser SignedIn(const std::string& email, const std::string& password) {
    HttpResult r = SignIn(email, password);
    EXPECT_EQ(r.status, 201) << r.body;
    const std::string set_cookie = r.headers["set-cookie"];
    Browser b;
    b.cookie = set_cookie.substr(0, set_cookie.find(';'));
    if (r.status == 201) {
      b.csrf = Str(Json(r).at("csrf_token"));
      b.session_id = Str(Json(r).at("session").at("id"));
    }
    return b;
  }
  // A request as the browser: the cookie, and the CSRF token when `csrf`.
  HttpResult As(const Browser& b, const std::string& method, const std::string& path, const std::string& body = "",
                bool csrf = true, std::vector<std::string> headers = {}) {
    headers.push_back("Cookie: theme=dark; " + b.cookie);
    if (csrf) headers.push_back("X-CSRF-Token: " + b.csrf);
    return server_->Request(method, path, "", body, headers);
  }
  std::string CreateUser(const std::string& email, const std::string& role) {
    auto r = server_->Request("POST", "/v1/users", owner_, R"({"email":")" + email + R"(","role":")" + role + R"("})");
    EXPECT_EQ(r.status, 201) << r.body;
    return Str(Json(r).at("id"));
  }
  void SetPasswordAsOwner(const std::string& user_id, const std::string& password) {
    auto r = server_->Request("PUT", "/v1/users/" + user_id + "/password", owner_,
                              R"({"new_password":")" + password + R"("})");
    ASSERT_EQ(r.status, 204) << r.body;
  }
  std::vector<std::string> AuditKinds() {
    auto r = server_->Request("GET", "/v1/audit?limit=1000", owner_);
    EXPECT_EQ(r.status, 200) << r.body;
    std::vector<std::string> kinds;
    const boost::json::value events = Json(r);
    for (const auto& e : events.at("items").as_array()) kinds.push_back(Str(e.at("kind")));
    return kinds;
  }

  std::unique_ptr<QuarryServer> server_;
  std::string owner_, owner_id_;
};

TEST_F(SessionsApi, SignInSetsAStrictCookieThatAuthenticatesUnderTheCsrfRuleUntilSignOut) {
  Start();
  // The operator sets the first password on the server machine.
  const std::string file = server_->data_dir() + "/pw.txt";
  std::ofstream(file) << kPassword << "\n";
  CommandResult set = server_->Admin({"user", "set-password", "--tenant", "demo", "owner@demo.local", "--password-file", file});
  ASSERT_EQ(set.exit_code, 0) << set.err;

  HttpResult r = SignIn("Owner@Demo.local", kPassword);
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string set_cookie = r.headers["set-cookie"];
  EXPECT_EQ(set_cookie.rfind("quarry_session=qs_", 0), 0u) << set_cookie;
  EXPECT_NE(set_cookie.find("; HttpOnly"), std::string::npos);
  EXPECT_NE(set_cookie.find("; SameSite=Strict"), std::string::npos);
  EXPECT_NE(set_cookie.find("; Path=/"), std::string::npos);
  EXPECT_EQ(set_cookie.find("Secure"), std::string::npos);  // plain HTTP without auth.cookie_secure
  EXPECT_EQ(r.body.find(kPassword), std::string::npos);
  Browser b;
  b.cookie = set_cookie.substr(0, set_cookie.find(';'));
  b.csrf = Str(Json(r).at("csrf_token"));
  b.session_id = Str(Json(r).at("session").at("id"));
  EXPECT_EQ(Str(Json(r).at("session").at("user_id")), owner_id_);

  // Reads need only the cookie; the session acts as the owner.
  auto me = As(b, "GET", "/v1/me", "", false);
  ASSERT_EQ(me.status, 200) << me.body;
  EXPECT_EQ(Str(Json(me).at("user").at("id")), owner_id_);
  auto current = As(b, "GET", "/v1/sessions/current", "", false);
  ASSERT_EQ(current.status, 200) << current.body;
  EXPECT_EQ(Str(Json(current).at("csrf_token")), b.csrf);
  EXPECT_EQ(Str(Json(current).at("session").at("id")), b.session_id);

  // Changes need the CSRF token, and a foreign Origin is refused.
  const std::string user = R"({"email":"web@demo.io","role":"viewer"})";
  auto no_token = As(b, "POST", "/v1/users", user, false);
  EXPECT_EQ(no_token.status, 403);
  EXPECT_EQ(Code(no_token), "csrf_failed");
  EXPECT_NE(Json(no_token).at("detail").as_string().find("X-CSRF-Token"), std::string::npos);
  Browser forged = b;
  forged.csrf = std::string(64, 'a');
  EXPECT_EQ(Code(As(forged, "POST", "/v1/users", user)), "csrf_failed");
  EXPECT_EQ(Code(As(b, "POST", "/v1/users", user, true, {"Origin: http://evil.example"})), "csrf_failed");
  auto created = As(b, "POST", "/v1/users", user, true, {"Origin: http://" + server_->address()});
  EXPECT_EQ(created.status, 201) << created.body;
  // A key is not subject to the CSRF rule, and wins over a cookie.
  EXPECT_EQ(server_->Request("GET", "/v1/sessions/current", owner_, "", {"Cookie: " + b.cookie}).status, 404);

  // Sign-out ends the session at once and clears the cookie.
  EXPECT_EQ(Code(As(b, "DELETE", "/v1/sessions/current", "", false)), "csrf_failed");
  auto out = As(b, "DELETE", "/v1/sessions/current");
  ASSERT_EQ(out.status, 200) << out.body;
  EXPECT_NE(out.headers["set-cookie"].find("Max-Age=0"), std::string::npos);
  auto after = As(b, "GET", "/v1/me", "", false);
  EXPECT_EQ(after.status, 401);
  EXPECT_EQ(Code(after), "invalid_session");
  EXPECT_EQ(Code(As(Browser{"quarry_session=qs_forged", "", ""}, "GET", "/v1/me", "", false)), "invalid_session");

  // Every credential failure answers alike.
  auto wrong = SignIn("owner@demo.local", "not the password at all");
  auto unknown = SignIn("nobody@demo.local", kPassword);
  auto no_tenant = SignIn("owner@demo.local", kPassword, "nowhere");
  for (const HttpResult* failed : {&wrong, &unknown, &no_tenant}) {
    EXPECT_EQ(failed->status, 401) << failed->body;
    EXPECT_EQ(Code(*failed), "invalid_credentials");
    EXPECT_EQ(Json(*failed).at("detail"), Json(wrong).at("detail"));
    EXPECT_EQ(failed->headers.count("set-cookie"), 0u);
  }

  // The audit log has the sign-ins (ok and failed), the new user and the sign-out, never a password.
  const auto kinds = AuditKinds();
  for (const char* kind : {"session.create", "session.denied", "user.create", "session.revoke", "denied"}) {
    EXPECT_NE(std::find(kinds.begin(), kinds.end(), kind), kinds.end()) << kind;
  }
  auto all = server_->Request("GET", "/v1/audit?limit=1000", owner_);
  EXPECT_EQ(all.body.find(kPassword), std::string::npos);
  auto denied = server_->Request("GET", "/v1/audit?kind=session.denied", owner_);
  ASSERT_EQ(Json(denied).at("items").as_array().size(), 2u) << denied.body;  // the unknown tenant has no log
}

TEST_F(SessionsApi, FailedSignInsPerAccountAreThrottledEvenForTheRightPassword) {
  Start({"--set", "auth.sign_in_failures_per_account=3"});
  const std::string ana = CreateUser("ana@demo.io", "analyst");
  SetPasswordAsOwner(ana, kPassword);
  for (int i = 0; i < 3; ++i) {
    auto r = SignIn("ana@demo.io", "wrong password " + std::to_string(i));
    ASSERT_EQ(r.status, 401) << r.body;
  }
  for (const std::string& password : {std::string("yet another wrong one"), kPassword}) {
    auto r = SignIn("ana@demo.io", password);
    EXPECT_EQ(r.status, 429) << r.body;
    EXPECT_EQ(Code(r), "too_many_sign_in_attempts");
    const int retry_after = std::stoi(r.headers["retry-after"]);
    EXPECT_GT(retry_after, 800);
    EXPECT_LE(retry_after, 900);
  }
  // Another account from the same address is not locked.
  const std::string bo = CreateUser("bo@demo.io", "viewer");
  SetPasswordAsOwner(bo, kPassword);
  EXPECT_EQ(SignIn("bo@demo.io", kPassword).status, 201);
}

TEST_F(SessionsApi, AChangedPasswordEndsTheOtherSessionsAndADisabledUsersSessionStops) {
  Start();
  const std::string ana = CreateUser("ana@demo.io", "analyst");
  SetPasswordAsOwner(ana, kPassword);
  Browser here = SignedIn("ana@demo.io", kPassword);
  Browser there = SignedIn("ana@demo.io", kPassword);
  ASSERT_EQ(As(there, "GET", "/v1/me", "", false).status, 200);

  const std::string next = "a brand new passphrase";
  auto wrong_current = As(here, "PUT", "/v1/users/" + ana + "/password",
                          R"({"current_password":"not it at all","new_password":")" + next + R"("})");
  EXPECT_EQ(wrong_current.status, 403);
  EXPECT_EQ(Code(wrong_current), "wrong_current_password");
  auto changed = As(here, "PUT", "/v1/users/" + ana + "/password",
                    R"({"current_password":")" + kPassword + R"(","new_password":")" + next + R"("})");
  ASSERT_EQ(changed.status, 204) << changed.body;
  EXPECT_EQ(As(here, "GET", "/v1/me", "", false).status, 200);
  EXPECT_EQ(Code(As(there, "GET", "/v1/me", "", false)), "invalid_session");
  EXPECT_EQ(SignIn("ana@demo.io", kPassword).status, 401);
  Browser again = SignedIn("ana@demo.io", next);

  // Disabling the user stops their sessions within the identity cache's refresh.
  ASSERT_EQ(server_->Request("PATCH", "/v1/users/" + ana, owner_, R"({"status":"disabled"})").status, 200);
  std::string code;
  for (auto deadline = std::chrono::steady_clock::now() + 10s;
       std::chrono::steady_clock::now() < deadline && code != "user_disabled";) {
    code = Code(As(again, "GET", "/v1/me", "", false));
  }
  EXPECT_EQ(code, "user_disabled");
  EXPECT_EQ(Code(SignIn("ana@demo.io", next)), "user_disabled");

  const auto kinds = AuditKinds();
  EXPECT_EQ(std::count(kinds.begin(), kinds.end(), "user.password"), 2);  // the owner's and ana's own
  auto passwords = server_->Request("GET", "/v1/audit?kind=user.password", owner_);
  EXPECT_EQ(passwords.body.find(next), std::string::npos);
  EXPECT_EQ(passwords.body.find(kPassword), std::string::npos);
}

TEST_F(SessionsApi, ANarrowKeyCannotMintAFullSessionAndOtherSitesCannotSignABrowserIn) {
  Start();
  const std::string ana = CreateUser("ana@demo.io", "analyst");
  // A read-only key of Ana: setting her own password would give her sessions read and write.
  auto key = server_->Request("POST", "/v1/keys", owner_, R"({"name":"bi","user_id":")" + ana + R"(","scopes":["read"]})");
  ASSERT_EQ(key.status, 201) << key.body;
  const std::string read_only = Str(Json(key).at("secret"));
  auto refused = server_->Request("PUT", "/v1/users/" + ana + "/password", read_only,
                                  R"({"new_password":")" + std::string(kPassword) + R"("})");
  EXPECT_EQ(refused.status, 403) << refused.body;
  EXPECT_EQ(Code(refused), "scope_exceeds_key");
  EXPECT_EQ(SignIn("ana@demo.io", kPassword).status, 401) << "no password was set";
  // A key with every scope of her role may.
  auto full = server_->Request("POST", "/v1/keys", owner_, R"({"name":"full","user_id":")" + ana + R"("})");
  ASSERT_EQ(full.status, 201) << full.body;
  EXPECT_EQ(server_->Request("PUT", "/v1/users/" + ana + "/password", Str(Json(full).at("secret")),
                             R"({"new_password":")" + std::string(kPassword) + R"("})")
                .status,
            204);

  // Login CSRF: a cross-site form cannot send JSON, and a foreign Origin is refused.
  const std::string body = boost::json::serialize(
      boost::json::object{{"tenant", "demo"}, {"email", "ana@demo.io"}, {"password", kPassword}});
  auto form = server_->Request("POST", "/v1/sessions", "", body, {"Content-Type: text/plain"});
  EXPECT_EQ(form.status, 415) << form.body;
  EXPECT_TRUE(form.headers["set-cookie"].empty());
  auto foreign = server_->Request("POST", "/v1/sessions", "", body, {"Origin: https://evil.example"});
  EXPECT_EQ(foreign.status, 403) << foreign.body;
  EXPECT_EQ(Code(foreign), "csrf_failed");
  auto same = server_->Request("POST", "/v1/sessions", "", body, {"Origin: http://" + server_->address()});
  EXPECT_EQ(same.status, 201) << same.body;
}

}  // namespace
}  // namespace quarry::testing
