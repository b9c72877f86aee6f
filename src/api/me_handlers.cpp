// GET /v1/me: who the caller is.
#include "api/handler_support.h"
#include "common/json_text.h"

namespace quarry::api {
namespace {

// Written by hand rather than through a JSON document: this is the route every client calls
// first and often, and its shape is fixed (see the Me schema in openapi.json).
std::string RenderMe(const Principal& p) {
  std::string out;
  out.reserve(320);
  if (p.is_operator) {
    out += R"({"operator":true,"tenant":null,"user":null)";
  } else {
    out += R"({"operator":false,"tenant":{"id":)";
    AppendJsonString(out, p.tenant.id);
    out += R"(,"slug":)";
    AppendJsonString(out, p.tenant.slug);
    out += R"(,"name":)";
    AppendJsonString(out, p.tenant.name);
    out += R"(},"user":{"id":)";
    AppendJsonString(out, p.user.id);
    out += R"(,"email":)";
    AppendJsonString(out, p.user.email);
    out += R"(,"role":)";
    AppendJsonString(out, ToString(p.user.role));
    out += '}';
  }
  out += R"(,"key":{"id":)";
  AppendJsonString(out, p.key_id);
  out += R"(},"scopes":[)";
  for (std::size_t i = 0; i < p.scopes.size(); ++i) {
    if (i) out += ',';
    AppendJsonString(out, p.scopes[i]);
  }
  out += "]}";
  return out;
}

}  // namespace

void RegisterMeRoutes(http::Router& router, AppContext& app) {
  // Inline: the principal comes from the authenticator's in-memory cache once warm.
  router.Add({"GET", "/v1/me",
              Authed(app, [](http::Request&, const Principal& p) { return http::Response::Json(200, RenderMe(p)); }),
              http::Execution::kInline});
}

}  // namespace quarry::api
