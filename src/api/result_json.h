// Query results as JSON and CSV (POST /v1/query, previews). Values arrive as DuckDB's VARCHAR
// casts with their DuckDB type names (engine/engine.h); this file decides how each type travels:
//   - BOOLEAN: true/false; TINYINT..INTEGER and their unsigned kinds: numbers;
//   - BIGINT, UBIGINT, HUGEINT, UHUGEINT: numbers while exactly representable as a double
//     (|v| <= 2^53 - 1), strings beyond, so no digit is ever lost;
//   - FLOAT, DOUBLE: numbers; NaN and infinities as the strings "NaN", "Infinity", "-Infinity";
//   - DECIMAL: strings (exact);
//   - TIMESTAMP kinds: ISO 8601 ("2024-05-01T10:00:00", with time zone "…+00:00"); DATE as is;
//   - LIST, ARRAY, STRUCT, MAP, UNION: JSON arrays and objects (the engine's to_json, when the
//     result marks the column json_columns);
//   - everything else (VARCHAR, UUID, INTERVAL, TIME, BLOB): DuckDB's text;
//   - NULL: null.
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>

#include <boost/json.hpp>

#include "engine/engine.h"

namespace quarry::api {

boost::json::value ValueToJson(const std::string& type, const std::optional<std::string>& text);
// {"columns": [{"name","type"}], "rows": [[...]], "row_count", "truncated"}.
boost::json::object ResultToJson(const engine::QueryResult& result);
// RFC 4180: a header line, then one line per row; NULL is an empty field, "" an empty string.
std::string ResultToCsv(const engine::QueryResult& result);
void AppendCsvHeader(std::string& out, const std::vector<std::string>& names);
void AppendCsvRows(std::string& out, const std::vector<engine::Row>& rows);

}  // namespace quarry::api
