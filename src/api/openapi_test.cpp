// The checked-in OpenAPI document and the router must agree on which routes exist.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <filesystem>
#include <set>

#include "api/app.h"
#include "common/testing/temp_dir.h"
#include "meta/sqlite/sqlite_meta_store.h"
#include "meta/sqlite/sqlite_session_store.h"

namespace quarry::api {
namespace {

class OpenApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::move(OpenSqliteMetaStore({dir_ + "/meta.db"})).value();
    objects_ = std::move(OpenLocalObjectStore(dir_ + "/storage")).value();
    identity_ = std::make_unique<IdentityService>(*store_, clock_);
    authenticator_ = std::make_unique<Authenticator>(*store_, clock_, AuthenticatorOptions{});
    job_store_ = std::move(OpenSqliteJobStore({dir_ + "/meta.db"})).value();
    job_service_ = std::make_unique<jobs::JobService>(*job_store_, registry_, clock_, jobs::JobServiceOptions{});
    dataset_store_ = std::move(OpenSqliteDatasetStore({dir_ + "/meta.db"})).value();
    access_store_ = std::move(OpenSqliteAccessStore({dir_ + "/meta.db"})).value();
    access_ = std::make_unique<access::AccessService>(*access_store_, *dataset_store_, clock_);
    datasets_ = std::make_unique<catalog::DatasetService>(*dataset_store_, *access_store_, *objects_, *job_service_,
                                                          clock_);
    upload_store_ = std::move(OpenSqliteUploadStore({dir_ + "/meta.db"})).value();
    uploads_ = std::make_unique<catalog::ResumableUploads>(*upload_store_, *datasets_, clock_,
                                                           catalog::ResumableUploadOptions{dir_ + "/uploads"});
    query::GuardOptions guard_options;
    guard_options.temp_directory = dir_ + "/query_tmp/.parser";
    guard_ = std::move(query::OpenStatementGuard(guard_options)).value();
    query::EngineLimits engine_limits;
    engine_limits.temp_root = dir_ + "/query_tmp";
    engines_ = std::make_unique<query::TenantEngines>(*objects_, engine_limits, clock_);
    queries_ = std::make_unique<query::QueryService>(*dataset_store_, *access_store_, *objects_, *guard_, *engines_, cache_, clock_,
                                                     query::QueryLimits{});
    audit_store_ = std::move(OpenSqliteAuditStore({dir_ + "/meta.db"})).value();
    audit_ = std::make_unique<audit::AuditLog>(*audit_store_, clock_, audit::AuditOptions{});
    session_store_ = std::move(OpenSqliteSessionStore({dir_ + "/meta.db"})).value();
    sessions_ = std::make_unique<SessionService>(*store_, *session_store_, *identity_, *authenticator_, hasher_, clock_,
                                                 SessionOptions{});
    app_ = std::make_unique<AppContext>(AppContext{config_, clock_, *store_, *objects_, *authenticator_,
                                                   *identity_, metrics_, *job_service_, *job_store_, nullptr,
                                                   *datasets_, *uploads_, dir_ + "/uploads", *queries_, *audit_, rate_limiter_,
                                                   *access_, *sessions_});
    RegisterRoutes(router_, *app_);
  }
  testing::TempDir temp_{"openapi"};
  const std::string dir_ = temp_.path().string();
  Config config_;
  SimulatedClock clock_;
  std::unique_ptr<MetaStore> store_;
  std::unique_ptr<ObjectStore> objects_;
  std::unique_ptr<IdentityService> identity_;
  std::unique_ptr<AuditStore> audit_store_;
  std::unique_ptr<audit::AuditLog> audit_;
  quota::RateLimiter rate_limiter_{clock_};
  std::unique_ptr<Authenticator> authenticator_;
  http::HttpMetrics metrics_;
  std::unique_ptr<JobStore> job_store_;
  jobs::HandlerRegistry registry_;
  std::unique_ptr<jobs::JobService> job_service_;
  std::unique_ptr<DatasetStore> dataset_store_;
  std::unique_ptr<AccessStore> access_store_;
  std::unique_ptr<access::AccessService> access_;
  std::unique_ptr<catalog::DatasetService> datasets_;
  std::unique_ptr<UploadStore> upload_store_;
  std::unique_ptr<catalog::ResumableUploads> uploads_;
  std::unique_ptr<query::StatementGuard> guard_;
  std::unique_ptr<query::TenantEngines> engines_;
  query::ResultCache cache_{0};
  std::unique_ptr<query::QueryService> queries_;
  std::unique_ptr<SessionStore> session_store_;
  PasswordHasher hasher_{PasswordOptions{64, 1, 1}};
  std::unique_ptr<SessionService> sessions_;
  std::unique_ptr<AppContext> app_;
  http::Router router_;
};

TEST_F(OpenApiTest, DocumentAndRouterDeclareTheSameRoutes) {
  auto doc = boost::json::parse(EmbeddedOpenApiDocument());
  EXPECT_EQ(doc.at("openapi"), "3.1.0");
  static const std::set<std::string> kMethods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"};
  std::set<std::string> documented;
  for (const auto& [path, item] : doc.at("paths").as_object()) {
    for (const auto& [method, operation] : item.as_object()) {
      if (!kMethods.count(std::string(method))) continue;
      std::string upper(method);
      for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      documented.insert(upper + " " + std::string(path));
      EXPECT_TRUE(operation.as_object().contains("operationId")) << upper << " " << path;
    }
  }
  std::set<std::string> routed;
  for (const auto& route : router_.routes()) routed.insert(route->method + " " + route->pattern);
  for (const auto& r : routed) EXPECT_TRUE(documented.count(r)) << "route missing from openapi.json: " << r;
  for (const auto& d : documented) EXPECT_TRUE(routed.count(d)) << "openapi.json documents a route that does not exist: " << d;
}

}  // namespace
}  // namespace quarry::api
