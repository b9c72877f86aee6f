#include "cli/data_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/ids.h"
#include "meta/sqlite/sqlite_meta_store.h"

namespace quarry::cli {
namespace {

namespace fs = std::filesystem;

Status MakePrivateDir(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return Unavailable("data_dir_unavailable",
                       "cannot create " + path + ": " + std::strerror(errno) +
                           "; check the permissions of the data dir");
  }
  return Status::Ok();
}

}  // namespace

Status PrepareDataDir(const DataDirPaths& paths) {
  std::error_code ec;
  fs::create_directories(paths.root, ec);
  if (ec) {
    return Unavailable("data_dir_unavailable", "cannot create the data dir " + paths.root + ": " +
                                                   ec.message());
  }
  ::chmod(paths.root.c_str(), 0700);
  QUARRY_RETURN_IF_ERROR(MakePrivateDir(paths.secrets()));
  QUARRY_RETURN_IF_ERROR(MakePrivateDir(paths.uploads()));
  QUARRY_RETURN_IF_ERROR(MakePrivateDir(paths.query_tmp()));
  return MakePrivateDir(paths.storage());
}

Status WriteFileAtomically(const std::string& path, const std::string& contents, unsigned mode) {
  const std::string temp = path + ".tmp-" + RandomAlphanumeric(8);
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return Unavailable("write_failed", "cannot write " + path + ": " + std::strerror(errno));
  bool ok = ::write(fd, contents.data(), contents.size()) == static_cast<ssize_t>(contents.size()) &&
            ::fsync(fd) == 0;
  int err = errno;
  ::close(fd);
  if (!ok || ::rename(temp.c_str(), path.c_str()) != 0) {
    if (ok) err = errno;
    ::unlink(temp.c_str());
    return Unavailable("write_failed", "cannot write " + path + ": " + std::strerror(err));
  }
  return Status::Ok();
}

Result<int> LockDataDir(const DataDirPaths& paths) {
  int fd = ::open(paths.lock().c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Unavailable("data_dir_unavailable", "cannot open " + paths.lock() + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return FailedPrecondition("data_dir_in_use",
                              "another quarry server is using the data dir " + paths.root +
                                  "; stop it or choose another --data-dir");
  }
  return fd;
}

namespace {
SqliteOptions StoreOptions(const Config& config, const DataDirPaths& paths, int connections) {
  SqliteOptions options;
  options.path = paths.meta_db();
  options.busy_timeout_ms = static_cast<int>(config.metadata_busy_timeout.count());
  options.max_connections = connections;
  return options;
}
}  // namespace

Result<std::unique_ptr<MetaStore>> OpenMetaStore(const Config& config, const DataDirPaths& paths) {
  return OpenSqliteMetaStore(StoreOptions(config, paths, std::max(4, config.blocking_threads + config.io_threads)));
}

Result<std::unique_ptr<JobStore>> OpenJobStore(const Config& config, const DataDirPaths& paths) {
  // Workers, the heartbeat and maintenance threads, and the API's blocking pool.
  return OpenSqliteJobStore(StoreOptions(config, paths, std::max(4, config.job_workers + 2 + config.blocking_threads)));
}

Result<std::unique_ptr<DatasetStore>> OpenDatasetStore(const Config& config, const DataDirPaths& paths) {
  return OpenSqliteDatasetStore(StoreOptions(config, paths, std::max(4, config.job_workers + config.blocking_threads)));
}

Result<std::unique_ptr<AccessStore>> OpenAccessStore(const Config& config, const DataDirPaths& paths) {
  return OpenSqliteAccessStore(StoreOptions(config, paths, std::max(4, config.blocking_threads)));
}

Result<std::unique_ptr<AuditStore>> OpenAuditStore(const Config& config, const DataDirPaths& paths) {
  return OpenSqliteAuditStore(StoreOptions(config, paths, 2));
}

Result<std::unique_ptr<UploadStore>> OpenUploadStore(const Config& config, const DataDirPaths& paths) {
  return OpenSqliteUploadStore(StoreOptions(config, paths, std::max(4, config.blocking_threads)));
}

}  // namespace quarry::cli
