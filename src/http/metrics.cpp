#include "http/metrics.h"

#include <fmt/format.h>

namespace quarry::http {
namespace {

// Label values here are route patterns, methods and versions: escape per the text format anyway.
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

}  // namespace

void HttpMetrics::Observe(const std::string& route, const std::string& method, int status,
                          double seconds) {
  std::lock_guard lock(mu_);
  ++requests_[{route, method, status}];
  Histogram& h = latency_[{route, method}];
  for (std::size_t i = 0; i < kBucketsSeconds.size(); ++i) {
    if (seconds <= kBucketsSeconds[i]) {
      ++h.buckets[i];
      break;
    }
  }
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

  std::lock_guard lock(mu_);
  out += "# HELP http_requests_total Requests served, by route pattern, method and status.\n"
         "# TYPE http_requests_total counter\n";
  for (const auto& [key, count] : requests_) {
    const auto& [route, method, status] = key;
    out += fmt::format("http_requests_total{{route=\"{}\",method=\"{}\",status=\"{}\"}} {}\n",
                       EscapeLabel(route), EscapeLabel(method), status, count);
  }
  out += "# HELP http_request_duration_seconds Time from a complete request header to the "
         "response written.\n# TYPE http_request_duration_seconds histogram\n";
  for (const auto& [key, h] : latency_) {
    const std::string labels =
        fmt::format("route=\"{}\",method=\"{}\"", EscapeLabel(key.first), EscapeLabel(key.second));
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < kBucketsSeconds.size(); ++i) {
      cumulative += h.buckets[i];
      out += fmt::format("http_request_duration_seconds_bucket{{{},le=\"{}\"}} {}\n", labels,
                         kBucketsSeconds[i], cumulative);
    }
    out += fmt::format("http_request_duration_seconds_bucket{{{},le=\"+Inf\"}} {}\n", labels, h.count);
    out += fmt::format("http_request_duration_seconds_sum{{{}}} {}\n", labels, h.sum);
    out += fmt::format("http_request_duration_seconds_count{{{}}} {}\n", labels, h.count);
  }
  return out;
}

}  // namespace quarry::http
