// Tests of the SQLite JobStore. Time is always passed in explicitly (UnixMillis), so leases,
// retries and fairness are exercised without waiting; concurrency tests synchronize only by
// joining threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/ids.h"
#include "common/testing/temp_dir.h"
#include "meta/sqlite/sqlite_connection.h"
#include "meta/sqlite/sqlite_meta_store.h"

namespace quarry {
namespace {

using namespace std::chrono_literals;

constexpr UnixMillis kT0 = 1'767'225'600'000;
constexpr auto kWindow = std::chrono::milliseconds(24 * 3'600'000);
constexpr int kNoCap = 1'000'000;

#define ASSERT_OK(expr)                                                  \
  do {                                                                   \
    const ::quarry::Status assert_ok_status_ = (expr);                   \
    ASSERT_TRUE(assert_ok_status_.ok()) << assert_ok_status_.ToString(); \
  } while (0)

void ExpectError(const Status& s, ErrorCode category, const std::string& code) {
  EXPECT_EQ(s.category(), category) << s.ToString();
  EXPECT_EQ(s.code(), code) << s.ToString();
}

AttemptOutcome Succeeded(std::string result = R"({"ok":true})") {
  AttemptOutcome o;
  o.kind = AttemptOutcome::Kind::kSucceeded;
  o.result_json = std::move(result);
  return o;
}

AttemptOutcome Failed(std::string code = "boom", std::string message = "it broke") {
  AttemptOutcome o;
  o.kind = AttemptOutcome::Kind::kFailed;
  o.error_code = std::move(code);
  o.error_message = std::move(message);
  o.error_details_json = R"({"where":"here"})";
  return o;
}

AttemptOutcome Retry(UnixMillis at, std::string code = "flaky") {
  AttemptOutcome o;
  o.kind = AttemptOutcome::Kind::kRetry;
  o.error_code = std::move(code);
  o.error_message = "try again later";
  o.retry_at = at;
  return o;
}

AttemptOutcome Canceled() {
  AttemptOutcome o;
  o.kind = AttemptOutcome::Kind::kCanceled;
  o.error_code = "canceled";
  o.error_message = "the job was canceled";
  return o;
}

ClaimRequest Req(std::vector<std::string> kinds = {"noop"}, std::string worker = "w1",
                 int max_running_per_tenant = kNoCap) {
  ClaimRequest r;
  r.worker_id = std::move(worker);
  r.lease = 30s;
  r.kinds = std::move(kinds);
  r.max_running_per_tenant = max_running_per_tenant;
  return r;
}

std::chrono::milliseconds NoBackoff(int) { return 0ms; }

// Every field, so "unchanged" means unchanged.
void ExpectSameJob(const Job& a, const Job& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.tenant_id, b.tenant_id);
  EXPECT_EQ(a.user_id, b.user_id);
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.payload_json, b.payload_json);
  EXPECT_EQ(a.state, b.state);
  EXPECT_EQ(a.priority, b.priority);
  EXPECT_EQ(a.attempt, b.attempt);
  EXPECT_EQ(a.max_attempts, b.max_attempts);
  EXPECT_EQ(a.run_after, b.run_after);
  EXPECT_EQ(a.lease_owner, b.lease_owner);
  EXPECT_EQ(a.lease_expires_at, b.lease_expires_at);
  EXPECT_EQ(a.fencing_token, b.fencing_token);
  EXPECT_EQ(a.progress_json, b.progress_json);
  EXPECT_EQ(a.result_json, b.result_json);
  EXPECT_EQ(a.error_code, b.error_code);
  EXPECT_EQ(a.error_message, b.error_message);
  EXPECT_EQ(a.error_details_json, b.error_details_json);
  EXPECT_EQ(a.cancel_requested, b.cancel_requested);
  EXPECT_EQ(a.idempotency_key, b.idempotency_key);
  EXPECT_EQ(a.created_at, b.created_at);
  EXPECT_EQ(a.started_at, b.started_at);
  EXPECT_EQ(a.finished_at, b.finished_at);
}

class SqliteJobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (temp_.path() / "meta.db").string();
    auto meta = OpenSqliteMetaStore({path_, 5000, 4});
    ASSERT_TRUE(meta.ok()) << meta.status().ToString();
    meta_ = std::move(meta).value();
    store_ = OpenJobs();
    ASSERT_NE(store_, nullptr);
    a_ = AddTenant("alpha");
    b_ = AddTenant("bravo");
    c_ = AddTenant("charlie");
  }

  std::unique_ptr<JobStore> OpenJobs(int max_connections = 8) {
    auto store = OpenSqliteJobStore({path_, 5000, max_connections});
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  std::string AddTenant(const std::string& slug) {
    Tenant t;
    t.id = NewId("ten", kT0);
    t.slug = slug;
    t.name = slug;
    t.created_at = kT0;
    t.updated_at = kT0;
    Status s = meta_->InsertTenant(t);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return t.id;
  }

  NewJob Spec(const std::string& tenant, const std::string& kind = "noop", int priority = 0,
              int max_attempts = 1) {
    NewJob j;
    j.tenant_id = tenant;
    j.user_id = "usr_" + tenant.substr(4, 6);
    j.kind = kind;
    j.payload_json = R"({"n":1})";
    j.priority = priority;
    j.max_attempts = max_attempts;
    return j;
  }

  // Enqueues and returns the new job (a test failure, and an empty Job, if it did not work).
  Job Enqueue(const NewJob& spec, UnixMillis now = kT0, int max_queued = 1'000'000) {
    auto r = store_->Enqueue(spec, max_queued, kWindow, now);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return Job{};
    EXPECT_FALSE(r->existing);
    return r->job;
  }

  std::optional<Job> Claim(UnixMillis now, const ClaimRequest& req = Req()) {
    auto r = store_->Claim(req, now);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::nullopt;
  }

  Job Get(const Job& job) {
    auto r = store_->Get(job.tenant_id, job.id);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : Job{};
  }

  // --- raw SQL on the same file, bypassing the store ---

  std::int64_t RawInt(const std::string& sql) {
    auto conn = sqlite::Connection::Open(path_, 5000);
    EXPECT_TRUE(conn.ok());
    if (!conn.ok()) return -1;
    auto stmt = (*conn)->Prepare(sql);
    EXPECT_TRUE(stmt.ok()) << stmt.status().ToString();
    if (!stmt.ok()) return -1;
    auto row = stmt->Step();
    EXPECT_TRUE(row.ok() && *row) << sql;
    return stmt->ColumnInt64(0);
  }
  void RawExec(const std::string& sql) {
    auto conn = sqlite::Connection::Open(path_, 5000);
    ASSERT_TRUE(conn.ok());
    ASSERT_OK((*conn)->Exec(sql));
  }

  std::int64_t Pass(const std::string& tenant) {
    return RawInt("SELECT pass FROM job_tenants WHERE tenant_id = '" + tenant + "'");
  }

  // The store's invariants, checked against the jobs table: the counters equal the counts, and
  // exactly the running jobs hold a lease.
  void ExpectInvariants() {
    EXPECT_EQ(RawInt("SELECT COUNT(*) FROM job_tenants t WHERE t.queued <>"
                     " (SELECT COUNT(*) FROM jobs j WHERE j.tenant_id = t.tenant_id"
                     "  AND j.state = 'queued')"),
              0)
        << "job_tenants.queued differs from COUNT(*)";
    EXPECT_EQ(RawInt("SELECT COUNT(*) FROM job_tenants t WHERE t.running <>"
                     " (SELECT COUNT(*) FROM jobs j WHERE j.tenant_id = t.tenant_id"
                     "  AND j.state = 'running')"),
              0)
        << "job_tenants.running differs from COUNT(*)";
    EXPECT_EQ(RawInt("SELECT COUNT(*) FROM jobs WHERE tenant_id NOT IN"
                     " (SELECT tenant_id FROM job_tenants)"),
              0);
    EXPECT_EQ(RawInt("SELECT COUNT(*) FROM jobs WHERE (state = 'running') <>"
                     " (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL"
                     "  AND attempt_started_at IS NOT NULL)"),
              0)
        << "a lease on a job that is not running, or a running job without one";
    EXPECT_EQ(RawInt("SELECT COUNT(*) FROM jobs WHERE state IN ('succeeded', 'failed', 'canceled')"
                     " AND finished_at IS NULL"),
              0);
  }

  testing::TempDir temp_{"jobs"};
  std::string path_;
  std::unique_ptr<MetaStore> meta_;
  std::unique_ptr<JobStore> store_;
  std::string a_, b_, c_;
};

// --- schema ---

TEST_F(SqliteJobStoreTest, MigrationsAreIdempotentInEitherOpenOrder) {
  EXPECT_GE(SqliteLatestSchemaVersion(), 2);
  EXPECT_EQ(RawInt("SELECT COUNT(*) FROM schema_migrations"), SqliteLatestSchemaVersion());
  EXPECT_EQ(RawInt("SELECT COUNT(*) FROM job_fencing"), 1);
  Job job = Enqueue(Spec(a_));
  store_.reset();
  auto again = OpenJobs();
  ASSERT_NE(again, nullptr);
  auto meta_again = OpenSqliteMetaStore({path_, 5000, 2});
  ASSERT_TRUE(meta_again.ok());
  EXPECT_EQ(RawInt("SELECT COUNT(*) FROM schema_migrations"), SqliteLatestSchemaVersion());
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
  EXPECT_EQ(RawInt("SELECT COUNT(*) FROM jobs"), 3);
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

// Runs claim-then-finish one job at a time, each attempt taking `attempt_ms` of simulated time;
// returns the tenants in claim order.
std::vector<std::string> RunSerially(JobStore& store, int claims, UnixMillis& now, std::int64_t attempt_ms) {
  std::vector<std::string> order;
  for (int i = 0; i < claims; ++i) {
    auto job = store.Claim(Req(), now);
    EXPECT_TRUE(job.ok());
    if (!job.ok() || !*job) break;
    order.push_back((*job)->tenant_id);
    now += attempt_ms;
    Status s = store.Finish((*job)->id, (*job)->fencing_token, Succeeded(), now);
    EXPECT_TRUE(s.ok()) << s.ToString();
    now += 1;
  }
  return order;
}

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

// --- rescue and lease expiry ---

TEST_F(SqliteJobStoreTest, RescueRequeuesThenFailsAndFencesTheOldWorker) {
  Job job = Enqueue(Spec(a_, "noop", 0, 2));
  ClaimRequest req = Req();
  req.lease = 1000ms;
  auto first = Claim(kT0, req);
  ASSERT_TRUE(first.has_value());

  auto none = store_->RescueExpired(kT0 + 1000, NoBackoff);  // expires at, not before, now
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->requeued + none->failed, 0);

  std::vector<int> backoff_attempts;
  auto backoff = [&](int attempt) {
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

TEST_F(SqliteJobStoreTest, ExpireLeasesByOwnerPrefix) {
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

TEST_F(SqliteJobStoreTest, FairShareBetweenABigAndTwoSmallTenants) {
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

TEST_F(SqliteJobStoreTest, LongerAttemptsCostMore) {
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

TEST_F(SqliteJobStoreTest, WeightScalesTheShare) {
  RawExec("INSERT INTO job_tenants (tenant_id, weight) VALUES ('" + a_ + "', 3)");
  UnixMillis now = kT0;
  for (int i = 0; i < 50; ++i) Enqueue(Spec(a_), now++);
  for (int i = 0; i < 50; ++i) Enqueue(Spec(b_), now++);
  std::vector<std::string> order = RunSerially(*store_, 40, now, 1000);
  const auto alpha = std::count(order.begin(), order.end(), a_);
  EXPECT_GE(alpha, 28);
  EXPECT_LE(alpha, 32);
}

TEST_F(SqliteJobStoreTest, IdleTenantCannotBankCredit) {
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

TEST_F(SqliteJobStoreTest, QueuePositionFollowsTheRoundRobinFormula) {
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

TEST_F(SqliteJobStoreTest, CountsActiveJobsByKindAndState) {
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

TEST_F(SqliteJobStoreTest, DeleteFinishedBeforeRemovesOldFinalJobsInBatches) {
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

TEST_F(SqliteJobStoreTest, CountersMatchJobsAfterRandomOperations) {
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
                store_->RescueExpired(now, [&](int) { return std::chrono::milliseconds(pick(1000)); });
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

TEST_F(SqliteJobStoreTest, TwoStoresEightThreadsClaimEachJobExactlyOnce) {
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
TEST_F(SqliteJobStoreTest, SingleThreadClaimFinishRate) {
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

TEST_F(SqliteJobStoreTest, EveryStateChangeAndProgressIsLoggedInOrder) {
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
