// StatementGuard: layer 1 of the query sandbox. Every tenant statement is parsed by DuckDB's own
// parser (json_serialize_sql, on a private engine that holds no data) and its whole parsed tree
// is checked before anything runs. Layer 2, the per-tenant engine's own restrictions
// (query/tenant_engines.h), holds even if this layer has a gap; neither relies on the other.
//
// What passes (docs/security.md): exactly one read-only statement: SELECT (CTEs, set operations,
// VALUES, subqueries, joins, lateral, window functions), DESCRIBE and SUMMARIZE of a query or a
// visible dataset, EXPLAIN [ANALYZE] of such a statement. Relations: the caller's datasets (by
// their plain name, case-insensitive) and CTEs in scope; table functions: an allowlist (range,
// generate_series, unnest); scalar functions: everything but those that reveal the environment
// (getenv, current_setting, which_secret, the pg_* / duckdb_* / pragma_* families, ...).
// Everything else is refused: other statements (COPY, ATTACH, SET, PRAGMA, CALL, INSTALL, LOAD,
// DDL, DML, ...), qualified names (schema or catalog), string-literal and file references, time
// travel clauses, SHOW.
//
// Errors (stable codes): InvalidArgument "sql_syntax_error" (DuckDB's message, details
// "position"), InvalidArgument "sql_empty" / "sql_too_large" / "sql_too_complex",
// PermissionDenied "sql_not_allowed" (the message names the construct; details "construct" and,
// where the parser knows it, "position": a 0-based byte offset into the SQL),
// NotFound "unknown_relation" (a name that is neither a dataset of the caller nor a CTE).
// Thread-safety: Check may be called concurrently.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace quarry::query {

struct GuardOptions {
  std::string temp_directory;  // the parser engine's (it never spills; DuckDB requires one)
  std::size_t max_sql_bytes = 100'000;
  int max_depth = 1'000;  // nesting of the parsed tree
};

struct CheckedStatement {
  std::string sql;  // what to execute: the checked text (EXPLAIN re-assembled from its parts)
  // `sql` without trailing semicolons and comments, to embed in a larger statement (exports).
  // Trimmed by a scan of quotes and comments: were it ever to cut differently from DuckDB's
  // lexer, the embedding statement fails to parse; it never runs a different statement.
  std::string embeddable_sql;
  std::vector<std::string> datasets;  // datasets it reads, lowercase, each once, in order of appearance
  // The parse tree without source positions: equal for statements that differ only in spacing,
  // comments or keyword case (the result cache's key).
  std::string normalized;
  // False when the answer may change between runs over the same data: random(), now(), uuid(),
  // sampling, EXPLAIN ANALYZE timings.
  bool deterministic = true;
};

class StatementGuard {
 public:
  virtual ~StatementGuard() = default;
  // `is_dataset(name)` (name lowercase): whether the caller may read a dataset of that name.
  virtual Result<CheckedStatement> Check(std::string_view sql,
                                         const std::function<bool(const std::string&)>& is_dataset) = 0;
};

Result<std::unique_ptr<StatementGuard>> OpenStatementGuard(const GuardOptions& options = {});

}  // namespace quarry::query
