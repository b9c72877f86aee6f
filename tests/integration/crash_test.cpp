// Reliability: with 10 uploads and ingestions in flight, the server is killed with SIGKILL five
// times (mid-upload, mid-ingest, around publishing) and restarted on the same data dir and port.
// Afterwards every job is final, every dataset is absent or complete with exactly its expected
// row count and a single version (resumed uploads and retried ingestions made no duplicates),
// and no orphaned files remain. The kill moments are chosen by observed state, not by timers.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <boost/json.hpp>

#include <filesystem>
#include <fstream>
#include <set>

#include "integration/harness.h"


namespace quarry::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr int kUploads = 10;

// Files under `dir` whose name starts with `prefix`, with their sizes.
std::map<std::string, std::uintmax_t> Files(const std::string& dir, const std::string& prefix = "") {
  std::map<std::string, std::uintmax_t> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); ++it) {
    if (it->is_regular_file() && it->path().filename().string().rfind(prefix, 0) == 0) {
      out[it->path().string()] = it->file_size(ec);
    }
  }
  return out;
}

class Cluster {
 public:
  Cluster() : dir_(MakeTempDir()), port_(FreePort()) { Start(); }
  ~Cluster() {
    server_.reset();
    RemoveTree(dir_);
  }
  void Start() {
    server_ = std::make_unique<QuarryServer>(
        std::vector<std::string>{"--set", "log.access=false", "--set", "jobs.heartbeat=200ms", "--set", "ingest.threads=1",
                                 "--set", "ingest.memory_limit=256MiB"},
        dir_, "127.0.0.1:" + std::to_string(port_));
  }
  void KillAndRestart() {
    server_->Stop(SIGKILL);
    server_.reset();
    Start();
  }
  QuarryServer& server() { return *server_; }
  const std::string& dir() const { return dir_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  std::string dir_;
  int port_;
  std::unique_ptr<QuarryServer> server_;
};

// Waits (bounded) until `done()`; the wait is a poll of observable state.
bool Await(const std::function<bool()>& done, std::chrono::seconds limit = 60s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
  }
  return true;
}

TEST(Crash, KilledFiveTimesWithUploadsAndIngestionsInFlightLosesNothingAndLeavesNoOrphans) {
  Cluster cluster;
  ASSERT_TRUE(cluster.server().started());
  const std::string key = cluster.server().demo_key();
  const std::string work = MakeTempDir();
  std::vector<long long> rows(kUploads);
  std::vector<std::string> files;
  for (int i = 0; i < kUploads; ++i) {
    rows[i] = 40'000 + 7'000 * i;
    files.push_back(work + "/f" + std::to_string(i) + ".csv");
    std::ofstream out(files.back());
    out << "id,name,amount\n";
    for (long long r = 0; r < rows[i]; ++r) out << r << ",name_" << (r % 313) << "," << (r % 977) << ".5\n";
  }
  const std::string state = "XDG_STATE_HOME=" + work + "/state";
  auto upload_command = [&](int i, bool slow) {
    std::vector<std::string> c = {"/usr/bin/env", state, QUARRY_BINARY, "upload", files[i], "--dataset",
                                  "d" + std::to_string(i), "--server", cluster.url(), "--key", key, "--no-follow"};
    if (slow) c.insert(c.end(), {"--max-rate", "1500000"});
    return c;
  };
  std::vector<pid_t> clients;
  for (int i = 0; i < kUploads; ++i) clients.push_back(SpawnQuiet(upload_command(i, true)));

  const std::string uploads = cluster.dir() + "/uploads";
  auto some_bytes_arrived = [&] {
    for (const auto& [path, size] : Files(uploads, "tus_")) {
      if (size > 200'000) return true;
    }
    return false;
  };
  auto jobs_in_state = [&](const char* state_name) {
    auto r = cluster.server().Request("GET", std::string("/v1/jobs?state=") + state_name, key);
    if (r.status != 200) return 0;
    return static_cast<int>(boost::json::parse(r.body).at("items").as_array().size());
  };
  auto datasets = [&] {
    auto r = cluster.server().Request("GET", "/v1/datasets", key);
    if (r.status != 200) return 0;
    return static_cast<int>(boost::json::parse(r.body).at("items").as_array().size());
  };

  // Before each wait for work in flight, clients that gave up during the outages (or finished)
  // are started again, so that there is work to interrupt until every dataset exists.
  auto restart_exited_clients = [&] {
    for (int i = 0; i < kUploads; ++i) {
      int status = 0;
      if (::waitpid(clients[i], &status, WNOHANG) == clients[i]) clients[i] = SpawnQuiet(upload_command(i, true));
    }
  };
  // 1: mid-upload.
  ASSERT_TRUE(Await(some_bytes_arrived));
  cluster.KillAndRestart();
  ASSERT_TRUE(cluster.server().started());
  // 2: mid-ingest (a job running).
  restart_exited_clients();
  ASSERT_TRUE(Await([&] { return jobs_in_state("running") > 0 || datasets() == kUploads; }));
  cluster.KillAndRestart();
  // 3: around publishing (the first version appears).
  restart_exited_clients();
  ASSERT_TRUE(Await([&] { return datasets() > 0 || jobs_in_state("running") > 0; }));
  cluster.KillAndRestart();
  // 4 and 5: while work is still in flight; a kill once every dataset exists still tests a restart.
  for (int k = 0; k < 2; ++k) {
    restart_exited_clients();
    ASSERT_TRUE(Await([&] {
      return jobs_in_state("running") > 0 || jobs_in_state("queued") > 0 || some_bytes_arrived() ||
             datasets() == kUploads;
    }));
    cluster.KillAndRestart();
  }

  // The clients that gave up during the outages are run again: the same command resumes.
  for (pid_t pid : clients) {
    int status = 0;
    ::waitpid(pid, &status, 0);
  }
  for (int i = 0; i < kUploads; ++i) {
    CommandResult again = RunCommand(upload_command(i, false), 60s);
    const bool ok = again.exit_code == 0 || again.err.find("dataset_exists") != std::string::npos;
    EXPECT_TRUE(ok) << "upload " << i << ": " << again.out << again.err;
  }
  // Every job ends.
  ASSERT_TRUE(Await([&] { return jobs_in_state("queued") == 0 && jobs_in_state("running") == 0; }, 120s));

  // Every dataset is complete, with one version: the re-run commands finished what the crashes
  // interrupted (a job that failed after too many crashes was replaced by the re-run's upload).
  for (int i = 0; i < kUploads; ++i) {
    auto r = cluster.server().Request("GET", "/v1/datasets/d" + std::to_string(i), key);
    ASSERT_EQ(r.status, 200) << "dataset d" << i << ": " << r.body;
    auto d = boost::json::parse(r.body);
    EXPECT_EQ(d.at("row_count").as_int64(), rows[i]) << "dataset d" << i;
    EXPECT_EQ(d.at("versions").as_array().size(), 1u) << "dataset d" << i << " has duplicate versions";
  }
  // No orphans: one Parquet file per published version, and nothing in uploads/ but resumable
  // uploads that a killed server never acknowledged creating (their client could not resume
  // them, so they wait, incomplete, for ingest.upload_expiry like any abandoned upload).
  auto versions = Files(cluster.dir() + "/storage/tenants");
  EXPECT_EQ(static_cast<int>(versions.size()), datasets());
  for (const auto& [path, size] : Files(uploads)) {
    const std::string name = fs::path(path).filename().string();
    if (name.rfind("tus_", 0) == 0) {
      auto upload = cluster.server().Request("GET", "/v1/uploads/" + name.substr(4), key);
      if (upload.status == 200) {
        auto u = boost::json::parse(upload.body);
        if (u.at("job_id").is_null() && u.at("offset").as_int64() < u.at("length").as_int64()) continue;
      }
      std::string job = "(no job)";
      if (upload.status == 200) {
        auto u = boost::json::parse(upload.body);
        if (u.at("job_id").is_string()) {
          job = cluster.server().Request("GET", "/v1/jobs/" + std::string(u.at("job_id").as_string()), key).body;
        }
      }
      ADD_FAILURE() << "left behind: " << path << " " << upload.status << " " << upload.body << "; job: " << job;
      continue;
    }
    ADD_FAILURE() << "left behind: " << path;
  }
  // Attempts killed mid-ingest left DuckDB spill and partial Parquet files in their scratch
  // directories; a start-up removes those of attempts that are not running.
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(cluster.dir() + "/scratch", ec);
       !ec && it != fs::recursive_directory_iterator(); ++it) {
    if (it.depth() >= 1) ADD_FAILURE() << "left behind: " << it->path();  // scratch/{tenant}/{attempt}
  }
  // The next start sweeps nothing more.
  cluster.KillAndRestart();
  EXPECT_EQ(static_cast<int>(Files(cluster.dir() + "/storage/tenants").size()), datasets());
  RemoveTree(work);
}

}  // namespace
}  // namespace quarry::testing
