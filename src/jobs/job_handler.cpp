#include "jobs/job_handler.h"

#include <algorithm>
#include <random>
#include <stdexcept>

namespace quarry::jobs {

void JobContext::ReportProgress(const JobProgress& progress) {
  std::lock_guard lock(mu_);
  if (progress_ == progress) return;
  progress_ = progress;
  progress_dirty_ = true;
}

bool JobContext::WaitForCancel(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [this] { return cancel_.load(); });
}

JobProgress JobContext::progress() const {
  std::lock_guard lock(mu_);
  return progress_;
}

bool JobContext::TakeProgressChange() {
  std::lock_guard lock(mu_);
  return std::exchange(progress_dirty_, false);
}

void JobContext::ProgressNotSent() {
  std::lock_guard lock(mu_);
  progress_dirty_ = true;
}

void JobContext::RequestCancel() {
  {
    std::lock_guard lock(mu_);
    cancel_.store(true);
  }
  cv_.notify_all();
}

void JobContext::MarkLeaseLost() {
  lease_lost_.store(true);
  RequestCancel();
}

void HandlerRegistry::Register(const std::string& kind, KindPolicy policy, std::shared_ptr<JobHandler> handler) {
  if (kind.empty() || !handler || entries_.count(kind)) {
    throw std::invalid_argument("bad or duplicate job kind: " + kind);
  }
  entries_[kind] = Entry{policy, std::move(handler)};
}

const KindPolicy* HandlerRegistry::Policy(const std::string& kind) const {
  auto it = entries_.find(kind);
  return it == entries_.end() ? nullptr : &it->second.policy;
}

JobHandler* HandlerRegistry::Handler(const std::string& kind) const {
  auto it = entries_.find(kind);
  return it == entries_.end() ? nullptr : it->second.handler.get();
}

std::vector<std::string> HandlerRegistry::Kinds() const {
  std::vector<std::string> kinds;
  for (const auto& [kind, entry] : entries_) kinds.push_back(kind);
  return kinds;
}

std::map<std::string, int> HandlerRegistry::KindLimits() const {
  std::map<std::string, int> limits;
  for (const auto& [kind, entry] : entries_) {
    if (entry.policy.max_running > 0) limits[kind] = entry.policy.max_running;
  }
  return limits;
}

std::map<std::string, std::int64_t> HandlerRegistry::MemoryNeeds() const {
  std::map<std::string, std::int64_t> needs;
  for (const auto& [kind, entry] : entries_) {
    if (entry.policy.memory_bytes > 0) needs[kind] = entry.policy.memory_bytes;
  }
  return needs;
}

bool IsRetryable(const Status& status) {
  switch (status.category()) {
    case ErrorCode::kUnavailable:
    case ErrorCode::kResourceExhausted:
    case ErrorCode::kInternal:
      return true;
    default:
      return false;
  }
}

std::chrono::milliseconds Backoff(const KindPolicy& policy, int attempt) {
  const int doublings = std::clamp(attempt - 1, 0, 30);
  const auto base = policy.backoff_base.count();
  const auto cap = policy.backoff_cap.count();
  const long long ceiling = std::min<long long>(cap, base << std::min(doublings, 20));
  if (ceiling <= 0) return std::chrono::milliseconds(0);
  thread_local std::mt19937_64 prng{std::random_device{}()};
  std::uniform_int_distribution<long long> jitter(0, ceiling);
  return std::chrono::milliseconds(jitter(prng));
}

}  // namespace quarry::jobs
