// Session: upload routes, whose body streams to a file instead of memory (see UploadPreparer in
// http.h). Reads happen on the connection's I/O thread into a fixed chunk buffer; each chunk is
// written to the file on the blocking pool, and only then is the next chunk read, so a slow disk
// slows this upload down (TCP back-pressure) instead of growing memory or stalling other
// connections. Memory per upload: one chunk.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "http/server_internal.h"

namespace quarry::http::internal {
namespace {

constexpr std::size_t kUploadChunk = 1 << 20;
// Every this many bytes, the file's dirty pages are handed to the disk (asynchronously), as
// RocksDB's bytes_per_sync does: writeback overlaps the transfer instead of all of it waiting for
// the final fsync, and an upload never holds more than this much dirty page cache.
constexpr std::uint64_t kWritebackEvery = 8 << 20;

Status WriteAll(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOSPC || errno == EDQUOT) {
        return Unavailable("disk_full", "The server's disk is full; the upload was not stored. Try again later");
      }
      return Unavailable("upload_write_failed", std::string("Storing the upload failed: ") + std::strerror(errno));
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return Status::Ok();
}

Status TooLarge(std::uint64_t max) {
  return Status(ErrorCode::kPayloadTooLarge, "too_large",
                "The upload exceeds the limit of " + std::to_string(max) +
                    " bytes for this tenant; split the file or ask the operator for a larger limit");
}

}  // namespace

void Session::PrepareUpload(bool body_pending) {
  state_ = State::kHandling;
  stream_.expires_never();
  net::post(server_.blocking_pool(), [self = shared_from_this(), body_pending] {
    Result<UploadTarget> target = Internal("internal_error", "the upload could not be prepared");
    {
      log::ScopedRequestId scoped(self->request_.request_id);
      try {
        target = self->route_->upload(self->request_);
      } catch (const std::exception& e) {
        spdlog::error("upload preparer for {} threw: {}", self->route_->pattern, e.what());
      }
    }
    net::post(self->stream_.get_executor(), [self, body_pending, target = std::move(target)]() mutable {
      self->StartUpload(std::move(target), body_pending);
    });
  });
}

void Session::StartUpload(Result<UploadTarget> target, bool body_pending) {
  if (!target.ok()) {
    Fail(target.status(), body_pending);
    return;
  }
  upload_max_ = target->max_bytes;
  if (auto length = header_parser_->content_length(); length && *length > upload_max_) {
    Fail(TooLarge(upload_max_), body_pending);
    return;
  }
  request_.body_file = target->path;
  upload_keep_ = target->append;
  upload_unsynced_ = 0;
  upload_on_stored_ = std::move(target->on_stored);
  if (!target->multipart_boundary.empty()) upload_multipart_.emplace(target->multipart_boundary);
  if (target->append) {
    upload_fd_ = ::open(target->path.c_str(), O_WRONLY | O_CLOEXEC);
    if (upload_fd_ < 0) {
      Fail(NotFound("upload_not_found", "The upload no longer exists (expired or terminated); start a new one"),
           body_pending);
      return;
    }
    struct stat st {};
    if (::flock(upload_fd_, LOCK_EX | LOCK_NB) != 0) {
      ::close(upload_fd_);
      upload_fd_ = -1;
      Fail(Status(ErrorCode::kFailedPrecondition, "upload_locked",
                  "Another request is writing this upload right now; retry when it has ended"),
           body_pending);
      return;
    }
    if (::fstat(upload_fd_, &st) != 0 || static_cast<std::uint64_t>(st.st_size) != target->expected_offset ||
        ::lseek(upload_fd_, 0, SEEK_END) < 0) {
      ::close(upload_fd_);
      upload_fd_ = -1;
      Fail(Status(ErrorCode::kFailedPrecondition, "offset_mismatch",
                  "Upload-Offset does not match the bytes the server has; ask for the offset (HEAD) and resume "
                  "from there"),
           body_pending);
      return;
    }
  } else {
    upload_fd_ = ::open(target->path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  }
  if (upload_fd_ < 0) {
    spdlog::error("cannot create an upload file: {}", std::strerror(errno));
    Fail(Unavailable("upload_write_failed", "The server cannot store uploads right now; try again later"),
         body_pending);
    return;
  }
  if (!body_pending) {
    FinishUpload();
    return;
  }
  upload_parser_.emplace(std::move(*header_parser_));
  header_parser_.reset();
  upload_parser_->body_limit(upload_max_);
  upload_chunk_.resize(kUploadChunk);
  if (beast::iequals(request_.headers.Get("Expect"), "100-continue")) {
    continue_.emplace(bhttp::status::continue_, upload_parser_->get().version());
    bhttp::async_write(stream_, *continue_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) {
        self->stream_.close();
        return;
      }
      self->ReadUploadChunk();
    });
    return;
  }
  ReadUploadChunk();
}

void Session::ReadUploadChunk() {
  state_ = State::kReading;
  auto& body = upload_parser_->get().body();
  body.data = upload_chunk_.data();
  body.size = upload_chunk_.size();
  body.more = true;
  // An upload may take hours; what is bounded is the silence between chunks.
  stream_.expires_after(server_.options().read_timeout);
  bhttp::async_read(stream_, buffer_, *upload_parser_,
                    [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnUploadChunk(ec); });
}

void Session::OnUploadChunk(beast::error_code ec) {
  if (ec == bhttp::error::need_buffer) ec = {};
  if (ec == bhttp::error::body_limit) {
    FailUpload(TooLarge(upload_max_), true);
    return;
  }
  const bool timed_out = ec == beast::error::timeout;
  if (timed_out || ec == net::error::eof || ec == bhttp::error::end_of_stream || ec == net::error::connection_reset ||
      ec == net::error::operation_aborted || ec == bhttp::error::partial_message) {
    if (timed_out) server_.metrics().ConnectionTimedOut();
    // The client went away mid-body: nobody to answer. A resumable upload keeps the bytes of this
    // last partial chunk too (a small write on the I/O thread, once per interrupted upload).
    const std::size_t partial = upload_chunk_.size() - upload_parser_->get().body().size;
    if (upload_keep_ && partial > 0 && upload_fd_ >= 0) (void)WriteAll(upload_fd_, upload_chunk_.data(), partial);
    FailUpload(Status(), false);
    return;
  }
  if (ec) {
    FailUpload(InvalidArgument("malformed_request",
                               "The request body is not valid HTTP/1.1 framing (" + ec.message() + ")"),
               true);
    return;
  }
  const std::size_t n = upload_chunk_.size() - upload_parser_->get().body().size;
  const bool done = upload_parser_->is_done();
  state_ = State::kHandling;
  stream_.expires_never();
  net::post(server_.blocking_pool(), [self = shared_from_this(), n, done] {
    std::string_view bytes(self->upload_chunk_.data(), n);
    Status written;
    if (self->upload_multipart_) {
      self->upload_decoded_.clear();
      written = self->upload_multipart_->Feed(bytes, &self->upload_decoded_);
      bytes = self->upload_decoded_;
    }
    if (written.ok()) written = WriteAll(self->upload_fd_, bytes.data(), bytes.size());
    self->upload_unsynced_ += bytes.size();
    if (written.ok() && self->upload_on_stored_) self->upload_on_stored_(bytes);
    if (written.ok() && self->upload_unsynced_ >= kWritebackEvery) {
      (void)::sync_file_range(self->upload_fd_, 0, 0, SYNC_FILE_RANGE_WRITE);  // a hint; fsync is the guarantee
      self->upload_unsynced_ = 0;
    }
    net::post(self->stream_.get_executor(), [self, stored = bytes.size(), done, written = std::move(written)] {
      if (!written.ok()) {
        self->FailUpload(written, true);
        return;
      }
      self->request_.body_bytes += stored;
      if (done) {
        self->FinishUpload();
      } else {
        self->ReadUploadChunk();
      }
    });
  });
}

void Session::FailUpload(const Status& status, bool answer) {
  if (upload_fd_ >= 0) {
    if (upload_keep_) ::fsync(upload_fd_);  // a resumable upload keeps what arrived
    ::close(upload_fd_);
    upload_fd_ = -1;
    if (!upload_keep_) ::unlink(request_.body_file.c_str());
  }
  upload_parser_.reset();
  upload_multipart_.reset();
  if (!answer) {
    stream_.close();
    return;
  }
  Fail(status, true);
}

void Session::FinishUpload() {
  if (upload_multipart_) {
    Status complete = upload_multipart_->Finish();
    request_.body_filename = upload_multipart_->filename();
    upload_multipart_.reset();
    if (!complete.ok()) {
      FailUpload(complete, true);
      return;
    }
  }
  upload_parser_.reset();
  state_ = State::kHandling;
  stream_.expires_never();
  net::post(server_.blocking_pool(), [self = shared_from_this()] {
    // The bytes are durable before anyone is told they were received.
    const bool durable = ::fsync(self->upload_fd_) == 0;
    if (!durable) spdlog::error("fsync of an upload failed: {}", std::strerror(errno));
    ::close(self->upload_fd_);
    self->upload_fd_ = -1;
    Response response =
        durable ? self->Invoke()
                : Response::Problem(Unavailable("upload_write_failed", "Storing the upload failed; try again"),
                                    self->request_);
    if (!self->upload_keep_) ::unlink(self->request_.body_file.c_str());  // unless the handler moved it away
    net::post(self->stream_.get_executor(), [self, response = std::move(response)]() mutable {
      self->Reply(std::move(response), false);
    });
  });
}

}  // namespace quarry::http::internal
