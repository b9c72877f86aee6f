// Tests of the SQLite JobStore: rescue, fairness, invariants under random operations,
// concurrency, the event log.
#include "meta/sqlite/sqlite_job_store_test_support.h"

namespace quarry {
namespace {

// A suite name of its own: the fixture is defined in each test file's anonymous namespace.
class SqliteJobStoreMoreTest : public SqliteJobStoreTest {};

// --- rescue and lease expiry ---

TEST_F(SqliteJobStoreMoreTest, RescueRequeuesThenFailsAndFencesTheOldWorker) {
  Job job = Enqueue(Spec(a_, "noop", 0, 2));
  ClaimRequest req = Req();
  req.lease = 1000ms;
  auto first = Claim(kT0, req);
  ASSERT_TRUE(first.has_value());

  auto none = store_->RescueExpired(kT0 + 1000, NoBackoff);  // expires at, not before, now
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->requeued + none->failed, 0);

  std::vector<int> backoff_attempts;
  auto backoff = [&](const std::string&, int attempt) {
    backoff_attempts.push_back(attempt);
    return std::chrono::milliseconds(250 * attempt);
  };
  auto report = store_->RescueExpired(kT0 + 1001, backoff);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->requeued, 1);
  EXPECT_EQ(report->failed, 0);
  EXPECT_EQ(backoff_attempts, std::vector<int>{1});
  Job requeued = Get(job);
  EXPECT_EQ(requeued.state, JobState::kQueued);
  EXPECT_EQ(requeued.run_after, kT0 + 1001 + 250);
  EXPECT_EQ(requeued.error_code, "lease_expired");
  EXPECT_EQ(requeued.lease_owner, "");
  EXPECT_EQ(requeued.attempt, 1);
  ExpectInvariants();

  // The vanished worker comes back: fenced off.
  ExpectError(store_->Heartbeat(job.id, first->fencing_token, kT0 + 5000, "{}").status(),
              ErrorCode::kFailedPrecondition, "lease_lost");
  ExpectError(store_->Finish(job.id, first->fencing_token, Succeeded(), kT0 + 1002),
              ErrorCode::kFailedPrecondition, "lease_lost");
  EXPECT_FALSE(Claim(kT0 + 1250, req).has_value()) << "claimed during the rescue backoff";

  auto second = Claim(kT0 + 1251, req);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->attempt, 2);
  // The old worker still cannot finish, even though the job is running again.
  ExpectError(store_->Finish(job.id, first->fencing_token, Succeeded(), kT0 + 1300),
              ErrorCode::kFailedPrecondition, "lease_lost");

  report = store_->RescueExpired(kT0 + 2252, backoff);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->requeued, 0);
  EXPECT_EQ(report->failed, 1);
  Job failed = Get(job);
  EXPECT_EQ(failed.state, JobState::kFailed);
  EXPECT_EQ(failed.error_code, "lease_expired");
  EXPECT_NE(failed.error_message.find("stopped heartbeating"), std::string::npos);
  EXPECT_EQ(failed.finished_at, kT0 + 2252);
  ExpectError(store_->Finish(job.id, second->fencing_token, Succeeded(), kT0 + 2253),
              ErrorCode::kFailedPrecondition, "lease_lost");
  ExpectInvariants();
}

TEST_F(SqliteJobStoreMoreTest, ExpireLeasesByOwnerPrefix) {
  for (int i = 0; i < 5; ++i) Enqueue(Spec(a_), kT0 + i);
  std::map<std::string, Job> by_owner;
  for (const std::string owner :
       {"serve@a/run1/0", "serve@a/run1/1", "serve@b/run1/0", "serve%a/run2/0", "serve_a/run2/0"}) {
    auto job = Claim(kT0 + 10, Req({"noop"}, owner));
    ASSERT_TRUE(job.has_value());
    by_owner[owner] = *job;
  }
  // '%' and '_' are ordinary characters in the prefix.
  auto none = store_->ExpireLeases("serve%", kT0 + 20);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, 1);  // only "serve%a/run2/0"
  auto expired = store_->ExpireLeases("serve@a/", kT0 + 20);
  ASSERT_TRUE(expired.ok()) << expired.status().ToString();
  EXPECT_EQ(*expired, 2);
  EXPECT_EQ(Get(by_owner["serve@a/run1/0"]).lease_expires_at, kT0 + 20);
  EXPECT_EQ(Get(by_owner["serve@a/run1/1"]).lease_expires_at, kT0 + 20);
  EXPECT_EQ(Get(by_owner["serve@b/run1/0"]).lease_expires_at, kT0 + 10 + 30'000);
  EXPECT_EQ(Get(by_owner["serve_a/run2/0"]).lease_expires_at, kT0 + 10 + 30'000);
  // Already expired leases are not pushed later.
  auto again = store_->ExpireLeases("serve@a/", kT0 + 25);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0);

  auto report = store_->RescueExpired(kT0 + 21, NoBackoff);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->failed, 3);  // max_attempts 1
  EXPECT_EQ(Get(by_owner["serve@b/run1/0"]).state, JobState::kRunning);
  ExpectInvariants();
}

// --- fairness ---

TEST_F(SqliteJobStoreMoreTest, FairShareBetweenABigAndTwoSmallTenants) {
  UnixMillis now = kT0;
  for (int i = 0; i < 100; ++i) Enqueue(Spec(a_), now++);
  for (int i = 0; i < 5; ++i) Enqueue(Spec(b_), now++);
  for (int i = 0; i < 5; ++i) Enqueue(Spec(c_), now++);

  std::vector<std::string> order = RunSerially(*store_, 20, now, 1000);
  ASSERT_EQ(order.size(), 20u);
  const auto small =
      std::count_if(order.begin(), order.end(), [&](const std::string& t) { return t == b_ || t == c_; });
  EXPECT_EQ(small, 10) << "bravo's and charlie's jobs were not all among the first 20 claims";
  // Round robin: no tenant gets two turns in a row while the others wait.
  for (std::size_t i = 0; i + 1 < 15; ++i) EXPECT_NE(order[i], order[i + 1]) << "at claim " << i;
  ExpectInvariants();
}

TEST_F(SqliteJobStoreMoreTest, LongerAttemptsCostMore) {
  // Bravo's attempts take 10x as long as alpha's: alpha gets about 10 claims per bravo claim.
  UnixMillis now = kT0;
  for (int i = 0; i < 60; ++i) Enqueue(Spec(a_, "short"), now++);
  for (int i = 0; i < 60; ++i) Enqueue(Spec(b_, "long"), now++);
  std::map<std::string, int> claims;
  for (int i = 0; i < 44; ++i) {
    auto job = store_->Claim(Req({"short", "long"}), now);
    ASSERT_TRUE(job.ok() && *job);
    ++claims[(*job)->tenant_id];
    now += (*job)->kind == "long" ? 1000 : 100;
    ASSERT_OK(store_->Finish((*job)->id, (*job)->fencing_token, Succeeded(), now));
  }
  EXPECT_GE(claims[a_], 36);
  EXPECT_LE(claims[b_], 8);
}

TEST_F(SqliteJobStoreMoreTest, ATenantsOwnRunningCapReplacesTheWorkersDefault) {
  UnixMillis now = kT0;
  for (int i = 0; i < 3; ++i) Enqueue(Spec(a_), now++);
  for (int i = 0; i < 3; ++i) Enqueue(Spec(b_), now++);
  ASSERT_OK(store_->SetTenantRunningCap(a_, 1));
  ASSERT_OK(store_->SetTenantRunningCap(b_, 3));
  EXPECT_EQ(store_->SetTenantRunningCap(a_, 0).code(), "invalid_cap");
  // Workers allow 2 per tenant: alpha gets 1 (its own cap), bravo 3 (its own, above the default).
  std::map<std::string, int> running;
  for (int i = 0; i < 6; ++i) {
    auto job = store_->Claim(Req({"noop"}, "w1", 2), now);
    ASSERT_TRUE(job.ok());
    if (!*job) break;
    ++running[(*job)->tenant_id];
  }
  EXPECT_EQ(running[a_], 1);
  EXPECT_EQ(running[b_], 3);
  // Back to the default: alpha may run a second one.
  ASSERT_OK(store_->SetTenantRunningCap(a_, std::nullopt));
  auto job = store_->Claim(Req({"noop"}, "w1", 2), now);
  ASSERT_TRUE(job.ok() && *job);
  EXPECT_EQ((*job)->tenant_id, a_);
  EXPECT_EQ(store_->SetTenantRunningCap("ten_unknown", 1).code(), "tenant_not_found");
}

TEST_F(SqliteJobStoreMoreTest, WeightScalesTheShare) {
  EXPECT_EQ(*store_->TenantWeight(a_), 1);
  ASSERT_OK(store_->SetTenantWeight(a_, 3));
  EXPECT_EQ(*store_->TenantWeight(a_), 3);
  EXPECT_EQ(store_->SetTenantWeight("ten_unknown", 2).code(), "tenant_not_found");
  EXPECT_EQ(store_->SetTenantWeight(a_, 0).code(), "invalid_weight");
  UnixMillis now = kT0;
  for (int i = 0; i < 50; ++i) Enqueue(Spec(a_), now++);
  for (int i = 0; i < 50; ++i) Enqueue(Spec(b_), now++);
  std::vector<std::string> order = RunSerially(*store_, 40, now, 1000);
  const auto alpha = std::count(order.begin(), order.end(), a_);
  EXPECT_GE(alpha, 28);
  EXPECT_LE(alpha, 32);
}

TEST_F(SqliteJobStoreMoreTest, IdleTenantCannotBankCredit) {
  UnixMillis now = kT0;
  // Bravo runs one job, then goes idle while alpha works for a long time.
  Enqueue(Spec(b_), now++);
  RunSerially(*store_, 1, now, 1000);
  for (int i = 0; i < 60; ++i) Enqueue(Spec(a_), now++);
  RunSerially(*store_, 40, now, 1000);
  EXPECT_GT(Pass(a_), Pass(b_) + 30'000'000);

  // Bravo comes back with 10 jobs: it joins at alpha's pass, not its old, lower one.
  for (int i = 0; i < 10; ++i) Enqueue(Spec(b_), now++);
  EXPECT_EQ(Pass(b_), Pass(a_));
  std::vector<std::string> order = RunSerially(*store_, 10, now, 1000);
  const auto bravo = std::count(order.begin(), order.end(), b_);
  EXPECT_GE(bravo, 4);
  EXPECT_LE(bravo, 6) << "bravo got a burst of priority after idling";

  // A brand-new tenant joins at the same level too.
  const std::string delta = AddTenant("delta");
  Enqueue(Spec(delta), now++);
  EXPECT_GE(Pass(delta), std::min(Pass(a_), Pass(b_)));
  ExpectInvariants();
}

// --- positions, counts, retention ---

TEST_F(SqliteJobStoreMoreTest, QueuePositionFollowsTheRoundRobinFormula) {
  Job a1 = Enqueue(Spec(a_, "noop", 0), kT0);
  Job a2 = Enqueue(Spec(a_, "noop", 0), kT0 + 1);
  Job a3 = Enqueue(Spec(a_, "noop", 5), kT0 + 2);
  for (int i = 0; i < 4; ++i) Enqueue(Spec(b_), kT0 + 10 + i);
  Enqueue(Spec(c_), kT0 + 20);

  auto position = [&](const Job& job) {
    auto p = store_->QueuePosition(job);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? *p : -1;
  };
  EXPECT_EQ(position(a3), 0 + 1 + 1);  // A=0: bravo min(4,1), charlie min(1,1)
  EXPECT_EQ(position(a1), 1 + 2 + 1);  // A=1 (a3): bravo min(4,2), charlie min(1,2)
  EXPECT_EQ(position(a2), 2 + 3 + 1);  // A=2 (a3, a1): bravo min(4,3), charlie 1

  // Not queued -> 0; the jobs behind a canceled one move up.
  ASSERT_TRUE(store_->RequestCancel(a_, a3.id, kT0 + 30).ok());
  EXPECT_EQ(position(a3), 0);
  EXPECT_EQ(position(a1), 0 + 1 + 1);
  Job solo = Enqueue(Spec(a_, "solo"), kT0 + 31);
  auto running = Claim(kT0 + 32, Req({"solo"}));
  ASSERT_TRUE(running.has_value());
  ASSERT_EQ(running->id, solo.id);
  EXPECT_EQ(position(solo), 0);
  EXPECT_EQ(position(a2), 1 + 2 + 1);
}

TEST_F(SqliteJobStoreMoreTest, CountsActiveJobsByKindAndState) {
  Enqueue(Spec(a_, "x"), kT0);
  Enqueue(Spec(a_, "x"), kT0 + 1);
  Enqueue(Spec(b_, "y"), kT0 + 2);
  Job done = Enqueue(Spec(b_, "x"), kT0 + 3);
  ASSERT_TRUE(store_->RequestCancel(b_, done.id, kT0 + 4).ok());
  ASSERT_TRUE(Claim(kT0 + 5, Req({"y"})).has_value());
  auto counts = store_->Counts();
  ASSERT_TRUE(counts.ok());
  const std::map<std::pair<std::string, JobState>, std::int64_t> expected = {{{"x", JobState::kQueued}, 2},
                                                                             {{"y", JobState::kRunning}, 1}};
  EXPECT_EQ(counts->active, expected);
}

TEST_F(SqliteJobStoreMoreTest, DeleteFinishedBeforeRemovesOldFinalJobsInBatches) {
  for (int i = 0; i < 6; ++i) Enqueue(Spec(a_), kT0 + i);
  for (int i = 0; i < 4; ++i) {  // four final jobs, finished at kT0+100..103
    auto job = Claim(kT0 + 50);
    ASSERT_TRUE(job.has_value());
    ASSERT_OK(store_->Finish(job->id, job->fencing_token, i % 2 ? Failed() : Succeeded(), kT0 + 100 + i));
  }
  auto running = Claim(kT0 + 60);  // one running, one queued remain
  ASSERT_TRUE(running.has_value());

  auto deleted = store_->DeleteFinishedBefore(kT0 + 103, 2);
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(*deleted, 2);
  deleted = store_->DeleteFinishedBefore(kT0 + 103, 2);
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(*deleted, 1);  // the one finished at kT0+103 is not before the cutoff
  deleted = store_->DeleteFinishedBefore(kT0 + 1'000'000, 100);
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(*deleted, 1);
  EXPECT_EQ(RawInt("SELECT COUNT(*) FROM jobs"), 2);
  EXPECT_EQ(Get(*running).state, JobState::kRunning);
  EXPECT_EQ(*store_->DeleteFinishedBefore(kT0 + 1'000'000, 0), 0);
  ExpectInvariants();
}

// --- invariants under a random workload ---

TEST_F(SqliteJobStoreMoreTest, CountersMatchJobsAfterRandomOperations) {
  std::mt19937 rng(20260101);
  auto pick = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
  const std::vector<std::string> tenants = {a_, b_, c_};
  const std::vector<std::string> kinds = {"k1", "k2", "k3"};
  std::vector<Job> all;
  std::vector<std::pair<std::string, std::int64_t>> held;  // (job id, token) a worker thinks it holds
  UnixMillis now = kT0;
  std::int64_t last_token = 0;
  // What the workload did, to make sure it exercised every path.
  std::map<std::string, int> tally;

  for (int op = 0; op < 1500; ++op) {
    now += pick(400);
    switch (pick(9)) {
      case 0:
      case 1: {
        NewJob spec = Spec(tenants[pick(3)], kinds[pick(3)], pick(3), 1 + pick(3));
        if (pick(4) == 0) spec.run_after = now + pick(3000);
        if (pick(5) == 0) spec.idempotency_key = "k" + std::to_string(pick(10));
        auto r = store_->Enqueue(spec, 12, 5000ms, now);
        ASSERT_TRUE(r.ok() || r.status().code() == "queue_full") << r.status().ToString();
        if (r.ok() && !r->existing) all.push_back(r->job);
        ++tally[r.ok() ? (r->existing ? "enqueue_existing" : "enqueue") : "queue_full"];
        break;
      }
      case 2:
      case 3: {
        ClaimRequest req = Req({kinds[pick(3)], kinds[pick(3)]}, "w" + std::to_string(pick(3)), 1 + pick(4));
        req.lease = std::chrono::milliseconds(500 + pick(3000));
        if (pick(2) == 0) req.kind_limits[kinds[pick(3)]] = pick(3);
        auto job = store_->Claim(req, now);
        ASSERT_TRUE(job.ok()) << job.status().ToString();
        if (*job) {
          EXPECT_GT((*job)->fencing_token, last_token);
          last_token = (*job)->fencing_token;
          held.emplace_back((*job)->id, (*job)->fencing_token);
          ++tally[(*job)->attempt > 1 ? "claim_again" : "claim"];
        }
        break;
      }
      case 4:
      case 5: {
        if (held.empty()) break;
        const std::size_t i = static_cast<std::size_t>(pick(static_cast<int>(held.size())));
        const std::vector<AttemptOutcome> outcomes = {Succeeded(), Failed(), Canceled(),
                                                      Retry(now + pick(2000))};
        Status s = store_->Finish(held[i].first, held[i].second, outcomes[pick(4)], now);
        ASSERT_TRUE(s.ok() || s.code() == "lease_lost") << s.ToString();
        ++tally[s.ok() ? "finish" : "finish_lease_lost"];
        held.erase(held.begin() + static_cast<std::ptrdiff_t>(i));
        break;
      }
      case 6: {
        if (held.empty()) break;
        const auto& [id, token] = held[static_cast<std::size_t>(pick(static_cast<int>(held.size())))];
        auto hb = store_->Heartbeat(id, token, now + 2000, "{\"op\":" + std::to_string(op) + "}");
        ASSERT_TRUE(hb.ok() || hb.status().code() == "lease_lost") << hb.status().ToString();
        break;
      }
      case 7: {
        if (all.empty()) break;
        const Job& job = all[static_cast<std::size_t>(pick(static_cast<int>(all.size())))];
        auto r = store_->RequestCancel(job.tenant_id, job.id, now);
        ASSERT_TRUE(r.ok() || r.status().code() == "job_not_found") << r.status().ToString();
        break;
      }
      case 8: {
        switch (pick(3)) {
          case 0: {
            auto rescued =
                store_->RescueExpired(now, [&](const std::string&, int) { return std::chrono::milliseconds(pick(1000)); });
            ASSERT_TRUE(rescued.ok());
            tally["rescue_requeued"] += rescued->requeued;
            tally["rescue_failed"] += rescued->failed;
            break;
          }
          case 1:
            ASSERT_TRUE(store_->ExpireLeases("w" + std::to_string(pick(3)), now).ok());
            break;
          case 2:
            ASSERT_TRUE(store_->DeleteFinishedBefore(now - 5000, 1 + pick(5)).ok());
            break;
        }
        break;
      }
    }
    if (op % 250 == 0) ExpectInvariants();
  }
  ExpectInvariants();
  for (const char* what : {"enqueue", "enqueue_existing", "queue_full", "claim", "claim_again", "finish",
                           "finish_lease_lost", "rescue_requeued", "rescue_failed"}) {
    EXPECT_GT(tally[what], 0) << "the random workload never did: " << what;
  }
  auto counts = store_->Counts();
  ASSERT_TRUE(counts.ok());
  std::int64_t active = 0;
  for (const auto& [key, n] : counts->active) active += n;
  EXPECT_EQ(active, RawInt("SELECT SUM(queued + running) FROM job_tenants"));
}

// --- concurrency ---

// Retries an operation that failed only because the store was busy (another writer held the
// lock past the busy timeout); a failed transaction wrote nothing, so retrying is safe.
template <typename F>
auto RetryWhileBusy(F&& fn, std::atomic<int>& busy) {
  while (true) {
    auto r = fn();
    if (r.ok() || r.status().code() != "metadata_store_busy") return r;
    busy.fetch_add(1);
  }
}

TEST_F(SqliteJobStoreMoreTest, TwoStoresEightThreadsClaimEachJobExactlyOnce) {
  constexpr int kJobs = 2000;
  constexpr int kThreadsPerStore = 4;
  const std::vector<std::string> tenants = {a_, b_, c_};
  for (int i = 0; i < kJobs; ++i) Enqueue(Spec(tenants[static_cast<std::size_t>(i % 3)]), kT0 + i);

  std::vector<std::unique_ptr<JobStore>> stores;
  stores.push_back(OpenJobs(kThreadsPerStore));
  stores.push_back(OpenJobs(kThreadsPerStore));
  ASSERT_TRUE(stores[0] && stores[1]);

  struct Claimed {
    std::string id;
    std::int64_t token;
  };
  std::vector<std::vector<Claimed>> per_thread(2 * kThreadsPerStore);
  std::atomic<int> busy{0};
  std::atomic<int> errors{0};
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < 2 * kThreadsPerStore; ++t) {
    threads.emplace_back([&, t] {
      JobStore& store = *stores[static_cast<std::size_t>(t / kThreadsPerStore)];
      const ClaimRequest req = Req({"noop"}, "thread-" + std::to_string(t));
      while (true) {
        auto job = RetryWhileBusy([&] { return store.Claim(req, kT0 + kJobs + 1); }, busy);
        if (!job.ok()) {
          errors.fetch_add(1);
          return;
        }
        if (!*job) return;  // all enqueued up front: nothing left
        per_thread[static_cast<std::size_t>(t)].push_back({(*job)->id, (*job)->fencing_token});
        auto finished = RetryWhileBusy(
            [&]() -> Result<bool> {
              Status s = store.Finish((*job)->id, (*job)->fencing_token, Succeeded(), kT0 + kJobs + 2);
              if (!s.ok()) return s;
              return true;
            },
            busy);
        if (!finished.ok()) errors.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  EXPECT_EQ(errors.load(), 0);
  std::set<std::string> ids;
  std::set<std::int64_t> tokens;
  std::size_t total = 0;
  for (const auto& claimed : per_thread) {
    total += claimed.size();
    for (std::size_t i = 0; i < claimed.size(); ++i) {
      EXPECT_TRUE(ids.insert(claimed[i].id).second) << "claimed twice: " << claimed[i].id;
      EXPECT_TRUE(tokens.insert(claimed[i].token).second);
      if (i > 0) {
        EXPECT_GT(claimed[i].token, claimed[i - 1].token);
      }
    }
  }
  EXPECT_EQ(total, static_cast<std::size_t>(kJobs));
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(kJobs));
  EXPECT_EQ(RawInt("SELECT COUNT(*) FROM jobs WHERE state = 'succeeded'"), kJobs);
  EXPECT_EQ(RawInt("SELECT value FROM job_fencing"), kJobs);
  EXPECT_EQ(RawInt("SELECT SUM(queued + running) FROM job_tenants"), 0);
  ExpectInvariants();
  std::printf("[ timing ] 8 threads on 2 stores: %d claim+finish pairs in %.2f s (%.0f/s), %d busy retries\n",
              kJobs, seconds, kJobs / seconds, busy.load());
}

// Not a benchmark with an assertion: prints roughly how many claim+finish pairs one thread does.
TEST_F(SqliteJobStoreMoreTest, SingleThreadClaimFinishRate) {
  constexpr int kJobs = 500;
  for (int i = 0; i < kJobs; ++i) Enqueue(Spec(i % 2 ? a_ : b_), kT0 + i);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kJobs; ++i) {
    auto job = Claim(kT0 + kJobs + i);
    ASSERT_TRUE(job.has_value());
    ASSERT_OK(store_->Finish(job->id, job->fencing_token, Succeeded(), kT0 + kJobs + i));
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("[ timing ] 1 thread: %d claim+finish pairs in %.2f s (%.0f/s)\n", kJobs, seconds,
              kJobs / seconds);
  EXPECT_FALSE(Claim(kT0 + 10 * kJobs).has_value());
}

}  // namespace
}  // namespace quarry

namespace quarry {
namespace {

// --- event log ---

TEST_F(SqliteJobStoreMoreTest, EveryStateChangeAndProgressIsLoggedInOrder) {
  Job job = Enqueue(Spec(a_));
  auto claimed = Claim(kT0);
  ASSERT_TRUE(claimed && claimed->id == job.id);
  ASSERT_TRUE(store_->Heartbeat(job.id, claimed->fencing_token, kT0 + 60'000, R"({"done":1})").ok());
  ASSERT_TRUE(store_->Heartbeat(job.id, claimed->fencing_token, kT0 + 60'000, R"({"done":1})").ok());  // unchanged
  AttemptOutcome done;
  done.result_json = "{}";
  done.progress_json = R"({"done":2})";
  ASSERT_TRUE(store_->Finish(job.id, claimed->fencing_token, done, kT0 + 10).ok());

  auto events = store_->ListEvents(a_, job.id, 0, 100);
  ASSERT_TRUE(events.ok()) << events.status().ToString();
  std::vector<std::string> seen;
  for (const auto& e : *events) seen.push_back(e.type + ":" + e.data_json);
  ASSERT_EQ(events->size(), 5u) << ::testing::PrintToString(seen);
  for (std::size_t i = 1; i < events->size(); ++i) EXPECT_GT((*events)[i].seq, (*events)[i - 1].seq);
  EXPECT_NE(seen[0].find(R"("state":"queued")"), std::string::npos) << seen[0];
  EXPECT_NE(seen[1].find(R"("state":"running")"), std::string::npos) << seen[1];
  EXPECT_EQ(seen[2], R"(progress:{"done":1})");
  EXPECT_EQ(seen[3], R"(progress:{"done":2})") << "an attempt's last progress comes before its end";
  EXPECT_NE(seen[4].find(R"("state":"succeeded")"), std::string::npos) << seen[4];

  auto tail = store_->ListEvents(a_, job.id, (*events)[2].seq, 100);
  ASSERT_TRUE(tail.ok());
  ASSERT_EQ(tail->size(), 2u);
  EXPECT_EQ(tail->front().seq, (*events)[3].seq);
  EXPECT_EQ(store_->ListEvents(b_, job.id, 0, 100).status().code(), "job_not_found");

  ASSERT_TRUE(store_->DeleteFinishedBefore(kT0 + 1'000'000, 100).ok());
  EXPECT_EQ(RawInt("SELECT COUNT(*) FROM job_events"), 0) << "events go with their job";
}

}  // namespace
}  // namespace quarry

namespace quarry {
namespace {

// --- FinishAndClaim: a worker's outcomes and its next batch in one transaction ---

TEST_F(SqliteJobStoreMoreTest, FinishAndClaimRecordsEveryOutcomeAndSkipsOnlyALostLease) {
  // Bravo's job is claimed by w2, whose lease then expires: the rescue hands it to w1.
  Enqueue(Spec(b_, "noop", 0, /*max_attempts=*/2), kT0);
  auto stale = Claim(kT0 + 1, Req({"noop"}, "w2"));
  ASSERT_TRUE(stale.has_value());
  ASSERT_TRUE(store_->ExpireLeases("w2", kT0 + 2).ok());
  ASSERT_TRUE(store_->RescueExpired(kT0 + 3, NoBackoff).ok());
  Enqueue(Spec(a_), kT0 + 4);
  auto x = Claim(kT0 + 10, Req({"noop"}, "w1"));
  auto y = Claim(kT0 + 11, Req({"noop"}, "w1"));
  ASSERT_TRUE(x && y);

  std::vector<Completion> done = {{x->id, x->fencing_token, Succeeded()},
                                  {stale->id, stale->fencing_token, Failed()},
                                  {y->id, y->fencing_token, Succeeded()}};
  auto result = store_->FinishAndClaim(done, kT0 + 20, Req());
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ASSERT_EQ(result->finished.size(), 3u);
  EXPECT_TRUE(result->finished[0].ok());
  EXPECT_EQ(result->finished[1].code(), "lease_lost");
  EXPECT_TRUE(result->finished[2].ok());
  EXPECT_TRUE(result->claimed.empty()) << "nothing is left to claim";
  EXPECT_EQ(Get(*x).state, JobState::kSucceeded);
  EXPECT_EQ(Get(*y).state, JobState::kSucceeded) << "the stale worker's failure was not applied";
  ExpectInvariants();
}

TEST_F(SqliteJobStoreMoreTest, ABatchIsClaimedInFairOrderOfBatchKindsOnly) {
  UnixMillis now = kT0;
  for (int i = 0; i < 6; ++i) Enqueue(Spec(a_, "quick"), now++);
  for (int i = 0; i < 2; ++i) Enqueue(Spec(b_, "quick"), now++);
  ClaimRequest req = Req({"quick", "slow"});
  req.batch_kinds = {"quick"};
  req.max_batch = 4;
  req.max_running_per_tenant = 2;

  auto batch = store_->FinishAndClaim({}, now, req);
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  ASSERT_EQ(batch->claimed.size(), 4u);
  std::map<std::string, int> per_tenant;
  std::set<std::int64_t> tokens;
  for (const Job& job : batch->claimed) {
    EXPECT_EQ(job.kind, "quick") << "only batch kinds join a batch";
    EXPECT_EQ(job.state, JobState::kRunning);
    ++per_tenant[job.tenant_id];
    tokens.insert(job.fencing_token);
    ExpectSameJob(Get(job), job);
  }
  // The running cap counts every job of the batch: two each, never three of alpha's.
  EXPECT_EQ(per_tenant[a_], 2);
  EXPECT_EQ(per_tenant[b_], 2);
  EXPECT_EQ(tokens.size(), 4u);

  // Alpha and bravo are at their cap: charlie's slow job is claimed, and a job of a kind that
  // does not batch is claimed alone, even with charlie's quick jobs waiting.
  Enqueue(Spec(c_, "slow"), now++);
  Enqueue(Spec(c_, "quick"), now++);
  auto next = store_->FinishAndClaim({}, now + 1, req);
  ASSERT_TRUE(next.ok());
  ASSERT_EQ(next->claimed.size(), 1u);
  EXPECT_EQ(next->claimed[0].kind, "slow");
  ExpectInvariants();
}

TEST_F(SqliteJobStoreMoreTest, TheRanTimeOfAnOutcomeIsWhatTheTenantIsCharged) {
  Job a_job = Enqueue(Spec(a_), kT0);
  Job b_job = Enqueue(Spec(b_), kT0 + 1);
  auto first = Claim(kT0 + 10);
  auto second = Claim(kT0 + 10);
  ASSERT_TRUE(first && second);
  const std::int64_t a_before = Pass(first->tenant_id);
  const std::int64_t b_before = Pass(second->tenant_id);
  // Both end 1,000 ms after their claim, but the second ran for 5 ms only (it waited in a batch).
  AttemptOutcome waited = Succeeded();
  waited.ran_millis = 5;
  ASSERT_OK(store_->Finish(first->id, first->fencing_token, Succeeded(), kT0 + 1010));
  ASSERT_OK(store_->Finish(second->id, second->fencing_token, waited, kT0 + 1010));
  EXPECT_EQ(Pass(first->tenant_id) - a_before, 1'000'000);
  EXPECT_EQ(Pass(second->tenant_id) - b_before, 5'000);
  (void)a_job; (void)b_job;
}

}  // namespace
}  // namespace quarry
