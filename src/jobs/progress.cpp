#include "jobs/progress.h"

#include <boost/json.hpp>

#include <algorithm>

#include <fmt/format.h>

#include "common/json_text.h"

namespace quarry::jobs {

// Written by hand so that percentages read as 33.3, not 3.333E1.
std::string ProgressToJson(const JobProgress& p) {
  std::string out = "{\"percent\":";
  out += p.percent >= 0 ? fmt::format("{:.1f}", std::min(p.percent, 100.0)) : std::string("null");
  out += ",\"phase\":";
  AppendJsonString(out, p.phase);
  out += fmt::format(",\"done\":{},\"total\":{},\"unit\":", p.done, p.total);
  AppendJsonString(out, p.unit);
  out += ",\"message\":";
  AppendJsonString(out, p.message.substr(0, 500));
  out += '}';
  return out;
}

JobProgress ProgressFromJson(const std::string& json) {
  JobProgress p;
  boost::system::error_code ec;
  auto value = boost::json::parse(json, ec);
  if (ec || !value.is_object()) return p;
  const auto& o = value.as_object();
  auto number = [&](const char* key) -> double {
    auto it = o.find(key);
    if (it == o.end()) return 0;
    if (it->value().is_double()) return it->value().as_double();
    if (it->value().is_int64()) return static_cast<double>(it->value().as_int64());
    if (it->value().is_uint64()) return static_cast<double>(it->value().as_uint64());
    return 0;
  };
  auto text = [&](const char* key) -> std::string {
    auto it = o.find(key);
    return it != o.end() && it->value().is_string() ? std::string(it->value().as_string()) : "";
  };
  auto percent = o.find("percent");
  p.percent = percent != o.end() && !percent->value().is_null() ? number("percent") : -1;
  p.phase = text("phase");
  p.done = static_cast<std::int64_t>(number("done"));
  p.total = static_cast<std::int64_t>(number("total"));
  p.unit = text("unit");
  p.message = text("message");
  return p;
}

}  // namespace quarry::jobs
