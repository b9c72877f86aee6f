// Session: one client connection (see server_internal.h for the threading model).
#include "http/server_internal.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace quarry::http::internal {
namespace {

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

}  // namespace

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
  if (upload_fd_ >= 0) {  // the connection ended mid-upload: nothing half-written is kept
    if (upload_keep_) ::fsync(upload_fd_);
    ::close(upload_fd_);
    if (!upload_keep_) ::unlink(request_.body_file.c_str());
  }
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
  request_.route_pattern = route_->pattern;
  if (route_->upload) {
    PrepareUpload(body_pending);
    return;
  }

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
  // The socket stays open while the handler runs (this session is kept alive by the task and no
  // timer is armed), so its descriptor is the client's for the whole call.
  const int fd = stream_.socket().native_handle();
  request_.client_gone = [fd] {
    char byte;
    const ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
  };
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
  if (request_.method == "HEAD") res.body().clear();  // a HEAD response has no body, errors included
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
  record.bytes_in = request_.body.size() + request_.body_bytes;
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
  record.bytes_in = request_.body.size() + request_.body_bytes;
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
    if (!more && self->stream_body_->failed()) {
      self->stream_.close();  // no final chunk: the body is visibly incomplete
      return;
    }
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


}  // namespace quarry::http::internal
