// Internals of the engine module shared by its .cpp files: RAII over DuckDB's C handles, DuckDB
// error types as Status, and the value conversions of engine_values.cpp. Not part of the
// engine.h contract: only engine/*.cpp include it (it brings in duckdb.h).
#pragma once

#include <duckdb.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "common/status.h"

namespace quarry::engine::detail {
// engine_values.cpp: values and type names as text (and nested values as JSON).
std::string LogicalTypeName(duckdb_logical_type type);
std::optional<std::string> VectorValueText(duckdb_vector vector, duckdb_logical_type type, idx_t row);
std::string VectorValueJson(duckdb_vector vector, duckdb_logical_type type, idx_t row);
}  // namespace quarry::engine::detail

namespace quarry::engine::internal {

inline constexpr char kEngineError[] = "engine_error";

inline bool IsNested(duckdb_type type) {
  return type == DUCKDB_TYPE_LIST || type == DUCKDB_TYPE_ARRAY || type == DUCKDB_TYPE_STRUCT ||
         type == DUCKDB_TYPE_MAP || type == DUCKDB_TYPE_UNION;
}

inline bool IsValidAt(duckdb_vector vector, idx_t row) {
  uint64_t* validity = duckdb_vector_get_validity(vector);
  return validity == nullptr || duckdb_validity_row_is_valid(validity, row);
}

// ---- RAII over C handles -------------------------------------------------------------------------

template <typename Handle, void (*Destroy)(Handle*)>
class Owned {
 public:
  Owned() = default;
  explicit Owned(Handle handle) : handle_(handle) {}
  ~Owned() { reset(); }
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  Owned(Owned&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  Owned& operator=(Owned&& other) noexcept {
    if (this != &other) {
      reset();
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  void reset() {
    if (handle_ != nullptr) Destroy(&handle_);
    handle_ = nullptr;
  }
  Handle get() const { return handle_; }
  Handle* out() {
    reset();
    return &handle_;
  }  // for C out-parameters

 private:
  Handle handle_ = nullptr;
};

using OwnedConfig = Owned<duckdb_config, duckdb_destroy_config>;
using OwnedDatabase = Owned<duckdb_database, duckdb_close>;
using OwnedConnection = Owned<duckdb_connection, duckdb_disconnect>;
using OwnedPrepared = Owned<duckdb_prepared_statement, duckdb_destroy_prepare>;
using OwnedPending = Owned<duckdb_pending_result, duckdb_destroy_pending>;
using OwnedChunk = Owned<duckdb_data_chunk, duckdb_destroy_data_chunk>;
using OwnedType = Owned<duckdb_logical_type, duckdb_destroy_logical_type>;

// duckdb_result is a struct, not a pointer; it must be destroyed even when the call that filled it
// failed.
class OwnedResult {
 public:
  OwnedResult() = default;
  ~OwnedResult() {
    if (filled_) duckdb_destroy_result(&result_);
  }
  OwnedResult(const OwnedResult&) = delete;
  OwnedResult& operator=(const OwnedResult&) = delete;
  // duckdb_result is a plain struct whose members point to DuckDB's state (never to itself), so
  // it may move; only the owner destroys it.
  OwnedResult(OwnedResult&& other) noexcept : result_(other.result_), filled_(other.filled_) { other.filled_ = false; }
  OwnedResult& operator=(OwnedResult&& other) noexcept {
    if (this != &other) {
      if (filled_) duckdb_destroy_result(&result_);
      result_ = other.result_;
      filled_ = other.filled_;
      other.filled_ = false;
    }
    return *this;
  }
  duckdb_result* out() {
    filled_ = true;
    return &result_;
  }
  duckdb_result* get() { return &result_; }

 private:
  duckdb_result result_{};
  bool filled_ = false;
};

// ---- Errors (engine_errors.cpp) ----------------------------------------------------------------------

// The name of a DuckDB error type, from the result's type or from a message's "<Type> Error: "
// prefix ("Unknown" when neither says).
const char* ErrorTypeNameOf(duckdb_error_type type);
const char* ErrorTypeNameOf(std::string_view message);
// One failed statement. The category follows the DuckDB error type: most failures are about the
// statement or its data (400); memory is a resource limit (429); internal/fatal errors are ours
// (500); a sandbox refusal is 403; an interrupt (Interrupt() from another thread) is "canceled".
Status EngineError(std::string_view error_type, const char* message);
Status Canceled();
Status DeadlineExceeded();
Status ResultTooLarge(std::size_t max_rows);

}  // namespace quarry::engine::internal
