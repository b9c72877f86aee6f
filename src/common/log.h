// Logging: structured JSON lines (or plain text for humans) through spdlog.
//
// Every line carries the request id of the request being served on the current thread, if any
// (set with ScopedRequestId around handler execution). Access log lines are written by
// LogAccess with their fields as JSON members. Thread-safety: all functions may be called from
// any thread once InitLogging has run.
#pragma once

#include <map>
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

// One access log line: {"ts":..., "level":"info", "msg":"request", "request_id":..., fields...}.
// The integer fields status, duration_us, bytes_in and bytes_out are written as numbers.
void LogAccess(const std::map<std::string, std::string>& fields);

}  // namespace quarry::log
