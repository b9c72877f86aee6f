// UploadStore: resumable uploads in progress (the tus protocol, /v1/uploads/). The bytes live in
// a file; the file's size is the upload's offset (what arrived and was written), so the store
// holds only what the file cannot say: whose upload it is, its announced length, what it becomes
// (the ingestion parameters), when it expires, and the job it started once complete.
// Tenant reads take the tenant id; another tenant's upload is NotFound "upload_not_found".
// Thread-safety: every method is atomic and safe to call concurrently.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "meta/records.h"

namespace quarry {

struct ResumableUpload {
  std::string id;
  std::string tenant_id;
  std::string user_id;
  std::int64_t length = 0;
  std::string request_json;      // the ingestion parameters (ingest::IngestRequest as JSON)
  std::string metadata;          // the client's Upload-Metadata header, as sent
  std::string idempotency_key;   // optional
  UnixMillis created_at = 0;
  UnixMillis expires_at = 0;
  std::string job_id;            // set once complete and handed to ingestion
};

class UploadStore {
 public:
  virtual ~UploadStore() = default;
  virtual Status CreateUpload(const ResumableUpload& upload) = 0;
  virtual Result<ResumableUpload> GetUpload(const std::string& tenant_id, const std::string& id) = 0;
  // Records the ingestion job; FailedPrecondition "upload_completed" if one is recorded already.
  virtual Status SetUploadJob(const std::string& tenant_id, const std::string& id, const std::string& job_id) = 0;
  virtual Status ExtendUpload(const std::string& tenant_id, const std::string& id, UnixMillis expires_at) = 0;
  virtual Status DeleteUpload(const std::string& tenant_id, const std::string& id) = 0;
  // Uploads past their expiry: incomplete ones (their files are the caller's to delete) and
  // complete ones (their files belong to the ingestion job).
  virtual Result<std::vector<ResumableUpload>> ListExpiredUploads(UnixMillis now, int limit) = 0;
  // Ids of uploads not yet complete (still receiving bytes), across tenants, at most `limit`.
  virtual Result<std::vector<std::string>> ListIncompleteUploadIds(int limit) = 0;
};

}  // namespace quarry
