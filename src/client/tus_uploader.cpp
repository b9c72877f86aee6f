#include "client/tus_uploader.h"

#include <curl/curl.h>

#include <cstdio>
#include <memory>

#include "client/api_client.h"

namespace quarry::client {
namespace {

size_t Append(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// Collects response headers, lower-cased names.
size_t Header(char* data, size_t size, size_t n, void* out) {
  std::string line(data, size * n);
  const auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ')) value.erase(0, 1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) value.pop_back();
    (*static_cast<std::map<std::string, std::string>*>(out))[name] = value;
  }
  return size * n;
}

std::string Base64(const std::string& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16 | static_cast<unsigned char>(in[i + 1]) << 8 |
                       static_cast<unsigned char>(in[i + 2]);
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], k[v & 63]};
  }
  if (in.size() - i == 1) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += {k[v >> 18], k[(v >> 12) & 63], '=', '='};
  } else if (in.size() - i == 2) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16 | static_cast<unsigned char>(in[i + 1]) << 8;
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], '='};
  }
  return out;
}

struct Exchange {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;
};

struct Upload {
  std::FILE* file = nullptr;
  std::int64_t base = 0;
  const std::function<void(std::int64_t)>* progress = nullptr;
};

size_t ReadFile(char* buffer, size_t size, size_t n, void* user) {
  return std::fread(buffer, 1, size * n, static_cast<Upload*>(user)->file);
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t sent) {
  auto* upload = static_cast<Upload*>(user);
  if (upload->progress && *upload->progress) (*upload->progress)(upload->base + static_cast<std::int64_t>(sent));
  return 0;
}

}  // namespace

TusUploader::TusUploader(std::string base_url, std::string key, std::int64_t max_bytes_per_second)
    : base_url_(std::move(base_url)), key_(std::move(key)), max_rate_(max_bytes_per_second) {
  while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
}

namespace {

Result<Exchange> Perform(const std::string& base_url, const std::string& key, const std::string& method,
                         const std::string& path, std::vector<std::string> extra, Upload* upload = nullptr,
                         std::int64_t upload_bytes = 0, std::int64_t max_rate = 0) {
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) return Internal("client_error", "could not initialize the HTTP client");
  Exchange ex;
  const std::string url = base_url + path;
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT_MS, 10'000L);
  // No total timeout for a multi-GB PATCH; a stalled transfer (under 1 byte/s for 60 s) aborts.
  curl_easy_setopt(curl.get(), CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, Append);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &ex.body);
  curl_easy_setopt(curl.get(), CURLOPT_HEADERFUNCTION, Header);
  curl_easy_setopt(curl.get(), CURLOPT_HEADERDATA, &ex.headers);
  curl_slist* headers = nullptr;
  extra.push_back("Authorization: Bearer " + key);
  extra.push_back("Tus-Resumable: 1.0.0");
  extra.push_back("Expect:");
  for (const auto& h : extra) headers = curl_slist_append(headers, h.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers);
  if (method == "HEAD") {
    curl_easy_setopt(curl.get(), CURLOPT_NOBODY, 1L);
  } else if (upload) {
    curl_easy_setopt(curl.get(), CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl.get(), CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_READFUNCTION, ReadFile);
    curl_easy_setopt(curl.get(), CURLOPT_READDATA, upload);
    curl_easy_setopt(curl.get(), CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(upload_bytes));
    curl_easy_setopt(curl.get(), CURLOPT_XFERINFOFUNCTION, OnProgress);
    curl_easy_setopt(curl.get(), CURLOPT_XFERINFODATA, upload);
    curl_easy_setopt(curl.get(), CURLOPT_NOPROGRESS, 0L);
    if (max_rate > 0) curl_easy_setopt(curl.get(), CURLOPT_MAX_SEND_SPEED_LARGE, static_cast<curl_off_t>(max_rate));
  } else {
    headers = curl_slist_append(headers, "Content-Type:");  // no body, so no form content type
    curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl.get(), CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE, 0L);
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, "");
  }
  const CURLcode rc = curl_easy_perform(curl.get());
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) {
    return Unavailable("server_unreachable", "the connection to " + base_url + " failed: " + curl_easy_strerror(rc));
  }
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &ex.status);
  return ex;
}

Status ProblemOf(const Exchange& ex) { return ApiClient::ProblemOf(ApiResponse{ex.status, ex.body}); }

TusState StateOf(const Exchange& ex) {
  TusState state;
  if (auto it = ex.headers.find("upload-offset"); it != ex.headers.end()) state.offset = std::stoll(it->second);
  if (auto it = ex.headers.find("upload-length"); it != ex.headers.end()) state.length = std::stoll(it->second);
  if (auto it = ex.headers.find("quarry-job"); it != ex.headers.end()) state.job_path = it->second;
  return state;
}

}  // namespace

Result<std::string> TusUploader::Create(std::int64_t length, const std::map<std::string, std::string>& metadata) {
  std::string meta;
  for (const auto& [k, v] : metadata) meta += (meta.empty() ? "" : ",") + k + " " + Base64(v);
  QUARRY_ASSIGN_OR_RETURN(Exchange ex, Perform(base_url_, key_, "POST", "/v1/uploads",
                                               {"Upload-Length: " + std::to_string(length), "Upload-Metadata: " + meta}));
  if (ex.status != 201) return ProblemOf(ex);
  auto location = ex.headers.find("location");
  if (location == ex.headers.end()) return Internal("bad_response", "the server created an upload without a Location");
  return location->second;
}

Result<TusState> TusUploader::Head(const std::string& upload_path) {
  QUARRY_ASSIGN_OR_RETURN(Exchange ex, Perform(base_url_, key_, "HEAD", upload_path, {}));
  if (ex.status == 404) return NotFound("upload_not_found", "the server no longer has this upload");
  if (ex.status != 200) return ProblemOf(ex);
  return StateOf(ex);
}

Result<TusState> TusUploader::Append(const std::string& upload_path, const std::string& file, std::int64_t offset,
                                     std::int64_t length, const std::function<void(std::int64_t)>& progress) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> in(std::fopen(file.c_str(), "rb"), &std::fclose);
  if (!in) return InvalidArgument("cannot_read_file", "cannot read " + file);
  if (fseeko(in.get(), offset, SEEK_SET) != 0) return InvalidArgument("cannot_read_file", "cannot seek in " + file);
  Upload upload{in.get(), offset, &progress};
  QUARRY_ASSIGN_OR_RETURN(Exchange ex, Perform(base_url_, key_, "PATCH", upload_path,
                                               {"Content-Type: application/offset+octet-stream",
                                                "Upload-Offset: " + std::to_string(offset)},
                                               &upload, length - offset, max_rate_));
  if (ex.status != 204) return ProblemOf(ex);
  TusState state = StateOf(ex);
  state.length = length;
  return state;
}

}  // namespace quarry::client
