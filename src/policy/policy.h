// Access policies of a dataset: which of its rows and columns a caller sees (docs/security.md,
// "Row and column policies").
//
// Contract:
//   - A row policy is a conjunction of conditions `column op {{user.attribute}}` (op: = != <> <
//     <= > >= IN, NOT IN) over the dataset's columns. A caller sees the rows that match any row
//     policy applying to their role; with none applying, every row, unless a `row_required`
//     policy applies to their role: then none.
//   - A column policy hides a column, or masks it: `redact` (a constant) or `hash` (SHA-256 of its
//     text: joins and equality still work; low-entropy values can be guessed, use redact/hide).
//     Of several applying to one column, the strongest wins (hide > redact > hash).
//   - Policies apply to the roles and the groups (grp_... ids) they name: to a caller whose role is
//     listed or who is in a listed group (default: analyst and viewer).
//   - Compiling is the one place a caller's view of a dataset is made. Attribute values never
//     enter SQL text: they are bound to connection variables (SET VARIABLE ... = ?), always as
//     VARCHAR[], and the view reads them with getvariable(), which users cannot call. A missing
//     attribute is NULL and matches nothing. A policy naming a column the dataset no longer has
//     fails the compile: queries fail closed.
// Thread-safety: free functions over values.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/json/fwd.hpp>

#include "common/status.h"
#include "meta/dataset_store.h"
#include "meta/records.h"

namespace quarry::policy {

enum class PolicyKind { kRow, kColumn, kRowRequired };
enum class ColumnAction { kHash, kRedact, kHide };  // weakest to strongest

struct Column {
  std::string name;
  std::string type;  // DuckDB type name
};

struct Condition {
  std::string column;
  std::string op;  // "=", "!=", "<", "<=", ">", ">=", "in", "not in"
  std::string attribute;
};

struct Policy {
  PolicyKind kind = PolicyKind::kRow;
  std::vector<Role> applies_to;               // roles; with applies_to_groups never both empty
  std::vector<std::string> applies_to_groups;  // group ids (grp_...)
  std::string predicate;              // row: as written
  std::vector<Condition> conditions;  // row: parsed, ANDed
  std::string column;                 // column
  ColumnAction action = ColumnAction::kHide;
};

const char* KindName(PolicyKind kind);
const char* ActionName(ColumnAction action);

// Parses and validates a definition, e.g. {"kind": "row", "predicate": "region = {{user.region}}",
// "applies_to": ["analyst"]} or {"kind": "column", "column": "email", "action": "hash"}, against
// the dataset's columns (nullptr: a stored definition, whose columns CompileView checks against
// the version it reads). InvalidArgument "invalid_policy" saying what is wrong and how to fix it.
Result<Policy> ParsePolicy(const boost::json::value& definition, const std::vector<Column>* columns);
// The stored policies of a dataset, parsed. A definition that no longer parses is Internal.
Result<std::vector<Policy>> ParseStored(const std::vector<DatasetPolicy>& stored);
// A version's columns from its schema JSON ([{"name", "type"}, ...]).
std::vector<Column> ColumnsOf(const std::string& schema_json);
// The definition as stored and shown (normalized).
boost::json::object ToJson(const Policy& policy);
// Some policy applies to groups: compiling needs the caller's groups.
bool NamesGroups(const std::vector<Policy>& policies);

// User attributes: {"region": "north", "org_ids": [1, 2]}: names [a-z][a-z0-9_]{0,62}, values a
// string, number or boolean, or an array of at most 1,000 of those; at most 64 attributes and
// 64 KiB. InvalidArgument "invalid_attributes".
Status ValidateAttributes(const boost::json::value& attributes);

// What a caller sees of one dataset version.
struct AccessView {
  // A SELECT over `source` (a relation such as read_parquet([...])) with the caller's columns
  // and rows. Equals "SELECT * FROM <source>" when no policy applies.
  std::string select_sql;
  // Connection variables the view reads, and the caller's value for each as a JSON array of
  // strings (nullopt: the caller lacks the attribute; the variable must be reset).
  std::vector<std::pair<std::string, std::optional<std::string>>> bindings;
  bool rows_restricted = false;                     // a row policy (or row_required) applies
  std::vector<std::string> hidden_columns;          // not in the view
  std::vector<std::string> masked_columns;          // in the view as VARCHAR masks
};

// What the registry shows a caller of a version with `view`: hidden columns gone, masked ones
// typed VARCHAR; statistics only of columns shown as they are, none when rows are restricted.
std::string VisibleSchemaJson(const std::string& schema_json, const AccessView& view);
std::string VisibleStatsJson(const std::string& stats_json, const AccessView& view);

// `policies` are the dataset's; `role`, `attributes_json` and `groups` (the ids of the groups the
// caller is in; needed only when NamesGroups) the caller's. FailedPrecondition "policy_invalid"
// when a policy no longer fits the version's columns.
Result<AccessView> CompileView(const std::vector<Column>& columns, const std::vector<Policy>& policies, Role role,
                               const std::string& attributes_json, const std::string& source,
                               const std::vector<std::string>& groups = {});

}  // namespace quarry::policy
