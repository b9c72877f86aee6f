#include "policy/policy.h"

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "common/ids.h"
#include "engine/engine.h"

namespace quarry::policy {
namespace {

using engine::QuoteIdentifier;
using engine::QuoteLiteral;

constexpr std::size_t kMaxPredicateBytes = 4096;
constexpr std::size_t kMaxConditions = 32;
constexpr std::size_t kMaxAttributes = 64;
constexpr std::size_t kMaxAttributesBytes = 64 * 1024;
constexpr std::size_t kMaxAttributeValues = 1000;
constexpr char kVariablePrefix[] = "quarry_attr_";

Status Invalid(const std::string& message) { return InvalidArgument("invalid_policy", message); }

bool IsAttributeName(std::string_view name) {
  if (name.empty() || name.size() > 63 || name[0] < 'a' || name[0] > 'z') return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

// Types a condition may compare with: DuckDB's scalar type names, which contain nothing but
// these characters (ENUM, nested and other quoted types do not qualify).
bool IsComparableType(const std::string& type) {
  if (type.empty() || type.find('[') != std::string::npos || type.rfind("STRUCT", 0) == 0 || type.rfind("MAP", 0) == 0 ||
      type.rfind("UNION", 0) == 0) {
    return false;
  }
  return std::all_of(type.begin(), type.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == ' ' || c == '(' || c == ')' || c == ',' || c == '_';
  });
}

const Column* FindColumn(const std::vector<Column>& columns, const std::string& name) {
  auto it = std::find_if(columns.begin(), columns.end(), [&](const Column& c) { return c.name == name; });
  return it == columns.end() ? nullptr : &*it;
}

std::string ColumnList(const std::vector<Column>& columns) {
  std::string out;
  for (std::size_t i = 0; i < columns.size() && i < 20; ++i) out += (i ? ", " : "") + columns[i].name;
  return columns.size() > 20 ? out + ", ..." : out;
}

// The predicate grammar: condition (AND condition)*, condition = column op {{user.name}}.
class PredicateParser {
 public:
  explicit PredicateParser(std::string_view text) : text_(text) {}

  Result<std::vector<Condition>> Parse() {
    std::vector<Condition> out;
    while (true) {
      Condition c;
      QUARRY_ASSIGN_OR_RETURN(c.column, Column());
      QUARRY_ASSIGN_OR_RETURN(c.op, Operator());
      QUARRY_ASSIGN_OR_RETURN(c.attribute, Attribute());
      out.push_back(std::move(c));
      if (out.size() > kMaxConditions) return Invalid("a predicate has at most 32 conditions");
      SkipSpace();
      if (pos_ == text_.size()) return out;
      if (!Keyword("AND")) return Error("expected AND or the end of the predicate");
    }
  }

 private:
  void SkipSpace() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  Status Error(const std::string& what) const {
    return Invalid(what + " at byte " + std::to_string(pos_) +
                   " of the predicate; write conditions like region = {{user.region}} or org_id IN {{user.org_ids}}, "
                   "joined by AND");
  }
  bool Keyword(std::string_view word) {
    SkipSpace();
    if (text_.size() - pos_ < word.size()) return false;
    for (std::size_t i = 0; i < word.size(); ++i) {
      if (std::toupper(static_cast<unsigned char>(text_[pos_ + i])) != word[i]) return false;
    }
    const std::size_t end = pos_ + word.size();
    if (end < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[end])) || text_[end] == '_')) return false;
    pos_ = end;
    return true;
  }
  Result<std::string> Column() {
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == '"') {
      std::string name;
      for (++pos_; pos_ < text_.size(); ++pos_) {
        if (text_[pos_] == '"') {
          if (pos_ + 1 < text_.size() && text_[pos_ + 1] == '"') {
            name += '"';
            ++pos_;
            continue;
          }
          ++pos_;
          if (name.empty()) return Error("an empty column name");
          return name;
        }
        name += text_[pos_];
      }
      return Error("an unclosed quoted column name");
    }
    const std::size_t start = pos_;
    while (pos_ < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '_')) ++pos_;
    if (pos_ == start) return Error("expected a column name");
    return std::string(text_.substr(start, pos_ - start));
  }
  Result<std::string> Operator() {
    SkipSpace();
    for (std::string_view op : {"<=", ">=", "!=", "<>", "=", "<", ">"}) {
      if (text_.substr(pos_, op.size()) == op) {
        pos_ += op.size();
        return std::string(op == "<>" ? "!=" : op);
      }
    }
    if (Keyword("IN")) return std::string("in");
    if (Keyword("NOT")) {
      if (Keyword("IN")) return std::string("not in");
      return Error("expected IN after NOT");
    }
    return Error("expected an operator (= != < <= > >= IN NOT IN)");
  }
  Result<std::string> Attribute() {
    SkipSpace();
    if (text_.substr(pos_, 2) != "{{") return Error("expected {{user.<attribute>}}");
    pos_ += 2;
    SkipSpace();
    if (text_.substr(pos_, 5) != "user.") return Error("expected {{user.<attribute>}}");
    pos_ += 5;
    const std::size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] != '}' && !std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    std::string name(text_.substr(start, pos_ - start));
    if (!IsAttributeName(name)) return Error("'" + name + "' is not an attribute name ([a-z][a-z0-9_]*)");
    SkipSpace();
    if (text_.substr(pos_, 2) != "}}") return Error("expected }} after the attribute");
    pos_ += 2;
    return name;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

// `applies_to`: roles and group ids, into `p`.
Status ParseAppliesTo(const boost::json::object& o, Policy* p) {
  const auto* value = o.if_contains("applies_to");
  if (!value || value->is_null()) {
    p->applies_to = {Role::kAnalyst, Role::kViewer};
    return Status::Ok();
  }
  if (!value->is_array() || value->as_array().empty() || value->as_array().size() > 100) {
    return Invalid("applies_to must list 1 to 100 roles (owner, admin, analyst, viewer) or group ids (grp_...)");
  }
  std::set<Role> roles;
  std::set<std::string> groups;
  for (const auto& r : value->as_array()) {
    const std::string text = r.is_string() ? std::string(r.as_string()) : "";
    if (std::optional<Role> role = ParseRole(text)) {
      roles.insert(*role);
    } else if (LooksLikeId(text, "grp")) {
      groups.insert(text);
    } else {
      return Invalid("applies_to lists roles (owner, admin, analyst, viewer) and group ids (grp_...)");
    }
  }
  p->applies_to.assign(roles.begin(), roles.end());
  p->applies_to_groups.assign(groups.begin(), groups.end());
  return Status::Ok();
}

std::string Text(const boost::json::object& o, const char* key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

bool Applies(const Policy& p, Role role, const std::vector<std::string>& groups) {
  if (std::find(p.applies_to.begin(), p.applies_to.end(), role) != p.applies_to.end()) return true;
  for (const std::string& group : p.applies_to_groups) {
    if (std::find(groups.begin(), groups.end(), group) != groups.end()) return true;
  }
  return false;
}

// A caller's attribute value as a JSON array of strings; nullopt when absent.
std::optional<std::string> BindingValue(const boost::json::object* attributes, const std::string& name) {
  const boost::json::value* v = attributes ? attributes->if_contains(name) : nullptr;
  if (!v || v->is_null()) return std::nullopt;
  auto text = [](const boost::json::value& x) -> boost::json::value {
    if (x.is_string()) return x;
    if (x.is_bool()) return boost::json::value(x.as_bool() ? "true" : "false");
    if (x.is_int64()) return boost::json::value(std::to_string(x.as_int64()));
    if (x.is_uint64()) return boost::json::value(std::to_string(x.as_uint64()));
    if (x.is_double()) return boost::json::value(boost::json::serialize(x));
    return boost::json::value(nullptr);
  };
  boost::json::array values;
  if (v->is_array()) {
    for (const auto& x : v->as_array()) values.push_back(text(x));
  } else {
    values.push_back(text(*v));
  }
  return boost::json::serialize(values);
}

std::string ConditionSql(const Condition& c, const std::string& type) {
  const std::string variable = QuoteLiteral(kVariablePrefix + c.attribute);
  const std::string column = QuoteIdentifier(c.column);
  if (c.op == "in" || c.op == "not in") {
    const std::string values = "TRY_CAST(getvariable(" + variable + ") AS " + type + "[])";
    const std::string contains = "list_contains(" + values + ", " + column + ")";
    if (c.op == "in") return contains;
    // A value that does not convert is NULL in the cast list: NOT IN would then let rows through
    // that the caller's real values exclude. Every value must convert, or nothing matches.
    return "(NOT " + contains + " AND len(list_filter(" + values + ", x -> x IS NOT NULL)) = len(getvariable(" +
           variable + ")))";
  }
  return column + " " + c.op + " (CASE WHEN len(getvariable(" + variable + ")) = 1 THEN TRY_CAST(getvariable(" +
         variable + ")[1] AS " + type + ") END)";
}

}  // namespace

const char* KindName(PolicyKind kind) {
  switch (kind) {
    case PolicyKind::kRow: return "row";
    case PolicyKind::kColumn: return "column";
    case PolicyKind::kRowRequired: return "row_required";
  }
  return "row";
}

const char* ActionName(ColumnAction action) {
  switch (action) {
    case ColumnAction::kHash: return "hash";
    case ColumnAction::kRedact: return "redact";
    case ColumnAction::kHide: return "hide";
  }
  return "hide";
}

Result<Policy> ParsePolicy(const boost::json::value& definition, const std::vector<Column>* checked_columns) {
  static const std::vector<Column> kNone;
  const std::vector<Column>& columns = checked_columns ? *checked_columns : kNone;
  if (!definition.is_object()) return Invalid("a policy is a JSON object with a kind: row, column or row_required");
  const auto& o = definition.as_object();
  static const std::set<std::string> kKnown = {"kind", "predicate", "column", "action", "applies_to"};
  for (const auto& [key, value] : o) {
    if (!kKnown.count(std::string(key))) return Invalid("unknown field '" + std::string(key) + "'");
  }
  Policy p;
  QUARRY_RETURN_IF_ERROR(ParseAppliesTo(o, &p));
  const std::string kind = Text(o, "kind");
  if (kind == "row") {
    p.kind = PolicyKind::kRow;
    p.predicate = Text(o, "predicate");
    if (p.predicate.empty()) return Invalid("a row policy needs a predicate, e.g. \"region = {{user.region}}\"");
    if (p.predicate.size() > kMaxPredicateBytes) return Invalid("a predicate is at most 4096 bytes");
    QUARRY_ASSIGN_OR_RETURN(p.conditions, PredicateParser(p.predicate).Parse());
    for (const Condition& c : p.conditions) {
      if (!checked_columns) continue;
      const Column* column = FindColumn(columns, c.column);
      if (!column) return Invalid("the dataset has no column '" + c.column + "' (it has: " + ColumnList(columns) + ")");
      if (!IsComparableType(column->type)) {
        return Invalid("column '" + c.column + "' has type " + column->type + ", which a condition cannot compare");
      }
    }
  } else if (kind == "column") {
    p.kind = PolicyKind::kColumn;
    p.column = Text(o, "column");
    if (p.column.empty()) return Invalid("a column policy names its column");
    if (checked_columns && !FindColumn(columns, p.column)) {
      return Invalid("the dataset has no column '" + p.column + "' (it has: " + ColumnList(columns) + ")");
    }
    const std::string action = Text(o, "action");
    if (action == "hide") p.action = ColumnAction::kHide;
    else if (action == "redact") p.action = ColumnAction::kRedact;
    else if (action == "hash") p.action = ColumnAction::kHash;
    else return Invalid("a column policy's action is hide, redact or hash");
  } else if (kind == "row_required") {
    p.kind = PolicyKind::kRowRequired;
  } else {
    return Invalid("kind must be row, column or row_required");
  }
  if (p.kind != PolicyKind::kRow && o.contains("predicate")) return Invalid("only row policies have a predicate");
  if (p.kind != PolicyKind::kColumn && (o.contains("column") || o.contains("action"))) {
    return Invalid("only column policies have a column and an action");
  }
  return p;
}

Result<std::vector<Policy>> ParseStored(const std::vector<DatasetPolicy>& stored) {
  std::vector<Policy> out;
  for (const DatasetPolicy& s : stored) {
    boost::system::error_code ec;
    const boost::json::value definition = boost::json::parse(s.definition_json, ec);
    auto parsed = ec ? Result<Policy>(Invalid("not JSON")) : ParsePolicy(definition, nullptr);
    if (!parsed.ok()) return Internal("policy_corrupt", "a stored policy (" + s.id + ") cannot be read");
    out.push_back(std::move(parsed).value());
  }
  return out;
}

std::vector<Column> ColumnsOf(const std::string& schema_json) {
  std::vector<Column> out;
  boost::system::error_code ec;
  const boost::json::value schema = boost::json::parse(schema_json, ec);
  if (ec || !schema.is_array()) return out;
  for (const auto& c : schema.as_array()) {
    const auto* o = c.if_object();
    const auto* name = o ? o->if_contains("name") : nullptr;
    const auto* type = o ? o->if_contains("type") : nullptr;
    if (name && type && name->is_string() && type->is_string()) {
      out.push_back({std::string(name->as_string()), std::string(type->as_string())});
    }
  }
  return out;
}

namespace {

bool Listed(const std::vector<std::string>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// `json` (an array of objects with "name") without the entries `drop` refuses, each passed
// through `edit`.
template <typename Drop, typename Edit>
std::string FilterColumns(const std::string& json, Drop drop, Edit edit) {
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(json, ec);
  if (ec || !value.is_array()) return "[]";
  boost::json::array out;
  for (auto& entry : value.as_array()) {
    auto* o = entry.if_object();
    const auto* name = o ? o->if_contains("name") : nullptr;
    if (!name || !name->is_string() || drop(std::string_view(name->as_string()))) continue;
    edit(*o);
    out.push_back(std::move(entry));
  }
  return boost::json::serialize(out);
}

}  // namespace

std::string VisibleSchemaJson(const std::string& schema_json, const AccessView& view) {
  return FilterColumns(
      schema_json, [&](std::string_view name) { return Listed(view.hidden_columns, name); },
      [&](boost::json::object& o) {
        if (Listed(view.masked_columns, std::string_view(o.at("name").as_string()))) o["type"] = "VARCHAR";
      });
}

std::string VisibleStatsJson(const std::string& stats_json, const AccessView& view) {
  if (view.rows_restricted) return "[]";
  return FilterColumns(
      stats_json,
      [&](std::string_view name) { return Listed(view.hidden_columns, name) || Listed(view.masked_columns, name); },
      [](boost::json::object&) {});
}

boost::json::object ToJson(const Policy& p) {
  boost::json::object o{{"kind", KindName(p.kind)}};
  if (p.kind == PolicyKind::kRow) o["predicate"] = p.predicate;
  if (p.kind == PolicyKind::kColumn) {
    o["column"] = p.column;
    o["action"] = ActionName(p.action);
  }
  boost::json::array roles;
  for (Role r : p.applies_to) roles.emplace_back(std::string(ToString(r)));
  for (const std::string& group : p.applies_to_groups) roles.emplace_back(group);
  o["applies_to"] = std::move(roles);
  return o;
}

bool NamesGroups(const std::vector<Policy>& policies) {
  return std::any_of(policies.begin(), policies.end(), [](const Policy& p) { return !p.applies_to_groups.empty(); });
}

Status ValidateAttributes(const boost::json::value& attributes) {
  auto bad = [](const std::string& what) { return InvalidArgument("invalid_attributes", what); };
  if (!attributes.is_object()) return bad("attributes are a JSON object, e.g. {\"region\": \"north\", \"org_ids\": [1, 2]}");
  const auto& o = attributes.as_object();
  if (o.size() > kMaxAttributes) return bad("a user has at most 64 attributes");
  if (boost::json::serialize(o).size() > kMaxAttributesBytes) return bad("a user's attributes take at most 64 KiB");
  auto scalar = [](const boost::json::value& v) { return v.is_string() || v.is_number() || v.is_bool(); };
  for (const auto& [key, value] : o) {
    if (!IsAttributeName(key)) return bad("'" + std::string(key) + "' is not an attribute name ([a-z][a-z0-9_]*, up to 63)");
    if (scalar(value)) continue;
    if (!value.is_array()) return bad("attribute '" + std::string(key) + "' must be a string, number, boolean or a list of them");
    if (value.as_array().size() > kMaxAttributeValues) return bad("attribute '" + std::string(key) + "' lists more than 1,000 values");
    for (const auto& item : value.as_array()) {
      if (!scalar(item)) return bad("attribute '" + std::string(key) + "' must list strings, numbers or booleans");
    }
  }
  return Status::Ok();
}

Result<AccessView> CompileView(const std::vector<Column>& columns, const std::vector<Policy>& policies, Role role,
                               const std::string& attributes_json, const std::string& source,
                               const std::vector<std::string>& groups) {
  AccessView view;
  std::map<std::string, ColumnAction> actions;
  std::vector<const Policy*> row_policies;
  bool required = false;
  for (const Policy& p : policies) {
    if (!Applies(p, role, groups)) continue;
    if (p.kind == PolicyKind::kColumn) {
      if (!FindColumn(columns, p.column)) {
        return FailedPrecondition("policy_invalid", "a column policy names column '" + p.column +
                                                        "', which this version of the dataset does not have; an "
                                                        "admin must fix the dataset's policies");
      }
      auto [it, inserted] = actions.emplace(p.column, p.action);
      if (!inserted) it->second = std::max(it->second, p.action);
    } else if (p.kind == PolicyKind::kRow) {
      row_policies.push_back(&p);
    } else {
      required = true;
    }
  }
  if (actions.empty() && row_policies.empty() && !required) {
    view.select_sql = "SELECT * FROM " + source;
    return view;
  }

  std::string select;
  for (const Column& c : columns) {
    auto action = actions.find(c.name);
    const std::string id = QuoteIdentifier(c.name);
    std::string item = id;
    if (action != actions.end()) {
      if (action->second == ColumnAction::kHide) {
        view.hidden_columns.push_back(c.name);
        continue;
      }
      view.masked_columns.push_back(c.name);
      item = action->second == ColumnAction::kRedact ? "'[redacted]' AS " + id
                                                      : "sha256(CAST(" + id + " AS VARCHAR)) AS " + id;
    }
    select += (select.empty() ? "" : ", ") + item;
  }
  if (select.empty()) {
    return PermissionDenied("no_visible_columns", "every column of this dataset is hidden from your role; ask an "
                                                  "admin for access");
  }

  std::string where;
  std::set<std::string> attributes;
  for (const Policy* p : row_policies) {
    std::string conjunction;
    for (const Condition& c : p->conditions) {
      const Column* column = FindColumn(columns, c.column);
      if (!column || !IsComparableType(column->type)) {
        return FailedPrecondition("policy_invalid", "a row policy compares column '" + c.column +
                                                        "', which this version of the dataset does not have (or "
                                                        "no longer as a comparable type); an admin must fix the "
                                                        "dataset's policies");
      }
      conjunction += (conjunction.empty() ? "" : " AND ") + ConditionSql(c, column->type);
      attributes.insert(c.attribute);
    }
    where += (where.empty() ? "(" : " OR (") + conjunction + ")";
  }
  if (row_policies.empty() && required) where = "false";
  view.rows_restricted = !where.empty();
  view.select_sql = "SELECT " + select + " FROM " + source + (where.empty() ? "" : " WHERE " + where);

  boost::system::error_code ec;
  const boost::json::value parsed = boost::json::parse(attributes_json.empty() ? "{}" : attributes_json, ec);
  const boost::json::object* caller = !ec && parsed.is_object() ? &parsed.as_object() : nullptr;
  for (const std::string& name : attributes) {
    view.bindings.emplace_back(kVariablePrefix + name, BindingValue(caller, name));
  }
  return view;
}

}  // namespace quarry::policy
