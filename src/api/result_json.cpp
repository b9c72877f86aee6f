#include "api/result_json.h"

#include <charconv>
#include <cmath>
#include <cstdint>

namespace quarry::api {
namespace {

constexpr std::int64_t kMaxExactInteger = (std::int64_t{1} << 53) - 1;

bool IsOneOf(const std::string& type, std::initializer_list<const char*> names) {
  for (const char* name : names) {
    if (type == name) return true;
  }
  return false;
}

boost::json::value WideInteger(const std::string& text) {
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec == std::errc() && end == text.data() + text.size() && value >= -kMaxExactInteger && value <= kMaxExactInteger) {
    return value;
  }
  return boost::json::value(text);
}

boost::json::value Floating(const std::string& text) {
  if (text == "nan" || text == "-nan") return "NaN";
  if (text == "inf" || text == "infinity") return "Infinity";
  if (text == "-inf" || text == "-infinity") return "-Infinity";
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || !std::isfinite(value)) return boost::json::value(text);
  return value;
}

std::string IsoTimestamp(std::string text, bool with_zone) {
  if (auto space = text.find(' '); space != std::string::npos) text[space] = 'T';
  // DuckDB writes the offset as +HH (or +HH:MM when minutes are not zero).
  if (with_zone && text.size() >= 3) {
    const std::size_t sign = text.find_last_of("+-");
    if (sign != std::string::npos && sign > 10 && text.size() - sign == 3) text += ":00";
  }
  return text;
}

// An empty string is quoted, so that it differs from NULL (an empty field).
std::string CsvField(const std::string& value) {
  if (value.empty()) return "\"\"";
  if (value.find_first_of(",\"\r\n") == std::string::npos) return value;
  std::string out = "\"";
  for (char c : value) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// A nested value that the engine rendered as JSON text (its to_json), embedded as JSON.
boost::json::value EmbeddedJson(const std::optional<std::string>& text) {
  if (!text) return nullptr;
  boost::system::error_code ec;
  boost::json::value parsed = boost::json::parse(*text, ec);
  return ec ? boost::json::value(*text) : parsed;
}

}  // namespace

boost::json::value ValueToJson(const std::string& type, const std::optional<std::string>& text) {
  if (!text) return nullptr;
  if (type == "BOOLEAN") return *text == "true";
  if (IsOneOf(type, {"TINYINT", "SMALLINT", "INTEGER", "UTINYINT", "USMALLINT", "UINTEGER"})) {
    std::int64_t value = 0;
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
    if (ec == std::errc() && end == text->data() + text->size()) return value;
    return boost::json::value(*text);
  }
  if (IsOneOf(type, {"BIGINT", "UBIGINT", "HUGEINT", "UHUGEINT"})) return WideInteger(*text);
  if (IsOneOf(type, {"FLOAT", "DOUBLE"})) return Floating(*text);
  if (type.starts_with("TIMESTAMP")) return boost::json::value(IsoTimestamp(*text, type.find("TIME ZONE") != std::string::npos));
  return boost::json::value(*text);
}

boost::json::object ResultToJson(const engine::QueryResult& result) {
  boost::json::array columns;
  for (std::size_t c = 0; c < result.column_names.size(); ++c) {
    columns.push_back({{"name", result.column_names[c]}, {"type", result.column_types[c]}});
  }
  boost::json::array rows;
  rows.reserve(result.rows.size());
  for (const auto& row : result.rows) {
    boost::json::array out;
    out.reserve(row.size());
    for (std::size_t c = 0; c < row.size(); ++c) {
      const bool json = c < result.json_columns.size() && result.json_columns[c];
      out.push_back(json ? EmbeddedJson(row[c]) : ValueToJson(result.column_types[c], row[c]));
    }
    rows.push_back(std::move(out));
  }
  boost::json::object o;
  o["columns"] = std::move(columns);
  o["rows"] = std::move(rows);
  o["row_count"] = result.rows.size();
  o["truncated"] = result.truncated;
  return o;
}

void AppendCsvHeader(std::string& out, const std::vector<std::string>& names) {
  for (std::size_t c = 0; c < names.size(); ++c) out += (c ? "," : "") + CsvField(names[c]);
  out += "\r\n";
}

void AppendCsvRows(std::string& out, const std::vector<engine::Row>& rows) {
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < row.size(); ++c) {
      if (c) out += ',';
      if (row[c]) out += CsvField(*row[c]);
    }
    out += "\r\n";
  }
}

std::string ResultToCsv(const engine::QueryResult& result) {
  std::string out;
  AppendCsvHeader(out, result.column_names);
  AppendCsvRows(out, result.rows);
  return out;
}

}  // namespace quarry::api
