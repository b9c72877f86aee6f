// HTTP metrics in the Prometheus text exposition format.
//
// Thread-safety: all methods may be called concurrently. Observe() takes one mutex briefly;
// label cardinality is bounded because `route` is a route pattern (or "unmatched"), never a raw
// path, and `status` is a three-digit code.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

namespace quarry::http {

class HttpMetrics {
 public:
  static constexpr std::array<double, 12> kBucketsSeconds = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0};

  void Observe(const std::string& route, const std::string& method, int status, double seconds);
  void RequestStarted() { in_flight_.fetch_add(1, std::memory_order_relaxed); }
  void RequestFinished() { in_flight_.fetch_sub(1, std::memory_order_relaxed); }
  void ConnectionOpened() { connections_.fetch_add(1, std::memory_order_relaxed); }
  void ConnectionClosed() { connections_.fetch_sub(1, std::memory_order_relaxed); }
  void ConnectionRejected() { rejected_.fetch_add(1, std::memory_order_relaxed); }
  void ConnectionTimedOut() { timed_out_.fetch_add(1, std::memory_order_relaxed); }
  std::int64_t in_flight() const { return in_flight_.load(); }

  // The whole exposition, including quarry_build_info{version=...}.
  std::string Render(const std::string& version) const;

 private:
  struct Histogram {
    std::array<std::uint64_t, kBucketsSeconds.size()> buckets{};  // non-cumulative counts
    std::uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, int>, std::uint64_t> requests_;  // GUARDED_BY(mu_)
  std::map<std::pair<std::string, std::string>, Histogram> latency_;           // GUARDED_BY(mu_)
  std::atomic<std::int64_t> in_flight_{0};
  std::atomic<std::int64_t> connections_{0};
  std::atomic<std::uint64_t> rejected_{0};
  std::atomic<std::uint64_t> timed_out_{0};
};

}  // namespace quarry::http
