#include "ingest/source_file.h"

#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string_view>
#include <vector>

namespace quarry::ingest {
namespace {

constexpr std::size_t kSampleBytes = 64 * 1024;
constexpr std::size_t kReadBlock = 1 << 20;

Status Unsupported(const std::string& what) {
  return InvalidArgument("unsupported_format",
                         what + ". Quarry reads CSV/TSV, JSON (arrays or newline-delimited) and Parquet, "
                                "optionally gzip- or zstd-compressed");
}

bool StartsWith(std::string_view data, std::string_view magic) { return data.substr(0, magic.size()) == magic; }

// Streams the decompressed bytes of `path` to `sink(data, size)` until it returns false or the
// input ends. Returns the number of decompressed bytes produced, or an error for corrupt input.
template <typename Sink>
Result<std::uint64_t> Decompress(const std::string& path, Compression compression, Sink sink) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) return Unavailable("upload_missing", "the uploaded file cannot be read; upload it again");
  std::vector<unsigned char> in(kReadBlock), out(kReadBlock);
  std::uint64_t total = 0;
  auto corrupt = [&] {
    return InvalidArgument("corrupt_compressed_file",
                           std::string("the ") + CompressionName(compression) +
                               " data is corrupt or truncated; compress the file again and re-upload it");
  };
  if (compression == Compression::kGzip) {
    z_stream z{};
    if (inflateInit2(&z, 15 + 32) != Z_OK) return Internal("decompress_failed", "zlib could not start");
    std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&z, &inflateEnd);
    bool ended = false;
    while (true) {
      z.avail_in = static_cast<uInt>(std::fread(in.data(), 1, in.size(), file.get()));
      z.next_in = in.data();
      if (z.avail_in == 0) break;
      while (z.avail_in > 0) {
        z.avail_out = static_cast<uInt>(out.size());
        z.next_out = out.data();
        int rc = inflate(&z, Z_NO_FLUSH);
        if (rc == Z_STREAM_END) {
          // Concatenated gzip members (as `cat a.gz b.gz` makes) continue.
          ended = true;
          inflateReset(&z);
        } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
          return corrupt();
        } else {
          ended = false;
        }
        const std::size_t produced = out.size() - z.avail_out;
        total += produced;
        if (produced > 0 && !sink(reinterpret_cast<const char*>(out.data()), produced)) return total;
        if (rc == Z_BUF_ERROR && z.avail_in == 0) break;
      }
    }
    if (!ended && total > 0 && std::feof(file.get())) {
      // Truncated input: the last member never ended. Reported only if a sink wanted everything.
      return corrupt();
    }
    return total;
  }
  std::unique_ptr<ZSTD_DCtx, std::size_t (*)(ZSTD_DCtx*)> z(ZSTD_createDCtx(), &ZSTD_freeDCtx);
  std::size_t last = 0;
  while (true) {
    const std::size_t read = std::fread(in.data(), 1, in.size(), file.get());
    if (read == 0) break;
    ZSTD_inBuffer input{in.data(), read, 0};
    while (input.pos < input.size) {
      ZSTD_outBuffer output{out.data(), out.size(), 0};
      last = ZSTD_decompressStream(z.get(), &output, &input);
      if (ZSTD_isError(last)) return corrupt();
      total += output.pos;
      if (output.pos > 0 && !sink(reinterpret_cast<const char*>(out.data()), output.pos)) return total;
    }
  }
  if (last != 0) return corrupt();
  return total;
}

Status LineTooLong(std::uint64_t limit) {
  return InvalidArgument("line_too_long", "a line of the file is longer than " + std::to_string(limit) +
                                              " bytes, the limit for one row; check the delimiter and quoting "
                                              "(a missing closing quote makes one huge line)");
}

}  // namespace

bool LineMeter::Feed(const char* data, std::size_t size) {
  const char* end = data + size;
  while (data < end) {
    const void* nl = std::memchr(data, '\n', static_cast<std::size_t>(end - data));
    const char* stop = nl ? static_cast<const char*>(nl) : end;
    current_ += static_cast<std::uint64_t>(stop - data);
    if (current_ > limit_) return false;
    if (!nl) break;
    current_ = 0;
    data = stop + 1;
  }
  return true;
}

const char* FormatName(Format format) {
  switch (format) {
    case Format::kCsv: return "csv";
    case Format::kJson: return "json";
    case Format::kParquet: return "parquet";
  }
  return "csv";
}

const char* CompressionName(Compression compression) {
  switch (compression) {
    case Compression::kNone: return "none";
    case Compression::kGzip: return "gzip";
    case Compression::kZstd: return "zstd";
  }
  return "none";
}

Result<SourceInfo> InspectSource(const std::string& path, const std::string& format_hint,
                                 std::uint64_t max_decompressed_bytes, std::uint64_t max_line_bytes,
                                 std::uint64_t lines_checked_until) {
  SourceInfo info;
  std::string head(kSampleBytes, '\0');
  {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in) return Unavailable("upload_missing", "the uploaded file cannot be read; upload it again");
    info.file_bytes = static_cast<std::uint64_t>(in.tellg());
    in.seekg(0);
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<std::size_t>(in.gcount()));
  }
  if (info.file_bytes == 0) {
    return InvalidArgument("empty_file", "the uploaded file is empty (0 bytes); upload a file with data");
  }
  if (StartsWith(head, "\x1f\x8b")) info.compression = Compression::kGzip;
  if (StartsWith(head, "\x28\xb5\x2f\xfd")) info.compression = Compression::kZstd;

  std::string sample = head;
  LineMeter lines(max_line_bytes);
  if (info.compression != Compression::kNone) {
    sample.clear();
    std::uint64_t seen = 0;
    // One pass over the whole file: the sample from its start, the total to bound bombs, the
    // longest line.
    auto counted = Decompress(path, info.compression, [&](const char* data, std::size_t size) {
      if (sample.size() < kSampleBytes) sample.append(data, std::min(size, kSampleBytes - sample.size()));
      seen += size;
      (void)lines.Feed(data, size);
      return seen <= max_decompressed_bytes;
    });
    if (!counted.ok()) return counted.status();
    if (*counted > max_decompressed_bytes) {
      return Status(ErrorCode::kInvalidArgument, "too_large",
                    "the file decompresses to more than " + std::to_string(max_decompressed_bytes) +
                        " bytes, the limit for one upload; split it into smaller files");
    }
    if (*counted == 0) {
      return InvalidArgument("empty_file", "the compressed file contains no data; upload a file with data");
    }
  }

  std::string_view s = sample;
  const bool hinted_parquet = format_hint == "parquet";
  if (StartsWith(s, "PAR1")) {
    if (info.compression != Compression::kNone) {
      return Unsupported("a compressed Parquet file cannot be read: upload the .parquet file itself");
    }
    info.format = Format::kParquet;
    return info;
  }
  if (hinted_parquet) return Unsupported("the file was declared Parquet but is not a Parquet file");
  if (StartsWith(s, "PK\x03\x04") || StartsWith(s, "\xd0\xcf\x11\xe0")) {
    return Unsupported("Excel and ZIP files are not supported yet: save the sheet as CSV and upload that");
  }
  if (StartsWith(s, "\xff\xfe") || StartsWith(s, "\xfe\xff")) {
    return InvalidArgument("invalid_encoding", "the file is UTF-16 text; save it as UTF-8 and upload it again");
  }
  if (StartsWith(s, "\xef\xbb\xbf")) s.remove_prefix(3);
  // Text formats have no NUL bytes; nearly every binary format has many.
  if (s.find('\0') != std::string_view::npos) {
    return Unsupported("the file is binary, not text");
  }
  const std::size_t first = s.find_first_not_of(" \t\r\n");
  const char lead = first == std::string_view::npos ? '\0' : s[first];
  if (format_hint == "json" || format_hint == "ndjson" || (format_hint.empty() && (lead == '[' || lead == '{'))) {
    info.format = Format::kJson;  // a JSON array may be one long line: the engine bounds objects
    return info;
  }
  info.format = Format::kCsv;
  if (info.compression == Compression::kNone) {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!file) return Unavailable("upload_missing", "the uploaded file cannot be read; upload it again");
    if (lines_checked_until > 0 && lines_checked_until < info.file_bytes &&
        ::fseeko(file.get(), static_cast<off_t>(lines_checked_until), SEEK_SET) != 0) {
      return Unavailable("upload_missing", "the uploaded file cannot be read; upload it again");
    }
    if (lines_checked_until >= info.file_bytes) return info;
    std::vector<char> block(kReadBlock);
    while (std::size_t n = std::fread(block.data(), 1, block.size(), file.get())) {
      if (!lines.Feed(block.data(), n)) break;
    }
  }
  if (lines.exceeded()) return LineTooLong(max_line_bytes);
  return info;
}

}  // namespace quarry::ingest
