// `quarry jobs` and `quarry job ID [--follow]`: the job queue from a terminal, over the REST API.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <boost/json.hpp>

#include <cmath>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "cli/commands.h"
#include "client/api_client.h"

namespace quarry::cli {
namespace {

struct ClientFlags {
  std::string url;
  std::string key;
  std::string key_file;
  std::string data_dir;
};

struct JobsArgs {
  std::string state, kind, job_id;
  bool watch = false;
  bool follow = false;
  int interval_ms = 500;
  int limit = 50;
};

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// --url, else QUARRY_URL, else the address the server in --data-dir (default ./data) wrote.
Result<client::ApiClient*> MakeClient(const ClientFlags& flags, std::unique_ptr<client::ApiClient>* holder) {
  std::string url = flags.url;
  if (url.empty()) {
    if (const char* env = std::getenv("QUARRY_URL")) url = env;
  }
  if (url.empty()) {
    std::ifstream addr((flags.data_dir.empty() ? std::string("./data") : flags.data_dir) + "/server.addr");
    std::string line;
    if (std::getline(addr, line) && !Trim(line).empty()) url = "http://" + Trim(line);
  }
  if (url.empty()) url = "http://127.0.0.1:8080";
  std::string key = flags.key;
  if (key.empty() && !flags.key_file.empty()) {
    std::ifstream file(flags.key_file);
    if (!file) return InvalidArgument("no_key", "cannot read the key file " + flags.key_file);
    std::getline(file, key);
    key = Trim(key);
  }
  if (key.empty()) {
    if (const char* env = std::getenv("QUARRY_API_KEY")) key = env;
  }
  if (key.empty()) return InvalidArgument("no_key", "pass --key, --key-file or set QUARRY_API_KEY");
  *holder = std::make_unique<client::ApiClient>(url, key);
  return holder->get();
}

Result<boost::json::value> GetJson(client::ApiClient& api, const std::string& path) {
  QUARRY_ASSIGN_OR_RETURN(client::ApiResponse response, api.Send("GET", path));
  if (response.status != 200) return client::ApiClient::ProblemOf(response);
  boost::system::error_code ec;
  auto json = boost::json::parse(response.body, ec);
  if (ec) return Internal("bad_response", "the server answered something that is not JSON");
  return json;
}

std::string Text(const boost::json::value& v, const char* key) {
  const auto* o = v.if_object();
  if (!o) return "";
  auto it = o->find(key);
  if (it == o->end() || !it->value().is_string()) return "";
  return std::string(it->value().as_string());
}

double Number(const boost::json::value& v, const char* key, double fallback = -1) {
  const auto* o = v.if_object();
  if (!o) return fallback;
  auto it = o->find(key);
  if (it == o->end()) return fallback;
  if (it->value().is_double()) return it->value().as_double();
  if (it->value().is_int64()) return static_cast<double>(it->value().as_int64());
  return fallback;
}

// "[########------------]  40%  sleeping  4/10 steps"
std::string ProgressLine(const boost::json::value& job) {
  const auto& progress = job.at("progress");
  const double percent = Number(progress, "percent");
  const std::string state = Text(job, "state");
  constexpr int kWidth = 24;
  std::string bar;
  if (percent >= 0) {
    const int filled = static_cast<int>(std::lround(percent / 100.0 * kWidth));
    bar = "[" + std::string(filled, '#') + std::string(kWidth - filled, '-') + "]" + fmt::format(" {:3.0f}%", percent);
  } else {
    bar = "[" + std::string(kWidth, '.') + "]    ";
  }
  std::string line = fmt::format("{} {:<10}", bar, state);
  const std::string phase = Text(progress, "phase");
  if (!phase.empty()) line += " " + phase;
  const double total = Number(progress, "total", 0);
  if (total > 0) {
    line += fmt::format(" {:.0f}/{:.0f} {}", Number(progress, "done", 0), total, Text(progress, "unit"));
  }
  if (state == "queued" && job.as_object().contains("queue_position") && job.at("queue_position").is_int64()) {
    line += fmt::format(" (position {})", job.at("queue_position").as_int64());
  }
  const std::string message = Text(progress, "message");
  if (!message.empty()) line += " - " + message;
  return line;
}

bool IsFinal(const std::string& state) { return state == "succeeded" || state == "failed" || state == "canceled"; }

int Report(const Status& st) {
  fmt::print(stderr, "error: {}\n", st.message());
  return st.category() == ErrorCode::kInvalidArgument ? 2 : 1;
}

int RunJob(const ClientFlags& flags, const JobsArgs& args) {
  std::unique_ptr<client::ApiClient> holder;
  auto api = MakeClient(flags, &holder);
  if (!api.ok()) return Report(api.status());
  const bool tty = ::isatty(STDOUT_FILENO) == 1;
  std::string last_line;
  while (true) {
    auto job = GetJson(**api, "/v1/jobs/" + args.job_id);
    if (!job.ok()) return Report(job.status());
    const std::string state = Text(*job, "state");
    const std::string line = ProgressLine(*job);
    if (!args.follow) {
      fmt::print("{}  {}  attempt {}/{}\n{}\n", Text(*job, "id"), Text(*job, "kind"),
                 static_cast<int>(Number(*job, "attempt", 0)), static_cast<int>(Number(*job, "max_attempts", 0)), line);
    } else if (line != last_line) {
      // On a terminal the bar is redrawn in place; in a pipe each change is a line.
      if (tty) fmt::print("\r\033[K{}", line);
      else fmt::print("{}\n", line);
      std::fflush(stdout);
      last_line = line;
    }
    if (!args.follow || IsFinal(state)) {
      if (args.follow && tty) fmt::print("\n");
      if (const auto* error = job->as_object().if_contains("error"); error && error->is_object()) {
        fmt::print("error: {}: {}\n", Text(*error, "code"), Text(*error, "message"));
      }
      if (!IsFinal(state)) return 0;
      return state == "succeeded" ? 0 : 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(args.interval_ms));  // polling pace
  }
}

int RunJobs(const ClientFlags& flags, const JobsArgs& args) {
  std::unique_ptr<client::ApiClient> holder;
  auto api = MakeClient(flags, &holder);
  if (!api.ok()) return Report(api.status());
  std::string path = "/v1/jobs?limit=" + std::to_string(args.limit);
  if (!args.state.empty()) path += "&state=" + args.state;
  if (!args.kind.empty()) path += "&kind=" + args.kind;
  while (true) {
    auto page = GetJson(**api, path);
    if (!page.ok()) return Report(page.status());
    std::string out = fmt::format("{:<31} {:<10} {:<24} {}\n", "ID", "KIND", "CREATED", "PROGRESS");
    for (const auto& job : page->at("items").as_array()) {
      out += fmt::format("{:<31} {:<10} {:<24} {}\n", Text(job, "id"), Text(job, "kind").substr(0, 10),
                         Text(job, "created_at"), ProgressLine(job));
    }
    if (args.watch && ::isatty(STDOUT_FILENO) == 1) fmt::print("\033[H\033[2J");
    fmt::print("{}", out);
    std::fflush(stdout);
    if (!args.watch) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(std::max(200, args.interval_ms)));
  }
}

void AddClientFlags(CLI::App* command, ClientFlags* flags) {
  command->add_option("--url", flags->url, "server URL (also QUARRY_URL; default: DATA_DIR/server.addr, then http://127.0.0.1:8080)");
  command->add_option("--key", flags->key, "API key (also QUARRY_API_KEY)");
  command->add_option("--key-file", flags->key_file, "file holding the API key, e.g. data/secrets/demo.key");
  command->add_option("--data-dir", flags->data_dir, "data dir whose server.addr names the server (default ./data)");
}

}  // namespace

void AddJobCommands(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<ClientFlags>();
  auto args = std::make_shared<JobsArgs>();

  CLI::App* jobs = app.add_subcommand("jobs", "list your jobs (owners and admins: the tenant's)");
  AddClientFlags(jobs, flags.get());
  jobs->add_option("--state", args->state, "queued, running, succeeded, failed or canceled");
  jobs->add_option("--kind", args->kind, "only this kind");
  jobs->add_option("--limit", args->limit, "how many (1..1000)")->check(CLI::Range(1, 1000));
  jobs->add_flag("--watch", args->watch, "refresh until interrupted");
  jobs->callback([=] { *exit_code = RunJobs(*flags, *args); });

  CLI::App* job = app.add_subcommand("job", "show one job; --follow draws its progress until it ends");
  AddClientFlags(job, flags.get());
  job->add_option("id", args->job_id, "job id (job_...)")->required();
  job->add_flag("--follow", args->follow, "follow until the job ends; exit 0 if it succeeded, 1 otherwise");
  job->add_option("--interval-ms", args->interval_ms, "polling interval")->check(CLI::Range(50, 60'000));
  job->callback([=] { *exit_code = RunJob(*flags, *args); });
}

}  // namespace quarry::cli
