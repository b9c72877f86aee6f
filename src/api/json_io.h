// JSON request parsing and response rendering for the REST handlers.
//
// Requests: bodies must be one JSON object; a syntax error is 400 "invalid_json" naming the line
// and column; unknown fields are 400 "unknown_field" (typos must not be silently ignored);
// a field of the wrong type is 400 "invalid_field" naming it.
#pragma once

#include <boost/json.hpp>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "http/http.h"
#include "meta/records.h"

namespace quarry::api {

Result<boost::json::object> ParseJsonObject(const http::Request& request);

// Reads fields of a parsed object, remembering which exist so that unknown ones are refused.
class FieldReader {
 public:
  explicit FieldReader(const boost::json::object& object) : object_(object) {}
  Result<std::optional<std::string>> String(const char* name, bool required = false);
  Result<std::optional<std::int64_t>> Int(const char* name, std::int64_t min, std::int64_t max);
  Result<std::optional<std::vector<std::string>>> StringArray(const char* name, std::size_t max_items);
  // A JSON object field, returned serialized (at most `max_bytes`).
  Result<std::optional<std::string>> ObjectJson(const char* name, std::size_t max_bytes);
  // The field as it is (nullptr when absent or null), for fields of several shapes.
  const boost::json::value* Raw(const char* name);
  // Call after reading every known field.
  Status RejectUnknownFields() const;

 private:
  const boost::json::object& object_;
  std::set<std::string> known_;
};

// Parses ?limit= and ?cursor= (400 on a bad value).
Result<PageRequest> ParsePage(const http::Request& request);

boost::json::object ToJson(const Tenant& t);
boost::json::object ToJson(const User& u);
boost::json::object ToJson(const ApiKey& k);

// A list as every list route answers it: {"items": [to_json(item), ...], "next_cursor": the
// cursor of the next page, or null when there is none}.
template <typename Items, typename F>
boost::json::object ItemsToJson(const Items& items, const std::optional<std::string>& next_cursor, F to_json) {
  boost::json::array array;
  for (const auto& item : items) array.push_back(to_json(item));
  boost::json::object out;
  out["items"] = std::move(array);
  out["next_cursor"] = next_cursor ? boost::json::value(*next_cursor) : boost::json::value(nullptr);
  return out;
}

template <typename T, typename F>
boost::json::object PageToJson(const Page<T>& page, F to_json) {
  return ItemsToJson(page.items, page.next_cursor, to_json);
}

template <typename T>
boost::json::object PageToJson(const Page<T>& page) {
  return PageToJson(page, [](const T& item) { return ToJson(item); });
}

http::Response JsonResponse(int status, const boost::json::value& body);

}  // namespace quarry::api
