// The embedded analytical engine (DuckDB 1.4.4 through its C API), as used by ingestion and, later,
// by the per-tenant query sandbox. No duckdb.h types appear here: callers compile without it.
//
// Contract:
//   - A Database is one in-memory DuckDB instance configured before any caller SQL runs (threads,
//     memory_limit, temp_directory + max_temp_directory_size, progress bar on, extension
//     autoinstall/autoload off). Optionally external access is restricted and the configuration
//     locked (the query sandbox); ingestion needs file access and leaves it open.
//   - Connection::Execute runs one statement through the pending API, checking the stop flag and
//     the deadline between execution tasks (a stop requested before execution starts is not lost),
//     reporting DuckDB's own progress, and fetching at most `max_rows` rows chunk by chunk.
//   - Errors are values: Status code "engine_error" (or "canceled" / "deadline_exceeded" /
//     "result_too_large"), the engine's message, and Details() with the DuckDB error type
//     (e.g. "Conversion", "Invalid Input", "IO", "Out of Memory", "Interrupt") under "error_type".
//     Messages may contain host paths: callers scrub them (ScrubPaths) before users see them.
// Thread-safety: a Database may be shared; a Connection is used by one thread at a time, except
// Interrupt(), which any thread may call.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace quarry::engine {

struct EngineOptions {
  int threads = 1;
  std::int64_t memory_limit_bytes = 512LL << 20;
  std::string temp_directory;               // required: spill files go here, per instance
  std::int64_t max_temp_directory_bytes = 8LL << 30;
  bool sandboxed = false;                   // external access off except allowed_directories,
                                            // then lock_configuration
  std::vector<std::string> allowed_directories;  // only with sandboxed
  // Keep Parquet footers in memory between statements: for files that never change in place
  // (published dataset versions), so each query skips re-reading them.
  bool parquet_metadata_cache = false;
  // False lets statements without ORDER BY return (and write) rows in any order: parallel COPY
  // then needs no ordered merge (about 13% faster CSV to Parquet here, and less memory).
  bool preserve_insertion_order = true;
};

// A value bound to a statement parameter (never spliced into SQL text).
struct Param {
  enum class Kind { kNull, kBool, kInt, kDouble, kText };
  std::string name;  // "$name" parameters; empty: positional (?, $1), in order
  Kind kind = Kind::kNull;
  bool bool_value = false;
  std::int64_t int_value = 0;
  double double_value = 0;
  std::string text;
};

struct ExecuteOptions {
  // Polled between execution tasks; true stops the statement (Status code "canceled").
  std::function<bool()> should_stop;
  // Called with DuckDB's progress in percent (0..100) when it changes; may be called often.
  std::function<void(double percent)> on_progress;
  std::optional<std::chrono::steady_clock::time_point> deadline;  // "deadline_exceeded"
  std::size_t max_rows = 100'000;  // beyond: "result_too_large", or a truncated result
  bool truncate_at_max_rows = false;  // stop fetching at max_rows and set QueryResult::truncated
  // Bytes of row values (their text) at most; beyond, like max_rows (0: no limit).
  std::size_t max_bytes = 0;
  // LIST, ARRAY, STRUCT, MAP and UNION values come back as JSON text (arrays, objects; MAP keys as
  // member names; numbers as numbers, NaN and infinities as strings), marked in
  // QueryResult::json_columns; column_types keep the DuckDB type names.
  bool nested_as_json = false;
  // Bound in order; the statement must take exactly these (InvalidArgument "parameter_mismatch").
  std::vector<Param> params;
};

// One row's values: DuckDB's VARCHAR casts (or JSON, see nested_as_json); nullopt is SQL NULL.
using Row = std::vector<std::optional<std::string>>;

// A fully fetched (small) result.
struct QueryResult {
  std::vector<std::string> column_names;
  std::vector<std::string> column_types;  // DuckDB logical type names ("BIGINT", "VARCHAR", ...)
  std::vector<Row> rows;
  std::int64_t rows_changed = 0;          // for statements that change rows (COPY, INSERT)
  bool truncated = false;                 // more rows existed than max_rows (truncate_at_max_rows)
  std::vector<bool> json_columns;         // per column: values are JSON text (nested_as_json)
};

// A started statement's rows, fetched a chunk at a time (large exports: memory stays bounded by
// a chunk). Uses its connection until destroyed; destroying it before the end stops the
// statement. The options' deadline (enforced by the watchdog) and should_stop hold for the whole
// fetch; max_rows and max_bytes do not apply (the caller decides how much it reads).
class Cursor {
 public:
  virtual ~Cursor() = default;
  virtual const std::vector<std::string>& column_names() const = 0;
  virtual const std::vector<std::string>& column_types() const = 0;
  virtual const std::vector<bool>& json_columns() const = 0;
  // Appends the next chunk's rows (at most 2,048) to `rows`; false once the result is exhausted.
  virtual Result<bool> Next(std::vector<Row>* rows) = 0;
  // The rows as an Arrow IPC stream instead (use one of Next or NextArrow per cursor): the first
  // call appends the schema message, each call then one record batch of the next chunk; false
  // once exhausted, after appending the end-of-stream marker. InvalidArgument
  // "arrow_type_unsupported" for a column the encoder cannot write (arrow_ipc.h).
  virtual Result<bool> NextArrow(std::string* out) = 0;
};

class Connection {
 public:
  virtual ~Connection() = default;
  virtual Result<QueryResult> Execute(std::string_view sql, const ExecuteOptions& options = {}) = 0;
  // Starts the statement and returns its rows to fetch; no other statement may run on this
  // connection until the cursor is destroyed.
  virtual Result<std::unique_ptr<Cursor>> Open(std::string_view sql, const ExecuteOptions& options = {}) = 0;
  virtual void Interrupt() = 0;
};

class Database {
 public:
  virtual ~Database() = default;
  virtual Result<std::unique_ptr<Connection>> Connect() = 0;
};

Result<std::unique_ptr<Database>> OpenDatabase(const EngineOptions& options);

// SQL string literal: 'it''s' (quotes doubled). For paths and values the caller controls.
std::string QuoteLiteral(std::string_view value);
// read_parquet(['a', 'b']): one relation over Parquet files with one schema, rows in file order.
std::string ReadParquetSql(const std::vector<std::string>& files);
// SQL identifier: "a""b".
std::string QuoteIdentifier(std::string_view name);

// `message` with every occurrence of each of `paths` replaced by `replacement`.
std::string ScrubPaths(std::string message, const std::vector<std::string>& paths,
                       std::string_view replacement = "<file>");

}  // namespace quarry::engine
