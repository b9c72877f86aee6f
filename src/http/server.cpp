// Boost.Beast implementation of the HTTP server (see server.h for the contract).
//
// Concurrency model: `io_threads` io_contexts, each run by exactly one thread (no locking inside
// Asio's scheduler, no cross-thread wake-ups); accepted connections are spread round-robin over
// them, and a Session lives on its context's single thread, so its handlers never run
// concurrently. Handlers marked kBlocking run on a separate thread pool and post their response
// back to the session's context. The acceptor and signal handling live on context 0.
#include "http/server.h"

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

namespace quarry::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;

constexpr std::size_t kReadChunk = 8 * 1024;
constexpr std::size_t kMaxLingerBytes = 1 << 20;
constexpr std::chrono::seconds kLingerTime{2};
constexpr std::size_t kMaxRequestIdLength = 128;

// Request ids need to be unique, not secret: a per-thread PRNG seeded from the CSPRNG is enough
// and keeps the CSPRNG's lock off the hot path.
std::string NewRequestId() {
  static constexpr char kAlphabet[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  thread_local std::mt19937_64 prng([] {
    std::seed_seq seed{std::hash<std::string>{}(RandomAlphanumeric(32))};
    return std::mt19937_64(seed);
  }());
  std::string id = "req_";
  for (int word = 0; word < 2; ++word) {
    std::uint64_t bits = prng();
    for (int i = 0; i < 10; ++i, bits /= 62) id += kAlphabet[bits % 62];
  }
  return id;
}

bool IsValidRequestId(std::string_view id) {
  if (id.empty() || id.size() > kMaxRequestIdLength) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':';
    if (!ok) return false;
  }
  return true;
}

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

// ---------------------------------------------------------------------------------------------
// Session

Session::Session(tcp::socket socket, ServerImpl& server, std::uint64_t id)
    : stream_(std::move(socket)), server_(server), id_(id),
      buffer_(server.options().max_header_bytes + kReadChunk) {
  beast::error_code ec;
  auto endpoint = stream_.socket().remote_endpoint(ec);
  if (!ec) remote_ = endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
  stream_.socket().set_option(tcp::no_delay(true), ec);
  server_.metrics().ConnectionOpened();
}

Session::~Session() {
  if (request_started_) server_.metrics().RequestFinished();
  server_.metrics().ConnectionClosed();
  server_.Unregister(id_);
}

void Session::Start() {
  server_.Register(id_, weak_from_this());
  net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->WaitForRequest(); });
}

void Session::CloseIfIdle() {
  if (state_ != State::kIdle) return;
  state_ = State::kClosing;
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.close();
}

void Session::WaitForRequest() {
  state_ = State::kIdle;
  route_ = nullptr;
  request_ = Request{};
  if (server_.draining()) {
    CloseIfIdle();
    return;
  }
  if (buffer_.size() > 0) {  // pipelined bytes already buffered
    ReadHeader();
    return;
  }
  stream_.expires_after(server_.options().idle_timeout);
  stream_.async_read_some(
      buffer_.prepare(kReadChunk),
      [self = shared_from_this()](beast::error_code ec, std::size_t n) {
        if (ec || self->state_ != State::kIdle) {
          self->stream_.close();  // idle timeout, client closed, or shutdown: nothing to answer
          return;
        }
        self->buffer_.commit(n);
        self->ReadHeader();
      });
}

void Session::ReadHeader() {
  state_ = State::kReading;
  header_parser_.emplace();
  header_parser_->header_limit(static_cast<std::uint32_t>(server_.options().max_header_bytes));
  // The body limit is the route's, applied once the route is known (see OnHeader).
  header_parser_->body_limit(boost::none);
  // The whole request (header and body) must arrive within read_timeout.
  stream_.expires_after(server_.options().read_timeout);
  bhttp::async_read_header(stream_, buffer_, *header_parser_,
                           [self = shared_from_this()](beast::error_code ec, std::size_t) {
                             self->OnHeader(ec);
                           });
}

void Session::BeginRequest() {
  if (request_started_) return;
  request_started_ = true;
  started_at_ = std::chrono::steady_clock::now();
  server_.metrics().RequestStarted();
  if (request_.request_id.empty()) request_.request_id = NewRequestId();
}

void Session::OnHeader(beast::error_code ec) {
  if (ec == bhttp::error::end_of_stream || ec == net::error::eof ||
      ec == net::error::connection_reset || ec == net::error::operation_aborted) {
    stream_.close();
    return;
  }
  request_.remote_address = remote_;
  if (ec == beast::error::timeout) {
    // tcp_stream has already closed the socket: nothing can be answered. Count it.
    server_.metrics().ConnectionTimedOut();
    stream_.close();
    return;
  }
  if (ec == bhttp::error::header_limit) {
    Fail({ErrorCode::kHeadersTooLarge, "header_too_large",
          "The request header exceeds " + std::to_string(server_.options().max_header_bytes) +
              " bytes; send fewer or shorter header fields"},
         true);
    return;
  }
  if (ec) {
    Fail(InvalidArgument("malformed_request",
                         "The request is not valid HTTP/1.1 (" + ec.message() + ")"),
         true);
    return;
  }

  const auto& header = header_parser_->get();
  for (const auto& field : header) {
    request_.headers.Add(std::string(field.name_string()), std::string(field.value()));
  }
  std::string_view incoming_id = request_.headers.Get("X-Request-Id");
  if (IsValidRequestId(incoming_id)) request_.request_id = std::string(incoming_id);
  request_.method = std::string(header.method_string());
  request_.target = std::string(header.target());
  request_keep_alive_ = header.keep_alive();
  BeginRequest();

  const bool body_pending = !header_parser_->is_done();
  if (!ParseTarget(request_.target, &request_.path, &request_.query)) {
    Fail(InvalidArgument("invalid_target",
                         "The request target is not a valid path; percent-encode special "
                         "characters"),
         true);
    return;
  }
  auto match = server_.router().Match(request_.method, request_.path);
  if (std::holds_alternative<Router::NotFound>(match)) {
    Fail(NotFound("route_not_found", "No route matches " + request_.method + " " + request_.path +
                                         "; see /openapi.json for the routes that exist"),
         body_pending);
    return;
  }
  if (auto* not_allowed = std::get_if<Router::MethodNotAllowed>(&match)) {
    std::string allow;
    for (const auto& m : not_allowed->allowed) allow += (allow.empty() ? "" : ", ") + m;
    Response r = Response::Problem(
        Status(ErrorCode::kMethodNotAllowed, "method_not_allowed",
               request_.method + " is not allowed on " + request_.path + "; allowed: " + allow),
        request_);
    r.headers.emplace_back("Allow", allow);
    Reply(std::move(r), body_pending);
    return;
  }
  auto& matched = std::get<Router::Matched>(match);
  route_ = matched.route;
  request_.path_params = std::move(matched.params);

  if (!body_pending) {
    Dispatch();
    return;
  }
  if (auto length = header_parser_->content_length(); length && *length > route_->max_body_bytes) {
    Fail(Status(ErrorCode::kPayloadTooLarge, "body_too_large",
                "The request body of " + std::to_string(*length) + " bytes exceeds this route's "
                "limit of " + std::to_string(route_->max_body_bytes) + " bytes"),
         true);
    return;
  }
  if (beast::iequals(request_.headers.Get("Expect"), "100-continue")) {
    continue_.emplace(bhttp::status::continue_, header.version());
    bhttp::async_write(stream_, *continue_,
                       [self = shared_from_this()](beast::error_code write_ec, std::size_t) {
                         if (write_ec) {
                           self->stream_.close();
                           return;
                         }
                         self->ReadBody();
                       });
    return;
  }
  ReadBody();
}

void Session::ReadBody() {
  body_parser_.emplace(std::move(*header_parser_));
  body_parser_->body_limit(route_->max_body_bytes);
  bhttp::async_read(stream_, buffer_, *body_parser_,
                    [self = shared_from_this()](beast::error_code ec, std::size_t) {
                      self->OnBody(ec);
                    });
}

void Session::OnBody(beast::error_code ec) {
  if (ec == bhttp::error::body_limit) {
    Fail(Status(ErrorCode::kPayloadTooLarge, "body_too_large",
                "The request body exceeds this route's limit of " +
                    std::to_string(route_->max_body_bytes) + " bytes"),
         true);
    return;
  }
  if (ec == beast::error::timeout) {
    server_.metrics().ConnectionTimedOut();
    stream_.close();
    return;
  }
  if (ec == net::error::eof || ec == bhttp::error::end_of_stream ||
      ec == net::error::connection_reset || ec == net::error::operation_aborted ||
      ec == bhttp::error::partial_message) {
    stream_.close();  // the client went away mid-body: nobody to answer
    return;
  }
  if (ec) {
    Fail(InvalidArgument("malformed_request", "The request body is not valid HTTP/1.1 framing (" +
                                                  ec.message() + ")"),
         true);
    return;
  }
  request_.body = body_parser_->release().body();
  body_parser_.reset();
  Dispatch();
}

Response Session::Invoke() {
  log::ScopedRequestId scoped(request_.request_id);
  try {
    return route_->handler(request_);
  } catch (const std::exception& e) {
    spdlog::error("handler for {} {} threw: {}", request_.method, route_->pattern, e.what());
  } catch (...) {
    spdlog::error("handler for {} {} threw a non-exception", request_.method, route_->pattern);
  }
  return Response::Problem(
      Internal("internal_error", "An internal error occurred; report the request_id to the "
                                 "operator"),
      request_);
}

void Session::Dispatch() {
  state_ = State::kHandling;
  stream_.expires_never();
  if (route_->execution == Execution::kInline) {
    Reply(Invoke(), false);
    return;
  }
  net::post(server_.blocking_pool(), [self = shared_from_this()] {
    Response response = self->Invoke();
    net::post(self->stream_.get_executor(),
              [self, response = std::move(response)]() mutable {
                self->Reply(std::move(response), false);
              });
  });
}

void Session::Fail(const Status& status, bool close) {
  BeginRequest();
  Reply(Response::Problem(status, request_), close);
}

void Session::Reply(Response response, bool close) {
  state_ = State::kWriting;
  if (response.stream && !close) {
    StartStream(std::move(response));
    return;
  }
  header_parser_.reset();
  const bool keep_alive = !close && request_keep_alive_ && !server_.draining();
  response_.emplace();
  auto& res = *response_;
  res.version(11);
  res.result(static_cast<unsigned>(response.status));
  if (!response.body.empty() || response.status >= 400) {
    res.set(bhttp::field::content_type, response.content_type);
  }
  res.set("X-Request-Id", request_.request_id);
  for (auto& [name, value] : response.headers) res.set(name, value);
  res.body() = std::move(response.body);
  res.keep_alive(keep_alive);
  res.prepare_payload();

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_at_).count();
  log::AccessRecord record;
  record.request_id = request_.request_id;
  record.method = request_.method.empty() ? std::string_view("-") : std::string_view(request_.method);
  record.path = request_.path.empty() ? std::string_view("-") : std::string_view(request_.path);
  record.route = route_ ? std::string_view(route_->pattern) : std::string_view("unmatched");
  record.remote = remote_;
  record.status = response.status;
  record.duration_us = static_cast<long long>(seconds * 1e6);
  record.bytes_in = request_.body.size();
  record.bytes_out = res.body().size();
  record.extra = request_.log_fields.empty() ? nullptr : &request_.log_fields;
  log::LogAccess(record);
  if (route_) {
    server_.metrics().ObserveRoute(route_->index, response.status, seconds);
  } else {
    server_.metrics().ObserveUnmatched(request_.method, response.status, seconds);
  }
  server_.metrics().RequestFinished();
  request_started_ = false;

  stream_.expires_after(server_.options().write_timeout);
  bhttp::async_write(stream_, res,
                     [self = shared_from_this(), keep_alive](beast::error_code ec, std::size_t) {
                       self->OnWrite(ec, !keep_alive);
                     });
}

void Session::OnWrite(beast::error_code ec, bool close) {
  response_.reset();
  if (ec) {
    stream_.close();
    return;
  }
  if (close) {
    LingerAndClose();
    return;
  }
  WaitForRequest();
}

// Closing a socket with unread input makes the kernel send RST, which can destroy the response
// before the client reads it (e.g. a 413 while the client is still sending). Like nginx's
// lingering close: shut down our side, then discard input for a bounded time and size.
void Session::LingerAndClose() {
  state_ = State::kClosing;
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) {
    stream_.close();
    return;
  }
  stream_.expires_after(kLingerTime);
  Drain();
}

void Session::Drain() {
  stream_.async_read_some(net::buffer(discard_),
                          [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                            self->lingered_bytes_ += n;
                            if (ec || self->lingered_bytes_ > kMaxLingerBytes) {
                              self->stream_.close();
                              return;
                            }
                            self->Drain();
                          });
}

void Session::StartStream(Response response) {
  header_parser_.reset();
  stream_body_ = std::move(response.stream);
  stream_interval_ = response.stream_poll_interval;
  stream_deadline_ = std::chrono::steady_clock::now() + response.stream_max_duration;
  stream_header_.emplace(static_cast<bhttp::status>(response.status), 11);
  auto& header = *stream_header_;
  header.set(bhttp::field::content_type, response.content_type);
  header.set(bhttp::field::cache_control, "no-cache");
  header.set("X-Request-Id", request_.request_id);
  for (auto& [name, value] : response.headers) header.set(name, value);
  header.chunked(true);
  header.keep_alive(false);  // a stream ends its connection

  // The access line and metrics describe the request up to the start of the stream.
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_at_).count();
  log::AccessRecord record;
  record.request_id = request_.request_id;
  record.method = request_.method;
  record.path = request_.path;
  record.route = route_ ? std::string_view(route_->pattern) : std::string_view("unmatched");
  record.remote = remote_;
  record.status = response.status;
  record.duration_us = static_cast<long long>(seconds * 1e6);
  record.bytes_in = request_.body.size();
  record.extra = request_.log_fields.empty() ? nullptr : &request_.log_fields;
  log::LogAccess(record);
  if (route_) server_.metrics().ObserveRoute(route_->index, response.status, seconds);
  server_.metrics().RequestFinished();
  request_started_ = false;

  stream_serializer_.emplace(header);
  stream_.expires_after(server_.options().write_timeout);
  bhttp::async_write_header(stream_, *stream_serializer_,
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (ec) {
                                self->stream_.close();
                                return;
                              }
                              self->stream_.expires_never();
                              self->PollStream();
                            });
}

void Session::PollStream() {
  if (server_.draining() || std::chrono::steady_clock::now() >= stream_deadline_) {
    FinishStream();
    return;
  }
  net::post(server_.blocking_pool(), [self = shared_from_this()] {
    std::string data;
    bool more = false;
    try {
      more = self->stream_body_->Poll(&data);
    } catch (const std::exception& e) {
      spdlog::error("stream of {} {} threw: {}", self->request_.method, self->request_.path, e.what());
    }
    net::post(self->stream_.get_executor(), [self, data = std::move(data), more]() mutable {
      self->WriteStreamChunk(std::move(data), more);
    });
  });
}

void Session::WriteStreamChunk(std::string data, bool more) {
  auto after_write = [self = shared_from_this(), more] {
    if (!more) {
      self->FinishStream();
      return;
    }
    self->stream_timer_.emplace(self->stream_.get_executor());
    self->stream_timer_->expires_after(self->stream_interval_);
    self->stream_timer_->async_wait([self](beast::error_code ec) {
      if (ec) return;
      self->PollStream();
    });
  };
  if (data.empty()) {
    after_write();
    return;
  }
  stream_chunk_ = std::move(data);
  stream_.expires_after(server_.options().write_timeout);
  net::async_write(stream_, bhttp::make_chunk(net::buffer(stream_chunk_)),
                   [self = shared_from_this(), after_write](beast::error_code ec, std::size_t) {
                     if (ec) {
                       self->stream_.close();  // the client went away
                       return;
                     }
                     self->stream_.expires_never();
                     after_write();
                   });
}

void Session::FinishStream() {
  stream_.expires_after(server_.options().write_timeout);
  net::async_write(stream_, bhttp::make_chunk_last(), [self = shared_from_this()](beast::error_code, std::size_t) {
    self->stream_body_.reset();
    self->LingerAndClose();
  });
}

// ---------------------------------------------------------------------------------------------
// ServerImpl

Status ServerImpl::Start() {
  beast::error_code ec;
  auto address = net::ip::make_address(options_.host, ec);
  if (ec) {
    return InvalidArgument("invalid_listen_address",
                           "'" + options_.host + "' is not an IP address; use e.g. 127.0.0.1");
  }
  tcp::endpoint endpoint(address, options_.port);
  const std::string wanted = options_.host + ":" + std::to_string(options_.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return Unavailable("listen_failed", "Cannot listen on " + wanted + ": " + ec.message());
  }
  auto local = acceptor_.local_endpoint();
  bound_address_ = (local.address().is_v6() ? "[" + local.address().to_string() + "]"
                                            : local.address().to_string()) +
                   ":" + std::to_string(local.port());
  signals_.async_wait([this](beast::error_code signal_ec, int signal_number) {
    if (signal_ec) return;
    spdlog::info("received signal {}, shutting down gracefully", signal_number);
    Shutdown();
  });
  for (auto& context : contexts_) work_.emplace_back(context->get_executor());
  net::dispatch(acceptor_.get_executor(), [this] { Accept(); });
  for (auto& context : contexts_) threads_.emplace_back([ctx = context.get()] { ctx->run(); });
  started_ = true;
  return Status::Ok();
}

void ServerImpl::Accept() {
  auto& context = *contexts_[next_context_++ % contexts_.size()];
  acceptor_.async_accept(context, [this](beast::error_code ec, tcp::socket socket) {
    OnAccept(ec, std::move(socket));
  });
}

void ServerImpl::OnAccept(beast::error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
  if (ec) {
    // Typically EMFILE: back off briefly instead of spinning on the failing accept.
    spdlog::warn("accept failed: {}", ec.message());
    accept_retry_.expires_after(std::chrono::milliseconds(100));
    accept_retry_.async_wait([this](beast::error_code timer_ec) {
      if (!timer_ec) Accept();
    });
    return;
  }
  bool at_limit;
  {
    std::lock_guard lock(mu_);
    at_limit = static_cast<int>(sessions_.size()) >= options_.max_connections;
  }
  if (at_limit) {
    Reject(std::move(socket));
  } else {
    std::make_shared<Session>(std::move(socket), *this, next_session_id_++)->Start();
  }
  Accept();
}

// A canned 503 written without blocking (it fits in the socket buffer), then close.
void ServerImpl::Reject(tcp::socket socket) {
  metrics_.ConnectionRejected();
  static const std::string kBody =
      R"({"type":"urn:quarry:problem:too_many_connections","title":"Service Unavailable",)"
      R"("status":503,"detail":"The server is at its connection limit; retry shortly",)"
      R"("instance":"/","code":"too_many_connections","request_id":""})";
  static const std::string kResponse =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/problem+json\r\n"
      "Retry-After: 1\r\nConnection: close\r\nContent-Length: " +
      std::to_string(kBody.size()) + "\r\n\r\n" + kBody;
  beast::error_code ec;
  socket.non_blocking(true, ec);
  socket.write_some(net::buffer(kResponse), ec);
  socket.shutdown(tcp::socket::shutdown_both, ec);
  socket.close(ec);
}

void ServerImpl::RunUntilStopped() {
  if (!started_ || stopped_) return;
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return shutdown_requested_; });
  draining_ = true;
  lock.unlock();

  net::post(acceptor_.get_executor(), [this] {
    beast::error_code ec;
    acceptor_.close(ec);
    accept_retry_.cancel();
  });
  signals_.cancel();
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard guard(mu_);
    for (auto& [id, weak] : sessions_) {
      if (auto session = weak.lock()) live.push_back(std::move(session));
    }
  }
  for (auto& session : live) {
    net::post(session->executor(), [session] { session->CloseIfIdle(); });
  }
  live.clear();

  lock.lock();
  const bool drained = cv_.wait_for(lock, options_.shutdown_grace, [this] { return sessions_.empty(); });
  lock.unlock();
  if (!drained) spdlog::warn("shutdown grace period ended with connections still open; closing them");
  work_.clear();
  for (auto& context : contexts_) context->stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
  blocking_pool_.join();
  stopped_ = true;
  spdlog::info("server stopped");
  log::Flush();
}

}  // namespace

std::unique_ptr<Server> CreateServer(const ServerOptions& options, const Router& router,
                                     HttpMetrics& metrics) {
  return std::make_unique<ServerImpl>(options, router, metrics);
}

}  // namespace quarry::http
