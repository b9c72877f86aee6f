// DatasetService: datasets as users see them: start an ingestion of an upload, list and inspect
// datasets and their versions, roll back, delete. Enforces tenant isolation (another tenant's
// dataset is NotFound, like a missing one) and permissions: tenant members read; changing
// anything needs the `write` scope. The operator key sees no tenant data.
// Thread-safety: safe to call concurrently.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "auth/principal.h"
#include "common/clock.h"
#include "ingest/ingest_request.h"
#include "jobs/job_service.h"
#include "meta/dataset_store.h"
#include "storage/object_store.h"

namespace quarry::catalog {

struct DatasetDetail {
  Dataset dataset;
  DatasetVersion current;
  std::vector<DatasetVersion> versions;  // ready versions, newest first
};

class DatasetService {
 public:
  DatasetService(DatasetStore& datasets, ObjectStore& objects, jobs::JobService& jobs, const Clock& clock)
      : datasets_(datasets), objects_(objects), jobs_(jobs), clock_(clock) {}

  // Checks an upload before its body is read: membership, the write scope, the name, and that
  // the mode can apply (create: the dataset does not exist yet; append: it does).
  Status CheckUpload(const Principal& actor, const std::string& name, ingest::Mode mode);
  // Enqueues the ingestion of a stored upload (request.upload_path). With an idempotency key
  // used by this tenant within 24 h, returns the original job (existing = true) and enqueues
  // nothing.
  Result<EnqueueResult> StartIngest(const Principal& actor, const ingest::IngestRequest& request,
                                    const std::string& idempotency_key);

  Result<Page<Dataset>> List(const Principal& actor, const PageRequest& page);
  Result<DatasetDetail> Get(const Principal& actor, const std::string& name);
  Result<std::vector<DatasetVersion>> Versions(const Principal& actor, const std::string& name);
  Result<Dataset> Rollback(const Principal& actor, const std::string& name, int version);
  // Removes the dataset from the registry, then its files.
  Status Delete(const Principal& actor, const std::string& name);

 private:
  static Status RequireMember(const Principal& actor);

  DatasetStore& datasets_;
  ObjectStore& objects_;
  jobs::JobService& jobs_;
  const Clock& clock_;
};

}  // namespace quarry::catalog
