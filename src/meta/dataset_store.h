// DatasetStore: the registry of datasets and their immutable versions. Implementations: SQLite
// (embedded mode, meta/sqlite/) now, PostgreSQL in the scale-out mode.
//
// Lifecycle of a version (ingestion; see docs/datasets.md):
//   1. PrepareVersion (by a running job, checked against its fencing token) reserves the dataset's
//      id (creating the dataset row, still invisible, on a first version) and the next version
//      number, as a `pending` version owned by the job. A retried attempt of the same job takes
//      its pending version over instead of reserving another number.
//   2. The job writes the files and moves them to the version's storage prefix.
//   3. PublishVersion, again conditional on the job's current fencing token, makes the version
//      `ready` and current in one transaction. A job that lost its lease publishes nothing.
// A crash between 1 and 3 leaves a pending version: ListAbandonedVersions finds those whose job
// is no longer running, so start-up can delete their files and rows.
//
// Visibility: a dataset is visible (Get/List) once it has a current version. Tenant reads take
// the tenant id; another tenant's dataset is NotFound "dataset_not_found", like a missing one.
// Thread-safety: every method is atomic and safe to call concurrently.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "meta/records.h"

namespace quarry {

enum class VersionState { kPending, kReady };

struct DatasetVersion {
  std::string dataset_id;
  int version = 0;
  VersionState state = VersionState::kPending;
  std::string storage_prefix;  // object-store prefix ending in '/'
  std::int64_t row_count = 0;
  std::int64_t byte_size = 0;
  std::string schema_json = "[]";  // [{"name","type","nullable"}]
  std::string stats_json = "[]";   // [{"name","min","max","null_count"}]
  std::string job_id;              // the ingestion that wrote it
  std::string source_json = "{}";  // how it was made: mode, format, file name
  UnixMillis created_at = 0;
};

struct Dataset {
  std::string id;
  std::string tenant_id;
  std::string name;
  int current_version = 0;  // 0: none published yet (invisible)
  std::int64_t row_count = 0;   // of the current version
  std::int64_t byte_size = 0;   // of the current version
  UnixMillis created_at = 0;
  UnixMillis updated_at = 0;
  std::string project_id;  // empty: in no project (visible to the whole tenant)
};

// Whose list of datasets (the visibility rule of docs/security.md "Projects, groups and grants").
struct DatasetViewer {
  std::string user_id;
  bool sees_all = false;  // tenant owners and admins
};

struct PrepareVersionRequest {
  std::string tenant_id;
  std::string name;
  std::string job_id;
  std::int64_t fencing_token = 0;
  bool must_not_exist = false;   // mode create: FailedPrecondition "dataset_exists" if published
  bool must_exist = false;       // mode append: NotFound "dataset_not_found" if not published
  // > 0: a new dataset may be created only while the tenant has fewer datasets (published or
  // being created) than this; else PayloadTooLarge "quota_exceeded". Checked in the transaction
  // that creates it, so concurrent uploads cannot pass it together.
  std::int64_t max_datasets = 0;
  // The project the dataset is in (empty: none) as the upload was checked against: a new dataset is
  // created in it; an existing one (also one another upload is creating) must still be in it,
  // else FailedPrecondition "project_mismatch" (a dataset moved while the job waited is not
  // changed on rights checked for its old place). NotFound "project_not_found" when it is gone.
  std::string project_id;
};

struct PreparedVersion {
  std::string dataset_id;
  int version = 0;
  int base_version = 0;  // the current version when prepared (append reads it); 0 = none
  std::string storage_prefix;
};

struct PublishRequest {
  std::string tenant_id;
  std::string dataset_id;
  int version = 0;
  std::string job_id;
  std::int64_t fencing_token = 0;
  int expected_base_version = 0;  // append: the base must still be current, else "dataset_changed"
  bool check_base = false;
  std::int64_t row_count = 0;
  std::int64_t byte_size = 0;
  std::string schema_json;
  std::string stats_json;
  std::string source_json;
  bool must_not_exist = false;
};

// An access policy of a dataset (policy/policy.h gives the definition its meaning). Policies go
// with their dataset when it is deleted.
struct DatasetPolicy {
  std::string id;  // "pol_..."
  std::string tenant_id;
  std::string dataset_id;
  std::string definition_json;
  std::string created_by;  // user id
  UnixMillis created_at = 0;
};

inline constexpr int kMaxPoliciesPerDataset = 100;

class DatasetStore {
 public:
  virtual ~DatasetStore() = default;

  virtual Result<PreparedVersion> PrepareVersion(const PrepareVersionRequest& request, UnixMillis now) = 0;
  // FailedPrecondition "lease_lost" when the job's token moved on (nothing written).
  virtual Status PublishVersion(const PublishRequest& request, UnixMillis now) = 0;
  // The ready version a job published, if any: a job that published and then crashed before it
  // finished runs again, and must then report that version instead of publishing another.
  virtual Result<std::optional<DatasetVersion>> VersionPublishedBy(const std::string& job_id) = 0;
  // Pending versions whose job is not running any more (crashed, failed, rescued and finished).
  virtual Result<std::vector<DatasetVersion>> ListAbandonedVersions(int limit) = 0;
  // Removes a pending version's row (after its files are gone).
  virtual Status DropPendingVersion(const std::string& dataset_id, int version) = 0;

  virtual Result<Dataset> GetDataset(const std::string& tenant_id, const std::string& name) = 0;
  // The datasets `viewer` may see, by name.
  virtual Result<Page<Dataset>> ListDatasets(const std::string& tenant_id, const PageRequest& page,
                                             const DatasetViewer& viewer) = 0;
  // Moves the dataset into a project (project_id empty: out of any). NotFound "project_not_found"
  // when the project is not the tenant's.
  virtual Result<Dataset> SetDatasetProject(const std::string& tenant_id, const std::string& name,
                                            const std::string& project_id, UnixMillis now) = 0;
  // Ready versions, newest first.
  virtual Result<std::vector<DatasetVersion>> ListVersions(const std::string& tenant_id, const std::string& name) = 0;
  virtual Result<DatasetVersion> GetVersion(const std::string& tenant_id, const std::string& name, int version) = 0;
  // Makes an earlier ready version current. NotFound "version_not_found".
  virtual Result<Dataset> Rollback(const std::string& tenant_id, const std::string& name, int version, UnixMillis now) = 0;
  // Removes the dataset and all its versions from the registry; returns the storage prefixes whose
  // files the caller deletes next (a crash in between leaves orphans that start-up removes).
  virtual Result<std::vector<std::string>> DeleteDataset(const std::string& tenant_id, const std::string& name) = 0;
  // Version retention: removes from the registry the dataset's ready versions older than its
  // newest `keep` (the current version is always kept, also after a rollback to an old one), and
  // returns their storage prefixes, whose files the caller deletes next (a crash in between
  // leaves orphans that start-up removes). `keep` >= 1.
  virtual Result<std::vector<std::string>> PruneVersions(const std::string& dataset_id, int keep) = 0;
  // Every storage prefix the registry knows (ready and pending), for the orphan sweep.
  virtual Result<std::vector<std::string>> ListStoragePrefixes() = 0;
  // Sum of byte_size over the tenant's ready versions (its storage use, for quotas).
  virtual Result<std::int64_t> TenantBytes(const std::string& tenant_id) = 0;
  // The tenant's visible datasets (for the 'datasets' quota).
  virtual Result<std::int64_t> CountDatasets(const std::string& tenant_id) = 0;

  // Access policies. Insert: FailedPrecondition "too_many_policies" past kMaxPoliciesPerDataset;
  // NotFound "dataset_not_found" when the dataset is not the tenant's.
  virtual Status InsertPolicy(const DatasetPolicy& policy) = 0;
  // In creation order, at most kMaxPoliciesPerDataset.
  virtual Result<std::vector<DatasetPolicy>> ListPolicies(const std::string& tenant_id, const std::string& dataset_id) = 0;
  // NotFound "policy_not_found".
  virtual Status DeletePolicy(const std::string& tenant_id, const std::string& dataset_id, const std::string& policy_id) = 0;
};

// NotFound "dataset_not_found": the one answer for a dataset that does not exist, belongs to
// another tenant, or is invisible to the caller (access/dataset_access.h), so none can be told apart.
Status DatasetNotFound();

// Dataset names: 1-63 characters, lowercase ASCII letters, digits and '_', starting with a
// letter; not an SQL reserved word. InvalidArgument "invalid_dataset_name" says what to change.
Status ValidateDatasetName(const std::string& name);

}  // namespace quarry
