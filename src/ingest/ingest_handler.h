// The `ingest` job: turns one stored upload into one immutable dataset version (Parquet).
//
// Steps of an attempt (docs/datasets.md): inspect the file (format, compression, bombs) →
// check the storage quota → PrepareVersion (fenced) → DuckDB writes the Parquet file into the
// attempt's scratch directory (progress from DuckDB's own query progress; rejected rows from
// its reject tables) → schema and per-column stats from the Parquet metadata → quota again →
// move the file under the version's storage prefix → PublishVersion (fenced). A crash anywhere
// leaves the previous version current; the pending version and its files are swept later
// (SweepAbandonedVersions). The upload file is deleted once the job cannot run again.
//
// Errors: bad input is permanent with a precise code (empty_file, unsupported_format,
// invalid_encoding, bad_rows, line_too_long, schema_mismatch, too_large, quota_exceeded,
// dataset_exists, dataset_not_found); resource trouble (disk, memory, a lost lease) is retryable.
// Thread-safety: Run may be called concurrently for different jobs.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "common/clock.h"
#include "ingest/ingest_request.h"
#include "jobs/job_handler.h"
#include "meta/dataset_store.h"
#include "storage/object_store.h"

namespace quarry::audit {
class AuditLog;
}

namespace quarry::ingest {

struct IngestOptions {
  std::string uploads_dir;  // where stored uploads live (payload paths must be inside it)
  int threads = 2;
  std::int64_t memory_limit_bytes = 1LL << 30;
  std::int64_t max_decompressed_bytes = 64LL << 30;
  std::int64_t tenant_storage_quota_bytes = 100LL << 30;
  std::int64_t max_line_bytes = 2LL << 20;
  bool preserve_row_order = false;  // keep the file's row order in the dataset (slower)
  int keep_versions = 20;  // version retention: newest versions kept per dataset (>= 1)
};

class IngestHandler final : public jobs::JobHandler {
 public:
  // `audit` (optional, outlives the handler): each published version is recorded there.
  IngestHandler(DatasetStore& datasets, ObjectStore& objects, const Clock& clock, IngestOptions options,
                audit::AuditLog* audit = nullptr)
      : datasets_(datasets), objects_(objects), clock_(clock), options_(std::move(options)), audit_(audit) {}

  // Checks, when an attempt starts, that the job's user may still make this change (their
  // membership or role may have changed while the job waited); a refusal fails the job with it.
  using WriteCheck = std::function<Status(const Job& job, const IngestRequest& request)>;
  void set_write_check(WriteCheck check) { write_check_ = std::move(check); }

  Result<std::string> Run(jobs::JobContext& context) override;
  // Deletes the job's upload file and the pending versions of jobs that ended.
  void Discard(const Job& job) override;
  // The request without the server path of its upload.
  std::string PublicPayload(const std::string& payload_json) const override;

 private:
  // Defense in depth: a payload's upload must be a file directly inside the uploads directory.
  bool InUploads(const std::filesystem::path& file) const;

  DatasetStore& datasets_;
  ObjectStore& objects_;
  WriteCheck write_check_;
  const Clock& clock_;
  const IngestOptions options_;
  audit::AuditLog* const audit_;
};

// The kind's policy: 3 attempts, memory_bytes from the engine's memory limit (plus headroom).
jobs::KindPolicy IngestKindPolicy(const IngestOptions& options);

// Deletes the files and rows of pending versions whose job will never publish them (crashed
// before publishing and then failed or finished). Returns how many were removed.
Result<int> SweepAbandonedVersions(DatasetStore& datasets, ObjectStore& objects);

}  // namespace quarry::ingest
