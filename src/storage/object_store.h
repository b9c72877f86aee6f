// ObjectStore: where dataset files live. Keys are relative, '/'-separated paths such as
// "tenants/ten_x/datasets/ds_y/v1/part-0.parquet". Implementations: local disk (storage/,
// embedded mode) now; S3-compatible object storage (scale-out) later.
//
// Contract:
//   - Keys are validated: no empty segments, no "." or "..", no leading '/', no NUL or '\\', at
//     most 1024 bytes. An invalid key is InvalidArgument "invalid_object_key".
//   - Put is atomic: readers see the old object or the whole new one, never a partial one, and a
//     completed Put is durable (fsynced) before it returns.
//   - Errors never contain host paths; they name the key.
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace quarry {

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;
  virtual Status Put(const std::string& key, const std::string& bytes) = 0;
  virtual Result<std::string> Get(const std::string& key) = 0;  // NotFound "object_not_found"
  virtual Status Delete(const std::string& key) = 0;           // deleting a missing key is OK
  virtual Result<bool> Exists(const std::string& key) = 0;
  // Keys under `prefix` (a directory-like prefix ending in '/', or empty for all), sorted, at
  // most `limit`.
  virtual Result<std::vector<std::string>> List(const std::string& prefix, std::size_t limit) = 0;
  // Moves the complete local file `local_path` into the store as `key`, atomically and durably;
  // the local file is gone afterwards. Used for large objects (dataset files) that are written
  // to local scratch first.
  virtual Status PutFile(const std::string& key, const std::string& local_path) = 0;
  // Deletes every object under `prefix` (ending in '/'); a missing prefix is OK.
  virtual Status DeletePrefix(const std::string& prefix) = 0;
  // Where the engine reads object `key` from: a local path (local disk) or a URL (S3 later).
  // NotFound "object_not_found" when missing.
  virtual Result<std::string> ReadLocation(const std::string& key) = 0;
  // Where the engine may read every object under `prefix` (ending in '/'): a local directory
  // (local disk; created if missing, so it can be granted before anything is written there) or
  // a URL prefix (S3 later). The query sandbox allows a tenant's engine this location only.
  virtual Result<std::string> ReadPrefixLocation(const std::string& prefix) = 0;
  // Readiness probe: the store accepts writes right now (used by /readyz).
  virtual Status CheckWritable() = 0;
};

Status ValidateObjectKey(const std::string& key);

// A dataset version's data: every "*.parquet" object directly under `prefix` (ending in '/'), in
// key order ("part-00000.parquet", "part-00001.parquet", ...; versions written before parts
// existed have one "data.parquet"), as engine read locations. NotFound "object_not_found" when
// there is none. At most kMaxVersionParts.
inline constexpr std::size_t kMaxVersionParts = 10'000;
Result<std::vector<std::string>> VersionDataLocations(ObjectStore& objects, const std::string& prefix);
// The part key of the `index`th file of a version: prefix + "part-00000.parquet".
std::string VersionPartKey(const std::string& prefix, std::size_t index);

// Local-disk store rooted at `root` (created if missing).
Result<std::unique_ptr<ObjectStore>> OpenLocalObjectStore(const std::string& root);

}  // namespace quarry
