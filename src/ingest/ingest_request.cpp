#include "ingest/ingest_request.h"

#include <boost/json.hpp>

#include <charconv>
#include <regex>

#include "common/ids.h"

namespace quarry::ingest {
namespace {

constexpr std::size_t kMaxHintBytes = 64;
constexpr std::size_t kMaxNullStrings = 16;
constexpr std::size_t kMaxTypes = 1024;

Status Bad(const std::string& param, const std::string& why) {
  return InvalidArgument("invalid_parameter", "parameter '" + param + "': " + why);
}

bool IsPrintable(const std::string& s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

// DuckDB type names as users write them: BIGINT, VARCHAR, DECIMAL(18,2), TIMESTAMP WITH TIME ZONE.
bool IsTypeName(const std::string& type) {
  static const std::regex kType(R"(^[A-Za-z][A-Za-z0-9_ ]{0,40}(\(\s*\d{1,2}\s*(,\s*\d{1,2}\s*)?\))?$)");
  return std::regex_match(type, kType);
}

std::vector<std::string> Split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find(sep, start);
    if (end == std::string::npos) end = text.size();
    parts.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

}  // namespace

const char* ModeName(Mode mode) {
  switch (mode) {
    case Mode::kCreate: return "create";
    case Mode::kReplace: return "replace";
    case Mode::kAppend: return "append";
  }
  return "create";
}

std::optional<Mode> ParseMode(const std::string& text) {
  if (text == "create") return Mode::kCreate;
  if (text == "replace") return Mode::kReplace;
  if (text == "append") return Mode::kAppend;
  return std::nullopt;
}

Status Validate(const IngestRequest& r) {
  static const char* kFormats[] = {"", "csv", "tsv", "json", "ndjson", "parquet"};
  if (std::find(std::begin(kFormats), std::end(kFormats), r.format) == std::end(kFormats)) {
    return Bad("format", "use csv, tsv, json, ndjson or parquet (or leave it out to detect it)");
  }
  if (r.delimiter.size() > 4 || !IsPrintable(r.delimiter == "\t" ? std::string(",") : r.delimiter)) {
    return Bad("delimiter", "use 1 to 4 characters, e.g. ',' ';' '|' or a tab");
  }
  if (r.null_strings.size() > kMaxNullStrings) return Bad("null", "at most 16 null strings");
  for (const auto& n : r.null_strings) {
    if (n.size() > kMaxHintBytes || !IsPrintable(n)) return Bad("null", "each null string is at most 64 printable characters");
  }
  for (const auto* f : {&r.date_format, &r.timestamp_format}) {
    if (f->size() > kMaxHintBytes || !IsPrintable(*f)) {
      return Bad(f == &r.date_format ? "date_format" : "timestamp_format",
                 "at most 64 printable characters, e.g. '%d/%m/%Y'");
    }
  }
  if (r.types.size() > kMaxTypes) return Bad("types", "at most 1024 columns");
  for (const auto& [column, type] : r.types) {
    if (column.empty() || column.size() > 255 || !IsPrintable(column)) return Bad("types", "column names are 1 to 255 printable characters");
    if (!IsTypeName(type)) return Bad("types", "'" + type + "' is not a type name; use e.g. BIGINT, DOUBLE, VARCHAR, DATE, DECIMAL(18,2)");
  }
  if (r.max_bad_rows < 0 || r.max_bad_rows > 1'000'000'000) return Bad("max_bad_rows", "use 0 to 1000000000");
  if (!r.project_id.empty() && !LooksLikeId(r.project_id, "prj")) {
    return Bad("project", "name the project by its id (prj_...); list them with GET /v1/projects");
  }
  return Status::Ok();
}

std::string ToJson(const IngestRequest& r) {
  boost::json::object o;
  o["dataset"] = r.dataset;
  o["mode"] = ModeName(r.mode);
  o["upload_path"] = r.upload_path;
  o["filename"] = r.filename;
  o["format"] = r.format;
  o["delimiter"] = r.delimiter;
  o["header"] = r.header ? boost::json::value(*r.header) : boost::json::value(nullptr);
  boost::json::array nulls;
  for (const auto& n : r.null_strings) nulls.emplace_back(n);
  o["null_strings"] = std::move(nulls);
  o["date_format"] = r.date_format;
  o["timestamp_format"] = r.timestamp_format;
  boost::json::object types;
  for (const auto& [c, t] : r.types) types[c] = t;
  o["types"] = std::move(types);
  o["max_bad_rows"] = r.max_bad_rows;
  if (!r.project_id.empty()) o["project_id"] = r.project_id;
  if (r.lines_checked_until > 0) o["lines_checked_until"] = r.lines_checked_until;
  if (r.storage_quota_bytes > 0) o["storage_quota_bytes"] = r.storage_quota_bytes;
  if (r.keep_versions > 0) o["keep_versions"] = r.keep_versions;
  if (r.max_datasets > 0) o["max_datasets"] = r.max_datasets;
  return boost::json::serialize(o);
}

Result<IngestRequest> IngestRequestFromJson(const std::string& json) {
  boost::system::error_code ec;
  auto value = boost::json::parse(json, ec);
  if (ec || !value.is_object()) return Internal("bad_payload", "the ingestion job's payload is not a JSON object");
  const auto& o = value.as_object();
  auto text = [&](const char* key) -> std::string {
    auto* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  IngestRequest r;
  r.dataset = text("dataset");
  auto mode = ParseMode(text("mode"));
  if (!mode) return Internal("bad_payload", "the ingestion job's payload has no valid mode");
  r.mode = *mode;
  r.upload_path = text("upload_path");
  r.filename = text("filename");
  r.format = text("format");
  r.delimiter = text("delimiter");
  if (auto* h = o.if_contains("header"); h && h->is_bool()) r.header = h->as_bool();
  if (auto* n = o.if_contains("null_strings"); n && n->is_array()) {
    for (const auto& s : n->as_array()) {
      if (s.is_string()) r.null_strings.emplace_back(s.as_string());
    }
  }
  r.date_format = text("date_format");
  r.timestamp_format = text("timestamp_format");
  r.project_id = text("project_id");
  if (auto* t = o.if_contains("types"); t && t->is_object()) {
    for (const auto& [k, v] : t->as_object()) {
      if (v.is_string()) r.types[std::string(k)] = std::string(v.as_string());
    }
  }
  if (auto* m = o.if_contains("max_bad_rows"); m && m->is_int64()) r.max_bad_rows = m->as_int64();
  for (auto [key, field] : {std::pair{"lines_checked_until", &r.lines_checked_until},
                             std::pair{"storage_quota_bytes", &r.storage_quota_bytes},
                             std::pair{"keep_versions", &r.keep_versions},
                             std::pair{"max_datasets", &r.max_datasets}}) {
    if (auto* v = o.if_contains(key); v && v->is_int64() && v->as_int64() > 0) *field = v->as_int64();
  }
  QUARRY_RETURN_IF_ERROR(Validate(r));
  return r;
}

Result<IngestRequest> IngestRequestFromQuery(const std::map<std::string, std::string>& query) {
  static const char* kKnown[] = {"mode", "format", "delimiter", "header", "null", "date_format",
                                 "timestamp_format", "types", "max_bad_rows", "filename", "project"};
  for (const auto& [key, value] : query) {
    if (std::find(std::begin(kKnown), std::end(kKnown), key) == std::end(kKnown)) {
      return Bad(key, "unknown parameter; see /openapi.json for the upload parameters");
    }
  }
  IngestRequest r;
  auto get = [&](const char* key) {
    auto it = query.find(key);
    return it == query.end() ? std::string() : it->second;
  };
  if (const std::string mode = get("mode"); !mode.empty()) {
    auto parsed = ParseMode(mode);
    if (!parsed) return Bad("mode", "use create, replace or append");
    r.mode = *parsed;
  }
  r.format = get("format");
  r.delimiter = get("delimiter");
  if (r.format == "tsv" && r.delimiter.empty()) r.delimiter = "\t";
  if (const std::string header = get("header"); !header.empty()) {
    if (header != "true" && header != "false") return Bad("header", "use true or false");
    r.header = header == "true";
  }
  if (const std::string nulls = get("null"); query.count("null")) r.null_strings = Split(nulls, ',');
  r.date_format = get("date_format");
  r.timestamp_format = get("timestamp_format");
  r.filename = get("filename");
  r.project_id = get("project");
  if (r.filename.size() > 255 || !IsPrintable(r.filename)) return Bad("filename", "at most 255 printable characters");
  if (const std::string types = get("types"); !types.empty()) {
    for (const std::string& pair : Split(types, ',')) {
      const std::size_t colon = pair.rfind(':');
      if (colon == std::string::npos || colon == 0) return Bad("types", "use column:TYPE pairs separated by commas, e.g. id:BIGINT,day:DATE");
      r.types[pair.substr(0, colon)] = pair.substr(colon + 1);
    }
  }
  if (const std::string bad = get("max_bad_rows"); !bad.empty()) {
    long long n = -1;
    auto [ptr, ec] = std::from_chars(bad.data(), bad.data() + bad.size(), n);
    if (ec != std::errc() || ptr != bad.data() + bad.size()) return Bad("max_bad_rows", "use a whole number");
    r.max_bad_rows = n;
  }
  QUARRY_RETURN_IF_ERROR(Validate(r));
  return r;
}

}  // namespace quarry::ingest
