#include "http/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace quarry::http {
namespace {

std::string EscapeLabel(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::size_t BucketOf(double seconds) {
  for (std::size_t i = 0; i < HttpMetrics::kBucketsSeconds.size(); ++i) {
    if (seconds <= HttpMetrics::kBucketsSeconds[i]) return i;
  }
  return HttpMetrics::kBucketsSeconds.size();  // only in +Inf
}

// Methods outside this set are labelled "other" so that label values stay bounded.
std::string MethodLabel(const std::string& method) {
  static const std::set<std::string> kKnown = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
  return kKnown.count(method) ? method : "other";
}

void AppendHistogram(std::string& out, const std::string& labels,
                     const std::array<std::uint64_t, HttpMetrics::kBucketsSeconds.size()>& buckets,
                     std::uint64_t count, double sum) {
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    cumulative += buckets[i];
    out += fmt::format("http_request_duration_seconds_bucket{{{},le=\"{}\"}} {}\n", labels,
                       HttpMetrics::kBucketsSeconds[i], cumulative);
  }
  // Counters are read one by one while requests go on: keep +Inf >= every bucket.
  count = std::max(count, cumulative);
  out += fmt::format("http_request_duration_seconds_bucket{{{},le=\"+Inf\"}} {}\n", labels, count);
  out += fmt::format("http_request_duration_seconds_sum{{{}}} {}\n", labels, sum);
  out += fmt::format("http_request_duration_seconds_count{{{}}} {}\n", labels, count);
}

}  // namespace

void HttpMetrics::SetRoutes(const std::vector<std::pair<std::string, std::string>>& routes) {
  routes_.clear();
  for (const auto& [pattern, method] : routes) {
    auto slot = std::make_unique<RouteSlot>();
    slot->pattern = pattern;
    slot->method = method;
    routes_.push_back(std::move(slot));
  }
}

void HttpMetrics::ObserveRoute(std::size_t route_index, int status, double seconds) {
  if (route_index >= routes_.size() || status < kMinStatus || status > kMaxStatus) return;
  RouteSlot& slot = *routes_[route_index];
  slot.by_status[status - kMinStatus].fetch_add(1, std::memory_order_relaxed);
  std::size_t bucket = BucketOf(seconds);
  if (bucket < slot.buckets.size()) slot.buckets[bucket].fetch_add(1, std::memory_order_relaxed);
  slot.count.fetch_add(1, std::memory_order_relaxed);
  slot.sum_micros.fetch_add(static_cast<std::uint64_t>(seconds * 1e6), std::memory_order_relaxed);
}

void HttpMetrics::ObserveUnmatched(const std::string& method, int status, double seconds) {
  const std::string label = MethodLabel(method);
  std::lock_guard lock(mu_);
  ++unmatched_requests_[{label, status}];
  Histogram& h = unmatched_latency_[label];
  std::size_t bucket = BucketOf(seconds);
  if (bucket < h.buckets.size()) ++h.buckets[bucket];
  ++h.count;
  h.sum += seconds;
}

std::string HttpMetrics::Render(const std::string& version) const {
  std::string out;
  out += "# HELP quarry_build_info Build information.\n# TYPE quarry_build_info gauge\n";
  out += fmt::format("quarry_build_info{{version=\"{}\"}} 1\n", EscapeLabel(version));
  out += "# HELP http_requests_in_flight Requests being served.\n# TYPE http_requests_in_flight gauge\n";
  out += fmt::format("http_requests_in_flight {}\n", in_flight_.load());
  out += "# HELP http_connections_open Open client connections.\n# TYPE http_connections_open gauge\n";
  out += fmt::format("http_connections_open {}\n", connections_.load());
  out += "# HELP http_connections_rejected_total Connections refused at the connection limit.\n"
         "# TYPE http_connections_rejected_total counter\n";
  out += fmt::format("http_connections_rejected_total {}\n", rejected_.load());
  out += "# HELP http_connections_timed_out_total Connections closed because a request did not "
         "arrive within server.read_timeout.\n# TYPE http_connections_timed_out_total counter\n";
  out += fmt::format("http_connections_timed_out_total {}\n", timed_out_.load());

  out += "# HELP http_requests_total Requests served, by route pattern, method and status.\n"
         "# TYPE http_requests_total counter\n";
  for (const auto& slot : routes_) {
    for (int status = kMinStatus; status <= kMaxStatus; ++status) {
      std::uint64_t n = slot->by_status[status - kMinStatus].load(std::memory_order_relaxed);
      if (n == 0) continue;
      out += fmt::format("http_requests_total{{route=\"{}\",method=\"{}\",status=\"{}\"}} {}\n",
                         EscapeLabel(slot->pattern), slot->method, status, n);
    }
  }
  std::lock_guard lock(mu_);
  for (const auto& [key, n] : unmatched_requests_) {
    out += fmt::format("http_requests_total{{route=\"unmatched\",method=\"{}\",status=\"{}\"}} {}\n",
                       key.first, key.second, n);
  }
  out += "# HELP http_request_duration_seconds Time from a complete request header to the "
         "response handed to the socket.\n# TYPE http_request_duration_seconds histogram\n";
  for (const auto& slot : routes_) {
    std::uint64_t count = slot->count.load(std::memory_order_relaxed);
    if (count == 0) continue;
    std::array<std::uint64_t, kBucketsSeconds.size()> buckets{};
    for (std::size_t i = 0; i < buckets.size(); ++i) buckets[i] = slot->buckets[i].load(std::memory_order_relaxed);
    AppendHistogram(out, fmt::format("route=\"{}\",method=\"{}\"", EscapeLabel(slot->pattern), slot->method),
                    buckets, count, static_cast<double>(slot->sum_micros.load()) / 1e6);
  }
  for (const auto& [method, h] : unmatched_latency_) {
    AppendHistogram(out, fmt::format("route=\"unmatched\",method=\"{}\"", method), h.buckets, h.count, h.sum);
  }
  return out;
}

}  // namespace quarry::http
