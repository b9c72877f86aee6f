// Shared fixture and helpers of the SQLite JobStore tests (sqlite_job_store_*_test.cpp).
// Time is always passed in explicitly (UnixMillis), so leases, retries and fairness are
// exercised without waiting; concurrency tests synchronize only by joining threads.
#pragma once

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
#include "common/testing/status_testing.h"
#include "common/testing/temp_dir.h"
#include "meta/sqlite/sqlite_connection.h"
#include "meta/sqlite/sqlite_meta_store.h"

namespace quarry {
namespace {

using namespace std::chrono_literals;

constexpr UnixMillis kT0 = 1'767'225'600'000;
constexpr auto kWindow = std::chrono::milliseconds(24 * 3'600'000);
constexpr int kNoCap = 1'000'000;

using ::quarry::testing::ExpectError;

[[maybe_unused]] AttemptOutcome Succeeded(std::string result = R"({"ok":true})") {
  AttemptOutcome o;
  o.kind = AttemptOutcome::Kind::kSucceeded;
  o.result_json = std::move(result);
  return o;
}

[[maybe_unused]] AttemptOutcome Failed(std::string code = "boom", std::string message = "it broke") {
  AttemptOutcome o;
  o.kind = AttemptOutcome::Kind::kFailed;
  o.error_code = std::move(code);
  o.error_message = std::move(message);
  o.error_details_json = R"({"where":"here"})";
  return o;
}

[[maybe_unused]] AttemptOutcome Retry(UnixMillis at, std::string code = "flaky") {
  AttemptOutcome o;
  o.kind = AttemptOutcome::Kind::kRetry;
  o.error_code = std::move(code);
  o.error_message = "try again later";
  o.retry_at = at;
  return o;
}

[[maybe_unused]] AttemptOutcome Canceled() {
  AttemptOutcome o;
  o.kind = AttemptOutcome::Kind::kCanceled;
  o.error_code = "canceled";
  o.error_message = "the job was canceled";
  return o;
}

[[maybe_unused]] ClaimRequest Req(std::vector<std::string> kinds = {"noop"}, std::string worker = "w1",
                 int max_running_per_tenant = kNoCap) {
  ClaimRequest r;
  r.worker_id = std::move(worker);
  r.lease = 30s;
  r.kinds = std::move(kinds);
  r.max_running_per_tenant = max_running_per_tenant;
  return r;
}

[[maybe_unused]] std::chrono::milliseconds NoBackoff(const std::string&, int) { return 0ms; }

// Every field, so "unchanged" means unchanged.
[[maybe_unused]] void ExpectSameJob(const Job& a, const Job& b) {
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


// Runs claim-then-finish one job at a time, each attempt taking `attempt_ms` of simulated time;
// returns the tenants in claim order.
[[maybe_unused]] std::vector<std::string> RunSerially(JobStore& store, int claims, UnixMillis& now, std::int64_t attempt_ms) {
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

}  // namespace
}  // namespace quarry
