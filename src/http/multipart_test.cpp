#include "http/multipart.h"

#include <gtest/gtest.h>

#include <string>

namespace quarry::http {
namespace {

const std::string kBoundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW";

std::string Part(const std::string& disposition, const std::string& content) {
  return "--" + kBoundary + "\r\nContent-Disposition: " + disposition +
         "\r\nContent-Type: application/octet-stream\r\n\r\n" + content + "\r\n";
}

std::string Close() { return "--" + kBoundary + "--\r\n"; }

struct Decoded {
  Status status;
  std::string file;
  std::string filename;
};

// Feeds `body` in pieces of `step` bytes, then finishes.
Decoded Decode(const std::string& body, std::size_t step) {
  MultipartFileDecoder decoder(kBoundary);
  Decoded d;
  for (std::size_t i = 0; i < body.size() && d.status.ok(); i += step) {
    d.status = decoder.Feed(std::string_view(body).substr(i, step), &d.file);
  }
  if (d.status.ok()) d.status = decoder.Finish();
  d.filename = decoder.filename();
  return d;
}

TEST(MultipartBoundary, ParsesValidatesAndIgnoresOtherTypes) {
  EXPECT_EQ(*MultipartBoundary("multipart/form-data; boundary=abc123"), "abc123");
  EXPECT_EQ(*MultipartBoundary("Multipart/Form-Data; charset=utf-8; BOUNDARY=\"a b'c\""), "a b'c");
  EXPECT_EQ(*MultipartBoundary("text/csv"), "");
  EXPECT_EQ(*MultipartBoundary(""), "");
  EXPECT_EQ(MultipartBoundary("multipart/form-data").status().code(), "multipart_malformed");
  EXPECT_EQ(MultipartBoundary("multipart/form-data; boundary=" + std::string(71, 'x')).status().code(),
            "multipart_malformed");
  EXPECT_EQ(MultipartBoundary("multipart/form-data; boundary=a<b").status().code(), "multipart_malformed");
  EXPECT_EQ(MultipartBoundary("multipart/form-data; boundary=\"abc").status().code(), "multipart_malformed");
  EXPECT_EQ(MultipartBoundary("multipart/mixed; boundary=abc").status().code(), "unsupported_media_type");
}

TEST(MultipartFileDecoder, EmitsExactlyTheFileBytesWhateverTheChunking) {
  // Content that looks like delimiters without being one, CRLFs at both ends, binary bytes.
  std::string content = "\r\nid,name\r\n--" + kBoundary.substr(0, 10) + "\r\n--x\r\n" + std::string("\0\xff", 2) +
                        "\r\n-" + "\r\n";
  for (int i = 0; i < 200; ++i) content += "row " + std::to_string(i) + "\r\n";
  const std::string body = "preamble to ignore\r\n" +
                           Part(R"(form-data; name="file"; filename="C:\\Users\\me\\sales.csv")", content) + Close() +
                           "epilogue";
  for (std::size_t step : {std::size_t{1}, std::size_t{2}, std::size_t{7}, std::size_t{41}, body.size()}) {
    Decoded d = Decode(body, step);
    ASSERT_TRUE(d.status.ok()) << "step " << step << ": " << d.status.ToString();
    EXPECT_EQ(d.file, content) << "step " << step;
    EXPECT_EQ(d.filename, "sales.csv");
  }
}

TEST(MultipartFileDecoder, AcceptsAnEmptyFileAndPathlessNames) {
  Decoded d = Decode(Part(R"(form-data; name="f"; filename="data.csv.gz")", "") + Close(), 3);
  ASSERT_TRUE(d.status.ok()) << d.status.ToString();
  EXPECT_EQ(d.file, "");
  EXPECT_EQ(d.filename, "data.csv.gz");
}

TEST(MultipartFileDecoder, RefusesFieldsSecondFilesAndMissingFiles) {
  EXPECT_EQ(Decode(Part(R"(form-data; name="mode")", "replace") + Part(R"(form-data; name="f"; filename="a")", "x") +
                       Close(),
                   5)
                .status.code(),
            "multipart_field_not_supported");
  EXPECT_EQ(Decode(Part(R"(form-data; name="a"; filename="a")", "x") + Part(R"(form-data; name="b"; filename="b")", "y") +
                       Close(),
                   5)
                .status.code(),
            "multipart_too_many_files");
  EXPECT_EQ(Decode(Close(), 4).status.code(), "multipart_no_file");
  EXPECT_EQ(Decode("", 4).status.code(), "multipart_no_file");
}

TEST(MultipartFileDecoder, RefusesTruncatedAndMalformedBodies) {
  const std::string part = Part(R"(form-data; name="f"; filename="a.csv")", "a,b\n1,2\n");
  EXPECT_EQ(Decode(part, 8).status.code(), "multipart_malformed");  // no closing delimiter
  EXPECT_EQ(Decode("--" + kBoundary + "\r\nContent-Type: text/csv\r\n\r\nx\r\n" + Close(), 8).status.code(),
            "multipart_malformed");  // no Content-Disposition
  EXPECT_EQ(Decode("--" + kBoundary + "junk\r\n" + Close(), 8).status.code(), "multipart_malformed");
  EXPECT_EQ(Decode(std::string(MultipartFileDecoder::kMaxPreamble + 100, 'p'), 4096).status.code(),
            "multipart_malformed");
  EXPECT_EQ(Decode("--" + kBoundary + "\r\n" + std::string(MultipartFileDecoder::kMaxPartHeaders + 10, 'h'), 4096)
                .status.code(),
            "multipart_malformed");
}

TEST(MultipartFileDecoder, AnErrorIsFinal) {
  MultipartFileDecoder decoder(kBoundary);
  std::string out;
  EXPECT_FALSE(decoder.Feed(Part(R"(form-data; name="mode")", "x"), &out).ok());
  EXPECT_EQ(decoder.Feed(Close(), &out).code(), "multipart_field_not_supported");
  EXPECT_EQ(decoder.Finish().code(), "multipart_field_not_supported");
  EXPECT_EQ(out, "");
}

}  // namespace
}  // namespace quarry::http
