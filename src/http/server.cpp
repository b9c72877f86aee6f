// Boost.Beast implementation of the HTTP server (see server.h for the contract).
//
// Concurrency model: `io_threads` io_contexts, each run by exactly one thread (no locking inside
// Asio's scheduler, no cross-thread wake-ups); accepted connections are spread round-robin over
// them, and a Session lives on its context's single thread, so its handlers never run
// concurrently. Handlers marked kBlocking run on a separate thread pool and post their response
// back to the session's context. The acceptor and signal handling live on context 0.
#include "http/server_internal.h"

namespace quarry::http {
namespace internal {

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

}  // namespace internal

std::unique_ptr<Server> CreateServer(const ServerOptions& options, const Router& router,
                                     HttpMetrics& metrics) {
  return std::make_unique<internal::ServerImpl>(options, router, metrics);
}

}  // namespace quarry::http
