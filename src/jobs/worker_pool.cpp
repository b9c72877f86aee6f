#include "jobs/worker_pool.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "common/ids.h"

namespace quarry::jobs {
namespace {

namespace fs = std::filesystem;

// A Status's details as the job's error details: a JSON object of its entries; an entry whose
// value is itself a JSON array or object (a handler's structured detail, e.g. rejected rows) is
// embedded as JSON rather than as a string.
std::string DetailsJson(const Status& status) {
  if (status.details().empty()) return {};
  boost::json::object out;
  for (const auto& [key, value] : status.details()) {
    if (!value.empty() && (value.front() == '[' || value.front() == '{')) {
      boost::system::error_code ec;
      auto parsed = boost::json::parse(value, ec);
      if (!ec) {
        out[key] = std::move(parsed);
        continue;
      }
    }
    out[key] = value;
  }
  return boost::json::serialize(out);
}

long long MicrosSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

void DurationHistogram::Observe(double seconds) {
  std::size_t bucket = 0;
  while (bucket < bounds_.size() && seconds > bounds_[bucket]) ++bucket;
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_micros_.fetch_add(static_cast<std::uint64_t>(std::max(0.0, seconds) * 1e6), std::memory_order_relaxed);
}

std::string DurationHistogram::Render(const std::string& name, const std::string& help) const {
  std::string out = fmt::format("# HELP {0} {1}\n# TYPE {0} histogram\n", name, help);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i].load(std::memory_order_relaxed);
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, bounds_[i], cumulative);
  }
  cumulative += counts_.back().load(std::memory_order_relaxed);
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n", name, cumulative);
  out += fmt::format("{}_sum {}\n{}_count {}\n", name, static_cast<double>(sum_micros_.load()) / 1e6, name, cumulative);
  return out;
}

WorkerPool::WorkerPool(JobStore& store, const HandlerRegistry& registry, const Clock& clock,
                       WorkerPoolOptions options)
    : store_(store), registry_(registry), clock_(clock), options_(std::move(options)),
      run_id_(RandomAlphanumeric(8)), kind_limits_(registry.KindLimits()),
      budget_(options_.memory_budget_bytes, registry.MemoryNeeds(), registry.Kinds()) {}

WorkerPool::~WorkerPool() { Stop(std::chrono::milliseconds(0)); }

std::string WorkerPool::OwnerId(int worker_index) const {
  return options_.owner_prefix + run_id_ + "/" + std::to_string(worker_index) + "/";
}

int WorkerPool::running() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(active_.size());
}

Status WorkerPool::Start() {
  QUARRY_RETURN_IF_ERROR(budget_.Validate());
  auto expired = store_.ExpireLeases(options_.owner_prefix, clock_.NowMillis());
  if (!expired.ok()) return expired.status();
  if (*expired > 0) {
    // Their worker is gone, not failing: requeue them with no backoff.
    spdlog::warn("{} job(s) were still leased by a previous run of this server; rescuing them", *expired);
    auto rescued = store_.RescueExpired(clock_.NowMillis() + 1, [](const std::string&, int) { return std::chrono::milliseconds(0); });
    if (!rescued.ok()) return rescued.status();
    metrics_.rescued.fetch_add(rescued->requeued + rescued->failed, std::memory_order_relaxed);
    DiscardFailed(*rescued);
  }
  SweepScratch();
  std::lock_guard lock(mu_);
  stopping_ = false;
  for (int i = 0; i < options_.workers; ++i) threads_.emplace_back([this, i] { WorkerLoop(i); });
  threads_.emplace_back([this] { PeriodicLoop(options_.heartbeat, &WorkerPool::HeartbeatOnce); });
  threads_.emplace_back([this] { PeriodicLoop(options_.rescue_interval, &WorkerPool::MaintainOnce); });
  return Status::Ok();
}

void WorkerPool::Notify() {
  {
    std::lock_guard lock(mu_);
    notified_ = true;
  }
  wake_workers_.notify_one();
}

void WorkerPool::Stop(std::chrono::milliseconds grace) {
  std::unique_lock lock(mu_);
  if (threads_.empty()) return;
  stopping_ = true;
  cv_.notify_all();
  wake_workers_.notify_all();
  // Running attempts may finish within the grace period.
  cv_.wait_for(lock, grace, [this] { return active_.empty(); });
  std::vector<std::shared_ptr<JobContext>> unfinished;
  for (auto& [id, context] : active_) unfinished.push_back(context);
  lock.unlock();
  if (!unfinished.empty()) {
    spdlog::warn("stopping with {} job(s) still running; releasing their leases", unfinished.size());
    // Give the jobs back first, without counting the attempt; then tell the handlers to stop.
    // In this order nothing they do can end a job: their jobs no longer run under their tokens.
    auto released = store_.ReleaseLeases(options_.owner_prefix + run_id_ + "/", clock_.NowMillis());
    if (!released.ok()) spdlog::error("releasing job leases failed: {}", released.status().ToString());
    for (auto& context : unfinished) context->RequestCancel();
  }
  for (auto& thread : threads_) thread.join();
  threads_.clear();
}

void WorkerPool::WorkerLoop(int worker_index) {
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    std::optional<Job> job = ClaimNext(worker_index);
    if (job) {
      while (job) job = RunAttempt(worker_index, std::move(*job), /*chain=*/true);
      continue;
    }
    std::unique_lock lock(mu_);
    wake_workers_.wait_for(lock, options_.poll_interval, [this] { return stopping_ || notified_; });
    notified_ = false;
  }
}

void WorkerPool::PeriodicLoop(std::chrono::milliseconds interval, void (WorkerPool::*step)()) {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, interval, [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    (this->*step)();
    lock.lock();
  }
}

ClaimRequest WorkerPool::MakeClaimRequest(int worker_index, std::vector<std::string> kinds) const {
  ClaimRequest request;
  request.worker_id = OwnerId(worker_index);
  request.lease = options_.lease;
  request.kinds = std::move(kinds);
  request.kind_limits = kind_limits_;
  request.max_running_per_tenant = options_.max_running_per_tenant;
  return request;
}

std::optional<Job> WorkerPool::ClaimNext(int worker_index) {
  ResourceBudget::Hold hold = budget_.ReserveForClaim();
  if (hold.kinds.empty()) {
    budget_.Settle(hold, nullptr);
    return std::nullopt;
  }
  const auto claim_start = std::chrono::steady_clock::now();
  auto claimed = store_.Claim(MakeClaimRequest(worker_index, hold.kinds), clock_.NowMillis());
  budget_.Settle(hold, claimed.ok() && *claimed ? &(*claimed)->kind : nullptr);
  if (!claimed.ok()) {
    spdlog::warn("claiming a job failed: {}", claimed.status().ToString());
    return std::nullopt;
  }
  if (*claimed) {
    const long long micros = MicrosSince(claim_start);
    metrics_.claims.fetch_add(1, std::memory_order_relaxed);
    metrics_.claim_micros.fetch_add(micros, std::memory_order_relaxed);
    metrics_.claim_seconds.Observe(static_cast<double>(micros) / 1e6);
  }
  return std::move(claimed).value();
}

bool WorkerPool::RunOnce(int worker_index) {
  std::optional<Job> job = ClaimNext(worker_index);
  if (!job) return false;
  RunAttempt(worker_index, std::move(*job), /*chain=*/false);
  return true;
}

std::optional<Job> WorkerPool::RunAttempt(int worker_index, Job job, bool chain) {
  const std::string scratch = ScratchDir(job);
  if (!scratch.empty()) {
    std::error_code ec;
    fs::create_directories(scratch, ec);
  }
  auto context = std::make_shared<JobContext>(job, scratch);
  {
    std::lock_guard lock(mu_);
    active_[job.id] = context;
  }
  const auto run_start = std::chrono::steady_clock::now();
  Result<std::string> result = Internal("no_handler", "no handler is registered for kind '" + job.kind + "'");
  if (JobHandler* handler = registry_.Handler(job.kind)) {
    try {
      result = handler->Run(*context);
    } catch (const std::exception& e) {
      spdlog::error("job {} ({}) threw: {}", job.id, job.kind, e.what());
      result = Internal("handler_crashed", "the job's handler failed unexpectedly; see the server log");
    }
  }
  const long long run_micros = MicrosSince(run_start);
  metrics_.run_micros.fetch_add(run_micros, std::memory_order_relaxed);
  metrics_.run_seconds.Observe(static_cast<double>(run_micros) / 1e6);
  if (!scratch.empty()) {
    std::error_code ec;
    fs::remove_all(scratch, ec);
  }

  budget_.Release(job.kind);
  AttemptOutcome outcome = Decide(job, *context, result);
  if (context->TakeProgressChange()) outcome.progress_json = ProgressToJson(context->progress());
  {
    std::lock_guard lock(mu_);
    active_.erase(job.id);
    if (stopping_) chain = false;
  }
  cv_.notify_all();

  // On the hot path the outcome and the next claim share one transaction (one durable commit).
  std::optional<Job> next;
  Status finished;
  ResourceBudget::Hold hold;
  if (chain) {
    hold = budget_.ReserveForClaim();
    if (hold.kinds.empty()) {
      budget_.Settle(hold, nullptr);
      chain = false;
    }
  }
  if (chain) {
    const auto claim_start = std::chrono::steady_clock::now();
    auto chained = store_.FinishAndClaim(job.id, job.fencing_token, outcome, clock_.NowMillis(),
                                         MakeClaimRequest(worker_index, hold.kinds));
    budget_.Settle(hold, chained.ok() && *chained ? &(*chained)->kind : nullptr);
    finished = chained.status();
    if (chained.ok() && *chained) {
      next = std::move(**chained);
      const long long micros = MicrosSince(claim_start);
      metrics_.claims.fetch_add(1, std::memory_order_relaxed);
      metrics_.claim_micros.fetch_add(micros, std::memory_order_relaxed);
      metrics_.claim_seconds.Observe(static_cast<double>(micros) / 1e6);
    }
  } else {
    finished = store_.Finish(job.id, job.fencing_token, outcome, clock_.NowMillis());
  }
  if (!finished.ok()) {
    if (finished.code() == "lease_lost") {
      metrics_.lease_lost.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("job {}: lease lost before the attempt ended; its outcome is discarded", job.id);
    } else {
      spdlog::error("job {}: recording the outcome failed: {}", job.id, finished.ToString());
    }
    return std::nullopt;
  }
  switch (outcome.kind) {
    case AttemptOutcome::Kind::kSucceeded: metrics_.succeeded.fetch_add(1, std::memory_order_relaxed); break;
    case AttemptOutcome::Kind::kFailed: metrics_.failed.fetch_add(1, std::memory_order_relaxed); break;
    case AttemptOutcome::Kind::kCanceled: metrics_.canceled.fetch_add(1, std::memory_order_relaxed); break;
    case AttemptOutcome::Kind::kRetry: metrics_.retries.fetch_add(1, std::memory_order_relaxed); break;
  }
  return next;
}

AttemptOutcome WorkerPool::Decide(const Job& job, const JobContext& context, const Result<std::string>& result) {
  AttemptOutcome outcome;
  if (result.ok()) {
    outcome.kind = AttemptOutcome::Kind::kSucceeded;
    outcome.result_json = result.value();
    return outcome;
  }
  const Status& error = result.status();
  outcome.error_code = error.code();
  outcome.error_message = error.message();
  outcome.error_details_json = DetailsJson(error);
  if (context.cancel_requested() && !context.lease_lost()) {
    outcome.kind = AttemptOutcome::Kind::kCanceled;
    outcome.error_code = "canceled";
    outcome.error_message = "the job was canceled";
    return outcome;
  }
  const KindPolicy* policy = registry_.Policy(job.kind);
  if (policy && IsRetryable(error) && job.attempt < job.max_attempts) {
    outcome.kind = AttemptOutcome::Kind::kRetry;
    outcome.retry_at = clock_.NowMillis() + Backoff(*policy, job.attempt).count();
    return outcome;
  }
  outcome.kind = AttemptOutcome::Kind::kFailed;
  return outcome;
}

void WorkerPool::HeartbeatOnce() {
  std::vector<std::shared_ptr<JobContext>> running;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, context] : active_) running.push_back(context);
  }
  for (auto& context : running) {
    const Job& job = context->job();
    // Progress travels only when it changed (each change is one event in the job's log).
    const std::string progress = context->TakeProgressChange() ? ProgressToJson(context->progress()) : "";
    auto cancel = store_.Heartbeat(job.id, job.fencing_token, clock_.NowMillis() + options_.lease.count(), progress);
    if (!cancel.ok()) {
      if (cancel.status().code() == "lease_lost") {
        std::lock_guard lock(mu_);
        if (!active_.count(job.id)) continue;  // the attempt ended meanwhile: nothing was lost
        spdlog::warn("job {}: lease lost; stopping the attempt", job.id);
        context->MarkLeaseLost();
      } else {
        spdlog::warn("job {}: heartbeat failed: {}", job.id, cancel.status().ToString());
        if (!progress.empty()) context->ProgressNotSent();
      }
      continue;
    }
    if (*cancel) context->RequestCancel();
  }
}

std::string WorkerPool::ScratchDir(const Job& job) const {
  if (options_.scratch_root.empty()) return {};
  return options_.scratch_root + "/" + job.tenant_id + "/" + job.id + "-" + std::to_string(job.fencing_token);
}

void WorkerPool::SweepScratch() {
  if (options_.scratch_root.empty()) return;
  // Directories first, then the running attempts: an attempt that starts after the listing is
  // not in it, so a live directory is never taken for a dead one.
  std::vector<fs::path> attempts;
  std::error_code ec;
  for (const auto& tenant : fs::directory_iterator(options_.scratch_root, ec)) {
    std::error_code inner;
    for (const auto& attempt : fs::directory_iterator(tenant.path(), inner)) attempts.push_back(attempt.path());
  }
  auto running = store_.RunningAttempts(10'000'000);
  if (!running.ok()) {
    spdlog::warn("sweeping scratch directories skipped: {}", running.status().ToString());
    return;
  }
  std::set<std::string> live;
  for (const auto& [id, token] : *running) live.insert(id + "-" + std::to_string(token));
  int removed = 0;
  for (const auto& attempt : attempts) {
    if (live.count(attempt.filename().string())) continue;
    std::error_code remove_error;
    if (fs::remove_all(attempt, remove_error) > 0) ++removed;
  }
  if (removed > 0) spdlog::info("removed the scratch files of {} attempt(s) that no longer run", removed);
}

void WorkerPool::DiscardFailed(const RescueReport& report) {
  for (const auto& [tenant_id, job_id] : report.failed_jobs) {
    auto job = store_.Get(tenant_id, job_id);
    JobHandler* handler = job.ok() ? registry_.Handler(job->kind) : nullptr;
    if (handler) handler->Discard(*job);
  }
}

void WorkerPool::MaintainOnce() {
  const UnixMillis now = clock_.NowMillis();
  // A lost lease is retried with the kind's own backoff.
  auto rescued = store_.RescueExpired(now, [this](const std::string& kind, int attempt) {
    static const KindPolicy kDefault;
    const KindPolicy* policy = registry_.Policy(kind);
    return Backoff(policy ? *policy : kDefault, attempt);
  });
  if (rescued.ok()) {
    if (rescued->requeued + rescued->failed > 0) {
      metrics_.rescued.fetch_add(rescued->requeued + rescued->failed, std::memory_order_relaxed);
      spdlog::warn("rescued {} job(s) whose worker stopped heartbeating ({} requeued, {} failed)",
                   rescued->requeued + rescued->failed, rescued->requeued, rescued->failed);
      Notify();
    }
    DiscardFailed(*rescued);
  } else {
    spdlog::warn("rescuing expired jobs failed: {}", rescued.status().ToString());
  }
  // Retention: small batches, so the write lock is never held for long.
  for (int round = 0; round < 20; ++round) {
    auto deleted = store_.DeleteFinishedBefore(now - options_.retention.count(), 500);
    if (!deleted.ok() || *deleted < 500) break;
  }
}

}  // namespace quarry::jobs
