// Integration-test harness: starts the real `quarry` binary on a free loopback port with a
// temporary data dir, and talks to it over HTTP (libcurl) or raw sockets.
//
// Synchronization is by events only: the harness reads the server's output through a pipe and
// waits (with a deadline) for the line that says it is listening; it never sleeps.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace quarry::testing {

struct HttpResult {
  long status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

// Runs a command to completion, capturing stdout and stderr (bounded by `timeout`).
struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
CommandResult RunCommand(const std::vector<std::string>& args,
                         std::chrono::seconds timeout = std::chrono::seconds(30));

std::string MakeTempDir();
// Starts `args` (argv[0] an absolute path) in the background with its output discarded; the
// caller reaps it with waitpid.
pid_t SpawnQuiet(const std::vector<std::string>& args);
// A TCP port on 127.0.0.1 that was free a moment ago.
int FreePort();
void RemoveTree(const std::string& path);
std::string ReadFile(const std::string& path);
// Standard base64 with padding (tus Upload-Metadata values).
std::string Base64(const std::string& in);

class QuarryServer {
 public:
  // Starts `quarry serve --data-dir <temp> --listen 127.0.0.1:0 --demo <extra_args...>` and
  // waits until it listens. Fails the current test (ADD_FAILURE) when it does not within 30 s.
  // `listen` replaces 127.0.0.1:0 (e.g. to restart a server on the same port).
  explicit QuarryServer(std::vector<std::string> extra_args = {}, std::string data_dir = "",
                        std::string listen = "127.0.0.1:0");
  ~QuarryServer();
  QuarryServer(const QuarryServer&) = delete;
  QuarryServer& operator=(const QuarryServer&) = delete;

  bool started() const { return started_; }
  const std::string& address() const { return address_; }  // "127.0.0.1:port"
  const std::string& data_dir() const { return data_dir_; }
  std::string demo_key() const;
  std::string operator_key() const;
  std::string host() const;
  int port() const;

  HttpResult Request(const std::string& method, const std::string& path, const std::string& key = "",
                     const std::string& body = "",
                     const std::vector<std::string>& extra_headers = {}) const;

  // Polls GET /v1/jobs/{job_id} with `key` until the job is final (60 s at most); returns its
  // state ("succeeded", "failed", "canceled"), or "timeout".
  std::string WaitForJob(const std::string& key, const std::string& job_id) const;

  // Sends SIGTERM (or `signal`) and waits for exit; returns the exit status (-1 on timeout).
  int Stop(int signal = 15, std::chrono::seconds timeout = std::chrono::seconds(30));
  // Waits until a line of the server's output satisfies `predicate`.
  bool WaitForOutput(const std::function<bool(const std::string&)>& predicate,
                     std::chrono::milliseconds timeout = std::chrono::milliseconds(10'000));
  std::vector<std::string> OutputLines();

  // Runs `quarry admin ...` against this server's data dir.
  CommandResult Admin(std::vector<std::string> args) const;

 private:
  void ReadOutput(int fd);

  std::string data_dir_;
  bool own_data_dir_ = false;
  pid_t pid_ = -1;
  bool started_ = false;
  bool exited_ = false;
  std::string address_;
  std::thread reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
  bool eof_ = false;
};

// A raw TCP connection for malformed or slow HTTP.
class RawConnection {
 public:
  RawConnection(const std::string& host, int port);
  ~RawConnection();
  bool connected() const { return fd_ >= 0; }
  bool Send(const std::string& bytes);
  // Reads until the peer closes the connection or `timeout` passes. Sets *closed accordingly.
  std::string ReadUntilClosed(std::chrono::milliseconds timeout, bool* closed);
  // Reads until `needle` appears in the data read so far, or `timeout`.
  std::string ReadUntil(const std::string& needle, std::chrono::milliseconds timeout);

 private:
  int fd_ = -1;
};

}  // namespace quarry::testing
