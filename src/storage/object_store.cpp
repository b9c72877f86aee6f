#include "storage/object_store.h"

#include <fmt/format.h>

namespace quarry {

Result<std::vector<std::string>> VersionDataLocations(ObjectStore& objects, const std::string& prefix) {
  QUARRY_ASSIGN_OR_RETURN(std::vector<std::string> keys, objects.List(prefix, kMaxVersionParts + 1));
  std::vector<std::string> locations;
  for (const std::string& key : keys) {
    const bool direct = key.find('/', prefix.size()) == std::string::npos;
    if (!direct || key.size() < 8 || key.compare(key.size() - 8, 8, ".parquet") != 0) continue;
    QUARRY_ASSIGN_OR_RETURN(std::string location, objects.ReadLocation(key));
    locations.push_back(std::move(location));
  }
  if (locations.empty()) return NotFound("object_not_found", "the dataset version has no data files: " + prefix);
  if (locations.size() > kMaxVersionParts) {
    return Internal("too_many_parts", "the dataset version has more than " + std::to_string(kMaxVersionParts) + " files");
  }
  return locations;
}

std::string VersionPartKey(const std::string& prefix, std::size_t index) {
  return fmt::format("{}part-{:05}.parquet", prefix, index);
}

}  // namespace quarry
