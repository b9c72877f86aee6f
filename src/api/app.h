// The REST API: registers every route of Quarry on a Router. Handlers parse and validate the
// request, call one service with the request's Principal, and render the result; they never
// touch SQL or files (those belong to the services and stores in AppContext).
#pragma once

#include <string>

#include "access/access_service.h"
#include "audit/audit_log.h"
#include "auth/authenticator.h"
#include "quota/quota.h"
#include "catalog/dataset_service.h"
#include "catalog/resumable_uploads.h"
#include "common/clock.h"
#include "config/config.h"
#include "http/http.h"
#include "http/metrics.h"
#include "identity/identity_service.h"
#include "identity/session_service.h"
#include "jobs/job_service.h"
#include "meta/meta_store.h"
#include "query/query_service.h"
#include "storage/object_store.h"

namespace quarry::api {

// Everything the handlers reach. Owned by the process (cli/serve); outlives the server.
struct AppContext {
  const Config& config;
  const Clock& clock;
  MetaStore& store;
  ObjectStore& objects;
  Authenticator& authenticator;
  IdentityService& identity;
  http::HttpMetrics& metrics;
  jobs::JobService& jobs;
  JobStore& job_store;                        // for queue gauges on /metrics
  const jobs::JobMetrics* job_metrics;        // nullptr when this process runs no workers
  catalog::DatasetService& datasets;
  catalog::ResumableUploads& uploads;
  std::string uploads_dir;                    // where upload bodies are streamed to
  query::QueryService& queries;
  audit::AuditLog& audit;                     // the security-relevant events of every request
  quota::RateLimiter& rate_limiter;           // requests per second per API key
  access::AccessService& access;              // projects, groups, grants
  SessionService& sessions;                   // web sign-in: sessions and passwords
};

void RegisterRoutes(http::Router& router, AppContext& app);

// The checked-in OpenAPI 3.1 document (src/api/openapi.json), compiled in.
std::string_view EmbeddedOpenApiDocument();

}  // namespace quarry::api
