// Local-disk ObjectStore. Atomic puts: write to a unique temporary file in the target directory,
// fsync it, rename over the target, fsync the directory. Temporary files start with ".tmp-" and
// are never listed.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/ids.h"
#include "storage/object_store.h"

namespace quarry {
namespace {

namespace fs = std::filesystem;

constexpr const char* kTempPrefix = ".tmp-";

Status IoError(const std::string& what, const std::string& key, int err) {
  return Unavailable("storage_io_error", what + " '" + key + "' failed: " + std::strerror(err));
}

Status FsyncPath(const fs::path& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return Status(ErrorCode::kUnavailable, "storage_io_error", std::strerror(errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return Status(ErrorCode::kUnavailable, "storage_io_error", std::strerror(err));
  return Status::Ok();
}

Status WriteFileDurably(const fs::path& path, const std::string& bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  if (fd < 0) return Status(ErrorCode::kUnavailable, "storage_io_error", std::strerror(errno));
  std::size_t written = 0;
  while (written < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return Status(ErrorCode::kUnavailable, "storage_io_error", std::strerror(err));
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    return Status(ErrorCode::kUnavailable, "storage_io_error", std::strerror(err));
  }
  ::close(fd);
  return Status::Ok();
}

// What a relative path (a key or a key's directory) names under `root`. Every component is
// looked at with lstat and none is followed: a symbolic link planted inside the root (to a file
// or to a directory) is never a way out of it.
enum class Entry { kMissing, kFile, kDirectory, kOther /* a symlink, or a file used as a directory */ };

Result<Entry> Inspect(const fs::path& root, const std::string& path) {
  fs::path current = root;
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = path.find('/', start);
    const bool last = slash == std::string::npos;
    current /= path.substr(start, last ? std::string::npos : slash - start);
    struct stat st {};
    if (::lstat(current.c_str(), &st) != 0) {
      if (errno == ENOENT) return Entry::kMissing;
      if (errno == ENOTDIR) return Entry::kOther;
      return IoError("checking", path, errno);
    }
    if (last) {
      if (S_ISREG(st.st_mode)) return Entry::kFile;
      return S_ISDIR(st.st_mode) ? Entry::kDirectory : Entry::kOther;
    }
    if (!S_ISDIR(st.st_mode)) return Entry::kOther;
    start = slash + 1;
  }
}

// The directory part of a key ("a/b/c" -> "a/b"), empty for a key at the top.
std::string DirectoryOf(const std::string& key) {
  const std::size_t slash = key.rfind('/');
  return slash == std::string::npos ? std::string() : key.substr(0, slash);
}

class LocalObjectStore final : public ObjectStore {
 public:
  explicit LocalObjectStore(fs::path root) : root_(std::move(root)) {}

  Status Put(const std::string& key, const std::string& bytes) override {
    QUARRY_RETURN_IF_ERROR(ValidateObjectKey(key));
    QUARRY_RETURN_IF_ERROR(CheckDirectoryOf(key));
    const fs::path target = root_ / key;
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    if (ec) return IoError("creating the directory of", key, ec.value());
    const fs::path temp = target.parent_path() / (kTempPrefix + RandomAlphanumeric(12));
    Status st = WriteFileDurably(temp, bytes);
    if (st.ok() && ::rename(temp.c_str(), target.c_str()) != 0) {
      st = IoError("renaming into", key, errno);
    }
    if (st.ok()) st = FsyncPath(target.parent_path(), O_RDONLY | O_DIRECTORY);
    if (!st.ok()) {
      fs::remove(temp, ec);
      return Status(ErrorCode::kUnavailable, "storage_io_error",
                    "writing '" + key + "' failed: " + st.message());
    }
    return Status::Ok();
  }

  Result<std::string> Get(const std::string& key) override {
    QUARRY_RETURN_IF_ERROR(ValidateObjectKey(key));
    QUARRY_ASSIGN_OR_RETURN(Entry entry, Inspect(root_, key));
    if (entry != Entry::kFile) return NotFound("object_not_found", "No object '" + key + "'");
    std::ifstream in(root_ / key, std::ios::binary);
    if (!in) {
      if (errno == ENOENT) return NotFound("object_not_found", "No object '" + key + "'");
      return IoError("reading", key, errno);
    }
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
  }

  Status Delete(const std::string& key) override {
    QUARRY_RETURN_IF_ERROR(ValidateObjectKey(key));
    QUARRY_ASSIGN_OR_RETURN(Entry entry, Inspect(root_, key));
    if (entry != Entry::kFile) return Status::Ok();  // no such object: nothing to delete
    if (::unlink((root_ / key).c_str()) != 0 && errno != ENOENT) return IoError("deleting", key, errno);
    return Status::Ok();
  }

  Result<bool> Exists(const std::string& key) override {
    QUARRY_RETURN_IF_ERROR(ValidateObjectKey(key));
    QUARRY_ASSIGN_OR_RETURN(Entry entry, Inspect(root_, key));
    return entry == Entry::kFile;
  }

  Result<std::vector<std::string>> List(const std::string& prefix, std::size_t limit) override {
    if (!prefix.empty()) {
      if (prefix.back() != '/') {
        return InvalidArgument("invalid_object_key", "a list prefix must end with '/'");
      }
      QUARRY_RETURN_IF_ERROR(ValidateObjectKey(prefix.substr(0, prefix.size() - 1)));
    }
    std::vector<std::string> keys;
    if (!prefix.empty()) {
      QUARRY_ASSIGN_OR_RETURN(Entry entry, Inspect(root_, prefix.substr(0, prefix.size() - 1)));
      if (entry != Entry::kDirectory) return keys;
    }
    const fs::path base = root_ / prefix;
    std::error_code ec;
    if (!fs::exists(base, ec)) return keys;
    // Symbolic links are neither followed nor listed: nothing outside the root is reachable.
    for (auto it = fs::recursive_directory_iterator(base, fs::directory_options::none, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (!it->is_regular_file(ec) || it->is_symlink(ec)) continue;
      if (it->path().filename().string().rfind(kTempPrefix, 0) == 0) continue;
      keys.push_back(fs::relative(it->path(), root_, ec).generic_string());
    }
    if (ec) return IoError("listing", prefix, ec.value());
    std::sort(keys.begin(), keys.end());
    if (keys.size() > limit) keys.resize(limit);
    return keys;
  }

  Status PutFile(const std::string& key, const std::string& local_path) override {
    QUARRY_RETURN_IF_ERROR(ValidateObjectKey(key));
    QUARRY_RETURN_IF_ERROR(CheckDirectoryOf(key));
    const fs::path target = root_ / key;
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    if (ec) return IoError("creating the directory of", key, ec.value());
    Status st = FsyncPath(local_path, O_RDONLY);
    if (st.ok() && ::rename(local_path.c_str(), target.c_str()) != 0) {
      if (errno != EXDEV) return IoError("moving into", key, errno);
      // Another file system: copy under a temporary name, then rename within the target's.
      const fs::path temp = target.parent_path() / (kTempPrefix + RandomAlphanumeric(12));
      fs::copy_file(local_path, temp, ec);
      if (!ec) st = FsyncPath(temp, O_RDONLY);
      if (ec || !st.ok() || ::rename(temp.c_str(), target.c_str()) != 0) {
        const int err = ec ? ec.value() : errno;
        fs::remove(temp, ec);
        return IoError("copying into", key, err);
      }
      fs::remove(local_path, ec);
    }
    if (st.ok()) st = FsyncPath(target.parent_path(), O_RDONLY | O_DIRECTORY);
    if (!st.ok()) {
      return Status(ErrorCode::kUnavailable, "storage_io_error", "storing '" + key + "' failed: " + st.message());
    }
    return Status::Ok();
  }

  Status DeletePrefix(const std::string& prefix) override {
    if (prefix.size() < 2 || prefix.back() != '/') {
      return InvalidArgument("invalid_object_key", "a prefix to delete must end with '/'");
    }
    const std::string dir = prefix.substr(0, prefix.size() - 1);
    QUARRY_RETURN_IF_ERROR(ValidateObjectKey(dir));
    QUARRY_ASSIGN_OR_RETURN(Entry entry, Inspect(root_, dir));
    if (entry == Entry::kMissing) return Status::Ok();
    std::error_code ec;
    // remove_all does not follow symbolic links: it removes the link itself.
    fs::remove_all(root_ / dir, ec);
    if (ec) return IoError("deleting", prefix, ec.value());
    return FsyncPath((root_ / dir).parent_path(), O_RDONLY | O_DIRECTORY);
  }

  Result<std::string> ReadLocation(const std::string& key) override {
    QUARRY_RETURN_IF_ERROR(ValidateObjectKey(key));
    QUARRY_ASSIGN_OR_RETURN(Entry entry, Inspect(root_, key));
    if (entry != Entry::kFile) return NotFound("object_not_found", "No object '" + key + "'");
    return (root_ / key).string();
  }

  Result<std::string> ReadPrefixLocation(const std::string& prefix) override {
    if (prefix.empty() || prefix.back() != '/') {
      return InvalidArgument("invalid_object_key", "a prefix must end with '/'");
    }
    QUARRY_RETURN_IF_ERROR(ValidateObjectKey(prefix.substr(0, prefix.size() - 1)));
    std::error_code ec;
    fs::create_directories(root_ / prefix, ec);
    if (ec) return Unavailable("storage_unavailable", "cannot create the storage prefix '" + prefix + "'");
    return (root_ / prefix).string();
  }

  Status CheckWritable() override {
    const std::string probe = ".readyz/probe";
    QUARRY_RETURN_IF_ERROR(Put(probe, "ok"));
    return Delete(probe);
  }

 private:
  // Missing directories of `key` are created by the caller; existing ones must be real
  // directories (no symbolic link on the way).
  Status CheckDirectoryOf(const std::string& key) const {
    const std::string dir = DirectoryOf(key);
    if (dir.empty()) return Status::Ok();
    QUARRY_ASSIGN_OR_RETURN(Entry entry, Inspect(root_, dir));
    if (entry != Entry::kDirectory && entry != Entry::kMissing) {
      return Status(ErrorCode::kUnavailable, "storage_io_error",
                    "writing '" + key + "' failed: its directory is not a plain directory");
    }
    return Status::Ok();
  }

  const fs::path root_;
};

}  // namespace

Status ValidateObjectKey(const std::string& key) {
  auto invalid = [&](const std::string& why) {
    return InvalidArgument("invalid_object_key", "object key is invalid: " + why);
  };
  if (key.empty() || key.size() > 1024) return invalid("must be 1 to 1024 bytes");
  if (key.front() == '/') return invalid("must be relative");
  if (key.find('\0') != std::string::npos || key.find('\\') != std::string::npos) {
    return invalid("must not contain NUL or backslash");
  }
  std::size_t start = 0;
  while (start <= key.size()) {
    std::size_t end = key.find('/', start);
    if (end == std::string::npos) end = key.size();
    const std::string segment = key.substr(start, end - start);
    if (segment.empty() || segment == "." || segment == "..") {
      return invalid("has an empty, '.' or '..' segment");
    }
    start = end + 1;
  }
  return Status::Ok();
}

Result<std::unique_ptr<ObjectStore>> OpenLocalObjectStore(const std::string& root) {
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) {
    return Unavailable("storage_unavailable",
                       "cannot create the storage directory: " + ec.message() +
                           "; check the data dir's permissions");
  }
  return std::unique_ptr<ObjectStore>(new LocalObjectStore(fs::path(root)));
}

}  // namespace quarry
