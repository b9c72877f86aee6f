// DuckDB's error types as Status values (engine_internal.h).
#include <string>

#include "engine/engine_internal.h"

namespace quarry::engine::internal {
namespace {

struct ErrorTypeName {
  duckdb_error_type type;
  const char* name;            // what Details()["error_type"] says
  const char* message_prefix;  // how DuckDB spells it in "<prefix> Error: ..."
};

constexpr ErrorTypeName kErrorTypes[] = {
    {DUCKDB_ERROR_INVALID, "Invalid", "Invalid"},
    {DUCKDB_ERROR_OUT_OF_RANGE, "Out of Range", "Out of Range"},
    {DUCKDB_ERROR_CONVERSION, "Conversion", "Conversion"},
    {DUCKDB_ERROR_UNKNOWN_TYPE, "Unknown Type", "Unknown Type"},
    {DUCKDB_ERROR_DECIMAL, "Decimal", "Decimal"},
    {DUCKDB_ERROR_MISMATCH_TYPE, "Mismatch Type", "Mismatch Type"},
    {DUCKDB_ERROR_DIVIDE_BY_ZERO, "Divide by Zero", "Divide by Zero"},
    {DUCKDB_ERROR_OBJECT_SIZE, "Object Size", "Object Size"},
    {DUCKDB_ERROR_INVALID_TYPE, "Invalid Type", "Invalid type"},
    {DUCKDB_ERROR_SERIALIZATION, "Serialization", "Serialization"},
    {DUCKDB_ERROR_TRANSACTION, "Transaction", "TransactionContext"},
    {DUCKDB_ERROR_NOT_IMPLEMENTED, "Not Implemented", "Not implemented"},
    {DUCKDB_ERROR_EXPRESSION, "Expression", "Expression"},
    {DUCKDB_ERROR_CATALOG, "Catalog", "Catalog"},
    {DUCKDB_ERROR_PARSER, "Parser", "Parser"},
    {DUCKDB_ERROR_PLANNER, "Planner", "Planner"},
    {DUCKDB_ERROR_SCHEDULER, "Scheduler", "Scheduler"},
    {DUCKDB_ERROR_EXECUTOR, "Executor", "Executor"},
    {DUCKDB_ERROR_CONSTRAINT, "Constraint", "Constraint"},
    {DUCKDB_ERROR_INDEX, "Index", "Index"},
    {DUCKDB_ERROR_STAT, "Stat", "Stat"},
    {DUCKDB_ERROR_CONNECTION, "Connection", "Connection"},
    {DUCKDB_ERROR_SYNTAX, "Syntax", "Syntax"},
    {DUCKDB_ERROR_SETTINGS, "Settings", "Settings"},
    {DUCKDB_ERROR_BINDER, "Binder", "Binder"},
    {DUCKDB_ERROR_NETWORK, "Network", "Network"},
    {DUCKDB_ERROR_OPTIMIZER, "Optimizer", "Optimizer"},
    {DUCKDB_ERROR_NULL_POINTER, "Null Pointer", "NullPointer"},
    {DUCKDB_ERROR_IO, "IO", "IO"},
    {DUCKDB_ERROR_INTERRUPT, "Interrupt", "INTERRUPT"},
    {DUCKDB_ERROR_FATAL, "Fatal", "FATAL"},
    {DUCKDB_ERROR_INTERNAL, "Internal", "INTERNAL"},
    {DUCKDB_ERROR_INVALID_INPUT, "Invalid Input", "Invalid Input"},
    {DUCKDB_ERROR_OUT_OF_MEMORY, "Out of Memory", "Out of Memory"},
    {DUCKDB_ERROR_PERMISSION, "Permission", "Permission"},
    {DUCKDB_ERROR_PARAMETER_NOT_RESOLVED, "Parameter Not Resolved", "Parameter Not Resolved"},
    {DUCKDB_ERROR_PARAMETER_NOT_ALLOWED, "Parameter Not Allowed", "Parameter Not Allowed"},
    {DUCKDB_ERROR_DEPENDENCY, "Dependency", "Dependency"},
    {DUCKDB_ERROR_HTTP, "HTTP", "HTTP"},
    {DUCKDB_ERROR_MISSING_EXTENSION, "Missing Extension", "Missing Extension"},
    {DUCKDB_ERROR_AUTOLOAD, "Extension Autoloading", "Extension Autoloading"},
    {DUCKDB_ERROR_SEQUENCE, "Sequence", "Sequence"},
};

}  // namespace


const char* ErrorTypeNameOf(duckdb_error_type type) {
  for (const auto& entry : kErrorTypes) {
    if (entry.type == type) return entry.name;
  }
  return "Unknown";
}

// duckdb_prepare_error and duckdb_pending_error give only the message; its "<Type> Error: " prefix
// (DuckDB's ErrorData::Message format) is the only place the type is visible there.
const char* ErrorTypeNameOf(std::string_view message) {
  for (const auto& entry : kErrorTypes) {
    std::string_view prefix = entry.message_prefix;
    if (message.size() > prefix.size() && message.substr(0, prefix.size()) == prefix &&
        message.substr(prefix.size()).starts_with(" Error: ")) {
      return entry.name;
    }
  }
  if (message.starts_with("Invalid Configuration Error: ")) return "Invalid Configuration";
  return "Unknown";
}

// One failed statement. The category follows the DuckDB error type: most failures are about the
// statement or its data (400); memory is a resource limit (429); internal/fatal errors are ours
// (500); a sandbox refusal is 403; an interrupt (Interrupt() from another thread) is "canceled".
Status EngineError(std::string_view error_type, const char* message) {
  std::string text = message != nullptr && *message != '\0' ? message : "the engine reported an error";
  std::string type(error_type);
  if (type == "Interrupt") {
    return Status(ErrorCode::kFailedPrecondition, "canceled", "the statement was interrupted",
                  {{"error_type", type}});
  }
  ErrorCode category = ErrorCode::kInvalidArgument;
  if (type == "Out of Memory") category = ErrorCode::kResourceExhausted;
  if (type == "Internal" || type == "Fatal") category = ErrorCode::kInternal;
  if (type == "Permission") category = ErrorCode::kPermissionDenied;
  return Status(category, kEngineError, std::move(text), {{"error_type", std::move(type)}});
}

Status Canceled() { return Status(ErrorCode::kFailedPrecondition, "canceled", "the statement was canceled"); }
Status DeadlineExceeded() {
  return Status(ErrorCode::kResourceExhausted, "deadline_exceeded",
                "the statement did not finish before its deadline");
}
Status ResultTooLarge(std::size_t max_rows) {
  return Status(
      ErrorCode::kResourceExhausted, "result_too_large",
      "the result has more than " + std::to_string(max_rows) + " rows; add a LIMIT or aggregate further");
}

}  // namespace quarry::engine::internal
