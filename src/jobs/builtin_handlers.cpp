// Built-in job kinds that need nothing outside the queue.
#include <boost/json.hpp>

#include "jobs/job_handler.h"

namespace quarry::jobs {
namespace {

// Returns at once: measures the queue itself (bench/jobs).
class NoopHandler final : public JobHandler {
 public:
  Result<std::string> Run(JobContext&) override { return std::string("{}"); }
};

// Test kind: waits `ms` milliseconds in `steps` steps, reporting progress after each, and stops
// early on cancellation. Payload: {"ms": 0..600000, "steps": 1..1000, "fail": "permanent"|"retryable"}.
class SleepHandler final : public JobHandler {
 public:
  Result<std::string> Run(JobContext& context) override {
    boost::system::error_code ec;
    auto payload = boost::json::parse(context.job().payload_json, ec);
    std::int64_t ms = 0, steps = 1;
    std::string fail;
    if (!ec && payload.is_object()) {
      const auto& o = payload.as_object();
      if (auto it = o.find("ms"); it != o.end() && it->value().is_int64()) ms = it->value().as_int64();
      if (auto it = o.find("steps"); it != o.end() && it->value().is_int64()) steps = it->value().as_int64();
      if (auto it = o.find("fail"); it != o.end() && it->value().is_string()) fail = it->value().as_string();
    }
    if (ms < 0 || ms > 600'000 || steps < 1 || steps > 1000) {
      return InvalidArgument("invalid_payload", "sleep takes {\"ms\": 0..600000, \"steps\": 1..1000}");
    }
    for (std::int64_t step = 0; step < steps; ++step) {
      if (context.WaitForCancel(std::chrono::milliseconds(ms / steps))) {
        return Status(ErrorCode::kFailedPrecondition, "canceled", "the job was canceled");
      }
      JobProgress progress;
      progress.phase = "sleeping";
      progress.done = step + 1;
      progress.total = steps;
      progress.unit = "steps";
      progress.percent = 100.0 * static_cast<double>(step + 1) / static_cast<double>(steps);
      context.ReportProgress(progress);
    }
    if (fail == "permanent") return InvalidArgument("sleep_failed", "failed on request (permanent)");
    if (fail == "retryable") return Unavailable("sleep_failed", "failed on request (retryable)");
    return std::string(R"({"slept_ms":)" + std::to_string(ms) + "}");
  }
};

}  // namespace

void RegisterBuiltinHandlers(HandlerRegistry& registry, bool allow_test_kinds) {
  KindPolicy noop;
  noop.max_attempts = 1;
  noop.user_submittable = allow_test_kinds;
  noop.claim_batch = 16;
  registry.Register("noop", noop, std::make_shared<NoopHandler>());
  KindPolicy sleep;
  sleep.max_attempts = 3;
  sleep.backoff_base = std::chrono::milliseconds(100);
  sleep.backoff_cap = std::chrono::milliseconds(2'000);
  sleep.user_submittable = allow_test_kinds;
  registry.Register("sleep", sleep, std::make_shared<SleepHandler>());
}

}  // namespace quarry::jobs
