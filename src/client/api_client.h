// ApiClient: a small blocking client of Quarry's REST API for the CLI (libcurl). One request at a
// time per object; not thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "common/status.h"

namespace quarry::client {

struct ApiResponse {
  long status = 0;
  std::string body;
};

class ApiClient {
 public:
  // `base_url` like "http://127.0.0.1:8080"; `key` is sent as a Bearer token.
  ApiClient(std::string base_url, std::string key, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  ~ApiClient();
  ApiClient(const ApiClient&) = delete;
  ApiClient& operator=(const ApiClient&) = delete;

  // Unavailable "server_unreachable" when no HTTP response came back (with curl's reason).
  Result<ApiResponse> Send(const std::string& method, const std::string& path, const std::string& body = "");

  const std::string& base_url() const { return base_url_; }
  const std::string& key() const { return key_; }

  // For a non-2xx response: the problem document's detail (or the raw body) as a Status message.
  static Status ProblemOf(const ApiResponse& response);

 private:
  std::string base_url_;
  std::string key_;
  std::chrono::milliseconds timeout_;
  void* curl_;  // CURL*, kept for connection reuse (keep-alive)
};

}  // namespace quarry::client
