// HTTP metrics in the Prometheus text exposition format.
//
// Requests that matched a route are counted lock-free in per-route slots (routes are known
// before the server starts: SetRoutes). Unmatched requests (404/405/bad HTTP) take a mutex;
// their labels are bounded too: route "unmatched", the method only when it is a standard one.
// Thread-safety: all methods may be called concurrently, except SetRoutes (before serving).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace quarry::http {

class HttpMetrics {
 public:
  static constexpr std::array<double, 12> kBucketsSeconds = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0};

  // (pattern, method) of each route, by Route::index.
  void SetRoutes(const std::vector<std::pair<std::string, std::string>>& routes);
  void ObserveRoute(std::size_t route_index, int status, double seconds);
  void ObserveUnmatched(const std::string& method, int status, double seconds);

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
  // Status codes counted per route: 100..599 directly indexed.
  static constexpr int kMinStatus = 100;
  static constexpr int kMaxStatus = 599;
  struct RouteSlot {
    std::string pattern;
    std::string method;
    std::array<std::atomic<std::uint64_t>, kMaxStatus - kMinStatus + 1> by_status{};
    std::array<std::atomic<std::uint64_t>, kBucketsSeconds.size()> buckets{};  // non-cumulative
    std::atomic<std::uint64_t> count{0};
    std::atomic<std::uint64_t> sum_micros{0};
  };
  struct Histogram {
    std::array<std::uint64_t, kBucketsSeconds.size()> buckets{};
    std::uint64_t count = 0;
    double sum = 0;
  };

  std::vector<std::unique_ptr<RouteSlot>> routes_;  // fixed after SetRoutes
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, std::uint64_t> unmatched_requests_;  // GUARDED_BY(mu_)
  std::map<std::string, Histogram> unmatched_latency_;                        // GUARDED_BY(mu_)
  std::atomic<std::int64_t> in_flight_{0};
  std::atomic<std::int64_t> connections_{0};
  std::atomic<std::uint64_t> rejected_{0};
  std::atomic<std::uint64_t> timed_out_{0};
};

}  // namespace quarry::http
