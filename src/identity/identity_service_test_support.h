// Shared fixture of the IdentityService tests (identity_service_*_test.cpp).
#pragma once

#include "identity/identity_service.h"

#include <gtest/gtest.h>

#include "common/testing/temp_dir.h"
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "auth/api_key_token.h"
#include "common/ids.h"
#include "meta/sqlite/sqlite_meta_store.h"

namespace quarry {
namespace {

using namespace std::chrono_literals;

const std::vector<std::string> kAllScopes = {"read", "write", "admin"};

[[maybe_unused]] void ExpectError(const Status& status, ErrorCode category, const std::string& code) {
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.category(), category) << status.ToString();
  EXPECT_EQ(status.code(), code) << status.ToString();
}

template <typename T>
void ExpectError(const Result<T>& result, ErrorCode category, const std::string& code) {
  ASSERT_FALSE(result.ok()) << "expected " << code;
  ExpectError(result.status(), category, code);
}

class IdentityServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = OpenSqliteMetaStore({(dir_ / "meta.db").string(), 5000, 4});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    service_ = std::make_unique<IdentityService>(*store_, clock_);

    auto created =
        service_->CreateTenant(operator_, NewTenant{"acme", "Acme Inc.", std::string("owner@acme.test")});
    ASSERT_TRUE(created.ok()) << created.status().ToString();
    acme_ = created->tenant;
    ASSERT_TRUE(created->owner.has_value());
    acme_owner_user_ = *created->owner;
    acme_owner_ = Member(acme_, *created->owner, created->owner_key->key.scopes);
  }

  void TearDown() override {
    service_.reset();
    store_.reset();
  }

  // The principal the authenticator would build for `user` holding a key with `scopes`.
  static Principal Member(const Tenant& tenant, const User& user, std::vector<std::string> scopes) {
    Principal p;
    p.tenant = tenant;
    p.user = user;
    p.key_id = "key_test";
    p.scopes = std::move(scopes);
    return p;
  }

  // Creates a user of acme with `role` (as acme's owner) and returns its principal with the
  // scopes its role allows.
  Principal AcmeMember(const std::string& email, const std::string& role) {
    auto user = service_->CreateUser(acme_owner_, acme_.id, NewUser{email, role});
    EXPECT_TRUE(user.ok()) << user.status().ToString();
    std::vector<std::string> scopes = {"read"};
    if (role != "viewer") scopes.push_back("write");
    if (role == "owner" || role == "admin") scopes.push_back("admin");
    return Member(acme_, *user, scopes);
  }

  CreatedKey OwnKey(const Principal& actor, const std::string& name) {
    NewKey request;
    request.name = name;
    auto key = service_->CreateKey(actor, actor.tenant.id, request);
    EXPECT_TRUE(key.ok()) << key.status().ToString();
    return key.ok() ? *key : CreatedKey{};
  }

  static std::vector<std::string> Sorted(std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  }

  testing::TempDir temp_{"identity"};
  const std::filesystem::path dir_ = temp_.path();
  SimulatedClock clock_;
  std::unique_ptr<MetaStore> store_;
  std::unique_ptr<IdentityService> service_;
  const Principal operator_ = Principal::LocalOperator();
  Tenant acme_;
  User acme_owner_user_;
  Principal acme_owner_;
};


}  // namespace
}  // namespace quarry
