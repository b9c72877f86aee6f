// Helpers shared by the end-to-end benchmarks (bench/ingest, bench/query): child processes, a
// `quarry serve` on a fresh data dir, an engine with the server's settings, the benchmark data.
// Benchmarks are programs, not tests: they die with a message on any failure.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace quarry::bench {

using Steady = std::chrono::steady_clock;

// Prefixes messages of Die ("bench/ingest").
void SetBenchName(std::string name);
[[noreturn]] void Die(const std::string& why);
double Since(Steady::time_point start);

std::unique_ptr<engine::Database> Engine(const std::string& temp, int threads, std::int64_t memory_limit,
                                         bool parquet_metadata_cache = false);
void Sql(engine::Database& db, const std::string& sql);
// `rows` orders: id, customer, amount, day, region, note (about 72 bytes a row as CSV), written
// deterministically (by `seed`) as CSV with a header.
void Generate(engine::Database& db, const std::string& path, long long rows, long long seed);

// Starts `args` (argv[0] a path) with stdout and stderr appended to `out_file`.
pid_t Spawn(const std::vector<std::string>& args, const std::string& out_file);
int Wait(pid_t pid);  // the exit code (128 when killed)
long long PeakRss(pid_t pid);  // VmHWM, bytes

struct Server {
  pid_t pid = -1;
  std::string url;  // http://127.0.0.1:port
  std::string dir;
};
// `quarry serve --demo` on `dir` with `--set` for each of `settings` ("key=value"); waits until
// it listens (30 s at most). The log goes to dir + ".log".
Server StartServer(const std::string& binary, const std::string& dir, const std::vector<std::string>& settings);
std::string Key(const std::string& file);  // the first line

}  // namespace quarry::bench
