// The one rule deciding which datasets a caller may see and change inside its tenant
// (docs/security.md "Projects, groups and grants"). Every path that names a dataset (the registry,
// SQL, uploads, policies, grants) resolves it through ReadableDataset or RightsOn, so no path can
// apply a rule of its own.
//
//   - Tenant owners and admins see every dataset of the tenant.
//   - A dataset in no project is visible to every member of the tenant.
//   - A dataset in a project is visible to the project's members (users, or groups the user is
//     in) and to users or groups granted it explicitly; to anyone else it does not exist (404,
//     exactly like a missing one).
//   - Changing a dataset (upload, replace, append, roll back, delete) needs the `write` scope and,
//     for a dataset in a project, the role editor or admin there (owners and admins excepted).
//     A grant is read-only.
//   - Managing a dataset's grants needs the tenant owner/admin role with the `admin` scope, or the
//     project admin role with the `write` scope.
// Nothing is cached: a removed membership or grant applies to the next request.
// Thread-safety: stateless functions; safe to call concurrently.
#pragma once

#include <string>

#include "auth/principal.h"
#include "common/status.h"
#include "meta/access_store.h"
#include "meta/dataset_store.h"
#include "meta/meta_store.h"

namespace quarry::access {

struct DatasetRights {
  bool read = false;
  bool write = false;
  bool manage_grants = false;
};

// Tenant owners and admins see every dataset.
bool SeesAllDatasets(const Principal& actor);
DatasetViewer ViewerOf(const Principal& actor);

Result<DatasetRights> RightsOn(AccessStore& access, const Principal& actor, const Dataset& dataset);

// The dataset if the caller may read it; NotFound "dataset_not_found" otherwise (also for the
// operator, who sees no tenant data).
Result<Dataset> ReadableDataset(DatasetStore& datasets, AccessStore& access, const Principal& actor,
                                const std::string& name);

// OK when the caller may change the dataset (which it can read); else 403 naming what is missing.
Status RequireWrite(AccessStore& access, const Principal& actor, const Dataset& dataset);

// OK when the caller may create a dataset in `project_id` (empty: in no project).
Status RequireCreateIn(AccessStore& access, const Principal& actor, const std::string& project_id);

// For a job that changes a dataset on behalf of `user_id` (an ingestion): OK when that user, as
// they are now (active, their current role, their memberships), may still change the dataset
// named `name` (or, when it does not exist, create it in `project_id`). The user acts with every
// scope of their role: the key that enqueued the job was checked then.
Status RequireJobWrite(MetaStore& meta, DatasetStore& datasets, AccessStore& access, const std::string& tenant_id,
                       const std::string& user_id, const std::string& name, const std::string& project_id);

}  // namespace quarry::access
