// `quarry upload FILE --dataset NAME` (resumable, with a progress bar, then follows the ingestion)
// and `quarry datasets`.
#include <CLI/CLI.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "cli/client_support.h"
#include "cli/commands.h"
#include "client/tus_uploader.h"
#include "common/ids.h"

namespace quarry::cli {
namespace {

namespace fs = std::filesystem;
using Steady = std::chrono::steady_clock;

struct UploadArgs {
  std::string file, dataset, mode = "create", format, delimiter, header, types, null_strings, project;
  long long max_bad_rows = -1;
  long long max_rate = 0;
  bool no_follow = false;
};

std::string Bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f} B", b) : fmt::format("{:.1f} {}", b, units[u]);
}

// Draws "[#####-----]  45%  512.0 MiB / 1.1 GiB  85.3 MiB/s  ETA 0:07" at most 5 times a second
// on a terminal, and every 10 % in a pipe.
class ProgressBar {
 public:
  ProgressBar(std::int64_t total, std::int64_t start) : total_(total), start_bytes_(start), tty_(::isatty(STDOUT_FILENO) == 1) {}
  void Update(std::int64_t sent, bool force = false) {
    const auto now = Steady::now();
    const double percent = total_ > 0 ? 100.0 * static_cast<double>(sent) / static_cast<double>(total_) : 100;
    if (!force) {
      if (tty_ && now - last_ < std::chrono::milliseconds(200)) return;
      if (!tty_ && percent < next_percent_) return;
    }
    last_ = now;
    next_percent_ = percent + 10;
    const double seconds = std::chrono::duration<double>(now - began_).count();
    const double rate = seconds > 0 ? static_cast<double>(sent - start_bytes_) / seconds : 0;
    std::string eta = "--:--";
    if (rate > 0) {
      const auto left = static_cast<long long>(static_cast<double>(total_ - sent) / rate);
      eta = fmt::format("{}:{:02}", left / 60, left % 60);
    }
    constexpr int kWidth = 24;
    const int filled = static_cast<int>(percent / 100.0 * kWidth);
    const std::string line = fmt::format("[{}{}] {:3.0f}%  {} / {}  {}/s  ETA {}", std::string(filled, '#'),
                                         std::string(kWidth - filled, '-'), percent, Bytes(static_cast<double>(sent)),
                                         Bytes(static_cast<double>(total_)), Bytes(rate), eta);
    if (tty_) fmt::print("\r\033[K{}", line);
    else fmt::print("{}\n", line);
    std::fflush(stdout);
  }
  void Finish() {
    if (tty_) fmt::print("\n");
  }

 private:
  const std::int64_t total_;
  const std::int64_t start_bytes_;
  const bool tty_;
  const Steady::time_point began_ = Steady::now();
  Steady::time_point last_{};
  double next_percent_ = 0;
};

// Where the upload URL of an interrupted `quarry upload` is remembered, keyed by server, file
// (path, size, modification time) and target, so that running the same command again resumes.
std::string StateFile(const std::string& server, const std::string& path, std::int64_t size, std::int64_t mtime,
                      const UploadArgs& args) {
  std::string dir;
  if (const char* xdg = std::getenv("XDG_STATE_HOME"); xdg && *xdg) dir = std::string(xdg) + "/quarry/uploads";
  else if (const char* home = std::getenv("HOME"); home && *home) dir = std::string(home) + "/.local/state/quarry/uploads";
  else dir = "/tmp/quarry-uploads-" + std::to_string(::getuid());
  std::error_code ec;
  fs::create_directories(dir, ec);
  return dir + "/" + Sha256Hex(fmt::format("{}\n{}\n{}\n{}\n{}\n{}", server, path, size, mtime, args.dataset, args.mode))
                         .substr(0, 32);
}

int RunUpload(const ClientFlags& flags, const UploadArgs& args) {
  std::unique_ptr<client::ApiClient> holder;
  auto api = MakeClient(flags, &holder);
  if (!api.ok()) return Report(api.status());
  std::error_code ec;
  const std::string path = fs::absolute(args.file, ec).string();
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return Report(InvalidArgument("cannot_read_file", "cannot read the file " + args.file));
  }
  const std::int64_t size = st.st_size;
  if (size == 0) return Report(InvalidArgument("empty_file", args.file + " is empty"));
  client::TusUploader tus((*api)->base_url(), (*api)->key(), args.max_rate);
  const std::string state_file = StateFile((*api)->base_url(), path, size, st.st_mtime, args);

  std::string upload_path;
  client::TusState state;
  if (std::ifstream in(state_file); in && std::getline(in, upload_path)) {
    auto head = tus.Head(upload_path);
    if (head.ok() && head->length == size) {
      state = *head;
      if (state.offset > 0 && state.job_path.empty()) {
        fmt::print("resuming {} at {} of {}\n", args.file, Bytes(static_cast<double>(state.offset)),
                   Bytes(static_cast<double>(size)));
      }
    } else {
      upload_path.clear();
    }
  }
  if (upload_path.empty()) {
    std::map<std::string, std::string> metadata{{"dataset", args.dataset}, {"mode", args.mode},
                                                {"filename", fs::path(path).filename().string()}};
    if (!args.format.empty()) metadata["format"] = args.format;
    if (!args.delimiter.empty()) metadata["delimiter"] = args.delimiter;
    if (!args.header.empty()) metadata["header"] = args.header;
    if (!args.types.empty()) metadata["types"] = args.types;
    if (!args.null_strings.empty()) metadata["null"] = args.null_strings;
    if (args.max_bad_rows >= 0) metadata["max_bad_rows"] = std::to_string(args.max_bad_rows);
    if (!args.project.empty()) metadata["project"] = args.project;
    auto created = tus.Create(size, metadata);
    if (!created.ok()) return Report(created.status());
    upload_path = *created;
    std::ofstream(state_file) << upload_path << "\n";
    state = client::TusState{0, size, ""};
  }

  ProgressBar bar(size, state.offset);
  int failures = 0;
  while (state.job_path.empty()) {
    auto appended = tus.Append(upload_path, path, state.offset, size, [&](std::int64_t sent) { bar.Update(sent); });
    if (appended.ok()) {
      state = *appended;
      bar.Update(state.offset, true);
      continue;
    }
    // A dropped connection or a busy server: the server kept what arrived; ask where to go on.
    const bool transient = appended.status().category() == ErrorCode::kUnavailable ||
                           appended.status().code() == "offset_mismatch" || appended.status().code() == "upload_locked";
    if (!transient || ++failures > 5) {
      bar.Finish();
      if (!transient) fs::remove(state_file, ec);
      else fmt::print(stderr, "run the same command again to resume\n");
      return Report(appended.status());
    }
    std::this_thread::sleep_for(std::chrono::seconds(1 << (failures - 1)));  // retry backoff
    auto head = tus.Head(upload_path);
    if (head.ok()) state = *head;
  }
  bar.Finish();
  fs::remove(state_file, ec);
  const std::string job_id = state.job_path.substr(state.job_path.rfind('/') + 1);
  fmt::print("uploaded {}; ingesting into '{}' as job {}\n", Bytes(static_cast<double>(size)), args.dataset, job_id);
  std::fflush(stdout);
  if (args.no_follow) return 0;
  return FollowJob(**api, job_id, 100);
}

int RunDatasets(const ClientFlags& flags) {
  std::unique_ptr<client::ApiClient> holder;
  auto api = MakeClient(flags, &holder);
  if (!api.ok()) return Report(api.status());
  auto page = GetJson(**api, "/v1/datasets?limit=1000");
  if (!page.ok()) return Report(page.status());
  fmt::print("{:<32} {:>7} {:>14} {:>12}  {}\n", "NAME", "VERSION", "ROWS", "BYTES", "UPDATED");
  for (const auto& d : page->at("items").as_array()) {
    fmt::print("{:<32} {:>7.0f} {:>14.0f} {:>12}  {}\n", Text(d, "name"), Number(d, "current_version", 0),
               Number(d, "row_count", 0), Bytes(Number(d, "byte_size", 0)), Text(d, "updated_at"));
  }
  return 0;
}

}  // namespace

void AddUploadCommands(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<ClientFlags>();
  auto args = std::make_shared<UploadArgs>();
  CLI::App* upload = app.add_subcommand(
      "upload", "upload a file as a dataset version (resumable: run the same command again after an interruption), "
                "then follow its ingestion");
  AddClientFlags(upload, flags.get());
  upload->add_option("file", args->file, "the file (CSV, TSV, JSON, NDJSON, Parquet; gzip/zstd compressed or not)")
      ->required();
  upload->add_option("--dataset", args->dataset, "dataset name")->required();
  upload->add_option("--mode", args->mode, "create, replace or append")->check(CLI::IsMember({"create", "replace", "append"}));
  upload->add_option("--format", args->format, "csv, tsv, json, ndjson or parquet (default: detected)");
  upload->add_option("--delimiter", args->delimiter, "CSV delimiter (default: detected)");
  upload->add_option("--header", args->header, "true or false (default: detected)")->check(CLI::IsMember({"true", "false"}));
  upload->add_option("--types", args->types, "column types overriding detection, e.g. id:BIGINT,day:DATE");
  upload->add_option("--null", args->null_strings, "comma-separated strings that mean NULL");
  upload->add_option("--max-bad-rows", args->max_bad_rows, "rows that cannot be read to tolerate (default 0)");
  upload->add_option("--project", args->project,
                     "create the dataset in this project (prj_...): visible to its members only");
  upload->add_option("--max-rate", args->max_rate, "cap the sending rate, in bytes per second (default: none)")
      ->check(CLI::Range(0LL, 1LL << 40));
  upload->add_flag("--no-follow", args->no_follow, "return once uploaded instead of following the ingestion");
  upload->callback([=] { *exit_code = RunUpload(*flags, *args); });

  CLI::App* datasets = app.add_subcommand("datasets", "list your tenant's datasets");
  AddClientFlags(datasets, flags.get());
  datasets->callback([=] { *exit_code = RunDatasets(*flags); });
}

}  // namespace quarry::cli
