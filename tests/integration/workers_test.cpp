// `quarry worker` processes on one data dir: claims are atomic across processes, and a worker
// killed mid-job leaves nothing stuck. The jobs' event log is the side table that counts
// executions: every attempt that started wrote exactly one "running" entry.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include "common/ids.h"
#include "integration/harness.h"
#include "meta/sqlite/sqlite_meta_store.h"

namespace quarry::testing {
namespace {

using namespace std::chrono_literals;

// A `quarry worker` child process; killed (SIGKILL) on destruction unless stopped.
class WorkerProcess {
 public:
  WorkerProcess(const std::string& data_dir, std::vector<std::string> settings) {
    std::vector<std::string> args = {QUARRY_BINARY, "worker", "--data-dir", data_dir, "--set", "jobs.allow_test_kinds=true"};
    for (auto& s : settings) {
      args.push_back("--set");
      args.push_back(s);
    }
    pid_ = ::fork();
    if (pid_ == 0) {
      int devnull = ::open("/dev/null", O_RDWR);
      ::dup2(devnull, 0);
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
  }
  ~WorkerProcess() { Kill(SIGKILL); }
  int Kill(int signal) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, signal);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  pid_t pid_ = -1;
};

struct Stores {
  std::unique_ptr<MetaStore> meta;
  std::unique_ptr<JobStore> jobs;
  std::string tenant_id;
};

Stores OpenStores(const std::string& dir) {
  Stores s;
  SqliteOptions options{dir + "/meta.db", 5000, 4};
  s.meta = std::move(OpenSqliteMetaStore(options)).value();
  s.jobs = std::move(OpenSqliteJobStore(options)).value();
  Tenant t{NewId("ten", SystemClock::Instance().NowMillis()), "work", "Work", TenantStatus::kActive, 0, 0};
  EXPECT_TRUE(s.meta->InsertTenant(t).ok());
  s.tenant_id = t.id;
  return s;
}

std::int64_t CountActive(JobStore& jobs) {
  auto counts = jobs.Counts();
  if (!counts.ok()) return -1;
  std::int64_t n = 0;
  for (const auto& [key, value] : counts->active) n += value;
  return n;
}

TEST(Workers, TwoProcessesDrainTwentyThousandJobsEachExactlyOnce) {
  const std::string dir = MakeTempDir();
  Stores stores = OpenStores(dir);
#ifdef __SANITIZE_ADDRESS__
  constexpr int kJobs = 5'000;  // the sanitizer build is several times slower; same property
#else
  constexpr int kJobs = 20'000;
#endif
  std::vector<std::string> ids;
  for (int i = 0; i < kJobs; ++i) {
    NewJob job{stores.tenant_id, "usr_test", "noop"};
    job.run_after = SystemClock::Instance().NowMillis();
    auto r = stores.jobs->Enqueue(job, kJobs, 24h, job.run_after);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ids.push_back(r->job.id);
  }
  {
    const std::vector<std::string> settings = {"jobs.workers=4", "jobs.max_running_per_tenant=100",
                                               "jobs.poll_interval=20ms"};
    WorkerProcess a(dir, settings), b(dir, settings);
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    while (CountActive(*stores.jobs) != 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();  // each check is a store query: it paces itself
    }
    ASSERT_EQ(CountActive(*stores.jobs), 0) << "the workers did not drain the queue in time";
    EXPECT_EQ(a.Kill(SIGTERM), 0);
    EXPECT_EQ(b.Kill(SIGTERM), 0);
  }
  // Every job succeeded on its first attempt, and started exactly once.
  int succeeded = 0;
  PageRequest page{"", 1000};
  while (true) {
    auto jobs = stores.jobs->List(stores.tenant_id, JobFilter{}, page);
    ASSERT_TRUE(jobs.ok());
    for (const auto& job : jobs->items) {
      EXPECT_EQ(job.state, JobState::kSucceeded) << job.id;
      EXPECT_EQ(job.attempt, 1) << job.id;
      succeeded += job.state == JobState::kSucceeded;
    }
    if (!jobs->next_cursor) break;
    page.after_id = *jobs->next_cursor;
  }
  EXPECT_EQ(succeeded, kJobs);
  for (const auto& id : ids) {
    auto events = stores.jobs->ListEvents(stores.tenant_id, id, 0, 100);
    ASSERT_TRUE(events.ok());
    int started = 0;
    for (const auto& e : *events) started += e.data_json.find(R"("state":"running")") != std::string::npos;
    ASSERT_EQ(started, 1) << id << " started " << started << " times";
  }
  stores = Stores{};
  RemoveTree(dir);
}

TEST(Workers, AJobOfAKilledWorkerProcessIsRescuedByAnother) {
  const std::string dir = MakeTempDir();
  Stores stores = OpenStores(dir);
  NewJob spec{stores.tenant_id, "usr_test", "sleep", R"({"ms":60000,"steps":600})"};
  spec.max_attempts = 3;
  spec.run_after = SystemClock::Instance().NowMillis();
  auto enqueued = stores.jobs->Enqueue(spec, 10, 24h, spec.run_after);
  ASSERT_TRUE(enqueued.ok());
  const std::string id = enqueued->job.id;
  auto wait_for = [&](const std::function<bool(const Job&)>& done) {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      auto job = stores.jobs->Get(stores.tenant_id, id);
      if (job.ok() && done(*job)) return true;
    }
    return false;
  };
  {
    WorkerProcess doomed(dir, {"jobs.workers=1", "jobs.lease=1s", "jobs.heartbeat=100ms"});
    ASSERT_TRUE(wait_for([](const Job& j) { return j.state == JobState::kRunning; }));
    doomed.Kill(SIGKILL);  // no shutdown: its lease is left to expire
  }
  WorkerProcess rescuer(dir, {"jobs.workers=1", "jobs.lease=1s", "jobs.heartbeat=100ms", "jobs.rescue_interval=100ms"});
  ASSERT_TRUE(wait_for([](const Job& j) { return j.state == JobState::kRunning && j.attempt == 2; }))
      << "the expired lease was not rescued and re-run";
  ASSERT_TRUE(stores.jobs->RequestCancel(stores.tenant_id, id, SystemClock::Instance().NowMillis()).ok());
  EXPECT_TRUE(wait_for([](const Job& j) { return j.state == JobState::kCanceled; }));
  stores = Stores{};
  RemoveTree(dir);
}

}  // namespace
}  // namespace quarry::testing
