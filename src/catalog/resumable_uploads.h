// ResumableUploads: the service behind the tus 1.0.0 protocol (/v1/uploads/; core, creation,
// creation-with-upload, termination, expiration). An upload is a record (UploadStore) plus a file
// in the uploads directory whose size is the offset: bytes are appended by the HTTP layer
// (UploadTarget with append), and kept when a connection drops, so a client resumes from the
// offset HEAD reports. When the last byte arrives, the ingestion job starts (once: the job's
// idempotency key is the upload id). Incomplete uploads expire `expiry` after their last write
// and are deleted by SweepExpired.
// Permissions as DatasetService: members with the write scope; another tenant's upload is 404.
// Thread-safety: safe to call concurrently (concurrent appends to one upload are excluded by the
// HTTP layer's file lock).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string_view>
#include <string>

#include "catalog/dataset_service.h"
#include "ingest/source_file.h"
#include "meta/upload_store.h"

namespace quarry::catalog {

struct ResumableUploadOptions {
  std::string uploads_dir;
  std::int64_t max_upload_bytes = 10LL << 30;
  std::chrono::milliseconds expiry{24 * 3'600'000LL};
  std::int64_t max_line_bytes = 2LL << 20;  // ingest.max_line_bytes
};

struct UploadState {
  ResumableUpload upload;
  std::int64_t offset = 0;
};

struct AppendTarget {
  std::string path;
  std::int64_t offset = 0;
  std::int64_t max_bytes = 0;  // what is left to the announced length
};

class ResumableUploads {
 public:
  ResumableUploads(UploadStore& uploads, DatasetService& datasets, const Clock& clock, ResumableUploadOptions options)
      : uploads_(uploads), datasets_(datasets), clock_(clock), options_(std::move(options)) {}

  // Creation: `metadata` is the Upload-Metadata header (comma-separated "key base64value"); it
  // must name the `dataset` and may carry `filename` and every upload parameter of
  // PUT /v1/datasets/{name}/data (mode, format, delimiter, ...).
  Result<ResumableUpload> Create(const Principal& actor, std::int64_t length, const std::string& metadata);
  Result<UploadState> Get(const Principal& actor, const std::string& id);
  // HEAD and GET: Get, and a complete upload whose ingestion never started (the server stopped
  // between the last durable byte and enqueueing the job) starts it now: a client that
  // reconnects, finds the upload complete and sends nothing more still gets its ingestion.
  Result<UploadState> Inspect(const Principal& actor, const std::string& id);
  // Before a PATCH body: the file to append to, checked against the client's Upload-Offset.
  Result<AppendTarget> PrepareAppend(const Principal& actor, const std::string& id, std::int64_t client_offset);
  // After a PATCH body arrived: extends the expiry; when complete, starts the ingestion.
  Result<UploadState> AfterAppend(const Principal& actor, const std::string& id);
  // For UploadTarget::on_stored of a body appended at `offset`: measures line lengths as the bytes
  // arrive, so that the ingestion need not read the file again for that (IngestRequest::
  // lines_checked_until). Bytes it did not see (an interrupted body's last piece) end the
  // measuring of that upload where it stands.
  std::function<void(std::string_view)> LineChecker(const std::string& id, std::int64_t offset);
  Status Terminate(const Principal& actor, const std::string& id);
  // Deletes expired uploads (files of incomplete ones too). Returns how many.
  Result<int> SweepExpired();

  std::int64_t max_upload_bytes() const { return options_.max_upload_bytes; }

 private:
  // Enqueues the ingestion of a complete upload (idempotent: keyed by the upload id) and records
  // its job on the upload.
  Result<UploadState> StartIngestion(const Principal& actor, const std::string& id, UploadState state);
  std::string FileOf(const std::string& id) const { return options_.uploads_dir + "/tus_" + id; }
  static Status RequireWriter(const Principal& actor);
  Result<std::int64_t> OffsetOf(const std::string& id) const;
  void Measure(const std::string& id, std::int64_t offset, std::string_view bytes);
  // Where the line check of `id` stands, forgetting it.
  std::int64_t TakeLinesChecked(const std::string& id);

  struct LineCheck {
    explicit LineCheck(std::int64_t max_line) : meter(static_cast<std::uint64_t>(max_line)) {}
    ingest::LineMeter meter;
    std::int64_t fed_until = 0;       // bytes seen, from the start of the file
    std::int64_t checked_until = 0;   // a line start; every line before it is within the limit
    bool stopped = false;             // bytes went unseen, or a line exceeded the limit
  };

  UploadStore& uploads_;
  DatasetService& datasets_;
  const Clock& clock_;
  const ResumableUploadOptions options_;
  std::mutex line_checks_mu_;
  std::map<std::string, LineCheck> line_checks_;  // incomplete uploads by id
};

// Parses a tus Upload-Metadata header into key -> decoded value. InvalidArgument
// "invalid_upload_metadata" for a malformed pair, bad base64, a duplicate key or more than
// 64 pairs / 16 KiB.
Result<std::map<std::string, std::string>> ParseUploadMetadata(const std::string& header);

}  // namespace quarry::catalog
