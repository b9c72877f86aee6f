#include "api/json_io.h"

#include <fmt/format.h>

#include <charconv>

namespace quarry::api {
namespace {

constexpr std::size_t kMaxDepth = 32;

Status InvalidField(const std::string& name, const std::string& message) {
  return InvalidArgument("invalid_field", message).WithDetail("field", name);
}

// 1-based line and column of byte `offset` in `text`.
std::pair<std::size_t, std::size_t> LineColumn(const std::string& text, std::size_t offset) {
  std::size_t line = 1, column = 1;
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return {line, column};
}

}  // namespace

Result<boost::json::object> ParseJsonObject(const http::Request& request) {
  const std::string& body = request.body;
  if (body.empty()) {
    return InvalidArgument("invalid_json", "The request body is empty; send a JSON object");
  }
  boost::json::parse_options options;
  options.max_depth = kMaxDepth;
  boost::json::stream_parser parser({}, options);
  boost::system::error_code ec;
  std::size_t consumed = parser.write_some(body.data(), body.size(), ec);
  if (!ec && consumed < body.size()) {
    ec = boost::json::error::extra_data;
  }
  if (!ec) parser.finish(ec);
  if (ec) {
    auto [line, column] = LineColumn(body, consumed);
    return InvalidArgument("invalid_json", fmt::format("The request body is not valid JSON: {} at "
                                                       "line {}, column {}",
                                                       ec.message(), line, column))
        .WithDetail("line", std::to_string(line))
        .WithDetail("column", std::to_string(column));
  }
  boost::json::value value = parser.release();
  if (!value.is_object()) {
    return InvalidArgument("invalid_json", "The request body must be a JSON object");
  }
  return std::move(value.as_object());
}

Result<std::optional<std::string>> FieldReader::String(const char* name, bool required) {
  known_.insert(name);
  auto it = object_.find(name);
  if (it == object_.end() || it->value().is_null()) {
    if (required) return InvalidField(name, fmt::format("'{}' is required", name));
    return std::optional<std::string>();
  }
  if (!it->value().is_string()) return InvalidField(name, fmt::format("'{}' must be a string", name));
  return std::optional<std::string>(std::string(it->value().as_string()));
}

Result<std::optional<std::int64_t>> FieldReader::Int(const char* name, std::int64_t min, std::int64_t max) {
  known_.insert(name);
  auto it = object_.find(name);
  if (it == object_.end() || it->value().is_null()) return std::optional<std::int64_t>();
  const auto& v = it->value();
  std::int64_t n = 0;
  if (v.is_int64()) n = v.as_int64();
  else if (v.is_uint64() && v.as_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) n = static_cast<std::int64_t>(v.as_uint64());
  else return InvalidField(name, fmt::format("'{}' must be an integer", name));
  if (n < min || n > max) {
    return InvalidField(name, fmt::format("'{}' must be between {} and {}", name, min, max));
  }
  return std::optional<std::int64_t>(n);
}

Result<std::optional<std::vector<std::string>>> FieldReader::StringArray(const char* name,
                                                                         std::size_t max_items) {
  known_.insert(name);
  auto it = object_.find(name);
  if (it == object_.end() || it->value().is_null()) return std::optional<std::vector<std::string>>();
  if (!it->value().is_array()) return InvalidField(name, fmt::format("'{}' must be an array of strings", name));
  const auto& array = it->value().as_array();
  if (array.size() > max_items) {
    return InvalidField(name, fmt::format("'{}' may hold at most {} items", name, max_items));
  }
  std::vector<std::string> out;
  for (const auto& item : array) {
    if (!item.is_string()) return InvalidField(name, fmt::format("'{}' must be an array of strings", name));
    out.emplace_back(item.as_string());
  }
  return std::optional<std::vector<std::string>>(std::move(out));
}

Result<std::optional<std::string>> FieldReader::ObjectJson(const char* name, std::size_t max_bytes) {
  known_.insert(name);
  auto it = object_.find(name);
  if (it == object_.end() || it->value().is_null()) return std::optional<std::string>();
  if (!it->value().is_object()) return InvalidField(name, fmt::format("'{}' must be a JSON object", name));
  std::string text = boost::json::serialize(it->value());
  if (text.size() > max_bytes) {
    return InvalidField(name, fmt::format("'{}' may be at most {} bytes of JSON", name, max_bytes));
  }
  return std::optional<std::string>(std::move(text));
}

const boost::json::value* FieldReader::Raw(const char* name) {
  known_.insert(name);
  auto it = object_.find(name);
  return it == object_.end() || it->value().is_null() ? nullptr : &it->value();
}

Status FieldReader::RejectUnknownFields() const {
  for (const auto& field : object_) {
    const std::string key(field.key());
    if (!known_.count(key)) {
      std::string known;
      for (const auto& k : known_) known += (known.empty() ? "" : ", ") + k;
      return InvalidArgument("unknown_field", fmt::format("Unknown field '{}'; known fields: {}",
                                                          key.substr(0, 64), known))
          .WithDetail("field", key.substr(0, 64));
    }
  }
  return Status::Ok();
}

Result<PageRequest> ParsePage(const http::Request& request) {
  PageRequest page;
  if (auto it = request.query.find("limit"); it != request.query.end()) {
    int limit = 0;
    auto [ptr, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), limit);
    if (ec != std::errc() || ptr != it->second.data() + it->second.size() || limit < 1 || limit > 1000) {
      return InvalidArgument("invalid_limit", "limit must be an integer from 1 to 1000");
    }
    page.limit = limit;
  }
  if (auto it = request.query.find("cursor"); it != request.query.end()) {
    if (it->second.size() > 64) return InvalidArgument("invalid_cursor", "cursor is not one this server issued");
    page.after_id = it->second;
  }
  return page;
}

namespace {
boost::json::value OptionalTime(const std::optional<UnixMillis>& t) {
  return t ? boost::json::value(FormatRfc3339(*t)) : boost::json::value(nullptr);
}
}  // namespace

namespace {
// A JSON object stored as text on a record (quota overrides, settings); {} when unreadable.
boost::json::value StoredObject(const std::string& json) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(json, ec);
  return !ec && v.is_object() ? v : boost::json::value(boost::json::object());
}
}  // namespace

boost::json::object ToJson(const Tenant& t) {
  return {{"id", t.id},
          {"slug", t.slug},
          {"name", t.name},
          {"status", ToString(t.status)},
          {"quotas", StoredObject(t.quotas_json)},
          {"settings", StoredObject(t.settings_json)},
          {"created_at", FormatRfc3339(t.created_at)},
          {"updated_at", FormatRfc3339(t.updated_at)}};
}

boost::json::object ToJson(const User& u) {
  return {{"id", u.id},
          {"email", u.email},
          {"role", ToString(u.role)},
          {"status", ToString(u.status)},
          {"created_at", FormatRfc3339(u.created_at)},
          {"updated_at", FormatRfc3339(u.updated_at)}};
}

boost::json::object ToJson(const ApiKey& k) {
  boost::json::array scopes;
  for (const auto& s : k.scopes) scopes.emplace_back(s);
  return {{"id", k.id},
          {"name", k.name},
          {"prefix", k.prefix},
          {"user_id", k.user_id.empty() ? boost::json::value(nullptr) : boost::json::value(k.user_id)},
          {"scopes", std::move(scopes)},
          {"created_at", FormatRfc3339(k.created_at)},
          {"last_used_at", OptionalTime(k.last_used_at)},
          {"expires_at", OptionalTime(k.expires_at)},
          {"revoked_at", OptionalTime(k.revoked_at)}};
}

http::Response JsonResponse(int status, const boost::json::value& body) {
  return http::Response::Json(status, boost::json::serialize(body));
}

}  // namespace quarry::api
