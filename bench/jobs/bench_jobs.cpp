// bench/jobs: the job queue on the SQLite store (durable commits, synchronous=FULL).
//
//   baseline      durable single-row commits per second on the same file system (the floor of
//                 any durable queue here: every enqueue and every finish is at least one)
//   enqueue       jobs enqueued per second by one thread
//   e2e_w{1,2,4}  no-op jobs per second end to end (two producer threads enqueuing, as
//                 concurrent API requests do, while W workers claim and complete), with claim
//                 latency p50/p99; also with 2 workers and a single producer thread
//   drain_w2      claim + complete alone: 2 workers run a backlog enqueued beforehand
//                 (no-op jobs are claimed in batches, KindPolicy::claim_batch)
//   fairness      50 tenants, one enqueuing 100x more jobs than the others, 2 workers running
//                 2 ms jobs: each tenant's share of worker time while all are backlogged,
//                 against its fair share (1/50)
// Prints a table and writes build/bench/jobs.json (checks: e2e >= 2000 jobs/s with 2 workers;
// fairness deviation <= 10 %).
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "common/ids.h"
#include "common/log.h"
#include "common/testing/temp_dir.h"
#include "jobs/worker_pool.h"
#include "meta/sqlite/sqlite_meta_store.h"

namespace quarry {
namespace {

using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

// Concurrent API requests enqueueing (the server's blocking pool runs several at once; one
// sequential client measures its own commit latency, not the queue's throughput).
constexpr int kProducers = 2;

double Seconds(Steady::duration d) { return std::chrono::duration<double>(d).count(); }

// Times Claim calls that return a job and records whose job it was; forwards everything.
class TimedStore final : public JobStore {
 public:
  explicit TimedStore(JobStore& inner) : inner_(inner) {}
  Result<EnqueueResult> Enqueue(const NewJob& j, int m, std::chrono::milliseconds w, UnixMillis n) override { return inner_.Enqueue(j, m, w, n); }
  Result<std::optional<Job>> Claim(const ClaimRequest& r, UnixMillis now) override {
    auto start = Steady::now();
    auto result = inner_.Claim(r, now);
    auto micros = std::chrono::duration_cast<std::chrono::microseconds>(Steady::now() - start).count();
    if (result.ok() && *result) {
      std::lock_guard lock(mu_);
      claim_micros.push_back(micros);
      claimed_tenants.push_back((*result)->tenant_id);
    }
    return result;
  }
  Result<bool> Heartbeat(const std::string& id, std::int64_t t, UnixMillis l, const std::string& p) override { return inner_.Heartbeat(id, t, l, p); }
  Status Finish(const std::string& id, std::int64_t t, const AttemptOutcome& o, UnixMillis n) override {
    Status st = inner_.Finish(id, t, o, n);
    if (st.ok()) finished.fetch_add(1);
    return st;
  }
  Result<FinishAndClaimResult> FinishAndClaim(const std::vector<Completion>& c, UnixMillis n,
                                              const ClaimRequest& r) override {
    auto start = Steady::now();
    auto result = inner_.FinishAndClaim(c, n, r);
    auto micros = std::chrono::duration_cast<std::chrono::microseconds>(Steady::now() - start).count();
    if (result.ok()) {
      for (const Status& st : result->finished) {
        if (st.ok()) finished.fetch_add(1);
      }
      std::lock_guard lock(mu_);
      for (const Job& job : result->claimed) {
        claim_micros.push_back(micros);
        claimed_tenants.push_back(job.tenant_id);
      }
    }
    return result;
  }
  Result<Job> RequestCancel(const std::string& t, const std::string& id, UnixMillis n) override { return inner_.RequestCancel(t, id, n); }
  Result<RescueReport> RescueExpired(UnixMillis n, const std::function<std::chrono::milliseconds(const std::string&, int)>& b) override { return inner_.RescueExpired(n, b); }
  Result<int> ExpireLeases(const std::string& p, UnixMillis n) override { return inner_.ExpireLeases(p, n); }
  Result<int> ReleaseLeases(const std::string& p, UnixMillis n) override { return inner_.ReleaseLeases(p, n); }
  Result<Job> Get(const std::string& t, const std::string& id) override { return inner_.Get(t, id); }
  Result<Page<Job>> List(const std::string& t, const JobFilter& f, const PageRequest& p) override { return inner_.List(t, f, p); }
  Result<std::int64_t> QueuePosition(const Job& j) override { return inner_.QueuePosition(j); }
  Result<int> DeleteFinishedBefore(UnixMillis c, int b) override { return inner_.DeleteFinishedBefore(c, b); }
  Result<JobCounts> Counts() override { return inner_.Counts(); }
  Result<std::vector<std::string>> ActivePayloads(const std::string& k, int l) override { return inner_.ActivePayloads(k, l); }
  Status SetTenantWeight(const std::string& t, int w) override { return inner_.SetTenantWeight(t, w); }
  Result<std::vector<std::pair<std::string, std::int64_t>>> RunningAttempts(int l) override {
    return inner_.RunningAttempts(l);
  }
  Result<int> TenantWeight(const std::string& t) override { return inner_.TenantWeight(t); }
  Status SetTenantRunningCap(const std::string& t, std::optional<int> cap) override {
    return inner_.SetTenantRunningCap(t, cap);
  }
  Result<std::pair<std::int64_t, std::int64_t>> TenantJobCounts(const std::string& t) override {
    return inner_.TenantJobCounts(t);
  }
  Result<std::vector<JobEvent>> ListEvents(const std::string& t, const std::string& id, std::int64_t a, int l) override {
    return inner_.ListEvents(t, id, a, l);
  }

  std::mutex mu_;
  std::vector<long long> claim_micros;
  std::vector<std::string> claimed_tenants;
  std::atomic<std::int64_t> finished{0};

 private:
  JobStore& inner_;
};

// Works ~2 ms and records how long each tenant's attempt took (its share of worker time).
class WorkHandler final : public jobs::JobHandler {
 public:
  Result<std::string> Run(jobs::JobContext& context) override {
    auto start = Steady::now();
    context.WaitForCancel(2ms);
    const double seconds = Seconds(Steady::now() - start);
    std::lock_guard lock(mu);
    runs.emplace_back(context.job().tenant_id, seconds);
    return std::string("{}");
  }
  std::mutex mu;
  std::vector<std::pair<std::string, double>> runs;  // in completion order
};

struct Setup {
  testing::TempDir dir{"bench-jobs"};
  std::unique_ptr<MetaStore> meta;
  std::unique_ptr<JobStore> jobs;
  std::vector<std::string> tenants;

  explicit Setup(int tenant_count) {
    SqliteOptions options{(dir.path() / "meta.db").string(), 5000, 16};
    meta = std::move(OpenSqliteMetaStore(options)).value();
    jobs = std::move(OpenSqliteJobStore(options)).value();
    for (int i = 0; i < tenant_count; ++i) {
      Tenant t{NewId("ten", SystemClock::Instance().NowMillis()), fmt::format("t{}", i), "T", TenantStatus::kActive, 0, 0};
      if (!meta->InsertTenant(t).ok()) std::abort();
      tenants.push_back(t.id);
    }
  }
  void Enqueue(const std::string& tenant, const std::string& kind) {
    NewJob job{tenant, "usr_bench", kind};
    job.run_after = SystemClock::Instance().NowMillis();
    auto r = jobs->Enqueue(job, 10'000'000, 24h, job.run_after);
    if (!r.ok()) {
      fmt::print(stderr, "enqueue failed: {}\n", r.status().ToString());
      std::abort();
    }
  }
};

double BaselineCommitsPerSecond(int n) {
  testing::TempDir dir{"bench-baseline"};
  sqlite3* db = nullptr;
  sqlite3_open((dir.path() / "b.db").c_str(), &db);
  sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)", nullptr, nullptr, nullptr);
  auto start = Steady::now();
  for (int i = 0; i < n; ++i) sqlite3_exec(db, "BEGIN IMMEDIATE; INSERT INTO t (v) VALUES ('x'); COMMIT", nullptr, nullptr, nullptr);
  double rate = n / Seconds(Steady::now() - start);
  sqlite3_close(db);
  return rate;
}

struct E2e {
  double jobs_per_s, p50_ms, p99_ms;
};

// Jobs per second when `producers` threads enqueue n jobs (0: the n jobs are enqueued before the
// workers start, so only claiming and completing are timed) while `workers` workers run them.
E2e EndToEnd(int workers, int n, int producers) {
  Setup setup(10);
  TimedStore timed(*setup.jobs);
  jobs::HandlerRegistry registry;
  jobs::RegisterBuiltinHandlers(registry, true);
  jobs::WorkerPoolOptions options;
  options.workers = workers;
  options.poll_interval = 5ms;
  options.max_running_per_tenant = 1000;
  jobs::WorkerPool pool(timed, registry, SystemClock::Instance(), options);
  if (producers == 0) {
    for (int i = 0; i < n; ++i) setup.Enqueue(setup.tenants[i % setup.tenants.size()], "noop");
  }
  auto start = Steady::now();
  if (!pool.Start().ok()) std::abort();
  // Producers stand for concurrent API requests (the server's blocking pool runs several).
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      for (int i = p; i < n; i += producers) {
        setup.Enqueue(setup.tenants[i % setup.tenants.size()], "noop");
        if (i % 64 == 0) pool.Notify();
      }
    });
  }
  for (auto& producer : threads) producer.join();
  pool.Notify();
  while (timed.finished.load() < n) std::this_thread::sleep_for(1ms);  // benchmark pacing, not a test
  double elapsed = Seconds(Steady::now() - start);
  pool.Stop(1s);
  auto& lat = timed.claim_micros;
  std::sort(lat.begin(), lat.end());
  return {n / elapsed, lat[lat.size() / 2] / 1000.0, lat[lat.size() * 99 / 100] / 1000.0};
}

double FairnessDeviation(std::vector<double>* shares) {
  constexpr int kTenants = 50, kSmall = 40, kBig = kSmall * 100;
  Setup setup(kTenants);
  for (int i = 0; i < kBig; ++i) setup.Enqueue(setup.tenants[0], "work");
  for (int t = 1; t < kTenants; ++t) {
    for (int i = 0; i < kSmall; ++i) setup.Enqueue(setup.tenants[t], "work");
  }
  TimedStore timed(*setup.jobs);
  jobs::HandlerRegistry registry;
  auto work = std::make_shared<WorkHandler>();
  registry.Register("work", jobs::KindPolicy{}, work);
  jobs::WorkerPoolOptions options;
  options.workers = 2;
  options.poll_interval = 5ms;
  jobs::WorkerPool pool(timed, registry, SystemClock::Instance(), options);
  if (!pool.Start().ok()) std::abort();
  // While every tenant is backlogged: the first kTenants * kSmall attempts.
  const int window = kTenants * kSmall;
  while (timed.finished.load() < window) std::this_thread::sleep_for(1ms);
  pool.Stop(0ms);
  std::map<std::string, double> time_by_tenant;
  double total = 0;
  {
    std::lock_guard lock(work->mu);
    for (int i = 0; i < window && i < static_cast<int>(work->runs.size()); ++i) {
      time_by_tenant[work->runs[i].first] += work->runs[i].second;
      total += work->runs[i].second;
    }
  }
  double worst = 0;
  const double fair = 1.0 / kTenants;
  for (const auto& tenant : setup.tenants) {
    double share = time_by_tenant[tenant] / total;
    shares->push_back(share);
    worst = std::max(worst, std::abs(share - fair) / fair);
  }
  return worst;
}

}  // namespace
}  // namespace quarry

int main(int argc, char** argv) {
  using namespace quarry;
  const std::string out = argc > 1 ? argv[1] : "build/bench/jobs.json";
  const int n = argc > 2 ? std::atoi(argv[2]) : 5000;
  log::InitLogging("warn", log::Format::kText);

  const double baseline = BaselineCommitsPerSecond(2000);
  double enqueue_rate;
  {
    Setup setup(10);
    auto start = Steady::now();
    for (int i = 0; i < n; ++i) setup.Enqueue(setup.tenants[i % 10], "noop");
    enqueue_rate = n / Seconds(Steady::now() - start);
  }
  std::map<int, E2e> e2e;
  for (int w : {1, 2, 4}) e2e[w] = EndToEnd(w, n, kProducers);
  const E2e one_producer = EndToEnd(2, n, 1);
  const E2e drain = EndToEnd(2, n, 0);
  std::vector<double> shares;
  const double deviation = FairnessDeviation(&shares);

  fmt::print("{:<28} {:>12}\n", "figure", "value");
  fmt::print("{:<28} {:>12.0f}\n", "baseline durable commits/s", baseline);
  fmt::print("{:<28} {:>12.0f}  ({:.2f} x baseline)\n", "enqueue jobs/s", enqueue_rate, enqueue_rate / baseline);
  for (auto& [w, r] : e2e) {
    fmt::print("{:<28} {:>12.0f}  ({:.2f} x baseline)  claim p50 {:.2f} ms, p99 {:.2f} ms\n",
               fmt::format("end-to-end jobs/s, {} worker{}", w, w > 1 ? "s" : ""), r.jobs_per_s, r.jobs_per_s / baseline,
               r.p50_ms, r.p99_ms);
  }
  fmt::print("{:<28} {:>12.0f}  ({:.2f} x baseline)\n", "end-to-end, 2 w, 1 producer", one_producer.jobs_per_s,
             one_producer.jobs_per_s / baseline);
  fmt::print("{:<28} {:>12.0f}  ({:.2f} x baseline)\n", "claim+complete, 2 workers", drain.jobs_per_s,
             drain.jobs_per_s / baseline);
  auto [min_share, max_share] = std::minmax_element(shares.begin(), shares.end());
  fmt::print("{:<28} {:>12.3f}  (shares {:.4f}..{:.4f}, fair {:.4f})\n", "fairness max deviation", deviation,
             *min_share, *max_share, 1.0 / 50);

  std::filesystem::create_directories(std::filesystem::path(out).parent_path());
  std::ofstream json(out);
  json << fmt::format(
      R"({{"bench": "jobs", "figures": {{"baseline_commits_per_s": {:.0f}, "enqueue_per_s": {:.0f}, )"
      R"("e2e_w1_per_s": {:.0f}, "e2e_w2_per_s": {:.0f}, "e2e_w4_per_s": {:.0f}, )"
      R"("e2e_w2_one_producer_per_s": {:.0f}, "drain_w2_per_s": {:.0f}, "claim_p50_ms_w2": {:.3f}, "claim_p99_ms_w2": {:.3f}, "e2e_w2_vs_baseline": {:.3f}, "fairness_max_deviation": {:.3f}}}, )"
      R"("checks": [{{"name": "e2e_w2_per_s", "value": {:.0f}, "op": ">=", "target": 2000}}, )"
      R"({{"name": "fairness_max_deviation", "value": {:.3f}, "op": "<=", "target": 0.1}}]}})",
      baseline, enqueue_rate, e2e[1].jobs_per_s, e2e[2].jobs_per_s, e2e[4].jobs_per_s, one_producer.jobs_per_s, drain.jobs_per_s, e2e[2].p50_ms, e2e[2].p99_ms,
      e2e[2].jobs_per_s / baseline, deviation, e2e[2].jobs_per_s, deviation)
       << "\n";
  fmt::print("wrote {}\n", out);
  return 0;
}
