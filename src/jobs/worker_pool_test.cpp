// The worker pool driven step by step (RunOnce / HeartbeatOnce / MaintainOnce) on a simulated
// clock against the real SQLite job store: outcomes, retries, cancellation, rescue and fencing.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/ids.h"
#include "common/testing/temp_dir.h"
#include "jobs/worker_pool.h"
#include "meta/sqlite/sqlite_meta_store.h"

namespace quarry::jobs {
namespace {

using namespace std::chrono_literals;

// A handler the test controls: it announces that it started, then waits until released (or
// canceled), then returns what the test chose.
class GateHandler final : public JobHandler {
 public:
  Result<std::string> Run(JobContext& context) override {
    JobProgress progress;
    progress.phase = "gated";
    progress.percent = 50;
    context.ReportProgress(progress);
    started_.set_value();
    std::future<void> release = release_.get_future();
    while (release.wait_for(0ms) != std::future_status::ready) {
      if (context.WaitForCancel(5ms)) return Status(ErrorCode::kFailedPrecondition, "canceled", "canceled");
    }
    return std::string(R"({"gate":"passed"})");
  }
  std::future<void> started() { return started_.get_future(); }
  void Release() { release_.set_value(); }

 private:
  std::promise<void> started_;
  std::promise<void> release_;
};

class ScriptedHandler final : public JobHandler {
 public:
  explicit ScriptedHandler(Status error) : error_(std::move(error)) {}
  Result<std::string> Run(JobContext&) override {
    ++runs;
    if (error_.ok()) return std::string("{}");
    return error_;
  }
  void Discard(const Job& job) override { discarded.push_back(job.id); }
  int runs = 0;
  std::vector<std::string> discarded;

 private:
  Status error_;
};

class WorkerPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    meta_ = std::move(OpenSqliteMetaStore({(temp_.path() / "meta.db").string()})).value();
    store_ = std::move(OpenSqliteJobStore({(temp_.path() / "meta.db").string()})).value();
    Tenant tenant{NewId("ten", clock_.NowMillis()), "acme", "Acme", TenantStatus::kActive, 0, 0};
    ASSERT_TRUE(meta_->InsertTenant(tenant).ok());
    tenant_id_ = tenant.id;
  }

  WorkerPool MakePool(const HandlerRegistry& registry,
                      const std::function<void(WorkerPoolOptions&)>& customize = nullptr) {
    WorkerPoolOptions options;
    options.owner_prefix = "test/";
    options.lease = 30s;
    options.scratch_root = (temp_.path() / "scratch").string();
    if (customize) customize(options);
    return WorkerPool(*store_, registry, clock_, options);
  }

  std::string Enqueue(const std::string& kind, int max_attempts = 1, int priority = 0) {
    NewJob job;
    job.priority = priority;
    job.tenant_id = tenant_id_;
    job.user_id = "usr_test";
    job.kind = kind;
    job.max_attempts = max_attempts;
    job.run_after = clock_.NowMillis();
    auto result = store_->Enqueue(job, 1000, 24h, clock_.NowMillis());
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    return result->job.id;
  }

  Job Get(const std::string& id) { return std::move(store_->Get(tenant_id_, id)).value(); }

  // Claims the next job of `kind` as a worker outside the pool under test (another process, or
  // an earlier run of this one), so that the pool meets a job it did not start.
  std::optional<Job> ClaimAs(const std::string& worker_id, const std::string& kind) {
    ClaimRequest claim;
    claim.worker_id = worker_id;
    claim.kinds = {kind};
    auto claimed = store_->Claim(claim, clock_.NowMillis());
    EXPECT_TRUE(claimed.ok() && *claimed) << "nothing to claim";
    return claimed.ok() ? *claimed : std::nullopt;
  }

  testing::TempDir temp_{"workers"};
  SimulatedClock clock_;
  std::unique_ptr<MetaStore> meta_;
  std::unique_ptr<JobStore> store_;
  std::string tenant_id_;
};

TEST_F(WorkerPoolTest, SuccessStoresTheResultAndRemovesScratch) {
  HandlerRegistry registry;
  RegisterBuiltinHandlers(registry, true);
  WorkerPool pool = MakePool(registry);
  const std::string id = Enqueue("noop");
  EXPECT_TRUE(pool.RunOnce(0));
  EXPECT_FALSE(pool.RunOnce(0)) << "nothing left";
  Job job = Get(id);
  EXPECT_EQ(job.state, JobState::kSucceeded);
  EXPECT_EQ(job.result_json, "{}");
  EXPECT_EQ(job.attempt, 1);
  EXPECT_TRUE(job.finished_at.has_value());
  EXPECT_EQ(pool.metrics().succeeded.load(), 1u);
  EXPECT_TRUE(std::filesystem::is_empty(temp_.path() / "scratch" / tenant_id_));
}

TEST_F(WorkerPoolTest, RetryableErrorsRetryWithBackoffUntilAttemptsRunOut) {
  HandlerRegistry registry;
  auto handler = std::make_shared<ScriptedHandler>(Unavailable("disk_full", "no space left"));
  KindPolicy policy;
  policy.max_attempts = 3;
  policy.backoff_base = 1s;
  policy.backoff_cap = 10s;
  registry.Register("flaky", policy, handler);
  WorkerPool pool = MakePool(registry);
  const std::string id = Enqueue("flaky", 3);

  ASSERT_TRUE(pool.RunOnce(0));
  Job job = Get(id);
  EXPECT_EQ(job.state, JobState::kQueued) << "retryable: back to queued";
  EXPECT_EQ(job.error_code, "disk_full") << "the last error stays visible while it waits";
  EXPECT_LE(job.run_after, clock_.NowMillis() + 1000);
  clock_.Advance(1s);
  ASSERT_TRUE(pool.RunOnce(0));
  clock_.Advance(2s);
  ASSERT_TRUE(pool.RunOnce(0));
  job = Get(id);
  EXPECT_EQ(job.state, JobState::kFailed);
  EXPECT_EQ(job.attempt, 3);
  EXPECT_EQ(handler->runs, 3);
  EXPECT_EQ(pool.metrics().retries.load(), 2u);
}

TEST_F(WorkerPoolTest, PermanentErrorsFailAtOnce) {
  HandlerRegistry registry;
  auto handler = std::make_shared<ScriptedHandler>(InvalidArgument("bad_file", "not a CSV"));
  KindPolicy policy;
  policy.max_attempts = 5;
  registry.Register("parse", policy, handler);
  WorkerPool pool = MakePool(registry);
  const std::string id = Enqueue("parse", 5);
  ASSERT_TRUE(pool.RunOnce(0));
  Job job = Get(id);
  EXPECT_EQ(job.state, JobState::kFailed);
  EXPECT_EQ(job.error_code, "bad_file");
  EXPECT_EQ(job.error_message, "not a CSV");
  EXPECT_EQ(handler->runs, 1);
}

TEST_F(WorkerPoolTest, HeartbeatCarriesProgressAndCancellation) {
  HandlerRegistry registry;
  auto gate = std::make_shared<GateHandler>();
  registry.Register("gate", KindPolicy{}, gate);
  WorkerPool pool = MakePool(registry);
  const std::string id = Enqueue("gate");
  auto started = gate->started();
  std::thread worker([&] { pool.RunOnce(0); });
  ASSERT_EQ(started.wait_for(10s), std::future_status::ready);

  pool.HeartbeatOnce();
  EXPECT_NE(Get(id).progress_json.find("gated"), std::string::npos) << "progress travels with the heartbeat";
  ASSERT_TRUE(store_->RequestCancel(tenant_id_, id, clock_.NowMillis()).ok());
  pool.HeartbeatOnce();  // relays the cancellation to the handler
  worker.join();
  Job job = Get(id);
  EXPECT_EQ(job.state, JobState::kCanceled);
  EXPECT_EQ(pool.metrics().canceled.load(), 1u);
}

TEST_F(WorkerPoolTest, StalledWorkerIsFencedOffAfterRescue) {
  HandlerRegistry registry;
  auto gate = std::make_shared<GateHandler>();
  registry.Register("gate", KindPolicy{3}, gate);
  WorkerPool stalled = MakePool(registry);
  const std::string id = Enqueue("gate", 3);
  auto started = gate->started();
  std::thread worker([&] { stalled.RunOnce(0); });
  ASSERT_EQ(started.wait_for(10s), std::future_status::ready);
  const std::int64_t first_token = Get(id).fencing_token;

  // The stalled worker stops heartbeating; its lease runs out and the job is rescued.
  clock_.Advance(31s);
  HandlerRegistry healthy_registry;
  auto healthy_handler = std::make_shared<ScriptedHandler>(Status::Ok());
  healthy_registry.Register("gate", KindPolicy{3}, healthy_handler);
  WorkerPool healthy = MakePool(healthy_registry);
  healthy.MaintainOnce();
  EXPECT_EQ(Get(id).state, JobState::kQueued);
  clock_.Advance(10min);  // past any backoff
  ASSERT_TRUE(healthy.RunOnce(0));
  Job done = Get(id);
  EXPECT_EQ(done.state, JobState::kSucceeded);
  EXPECT_GT(done.fencing_token, first_token);

  // The stalled worker wakes up and finishes: its outcome must not be published.
  gate->Release();
  worker.join();
  Job after = Get(id);
  EXPECT_EQ(after.state, JobState::kSucceeded);
  EXPECT_EQ(after.result_json, "{}") << "the rescued attempt's result stands";
  EXPECT_EQ(stalled.metrics().lease_lost.load(), 1u);
  EXPECT_EQ(healthy_handler->runs, 1);
}

TEST_F(WorkerPoolTest, RescueUsesTheKindsBackoff) {
  HandlerRegistry registry;
  KindPolicy eager;
  eager.max_attempts = 3;
  eager.backoff_base = 0ms;  // this kind retries at once
  registry.Register("eager", eager, std::make_shared<ScriptedHandler>(Status::Ok()));
  WorkerPool pool = MakePool(registry);
  const std::string id = Enqueue("eager", 3);
  ASSERT_TRUE(ClaimAs("elsewhere/0", "eager"));
  clock_.Advance(31s);  // the other worker vanished; its 30 s lease ran out
  pool.MaintainOnce();
  Job job = Get(id);
  EXPECT_EQ(job.state, JobState::kQueued);
  EXPECT_EQ(job.run_after, clock_.NowMillis()) << "no backoff for this kind";
  EXPECT_EQ(job.error_code, "lease_expired");
  EXPECT_TRUE(pool.RunOnce(0));
  EXPECT_EQ(Get(id).state, JobState::kSucceeded);
}

TEST_F(WorkerPoolTest, AJobFailedByTheRescuerIsDiscardedByItsHandler) {
  // Its handler never ran to clean up (the worker vanished), so the rescuer asks it to.
  HandlerRegistry registry;
  auto handler = std::make_shared<ScriptedHandler>(Status::Ok());
  registry.Register("once", KindPolicy{1}, handler);
  WorkerPool pool = MakePool(registry);
  const std::string id = Enqueue("once", 1);
  ASSERT_TRUE(ClaimAs("elsewhere/0", "once"));
  const std::string kept = Enqueue("once", 1);  // after the claim: the vanished worker took `id`
  clock_.Advance(31s);
  pool.MaintainOnce();
  EXPECT_EQ(Get(id).state, JobState::kFailed);
  EXPECT_EQ(handler->discarded, std::vector<std::string>{id});
  EXPECT_TRUE(pool.RunOnce(0));
  EXPECT_EQ(Get(kept).state, JobState::kSucceeded);
  EXPECT_EQ(handler->discarded.size(), 1u) << "a job that ran is not discarded";
}

TEST_F(WorkerPoolTest, StartRemovesTheScratchOfAttemptsThatNoLongerRun) {
  HandlerRegistry registry;
  registry.Register("slow", KindPolicy{1}, std::make_shared<ScriptedHandler>(Status::Ok()));
  const std::string id = Enqueue("slow", 1);
  const std::optional<Job> claimed = ClaimAs("elsewhere/0", "slow");  // another process runs it now
  ASSERT_TRUE(claimed);
  const auto root = temp_.path() / "scratch" / tenant_id_;
  const auto live = root / (id + "-" + std::to_string(claimed->fencing_token));
  const auto dead = root / (id + "-" + std::to_string(claimed->fencing_token - 1));  // a killed earlier attempt
  for (const auto& dir : {live, dead}) {
    std::filesystem::create_directories(dir / "engine_tmp");
    std::ofstream(dir / "engine_tmp" / "spill.bin") << "spill";
  }
  WorkerPool pool = MakePool(registry);
  ASSERT_TRUE(pool.Start().ok());
  pool.Stop(std::chrono::seconds(5));
  EXPECT_TRUE(std::filesystem::exists(live / "engine_tmp" / "spill.bin")) << "a running attempt keeps its files";
  EXPECT_FALSE(std::filesystem::exists(dead));
}

TEST_F(WorkerPoolTest, StartExpiresLeasesOfThePreviousRun) {
  HandlerRegistry registry;
  RegisterBuiltinHandlers(registry, true);
  // sleep allows 3 attempts: the interrupted one counts (a job that crashes its server must not
  // loop forever), the next one runs.
  const std::string id = Enqueue("sleep", 3);
  ASSERT_TRUE(ClaimAs("test/previous-run/0", "sleep"));
  ASSERT_EQ(Get(id).state, JobState::kRunning);

  WorkerPoolOptions options;
  options.owner_prefix = "test/";
  options.workers = 1;
  options.poll_interval = 10ms;
  WorkerPool pool(*store_, registry, clock_, options);
  ASSERT_TRUE(pool.Start().ok());
  // The job is requeued at once (runnable from the next millisecond); the pool's worker, or this
  // thread if the pool stops first, runs it.
  clock_.Advance(1ms);
  pool.Notify();
  pool.Stop(10s);
  while (pool.RunOnce(0)) {
  }
  EXPECT_EQ(Get(id).state, JobState::kSucceeded);
  EXPECT_EQ(Get(id).attempt, 2);
}

TEST_F(WorkerPoolTest, StopReleasesRunningJobsWithoutSpendingAnAttempt) {
  HandlerRegistry registry;
  auto gate = std::make_shared<GateHandler>();
  registry.Register("gate", KindPolicy{1}, gate);
  WorkerPoolOptions options;
  options.owner_prefix = "test/";
  options.workers = 1;
  WorkerPool pool(*store_, registry, clock_, options);
  const std::string id = Enqueue("gate", 1);
  auto started = gate->started();
  ASSERT_TRUE(pool.Start().ok());
  ASSERT_EQ(started.wait_for(10s), std::future_status::ready);
  pool.Stop(0ms);  // no grace: the running job is given back at once
  Job job = Get(id);
  EXPECT_EQ(job.state, JobState::kQueued) << "released, not canceled or failed";
  EXPECT_EQ(job.attempt, 0) << "the interrupted attempt does not count";
  EXPECT_TRUE(job.lease_owner.empty());
  // Another worker picks it up at once.
  HandlerRegistry other;
  other.Register("gate", KindPolicy{1}, std::make_shared<ScriptedHandler>(Status::Ok()));
  WorkerPool next = MakePool(other);
  ASSERT_TRUE(next.RunOnce(0));
  EXPECT_EQ(Get(id).state, JobState::kSucceeded);
}

// Holds every attempt until released; counts attempts by kind, running and at peak.
class HoldingHandler final : public JobHandler {
 public:
  Result<std::string> Run(JobContext& context) override {
    const std::string kind = context.job().kind;
    std::unique_lock lock(mu_);
    ++started[kind];
    peak[kind] = std::max(peak[kind], ++running_[kind]);
    cv_.notify_all();
    cv_.wait(lock, [this] { return released_; });
    --running_[kind];
    ++finished;
    cv_.notify_all();
    return std::string("{}");
  }
  template <typename Pred>
  bool WaitUntil(Pred pred) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 10s, [&] { return pred(*this); });
  }
  void Release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  std::map<std::string, int> started, peak;  // GUARDED_BY(mu_)
  int finished = 0;                          // GUARDED_BY(mu_)

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, int> running_;
  bool released_ = false;
};

TEST_F(WorkerPoolTest, KindsThatDoNotFitTheMemoryBudgetWaitWhileSmallerOnesRun) {
  HandlerRegistry registry;
  auto holding = std::make_shared<HoldingHandler>();
  KindPolicy big{1};
  big.memory_bytes = 6;
  KindPolicy small{1};
  small.memory_bytes = 1;
  registry.Register("big", big, holding);
  registry.Register("small", small, holding);
  WorkerPoolOptions options;
  options.owner_prefix = "test/";
  options.workers = 2;
  options.poll_interval = 5ms;
  options.memory_budget_bytes = 8;
  WorkerPool pool(*store_, registry, clock_, options);
  const std::string big1 = Enqueue("big");
  const std::string big2 = Enqueue("big");
  const std::string small1 = Enqueue("small");
  ASSERT_TRUE(pool.Start().ok());
  ASSERT_TRUE(holding->WaitUntil([](HoldingHandler& h) { return h.started["big"] == 1 && h.started["small"] == 1; }))
      << "the small job runs beside the big one, ahead of the second big job";
  // Jobs enqueued in the same (simulated) millisecond have no defined order: either big job may
  // be the one running.
  EXPECT_EQ((Get(big1).state == JobState::kQueued) + (Get(big2).state == JobState::kQueued), 1)
      << "6 + 6 bytes do not fit a budget of 8";
  EXPECT_EQ(pool.memory_reserved(), 7);
  holding->Release();
  ASSERT_TRUE(holding->WaitUntil([](HoldingHandler& h) { return h.finished == 3; }));
  pool.Stop(1s);
  for (const auto& id : {big1, big2, small1}) EXPECT_EQ(Get(id).state, JobState::kSucceeded);
  EXPECT_EQ(holding->peak["big"], 1);
  EXPECT_EQ(pool.memory_reserved(), 0);
}

TEST_F(WorkerPoolTest, StartRefusesAKindLargerThanTheMemoryBudget) {
  HandlerRegistry registry;
  KindPolicy huge{1};
  huge.memory_bytes = 100;
  registry.Register("huge", huge, std::make_shared<ScriptedHandler>(Status::Ok()));
  WorkerPoolOptions options;
  options.owner_prefix = "test/";
  options.memory_budget_bytes = 10;
  WorkerPool pool(*store_, registry, clock_, options);
  Status started = pool.Start();
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.code(), "job_memory_budget_too_small");
}

// Records which tenant's job ran, in order, and signals when the small tenants are done.
class RecordingHandler final : public JobHandler {
 public:
  explicit RecordingHandler(int wanted) : wanted_(wanted) {}
  Result<std::string> Run(JobContext& context) override {
    std::lock_guard lock(mu_);
    order.push_back(context.job().tenant_id);
    if (context.job().tenant_id != big_tenant && ++small_done_ == wanted_) cv_.notify_all();
    return std::string("{}");
  }
  bool WaitForSmallTenants(std::chrono::seconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [this] { return small_done_ >= wanted_; });
  }
  std::string big_tenant;
  std::vector<std::string> order;  // GUARDED_BY(mu_)
  std::mutex mu_;

 private:
  std::condition_variable cv_;
  const int wanted_;
  int small_done_ = 0;
};

// Counts its runs; a test waits (bounded) for a number of them.
class CountingHandler final : public JobHandler {
 public:
  Result<std::string> Run(JobContext&) override {
    std::lock_guard lock(mu_);
    ++runs_;
    cv_.notify_all();
    return std::string("{}");
  }
  bool WaitForRuns(int n, std::chrono::milliseconds limit) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return runs_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int runs_ = 0;
};

TEST_F(WorkerPoolTest, NotifyWakesAnIdleWorkerAtOnce) {
  // Regression: Notify woke one waiter of a condition variable shared with the heartbeat and
  // maintenance threads, so a new job could wait for the next poll interval. With an interval
  // of an hour, every job below must still start at once.
  auto counter = std::make_shared<CountingHandler>();
  HandlerRegistry registry;
  registry.Register("count", KindPolicy{1}, counter);
  WorkerPoolOptions options;
  options.owner_prefix = "test/";
  options.workers = 1;
  options.poll_interval = std::chrono::hours(1);
  options.lease = std::chrono::hours(4);
  options.heartbeat = std::chrono::hours(1);
  options.rescue_interval = std::chrono::hours(1);
  WorkerPool pool(*store_, registry, clock_, options);
  ASSERT_TRUE(pool.Start().ok());
  for (int i = 1; i <= 10; ++i) {
    Enqueue("count");
    pool.Notify();
    ASSERT_TRUE(counter->WaitForRuns(i, 20s)) << "job " << i << " did not start after Notify";
  }
  pool.Stop(10s);
}

TEST_F(WorkerPoolTest, SmallTenantsFinishWhileABigBacklogWaits) {
  // Tenant A enqueues 1,000 jobs, then B and C 10 each; with 2 workers and equal weights, B's
  // and C's jobs all finish before A has finished 60 of its own.
  std::vector<std::string> small;
  for (const char* slug : {"bravo", "charlie"}) {
    Tenant t{NewId("ten", clock_.NowMillis()), slug, slug, TenantStatus::kActive, 0, 0};
    ASSERT_TRUE(meta_->InsertTenant(t).ok());
    small.push_back(t.id);
  }
  auto recorder = std::make_shared<RecordingHandler>(20);
  recorder->big_tenant = tenant_id_;
  HandlerRegistry registry;
  registry.Register("record", KindPolicy{1}, recorder);
  auto enqueue = [&](const std::string& tenant) {
    NewJob job{tenant, "usr_test", "record"};
    job.run_after = clock_.NowMillis();
    ASSERT_TRUE(store_->Enqueue(job, 10'000, 24h, clock_.NowMillis()).ok());
  };
  for (int i = 0; i < 1000; ++i) enqueue(tenant_id_);
  for (int i = 0; i < 10; ++i) {
    enqueue(small[0]);
    enqueue(small[1]);
  }
  WorkerPoolOptions options;
  options.owner_prefix = "test/";
  options.workers = 2;
  WorkerPool pool(*store_, registry, clock_, options);
  ASSERT_TRUE(pool.Start().ok());
  ASSERT_TRUE(recorder->WaitForSmallTenants(60s));
  pool.Stop(10s);
  std::lock_guard lock(recorder->mu_);
  int big_before = 0, small_seen = 0;
  for (const auto& tenant : recorder->order) {
    if (tenant == tenant_id_) ++big_before;
    else if (++small_seen == 20) break;
  }
  EXPECT_LT(big_before, 60) << "A finished " << big_before << " jobs before B and C were done";
}

TEST(Backoff, FullJitterWithinTheExponentialCeiling) {
  KindPolicy policy;
  policy.backoff_base = 1s;
  policy.backoff_cap = 8s;
  for (int attempt = 1; attempt <= 6; ++attempt) {
    const long long ceiling = std::min<long long>(8000, 1000LL << (attempt - 1));
    for (int i = 0; i < 200; ++i) {
      auto delay = Backoff(policy, attempt).count();
      EXPECT_GE(delay, 0);
      EXPECT_LE(delay, ceiling);
    }
  }
}

// --- claim batching (KindPolicy::claim_batch) ---

KindPolicy Batched(int claim_batch) {
  KindPolicy policy;
  policy.max_attempts = 1;
  policy.claim_batch = claim_batch;
  return policy;
}

TEST_F(WorkerPoolTest, AShortKindIsClaimedInBatchesOnceItsRunTimeIsKnown) {
  HandlerRegistry registry;
  auto quick = std::make_shared<ScriptedHandler>(Status::Ok());
  registry.Register("quick", Batched(4), quick);
  WorkerPool pool = MakePool(registry, [](WorkerPoolOptions& o) { o.max_running_per_tenant = 100; });
  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i) ids.push_back(Enqueue("quick"));

  ASSERT_TRUE(pool.RunOnce(0));
  EXPECT_EQ(quick->runs, 1) << "a kind never seen running is claimed alone";
  ASSERT_TRUE(pool.RunOnce(0));
  EXPECT_EQ(quick->runs, 5) << "then four at a time";
  while (pool.RunOnce(0)) {
  }
  EXPECT_EQ(quick->runs, 10);
  for (const auto& id : ids) EXPECT_EQ(Get(id).state, JobState::kSucceeded);
  EXPECT_EQ(pool.metrics().succeeded.load(), 10u);
  EXPECT_EQ(pool.metrics().claims.load(), 10u);
  EXPECT_EQ(pool.running(), 0);
}

TEST_F(WorkerPoolTest, NoBatchWithoutTheKindsConsentOrBeyondTheWindow) {
  HandlerRegistry registry;
  auto single = std::make_shared<ScriptedHandler>(Status::Ok());
  auto quick = std::make_shared<ScriptedHandler>(Status::Ok());
  registry.Register("single", Batched(1), single);
  registry.Register("quick", Batched(8), quick);
  // A zero window: no kind runs fast enough to batch.
  WorkerPool pool = MakePool(registry, [](WorkerPoolOptions& o) {
    o.max_running_per_tenant = 100;
    o.batch_window = 0ms;
  });
  for (int i = 0; i < 3; ++i) Enqueue("single");
  for (int i = 0; i < 3; ++i) Enqueue("quick");
  int rounds = 0;
  while (pool.RunOnce(0)) ++rounds;
  EXPECT_EQ(rounds, 6) << "one job per claim";
  EXPECT_EQ(single->runs + quick->runs, 6);
}

// Runs once at once; a job whose payload says {"gate":true} holds until its pool stops.
class StopGateHandler final : public JobHandler {
 public:
  Result<std::string> Run(JobContext& context) override {
    if (context.job().payload_json.find("gate") == std::string::npos) return std::string("{}");
    started.set_value();
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!pool->stopping() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
    return std::string(R"({"gated":true})");
  }
  WorkerPool* pool = nullptr;
  std::promise<void> started;
};

TEST_F(WorkerPoolTest, StoppingGivesBackTheJobsOfABatchThatHaveNotStarted) {
  HandlerRegistry registry;
  auto handler = std::make_shared<StopGateHandler>();
  registry.Register("quick", Batched(4), handler);
  WorkerPool pool = MakePool(registry, [](WorkerPoolOptions& o) {
    o.workers = 1;
    o.max_running_per_tenant = 100;
  });
  handler->pool = &pool;
  Enqueue("quick");
  ASSERT_TRUE(pool.RunOnce(0));  // its run time is now known: short

  NewJob gated{tenant_id_, "usr_test", "quick", R"({"gate":true})", /*priority=*/10};
  gated.run_after = clock_.NowMillis();
  const std::string gate_id = store_->Enqueue(gated, 1000, 24h, clock_.NowMillis())->job.id;
  std::vector<std::string> waiting;
  for (int i = 0; i < 3; ++i) waiting.push_back(Enqueue("quick"));

  ASSERT_TRUE(pool.Start().ok());
  ASSERT_EQ(handler->started.get_future().wait_for(10s), std::future_status::ready);
  for (const auto& id : waiting) EXPECT_EQ(Get(id).state, JobState::kRunning) << "claimed with the gated job";
  pool.Stop(10s);

  EXPECT_EQ(Get(gate_id).state, JobState::kSucceeded);
  for (const auto& id : waiting) {
    const Job job = Get(id);
    EXPECT_EQ(job.state, JobState::kQueued) << "given back, not left leased until it expires";
    EXPECT_EQ(job.attempt, 0) << "the attempt it never made does not count";
    EXPECT_TRUE(job.lease_owner.empty());
  }
}

TEST(Retryable, ClassifiesByCategory) {
  EXPECT_TRUE(IsRetryable(Unavailable("x", "disk full")));
  EXPECT_TRUE(IsRetryable(Status(ErrorCode::kResourceExhausted, "x", "y")));
  EXPECT_FALSE(IsRetryable(InvalidArgument("x", "bad file")));
  EXPECT_FALSE(IsRetryable(NotFound("x", "gone")));
}

TEST(JobStates, TransitionTable) {
  using S = JobState;
  const std::vector<S> all = {S::kQueued, S::kRunning, S::kSucceeded, S::kFailed, S::kCanceled};
  std::set<std::pair<S, S>> legal = {{S::kQueued, S::kRunning},    {S::kQueued, S::kCanceled},
                                     {S::kRunning, S::kSucceeded}, {S::kRunning, S::kFailed},
                                     {S::kRunning, S::kCanceled},  {S::kRunning, S::kQueued}};
  for (S from : all) {
    for (S to : all) {
      EXPECT_EQ(IsLegalTransition(from, to), legal.count({from, to}) == 1)
          << ToString(from) << " -> " << ToString(to);
    }
  }
}

TEST(JobProgressJson, RoundTrips) {
  JobProgress p{42.5, "reading", 10, 20, "rows", "half \"way\""};
  EXPECT_EQ(ProgressFromJson(ProgressToJson(p)), p);
  EXPECT_EQ(ProgressFromJson("not json"), JobProgress{});
  EXPECT_EQ(ProgressFromJson("{}").percent, -1);
}

}  // namespace
}  // namespace quarry::jobs
