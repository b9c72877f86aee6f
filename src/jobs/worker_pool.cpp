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

bool WorkerPool::stopping() const {
  std::lock_guard lock(mu_);
  return stopping_;
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
    std::vector<Job> batch = ClaimNext(worker_index);
    if (!batch.empty()) {
      while (!batch.empty()) batch = RunBatch(worker_index, std::move(batch), /*chain=*/true);
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

std::vector<Job> WorkerPool::ClaimNext(int worker_index) { return RecordAndClaim(worker_index, {}, true); }

bool WorkerPool::RunOnce(int worker_index) {
  std::vector<Job> batch = ClaimNext(worker_index);
  if (batch.empty()) return false;
  RunBatch(worker_index, std::move(batch), /*chain=*/false);
  return true;
}

void WorkerPool::AddBatchLimits(ClaimRequest& request) const {
  std::lock_guard lock(ewma_mu_);
  int max_batch = options_.max_claim_batch;
  for (const std::string& kind : request.kinds) {
    const KindPolicy* policy = registry_.Policy(kind);
    auto ewma = run_millis_ewma_.find(kind);
    if (policy == nullptr || policy->claim_batch < 2 || policy->memory_bytes > 0 || ewma == run_millis_ewma_.end()) {
      continue;
    }
    // A batch's last job waits for the ones before it: keep that wait within the window.
    const double window = static_cast<double>(options_.batch_window.count());
    const int fits = static_cast<int>(std::min<double>(policy->claim_batch, window / std::max(ewma->second, 0.001)));
    const int size = std::min(policy->claim_batch, fits);
    if (size < 2) continue;
    request.batch_kinds.push_back(kind);
    max_batch = std::min(max_batch, size);
  }
  request.max_batch = request.batch_kinds.empty() ? 1 : std::max(1, max_batch);
}

void WorkerPool::ObserveRunTime(const std::string& kind, double millis) {
  std::lock_guard lock(ewma_mu_);
  auto [it, inserted] = run_millis_ewma_.try_emplace(kind, millis);
  if (!inserted) it->second = 0.8 * it->second + 0.2 * millis;
}

Completion WorkerPool::RunAttempt(const std::shared_ptr<JobContext>& context) {
  const Job& job = context->job();
  if (!context->scratch_dir().empty()) {
    std::error_code ec;
    fs::create_directories(context->scratch_dir(), ec);
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
  ObserveRunTime(job.kind, static_cast<double>(run_micros) / 1e3);
  if (!context->scratch_dir().empty()) {
    std::error_code ec;
    fs::remove_all(context->scratch_dir(), ec);
  }
  budget_.Release(job.kind);
  Completion done{job.id, job.fencing_token, Decide(job, *context, result)};
  done.outcome.ran_millis = run_micros / 1000;
  if (context->TakeProgressChange()) done.outcome.progress_json = ProgressToJson(context->progress());
  return done;
}

std::vector<Job> WorkerPool::RunBatch(int worker_index, std::vector<Job> batch, bool chain) {
  // Every job of the batch is active from the start, so the heartbeat keeps the leases of those
  // still waiting their turn, and relays their cancellation or lost lease.
  std::vector<std::shared_ptr<JobContext>> contexts;
  {
    std::lock_guard lock(mu_);
    for (Job& job : batch) {
      const std::string scratch = ScratchDir(job);
      auto context = std::make_shared<JobContext>(std::move(job), scratch);
      active_[context->job().id] = context;
      contexts.push_back(std::move(context));
    }
  }
  std::vector<Completion> completions;
  bool left_unstarted = false;
  for (std::size_t i = 0; i < contexts.size(); ++i) {
    const std::shared_ptr<JobContext>& context = contexts[i];
    bool skip = false;
    {
      std::lock_guard lock(mu_);
      skip = i > 0 && stopping_;  // give waiting jobs back rather than delay the shutdown
    }
    if (!skip && !context->lease_lost()) {
      completions.push_back(RunAttempt(context));  // releases its budget
      continue;
    }
    left_unstarted = left_unstarted || skip;
    budget_.Release(context->job().kind);
  }
  {
    std::lock_guard lock(mu_);
    for (const auto& context : contexts) active_.erase(context->job().id);
    if (stopping_) chain = false;
  }
  cv_.notify_all();

  std::vector<Job> next = RecordAndClaim(worker_index, completions, chain);
  if (left_unstarted) {
    auto released = store_.ReleaseLeases(OwnerId(worker_index), clock_.NowMillis());
    if (!released.ok()) spdlog::error("releasing the leases of unstarted jobs failed: {}", released.status().ToString());
  }
  return next;
}

std::vector<Job> WorkerPool::RecordAndClaim(int worker_index, const std::vector<Completion>& completions, bool claim) {
  ResourceBudget::Hold hold;
  ClaimRequest next;  // no kinds: claims nothing
  if (claim) {
    hold = budget_.ReserveForClaim();
    if (hold.kinds.empty()) {
      budget_.Settle(hold, nullptr);
      claim = false;
    } else {
      next = MakeClaimRequest(worker_index, hold.kinds);
      AddBatchLimits(next);
    }
  }
  if (completions.empty() && !claim) return {};
  const auto claim_start = std::chrono::steady_clock::now();
  auto recorded = store_.FinishAndClaim(completions, clock_.NowMillis(), next);
  if (claim) budget_.Settle(hold, recorded.ok() && !recorded->claimed.empty() ? &recorded->claimed.front().kind : nullptr);
  if (!recorded.ok()) {
    spdlog::error("recording {} outcome(s) and claiming failed: {}", completions.size(), recorded.status().ToString());
    return {};
  }
  for (std::size_t i = 0; i < completions.size(); ++i) {
    if (!recorded->finished[i].ok()) {
      metrics_.lease_lost.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("job {}: lease lost before the attempt ended; its outcome is discarded", completions[i].job_id);
      continue;
    }
    switch (completions[i].outcome.kind) {
      case AttemptOutcome::Kind::kSucceeded: metrics_.succeeded.fetch_add(1, std::memory_order_relaxed); break;
      case AttemptOutcome::Kind::kFailed: metrics_.failed.fetch_add(1, std::memory_order_relaxed); break;
      case AttemptOutcome::Kind::kCanceled: metrics_.canceled.fetch_add(1, std::memory_order_relaxed); break;
      case AttemptOutcome::Kind::kRetry: metrics_.retries.fetch_add(1, std::memory_order_relaxed); break;
    }
  }
  if (!recorded->claimed.empty()) {
    const long long micros = MicrosSince(claim_start);
    metrics_.claims.fetch_add(recorded->claimed.size(), std::memory_order_relaxed);
    metrics_.claim_micros.fetch_add(micros, std::memory_order_relaxed);
    metrics_.claim_seconds.Observe(static_cast<double>(micros) / 1e6);
  }
  return std::move(recorded->claimed);
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
