#include "catalog/dataset_service.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include "access/dataset_access.h"
#include "auth/permissions.h"
#include "common/ids.h"
#include "quota/quota.h"

namespace quarry::catalog {

namespace {
// An append to a missing dataset and to one the caller may not see answer alike.
Status NothingToAppendTo(const std::string& name) {
  return NotFound("dataset_not_found", "there is no dataset '" + name + "' to append to; upload with mode=create");
}
}  // namespace

Status DatasetService::RequireMember(const Principal& actor) {
  if (actor.is_operator) {
    return PermissionDenied("tenant_member_required",
                            "datasets belong to tenants; use a key of a tenant's user, not the operator key");
  }
  return Status::Ok();
}

Result<std::optional<Dataset>> DatasetService::ExistingDataset(const Principal& actor, const std::string& name) {
  auto found = datasets_.GetDataset(actor.tenant.id, name);
  if (found.ok()) return std::optional<Dataset>(std::move(found).value());
  if (found.status().code() == "dataset_not_found") return std::optional<Dataset>();
  return found.status();
}

Status DatasetService::CheckWriteAccess(const Principal& actor, const ingest::IngestRequest& request,
                                        const std::optional<Dataset>& existing) {
  if (!existing) return access::RequireCreateIn(access_, actor, request.project_id);
  QUARRY_RETURN_IF_ERROR(access::RequireWrite(access_, actor, *existing));
  if (!request.project_id.empty() && request.project_id != existing->project_id) {
    return FailedPrecondition("project_mismatch", "the dataset '" + request.dataset +
                                                      "' exists outside that project; an upload does not move a "
                                                      "dataset: an owner or admin moves it with PATCH /v1/datasets/{name}");
  }
  return Status::Ok();
}

Status DatasetService::CheckUpload(const Principal& actor, const ingest::IngestRequest& request) {
  QUARRY_RETURN_IF_ERROR(RequireMember(actor));
  QUARRY_RETURN_IF_ERROR(RequireScope(actor, kScopeWrite));
  const std::string& name = request.dataset;
  QUARRY_RETURN_IF_ERROR(ValidateDatasetName(name));
  QUARRY_ASSIGN_OR_RETURN(std::optional<Dataset> existing, ExistingDataset(actor, name));
  if (existing) {
    QUARRY_ASSIGN_OR_RETURN(access::DatasetRights rights, access::RightsOn(access_, actor, *existing));
    if (!rights.read && request.mode == ingest::Mode::kAppend) {
      // The same answer as for a missing dataset.
      return NothingToAppendTo(name);
    }
    if (!rights.read && request.mode != ingest::Mode::kCreate) {
      return DatasetNotFound();
    }
    if (request.mode == ingest::Mode::kCreate) {
      // Names are unique in the tenant: one the caller cannot see still takes the name.
      return FailedPrecondition("dataset_exists", "a dataset named '" + name +
                                                      "' already exists; upload with mode=replace or mode=append, "
                                                      "or choose another name");
    }
  }
  if (request.mode == ingest::Mode::kAppend && !existing) {
    return NothingToAppendTo(name);
  }
  QUARRY_RETURN_IF_ERROR(CheckWriteAccess(actor, request, existing));
  if (!existing) {
    const std::int64_t limit = quota::Value(actor.tenant, "datasets", quotas_.datasets);
    QUARRY_ASSIGN_OR_RETURN(std::int64_t count, datasets_.CountDatasets(actor.tenant.id));
    if (count + 1 > limit) return quota::Exceeded("datasets", count + 1, limit);
  }
  return Status::Ok();
}

Result<DatasetService::Usage> DatasetService::UsageOf(const Principal& actor) {
  QUARRY_RETURN_IF_ERROR(RequireMember(actor));
  Usage u;
  QUARRY_ASSIGN_OR_RETURN(u.storage_bytes, datasets_.TenantBytes(actor.tenant.id));
  QUARRY_ASSIGN_OR_RETURN(u.datasets, datasets_.CountDatasets(actor.tenant.id));
  u.storage_limit = quota::Value(actor.tenant, "storage_bytes", quotas_.storage_bytes);
  u.datasets_limit = quota::Value(actor.tenant, "datasets", quotas_.datasets);
  u.versions_kept = quota::Value(actor.tenant, "versions_kept", quotas_.versions_kept);
  u.upload_bytes = MaxUploadBytes(actor);
  return u;
}

std::int64_t DatasetService::MaxUploadBytes(const Principal& actor) const {
  return quota::Value(actor.tenant, "upload_bytes", quotas_.upload_bytes);
}

Result<EnqueueResult> DatasetService::StartIngest(const Principal& actor, const ingest::IngestRequest& request,
                                                  const std::string& idempotency_key) {
  QUARRY_RETURN_IF_ERROR(RequireMember(actor));
  QUARRY_RETURN_IF_ERROR(RequireScope(actor, kScopeWrite));
  QUARRY_RETURN_IF_ERROR(ValidateDatasetName(request.dataset));
  QUARRY_RETURN_IF_ERROR(ingest::Validate(request));
  // The tenant's quotas as of now travel with the job (it runs without the caller).
  ingest::IngestRequest with_quotas = request;
  QUARRY_ASSIGN_OR_RETURN(std::optional<Dataset> existing, ExistingDataset(actor, request.dataset));
  QUARRY_RETURN_IF_ERROR(CheckWriteAccess(actor, request, existing));
  // The job changes the dataset only where these rights were checked (DatasetStore::PrepareVersion).
  if (existing) with_quotas.project_id = existing->project_id;
  with_quotas.storage_quota_bytes = quota::Value(actor.tenant, "storage_bytes", quotas_.storage_bytes);
  with_quotas.keep_versions = quota::Value(actor.tenant, "versions_kept", quotas_.versions_kept);
  with_quotas.max_datasets = quota::Value(actor.tenant, "datasets", quotas_.datasets);
  jobs::Submission submission;
  submission.kind = "ingest";
  submission.payload_json = ingest::ToJson(with_quotas);
  submission.idempotency_key = idempotency_key;
  return jobs_.Enqueue(actor, submission);
}

Result<std::vector<policy::Policy>> DatasetService::PoliciesOf(const Principal& actor, const Dataset& dataset) {
  QUARRY_ASSIGN_OR_RETURN(auto stored, datasets_.ListPolicies(actor.tenant.id, dataset.id));
  return policy::ParseStored(stored);
}

Result<policy::AccessView> DatasetService::ViewOf(const Principal& actor, const std::vector<policy::Policy>& policies,
                                                  const DatasetVersion& version) {
  if (policies.empty()) return policy::AccessView{};
  std::vector<std::string> groups;
  if (policy::NamesGroups(policies)) {
    QUARRY_ASSIGN_OR_RETURN(groups, access_.GroupsOf(actor.tenant.id, actor.user.id));
  }
  return policy::CompileView(policy::ColumnsOf(version.schema_json), policies, actor.user.role,
                             actor.user.attributes_json, "dataset", groups);
}

void DatasetService::ApplyView(const policy::AccessView& view, DatasetVersion* version) {
  version->schema_json = policy::VisibleSchemaJson(version->schema_json, view);
  version->stats_json = policy::VisibleStatsJson(version->stats_json, view);
  if (view.rows_restricted) version->row_count = 0;
}

Result<Page<DatasetSummary>> DatasetService::List(const Principal& actor, const PageRequest& page) {
  QUARRY_RETURN_IF_ERROR(RequireMember(actor));
  QUARRY_ASSIGN_OR_RETURN(Page<Dataset> datasets, datasets_.ListDatasets(actor.tenant.id, page, access::ViewerOf(actor)));
  Page<DatasetSummary> out;
  out.next_cursor = datasets.next_cursor;
  for (Dataset& d : datasets.items) {
    DatasetSummary summary{std::move(d), false};
    QUARRY_ASSIGN_OR_RETURN(auto policies, PoliciesOf(actor, summary.dataset));
    if (!policies.empty()) {
      auto version = datasets_.GetVersion(actor.tenant.id, summary.dataset.name, summary.dataset.current_version);
      auto view = version.ok() ? ViewOf(actor, policies, *version) : Result<policy::AccessView>(version.status());
      summary.rows_restricted = !view.ok() || view->rows_restricted;  // a policy that no longer fits restricts
    }
    if (summary.rows_restricted) summary.dataset.row_count = 0;
    out.items.push_back(std::move(summary));
  }
  return out;
}

Result<DatasetDetail> DatasetService::Get(const Principal& actor, const std::string& name) {
  QUARRY_ASSIGN_OR_RETURN(DatasetDetail detail, Versions(actor, name));
  for (const auto& v : detail.versions) {
    if (v.version == detail.dataset.current_version) detail.current = v;
  }
  if (detail.rows_restricted) detail.dataset.row_count = 0;
  return detail;
}

Result<DatasetDetail> DatasetService::Versions(const Principal& actor, const std::string& name) {
  QUARRY_RETURN_IF_ERROR(RequireMember(actor));
  DatasetDetail detail;
  QUARRY_ASSIGN_OR_RETURN(detail.dataset, access::ReadableDataset(datasets_, access_, actor, name));
  QUARRY_ASSIGN_OR_RETURN(detail.versions, datasets_.ListVersions(actor.tenant.id, name));
  QUARRY_ASSIGN_OR_RETURN(auto policies, PoliciesOf(actor, detail.dataset));
  for (DatasetVersion& v : detail.versions) {
    QUARRY_ASSIGN_OR_RETURN(policy::AccessView view, ViewOf(actor, policies, v));
    ApplyView(view, &v);
    if (v.version == detail.dataset.current_version) detail.rows_restricted = view.rows_restricted;
  }
  return detail;
}

Result<std::vector<DatasetPolicy>> DatasetService::ListPolicies(const Principal& actor, const std::string& name) {
  QUARRY_RETURN_IF_ERROR(RequireMember(actor));
  QUARRY_RETURN_IF_ERROR(RequireTenantAdmin(actor));
  QUARRY_ASSIGN_OR_RETURN(Dataset dataset, access::ReadableDataset(datasets_, access_, actor, name));
  return datasets_.ListPolicies(actor.tenant.id, dataset.id);
}

Result<DatasetPolicy> DatasetService::CreatePolicy(const Principal& actor, const std::string& name,
                                                   const boost::json::value& definition) {
  QUARRY_RETURN_IF_ERROR(RequireMember(actor));
  QUARRY_RETURN_IF_ERROR(RequireTenantAdmin(actor));
  QUARRY_ASSIGN_OR_RETURN(Dataset dataset, access::ReadableDataset(datasets_, access_, actor, name));
  QUARRY_ASSIGN_OR_RETURN(DatasetVersion current, datasets_.GetVersion(actor.tenant.id, name, dataset.current_version));
  const std::vector<policy::Column> columns = policy::ColumnsOf(current.schema_json);
  QUARRY_ASSIGN_OR_RETURN(policy::Policy parsed, policy::ParsePolicy(definition, &columns));
  for (const std::string& group : parsed.applies_to_groups) {
    QUARRY_RETURN_IF_ERROR(access_.GetGroup(actor.tenant.id, group).status());
  }
  DatasetPolicy stored;
  stored.created_at = clock_.NowMillis();
  stored.id = NewId("pol", stored.created_at);
  stored.tenant_id = actor.tenant.id;
  stored.dataset_id = dataset.id;
  stored.definition_json = boost::json::serialize(policy::ToJson(parsed));
  stored.created_by = actor.user.id;
  QUARRY_RETURN_IF_ERROR(datasets_.InsertPolicy(stored));
  spdlog::info("policy {} created on dataset {} of tenant {} by {}: {}", stored.id, name, actor.tenant.id,
               actor.user.id, stored.definition_json);
  return stored;
}

Status DatasetService::DeletePolicy(const Principal& actor, const std::string& name, const std::string& policy_id) {
  QUARRY_RETURN_IF_ERROR(RequireMember(actor));
  QUARRY_RETURN_IF_ERROR(RequireTenantAdmin(actor));
  QUARRY_ASSIGN_OR_RETURN(Dataset dataset, access::ReadableDataset(datasets_, access_, actor, name));
  QUARRY_RETURN_IF_ERROR(datasets_.DeletePolicy(actor.tenant.id, dataset.id, policy_id));
  spdlog::info("policy {} deleted from dataset {} of tenant {} by {}", policy_id, name, actor.tenant.id, actor.user.id);
  return Status::Ok();
}

Result<DatasetSummary> DatasetService::Rollback(const Principal& actor, const std::string& name, int version) {
  QUARRY_RETURN_IF_ERROR(RequireMember(actor));
  QUARRY_RETURN_IF_ERROR(RequireScope(actor, kScopeWrite));
  QUARRY_ASSIGN_OR_RETURN(Dataset readable, access::ReadableDataset(datasets_, access_, actor, name));
  QUARRY_RETURN_IF_ERROR(access::RequireWrite(access_, actor, readable));
  QUARRY_ASSIGN_OR_RETURN(Dataset dataset, datasets_.Rollback(actor.tenant.id, name, version, clock_.NowMillis()));
  QUARRY_ASSIGN_OR_RETURN(DatasetDetail seen, Get(actor, name));
  return DatasetSummary{std::move(dataset), seen.rows_restricted};
}

Result<DatasetSummary> DatasetService::MoveToProject(const Principal& actor, const std::string& name,
                                                     const std::string& project_id) {
  QUARRY_RETURN_IF_ERROR(RequireMember(actor));
  QUARRY_RETURN_IF_ERROR(RequireTenantAdmin(actor));
  if (!project_id.empty() && !LooksLikeId(project_id, "prj")) {
    return InvalidArgument("invalid_project", "name the project by its id (prj_...), or null to move the dataset out");
  }
  QUARRY_RETURN_IF_ERROR(access::ReadableDataset(datasets_, access_, actor, name).status());
  QUARRY_RETURN_IF_ERROR(datasets_.SetDatasetProject(actor.tenant.id, name, project_id, clock_.NowMillis()).status());
  spdlog::info("dataset {} of tenant {} moved to project '{}' by {}", name, actor.tenant.id, project_id, actor.user.id);
  QUARRY_ASSIGN_OR_RETURN(DatasetDetail seen, Get(actor, name));
  return DatasetSummary{std::move(seen.dataset), seen.rows_restricted};
}

Status DatasetService::Delete(const Principal& actor, const std::string& name) {
  QUARRY_RETURN_IF_ERROR(RequireMember(actor));
  QUARRY_RETURN_IF_ERROR(RequireScope(actor, kScopeWrite));
  QUARRY_ASSIGN_OR_RETURN(Dataset readable, access::ReadableDataset(datasets_, access_, actor, name));
  QUARRY_RETURN_IF_ERROR(access::RequireWrite(access_, actor, readable));
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
