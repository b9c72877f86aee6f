// bench/ingest: uploads end to end against DuckDB alone, measured in the same run.
//
//   big       8,000,000 rows (~580 MB CSV generated deterministically with DuckDB's range()):
//             (a) DuckDB alone in this process: COPY (FROM read_csv(...)) TO parquet, with the
//                 server's ingestion threads and memory limit;
//             (a') the same with preserve_insertion_order=false, as the server converts (rows in
//                 any order: ingest.preserve_row_order), for a like-for-like view;
//             (b) `quarry upload` (tus, then following the job) from first byte to job succeeded.
//             Target: (b)/(a) <= 1.3; the server's peak RSS (VmHWM) <= 1.5 GiB; the data dir grows
//             by at most 2 x the file while one upload is ingested (sampled). Also (c): writing
//             and fsyncing the same file, the floor under any upload; best of 3 rounds each.
//   many      20 tenants each uploading 2 files of ~25 MB at once (40 `quarry upload` processes);
//             all must succeed. Target: wall clock <= 1.3 x the sum of DuckDB-alone conversion
//             times of those 40 files (no overhead beyond what the cores impose).
//
// Usage: quarry_bench_ingest QUARRY_BINARY OUT_JSON [ROWS] [SMALL_ROWS]
// Writes OUT_JSON: {"bench": "ingest", "figures": {...}, "checks": [...]}.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <atomic>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "client/api_client.h"
#include "common/bench_support.h"
#include "engine/engine.h"

namespace {

namespace fs = std::filesystem;
using quarry::engine::QuoteLiteral;
using namespace quarry::bench;

constexpr int kThreads = 2;
constexpr std::int64_t kMemoryLimit = 1LL << 30;
constexpr int kRounds = 3;






// `any_order`: preserve_insertion_order=false, as the server ingests (ingest.preserve_row_order).
double DuckDbAlone(const std::string& csv, const std::string& work, bool any_order = false) {
  auto db = Engine(work + "/duck_tmp", kThreads, kMemoryLimit);
  if (any_order) Sql(*db, "SET preserve_insertion_order=false");
  const std::string out = work + "/alone.parquet";
  auto start = Steady::now();
  Sql(*db, fmt::format("COPY (FROM read_csv({})) TO {} (FORMAT parquet, COMPRESSION zstd)", QuoteLiteral(csv),
                       QuoteLiteral(out)));
  const double seconds = Since(start);
  fs::remove(out);
  return seconds;
}

// The floor under any upload: copying the file into a new file on the same file system in 1 MiB
// writes and fsyncing it, as the server must before it acknowledges the upload.
double DiskWrite(const std::string& from, const std::string& to) {
  std::ifstream in(from, std::ios::binary);
  const int fd = ::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (!in || fd < 0) Die("cannot copy " + from);
  std::vector<char> chunk(1 << 20);
  auto start = Steady::now();
  while (in.read(chunk.data(), static_cast<std::streamsize>(chunk.size())) || in.gcount() > 0) {
    if (::write(fd, chunk.data(), static_cast<std::size_t>(in.gcount())) != in.gcount()) Die("write failed");
  }
  ::fsync(fd);
  const double seconds = Since(start);
  ::close(fd);
  fs::remove(to);
  return seconds;
}

// Bytes of every file under `dir`.
std::uintmax_t TreeBytes(const std::string& dir) {
  std::uintmax_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    std::error_code size_error;
    if (it->is_regular_file(size_error)) {
      const auto size = it->file_size(size_error);
      if (!size_error) total += size;
    }
  }
  return total;
}

// Samples the bytes under `dir` every 20 ms while alive; peak() is the most seen above the
// bytes present when sampling began (what one upload and its ingestion add at their worst).
class DiskSampler {
 public:
  explicit DiskSampler(std::string dir) : dir_(std::move(dir)), base_(TreeBytes(dir_)) {
    thread_ = std::thread([this] {
      while (!stop_.load()) {
        const std::uintmax_t now = TreeBytes(dir_);
        if (now > base_) peak_ = std::max<std::uintmax_t>(peak_, now - base_);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));  // sampling pace, not a test
      }
    });
  }
  ~DiskSampler() { Stop(); }
  void Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  std::uintmax_t peak() const { return peak_; }

 private:
  std::string dir_;
  std::uintmax_t base_;
  std::uintmax_t peak_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// For reference only: PostgreSQL's COPY FROM of the same file into an unlogged table, when
// BENCH_INGEST_PG_URL names a server (psql on the PATH). Negative when not measured.
double PostgresCopy(const std::string& csv, const std::string& work) {
  const char* url = std::getenv("BENCH_INGEST_PG_URL");
  if (!url || !*url) return -1;
  const std::string table = "quarry_bench_orders";
  const std::string psql = "/usr/bin/psql";
  auto run = [&](const std::string& sql) {
    return Wait(Spawn({psql, url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql}, work + "/psql.log"));
  };
  if (run("DROP TABLE IF EXISTS " + table + "; CREATE UNLOGGED TABLE " + table +
          " (id bigint, customer text, amount numeric, day date, region text, note text)") != 0) {
    return -1;
  }
  auto start = Steady::now();
  const int copied = run("\\copy " + table + " FROM '" + csv + "' WITH (FORMAT csv, HEADER true)");
  const double seconds = Since(start);
  (void)run("DROP TABLE IF EXISTS " + table);
  return copied == 0 ? seconds : -1;
}







}  // namespace

int main(int argc, char** argv) {
  SetBenchName("bench/ingest");
  if (argc < 3) Die("usage: quarry_bench_ingest QUARRY_BINARY OUT_JSON [ROWS] [SMALL_ROWS]");
  const std::string binary = argv[1];
  const std::string out_json = argv[2];
  const long long rows = argc > 3 ? std::atoll(argv[3]) : 8'000'000;
  const long long small_rows = argc > 4 ? std::atoll(argv[4]) : 350'000;
  const std::string work = fs::temp_directory_path() / fmt::format("quarry-bench-ingest-{}", ::getpid());
  fs::create_directories(work);

  // --- big file ---
  const std::string big = work + "/orders.csv";
  {
    auto db = Engine(work + "/gen_tmp", kThreads, kMemoryLimit);
    Generate(*db, big, rows, 0);
    Generate(*db, work + "/small_a.csv", small_rows, 11);
    Generate(*db, work + "/small_b.csv", small_rows, 22);
  }
  const double big_bytes = static_cast<double>(fs::file_size(big));
  const double postgres = PostgresCopy(big, work);

  // The machine is shared and its disk noisy: (a), (b) and (c) are measured kRounds times,
  // interleaved so that drift hits them alike, and the best of each is reported.
  Server server = StartServer(binary, work + "/data",
                              {fmt::format("ingest.threads={}", kThreads), fmt::format("ingest.memory_limit={}", kMemoryLimit),
                               "jobs.max_running_per_tenant=2"});
  const std::string demo_key = Key(server.dir + "/secrets/demo.key");
  double alone = 1e9, alone_any_order = 1e9, disk = 1e9, quarry_seconds = 1e9;
  std::uintmax_t peak_disk = 0;
  for (int round = 0; round < kRounds; ++round) {
    alone = std::min(alone, DuckDbAlone(big, work));
    alone_any_order = std::min(alone_any_order, DuckDbAlone(big, work, true));
    disk = std::min(disk, DiskWrite(big, work + "/disk_floor.csv"));
    DiskSampler sampler(server.dir);
    auto start = Steady::now();
    const int exit = Wait(Spawn({binary, "upload", big, "--dataset", fmt::format("orders{}", round), "--server",
                                 server.url, "--key", demo_key},
                                work + "/upload_big.log"));
    quarry_seconds = std::min(quarry_seconds, Since(start));
    sampler.Stop();
    peak_disk = std::max(peak_disk, sampler.peak());
    if (exit != 0) Die("quarry upload of the big file failed; see " + work + "/upload_big.log");
  }
  const long long big_rss = PeakRss(server.pid);

  // --- many users ---
  const double small_a = DuckDbAlone(work + "/small_a.csv", work);
  const double small_b = DuckDbAlone(work + "/small_b.csv", work);
  const double small_sum = 20 * (small_a + small_b);
  quarry::client::ApiClient op(server.url, Key(server.dir + "/secrets/operator.key"));
  std::vector<std::string> keys;
  for (int t = 0; t < 20; ++t) {
    auto created = op.Send("POST", "/v1/admin/tenants",
                           fmt::format(R"({{"slug":"bench{}","name":"Bench {}","owner_email":"o@bench{}.io"}})", t, t, t));
    if (!created.ok() || created->status != 201) Die("creating a tenant failed");
    keys.emplace_back(boost::json::parse(created->body).at("owner_key").at("secret").as_string());
  }
  auto start = Steady::now();
  std::vector<pid_t> uploads;
  for (int t = 0; t < 20; ++t) {
    for (const char* file : {"small_a", "small_b"}) {
      uploads.push_back(Spawn({binary, "upload", work + "/" + file + ".csv", "--dataset", file, "--server", server.url,
                               "--key", keys[t]},
                              fmt::format("{}/upload_{}_{}.log", work, t, file)));
    }
  }
  int failed = 0;
  for (pid_t pid : uploads) failed += Wait(pid) != 0;
  const double many_seconds = Since(start);
  const long long many_rss = PeakRss(server.pid);
  ::kill(server.pid, SIGTERM);
  Wait(server.pid);

  const double ratio = quarry_seconds / alone;
  const double over_floor = quarry_seconds / (alone + disk);
  const double many_ratio = many_seconds / small_sum;
  fmt::print("{:<44} {:>12}\n", "figure", "value");
  fmt::print("{:<44} {:>12.0f}\n", "big file rows", static_cast<double>(rows));
  fmt::print("{:<44} {:>12.1f}\n", "big file MB", big_bytes / 1e6);
  fmt::print("{:<44} {:>12.2f}\n", "(a) DuckDB alone, CSV -> Parquet, s", alone);
  fmt::print("{:<44} {:>12.2f}  ({:.2f} x DuckDB alone; target <= 1.3)\n", "(b) quarry upload to job succeeded, s",
             quarry_seconds, ratio);
  fmt::print("{:<44} {:>12.2f}  ((b) is {:.2f} x this)\n", "(a') same, rows in any order (as Quarry), s",
             alone_any_order, quarry_seconds / alone_any_order);
  fmt::print("{:<44} {:>12.2f}\n", "(c) writing + fsyncing the file alone, s", disk);
  fmt::print("{:<44} {:>12.2f}\n", "(b) / ((a) + (c)): overhead beyond the floor", over_floor);
  fmt::print("{:<44} {:>12.0f}\n", "(b) rows/s", static_cast<double>(rows) / quarry_seconds);
  fmt::print("{:<44} {:>12.0f}  (target <= 1536)\n", "server peak RSS after the big upload, MiB", big_rss / 1048576.0);
  fmt::print("{:<44} {:>12.2f}  (target <= 2)\n", "peak data-dir growth during one upload / file",
             static_cast<double>(peak_disk) / big_bytes);
  if (postgres >= 0) {
    fmt::print("{:<44} {:>12.2f}  ({:.2f} x DuckDB alone; for reference)\n", "PostgreSQL COPY FROM (unlogged table), s",
               postgres, postgres / alone);
  } else {
    fmt::print("{:<44} {:>12}\n", "PostgreSQL COPY FROM, s", "n/a (set BENCH_INGEST_PG_URL)");
  }
  fmt::print("{:<44} {:>12.2f}\n", "many: sum of DuckDB-alone times (40 files), s", small_sum);
  fmt::print("{:<44} {:>12.2f}  ({:.2f} x the sum; target <= 1.3; {} failed)\n", "many: 20 tenants x 2 uploads, wall s",
             many_seconds, many_ratio, failed);
  fmt::print("{:<44} {:>12.0f}\n", "server peak RSS after many users, MiB", many_rss / 1048576.0);

  boost::json::object figures{{"rows", rows},
                              {"file_mb", big_bytes / 1e6},
                              {"duckdb_alone_s", alone},
                              {"quarry_upload_s", quarry_seconds},
                              {"upload_vs_duckdb", ratio},
                              {"duckdb_alone_any_order_s", alone_any_order},
                              {"upload_vs_duckdb_any_order", quarry_seconds / alone_any_order},
                              {"disk_write_s", disk},
                              {"postgres_copy_s", postgres >= 0 ? boost::json::value(postgres) : boost::json::value(nullptr)},
                              {"upload_vs_duckdb_plus_disk", over_floor},
                              {"rows_per_s", static_cast<double>(rows) / quarry_seconds},
                              {"peak_rss_mib", big_rss / 1048576.0},
                              {"peak_disk_vs_file", static_cast<double>(peak_disk) / big_bytes},
                              {"many_sum_duckdb_s", small_sum},
                              {"many_wall_s", many_seconds},
                              {"many_vs_sum", many_ratio},
                              {"many_failed", failed},
                              {"many_peak_rss_mib", many_rss / 1048576.0}};
  boost::json::array checks{
      {{"name", "upload_vs_duckdb"}, {"value", ratio}, {"op", "<="}, {"target", 1.3}},
      {{"name", "peak_rss_mib"}, {"value", big_rss / 1048576.0}, {"op", "<="}, {"target", 1536}},
      {{"name", "peak_disk_vs_file"}, {"value", static_cast<double>(peak_disk) / big_bytes}, {"op", "<="}, {"target", 2.0}},
      {{"name", "many_vs_sum"}, {"value", many_ratio}, {"op", "<="}, {"target", 1.3}},
      {{"name", "many_failed"}, {"value", failed}, {"op", "<="}, {"target", 0}}};
  fs::create_directories(fs::path(out_json).parent_path());
  std::ofstream(out_json) << boost::json::serialize(boost::json::object{
                                 {"bench", "ingest"}, {"figures", figures}, {"checks", checks}})
                          << "\n";
  fmt::print("wrote {}\n", out_json);
  std::error_code ec;
  fs::remove_all(work, ec);
  return 0;
}
