// Tests of the SQLite JobStore: schema, enqueue, idempotency, claim, heartbeat, finish, cancel.
#include "meta/sqlite/sqlite_job_store_test_support.h"

#include "meta/sqlite/migrations.h"

namespace quarry {
namespace {

int MigrationCount() { return static_cast<int>(sqlite::Migrations().size()); }

// --- schema ---

TEST_F(SqliteJobStoreTest, MigrationsAreIdempotentInEitherOpenOrder) {
  EXPECT_GE(SqliteLatestSchemaVersion(), 2);
  EXPECT_EQ(RawInt("SELECT COUNT(*) FROM schema_migrations"), MigrationCount());
  EXPECT_EQ(RawInt("SELECT COUNT(*) FROM job_fencing"), 1);
  Job job = Enqueue(Spec(a_));
  store_.reset();
  auto again = OpenJobs();
  ASSERT_NE(again, nullptr);
  auto meta_again = OpenSqliteMetaStore({path_, 5000, 2});
  ASSERT_TRUE(meta_again.ok());
  EXPECT_EQ(RawInt("SELECT COUNT(*) FROM schema_migrations"), MigrationCount());
  EXPECT_EQ(RawInt("SELECT COUNT(*) FROM job_fencing"), 1);
  EXPECT_TRUE(again->Get(a_, job.id).ok());

  // A fresh file opened by the job store first.
  testing::TempDir other("jobs-first");
  auto first = OpenSqliteJobStore({(other.path() / "meta.db").string(), 5000, 2});
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto then_meta = OpenSqliteMetaStore({(other.path() / "meta.db").string(), 5000, 2});
  ASSERT_TRUE(then_meta.ok()) << then_meta.status().ToString();
  EXPECT_EQ(*(*then_meta)->SchemaVersion(), SqliteLatestSchemaVersion());
}

// --- enqueue, get, list ---

TEST_F(SqliteJobStoreTest, EnqueueThenGet) {
  NewJob spec = Spec(a_, "export", 7, 3);
  spec.run_after = kT0 + 500;
  spec.idempotency_key = "key-1";
  Job job = Enqueue(spec, kT0 + 10);
  EXPECT_TRUE(LooksLikeId(job.id, "job")) << job.id;
  EXPECT_EQ(job.tenant_id, a_);
  EXPECT_EQ(job.user_id, spec.user_id);
  EXPECT_EQ(job.kind, "export");
  EXPECT_EQ(job.payload_json, R"({"n":1})");
  EXPECT_EQ(job.state, JobState::kQueued);
  EXPECT_EQ(job.priority, 7);
  EXPECT_EQ(job.attempt, 0);
  EXPECT_EQ(job.max_attempts, 3);
  EXPECT_EQ(job.run_after, kT0 + 500);
  EXPECT_EQ(job.lease_owner, "");
  EXPECT_EQ(job.lease_expires_at, std::nullopt);
  EXPECT_EQ(job.fencing_token, 0);
  EXPECT_EQ(job.progress_json, "{}");
  EXPECT_EQ(job.result_json, "");
  EXPECT_EQ(job.error_code, "");
  EXPECT_FALSE(job.cancel_requested);
  EXPECT_EQ(job.idempotency_key, "key-1");
  EXPECT_EQ(job.created_at, kT0 + 10);
  EXPECT_EQ(job.started_at, std::nullopt);
  EXPECT_EQ(job.finished_at, std::nullopt);
  ExpectSameJob(Get(job), job);
  ExpectInvariants();
}

TEST_F(SqliteJobStoreTest, EnqueueForUnknownTenantIsTenantNotFound) {
  auto r = store_->Enqueue(Spec("ten_00000000000000000000000000"), 100, kWindow, kT0);
  ASSERT_FALSE(r.ok());
  ExpectError(r.status(), ErrorCode::kNotFound, "tenant_not_found");
  EXPECT_EQ(RawInt("SELECT COUNT(*) FROM jobs"), 0);
}

TEST_F(SqliteJobStoreTest, AnotherTenantsJobIsNotFound) {
  Job job = Enqueue(Spec(a_));
  for (const std::string& id : {job.id, std::string("job_missing")}) {
    auto got = store_->Get(b_, id);
    ASSERT_FALSE(got.ok());
    ExpectError(got.status(), ErrorCode::kNotFound, "job_not_found");
    EXPECT_EQ(got.status().message(), "No such job in this tenant");
    auto canceled = store_->RequestCancel(b_, id, kT0);
    ASSERT_FALSE(canceled.ok());
    ExpectError(canceled.status(), ErrorCode::kNotFound, "job_not_found");
  }
  Job foreign = job;
  foreign.tenant_id = b_;
  auto position = store_->QueuePosition(foreign);
  ASSERT_FALSE(position.ok());
  ExpectError(position.status(), ErrorCode::kNotFound, "job_not_found");
  auto listed = store_->List(b_, {}, {});
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->items.empty());
  EXPECT_EQ(Get(job).state, JobState::kQueued);  // the cancel attempt changed nothing
}

TEST_F(SqliteJobStoreTest, ListIsNewestFirstWithFiltersAndKeysetPages) {
  std::vector<Job> jobs;  // oldest first
  for (int i = 0; i < 7; ++i) {
    NewJob spec = Spec(a_, i % 2 == 0 ? "even" : "odd");
    spec.user_id = i < 4 ? "usr_one" : "usr_two";
    jobs.push_back(Enqueue(spec, kT0 + i));  // distinct milliseconds: ids sort by creation
  }
  Enqueue(Spec(b_, "even"), kT0 + 100);
  ASSERT_TRUE(Claim(kT0 + 200, Req({"odd"})).has_value());  // the oldest odd one: jobs[1]

  std::vector<std::string> seen;
  PageRequest page{.after_id = "", .limit = 3};
  for (int round = 0; round < 10; ++round) {
    auto listed = store_->List(a_, {}, page);
    ASSERT_TRUE(listed.ok()) << listed.status().ToString();
    for (const Job& j : listed->items) seen.push_back(j.id);
    if (!listed->next_cursor) break;
    EXPECT_EQ(*listed->next_cursor, listed->items.back().id);
    EXPECT_EQ(listed->items.size(), 3u);
    page.after_id = *listed->next_cursor;
  }
  std::vector<std::string> expected;
  for (auto it = jobs.rbegin(); it != jobs.rend(); ++it) expected.push_back(it->id);
  EXPECT_EQ(seen, expected);

  // An exactly full last page has no cursor.
  auto six = store_->List(a_, {}, {.after_id = jobs[6].id, .limit = 6});
  ASSERT_TRUE(six.ok());
  EXPECT_EQ(six->items.size(), 6u);
  EXPECT_FALSE(six->next_cursor.has_value());

  auto ids = [&](const JobFilter& filter) {
    std::vector<std::string> out;
    auto listed = store_->List(a_, filter, {.after_id = "", .limit = 100});
    EXPECT_TRUE(listed.ok());
    if (listed.ok()) {
      for (const Job& j : listed->items) out.push_back(j.id);
    }
    return out;
  };
  EXPECT_EQ(ids({.state = JobState::kRunning}), std::vector<std::string>{jobs[1].id});
  EXPECT_EQ(ids({.state = std::nullopt, .kind = "odd"}),
            (std::vector<std::string>{jobs[5].id, jobs[3].id, jobs[1].id}));
  EXPECT_EQ(ids({.state = std::nullopt, .kind = "", .user_id = "usr_two"}),
            (std::vector<std::string>{jobs[6].id, jobs[5].id, jobs[4].id}));
  EXPECT_EQ(ids({.state = JobState::kQueued, .kind = "odd", .user_id = "usr_one"}),
            std::vector<std::string>{jobs[3].id});

  // The limit is clamped to 1..1000.
  auto one = store_->List(a_, {}, {.after_id = "", .limit = 0});
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->items.size(), 1u);
  EXPECT_TRUE(one->next_cursor.has_value());
  auto all = store_->List(a_, {}, {.after_id = "", .limit = 1'000'000});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->items.size(), 7u);
  EXPECT_FALSE(all->next_cursor.has_value());
}

// --- idempotency and the queue cap ---

TEST_F(SqliteJobStoreTest, IdempotencyKeyWithinAndAfterTheWindow) {
  NewJob spec = Spec(a_);
  spec.idempotency_key = "import-42";
  const auto window = std::chrono::milliseconds(60'000);
  auto first = store_->Enqueue(spec, 100, window, kT0);
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first->existing);

  // Within the window: the same job, whatever its state, and no new row.
  ASSERT_TRUE(Claim(kT0 + 1).has_value());
  auto again = store_->Enqueue(spec, 100, window, kT0 + 59'999);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->existing);
  EXPECT_EQ(again->job.id, first->job.id);
  EXPECT_EQ(again->job.state, JobState::kRunning);
  // Even when the queue is full: the key is checked first.
  auto full = store_->Enqueue(spec, 0, window, kT0 + 59'999);
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  EXPECT_TRUE(full->existing);

  // Another user's key is their own: their job never answers this one's (regression: keys were
  // per tenant, so a colleague could read a job, and the dataset it named, by reusing its key).
  NewJob colleague = spec;
  colleague.user_id = "usr_colleague";
  auto colleagues = store_->Enqueue(colleague, 100, window, kT0 + 2);
  ASSERT_TRUE(colleagues.ok());
  EXPECT_FALSE(colleagues->existing);
  EXPECT_NE(colleagues->job.id, first->job.id);

  // Another tenant's key is its own.
  NewJob other = spec;
  other.tenant_id = b_;
  auto theirs = store_->Enqueue(other, 100, window, kT0 + 2);
  ASSERT_TRUE(theirs.ok());
  EXPECT_FALSE(theirs->existing);

  // After the window: a new job.
  auto later = store_->Enqueue(spec, 100, window, kT0 + 60'000);
  ASSERT_TRUE(later.ok());
  EXPECT_FALSE(later->existing);
  EXPECT_NE(later->job.id, first->job.id);
  // ... which the key now finds.
  auto latest = store_->Enqueue(spec, 100, window, kT0 + 60'001);
  ASSERT_TRUE(latest.ok());
  EXPECT_TRUE(latest->existing);
  EXPECT_EQ(latest->job.id, later->job.id);
  EXPECT_EQ(RawInt("SELECT COUNT(*) FROM jobs"), 4);  // first, the colleague's, the other tenant's, later
  ExpectInvariants();
}

TEST_F(SqliteJobStoreTest, QueueFullNamesTheLimit) {
  for (int i = 0; i < 3; ++i) Enqueue(Spec(a_), kT0 + i, 3);
  auto full = store_->Enqueue(Spec(a_), 3, kWindow, kT0 + 10);
  ASSERT_FALSE(full.ok());
  ExpectError(full.status(), ErrorCode::kResourceExhausted, "queue_full");
  EXPECT_EQ(full.status().message(), "tenant has 3 queued jobs, the limit is 3; wait for some to finish");
  EXPECT_EQ(full.status().details().at("limit"), "3");
  EXPECT_EQ(RawInt("SELECT COUNT(*) FROM jobs"), 3);
  // Other tenants have their own queue.
  Enqueue(Spec(b_, "other"), kT0 + 11, 3);
  // Running jobs do not count against the queue.
  ASSERT_TRUE(Claim(kT0 + 12, Req({"noop"}, "w1", 1)).has_value());
  Enqueue(Spec(a_), kT0 + 13, 3);
  ExpectInvariants();
}

// --- claim ---


TEST_F(SqliteJobStoreTest, ClaimHandsEachJobOnceWithIncreasingTokens) {
  std::set<std::string> enqueued;
  for (int i = 0; i < 5; ++i) enqueued.insert(Enqueue(Spec(i < 3 ? a_ : b_), kT0 + i).id);
  std::set<std::string> claimed;
  std::int64_t last_token = 0;
  for (int i = 0; i < 5; ++i) {
    const UnixMillis now = kT0 + 100 + i;
    auto job = Claim(now, Req({"noop"}, "worker-7"));
    ASSERT_TRUE(job.has_value());
    EXPECT_TRUE(claimed.insert(job->id).second) << "claimed twice: " << job->id;
    EXPECT_GT(job->fencing_token, last_token);
    last_token = job->fencing_token;
    EXPECT_EQ(job->state, JobState::kRunning);
    EXPECT_EQ(job->attempt, 1);
    EXPECT_EQ(job->lease_owner, "worker-7");
    EXPECT_EQ(job->lease_expires_at, now + 30'000);
    EXPECT_EQ(job->started_at, now);
    ExpectSameJob(Get(*job), *job);
  }
  EXPECT_EQ(claimed, enqueued);
  EXPECT_FALSE(Claim(kT0 + 200).has_value());
  EXPECT_EQ(RawInt("SELECT value FROM job_fencing"), last_token);
  ExpectInvariants();
}

TEST_F(SqliteJobStoreTest, WithinATenantHighestPriorityThenOldest) {
  Job low = Enqueue(Spec(a_, "noop", 0), kT0);
  Job high_new = Enqueue(Spec(a_, "noop", 5), kT0 + 2);
  Job high_old = Enqueue(Spec(a_, "noop", 5), kT0 + 1);
  std::vector<std::string> order;
  for (int i = 0; i < 3; ++i) {
    auto job = Claim(kT0 + 10 + i);
    ASSERT_TRUE(job.has_value());
    order.push_back(job->id);
    ASSERT_OK(store_->Finish(job->id, job->fencing_token, Succeeded(), kT0 + 10 + i));
  }
  EXPECT_EQ(order, (std::vector<std::string>{high_old.id, high_new.id, low.id}));
}

TEST_F(SqliteJobStoreTest, KindsTheWorkerRunsOnly) {
  Job a = Enqueue(Spec(a_, "alpha-kind"), kT0);
  Job b = Enqueue(Spec(a_, "beta-kind"), kT0 + 1);
  EXPECT_FALSE(Claim(kT0 + 2, Req({})).has_value());  // an empty list claims nothing
  EXPECT_FALSE(Claim(kT0 + 2, Req({"gamma-kind"})).has_value());
  auto got = Claim(kT0 + 3, Req({"beta-kind", "gamma-kind", "beta-kind"}));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->id, b.id);
  got = Claim(kT0 + 4, Req({"alpha-kind", "beta-kind"}));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->id, a.id);
}

TEST_F(SqliteJobStoreTest, KindLimitHoldsBackThatKindOnly) {
  Job heavy1 = Enqueue(Spec(a_, "heavy"), kT0);
  Job heavy2 = Enqueue(Spec(b_, "heavy"), kT0 + 1);
  Job light = Enqueue(Spec(a_, "light"), kT0 + 2);
  ClaimRequest req = Req({"heavy", "light"});
  req.kind_limits = {{"heavy", 1}};

  auto first = Claim(kT0 + 10, req);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->kind, "heavy");
  auto second = Claim(kT0 + 11, req);  // heavy is at its limit, even for the other tenant
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->id, light.id);
  EXPECT_FALSE(Claim(kT0 + 12, req).has_value());

  ASSERT_OK(store_->Finish(first->id, first->fencing_token, Succeeded(), kT0 + 13));
  auto third = Claim(kT0 + 14, req);
  ASSERT_TRUE(third.has_value());
  EXPECT_EQ(third->kind, "heavy");
  EXPECT_EQ((std::set<std::string>{first->id, third->id}), (std::set<std::string>{heavy1.id, heavy2.id}));

  req.kind_limits = {{"heavy", 0}};  // a zero limit never runs the kind
  ASSERT_OK(store_->Finish(third->id, third->fencing_token, Succeeded(), kT0 + 15));
  Enqueue(Spec(a_, "heavy"), kT0 + 16);
  EXPECT_FALSE(Claim(kT0 + 17, req).has_value());
}

TEST_F(SqliteJobStoreTest, TenantAtItsRunningCapIsSkippedWithoutBlockingOthers) {
  for (int i = 0; i < 3; ++i) Enqueue(Spec(a_), kT0 + i);
  Job b_job = Enqueue(Spec(b_), kT0 + 10);
  const ClaimRequest capped = Req({"noop"}, "w", 1);
  auto first = Claim(kT0 + 20, capped);
  auto second = Claim(kT0 + 21, capped);
  ASSERT_TRUE(first.has_value() && second.has_value());
  EXPECT_NE(first->tenant_id, second->tenant_id);
  EXPECT_TRUE(first->id == b_job.id || second->id == b_job.id);
  EXPECT_FALSE(Claim(kT0 + 22, capped).has_value()) << "alpha is at its cap of 1";
  EXPECT_TRUE(Claim(kT0 + 23, Req({"noop"}, "w", 2)).has_value());
  ExpectInvariants();
}

TEST_F(SqliteJobStoreTest, ManyTenantsWithNothingRunnableDoNotStarveOthers) {
  // Alpha runs the only "heavy" job allowed at once.
  UnixMillis now = kT0;
  Enqueue(Spec(a_, "heavy"), now++);
  ClaimRequest req = Req({"heavy", "noop"});
  req.kind_limits = {{"heavy", 1}};
  ASSERT_TRUE(Claim(now++, req).has_value());
  // Bravo has used more service than anyone, and has a runnable job.
  for (int i = 0; i < 3; ++i) Enqueue(Spec(b_), now++);
  RunSerially(*store_, 3, now, 1000);
  Job runnable = Enqueue(Spec(b_), now++);
  // More tenants than one page of candidates, all ahead of bravo, with only heavy jobs queued.
  for (int i = 0; i < 300; ++i) Enqueue(Spec(AddTenant("heavy-" + std::to_string(i)), "heavy"), now++);
  EXPECT_EQ(
      RawInt("SELECT COUNT(*) FROM job_tenants WHERE queued > 0 AND pass < " + std::to_string(Pass(b_))),
      300);

  auto got = Claim(now++, req);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->id, runnable.id);
  ExpectInvariants();
}

TEST_F(SqliteJobStoreTest, RunAfterInTheFutureIsNotClaimable) {
  NewJob spec = Spec(a_);
  spec.run_after = kT0 + 1000;
  Job later = Enqueue(spec, kT0);
  Job other = Enqueue(Spec(b_), kT0);
  auto got = Claim(kT0 + 1);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->id, other.id);  // alpha's job waits, without blocking bravo
  EXPECT_FALSE(Claim(kT0 + 999).has_value());
  got = Claim(kT0 + 1000);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->id, later.id);
}

// --- heartbeat and finish ---

TEST_F(SqliteJobStoreTest, StaleTokenIsLeaseLostAndWritesNothing) {
  Enqueue(Spec(a_));
  auto job = Claim(kT0 + 1);
  ASSERT_TRUE(job.has_value());
  const Job before = Get(*job);

  auto hb = store_->Heartbeat(job->id, job->fencing_token + 1, kT0 + 99'999, R"({"pct":50})");
  ASSERT_FALSE(hb.ok());
  ExpectError(hb.status(), ErrorCode::kFailedPrecondition, "lease_lost");
  for (const AttemptOutcome& outcome : {Succeeded(), Failed(), Retry(kT0 + 5), Canceled()}) {
    Status s = store_->Finish(job->id, job->fencing_token - 1, outcome, kT0 + 2);
    ExpectError(s, ErrorCode::kFailedPrecondition, "lease_lost");
  }
  hb = store_->Heartbeat("job_missing", job->fencing_token, kT0 + 99'999, "{}");
  ExpectError(hb.status(), ErrorCode::kFailedPrecondition, "lease_lost");
  ExpectSameJob(Get(*job), before);
  ExpectInvariants();

  // The right token renews the lease and records progress.
  hb = store_->Heartbeat(job->id, job->fencing_token, kT0 + 45'000, R"({"pct":50})");
  ASSERT_TRUE(hb.ok()) << hb.status().ToString();
  EXPECT_FALSE(*hb);
  Job after = Get(*job);
  EXPECT_EQ(after.lease_expires_at, kT0 + 45'000);
  EXPECT_EQ(after.progress_json, R"({"pct":50})");
  EXPECT_EQ(after.state, JobState::kRunning);
}

TEST_F(SqliteJobStoreTest, FinishOutcomes) {
  Job s = Enqueue(Spec(a_), kT0);
  Job f = Enqueue(Spec(a_), kT0 + 1);
  Job c = Enqueue(Spec(a_), kT0 + 2);
  auto cs = Claim(kT0 + 10);
  auto cf = Claim(kT0 + 11);
  auto cc = Claim(kT0 + 12);
  ASSERT_TRUE(cs && cf && cc);
  ASSERT_EQ(cs->id, s.id);

  ASSERT_OK(store_->Finish(cs->id, cs->fencing_token, Succeeded(R"({"rows":3})"), kT0 + 100));
  Job got = Get(s);
  EXPECT_EQ(got.state, JobState::kSucceeded);
  EXPECT_EQ(got.result_json, R"({"rows":3})");
  EXPECT_EQ(got.error_code, "");
  EXPECT_EQ(got.finished_at, kT0 + 100);
  EXPECT_EQ(got.started_at, kT0 + 10);
  EXPECT_EQ(got.lease_owner, "");
  EXPECT_EQ(got.lease_expires_at, std::nullopt);
  EXPECT_EQ(got.fencing_token, cs->fencing_token);  // the token of the last attempt

  ASSERT_OK(store_->Finish(cf->id, cf->fencing_token, Failed("bad_input", "column x is missing"), kT0 + 101));
  got = Get(f);
  EXPECT_EQ(got.state, JobState::kFailed);
  EXPECT_EQ(got.error_code, "bad_input");
  EXPECT_EQ(got.error_message, "column x is missing");
  EXPECT_EQ(got.error_details_json, R"({"where":"here"})");
  EXPECT_EQ(got.result_json, "");
  EXPECT_EQ(got.finished_at, kT0 + 101);

  ASSERT_OK(store_->Finish(cc->id, cc->fencing_token, Canceled(), kT0 + 102));
  got = Get(c);
  EXPECT_EQ(got.state, JobState::kCanceled);
  EXPECT_EQ(got.error_code, "canceled");
  EXPECT_EQ(got.finished_at, kT0 + 102);
  ExpectInvariants();
}

TEST_F(SqliteJobStoreTest, RetryRequeuesUntilAttemptsRunOut) {
  Job job = Enqueue(Spec(a_, "noop", 0, 2));
  auto first = Claim(kT0 + 10);
  ASSERT_TRUE(first.has_value());
  ASSERT_OK(store_->Finish(first->id, first->fencing_token, Retry(kT0 + 5000), kT0 + 20));
  Job queued = Get(job);
  EXPECT_EQ(queued.state, JobState::kQueued);
  EXPECT_EQ(queued.attempt, 1);
  EXPECT_EQ(queued.run_after, kT0 + 5000);
  EXPECT_EQ(queued.error_code, "flaky");  // users see why it is waiting
  EXPECT_EQ(queued.error_message, "try again later");
  EXPECT_EQ(queued.lease_owner, "");
  EXPECT_EQ(queued.finished_at, std::nullopt);
  EXPECT_EQ(queued.started_at, kT0 + 10);
  ExpectInvariants();

  EXPECT_FALSE(Claim(kT0 + 4999).has_value()) << "claimed before run_after";
  auto second = Claim(kT0 + 5000);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->id, job.id);
  EXPECT_EQ(second->attempt, 2);
  EXPECT_GT(second->fencing_token, first->fencing_token);
  EXPECT_EQ(second->started_at, kT0 + 10);  // the first attempt's start
  // The first attempt's token is dead now.
  ExpectError(store_->Finish(first->id, first->fencing_token, Succeeded(), kT0 + 5001),
              ErrorCode::kFailedPrecondition, "lease_lost");

  // No attempts remain: a retry fails the job with the retry's error.
  ASSERT_OK(store_->Finish(second->id, second->fencing_token, Retry(kT0 + 9000, "still_flaky"), kT0 + 5100));
  Job failed = Get(job);
  EXPECT_EQ(failed.state, JobState::kFailed);
  EXPECT_EQ(failed.error_code, "still_flaky");
  EXPECT_EQ(failed.finished_at, kT0 + 5100);
  EXPECT_FALSE(Claim(kT0 + 10'000).has_value());
  ExpectInvariants();
}

// Walks every edge of the state machine and checks each observed change is legal.
TEST_F(SqliteJobStoreTest, EveryLegalTransition) {
  auto expect_step = [&](const Job& before, const Job& after, JobState want) {
    EXPECT_EQ(after.state, want);
    EXPECT_TRUE(IsLegalTransition(before.state, after.state))
        << ToString(before.state) << " -> " << ToString(after.state);
  };
  // queued -> canceled
  Job q = Enqueue(Spec(a_), kT0);
  auto canceled = store_->RequestCancel(a_, q.id, kT0 + 1);
  ASSERT_TRUE(canceled.ok());
  expect_step(q, *canceled, JobState::kCanceled);

  // queued -> running -> {succeeded, failed, canceled, queued (retry), queued (rescue)}
  const std::vector<std::pair<std::string, JobState>> ends = {{"succeed", JobState::kSucceeded},
                                                              {"fail", JobState::kFailed},
                                                              {"cancel", JobState::kCanceled},
                                                              {"retry", JobState::kQueued},
                                                              {"rescue", JobState::kQueued}};
  UnixMillis now = kT0 + 10;
  for (const auto& [how, want] : ends) {
    Job job = Enqueue(Spec(a_, "noop", 0, 2), now++);
    auto running = Claim(now++);
    ASSERT_TRUE(running.has_value());
    ASSERT_EQ(running->id, job.id);
    expect_step(job, *running, JobState::kRunning);
    if (how == "succeed") ASSERT_OK(store_->Finish(job.id, running->fencing_token, Succeeded(), now));
    if (how == "fail") ASSERT_OK(store_->Finish(job.id, running->fencing_token, Failed(), now));
    if (how == "cancel") ASSERT_OK(store_->Finish(job.id, running->fencing_token, Canceled(), now));
    if (how == "retry") ASSERT_OK(store_->Finish(job.id, running->fencing_token, Retry(now), now));
    if (how == "rescue") {
      auto report = store_->RescueExpired(now + 30'001, NoBackoff);
      ASSERT_TRUE(report.ok());
      EXPECT_EQ(report->requeued, 1);
    }
    Job after = Get(job);
    expect_step(*running, after, want);
    if (want == JobState::kQueued) {  // clean up so the next round claims its own job
      ASSERT_TRUE(store_->RequestCancel(a_, job.id, now).ok());
    }
    now += 40'000;
  }
  ExpectInvariants();
}

TEST_F(SqliteJobStoreTest, FinalJobsNeverChange) {
  std::vector<std::pair<Job, std::int64_t>> finals;  // job, its last token
  for (int i = 0; i < 3; ++i) Enqueue(Spec(a_, "noop", 0, 3), kT0 + i);
  const std::vector<AttemptOutcome> outcomes = {Succeeded(), Failed(), Canceled()};
  for (const AttemptOutcome& outcome : outcomes) {
    auto job = Claim(kT0 + 10);
    ASSERT_TRUE(job.has_value());
    ASSERT_OK(store_->Finish(job->id, job->fencing_token, outcome, kT0 + 20));
    finals.emplace_back(Get(*job), job->fencing_token);
  }
  Job canceled_queued = Enqueue(Spec(a_), kT0 + 30);
  auto c = store_->RequestCancel(a_, canceled_queued.id, kT0 + 31);
  ASSERT_TRUE(c.ok());
  finals.emplace_back(*c, 0);

  for (const auto& [job, token] : finals) {
    for (const AttemptOutcome& outcome : {Succeeded(), Failed(), Retry(kT0), Canceled()}) {
      ExpectError(store_->Finish(job.id, token, outcome, kT0 + 40), ErrorCode::kFailedPrecondition,
                  "lease_lost");
    }
    ExpectError(store_->Heartbeat(job.id, token, kT0 + 99'000, "{}").status(), ErrorCode::kFailedPrecondition,
                "lease_lost");
    auto again = store_->RequestCancel(a_, job.id, kT0 + 50);
    ASSERT_TRUE(again.ok());
    ExpectSameJob(*again, job);
    ASSERT_TRUE(store_->RescueExpired(kT0 + 10'000'000, NoBackoff).ok());
    ASSERT_TRUE(store_->ExpireLeases("", kT0 + 60).ok());
    ExpectSameJob(Get(job), job);
  }
  EXPECT_FALSE(Claim(kT0 + 10'000'000).has_value());
  ExpectInvariants();
}

// --- cancellation ---

TEST_F(SqliteJobStoreTest, CancelQueuedRunningAndFinal) {
  Job queued = Enqueue(Spec(a_), kT0);
  Job running = Enqueue(Spec(a_), kT0 + 1);
  auto canceled = store_->RequestCancel(a_, queued.id, kT0 + 5);
  ASSERT_TRUE(canceled.ok());
  EXPECT_EQ(canceled->state, JobState::kCanceled);
  EXPECT_EQ(canceled->finished_at, kT0 + 5);
  ExpectInvariants();

  auto claimed = Claim(kT0 + 6);  // the canceled one is never claimed
  ASSERT_TRUE(claimed.has_value());
  EXPECT_EQ(claimed->id, running.id);
  auto requested = store_->RequestCancel(a_, running.id, kT0 + 7);
  ASSERT_TRUE(requested.ok());
  EXPECT_EQ(requested->state, JobState::kRunning);
  EXPECT_TRUE(requested->cancel_requested);
  EXPECT_EQ(requested->finished_at, std::nullopt);
  auto hb = store_->Heartbeat(running.id, claimed->fencing_token, kT0 + 40'000, "{}");
  ASSERT_TRUE(hb.ok());
  EXPECT_TRUE(*hb);  // the worker learns it here
  ASSERT_OK(store_->Finish(running.id, claimed->fencing_token, Canceled(), kT0 + 8));
  EXPECT_EQ(Get(running).state, JobState::kCanceled);

  auto final_again = store_->RequestCancel(a_, running.id, kT0 + 9);
  ASSERT_TRUE(final_again.ok());
  EXPECT_EQ(final_again->finished_at, kT0 + 8);
  ExpectInvariants();
}

}  // namespace
}  // namespace quarry
