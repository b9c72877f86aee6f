// /v1/audit: the tenant's audit log, for owners and admins (docs/security.md, "Audit log").
#include <charconv>

#include "api/handler_support.h"

namespace quarry::api {
namespace {

Result<std::optional<UnixMillis>> TimeParam(const http::Request& req, const char* name) {
  auto it = req.query.find(name);
  if (it == req.query.end()) return std::optional<UnixMillis>();
  auto t = ParseRfc3339(it->second);
  if (!t) {
    return InvalidArgument("invalid_" + std::string(name),
                           std::string(name) + " is an RFC 3339 UTC time, e.g. 2026-11-30T20:00:00Z");
  }
  return std::optional<UnixMillis>(*t);
}

Result<AuditFilter> FilterOf(const http::Request& req) {
  AuditFilter f;
  for (const auto& [key, value] : req.query) {
    if (key != "user_id" && key != "kind" && key != "since" && key != "until" && key != "cursor" && key != "limit") {
      return InvalidArgument("unknown_parameter", "unknown parameter '" + key +
                                                      "'; filter with user_id, kind, since, until (and cursor, limit)");
    }
  }
  if (auto it = req.query.find("user_id"); it != req.query.end()) f.user_id = it->second.substr(0, 64);
  if (auto it = req.query.find("kind"); it != req.query.end()) f.kind = it->second.substr(0, 64);
  QUARRY_ASSIGN_OR_RETURN(f.since, TimeParam(req, "since"));
  QUARRY_ASSIGN_OR_RETURN(f.until, TimeParam(req, "until"));
  auto number = [&](const char* name, std::int64_t min, std::int64_t max, std::int64_t* out) -> Status {
    auto it = req.query.find(name);
    if (it == req.query.end()) return Status::Ok();
    std::int64_t v = 0;
    auto [ptr, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
    if (ec != std::errc() || ptr != it->second.data() + it->second.size() || v < min || v > max) {
      return InvalidArgument("invalid_" + std::string(name),
                             std::string(name) + " must be a whole number from " + std::to_string(min) + " to " +
                                 std::to_string(max));
    }
    *out = v;
    return Status::Ok();
  };
  std::int64_t limit = 100;
  QUARRY_RETURN_IF_ERROR(number("limit", 1, 1000, &limit));
  QUARRY_RETURN_IF_ERROR(number("cursor", 0, INT64_MAX, &f.after_id));
  f.limit = static_cast<int>(limit);
  return f;
}

boost::json::object EventJson(const AuditEvent& e) {
  boost::system::error_code ec;
  boost::json::value details = boost::json::parse(e.details_json, ec);
  return {{"id", std::to_string(e.id)},
          {"at", FormatRfc3339(e.at)},
          {"user_id", e.user_id},
          {"key_id", e.key_id},
          {"kind", e.kind},
          {"target", e.target},
          {"outcome", e.outcome},
          {"details", ec ? boost::json::value(boost::json::object()) : details}};
}

}  // namespace

void RegisterAuditRoutes(http::Router& router, AppContext& app) {
  router.Add({"GET", "/v1/audit", Authed(app, [&app](http::Request& req, const Principal& p) {
                auto filter = FilterOf(req);
                if (!filter.ok()) return Problem(req, filter.status());
                auto events = app.audit.List(p, *filter);
                if (!events.ok()) return Problem(req, events.status());
                const bool more = static_cast<int>(events->size()) == filter->limit;
                return JsonResponse(200, ItemsToJson(*events,
                                                     more ? std::optional(std::to_string(events->back().id)) : std::nullopt,
                                                     EventJson));
              })});
}

}  // namespace quarry::api
