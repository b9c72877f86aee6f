#include "http/multipart.h"

#include <algorithm>
#include <cctype>
#include <utility>
#include <vector>

namespace quarry::http {
namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

bool IEqualsPrefix(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) != prefix[i]) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// `; name=value; name="quoted \" value"` (RFC 9110 parameters), names lower-cased. Nullopt-like
// failure (unterminated quote) is an error Status.
Result<Params> ParseParams(std::string_view s) {
  Params out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ';' || s[i] == ' ' || s[i] == '\t')) ++i;
    if (i >= s.size()) break;
    const std::size_t eq = s.find('=', i);
    const std::size_t semi = s.find(';', i);
    if (eq == std::string_view::npos || (semi != std::string_view::npos && semi < eq)) {
      i = semi == std::string_view::npos ? s.size() : semi;  // a parameter without value: skipped
      continue;
    }
    std::string name = Lower(Trim(s.substr(i, eq - i)));
    i = eq + 1;
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    std::string value;
    if (i < s.size() && s[i] == '"') {
      ++i;
      bool closed = false;
      while (i < s.size()) {
        const char c = s[i++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\' && i < s.size()) {
          value += s[i++];
        } else {
          value += c;
        }
      }
      if (!closed) return InvalidArgument("multipart_malformed", "A quoted header parameter is not terminated");
    } else {
      const std::size_t end = std::min(s.find(';', i), s.size());
      value = std::string(Trim(s.substr(i, end - i)));
      i = end;
    }
    out.emplace_back(std::move(name), std::move(value));
  }
  return out;
}

const std::string* Param(const Params& params, std::string_view name) {
  for (const auto& [n, v] : params) {
    if (n == name) return &v;
  }
  return nullptr;
}

bool IsBoundaryChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("'()+_,-./:=? ").find(c) != std::string_view::npos;
}

Status Malformed(std::string what) {
  return InvalidArgument("multipart_malformed",
                         "The multipart/form-data body is malformed: " + std::move(what) +
                             ". Send the file as the only part of a form (curl -F file=@FILE), or as the raw body");
}

}  // namespace

Result<std::string> MultipartBoundary(std::string_view content_type) {
  const std::size_t semi = content_type.find(';');
  const std::string type = Lower(Trim(content_type.substr(0, semi)));
  if (type.rfind("multipart/", 0) != 0) return std::string();
  if (type != "multipart/form-data") {
    return Status(ErrorCode::kUnsupportedMediaType, "unsupported_media_type",
                  "Content-Type " + type + " is not accepted: send multipart/form-data or the raw file");
  }
  QUARRY_ASSIGN_OR_RETURN(Params params, ParseParams(semi == std::string_view::npos ? "" : content_type.substr(semi)));
  const std::string* boundary = Param(params, "boundary");
  if (!boundary || boundary->empty() || boundary->size() > 70 || boundary->back() == ' ' ||
      !std::all_of(boundary->begin(), boundary->end(), IsBoundaryChar)) {
    return InvalidArgument("multipart_malformed",
                           "multipart/form-data needs a boundary parameter of 1 to 70 characters (RFC 2046)");
  }
  return *boundary;
}

// The body is decoded as if preceded by CRLF, so the first delimiter (which may open the body
// without one) is found like every other: "\r\n--boundary".
MultipartFileDecoder::MultipartFileDecoder(std::string boundary) : delimiter_("\r\n--" + boundary), pending_("\r\n") {}

Status MultipartFileDecoder::Fail(Status status) {
  state_ = State::kFailed;
  error_ = status;
  pending_.clear();
  return status;
}

Status MultipartFileDecoder::ParsePartHeaders(std::string_view headers) {
  std::string_view disposition;
  while (!headers.empty()) {
    const std::size_t eol = std::min(headers.find("\r\n"), headers.size());
    const std::string_view line = headers.substr(0, eol);
    headers.remove_prefix(std::min(eol + 2, headers.size()));
    if (IEqualsPrefix(line, "content-disposition:")) disposition = Trim(line.substr(20));
  }
  if (!IEqualsPrefix(disposition, "form-data")) return Fail(Malformed("a part has no Content-Disposition: form-data"));
  auto params = ParseParams(disposition.substr(9));
  if (!params.ok()) return Fail(Malformed("a part's Content-Disposition is malformed"));
  const std::string* filename = Param(*params, "filename");
  if (!filename) {
    const std::string* name = Param(*params, "name");
    return Fail(InvalidArgument(
        "multipart_field_not_supported",
        "The form field '" + (name ? name->substr(0, 64) : std::string()) +
            "' is not accepted: send upload parameters (mode, format, ...) in the query string and the file as "
            "the form's only part"));
  }
  if (file_seen_) {
    return Fail(InvalidArgument("multipart_too_many_files",
                                "The form carries more than one file: upload one file per request"));
  }
  file_seen_ = true;
  std::string base = filename->substr(filename->find_last_of("/\\") == std::string::npos
                                          ? 0
                                          : filename->find_last_of("/\\") + 1);
  base.erase(std::remove_if(base.begin(), base.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; }),
             base.end());
  filename_ = base.substr(0, 255);
  return Status::Ok();
}

Status MultipartFileDecoder::Feed(std::string_view in, std::string* out) {
  if (state_ == State::kFailed) return error_;
  if (state_ == State::kEpilogue) return Status::Ok();
  pending_.append(in);
  const std::string_view data = pending_;
  const std::size_t keep = delimiter_.size() - 1;  // a delimiter may straddle two chunks
  std::size_t pos = 0;
  bool more = true;
  while (more) {
    switch (state_) {
      case State::kPreamble: {
        const std::size_t at = data.find(delimiter_, pos);
        if (at != std::string_view::npos) {
          pos = at + delimiter_.size();
          state_ = State::kAfterDelimiter;
          break;
        }
        const std::size_t skip = data.size() > pos + keep ? data.size() - keep - pos : 0;
        preamble_bytes_ += skip;
        pos += skip;
        if (preamble_bytes_ > kMaxPreamble) return Fail(Malformed("no boundary delimiter in the first 64 KiB"));
        more = false;
        break;
      }
      case State::kAfterDelimiter: {
        if (data.size() - pos >= 2 && data.substr(pos, 2) == "--") {
          state_ = State::kEpilogue;
          pending_.clear();
          return Status::Ok();
        }
        const std::size_t eol = data.find("\r\n", pos);
        if (eol == std::string_view::npos) {
          if (data.size() - pos > 256) return Fail(Malformed("a boundary line is not followed by CRLF"));
          more = false;
          break;
        }
        const std::string_view padding = data.substr(pos, eol - pos);
        if (!std::all_of(padding.begin(), padding.end(), [](char c) { return c == ' ' || c == '\t'; })) {
          return Fail(Malformed("a boundary line is followed by other text"));
        }
        pos = eol + 2;
        state_ = State::kPartHeaders;
        break;
      }
      case State::kPartHeaders: {
        // An empty header block is a bare CRLF; otherwise the block ends with CRLF CRLF.
        const std::size_t end = data.substr(pos, 2) == "\r\n" ? pos : data.find("\r\n\r\n", pos);
        if (end == std::string_view::npos) {
          if (data.size() - pos > kMaxPartHeaders) return Fail(Malformed("a part's headers exceed 16 KiB"));
          more = false;
          break;
        }
        QUARRY_RETURN_IF_ERROR(ParsePartHeaders(data.substr(pos, end - pos)));
        pos = end + (end == pos ? 2 : 4);
        state_ = State::kFileBody;
        break;
      }
      case State::kFileBody: {
        const std::size_t at = data.find(delimiter_, pos);
        if (at != std::string_view::npos) {
          out->append(data.data() + pos, at - pos);
          pos = at + delimiter_.size();
          state_ = State::kAfterDelimiter;
          break;
        }
        if (data.size() > pos + keep) {
          out->append(data.data() + pos, data.size() - keep - pos);
          pos = data.size() - keep;
        }
        more = false;
        break;
      }
      case State::kEpilogue:
      case State::kFailed:
        more = false;
        break;
    }
  }
  pending_.erase(0, pos);
  return Status::Ok();
}

Status MultipartFileDecoder::Finish() const {
  if (state_ == State::kFailed) return error_;
  if (!file_seen_) {
    return InvalidArgument("multipart_no_file",
                           "The multipart/form-data body carries no file part (a part with a filename); attach the "
                           "file, e.g. curl -F file=@sales.csv");
  }
  if (state_ != State::kEpilogue) {
    return InvalidArgument("multipart_malformed",
                           "The multipart/form-data body ended before its closing boundary; the upload was cut short");
  }
  return Status::Ok();
}

}  // namespace quarry::http
