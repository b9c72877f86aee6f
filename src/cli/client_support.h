// Shared by the CLI's client commands (`jobs`, `job`, `upload`, `datasets`): which server and
// key to use, JSON helpers, the job progress line, and following a job until it ends.
#pragma once

#include <boost/json.hpp>

#include <memory>
#include <string>

#include "client/api_client.h"
#include "common/status.h"

namespace CLI {
class App;
}

namespace quarry::cli {

struct ClientFlags {
  std::string url;
  std::string key;
  std::string key_file;
  std::string data_dir;
};

// --url/--server, else QUARRY_URL, else the address the server in --data-dir (default ./data)
// wrote, else http://127.0.0.1:8080; --key, else --key-file, else QUARRY_API_KEY.
Result<client::ApiClient*> MakeClient(const ClientFlags& flags, std::unique_ptr<client::ApiClient>* holder);
void AddClientFlags(CLI::App* command, ClientFlags* flags);

Result<boost::json::value> GetJson(client::ApiClient& api, const std::string& path);
std::string Text(const boost::json::value& v, const char* key);
double Number(const boost::json::value& v, const char* key, double fallback = -1);
std::string Trim(std::string s);

// "[########------------]  40%  running  writing 4/10 bytes"
std::string ProgressLine(const boost::json::value& job);
bool IsFinal(const std::string& state);
// Prints the error; returns the exit code (2 for usage errors, 1 otherwise).
int Report(const Status& st);
// Draws the job's progress until it ends (redrawn in place on a terminal, one line per change in
// a pipe); prints the error of a failed job. Exit code 0 when it succeeded, 1 otherwise.
int FollowJob(client::ApiClient& api, const std::string& job_id, int interval_ms);

}  // namespace quarry::cli
