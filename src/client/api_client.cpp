#include "client/api_client.h"

#include <curl/curl.h>

#include <boost/json.hpp>

namespace quarry::client {
namespace {

size_t Append(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~CurlGlobal() { curl_global_cleanup(); }
};

}  // namespace

ApiClient::ApiClient(std::string base_url, std::string key, std::chrono::milliseconds timeout)
    : base_url_(std::move(base_url)), key_(std::move(key)), timeout_(timeout) {
  static CurlGlobal global;
  while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
  curl_ = curl_easy_init();
}

ApiClient::~ApiClient() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

Result<ApiResponse> ApiClient::Send(const std::string& method, const std::string& path, const std::string& body) {
  CURL* curl = static_cast<CURL*>(curl_);
  if (!curl) return Internal("client_error", "could not initialize the HTTP client");
  ApiResponse response;
  const std::string url = base_url_ + path;
  curl_easy_reset(curl);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_.count()));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  curl_slist* headers = nullptr;
  const std::string auth = "Authorization: Bearer " + key_;
  headers = curl_slist_append(headers, auth.c_str());
  headers = curl_slist_append(headers, "Expect:");
  if (!body.empty()) {
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  CURLcode rc = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) {
    return Unavailable("server_unreachable", "cannot reach the Quarry server at " + base_url_ + ": " +
                                                 curl_easy_strerror(rc) + "; check --url (or QUARRY_URL)");
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

Status ApiClient::ProblemOf(const ApiResponse& response) {
  boost::system::error_code ec;
  auto doc = boost::json::parse(response.body, ec);
  std::string code = "http_" + std::to_string(response.status);
  std::string message = response.body.substr(0, 300);
  if (!ec && doc.is_object()) {
    const auto& o = doc.as_object();
    if (auto it = o.find("code"); it != o.end() && it->value().is_string()) code = it->value().as_string();
    if (auto it = o.find("detail"); it != o.end() && it->value().is_string()) message = it->value().as_string();
  }
  const ErrorCode category = response.status == 401   ? ErrorCode::kUnauthenticated
                             : response.status == 403 ? ErrorCode::kPermissionDenied
                             : response.status == 404 ? ErrorCode::kNotFound
                             : response.status >= 500 ? ErrorCode::kUnavailable
                                                      : ErrorCode::kInvalidArgument;
  return Status(category, code, message);
}

}  // namespace quarry::client
