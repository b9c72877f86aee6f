#include "cli/client_support.h"

#include <CLI/CLI.hpp>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <thread>

#include <fmt/format.h>

namespace quarry::cli {

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

double Number(const boost::json::value& v, const char* key, double fallback) {
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
  // The stable code first (scripts match it), as for a failed job below.
  if (st.code().empty()) {
    fmt::print(stderr, "error: {}\n", st.message());
  } else {
    fmt::print(stderr, "error: {}: {}\n", st.code(), st.message());
  }
  return st.category() == ErrorCode::kInvalidArgument ? 2 : 1;
}

int FollowJob(client::ApiClient& api, const std::string& job_id, int interval_ms) {
  const bool tty = ::isatty(STDOUT_FILENO) == 1;
  std::string last_line;
  while (true) {
    auto job = GetJson(api, "/v1/jobs/" + job_id);
    if (!job.ok()) return Report(job.status());
    const std::string state = Text(*job, "state");
    const std::string line = ProgressLine(*job);
    if (line != last_line) {
      if (tty) fmt::print("\r\033[K{}", line);
      else fmt::print("{}\n", line);
      std::fflush(stdout);
      last_line = line;
    }
    if (IsFinal(state)) {
      if (tty) fmt::print("\n");
      if (const auto* error = job->as_object().if_contains("error"); error && error->is_object()) {
        fmt::print(stderr, "error: {}: {}\n", Text(*error, "code"), Text(*error, "message"));
      }
      return state == "succeeded" ? 0 : 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));  // polling pace
  }
}

void AddClientFlags(CLI::App* command, ClientFlags* flags) {
  command->add_option("--url,--server", flags->url, "server URL (also QUARRY_URL; default: DATA_DIR/server.addr, then http://127.0.0.1:8080)");
  command->add_option("--key", flags->key, "API key (also QUARRY_API_KEY)");
  command->add_option("--key-file", flags->key_file, "file holding the API key, e.g. data/secrets/demo.key");
  command->add_option("--data-dir", flags->data_dir, "data dir whose server.addr names the server (default ./data)");
}

}  // namespace quarry::cli
