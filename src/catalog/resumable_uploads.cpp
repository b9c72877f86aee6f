#include "catalog/resumable_uploads.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include "auth/permissions.h"
#include "common/ids.h"

namespace quarry::catalog {
namespace {

constexpr std::size_t kMaxMetadataBytes = 16 * 1024;
constexpr std::size_t kMaxMetadataPairs = 64;

Status BadMetadata(const std::string& why) {
  return InvalidArgument("invalid_upload_metadata",
                         "Upload-Metadata " + why + "; send comma-separated 'key base64value' pairs, e.g. "
                                                   "'dataset c2FsZXM=,filename c2FsZXMuY3N2'");
}

// Base64 (RFC 4648, with padding) through OpenSSL; nullopt when malformed.
std::optional<std::string> DecodeBase64(const std::string& text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  std::size_t padding = 0;
  if (!text.empty() && text.back() == '=') ++padding;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++padding;
  out.resize(static_cast<std::size_t>(n) - padding);
  return out;
}

}  // namespace

Result<std::map<std::string, std::string>> ParseUploadMetadata(const std::string& header) {
  std::map<std::string, std::string> out;
  if (header.size() > kMaxMetadataBytes) return BadMetadata("is longer than 16 KiB");
  std::size_t start = 0;
  while (start < header.size()) {
    std::size_t end = header.find(',', start);
    if (end == std::string::npos) end = header.size();
    std::string pair = header.substr(start, end - start);
    start = end + 1;
    while (!pair.empty() && pair.front() == ' ') pair.erase(0, 1);
    while (!pair.empty() && pair.back() == ' ') pair.pop_back();
    if (pair.empty()) continue;
    const std::size_t space = pair.find(' ');
    const std::string key = pair.substr(0, space);
    if (key.empty() || key.size() > 64) return BadMetadata("has an empty or overlong key");
    std::string value;
    if (space != std::string::npos) {
      auto decoded = DecodeBase64(pair.substr(space + 1));
      if (!decoded) return BadMetadata("has a value for '" + key + "' that is not valid base64");
      value = std::move(*decoded);
    }
    if (!out.emplace(key, std::move(value)).second) return BadMetadata("repeats the key '" + key + "'");
    if (out.size() > kMaxMetadataPairs) return BadMetadata("has more than 64 keys");
  }
  return out;
}

Status ResumableUploads::RequireWriter(const Principal& actor) {
  if (actor.is_operator) {
    return PermissionDenied("tenant_member_required",
                            "uploads belong to tenants; use a key of a tenant's user, not the operator key");
  }
  return RequireScope(actor, kScopeWrite);
}

Result<std::int64_t> ResumableUploads::OffsetOf(const std::string& id) const {
  struct stat st {};
  if (::stat(FileOf(id).c_str(), &st) != 0) {
    return NotFound("upload_not_found", "the upload's data is gone (expired or ingested); start a new upload");
  }
  return static_cast<std::int64_t>(st.st_size);
}

Result<ResumableUpload> ResumableUploads::Create(const Principal& actor, std::int64_t length,
                                                 const std::string& metadata) {
  QUARRY_RETURN_IF_ERROR(RequireWriter(actor));
  if (length < 1) return InvalidArgument("invalid_upload_length", "Upload-Length must be a positive number of bytes");
  const std::int64_t max_bytes = datasets_.MaxUploadBytes(actor);
  if (length > max_bytes) {
    return Status(ErrorCode::kPayloadTooLarge, "too_large",
                  "Upload-Length " + std::to_string(length) + " exceeds the tenant's quota 'upload_bytes' of " +
                      std::to_string(max_bytes) + " bytes; split the file or ask the operator for a larger quota",
                  {{"quota", "upload_bytes"}, {"used", std::to_string(length)}, {"limit", std::to_string(max_bytes)}});
  }
  QUARRY_ASSIGN_OR_RETURN(auto pairs, ParseUploadMetadata(metadata));
  auto dataset = pairs.find("dataset");
  if (dataset == pairs.end()) {
    return InvalidArgument("missing_dataset", "Upload-Metadata must name the dataset: 'dataset <base64 name>'");
  }
  const std::string name = dataset->second;
  pairs.erase(dataset);
  pairs.erase("filetype");  // what browsers send; the format is judged from the bytes
  QUARRY_ASSIGN_OR_RETURN(ingest::IngestRequest request, ingest::IngestRequestFromQuery(pairs));
  request.dataset = name;
  QUARRY_RETURN_IF_ERROR(datasets_.CheckUpload(actor, request));
  (void)SweepExpired();  // housekeeping rides on creations: bounded, and no thread of its own

  ResumableUpload upload;
  const UnixMillis now = clock_.NowMillis();
  upload.id = NewId("upl", now);
  upload.tenant_id = actor.tenant.id;
  upload.user_id = actor.user.id;
  upload.length = length;
  request.upload_path = FileOf(upload.id);
  if (request.filename.empty()) request.filename = name;
  upload.request_json = ingest::ToJson(request);
  upload.metadata = metadata;
  upload.created_at = now;
  upload.expires_at = now + options_.expiry.count();
  const int fd = ::open(FileOf(upload.id).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Unavailable("upload_write_failed", "the server cannot store uploads right now; try again later");
  ::close(fd);
  if (Status st = uploads_.CreateUpload(upload); !st.ok()) {
    ::unlink(FileOf(upload.id).c_str());
    return st;
  }
  return upload;
}

std::function<void(std::string_view)> ResumableUploads::LineChecker(const std::string& id, std::int64_t offset) {
  return [this, id, offset](std::string_view bytes) mutable {
    Measure(id, offset, bytes);
    offset += static_cast<std::int64_t>(bytes.size());
  };
}

void ResumableUploads::Measure(const std::string& id, std::int64_t offset, std::string_view bytes) {
  std::lock_guard lock(line_checks_mu_);
  auto it = line_checks_.find(id);
  if (it == line_checks_.end()) {
    if (offset != 0) return;  // measuring starts with the first byte (not after a restart)
    it = line_checks_.emplace(id, LineCheck(options_.max_line_bytes)).first;
  }
  LineCheck& check = it->second;
  if (check.stopped) return;
  if (offset != check.fed_until || !check.meter.Feed(bytes.data(), bytes.size())) {
    check.stopped = true;
    return;
  }
  check.fed_until += static_cast<std::int64_t>(bytes.size());
  check.checked_until = check.fed_until - static_cast<std::int64_t>(check.meter.current_line());
}

std::int64_t ResumableUploads::TakeLinesChecked(const std::string& id) {
  std::lock_guard lock(line_checks_mu_);
  auto it = line_checks_.find(id);
  if (it == line_checks_.end()) return 0;
  const std::int64_t checked = it->second.checked_until;
  line_checks_.erase(it);
  return checked;
}

Result<UploadState> ResumableUploads::Get(const Principal& actor, const std::string& id) {
  QUARRY_RETURN_IF_ERROR(RequireWriter(actor));
  if (!LooksLikeId(id, "upl")) return NotFound("upload_not_found", "no such upload");
  UploadState state;
  QUARRY_ASSIGN_OR_RETURN(state.upload, uploads_.GetUpload(actor.tenant.id, id));
  // An upload is its uploader's (owners and admins with the admin scope may act on any): another
  // writer cannot read its metadata, append to, complete or delete it.
  const bool manages_tenant =
      (actor.user.role == Role::kOwner || actor.user.role == Role::kAdmin) && actor.HasScope(kScopeAdmin);
  if (state.upload.user_id != actor.user.id && !manages_tenant) {
    return NotFound("upload_not_found", "no such upload");
  }
  if (!state.upload.job_id.empty()) {
    state.offset = state.upload.length;  // complete; the file now belongs to the ingestion
    return state;
  }
  if (state.upload.expires_at < clock_.NowMillis()) return NotFound("upload_not_found", "the upload expired");
  QUARRY_ASSIGN_OR_RETURN(state.offset, OffsetOf(id));
  return state;
}

Result<AppendTarget> ResumableUploads::PrepareAppend(const Principal& actor, const std::string& id,
                                                     std::int64_t client_offset) {
  QUARRY_ASSIGN_OR_RETURN(UploadState state, Get(actor, id));
  if (!state.upload.job_id.empty()) {
    return FailedPrecondition("upload_completed", "the upload is complete and already being ingested");
  }
  if (client_offset != state.offset) {
    return Status(ErrorCode::kFailedPrecondition, "offset_mismatch",
                  "Upload-Offset is " + std::to_string(client_offset) + " but the server has " +
                      std::to_string(state.offset) + " bytes; resume from there");
  }
  return AppendTarget{FileOf(id), state.offset, state.upload.length - state.offset};
}

Result<UploadState> ResumableUploads::AfterAppend(const Principal& actor, const std::string& id) {
  QUARRY_ASSIGN_OR_RETURN(UploadState state, Get(actor, id));
  if (!state.upload.job_id.empty() || state.offset < state.upload.length) {
    if (state.upload.job_id.empty()) {
      QUARRY_RETURN_IF_ERROR(
          uploads_.ExtendUpload(actor.tenant.id, id, clock_.NowMillis() + options_.expiry.count()));
      state.upload.expires_at = clock_.NowMillis() + options_.expiry.count();
    }
    return state;
  }
  return StartIngestion(actor, id, std::move(state));
}

Result<UploadState> ResumableUploads::Inspect(const Principal& actor, const std::string& id) {
  QUARRY_ASSIGN_OR_RETURN(UploadState state, Get(actor, id));
  if (state.upload.job_id.empty() && state.offset == state.upload.length) {
    return StartIngestion(actor, id, std::move(state));
  }
  return state;
}

Result<UploadState> ResumableUploads::StartIngestion(const Principal& actor, const std::string& id, UploadState state) {
  QUARRY_ASSIGN_OR_RETURN(ingest::IngestRequest request, ingest::IngestRequestFromJson(state.upload.request_json));
  request.lines_checked_until = TakeLinesChecked(id);
  // The upload id makes starting idempotent: a repeated final request finds the same job.
  QUARRY_ASSIGN_OR_RETURN(EnqueueResult enqueued, datasets_.StartIngest(actor, request, "tus:" + id));
  Status recorded = uploads_.SetUploadJob(actor.tenant.id, id, enqueued.job.id);
  if (!recorded.ok() && recorded.code() != "upload_completed") return recorded;
  state.upload.job_id = enqueued.job.id;
  return state;
}

Status ResumableUploads::Terminate(const Principal& actor, const std::string& id) {
  QUARRY_ASSIGN_OR_RETURN(UploadState state, Get(actor, id));
  QUARRY_RETURN_IF_ERROR(uploads_.DeleteUpload(actor.tenant.id, id));
  if (state.upload.job_id.empty()) {
    (void)TakeLinesChecked(id);
    ::unlink(FileOf(id).c_str());
  }
  return Status::Ok();
}

Result<int> ResumableUploads::SweepExpired() {
  QUARRY_ASSIGN_OR_RETURN(auto expired, uploads_.ListExpiredUploads(clock_.NowMillis(), 100));
  int removed = 0;
  for (const auto& upload : expired) {
    if (upload.job_id.empty()) {
      (void)TakeLinesChecked(upload.id);
      ::unlink(FileOf(upload.id).c_str());
    }
    if (uploads_.DeleteUpload(upload.tenant_id, upload.id).ok()) ++removed;
  }
  if (removed > 0) spdlog::info("removed {} expired upload(s)", removed);
  return removed;
}

}  // namespace quarry::catalog
