// /v1/admin/tenants: the operator manages tenants.
#include "api/handler_support.h"

namespace quarry::api {
namespace {

auto TenantJson = [](const Tenant& t) { return ToJson(t); };

// One tenant as GET and PATCH show it: its identity record plus its job weight (job store).
http::Response TenantWithWeight(AppContext& app, const http::Request& req, const Principal& p,
                                const Result<Tenant>& tenant) {
  if (!tenant.ok()) return Problem(req, tenant.status());
  auto weight = app.jobs.TenantWeight(p, tenant->id);
  if (!weight.ok()) return Problem(req, weight.status());
  boost::json::object out = ToJson(*tenant);
  out["job_weight"] = *weight;
  return JsonResponse(200, out);
}

}  // namespace

void RegisterTenantRoutes(http::Router& router, AppContext& app) {
  router.Add({"GET", "/v1/admin/tenants", Authed(app, [&app](http::Request& req, const Principal& p) {
                auto page = ParsePage(req);
                if (!page.ok()) return Problem(req, page.status());
                return Render(req, app.identity.ListTenants(p, *page), 200,
                              [](const Page<Tenant>& tenants) { return PageToJson(tenants); });
              })});

  router.Add({"POST", "/v1/admin/tenants", Authed(app, [&app](http::Request& req, const Principal& p) {
                auto body = ParseJsonObject(req);
                if (!body.ok()) return Problem(req, body.status());
                FieldReader fields(*body);
                auto slug = fields.String("slug", true);
                if (!slug.ok()) return Problem(req, slug.status());
                auto name = fields.String("name", true);
                if (!name.ok()) return Problem(req, name.status());
                auto owner_email = fields.String("owner_email");
                if (!owner_email.ok()) return Problem(req, owner_email.status());
                if (Status st = fields.RejectUnknownFields(); !st.ok()) return Problem(req, st);
                auto created = app.identity.CreateTenant(p, NewTenant{**slug, **name, *owner_email});
                return Render(req, created, 201, [](const CreatedTenant& c) {
                  boost::json::object out = ToJson(c.tenant);
                  if (c.owner) out["owner"] = ToJson(*c.owner);
                  if (c.owner_key) {
                    boost::json::object key = ToJson(c.owner_key->key);
                    key["secret"] = c.owner_key->token;
                    out["owner_key"] = std::move(key);
                  }
                  return out;
                });
              })});

  router.Add({"GET", "/v1/admin/tenants/{id}", Authed(app, [&app](http::Request& req, const Principal& p) {
                return TenantWithWeight(app, req, p, app.identity.GetTenant(p, req.path_params["id"]));
              })});

  router.Add({"PATCH", "/v1/admin/tenants/{id}", Authed(app, [&app](http::Request& req, const Principal& p) {
                auto body = ParseJsonObject(req);
                if (!body.ok()) return Problem(req, body.status());
                FieldReader fields(*body);
                auto name = fields.String("name");
                if (!name.ok()) return Problem(req, name.status());
                auto status = fields.String("status");
                if (!status.ok()) return Problem(req, status.status());
                auto weight = fields.Int("job_weight", 1, jobs::kMaxTenantWeight);
                if (!weight.ok()) return Problem(req, weight.status());
                const boost::json::value* quotas = fields.Raw("quotas");
                if (quotas && !quotas->is_object()) {
                  return Problem(req, InvalidArgument("invalid_field", "'quotas' is an object of quota names to "
                                                                       "whole numbers (null: back to the default)"));
                }
                const boost::json::value* settings = fields.Raw("settings");
                if (settings && !settings->is_object()) {
                  return Problem(req, InvalidArgument("invalid_field", "'settings' is an object of setting names to "
                                                                       "true or false (null: back to the default)"));
                }
                if (Status st = fields.RejectUnknownFields(); !st.ok()) return Problem(req, st);
                auto updated = app.identity.UpdateTenant(p, req.path_params["id"], *name, *status,
                                                         quotas ? &quotas->as_object() : nullptr,
                                                         settings ? &settings->as_object() : nullptr);
                if (updated.ok() && *weight) {
                  Status set = app.jobs.SetTenantWeight(p, updated->id, static_cast<int>(**weight));
                  if (!set.ok()) return Problem(req, set);
                }
                if (updated.ok() && quotas) {
                  Status applied = app.jobs.ApplyTenantQuotas(p, *updated);
                  if (!applied.ok()) return Problem(req, applied);
                }
                return TenantWithWeight(app, req, p, updated);
              })});
}

}  // namespace quarry::api
