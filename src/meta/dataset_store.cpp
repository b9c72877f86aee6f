#include "meta/dataset_store.h"

#include <algorithm>
#include <array>
#include <string_view>

namespace quarry {
namespace {

// SQL keywords a dataset name may not be (it becomes a relation name in tenant SQL), and the
// engine's own schema names. DuckDB's reserved keywords plus common ones of other dialects, so
// that a name works unquoted everywhere. Sorted for binary search.
constexpr std::array<std::string_view, 92> kReservedWords = {
    "all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric", "both", "case",
    "cast", "check", "collate", "column", "constraint", "create", "cross", "current_catalog",
    "current_date", "current_role", "current_schema", "current_time", "current_timestamp",
    "current_user", "default", "deferrable", "delete", "desc", "describe", "distinct", "do",
    "drop", "else", "end", "except", "exists", "false", "fetch", "for", "foreign", "from", "full",
    "grant", "group", "having", "in", "information_schema", "initially", "inner", "insert",
    "intersect", "into", "is", "join", "lateral", "leading", "left", "like", "limit", "main",
    "natural", "not", "null", "offset", "on", "only", "or", "order", "outer", "pg_catalog",
    "pivot", "placing", "primary", "qualify", "references", "returning", "right", "select",
    "set", "some", "table", "temp", "then", "to", "trailing", "true", "union", "unique",
    "update", "using", "where"};

bool IsReserved(std::string_view name) {
  if (std::binary_search(kReservedWords.begin(), kReservedWords.end(), name)) return true;
  for (std::string_view prefix : {"duckdb_", "pg_", "sqlite_", "quarry_"}) {
    if (name.substr(0, prefix.size()) == prefix) return true;
  }
  return false;
}

}  // namespace

Status DatasetNotFound() { return NotFound("dataset_not_found", "no such dataset; list them with GET /v1/datasets"); }

Status ValidateDatasetName(const std::string& name) {
  if (name.empty() || name.size() > 63) {
    return InvalidArgument("invalid_dataset_name", "a dataset name has 1 to 63 characters");
  }
  if (name[0] < 'a' || name[0] > 'z') {
    return InvalidArgument("invalid_dataset_name",
                           "a dataset name starts with a lowercase letter (a-z)");
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) {
      return InvalidArgument("invalid_dataset_name",
                             "a dataset name has only lowercase letters, digits and '_'; rename "
                             "it, e.g. 'sales_2024'");
    }
  }
  if (IsReserved(name)) {
    return InvalidArgument("invalid_dataset_name",
                           "'" + name + "' is a reserved word or prefix in SQL; choose another name");
  }
  return Status::Ok();
}

}  // namespace quarry
