#include "ingest/source_file.h"

#include <gtest/gtest.h>
#include <zlib.h>
#include <zstd.h>

#include <fstream>

#include "common/testing/temp_dir.h"

namespace quarry::ingest {
namespace {

class SourceFileTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& bytes) {
    const std::string path = (dir_.path() / name).string();
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  static std::string Gzip(const std::string& data) {
    z_stream z{};
    deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY);
    std::string out(deflateBound(&z, data.size()) + 64, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z.avail_in = static_cast<uInt>(data.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    deflate(&z, Z_FINISH);
    out.resize(z.total_out);
    deflateEnd(&z);
    return out;
  }
  static std::string Zstd(const std::string& data) {
    std::string out(ZSTD_compressBound(data.size()), '\0');
    out.resize(ZSTD_compress(out.data(), out.size(), data.data(), data.size(), 3));
    return out;
  }
  testing::TempDir dir_{"source"};
};

TEST_F(SourceFileTest, DetectsTextFormats) {
  auto csv = InspectSource(Write("a.csv", "a,b\n1,2\n"), "", 1 << 20);
  ASSERT_TRUE(csv.ok());
  EXPECT_EQ(csv->format, Format::kCsv);
  EXPECT_EQ(csv->compression, Compression::kNone);
  EXPECT_EQ(csv->file_bytes, 8u);
  EXPECT_EQ(InspectSource(Write("a.json", "  [{\"a\":1}]"), "", 1 << 20)->format, Format::kJson);
  EXPECT_EQ(InspectSource(Write("a.ndjson", "{\"a\":1}\n{\"a\":2}\n"), "", 1 << 20)->format, Format::kJson);
  EXPECT_EQ(InspectSource(Write("b.csv", "\xef\xbb\xbf" "a\n1\n"), "", 1 << 20)->format, Format::kCsv);
  EXPECT_EQ(InspectSource(Write("p.parquet", std::string("PAR1") + std::string(8, 'x')), "", 1 << 20)->format,
            Format::kParquet);
}

TEST_F(SourceFileTest, DetectsCompressionFromTheBytes) {
  auto gz = InspectSource(Write("a.csv.gz", Gzip("a,b\n1,2\n")), "", 1 << 20);
  ASSERT_TRUE(gz.ok()) << gz.status().ToString();
  EXPECT_EQ(gz->compression, Compression::kGzip);
  EXPECT_EQ(gz->format, Format::kCsv);
  auto zst = InspectSource(Write("a.json.zst", Zstd("[{\"a\":1}]")), "", 1 << 20);
  ASSERT_TRUE(zst.ok()) << zst.status().ToString();
  EXPECT_EQ(zst->compression, Compression::kZstd);
  EXPECT_EQ(zst->format, Format::kJson);
}

TEST_F(SourceFileTest, RefusesBadFilesWithPreciseCodes) {
  EXPECT_EQ(InspectSource(Write("empty.csv", ""), "", 1 << 20).status().code(), "empty_file");
  EXPECT_EQ(InspectSource(Write("empty.gz", Gzip("")), "", 1 << 20).status().code(), "empty_file");
  EXPECT_EQ(InspectSource(Write("x.xlsx", std::string("PK\x03\x04", 4) + "rest"), "", 1 << 20).status().code(),
            "unsupported_format");
  EXPECT_EQ(InspectSource(Write("bin", std::string("\x7f" "ELF\x02\x01\x01\0\0\0", 10)), "", 1 << 20).status().code(),
            "unsupported_format");
  EXPECT_EQ(InspectSource(Write("u16.csv", "\xff\xfe" "a\0,\0b\0"), "", 1 << 20).status().code(), "invalid_encoding");
  EXPECT_EQ(InspectSource(Write("fake.parquet", "a,b\n1,2\n"), "parquet", 1 << 20).status().code(), "unsupported_format");
  EXPECT_EQ(InspectSource(Write("trunc.gz", Gzip(std::string(100000, 'a')).substr(0, 50)), "", 1 << 20).status().code(),
            "corrupt_compressed_file");
  Status missing = InspectSource((dir_.path() / "missing").string(), "", 1 << 20).status();
  EXPECT_EQ(missing.code(), "upload_missing");
}

TEST_F(SourceFileTest, StopsDecompressionBombsAtTheLimit) {
  const std::string bomb = Gzip(std::string(50 << 20, '0'));  // 50 MiB of zeros, ~50 KiB compressed
  ASSERT_LT(bomb.size(), 1u << 20);
  auto gz = InspectSource(Write("bomb.csv.gz", bomb), "", 8 << 20);
  EXPECT_EQ(gz.status().code(), "too_large");
  auto zst = InspectSource(Write("bomb.csv.zst", Zstd(std::string(50 << 20, '0'))), "", 8 << 20);
  EXPECT_EQ(zst.status().code(), "too_large");
}

TEST_F(SourceFileTest, LinesCheckedAsTheUploadArrivedAreNotReadAgain) {
  const std::string long_line(100, 'x');
  const std::string early = Write("early.csv", "a\n" + long_line + "\n1\n");
  EXPECT_EQ(InspectSource(early, "", 1 << 20, 50).status().code(), "line_too_long");
  // The caller vouches for every line before offset 104 (the third line's start).
  EXPECT_TRUE(InspectSource(early, "", 1 << 20, 50, 104).ok());
  // A long line after that offset is still found, as is one when the offset covers nothing.
  const std::string late = Write("late.csv", "a\n1\n" + long_line + "\n");
  EXPECT_EQ(InspectSource(late, "", 1 << 20, 50, 4).status().code(), "line_too_long");
  // An offset past the end leaves nothing to check.
  EXPECT_TRUE(InspectSource(late, "", 1 << 20, 50, 1 << 20).ok());
  // Compressed files are always checked whole (the offset counts stored bytes, not text).
  EXPECT_EQ(InspectSource(Write("gz.csv.gz", Gzip("a\n" + long_line + "\n")), "", 1 << 20, 50, 1 << 20).status().code(),
            "line_too_long");
}

}  // namespace
}  // namespace quarry::ingest
