// DatasetService: datasets as users see them: start an ingestion of an upload, list and inspect
// datasets and their versions, roll back, delete. Enforces tenant isolation (another tenant's
// dataset is NotFound, like a missing one) and permissions: tenant members read; changing
// anything needs the `write` scope. The operator key sees no tenant data.
// Access policies (policy/policy.h) shape what the registry shows each caller: hidden columns are
// not in schemas, masked ones are VARCHAR, statistics of either are gone, and a caller whose rows
// are restricted sees no row counts or statistics (rows_restricted). Managing policies needs the
// owner or admin role and the `admin` scope.
// Which datasets a caller may see and change at all is decided by access/dataset_access.h (projects,
// groups, grants): a dataset the caller may not read is NotFound here, like a missing one.
// Thread-safety: safe to call concurrently.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "auth/principal.h"
#include "common/clock.h"
#include "ingest/ingest_request.h"
#include "jobs/job_service.h"
#include "meta/access_store.h"
#include "meta/dataset_store.h"
#include "policy/policy.h"
#include "storage/object_store.h"

namespace quarry::catalog {

struct DatasetDetail {
  Dataset dataset;
  DatasetVersion current;
  std::vector<DatasetVersion> versions;  // ready versions, newest first
  bool rows_restricted = false;          // row counts and statistics are not the caller's to see
};

// The server's defaults of the quotas this service enforces (quota/quota.h); each tenant may
// override them.
struct DatasetQuotas {
  std::int64_t storage_bytes = 100LL << 30;
  std::int64_t datasets = 10'000;
  std::int64_t versions_kept = 20;
  std::int64_t upload_bytes = 10LL << 30;
};

struct DatasetSummary {
  Dataset dataset;
  bool rows_restricted = false;
};

class DatasetService {
 public:
  DatasetService(DatasetStore& datasets, AccessStore& access, ObjectStore& objects, jobs::JobService& jobs,
                 const Clock& clock, DatasetQuotas quotas = {})
      : datasets_(datasets), access_(access), objects_(objects), jobs_(jobs), clock_(clock), quotas_(quotas) {}

  // The largest upload the caller's tenant may send (its quota 'upload_bytes').
  std::int64_t MaxUploadBytes(const Principal& actor) const;
  // The caller's tenant's use of the quotas this service enforces, and their limits.
  struct Usage {
    std::int64_t storage_bytes = 0, storage_limit = 0, datasets = 0, datasets_limit = 0, versions_kept = 0,
                 upload_bytes = 0;
  };
  Result<Usage> UsageOf(const Principal& actor);

  // Checks an upload (request.dataset, mode, project_id) before its body is read: membership, the
  // name, that the mode can apply (create: the dataset does not exist yet; append: it does), that
  // the caller may change the dataset or create it in the project, and that a new dataset fits the
  // tenant's quota 'datasets' (413 quota_exceeded).
  Status CheckUpload(const Principal& actor, const ingest::IngestRequest& request);
  // Enqueues the ingestion of a stored upload (request.upload_path), checking the caller's rights
  // again (they may have changed while the upload ran). With an idempotency key
  // used by this tenant within 24 h, returns the original job (existing = true) and enqueues
  // nothing.
  Result<EnqueueResult> StartIngest(const Principal& actor, const ingest::IngestRequest& request,
                                    const std::string& idempotency_key);

  Result<Page<DatasetSummary>> List(const Principal& actor, const PageRequest& page);
  // `versions` of the detail filled; `current` as the caller sees it.
  Result<DatasetDetail> Get(const Principal& actor, const std::string& name);
  // Ready versions newest first, each as the caller sees it (`current` unset).
  Result<DatasetDetail> Versions(const Principal& actor, const std::string& name);
  // The dataset after the rollback, as the caller sees it.
  Result<DatasetSummary> Rollback(const Principal& actor, const std::string& name, int version);
  // Removes the dataset from the registry, then its files.
  Status Delete(const Principal& actor, const std::string& name);
  // Moves the dataset into a project (project_id empty: out of any); owners and admins.
  Result<DatasetSummary> MoveToProject(const Principal& actor, const std::string& name, const std::string& project_id);

  // Access policies of a dataset (owners and admins).
  Result<std::vector<DatasetPolicy>> ListPolicies(const Principal& actor, const std::string& name);
  // Validated against the current version's columns. InvalidArgument "invalid_policy".
  Result<DatasetPolicy> CreatePolicy(const Principal& actor, const std::string& name,
                                     const boost::json::value& definition);
  Status DeletePolicy(const Principal& actor, const std::string& name, const std::string& policy_id);

 private:
  static Status RequireMember(const Principal& actor);
  // The tenant's published dataset `name`, visible to the caller or not (names are per tenant).
  Result<std::optional<Dataset>> ExistingDataset(const Principal& actor, const std::string& name);
  // The caller may change `existing` (when set) or create the request's dataset in its project.
  Status CheckWriteAccess(const Principal& actor, const ingest::IngestRequest& request,
                          const std::optional<Dataset>& existing);
  Result<std::vector<policy::Policy>> PoliciesOf(const Principal& actor, const Dataset& dataset);
  // The caller's view of `version` under `policies` (fails closed like a query would).
  Result<policy::AccessView> ViewOf(const Principal& actor, const std::vector<policy::Policy>& policies,
                                           const DatasetVersion& version);
  static void ApplyView(const policy::AccessView& view, DatasetVersion* version);

  DatasetStore& datasets_;
  AccessStore& access_;
  ObjectStore& objects_;
  jobs::JobService& jobs_;
  const Clock& clock_;
  const DatasetQuotas quotas_;
};

}  // namespace quarry::catalog
