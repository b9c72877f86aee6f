// The data directory of the embedded mode and what lives in it:
//   meta.db        SQLite metadata store (plus -wal/-shm)
//   storage/       local object store (dataset files)
//   secrets/       bootstrap keys, mode 0600 (operator.key, demo.key)
//   server.addr    the address the running server listens on
//   quarry.lock    held by the running server: one server per data dir
//   scratch/       job attempts' temporary files (removed after each attempt)
//   uploads/       upload bodies: "*.part" while streaming, "upl_*" once stored and until their
//                  ingestion job can no longer run
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "config/config.h"
#include "meta/access_store.h"
#include "meta/audit_store.h"
#include "meta/dataset_store.h"
#include "meta/job_store.h"
#include "meta/meta_store.h"
#include "meta/upload_store.h"

namespace quarry::cli {

struct DataDirPaths {
  std::string root;
  std::string meta_db() const { return root + "/meta.db"; }
  std::string storage() const { return root + "/storage"; }
  std::string secrets() const { return root + "/secrets"; }
  std::string server_addr() const { return root + "/server.addr"; }
  std::string lock() const { return root + "/quarry.lock"; }
  std::string scratch() const { return root + "/scratch"; }
  std::string uploads() const { return root + "/uploads"; }
  std::string query_tmp() const { return root + "/query_tmp"; }  // tenant engines' spill
};

// Creates the data dir and its private subdirectories (0700) when missing.
Status PrepareDataDir(const DataDirPaths& paths);

// Writes `contents` to `path` atomically (temp + fsync + rename) with the given mode.
Status WriteFileAtomically(const std::string& path, const std::string& contents, unsigned mode);

// Takes an exclusive lock on the data dir for this process's lifetime. FailedPrecondition
// "data_dir_in_use" when another server holds it.
Result<int> LockDataDir(const DataDirPaths& paths);

// Opens the metadata store and the job store named by the configuration.
Result<std::unique_ptr<MetaStore>> OpenMetaStore(const Config& config, const DataDirPaths& paths);
Result<std::unique_ptr<JobStore>> OpenJobStore(const Config& config, const DataDirPaths& paths);
Result<std::unique_ptr<DatasetStore>> OpenDatasetStore(const Config& config, const DataDirPaths& paths);
Result<std::unique_ptr<AccessStore>> OpenAccessStore(const Config& config, const DataDirPaths& paths);
Result<std::unique_ptr<UploadStore>> OpenUploadStore(const Config& config, const DataDirPaths& paths);
Result<std::unique_ptr<AuditStore>> OpenAuditStore(const Config& config, const DataDirPaths& paths);

}  // namespace quarry::cli
