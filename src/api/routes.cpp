#include "api/app.h"

namespace quarry::api {

void RegisterSystemRoutes(http::Router& router, AppContext& app);
void RegisterMeRoutes(http::Router& router, AppContext& app);
void RegisterUserRoutes(http::Router& router, AppContext& app);
void RegisterKeyRoutes(http::Router& router, AppContext& app);
void RegisterTenantRoutes(http::Router& router, AppContext& app);
void RegisterJobRoutes(http::Router& router, AppContext& app);
void RegisterDatasetRoutes(http::Router& router, AppContext& app);
void RegisterUploadRoutes(http::Router& router, AppContext& app);
void RegisterQueryRoutes(http::Router& router, AppContext& app);
void RegisterAuditRoutes(http::Router& router, AppContext& app);
void RegisterUsageRoutes(http::Router& router, AppContext& app);
void RegisterAccessRoutes(http::Router& router, AppContext& app);
void RegisterSessionRoutes(http::Router& router, AppContext& app);

void RegisterRoutes(http::Router& router, AppContext& app) {
  RegisterSystemRoutes(router, app);
  RegisterMeRoutes(router, app);
  RegisterUserRoutes(router, app);
  RegisterKeyRoutes(router, app);
  RegisterTenantRoutes(router, app);
  RegisterJobRoutes(router, app);
  RegisterDatasetRoutes(router, app);
  RegisterUploadRoutes(router, app);
  RegisterQueryRoutes(router, app);
  RegisterAuditRoutes(router, app);
  RegisterUsageRoutes(router, app);
  RegisterAccessRoutes(router, app);
  RegisterSessionRoutes(router, app);
}

}  // namespace quarry::api
