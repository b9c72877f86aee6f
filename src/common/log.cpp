#include "common/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include <cstdio>
#include <set>

#include "common/clock.h"

namespace quarry::log {
namespace {

thread_local std::string tls_request_id;

std::string JsonEscape(std::string_view s) {
  // boost::json::serialize of a string yields a quoted, escaped literal; strip the quotes.
  std::string quoted = boost::json::serialize(boost::json::string(s));
  return quoted.substr(1, quoted.size() - 2);
}

// %* : the log message as an escaped JSON string body.
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    std::string escaped = JsonEscape(std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

// %& : the current request id (escaped), or empty.
class RequestIdFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&, spdlog::memory_buf_t& dest) override {
    std::string escaped = JsonEscape(tls_request_id);
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<RequestIdFlag>();
  }
};

Format g_format = Format::kJson;
std::shared_ptr<spdlog::logger> g_access;

}  // namespace

void InitLogging(std::string_view level, Format format) {
  g_format = format;
  // One write(2) per log line costs more than serving a small request. stderr is made fully
  // buffered instead and flushed every second, at warnings and above, and on shutdown; a crash
  // can lose at most the last second of info lines.
  static char buffer[1 << 16];
  std::setvbuf(stderr, buffer, _IOFBF, sizeof buffer);
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("quarry", sink);
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  formatter->add_flag<JsonMessageFlag>('*').add_flag<RequestIdFlag>('&');
  if (format == Format::kJson) {
    formatter->set_pattern(
        R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","request_id":"%&","msg":"%*"})");
  } else {
    formatter->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%-5l%$ [%&] %v");
  }
  logger->set_formatter(std::move(formatter));
  logger->set_level(spdlog::level::from_str(std::string(level)));
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);

  // Formatters belong to sinks in spdlog, so the access log needs a sink of its own.
  g_access = std::make_shared<spdlog::logger>("access", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  g_access->set_pattern("%v");
  g_access->set_level(spdlog::level::info);
  spdlog::drop("access");
  spdlog::register_logger(g_access);
  spdlog::flush_every(std::chrono::seconds(1));
}

void SetAccessLog(bool enabled) {
  if (g_access) g_access->set_level(enabled ? spdlog::level::info : spdlog::level::off);
}

void Flush() {
  if (auto logger = spdlog::default_logger()) logger->flush();
  if (g_access) g_access->flush();
}

ScopedRequestId::ScopedRequestId(std::string_view request_id) : previous_(tls_request_id) {
  tls_request_id.assign(request_id);
}
ScopedRequestId::~ScopedRequestId() { tls_request_id = std::move(previous_); }

const std::string& CurrentRequestId() { return tls_request_id; }

void LogAccess(const std::map<std::string, std::string>& fields) {
  if (!g_access || !g_access->should_log(spdlog::level::info)) return;
  static const std::set<std::string, std::less<>> kNumeric = {"status", "duration_us", "bytes_in",
                                                              "bytes_out"};
  boost::json::object line;
  line["ts"] = FormatRfc3339(SystemClock::Instance().NowMillis());
  line["level"] = "info";
  line["msg"] = "request";
  for (const auto& [key, value] : fields) {
    if (kNumeric.count(key)) {
      try {
        std::size_t used = 0;
        long long number = std::stoll(value, &used);
        if (used != value.size()) throw std::invalid_argument("not an integer");
        line[key] = number;
        continue;
      } catch (...) {
      }
    }
    line[key] = value;
  }
  if (g_format == Format::kJson) {
    g_access->info(boost::json::serialize(line));
  } else {
    std::string text;
    for (const auto& [key, value] : fields) text += key + "=" + value + " ";
    g_access->info(text);
  }
}

}  // namespace quarry::log
