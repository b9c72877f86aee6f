#include <boost/json.hpp>

#include "http/http.h"

namespace quarry::http {

Response Response::Json(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Response Response::Text(int status, std::string content_type, std::string body) {
  Response r;
  r.status = status;
  r.content_type = std::move(content_type);
  r.body = std::move(body);
  return r;
}

// RFC 9457 problem details. `type` is a URN naming the stable code; `instance` is the request
// path (never the query, which may hold secrets). Extension members: `code`, `request_id`, and
// `details` when the Status carries any.
Response Response::Problem(const Status& status, const Request& request) {
  boost::json::object doc;
  doc["type"] = "urn:quarry:problem:" + status.code();
  doc["title"] = TitleFor(status.category());
  const int http_status = HttpStatusFor(status.category());
  doc["status"] = http_status;
  doc["detail"] = status.message();
  doc["instance"] = request.path.empty() ? std::string("/") : request.path;
  doc["code"] = status.code();
  doc["request_id"] = request.request_id;
  if (!status.details().empty()) {
    boost::json::object details;
    for (const auto& [k, v] : status.details()) details[k] = v;
    doc["details"] = std::move(details);
  }
  Response r;
  r.status = http_status;
  r.content_type = "application/problem+json";
  r.body = boost::json::serialize(doc);
  // Where waiting helps (a rate or concurrency limit), the status says how long.
  if (auto retry = status.details().find("retry_after_seconds"); retry != status.details().end()) {
    r.headers.emplace_back("Retry-After", retry->second);
  }
  return r;
}

}  // namespace quarry::http
