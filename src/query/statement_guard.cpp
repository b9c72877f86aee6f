#include "query/statement_guard.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <limits>
#include <set>
#include <utility>

#include <boost/json.hpp>

#include "engine/engine.h"
#include "query/connection_pool.h"

namespace quarry::query {
namespace {

namespace json = boost::json;

// Table functions a statement may call: they generate values and touch nothing outside.
constexpr std::array<std::string_view, 3> kAllowedTableFunctions = {"range", "generate_series", "unnest"};

// Scalar functions that reveal the environment or the engine's internals. Function families by
// prefix cover DuckDB's catalog and pg_catalog compatibility macros (which may read catalog
// tables, such as a view's definition, which names the files behind it).
constexpr std::array<std::string_view, 15> kDeniedFunctions = {
    "getenv",          "current_setting", "which_secret",      "enable_logging",    "disable_logging",
    "truncate_duckdb_logs", "current_schemas", "col_description", "obj_description", "shobj_description",
    "format_pg_type",  "format_type",     "current_query",     "getvariable",
    // error() raises a message of the caller's choosing from inside a scan, where a row policy's
    // filter may not have been applied yet.
    "error"};
// Functions whose value changes from run to run: statements calling them are not cached.
constexpr std::array<std::string_view, 22> kVolatileFunctions = {
    "random", "setseed", "uuid", "gen_random_uuid", "uuidv4", "uuidv7", "now", "current_timestamp",
    "get_current_timestamp", "current_date", "today", "current_time", "get_current_time",
    "transaction_timestamp", "statement_timestamp", "current_localtimestamp", "current_localtime",
    "localtimestamp", "localtime", "nextval", "currval", "txid_current"};

constexpr std::array<std::string_view, 4> kDeniedFunctionPrefixes = {"pg_", "duckdb_", "pragma_", "icu_"};

// The TableRef kinds a statement may use. Anything else (new kinds in later DuckDB versions
// included) is refused.
constexpr std::array<std::string_view, 8> kAllowedTableRefs = {
    "BASE_TABLE", "JOIN", "SUBQUERY", "EXPRESSION_LIST", "EMPTY", "TABLE_FUNCTION", "SHOW_REF", "PIVOT"};

constexpr std::uint64_t kNoLocation = std::numeric_limits<std::uint64_t>::max();

std::string Lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

template <std::size_t N>
bool Contains(const std::array<std::string_view, N>& list, std::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// A CTE or dataset name that can never be taken for a file: letters, digits and '_'.
bool IsPlainName(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  if (std::isdigit(static_cast<unsigned char>(name.front()))) return false;
  return std::all_of(name.begin(), name.end(), [](unsigned char c) { return std::isalnum(c) || c == '_'; });
}

// Skips whitespace and SQL comments (-- to end of line, /* ... */).
std::size_t SkipSpace(std::string_view sql, std::size_t i) {
  while (i < sql.size()) {
    if (std::isspace(static_cast<unsigned char>(sql[i]))) {
      ++i;
    } else if (sql.substr(i, 2) == "--") {
      std::size_t end = sql.find('\n', i);
      i = end == std::string_view::npos ? sql.size() : end + 1;
    } else if (sql.substr(i, 2) == "/*") {
      std::size_t end = sql.find("*/", i + 2);
      i = end == std::string_view::npos ? sql.size() : end + 2;
    } else {
      break;
    }
  }
  return i;
}

// `body` without trailing semicolons, whitespace and comments, so that it can be embedded in a
// larger statement (COPY (...) TO for exports). Quotes ('', "", $tag$...$tag$) and comments are
// tracked so that a ';' inside them is never taken for the end.
std::string_view TrimTrailing(std::string_view body) {
  std::size_t last = 0;  // one past the last significant character
  std::size_t i = 0;
  while (i < body.size()) {
    const char c = body[i];
    if (c == '\'' || c == '"') {
      std::size_t j = i + 1;
      while (j < body.size()) {
        if (body[j] == c) {
          if (j + 1 < body.size() && body[j + 1] == c) {
            j += 2;
            continue;
          }
          break;
        }
        ++j;
      }
      i = std::min(j + 1, body.size());
      last = i;
    } else if (body.substr(i, 2) == "--" || body.substr(i, 2) == "/*") {
      i = SkipSpace(body, i);
    } else if (c == '$') {
      std::size_t j = i + 1;
      while (j < body.size() && (std::isalnum(static_cast<unsigned char>(body[j])) || body[j] == '_')) ++j;
      if (j < body.size() && body[j] == '$' && !(j > i + 1 && std::isdigit(static_cast<unsigned char>(body[i + 1])))) {
        const std::string_view tag = body.substr(i, j - i + 1);
        const std::size_t end = body.find(tag, j + 1);
        i = end == std::string_view::npos ? body.size() : end + tag.size();
      } else {
        i = j;
      }
      last = i;
    } else if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == ';') {
      ++i;  // not significant: a statement separator (only a trailing one can remain here)
    } else {
      ++i;
      last = i;
    }
  }
  return body.substr(0, last);
}

// The keyword at `i` (letters only), uppercase, and where it ends.
std::pair<std::string, std::size_t> KeywordAt(std::string_view sql, std::size_t i) {
  std::size_t end = i;
  while (end < sql.size() && std::isalpha(static_cast<unsigned char>(sql[end]))) ++end;
  std::string word(sql.substr(i, end - i));
  std::transform(word.begin(), word.end(), word.begin(), [](unsigned char c) { return std::toupper(c); });
  return {word, end};
}

Status NotAllowed(const std::string& construct, const std::string& why, std::uint64_t position = kNoLocation) {
  std::map<std::string, std::string> details{{"construct", construct}};
  std::string message = why;
  if (position != kNoLocation) {
    details["position"] = std::to_string(position);
    message += " (at offset " + std::to_string(position) + ")";
  }
  return Status(ErrorCode::kPermissionDenied, "sql_not_allowed", message, std::move(details));
}

std::string_view StringField(const json::object& node, std::string_view key) {
  auto it = node.find(key);
  return it != node.end() && it->value().is_string() ? std::string_view(it->value().get_string()) : std::string_view();
}

std::uint64_t LocationOf(const json::object& node) {
  auto it = node.find("query_location");
  if (it == node.end()) return kNoLocation;
  if (it->value().is_uint64()) return it->value().get_uint64();
  if (it->value().is_int64() && it->value().get_int64() >= 0) return static_cast<std::uint64_t>(it->value().get_int64());
  return kNoLocation;
}

// One walk over a parsed statement. CTE names are scoped: a name defined by a query node is
// visible inside that node only.
class TreeChecker {
 public:
  explicit TreeChecker(const std::function<bool(const std::string&)>& is_dataset) : is_dataset_(is_dataset) {}

  Status Walk(const json::value& value) {
    if (value.is_array()) {
      for (const json::value& item : value.get_array()) QUARRY_RETURN_IF_ERROR(Walk(item));
      return Status::Ok();
    }
    if (!value.is_object()) return Status::Ok();
    const json::object& node = value.get_object();

    std::size_t pushed = 0;
    if (auto cte = node.find("cte_map"); cte != node.end()) {
      QUARRY_RETURN_IF_ERROR(PushCtes(cte->value(), &pushed));
    }
    Status status = CheckNode(node);
    if (status.ok()) {
      for (const auto& [key, child] : node) {
        status = Walk(child);
        if (!status.ok()) break;
      }
    }
    scope_.resize(scope_.size() - pushed);
    return status;
  }

  std::vector<std::string> datasets() const { return datasets_; }
  bool deterministic() const { return deterministic_; }

 private:
  Status PushCtes(const json::value& cte_map, std::size_t* pushed) {
    if (!cte_map.is_object()) return Status::Ok();
    auto map = cte_map.get_object().find("map");
    if (map == cte_map.get_object().end() || !map->value().is_array()) return Status::Ok();
    for (const json::value& entry : map->value().get_array()) {
      if (!entry.is_object()) continue;
      const std::string_view name = StringField(entry.get_object(), "key");
      if (!IsPlainName(name)) {
        return NotAllowed("CTE name", "a CTE name must be letters, digits and '_'");
      }
      // Inside its own (non-recursive) body, a CTE's name means the catalog's relation, not the
      // CTE: a CTE named like a dataset could read that dataset's view without it being resolved
      // for this caller. Refused, whatever the body.
      if (is_dataset_(Lower(name))) {
        return NotAllowed("CTE name", "the CTE name '" + std::string(name) +
                                          "' is also a dataset's name; give the CTE another name");
      }
      scope_.push_back(Lower(name));
      ++*pushed;
    }
    return Status::Ok();
  }

  Status CheckNode(const json::object& node) {
    if (auto sample = node.find("sample"); sample != node.end() && !sample->value().is_null()) deterministic_ = false;
    const std::string_view klass = StringField(node, "class");
    if (klass == "FUNCTION") return CheckFunction(node);
    if (klass == "COLUMN_REF") {
      // current_date, current_timestamp, localtime: keywords that bind as functions when no column
      // has the name.
      auto names = node.find("column_names");
      if (names != node.end() && names->value().is_array() && names->value().get_array().size() == 1 &&
          names->value().get_array()[0].is_string() &&
          Contains(kVolatileFunctions, Lower(names->value().get_array()[0].get_string()))) {
        deterministic_ = false;
      }
      return Status::Ok();
    }
    // TableRefs carry a "sample" member; query nodes and expressions do not.
    if (node.contains("sample") && node.contains("type") && !node.contains("select_list") && !node.contains("setop_type")) {
      return CheckTableRef(node);
    }
    return Status::Ok();
  }

  Status CheckFunction(const json::object& node) {
    const std::string name = Lower(StringField(node, "function_name"));
    // The parser itself qualifies some built-ins (list and struct literals) with main / system.
    const std::string_view schema = StringField(node, "schema");
    const std::string_view catalog = StringField(node, "catalog");
    if (!(schema.empty() || schema == "main") || !(catalog.empty() || catalog == "system")) {
      return NotAllowed("function " + name, "functions must be called by their plain name, without a schema",
                        LocationOf(node));
    }
    bool denied = Contains(kDeniedFunctions, name);
    for (std::string_view prefix : kDeniedFunctionPrefixes) denied = denied || name.starts_with(prefix);
    if (denied) {
      return NotAllowed("function " + name, "the function " + name + "() is not available to queries",
                        LocationOf(node));
    }
    if (Contains(kVolatileFunctions, name)) deterministic_ = false;
    return Status::Ok();
  }

  Status CheckTableRef(const json::object& node) {
    const std::string type(StringField(node, "type"));
    const std::uint64_t at = LocationOf(node);
    if (!Contains(kAllowedTableRefs, type)) {
      return NotAllowed(type, "this kind of relation (" + type + ") is not allowed in queries", at);
    }
    if (type == "TABLE_FUNCTION") {
      auto function = node.find("function");
      const std::string name = function != node.end() && function->value().is_object()
                                   ? Lower(StringField(function->value().get_object(), "function_name"))
                                   : std::string();
      if (!Contains(kAllowedTableFunctions, name)) {
        return NotAllowed("table function " + name,
                          "the table function " + name + "() is not available to queries (allowed: range, "
                          "generate_series, unnest); read your data through its dataset name",
                          at);
      }
      return Status::Ok();
    }
    if (type == "SHOW_REF") {
      if (!StringField(node, "table_name").empty()) {
        return NotAllowed("SHOW", "SHOW is not available; list datasets with GET /v1/datasets", at);
      }
      return Status::Ok();  // DESCRIBE / SUMMARIZE of a query: its query is walked
    }
    if (type != "BASE_TABLE") return Status::Ok();

    const std::string_view raw = StringField(node, "table_name");
    if (!StringField(node, "schema_name").empty() || !StringField(node, "catalog_name").empty()) {
      return NotAllowed("relation " + std::string(raw),
                        "relations must be named by their plain dataset name, without a schema or catalog", at);
    }
    if (auto clause = node.find("at_clause"); clause != node.end() && !clause->value().is_null()) {
      return NotAllowed("AT", "time travel clauses are not available; pin a dataset version in the request", at);
    }
    if (!IsPlainName(raw)) {
      return NotAllowed("file path or string literal",
                        "file paths and string literals cannot be read; query a dataset by its name", at);
    }
    const std::string name = Lower(raw);
    if (std::find(scope_.begin(), scope_.end(), name) != scope_.end()) return Status::Ok();  // a CTE
    if (!is_dataset_(name)) {
      std::map<std::string, std::string> details{{"relation", name}};
      if (at != kNoLocation) details["position"] = std::to_string(at);
      return Status(ErrorCode::kNotFound, "unknown_relation",
                    "there is no dataset named '" + name + "'; list datasets with GET /v1/datasets",
                    std::move(details));
    }
    if (std::find(datasets_.begin(), datasets_.end(), name) == datasets_.end()) datasets_.push_back(name);
    return Status::Ok();
  }

  const std::function<bool(const std::string&)>& is_dataset_;
  std::vector<std::string> scope_;
  std::vector<std::string> datasets_;
  bool deterministic_ = true;
};

// Removes "query_location" members and lowercases relation names (identifiers are
// case-insensitive, and relation names never reach the answer), everywhere (bounded by the parse
// depth limit). Aliases and column names keep their case: they name the answer's columns.
void Normalize(json::value& value) {
  if (value.is_array()) {
    for (json::value& item : value.get_array()) Normalize(item);
  } else if (value.is_object()) {
    json::object& node = value.get_object();
    node.erase("query_location");
    if (StringField(node, "type") == "BASE_TABLE") {
      if (auto name = node.find("table_name"); name != node.end() && name->value().is_string()) {
        name->value() = Lower(name->value().get_string());
      }
    }
    for (auto& [key, child] : node) Normalize(child);
  }
}

class DuckStatementGuard final : public StatementGuard {
 public:
  DuckStatementGuard(GuardOptions options, std::unique_ptr<engine::Database> parser)
      : options_(std::move(options)), parser_(std::shared_ptr<engine::Database>(std::move(parser)), 16) {}

  Result<CheckedStatement> Check(std::string_view sql,
                                 const std::function<bool(const std::string&)>& is_dataset) override {
    if (sql.size() > options_.max_sql_bytes) {
      return InvalidArgument("sql_too_large", "the SQL text is longer than " +
                                                  std::to_string(options_.max_sql_bytes) + " bytes; shorten it");
    }
    if (sql.find('\0') != std::string_view::npos) {
      return InvalidArgument("sql_syntax_error", "the SQL text contains a NUL byte");
    }
    // EXPLAIN [ANALYZE] is not a SELECT to the serializer: check what it explains, then run the
    // statement re-assembled from the keywords we recognized and the checked text.
    std::string prefix;
    std::size_t start = SkipSpace(sql, 0);
    if (start == sql.size()) return InvalidArgument("sql_empty", "the SQL text is empty; send one SELECT statement");
    auto [word, end] = KeywordAt(sql, start);
    if (word == "EXPLAIN") {
      prefix = "EXPLAIN ";
      start = SkipSpace(sql, end);
      auto [next, next_end] = KeywordAt(sql, start);
      if (next == "ANALYZE" || next == "ANALYSE") {
        prefix = "EXPLAIN ANALYZE ";
        start = SkipSpace(sql, next_end);
      }
      word = KeywordAt(sql, start).first;
    }
    const std::string body(sql.substr(start));

    QUARRY_ASSIGN_OR_RETURN(std::unique_ptr<PooledConnection> conn, parser_.Take());
    engine::ExecuteOptions exec;
    exec.max_rows = 1;
    exec.params.push_back(engine::Param{"", engine::Param::Kind::kText, false, 0, 0, body});
    auto serialized = conn->connection->Execute("SELECT json_serialize_sql(?::VARCHAR)", exec);
    parser_.Give(std::move(conn));
    QUARRY_ASSIGN_OR_RETURN(engine::QueryResult parsed, std::move(serialized));
    if (parsed.rows.size() != 1 || !parsed.rows[0][0]) {
      return Internal("sql_guard_error", "the SQL parser returned nothing");
    }
    json::parse_options parse_options;
    parse_options.max_depth = static_cast<std::size_t>(options_.max_depth);
    boost::system::error_code ec;
    json::value tree = json::parse(*parsed.rows[0][0], ec, {}, parse_options);
    if (ec) {
      return InvalidArgument("sql_too_complex", "the statement is nested more than " +
                                                    std::to_string(options_.max_depth) + " levels deep; simplify it");
    }
    if (!tree.is_object()) return Internal("sql_guard_error", "the SQL parser returned an unexpected answer");
    json::object& root = tree.get_object();
    if (auto error = root.find("error"); error != root.end() && error->value().is_bool() && error->value().get_bool()) {
      return ParseFailure(root, word, start);
    }
    auto statements = root.find("statements");
    if (statements == root.end() || !statements->value().is_array() || statements->value().get_array().empty()) {
      return InvalidArgument("sql_empty", "the SQL text has no statement; send one SELECT statement");
    }
    if (statements->value().get_array().size() != 1) {
      return NotAllowed("multiple statements", "send exactly one statement per request");
    }
    TreeChecker checker(is_dataset);
    Status checked = checker.Walk(statements->value());
    if (!checked.ok()) return ShiftPosition(checked, start);
    CheckedStatement out{prefix + body, prefix + std::string(TrimTrailing(body)), checker.datasets(), {},
                         checker.deterministic() && prefix != "EXPLAIN ANALYZE "};
    Normalize(statements->value());
    out.normalized = prefix + json::serialize(statements->value());
    return out;
  }

 private:
  // Positions from the parser are offsets into `body`; users see offsets into their SQL.
  static Status ShiftPosition(const Status& status, std::size_t offset) {
    auto details = status.details();
    auto it = details.find("position");
    if (it == details.end() || offset == 0) return status;
    it->second = std::to_string(std::stoull(it->second) + offset);
    std::string message = status.message();
    if (auto at = message.rfind(" (at offset "); at != std::string::npos) {
      message = message.substr(0, at) + " (at offset " + it->second + ")";
    }
    return Status(status.category(), status.code(), message, details);
  }

  // `keyword`: the statement's first keyword; `start`: where the parsed text begins in the SQL.
  static Status ParseFailure(const json::object& root, const std::string& keyword, std::size_t start) {
    const std::string_view type = StringField(root, "error_type");
    const std::string message(StringField(root, "error_message"));
    if (type == "not implemented") {
      static const std::set<std::string> kQueryKeywords = {"SELECT", "WITH", "FROM", "VALUES", "DESCRIBE",
                                                           "SUMMARIZE", "TABLE", ""};
      if (kQueryKeywords.count(keyword) > 0) {
        return NotAllowed("statement", "send exactly one read-only statement: the text also holds a statement "
                                       "that is not a query (SELECT, EXPLAIN, DESCRIBE, SUMMARIZE)");
      }
      return NotAllowed(keyword, keyword + " statements are not allowed; queries are read-only: SELECT (with "
                                 "CTEs, set operations, VALUES), EXPLAIN, DESCRIBE and SUMMARIZE",
                        start);
    }
    if (message.find("expression depth") != std::string::npos) {
      return InvalidArgument("sql_too_complex", "the statement's expressions are nested too deeply; simplify it");
    }
    std::map<std::string, std::string> details;
    const std::string_view position = StringField(root, "position");
    if (!position.empty()) details["position"] = std::to_string(std::stoull(std::string(position)) + start);
    return Status(ErrorCode::kInvalidArgument, "sql_syntax_error",
                  message.empty() ? "the SQL text could not be parsed" : message, std::move(details));
  }

  const GuardOptions options_;
  ConnectionPool parser_;
};

}  // namespace

Result<std::unique_ptr<StatementGuard>> OpenStatementGuard(const GuardOptions& options) {
  engine::EngineOptions engine_options;
  engine_options.threads = 1;
  engine_options.memory_limit_bytes = 64LL << 20;
  engine_options.temp_directory = options.temp_directory;
  engine_options.max_temp_directory_bytes = 0;
  engine_options.sandboxed = true;
  QUARRY_ASSIGN_OR_RETURN(std::unique_ptr<engine::Database> parser, engine::OpenDatabase(engine_options));
  return std::unique_ptr<StatementGuard>(new DuckStatementGuard(options, std::move(parser)));
}

}  // namespace quarry::query
