// What an uploaded file is, judged from its bytes (magic numbers, a decompressed sample) before
// the engine reads it, and the guard against decompression bombs. Formats are never taken from
// the file name alone: a name or Content-Encoding is a hint that the bytes must agree with.
// Thread-safety: free functions, no shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/status.h"

namespace quarry::ingest {

enum class Format { kCsv, kJson, kParquet };
enum class Compression { kNone, kGzip, kZstd };

struct SourceInfo {
  Format format = Format::kCsv;
  Compression compression = Compression::kNone;
  std::uint64_t file_bytes = 0;
};

// Tracks the longest line of a text streamed through Feed (lines end at '\n'). Not thread-safe.
class LineMeter {
 public:
  explicit LineMeter(std::uint64_t limit) : limit_(limit) {}
  // False once a line exceeded the limit.
  bool Feed(const char* data, std::size_t size);
  bool exceeded() const { return current_ > limit_; }
  // Bytes fed since the last '\n'.
  std::uint64_t current_line() const { return current_; }

 private:
  const std::uint64_t limit_;
  std::uint64_t current_ = 0;
};

const char* FormatName(Format format);
const char* CompressionName(Compression compression);  // "none", "gzip", "zstd" (DuckDB's names)

// Inspects the file at `path`. `format_hint` is "", "csv", "tsv", "json", "ndjson" or "parquet"
// (from the request; tsv and ndjson read as csv and json). Errors (permanent, with a message that
// says what to do): empty_file, unsupported_format (Excel, ZIP, other binary files, or bytes that
// contradict the hint), invalid_encoding (UTF-16 text), too_large (decompresses past
// `max_decompressed_bytes`: checked by decompressing the whole file once, counting bytes),
// line_too_long (a CSV line longer than `max_line_bytes`: one memchr pass over the text, so that
// a 100 MB line is refused in a second instead of after the engine has buffered it). For an
// uncompressed file that pass starts at `lines_checked_until`, a row boundary before which the
// caller knows every line to be within the limit.
Result<SourceInfo> InspectSource(const std::string& path, const std::string& format_hint,
                                 std::uint64_t max_decompressed_bytes, std::uint64_t max_line_bytes = 8 << 20,
                                 std::uint64_t lines_checked_until = 0);

}  // namespace quarry::ingest
