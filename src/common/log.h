// Logging: structured JSON lines (or plain text for humans) through spdlog.
//
// Every line carries the request id of the request being served on the current thread, if any
// (set with ScopedRequestId around handler execution). Access log lines are written by
// LogAccess with their fields as JSON members. Thread-safety: all functions may be called from
// any thread once InitLogging has run.
#pragma once

#include <map>
#include <utility>
#include <vector>
#include <string>
#include <string_view>

namespace quarry::log {

enum class Format { kJson, kText };

// Configures the default logger to write to stderr (buffered; flushed every second, at warnings
// and above, and by Flush()). `level` is one of trace, debug, info, warn,
// error; unknown levels are rejected by configuration validation before this is called.
void InitLogging(std::string_view level, Format format);
// Turns access log lines on or off (on by default).
void SetAccessLog(bool enabled);
// Flushes everything buffered (called on shutdown).
void Flush();

// Sets the current thread's request id for the lifetime of the object.
class ScopedRequestId {
 public:
  explicit ScopedRequestId(std::string_view request_id);
  ~ScopedRequestId();
  ScopedRequestId(const ScopedRequestId&) = delete;
  ScopedRequestId& operator=(const ScopedRequestId&) = delete;

 private:
  std::string previous_;
};

const std::string& CurrentRequestId();

// One request's access log line. Views must stay valid for the duration of the call.
struct AccessRecord {
  std::string_view request_id;
  std::string_view method;
  std::string_view path;
  std::string_view route;
  std::string_view remote;
  int status = 0;
  long long duration_us = 0;
  std::size_t bytes_in = 0;
  std::size_t bytes_out = 0;
  const std::vector<std::pair<std::string_view, std::string_view>>* extra = nullptr;  // handler's fields
};

// Writes {"ts":..., "level":"info", "msg":"request", "request_id":..., ...} (or key=value text).
// Lines are appended to a per-thread buffer and written in chunks (or by the periodic flush), so
// serving threads neither contend on a lock nor make a system call per request.
void LogAccess(const AccessRecord& record);

}  // namespace quarry::log
