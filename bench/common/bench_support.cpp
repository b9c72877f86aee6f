#include "common/bench_support.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>

extern char** environ;

namespace quarry::bench {

namespace fs = std::filesystem;
using engine::QuoteLiteral;

double Since(Steady::time_point start) { return std::chrono::duration<double>(Steady::now() - start).count(); }

namespace {
std::string& BenchName() {
  static std::string name = "bench";
  return name;
}
}  // namespace

void SetBenchName(std::string name) { BenchName() = std::move(name); }

[[noreturn]] void Die(const std::string& why) {
  fmt::print(stderr, "{}: {}\n", BenchName(), why);
  std::exit(1);
}

std::unique_ptr<engine::Database> Engine(const std::string& temp, int threads, std::int64_t memory_limit,
                                         bool parquet_metadata_cache) {
  engine::EngineOptions options;
  options.parquet_metadata_cache = parquet_metadata_cache;
  options.threads = threads;
  options.memory_limit_bytes = memory_limit;
  options.temp_directory = temp;
  auto db = engine::OpenDatabase(options);
  if (!db.ok()) Die(db.status().ToString());
  return std::move(db).value();
}

void Sql(engine::Database& db, const std::string& sql) {
  auto conn = db.Connect();
  if (!conn.ok()) Die(conn.status().ToString());
  auto r = (*conn)->Execute(sql);
  if (!r.ok()) Die(r.status().ToString() + " in: " + sql.substr(0, 200));
}

void Generate(engine::Database& db, const std::string& path, long long rows, long long seed) {
  Sql(db, fmt::format(
              "COPY (SELECT i + {1} AS id, 'customer_' || ((i * 7919 + {1}) % 100003) AS customer, "
              "round(((i * 37 + {1}) % 1000000) / 100.0, 2) AS amount, DATE '2020-01-01' + CAST(i % 1800 AS INTEGER) AS day, "
              "['north','south','east','west','central'][1 + i % 5] AS region, "
              "'order note ' || (i % 9973) || ' for review' AS note FROM range({0}) t(i)) TO {2} (HEADER, DELIMITER ',')",
              rows, seed, QuoteLiteral(path)));
}

pid_t Spawn(const std::vector<std::string>& args, const std::string& out_file) {
  std::vector<char*> argv;
  std::vector<std::string> copy = args;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, out_file.c_str(), O_WRONLY | O_APPEND, 0644);
  pid_t pid = -1;
  if (posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ) != 0) Die("cannot start " + args[0]);
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

int Wait(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

long long PeakRss(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  }
  return -1;
}


Server StartServer(const std::string& binary, const std::string& dir, const std::vector<std::string>& settings) {
  Server s;
  s.dir = dir;
  std::vector<std::string> args = {binary, "serve", "--data-dir", dir, "--listen", "127.0.0.1:0", "--demo",
                                   "--set", "log.access=false", "--set", "log.level=warn",
                                   // A few keys send every request: their rate quota is not what is measured.
                                   "--set", "quota.requests_per_second=0"};
  for (const auto& setting : settings) {
    args.push_back("--set");
    args.push_back(setting);
  }
  s.pid = Spawn(args, dir + ".log");
  const auto deadline = Steady::now() + std::chrono::seconds(30);
  while (!fs::exists(dir + "/server.addr") && Steady::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // benchmark start-up pacing, not a test
  }
  std::ifstream addr(dir + "/server.addr");
  std::string line;
  if (!std::getline(addr, line)) Die("the server did not start; see " + dir + ".log");
  s.url = "http://" + line;
  return s;
}

std::string Key(const std::string& file) {
  std::ifstream in(file);
  std::string key;
  std::getline(in, key);
  return key;
}

}  // namespace quarry::bench
