#include "common/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

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
std::atomic<bool> g_access_enabled{true};

// Flushes buffered log output every second until the process exits.
class PeriodicFlusher {
 public:
  void Start() {
    std::lock_guard lock(mu_);
    if (thread_.joinable()) return;
    thread_ = std::thread([this] {
      std::unique_lock lock(mu_);
      while (!stop_) {
        cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_; });
        if (stop_) break;  // at exit, other statics may be gone: the owner flushes explicitly
        lock.unlock();
        Flush();
        lock.lock();
      }
    });
  }
  ~PeriodicFlusher() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // GUARDED_BY(mu_)
  std::thread thread_;
};
PeriodicFlusher g_flusher;

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

  g_flusher.Start();
}

void SetAccessLog(bool enabled) { g_access_enabled.store(enabled); }
bool AccessLogEnabled() { return g_access_enabled.load(std::memory_order_relaxed); }
bool AccessLogAsJson() { return g_format == Format::kJson; }

void FlushAccessBuffers();

void Flush() {
  FlushAccessBuffers();
  if (auto logger = spdlog::default_logger()) logger->flush();
  std::fflush(stderr);
}

ScopedRequestId::ScopedRequestId(std::string_view request_id) : previous_(tls_request_id) {
  tls_request_id.assign(request_id);
}
ScopedRequestId::~ScopedRequestId() { tls_request_id = std::move(previous_); }

const std::string& CurrentRequestId() { return tls_request_id; }

}  // namespace quarry::log
