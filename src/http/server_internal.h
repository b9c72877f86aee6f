// Private to src/http/: the Session and ServerImpl classes behind CreateServer (server.h).
// Boost.Beast/Asio stay inside the http module's .cpp files and this header.
//
// Concurrency model: `io_threads` io_contexts, each run by exactly one thread (no locking inside
// Asio's scheduler, no cross-thread wake-ups); accepted connections are spread round-robin over
// them, and a Session lives on its context's single thread, so its handlers never run
// concurrently. Handlers marked kBlocking run on a separate thread pool and post their response
// back to the session's context. The acceptor and signal handling live on context 0.
#pragma once

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "common/ids.h"
#include "common/log.h"
#include "http/multipart.h"
#include "http/server.h"

namespace quarry::http::internal {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;

constexpr std::size_t kReadChunk = 8 * 1024;
constexpr std::size_t kMaxLingerBytes = 1 << 20;
constexpr std::chrono::seconds kLingerTime{2};
constexpr std::size_t kMaxRequestIdLength = 128;


class ServerImpl;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, ServerImpl& server, std::uint64_t id);
  ~Session();
  void Start();
  // Posted by shutdown: closes the connection if it is waiting between requests.
  void CloseIfIdle();
  net::any_io_executor executor() { return stream_.get_executor(); }

 private:
  enum class State { kIdle, kReading, kHandling, kWriting, kClosing };

  void WaitForRequest();
  void ReadHeader();
  void OnHeader(beast::error_code ec);
  void ReadBody();
  void OnBody(beast::error_code ec);
  void Dispatch();
  Response Invoke();
  // Upload routes (upload_body.cpp): prepare on the blocking pool, then stream the body to the
  // target file chunk by chunk (each chunk written on the blocking pool), then fsync and run the
  // handler. The partial file is deleted on every failure path.
  void PrepareUpload(bool body_pending);
  void StartUpload(Result<UploadTarget> target, bool body_pending);
  void ReadUploadChunk();
  void OnUploadChunk(beast::error_code ec);
  void FailUpload(const Status& status, bool answer);
  void FinishUpload();
  void BeginRequest();
  void Fail(const Status& status, bool close);
  void Reply(Response response, bool close);
  void OnWrite(beast::error_code ec, bool close);
  void LingerAndClose();
  void Drain();
  // Streaming responses (ResponseStream): header, then chunks until done, then the last chunk.
  void StartStream(Response response);
  void PollStream();
  void WriteStreamChunk(std::string data, bool more);
  void FinishStream();

  beast::tcp_stream stream_;
  ServerImpl& server_;
  const std::uint64_t id_;
  beast::flat_buffer buffer_;
  State state_ = State::kIdle;
  std::string remote_;

  std::optional<bhttp::request_parser<bhttp::empty_body>> header_parser_;
  std::optional<bhttp::request_parser<bhttp::string_body>> body_parser_;
  std::optional<bhttp::response<bhttp::string_body>> response_;
  std::optional<bhttp::response<bhttp::empty_body>> continue_;
  std::optional<bhttp::response<bhttp::empty_body>> stream_header_;
  std::optional<bhttp::response_serializer<bhttp::empty_body>> stream_serializer_;
  std::shared_ptr<ResponseStream> stream_body_;
  std::string stream_chunk_;
  std::chrono::milliseconds stream_interval_{250};
  std::chrono::steady_clock::time_point stream_deadline_;
  std::optional<net::steady_timer> stream_timer_;
  std::array<char, 4096> discard_{};
  // Upload state (upload_body.cpp).
  std::optional<bhttp::request_parser<bhttp::buffer_body>> upload_parser_;
  std::vector<char> upload_chunk_;
  int upload_fd_ = -1;
  std::uint64_t upload_max_ = 0;
  bool upload_keep_ = false;  // resumable: keep the file on failure
  std::optional<MultipartFileDecoder> upload_multipart_;  // multipart/form-data bodies
  std::string upload_decoded_;                           // the file bytes of the current chunk
  std::uint64_t upload_unsynced_ = 0;                    // written since the last writeback hint
  std::function<void(std::string_view)> upload_on_stored_;  // UploadTarget::on_stored
  std::size_t lingered_bytes_ = 0;

  Request request_;
  const Route* route_ = nullptr;
  bool request_keep_alive_ = false;
  bool request_started_ = false;
  std::chrono::steady_clock::time_point started_at_;
};

class ServerImpl final : public Server {
 public:
  ServerImpl(const ServerOptions& options, const Router& router, HttpMetrics& metrics)
      : options_(options), router_(router), metrics_(metrics), contexts_(MakeContexts(options.io_threads)),
        acceptor_(*contexts_[0]), signals_(*contexts_[0], SIGINT, SIGTERM),
        blocking_pool_(options.blocking_threads), accept_retry_(*contexts_[0]) {
    std::vector<std::pair<std::string, std::string>> routes;
    for (const auto& route : router.routes()) routes.emplace_back(route->pattern, route->method);
    metrics_.SetRoutes(routes);
  }

  ~ServerImpl() override {
    Shutdown();
    if (!stopped_ && started_) RunUntilStopped();
  }

  Status Start() override;
  std::string BoundAddress() const override { return bound_address_; }
  void RunUntilStopped() override;
  void Shutdown() override {
    std::lock_guard lock(mu_);
    shutdown_requested_ = true;
    cv_.notify_all();
  }

  const ServerOptions& options() const { return options_; }
  const Router& router() const { return router_; }
  HttpMetrics& metrics() { return metrics_; }
  net::thread_pool& blocking_pool() { return blocking_pool_; }
  bool draining() const { return draining_.load(); }

  void Register(std::uint64_t id, std::weak_ptr<Session> session) {
    std::lock_guard lock(mu_);
    sessions_[id] = std::move(session);
  }
  void Unregister(std::uint64_t id) {
    std::lock_guard lock(mu_);
    sessions_.erase(id);
    if (sessions_.empty()) cv_.notify_all();
  }

 private:
  static std::vector<std::unique_ptr<net::io_context>> MakeContexts(int n) {
    std::vector<std::unique_ptr<net::io_context>> contexts;
    for (int i = 0; i < std::max(1, n); ++i) contexts.push_back(std::make_unique<net::io_context>(1));
    return contexts;
  }
  void Accept();
  void OnAccept(beast::error_code ec, tcp::socket socket);
  void Reject(tcp::socket socket);

  // Declared first so that they outlive the io_context, whose destruction may destroy sessions.
  std::mutex mu_;
  std::condition_variable cv_;
  bool shutdown_requested_ = false;                          // GUARDED_BY(mu_)
  std::map<std::uint64_t, std::weak_ptr<Session>> sessions_;  // GUARDED_BY(mu_)

  const ServerOptions options_;
  const Router& router_;
  HttpMetrics& metrics_;
  std::vector<std::unique_ptr<net::io_context>> contexts_;
  std::size_t next_context_ = 0;  // used on context 0 only
  tcp::acceptor acceptor_;
  net::signal_set signals_;
  net::thread_pool blocking_pool_;
  net::steady_timer accept_retry_;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
  std::string bound_address_;
  std::atomic<bool> draining_{false};
  std::atomic<std::uint64_t> next_session_id_{1};
  bool started_ = false;
  bool stopped_ = false;

};


}  // namespace quarry::http::internal
