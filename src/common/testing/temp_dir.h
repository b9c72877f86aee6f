// Test support: a private temporary directory that is removed with everything in it when the
// object goes away. For tests only (header-only; no production code includes it).
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>

namespace quarry::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& label = "test") {
    std::string pattern = "/tmp/quarry-" + label + "-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace quarry::testing
