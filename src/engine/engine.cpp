// DuckDB 1.4.4 behind the engine.h contract. Value and type-name conversion: engine_values.cpp.
//
// Why the pending API: Connection::Interrupt() in DuckDB sets a flag that the *next* query clears
// when it starts (ClientContext::InitialCleanup runs in both duckdb_prepare and
// duckdb_pending_prepared*), so an interrupt that arrives before execution begins is silently lost,
// and duckdb_query / duckdb_execute_prepared give the caller no point at which to look again. Driving
// execution with duckdb_pending_execute_task returns control between tasks: Execute polls its own
// stop sources there (should_stop, the deadline and an atomic set by Interrupt()), so a stop
// requested at any moment after Execute began is seen, and it reads DuckDB's progress.
//
// Every DuckDB handle is owned by an RAII wrapper, so every return path frees it.
#include "engine/engine.h"

#include <duckdb.h>

#include "engine/arrow_ipc.h"
#include "engine/engine_internal.h"
#include "engine/watchdog.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <filesystem>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

namespace quarry::engine {

using namespace internal;
using namespace detail;

namespace {

// ---- Database setup ----------------------------------------------------------------------------------

Status SetConfig(duckdb_config config, const char* name, const std::string& value) {
  if (duckdb_set_config(config, name, value.c_str()) == DuckDBError) {
    return Status(ErrorCode::kInternal, kEngineError,
                  std::string("the engine rejected setting ") + name + "='" + value + "'");
  }
  return Status::Ok();
}

// Runs one setup statement (no caller SQL ever goes through here).
Status RunSetup(duckdb_connection connection, const std::string& sql) {
  OwnedResult result;
  if (duckdb_query(connection, sql.c_str(), result.out()) == DuckDBError) {
    return EngineError(ErrorTypeNameOf(duckdb_result_error_type(result.get())),
                       duckdb_result_error(result.get()));
  }
  return Status::Ok();
}

class DatabaseHandle {
 public:
  explicit DatabaseHandle(OwnedDatabase database) : database_(std::move(database)) {}
  duckdb_database get() const { return database_.get(); }

 private:
  OwnedDatabase database_;
};

// ---- Result shape ------------------------------------------------------------------------------------

// A result's columns and how their values become text (or JSON, for nested values).
struct ResultShape {
  std::vector<OwnedType> types;
  std::vector<std::string> names;
  std::vector<std::string> type_names;
  std::vector<bool> json_columns;

  static ResultShape Of(duckdb_result* result, bool nested_as_json) {
    ResultShape shape;
    const idx_t columns = duckdb_column_count(result);
    for (idx_t c = 0; c < columns; ++c) {
      shape.types.emplace_back(duckdb_column_logical_type(result, c));
      const char* name = duckdb_column_name(result, c);
      shape.names.emplace_back(name != nullptr ? name : "");
      shape.type_names.push_back(LogicalTypeName(shape.types.back().get()));
      shape.json_columns.push_back(nested_as_json && IsNested(duckdb_get_type_id(shape.types.back().get())));
    }
    return shape;
  }

  // Appends rows [from, from + count) of `chunk`; adds the bytes of their values to `bytes`.
  void AppendRows(duckdb_data_chunk chunk, idx_t from, idx_t count, std::vector<Row>* rows, std::size_t& bytes) const {
    const idx_t columns = types.size();
    std::vector<duckdb_vector> vectors(columns);
    for (idx_t c = 0; c < columns; ++c) vectors[c] = duckdb_data_chunk_get_vector(chunk, c);
    for (idx_t r = from; r < from + count; ++r) {
      Row& row = rows->emplace_back();
      row.reserve(columns);
      for (idx_t c = 0; c < columns; ++c) {
        if (json_columns[c]) {
          row.push_back(IsValidAt(vectors[c], r) ? std::optional<std::string>(VectorValueJson(vectors[c], types[c].get(), r))
                                                 : std::nullopt);
        } else {
          row.push_back(VectorValueText(vectors[c], types[c].get(), r));
        }
        bytes += row.back() ? row.back()->size() : 0;
      }
    }
  }
};

// ---- Connection --------------------------------------------------------------------------------------

// Used by one thread at a time, except Interrupt(). Interrupt() stops the statement that is being
// executed (from the moment Execute began); one sent while no statement runs is dropped.
class DuckCursor;

class DuckConnection final : public Connection {
 public:
  DuckConnection(std::shared_ptr<const DatabaseHandle> database, OwnedConnection connection)
      : database_(std::move(database)), connection_(std::move(connection)) {}

  // Arms the deadline watchdog around ExecuteStatement.
  Result<QueryResult> Execute(std::string_view sql, const ExecuteOptions& options) override;
  Result<std::unique_ptr<Cursor>> Open(std::string_view sql, const ExecuteOptions& options) override;

  // Thread-safe: an atomic store and duckdb_interrupt, which only sets DuckDB's atomic flag.
  void Interrupt() override {
    interrupt_requested_.store(true);
    duckdb_interrupt(connection_.get());
  }

 private:
  friend class DuckCursor;
  // Used by DuckCursor (same thread as the caller of Open).
  void InterruptFromWatchdog() { duckdb_interrupt(connection_.get()); }
  // Non-OK when the statement must stop now (checked between tasks and between chunks).
  Status CheckStop(const ExecuteOptions& options) const;
  void ReportProgress(const ExecuteOptions& options, double& last) const;
  Status RunPending(duckdb_pending_result pending, const ExecuteOptions& options, double& progress);
  Status FetchRows(duckdb_result* result, const ExecuteOptions& options, double& progress, QueryResult& out);
  // Stops DuckDB's side of an abandoned statement: interrupt, then let DuckDB observe it for a
  // short, bounded while so it ends the query and frees its state now rather than at the next
  // statement. Best effort; whatever is left is cleaned up by the next statement or Disconnect.
  void AbandonPending(duckdb_pending_result pending);
  void AbandonStream(duckdb_result* result);

  Result<QueryResult> ExecuteStatement(std::string_view sql, const ExecuteOptions& options);
  // Prepares, binds and runs the statement up to its (streaming) result.
  Result<OwnedResult> Start(std::string_view sql, const ExecuteOptions& options, double& progress);

  std::shared_ptr<const DatabaseHandle> database_;  // keeps the instance alive while connected
  OwnedConnection connection_;
  std::atomic<bool> interrupt_requested_{false};
};

constexpr auto kAbandonBudget = std::chrono::milliseconds(200);

Status DuckConnection::CheckStop(const ExecuteOptions& options) const {
  if (interrupt_requested_.load()) return Canceled();
  if (options.should_stop && options.should_stop()) return Canceled();
  if (options.deadline && std::chrono::steady_clock::now() >= *options.deadline) return DeadlineExceeded();
  return Status::Ok();
}

void DuckConnection::ReportProgress(const ExecuteOptions& options, double& last) const {
  if (!options.on_progress) return;
  double percent = duckdb_query_progress(connection_.get()).percentage;
  if (percent < 0) return;  // -1: no estimate (yet)
  percent = std::min(percent, 100.0);
  if (percent != last) {
    last = percent;
    options.on_progress(percent);
  }
}

void DuckConnection::AbandonPending(duckdb_pending_result pending) {
  duckdb_interrupt(connection_.get());
  auto until = std::chrono::steady_clock::now() + kAbandonBudget;
  while (std::chrono::steady_clock::now() < until) {
    duckdb_pending_state state = duckdb_pending_execute_task(pending);
    if (duckdb_pending_execution_is_finished(state)) return;  // interrupted: DuckDB ended the query
    if (state == DUCKDB_PENDING_NO_TASKS_AVAILABLE) std::this_thread::yield();
  }
}

void DuckConnection::AbandonStream(duckdb_result* result) {
  duckdb_interrupt(connection_.get());
  if (!duckdb_result_is_streaming(*result)) return;  // materialized: the query has already ended
  auto until = std::chrono::steady_clock::now() + kAbandonBudget;
  while (std::chrono::steady_clock::now() < until) {
    OwnedChunk chunk(duckdb_fetch_chunk(*result));
    if (chunk.get() == nullptr) return;  // interrupted or exhausted: DuckDB ended the query
  }
}

Status DuckConnection::RunPending(duckdb_pending_result pending, const ExecuteOptions& options,
                                  double& progress) {
  int idle_rounds = 0;
  for (;;) {
    if (Status stop = CheckStop(options); !stop.ok()) {
      AbandonPending(pending);
      return stop;
    }
    duckdb_pending_state state = duckdb_pending_execute_task(pending);
    ReportProgress(options, progress);
    if (state == DUCKDB_PENDING_ERROR) {
      const char* message = duckdb_pending_error(pending);
      return EngineError(ErrorTypeNameOf(message != nullptr ? message : ""), message);
    }
    if (duckdb_pending_execution_is_finished(state)) return Status::Ok();
    if (state == DUCKDB_PENDING_NO_TASKS_AVAILABLE) {
      // Other threads hold every task (or a task is blocked on I/O); DuckDB's own loop spins here.
      // Yield, then back off a little so a long wait does not burn a core.
      if (++idle_rounds < 64) {
        std::this_thread::yield();
      } else {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    } else {
      idle_rounds = 0;
    }
  }
}

Status DuckConnection::FetchRows(duckdb_result* result, const ExecuteOptions& options, double& progress,
                                 QueryResult& out) {
  const ResultShape shape = ResultShape::Of(result, options.nested_as_json);
  out.column_names = shape.names;
  out.column_types = shape.type_names;
  out.json_columns = shape.json_columns;
  std::size_t bytes = 0;
  for (;;) {
    if (Status stop = CheckStop(options); !stop.ok()) {
      AbandonStream(result);
      return stop;
    }
    // For a streaming result this runs the final pipeline until a chunk is ready.
    OwnedChunk chunk(duckdb_fetch_chunk(*result));
    ReportProgress(options, progress);
    if (chunk.get() == nullptr) {
      if (const char* error = duckdb_result_error(result)) {
        return EngineError(ErrorTypeNameOf(duckdb_result_error_type(result)), error);
      }
      return Status::Ok();  // exhausted
    }
    idx_t size = duckdb_data_chunk_get_size(chunk.get());
    bool last_chunk = false;
    if (out.rows.size() + size > options.max_rows) {
      AbandonStream(result);
      if (!options.truncate_at_max_rows) return ResultTooLarge(options.max_rows);
      size = options.max_rows - out.rows.size();
      out.truncated = true;
      last_chunk = true;
    }
    shape.AppendRows(chunk.get(), 0, size, &out.rows, bytes);
    if (options.max_bytes > 0 && bytes > options.max_bytes) {
      AbandonStream(result);
      if (!options.truncate_at_max_rows) {
        return Status(ErrorCode::kResourceExhausted, "result_too_large",
                      "the result is larger than " + std::to_string(options.max_bytes) +
                          " bytes; add a LIMIT or aggregate further");
      }
      // Keep the rows that fit.
      while (!out.rows.empty() && bytes > options.max_bytes) {
        for (const auto& value : out.rows.back()) bytes -= value ? value->size() : 0;
        out.rows.pop_back();
      }
      out.truncated = true;
      return Status::Ok();
    }
    if (last_chunk) return Status::Ok();
  }
}

Status BindParams(duckdb_prepared_statement prepared, const std::vector<Param>& params) {
  auto mismatch = [](std::string message) {
    return Status(ErrorCode::kInvalidArgument, "parameter_mismatch", std::move(message));
  };
  const idx_t expected = duckdb_nparams(prepared);
  if (params.size() != expected) {
    return mismatch("the statement has " + std::to_string(expected) + " parameter(s) but " +
                    std::to_string(params.size()) + " value(s) were given");
  }
  idx_t position = 0;
  for (const Param& param : params) {
    idx_t index = ++position;
    if (!param.name.empty() && duckdb_bind_parameter_index(prepared, &index, param.name.c_str()) == DuckDBError) {
      return mismatch("the statement has no parameter named $" + param.name);
    }
    duckdb_state state = DuckDBSuccess;
    switch (param.kind) {
      case Param::Kind::kNull: state = duckdb_bind_null(prepared, index); break;
      case Param::Kind::kBool: state = duckdb_bind_boolean(prepared, index, param.bool_value); break;
      case Param::Kind::kInt: state = duckdb_bind_int64(prepared, index, param.int_value); break;
      case Param::Kind::kDouble: state = duckdb_bind_double(prepared, index, param.double_value); break;
      case Param::Kind::kText:
        state = duckdb_bind_varchar_length(prepared, index, param.text.data(), param.text.size());
        break;
    }
    if (state == DuckDBError) return mismatch("parameter " + std::to_string(index) + " could not be bound");
  }
  return Status::Ok();
}

Result<QueryResult> DuckConnection::Execute(std::string_view sql, const ExecuteOptions& options) {
  if (!options.deadline) return ExecuteStatement(sql, options);
  // Some operators run long inside one execution task (a nested-loop join whose filter matches
  // nothing never yields): the deadline checks between tasks cannot see those, an interrupt from
  // the watchdog thread stops them within milliseconds.
  Watchdog::Timer timer(Watchdog::Instance(), *options.deadline, [this] { duckdb_interrupt(connection_.get()); });
  Result<QueryResult> result = ExecuteStatement(sql, options);
  if (!result.ok() && result.status().code() == "canceled" && timer.fired() && !interrupt_requested_.load()) {
    return DeadlineExceeded();
  }
  return result;
}

Result<OwnedResult> DuckConnection::Start(std::string_view sql, const ExecuteOptions& options, double& progress) {
  // An Interrupt() from before this call was meant for an earlier statement.
  interrupt_requested_.store(false);
  if (sql.find('\0') != std::string_view::npos) {
    return Status(ErrorCode::kInvalidArgument, kEngineError, "the statement contains a NUL byte",
                  {{"error_type", "Parser"}});
  }
  const std::string statement(sql);
  QUARRY_RETURN_IF_ERROR(CheckStop(options));

  OwnedPrepared prepared;
  if (duckdb_prepare(connection_.get(), statement.c_str(), prepared.out()) == DuckDBError) {
    const char* message = duckdb_prepare_error(prepared.get());
    return EngineError(ErrorTypeNameOf(message != nullptr ? message : ""), message);
  }
  QUARRY_RETURN_IF_ERROR(BindParams(prepared.get(), options.params));
  // A stop requested while preparing: DuckDB's own interrupt flag is reset when the pending
  // query starts, so this check (and the ones in RunPending) are what make the stop stick.
  QUARRY_RETURN_IF_ERROR(CheckStop(options));

  OwnedPending pending;
  if (duckdb_pending_prepared_streaming(prepared.get(), pending.out()) == DuckDBError) {
    const char* message = duckdb_pending_error(pending.get());
    return EngineError(ErrorTypeNameOf(message != nullptr ? message : ""), message);
  }
  QUARRY_RETURN_IF_ERROR(RunPending(pending.get(), options, progress));

  OwnedResult result;
  if (duckdb_execute_pending(pending.get(), result.out()) == DuckDBError) {
    return EngineError(ErrorTypeNameOf(duckdb_result_error_type(result.get())), duckdb_result_error(result.get()));
  }
  return result;
}

Result<QueryResult> DuckConnection::ExecuteStatement(std::string_view sql, const ExecuteOptions& options) {
  double progress = -1;
  try {
    QUARRY_ASSIGN_OR_RETURN(OwnedResult result, Start(sql, options, progress));
    QueryResult out;
    // Statements that change rows (COPY, INSERT, ...) never stream; their single "Count" row is
    // what duckdb_rows_changed reads, which is only valid on a materialized result.
    if (duckdb_result_return_type(*result.get()) == DUCKDB_RESULT_TYPE_CHANGED_ROWS &&
        !duckdb_result_is_streaming(*result.get())) {
      out.rows_changed = static_cast<std::int64_t>(duckdb_rows_changed(result.get()));
    }
    QUARRY_RETURN_IF_ERROR(FetchRows(result.get(), options, progress, out));
    return out;
  } catch (const std::exception& e) {
    // The C API catches DuckDB's exceptions; only allocation failures and the like land here.
    duckdb_interrupt(connection_.get());
    return Status(ErrorCode::kInternal, kEngineError, std::string("engine failure: ") + e.what(),
                  {{"error_type", "Internal"}});
  }
}

// Rows of a started statement, a chunk at a time. Holds the connection: the statement runs until
// the cursor is exhausted or destroyed (which stops it).
class DuckCursor final : public Cursor {
 public:
  DuckCursor(DuckConnection& connection, OwnedResult result, ExecuteOptions options)
      : connection_(connection), result_(std::move(result)), options_(std::move(options)) {
    shape_ = ResultShape::Of(result_.get(), options_.nested_as_json);
    if (options_.deadline) {
      timer_ = std::make_unique<Watchdog::Timer>(Watchdog::Instance(), *options_.deadline,
                                                 [this] { connection_.InterruptFromWatchdog(); });
    }
  }
  ~DuckCursor() override {
    if (!done_) connection_.AbandonStream(result_.get());
    if (arrow_schema_.release != nullptr) arrow_schema_.release(&arrow_schema_);
    if (arrow_options_ != nullptr) duckdb_destroy_arrow_options(&arrow_options_);
  }

  Result<bool> NextArrow(std::string* out) override {
    if (arrow_options_ == nullptr) {
      arrow_options_ = duckdb_result_get_arrow_options(result_.get());
      std::vector<duckdb_logical_type> types;
      std::vector<const char*> names;
      for (std::size_t c = 0; c < shape_.types.size(); ++c) {
        types.push_back(shape_.types[c].get());
        names.push_back(shape_.names[c].c_str());
      }
      duckdb_error_data error = duckdb_to_arrow_schema(arrow_options_, types.data(), names.data(), types.size(),
                                                       &arrow_schema_);
      QUARRY_RETURN_IF_ERROR(ArrowError(error));
      QUARRY_ASSIGN_OR_RETURN(std::string schema, arrow::SchemaMessage(arrow_schema_));
      *out += schema;
    }
    if (done_) return false;
    QUARRY_ASSIGN_OR_RETURN(OwnedChunk chunk, FetchChunk());
    if (chunk.get() == nullptr) {
      *out += arrow::EndOfStream();
      return false;
    }
    ArrowArray array{};
    QUARRY_RETURN_IF_ERROR(ArrowError(duckdb_data_chunk_to_arrow(arrow_options_, chunk.get(), &array)));
    auto message = arrow::RecordBatchMessage(arrow_schema_, array);
    if (array.release != nullptr) array.release(&array);
    QUARRY_RETURN_IF_ERROR(message.status());
    *out += *message;
    return true;
  }

  const std::vector<std::string>& column_names() const override { return shape_.names; }
  const std::vector<std::string>& column_types() const override { return shape_.type_names; }
  const std::vector<bool>& json_columns() const override { return shape_.json_columns; }

  Result<bool> Next(std::vector<Row>* rows) override {
    if (done_) return false;
    QUARRY_ASSIGN_OR_RETURN(OwnedChunk chunk, FetchChunk());
    if (chunk.get() == nullptr) return false;
    std::size_t bytes = 0;
    shape_.AppendRows(chunk.get(), 0, duckdb_data_chunk_get_size(chunk.get()), rows, bytes);
    return true;
  }

 private:
  // The next chunk; null once the result is exhausted (done_ set). Checks the stop sources first.
  Result<OwnedChunk> FetchChunk() {
    if (Status stop = connection_.CheckStop(options_); !stop.ok()) return Stopped(stop);
    OwnedChunk chunk(duckdb_fetch_chunk(*result_.get()));
    if (chunk.get() == nullptr) {
      done_ = true;
      if (const char* error = duckdb_result_error(result_.get())) {
        return Stopped(EngineError(ErrorTypeNameOf(duckdb_result_error_type(result_.get())), error));
      }
    }
    return chunk;
  }

  Status Stopped(const Status& status) {
    if (!done_) connection_.AbandonStream(result_.get());
    done_ = true;
    if (status.code() == "canceled" && timer_ && timer_->fired()) return DeadlineExceeded();
    return status;
  }

  static Status ArrowError(duckdb_error_data error) {
    if (error == nullptr) return Status::Ok();
    Status status = Status::Ok();
    if (duckdb_error_data_has_error(error)) {
      const char* message = duckdb_error_data_message(error);
      status = Status(ErrorCode::kInvalidArgument, kEngineError,
                      std::string("the engine could not convert the result to Arrow: ") + (message ? message : ""),
                      {{"error_type", "Conversion"}});
    }
    duckdb_destroy_error_data(&error);
    return status;
  }

  DuckConnection& connection_;
  OwnedResult result_;
  const ExecuteOptions options_;
  ResultShape shape_;
  duckdb_arrow_options arrow_options_ = nullptr;
  ArrowSchema arrow_schema_{};
  std::unique_ptr<Watchdog::Timer> timer_;
  bool done_ = false;
};

Result<std::unique_ptr<Cursor>> DuckConnection::Open(std::string_view sql, const ExecuteOptions& options) {
  double progress = -1;
  try {
    std::unique_ptr<Watchdog::Timer> timer;
    if (options.deadline) {
      timer = std::make_unique<Watchdog::Timer>(Watchdog::Instance(), *options.deadline,
                                                [this] { InterruptFromWatchdog(); });
    }
    auto result = Start(sql, options, progress);
    if (!result.ok()) {
      if (result.status().code() == "canceled" && timer && timer->fired()) return DeadlineExceeded();
      return result.status();
    }
    return std::unique_ptr<Cursor>(std::make_unique<DuckCursor>(*this, std::move(result).value(), options));
  } catch (const std::exception& e) {
    duckdb_interrupt(connection_.get());
    return Status(ErrorCode::kInternal, kEngineError, std::string("engine failure: ") + e.what(),
                  {{"error_type", "Internal"}});
  }
}

// ---- Database ----------------------------------------------------------------------------------------

// Shared by any number of threads; each Connection keeps the instance alive.
class DuckDatabase final : public Database {
 public:
  explicit DuckDatabase(std::shared_ptr<const DatabaseHandle> handle) : handle_(std::move(handle)) {}

  // Thread-safe: duckdb_connect may be called concurrently on one instance.
  Result<std::unique_ptr<Connection>> Connect() override {
    OwnedConnection connection;
    if (duckdb_connect(handle_->get(), connection.out()) == DuckDBError) {
      return Status(ErrorCode::kInternal, kEngineError, "could not connect to the engine");
    }
    // The progress bar is a per-connection setting that neither duckdb_set_config nor SET GLOBAL
    // accepts, and a sandbox's lock_configuration refuses SET; these PRAGMAs set it directly and
    // the lock does not cover them. Without it duckdb_query_progress always reports -1.
    QUARRY_RETURN_IF_ERROR(RunSetup(connection.get(), "PRAGMA enable_progress_bar"));
    QUARRY_RETURN_IF_ERROR(RunSetup(connection.get(), "PRAGMA disable_print_progress_bar"));
    return std::unique_ptr<Connection>(std::make_unique<DuckConnection>(handle_, std::move(connection)));
  }

 private:
  std::shared_ptr<const DatabaseHandle> handle_;
};

Status ValidateOptions(const EngineOptions& options) {
  auto invalid = [](std::string message) {
    return Status(ErrorCode::kInvalidArgument, kEngineError, std::move(message));
  };
  if (options.threads < 1) return invalid("engine threads must be at least 1");
  if (options.memory_limit_bytes <= 0) return invalid("engine memory_limit_bytes must be positive");
  if (options.max_temp_directory_bytes < 0)
    return invalid("engine max_temp_directory_bytes must not be negative");
  if (options.temp_directory.empty()) return invalid("engine temp_directory is required");
  if (!options.sandboxed && !options.allowed_directories.empty()) {
    return invalid("allowed_directories only apply to a sandboxed engine");
  }
  for (const auto& dir : options.allowed_directories) {
    if (dir.empty() || !std::filesystem::path(dir).is_absolute()) {
      return invalid("allowed directory '" + dir + "' must be an absolute path");
    }
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Database>> OpenDatabase(const EngineOptions& options) {
  QUARRY_RETURN_IF_ERROR(ValidateOptions(options));
  std::error_code ec;
  std::filesystem::create_directories(options.temp_directory, ec);
  if (ec) {
    return Status(
        ErrorCode::kUnavailable, kEngineError,
        "could not create the engine temp directory " + options.temp_directory + ": " + ec.message());
  }

  OwnedConfig config;
  if (duckdb_create_config(config.out()) == DuckDBError) {
    return Status(ErrorCode::kInternal, kEngineError, "could not create the engine configuration");
  }
  QUARRY_RETURN_IF_ERROR(SetConfig(config.get(), "threads", std::to_string(options.threads)));
  QUARRY_RETURN_IF_ERROR(
      SetConfig(config.get(), "memory_limit", std::to_string(options.memory_limit_bytes) + "B"));
  QUARRY_RETURN_IF_ERROR(SetConfig(config.get(), "temp_directory", options.temp_directory));
  QUARRY_RETURN_IF_ERROR(SetConfig(config.get(), "max_temp_directory_size",
                                   std::to_string(options.max_temp_directory_bytes) + "B"));
  QUARRY_RETURN_IF_ERROR(SetConfig(config.get(), "autoinstall_known_extensions", "false"));
  QUARRY_RETURN_IF_ERROR(SetConfig(config.get(), "autoload_known_extensions", "false"));
  QUARRY_RETURN_IF_ERROR(SetConfig(config.get(), "preserve_insertion_order",
                                   options.preserve_insertion_order ? "true" : "false"));
  // The progress bar cannot be configured here (it is per connection): see DuckDatabase::Connect.

  OwnedDatabase database;
  char* open_error = nullptr;
  if (duckdb_open_ext(nullptr, database.out(), config.get(), &open_error) == DuckDBError) {
    std::string message = open_error != nullptr ? open_error : "unknown error";
    if (open_error != nullptr) duckdb_free(open_error);
    return Status(ErrorCode::kInternal, kEngineError, "could not open the engine: " + message);
  }
  if (open_error != nullptr) duckdb_free(open_error);

  OwnedConnection setup;
  if (duckdb_connect(database.get(), setup.out()) == DuckDBError) {
    return Status(ErrorCode::kInternal, kEngineError, "could not connect to the engine");
  }
  // UTC whatever the host's TZ: results do not depend on where the server runs, and the text of a
  // TIMESTAMP WITH TIME ZONE value (rendered without a session, hence in UTC: engine_values.cpp)
  // equals its SQL CAST. ICU's setting, so it cannot go through duckdb_set_config (ICU is not
  // loaded yet when the configuration is applied).
  QUARRY_RETURN_IF_ERROR(RunSetup(setup.get(), "SET GLOBAL TimeZone='UTC'"));
  // A Parquet setting: registered when the (built-in) extension loads, after the configuration.
  if (options.parquet_metadata_cache) {
    QUARRY_RETURN_IF_ERROR(RunSetup(setup.get(), "SET GLOBAL parquet_metadata_cache=true"));
  }
  if (options.sandboxed) {
    // Order matters: allowed_directories can only be set while external access is still on, and
    // nothing can be changed once the configuration is locked. Turning external access off also
    // allows the temp directory (DuckDB adds it so that spilling keeps working).
    std::string dirs = "SET allowed_directories=[";
    for (std::size_t i = 0; i < options.allowed_directories.size(); ++i) {
      if (i > 0) dirs += ", ";
      dirs += QuoteLiteral(options.allowed_directories[i]);
    }
    dirs += "]";
    QUARRY_RETURN_IF_ERROR(RunSetup(setup.get(), dirs));
    QUARRY_RETURN_IF_ERROR(RunSetup(setup.get(), "SET enable_external_access=false"));
    QUARRY_RETURN_IF_ERROR(RunSetup(setup.get(), "SET lock_configuration=true"));
  }
  auto handle = std::make_shared<const DatabaseHandle>(std::move(database));
  return std::unique_ptr<Database>(std::make_unique<DuckDatabase>(std::move(handle)));
}

std::string ReadParquetSql(const std::vector<std::string>& files) {
  std::string list;
  for (const auto& file : files) list += (list.empty() ? "" : ", ") + QuoteLiteral(file);
  return "read_parquet([" + list + "])";
}

std::string QuoteLiteral(std::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

std::string QuoteIdentifier(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string ScrubPaths(std::string message, const std::vector<std::string>& paths,
                       std::string_view replacement) {
  // Longest first, so that "/data/in.csv" is not half-replaced through "/data".
  std::vector<std::string_view> ordered(paths.begin(), paths.end());
  std::sort(ordered.begin(), ordered.end(),
            [](std::string_view a, std::string_view b) { return a.size() > b.size(); });
  for (std::string_view path : ordered) {
    if (path.empty()) continue;
    for (std::size_t pos = message.find(path); pos != std::string::npos;
         pos = message.find(path, pos + replacement.size())) {
      message.replace(pos, path.size(), replacement);
    }
  }
  return message;
}

}  // namespace quarry::engine
