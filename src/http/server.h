// The HTTP/1.1 server: connections, limits, timeouts, request ids, access logs, metrics and
// graceful shutdown. Handlers come from a Router; this header keeps Boost.Beast/Asio private.
//
// Behaviour the rest of Quarry relies on:
//   - Keep-alive; every response carries X-Request-Id; every error is problem+json.
//   - A request header larger than max_header_bytes is 431; a body larger than its route's
//     limit is 413 (at once when Content-Length says so); malformed HTTP is 400. After such an
//     error the connection is closed.
//   - idle_timeout bounds how long a connection may sit between requests; read_timeout bounds
//     how long a client may take to send one whole request (header and body); write_timeout
//     bounds sending a response. A slow ("slowloris") client is therefore disconnected (without
//     a response: the connection is closed when the timer fires; counted in the metrics).
//   - At max_connections, new connections get a 503 and are closed.
//   - Shutdown(): stops accepting, closes idle connections, lets in-flight requests finish
//     (their connections then close) until shutdown_grace has passed, then stops.
// Thread-safety: Start/Shutdown/Wait are called from one controlling thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "http/http.h"
#include "http/metrics.h"

namespace quarry::http {

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;  // 0 picks a free port
  int io_threads = 2;
  int blocking_threads = 8;
  int max_connections = 1024;
  std::size_t max_header_bytes = 16 * 1024;
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds read_timeout{30'000};
  std::chrono::milliseconds write_timeout{30'000};
  std::chrono::milliseconds shutdown_grace{10'000};
};

class Server {
 public:
  virtual ~Server() = default;
  // Binds and starts serving on background threads. Errors: Unavailable "listen_failed" with
  // the address and the system's reason.
  virtual Status Start() = 0;
  // "host:port" actually bound (useful with port 0). Valid after Start().
  virtual std::string BoundAddress() const = 0;
  // Blocks until SIGINT or SIGTERM arrives or Shutdown() is called, then shuts down gracefully
  // and returns once every thread has stopped.
  virtual void RunUntilStopped() = 0;
  // Requests a graceful shutdown (safe from any thread, including a signal-free test).
  virtual void Shutdown() = 0;
};

// `router` and `metrics` must outlive the server.
std::unique_ptr<Server> CreateServer(const ServerOptions& options, const Router& router,
                                     HttpMetrics& metrics);

}  // namespace quarry::http
