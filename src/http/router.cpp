#include <algorithm>
#include <stdexcept>

#include "http/http.h"

namespace quarry::http {
namespace {

bool IsParam(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return true;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool PercentDecode(std::string_view in, bool plus_is_space, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = HexValue(in[i + 1]);
      int lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      char decoded = static_cast<char>(hi * 16 + lo);
      if (decoded == '\0') return false;
      out->push_back(decoded);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(c);
    }
  }
  return true;
}

}  // namespace

std::string_view Headers::Get(std::string_view name) const {
  for (const auto& [k, v] : fields_) {
    if (EqualsIgnoreCase(k, name)) return v;
  }
  return {};
}

bool Headers::Has(std::string_view name) const {
  return std::any_of(fields_.begin(), fields_.end(),
                     [&](const auto& f) { return EqualsIgnoreCase(f.first, name); });
}

// Splits "/a/b/c" into {"a","b","c"} without allocating per segment; "/" gives {""}.
template <typename Out>
void SplitPath(std::string_view path, Out* out) {
  std::size_t start = 1;  // skip the leading '/'
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    out->emplace_back(path.substr(start, end - start));
    start = end + 1;
  }
}

void Router::Add(Route route) {
  if (route.pattern.empty() || route.pattern.front() != '/' || !route.handler) {
    throw std::invalid_argument("malformed route: " + route.pattern);
  }
  for (const auto& existing : routes_) {
    if (existing->method == route.method && existing->pattern == route.pattern) {
      throw std::invalid_argument("duplicate route: " + route.method + " " + route.pattern);
    }
  }
  route.segments.clear();
  SplitPath(route.pattern, &route.segments);
  route.index = routes_.size();
  if (route.max_body_bytes == 0) route.max_body_bytes = default_max_body_bytes_;
  routes_.push_back(std::make_unique<Route>(std::move(route)));
}

Router::MatchResult Router::Match(std::string_view method, std::string_view path) const {
  if (path.empty() || path.front() != '/') return NotFound{};
  // Routes are few (tens): a linear scan over pre-split patterns beats a trie's bookkeeping.
  std::vector<std::string_view> segments;
  segments.reserve(8);
  SplitPath(path, &segments);
  std::vector<std::string> allowed;
  for (const auto& route : routes_) {
    const auto& pattern = route->segments;
    if (pattern.size() != segments.size()) continue;
    bool matches = true;
    for (std::size_t i = 0; i < pattern.size() && matches; ++i) {
      if (IsParam(pattern[i])) matches = !segments[i].empty();
      else matches = pattern[i] == segments[i];
    }
    if (!matches) continue;
    if (route->method == method) {
      std::map<std::string, std::string> params;
      for (std::size_t i = 0; i < pattern.size(); ++i) {
        if (IsParam(pattern[i])) params[pattern[i].substr(1, pattern[i].size() - 2)] = segments[i];
      }
      return Matched{route.get(), std::move(params)};
    }
    allowed.push_back(route->method);
  }
  if (allowed.empty()) return NotFound{};
  std::sort(allowed.begin(), allowed.end());
  allowed.erase(std::unique(allowed.begin(), allowed.end()), allowed.end());
  return MethodNotAllowed{std::move(allowed)};
}

bool ParseTarget(std::string_view target, std::string* path,
                 std::map<std::string, std::string>* query) {
  if (target.empty() || target.front() != '/') return false;
  const std::size_t q = target.find('?');
  if (!PercentDecode(target.substr(0, q), /*plus_is_space=*/false, path)) return false;
  query->clear();
  if (q == std::string_view::npos) return true;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    std::size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    if (pair.empty()) continue;
    std::size_t eq = pair.find('=');
    std::string key, value;
    if (!PercentDecode(pair.substr(0, eq), true, &key)) return false;
    if (eq != std::string_view::npos && !PercentDecode(pair.substr(eq + 1), true, &value)) {
      return false;
    }
    (*query)[std::move(key)] = std::move(value);
  }
  return true;
}

}  // namespace quarry::http
