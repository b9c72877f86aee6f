// Clock: the one way Quarry code reads time, so leases, expiry and caches are testable without
// sleeping. Production code takes a `Clock&`; tests pass a SimulatedClock and advance it.
// Thread-safety: both implementations are safe to call from any thread.
#pragma once

#include <optional>
#include <string_view>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace quarry {

// Wall-clock time as milliseconds since the Unix epoch (UTC). Stored in the metadata store as
// an integer so that SQLite and PostgreSQL compare it the same way.
using UnixMillis = std::int64_t;

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time, for timestamps that users see and that are persisted.
  virtual UnixMillis NowMillis() const = 0;
  // Monotonic time, for durations and deadlines inside the process.
  virtual std::chrono::steady_clock::time_point SteadyNow() const = 0;
};

class SystemClock final : public Clock {
 public:
  UnixMillis NowMillis() const override;
  std::chrono::steady_clock::time_point SteadyNow() const override;
  // A process-wide instance.
  static SystemClock& Instance();
};

// Time stands still until a test advances it. Both wall and monotonic time advance together.
class SimulatedClock final : public Clock {
 public:
  explicit SimulatedClock(UnixMillis start = 1'767'225'600'000 /* 2026-01-01T00:00:00Z */)
      : now_ms_(start) {}
  UnixMillis NowMillis() const override { return now_ms_.load(); }
  std::chrono::steady_clock::time_point SteadyNow() const override {
    return std::chrono::steady_clock::time_point(std::chrono::milliseconds(now_ms_.load()));
  }
  void Advance(std::chrono::milliseconds by) { now_ms_.fetch_add(by.count()); }

 private:
  std::atomic<UnixMillis> now_ms_;
};

// RFC 3339 UTC with milliseconds, e.g. "2026-11-25T10:00:00.123Z".
std::string FormatRfc3339(UnixMillis t);
// Parses what FormatRfc3339 writes, with or without the milliseconds ("2026-11-30T20:00:00Z");
// nullopt for anything else. UTC ('Z') only.
std::optional<UnixMillis> ParseRfc3339(std::string_view text);
// "Wed, 25 Nov 2026 05:41:47 GMT" (RFC 9110 IMF-fixdate), independent of the locale.
std::string FormatHttpDate(UnixMillis t);

}  // namespace quarry
