// Streaming decoder for multipart/form-data upload bodies (RFC 7578 over RFC 2046), so that a
// browser form or `curl -F file=@big.csv` can upload a file without the server ever holding more
// than one chunk of it. Written by hand: neither Boost (1.81) nor a Debian-packaged C++ library
// offers a streaming multipart parser; the format needed here (one file part, no nesting) is small.
//
// Contract: the body must carry exactly one file part (a part whose Content-Disposition names a
// `filename`); its bytes are what Feed emits. Any other part is refused (parameters travel in the
// query string, so a form field can never silently change an ingestion). Preamble and part
// headers are bounded; the epilogue after the closing delimiter is ignored.
// Thread-safety: none; one decoder per request.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace quarry::http {

// The boundary parameter of a `multipart/form-data` Content-Type, validated (1-70 characters of
// RFC 2046's set, quotes removed). Not a multipart type: an empty string.
Result<std::string> MultipartBoundary(std::string_view content_type);

class MultipartFileDecoder {
 public:
  explicit MultipartFileDecoder(std::string boundary);

  // Consumes the next body bytes; appends the file part's bytes among them to `*out`. An error
  // (malformed framing, a field part, a second file) is final: later calls return it again.
  Status Feed(std::string_view in, std::string* out);
  // Called after the last body byte: fails unless the closing delimiter ended a file part.
  Status Finish() const;
  // The file part's filename (its last path component, at most 255 bytes); empty until its
  // headers were read.
  const std::string& filename() const { return filename_; }

  static constexpr std::size_t kMaxPreamble = 64 << 10;
  static constexpr std::size_t kMaxPartHeaders = 16 << 10;

 private:
  enum class State { kPreamble, kAfterDelimiter, kPartHeaders, kFileBody, kEpilogue, kFailed };

  Status Fail(Status status);
  Status ParsePartHeaders(std::string_view headers);

  const std::string delimiter_;  // "\r\n--" + boundary
  State state_ = State::kPreamble;
  Status error_;
  std::string pending_;  // bytes not yet decided on (at most a delimiter's length, or headers)
  std::size_t preamble_bytes_ = 0;
  bool file_seen_ = false;
  std::string filename_;
};

}  // namespace quarry::http
