// TusUploader: a tus 1.0.0 client (creation, HEAD, PATCH) for `quarry upload`, streaming the file
// from disk with libcurl (never read whole into memory). One upload at a time; not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "common/status.h"

namespace quarry::client {

struct TusState {
  std::int64_t offset = 0;
  std::int64_t length = 0;
  std::string job_path;  // "/v1/jobs/job_..." once complete (the Quarry-Job header)
};

class TusUploader {
 public:
  // `max_bytes_per_second` (0: unlimited) caps the sending rate of Append.
  TusUploader(std::string base_url, std::string key, std::int64_t max_bytes_per_second = 0);

  // POST /v1/uploads: returns the upload's path ("/v1/uploads/upl_...").
  Result<std::string> Create(std::int64_t length, const std::map<std::string, std::string>& metadata);
  // HEAD: NotFound "upload_not_found" when the server no longer has it.
  Result<TusState> Head(const std::string& upload_path);
  // PATCH the bytes of `file` from `offset` to its end. `progress(sent_total)` is called as bytes
  // go out. On a dropped connection the server keeps what arrived: call Head and resume.
  Result<TusState> Append(const std::string& upload_path, const std::string& file, std::int64_t offset,
                          std::int64_t length, const std::function<void(std::int64_t)>& progress);

 private:
  std::string base_url_;
  std::string key_;
  std::int64_t max_rate_;
};

}  // namespace quarry::client
