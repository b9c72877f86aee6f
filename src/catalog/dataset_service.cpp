#include "catalog/dataset_service.h"

#include <spdlog/spdlog.h>

#include "auth/permissions.h"

namespace quarry::catalog {

Status DatasetService::RequireMember(const Principal& actor) {
  if (actor.is_operator) {
    return PermissionDenied("tenant_member_required",
                            "datasets belong to tenants; use a key of a tenant's user, not the operator key");
  }
  return Status::Ok();
}

Status DatasetService::CheckUpload(const Principal& actor, const std::string& name, ingest::Mode mode) {
  QUARRY_RETURN_IF_ERROR(RequireMember(actor));
  QUARRY_RETURN_IF_ERROR(RequireScope(actor, kScopeWrite));
  QUARRY_RETURN_IF_ERROR(ValidateDatasetName(name));
  auto existing = datasets_.GetDataset(actor.tenant.id, name);
  if (!existing.ok() && existing.status().code() != "dataset_not_found") return existing.status();
  if (mode == ingest::Mode::kCreate && existing.ok()) {
    return FailedPrecondition("dataset_exists", "a dataset named '" + name +
                                                    "' already exists; upload with mode=replace or mode=append");
  }
  if (mode == ingest::Mode::kAppend && !existing.ok()) {
    return NotFound("dataset_not_found", "there is no dataset '" + name + "' to append to; upload with mode=create");
  }
  return Status::Ok();
}

Result<EnqueueResult> DatasetService::StartIngest(const Principal& actor, const ingest::IngestRequest& request,
                                                  const std::string& idempotency_key) {
  QUARRY_RETURN_IF_ERROR(RequireMember(actor));
  QUARRY_RETURN_IF_ERROR(RequireScope(actor, kScopeWrite));
  QUARRY_RETURN_IF_ERROR(ValidateDatasetName(request.dataset));
  QUARRY_RETURN_IF_ERROR(ingest::Validate(request));
  jobs::Submission submission;
  submission.kind = "ingest";
  submission.payload_json = ingest::ToJson(request);
  submission.idempotency_key = idempotency_key;
  return jobs_.Enqueue(actor, submission);
}

Result<Page<Dataset>> DatasetService::List(const Principal& actor, const PageRequest& page) {
  QUARRY_RETURN_IF_ERROR(RequireMember(actor));
  return datasets_.ListDatasets(actor.tenant.id, page);
}

Result<DatasetDetail> DatasetService::Get(const Principal& actor, const std::string& name) {
  QUARRY_RETURN_IF_ERROR(RequireMember(actor));
  DatasetDetail detail;
  QUARRY_ASSIGN_OR_RETURN(detail.dataset, datasets_.GetDataset(actor.tenant.id, name));
  QUARRY_ASSIGN_OR_RETURN(detail.versions, datasets_.ListVersions(actor.tenant.id, name));
  for (const auto& v : detail.versions) {
    if (v.version == detail.dataset.current_version) detail.current = v;
  }
  return detail;
}

Result<std::vector<DatasetVersion>> DatasetService::Versions(const Principal& actor, const std::string& name) {
  QUARRY_RETURN_IF_ERROR(RequireMember(actor));
  return datasets_.ListVersions(actor.tenant.id, name);
}

Result<Dataset> DatasetService::Rollback(const Principal& actor, const std::string& name, int version) {
  QUARRY_RETURN_IF_ERROR(RequireMember(actor));
  QUARRY_RETURN_IF_ERROR(RequireScope(actor, kScopeWrite));
  return datasets_.Rollback(actor.tenant.id, name, version, clock_.NowMillis());
}

Status DatasetService::Delete(const Principal& actor, const std::string& name) {
  QUARRY_RETURN_IF_ERROR(RequireMember(actor));
  QUARRY_RETURN_IF_ERROR(RequireScope(actor, kScopeWrite));
  QUARRY_ASSIGN_OR_RETURN(std::vector<std::string> prefixes, datasets_.DeleteDataset(actor.tenant.id, name));
  for (const auto& prefix : prefixes) {
    // The registry no longer knows these files: one that fails to go now is an orphan that the
    // start-up sweep removes.
    if (Status st = objects_.DeletePrefix(prefix); !st.ok()) {
      spdlog::warn("deleting dataset files failed (swept at next start): {}", st.ToString());
    }
  }
  return Status::Ok();
}

}  // namespace quarry::catalog
