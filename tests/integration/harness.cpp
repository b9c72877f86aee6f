#include "integration/harness.h"

#include <strings.h>

#include <arpa/inet.h>
#include <boost/json.hpp>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace quarry::testing {
namespace {

using Clock = std::chrono::steady_clock;

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_ALL); }
  ~CurlGlobal() { curl_global_cleanup(); }
};

size_t WriteBody(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

size_t WriteHeader(char* data, size_t size, size_t n, void* out) {
  std::string line(data, size * n);
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    std::string value = Trim(line.substr(colon + 1));
    value.erase(0, value.find_first_not_of(' '));
    (*static_cast<std::map<std::string, std::string>*>(out))[name] = value;
  }
  return size * n;
}

// Reads everything from `fd` until EOF or the deadline.
void Drain(int fd, std::string* out, Clock::time_point deadline) {
  char buf[4096];
  while (true) {
    int remaining = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    if (remaining <= 0) return;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, remaining) <= 0) return;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return;
    out->append(buf, static_cast<size_t>(n));
  }
}

pid_t Spawn(const std::vector<std::string>& args, int out_fd, int err_fd) {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

// Reaps `pid`. Called once its output pipes reached EOF (it has exited or is exiting); when
// `kill_first` (the deadline passed first), it is killed so the wait cannot hang.
int WaitPid(pid_t pid, bool kill_first) {
  if (kill_first) ::kill(pid, SIGKILL);
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  if (kill_first) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

std::string MakeTempDir() {
  char templ[] = "/tmp/quarry-it-XXXXXX";
  char* dir = ::mkdtemp(templ);
  return dir ? std::string(dir) : std::string();
}

void RemoveTree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

CommandResult RunCommand(const std::vector<std::string>& args, std::chrono::seconds timeout) {
  int out_pipe[2], err_pipe[2];
  CommandResult result;
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) return result;
  pid_t pid = Spawn(args, out_pipe[1], err_pipe[1]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  auto deadline = Clock::now() + timeout;
  std::thread err_reader([&] { Drain(err_pipe[0], &result.err, deadline); });
  Drain(out_pipe[0], &result.out, deadline);
  err_reader.join();
  ::close(out_pipe[0]);
  ::close(err_pipe[0]);
  result.exit_code = WaitPid(pid, Clock::now() >= deadline);
  return result;
}

pid_t SpawnQuiet(const std::vector<std::string>& args) {
  const int devnull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  const pid_t pid = Spawn(args, devnull, devnull);
  ::close(devnull);
  return pid;
}

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

QuarryServer::QuarryServer(std::vector<std::string> extra_args, std::string data_dir, std::string listen) {
  static CurlGlobal curl_global;
  if (data_dir.empty()) {
    data_dir_ = MakeTempDir();
    own_data_dir_ = true;
  } else {
    data_dir_ = data_dir;
  }
  // Tests poll in tight loops with one key: its rate quota is lifted unless a test sets its own
  // (a later --set wins). Password hashing is made cheap (the format is the same), so that sign-ins
  // stay fast, also under ASan.
  std::vector<std::string> args = {QUARRY_BINARY, "serve", "--data-dir", data_dir_, "--listen", listen, "--demo",
                                   "--set", "quota.requests_per_second=0",
                                   "--set", "auth.password_memory=64KiB", "--set", "auth.password_time_cost=1"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe failed";
    return;
  }
  pid_ = Spawn(args, fds[1], fds[1]);
  ::close(fds[1]);
  reader_ = std::thread([this, fd = fds[0]] { ReadOutput(fd); });
  started_ = WaitForOutput([](const std::string& line) { return line.find("listening on") != std::string::npos; },
                           std::chrono::seconds(30));
  if (!started_) {
    std::string out;
    for (const auto& l : OutputLines()) out += l + "\n";
    ADD_FAILURE() << "quarry did not start; output:\n" << out;
    return;
  }
  address_ = Trim(ReadFile(data_dir_ + "/server.addr"));
}

QuarryServer::~QuarryServer() {
  if (pid_ > 0 && !exited_) Stop(SIGKILL);
  if (reader_.joinable()) reader_.join();
  if (own_data_dir_) RemoveTree(data_dir_);
}

void QuarryServer::ReadOutput(int fd) {
  std::string pending;
  char buf[4096];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    pending.append(buf, static_cast<size_t>(n));
    std::size_t nl;
    std::lock_guard lock(mu_);
    while ((nl = pending.find('\n')) != std::string::npos) {
      lines_.push_back(pending.substr(0, nl));
      pending.erase(0, nl + 1);
    }
    cv_.notify_all();
  }
  ::close(fd);
  std::lock_guard lock(mu_);
  if (!pending.empty()) lines_.push_back(pending);
  eof_ = true;
  cv_.notify_all();
}

bool QuarryServer::WaitForOutput(const std::function<bool(const std::string&)>& predicate,
                                 std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  std::size_t checked = 0;
  auto deadline = Clock::now() + timeout;
  while (true) {
    for (; checked < lines_.size(); ++checked) {
      if (predicate(lines_[checked])) return true;
    }
    if (eof_) return false;
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && checked == lines_.size()) return false;
  }
}

std::vector<std::string> QuarryServer::OutputLines() {
  std::lock_guard lock(mu_);
  return lines_;
}

int QuarryServer::Stop(int signal, std::chrono::seconds timeout) {
  if (pid_ <= 0 || exited_) return -1;
  ::kill(pid_, signal);
  bool reached_eof;
  {
    std::unique_lock lock(mu_);
    reached_eof = cv_.wait_for(lock, timeout, [this] { return eof_; });
  }
  int code = WaitPid(pid_, !reached_eof);
  exited_ = true;
  if (reader_.joinable()) reader_.join();
  return code;
}

std::string Base64(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string QuarryServer::demo_key() const { return Trim(ReadFile(data_dir_ + "/secrets/demo.key")); }
std::string QuarryServer::operator_key() const { return Trim(ReadFile(data_dir_ + "/secrets/operator.key")); }
std::string QuarryServer::host() const { return address_.substr(0, address_.rfind(':')); }
int QuarryServer::port() const { return std::stoi(address_.substr(address_.rfind(':') + 1)); }

HttpResult QuarryServer::Request(const std::string& method, const std::string& path, const std::string& key,
                                 const std::string& body, const std::vector<std::string>& extra_headers) const {
  HttpResult result;
  CURL* curl = curl_easy_init();
  const std::string url = "http://" + address_ + path;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 20'000L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, WriteBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &result.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, WriteHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &result.headers);
  curl_slist* headers = nullptr;
  if (!key.empty()) headers = curl_slist_append(headers, ("Authorization: Bearer " + key).c_str());
  if (method == "HEAD") curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  const bool typed = std::any_of(extra_headers.begin(), extra_headers.end(), [](const std::string& h) {
    return h.size() > 13 && strncasecmp(h.c_str(), "Content-Type:", 13) == 0;
  });
  if (!body.empty()) {
    if (!typed) headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  headers = curl_slist_append(headers, "Expect:");
  for (const auto& h : extra_headers) headers = curl_slist_append(headers, h.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  if (curl_easy_perform(curl) == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return result;
}

std::string QuarryServer::WaitForJob(const std::string& key, const std::string& job_id) const {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < end) {
    const HttpResult r = Request("GET", "/v1/jobs/" + job_id, key);
    boost::system::error_code ec;
    const boost::json::value job = boost::json::parse(r.body, ec);
    const auto* state = !ec && job.is_object() ? job.as_object().if_contains("state") : nullptr;
    if (state && state->is_string()) {
      const std::string s(state->as_string());
      if (s == "succeeded" || s == "failed" || s == "canceled") return s;
    }
  }
  return "timeout";
}

CommandResult QuarryServer::Admin(std::vector<std::string> args) const {
  std::vector<std::string> full = {QUARRY_BINARY, "admin", "--data-dir", data_dir_};
  full.insert(full.end(), args.begin(), args.end());
  return RunCommand(full);
}

RawConnection::RawConnection(const std::string& host, int port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

RawConnection::~RawConnection() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawConnection::Send(const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

std::string RawConnection::ReadUntilClosed(std::chrono::milliseconds timeout, bool* closed) {
  std::string out;
  *closed = false;
  auto deadline = Clock::now() + timeout;
  char buf[4096];
  while (true) {
    int remaining = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    if (remaining <= 0) return out;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, remaining) <= 0) return out;
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      *closed = true;
      return out;
    }
    out.append(buf, static_cast<size_t>(n));
  }
}

std::string RawConnection::ReadUntil(const std::string& needle, std::chrono::milliseconds timeout) {
  std::string out;
  auto deadline = Clock::now() + timeout;
  char buf[4096];
  while (out.find(needle) == std::string::npos) {
    int remaining = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    if (remaining <= 0) break;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, remaining) <= 0) break;
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

}  // namespace quarry::testing
