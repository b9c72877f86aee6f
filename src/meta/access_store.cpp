#include "meta/access_store.h"

namespace quarry {

std::string_view ToString(ProjectRole r) {
  switch (r) {
    case ProjectRole::kAdmin: return "admin";
    case ProjectRole::kEditor: return "editor";
    case ProjectRole::kViewer: return "viewer";
  }
  return "viewer";
}

std::optional<ProjectRole> ParseProjectRole(std::string_view s) {
  if (s == "admin") return ProjectRole::kAdmin;
  if (s == "editor") return ProjectRole::kEditor;
  if (s == "viewer") return ProjectRole::kViewer;
  return std::nullopt;
}

Status ProjectNotFound() { return NotFound("project_not_found", "no such project; list them with GET /v1/projects"); }

std::string_view ToString(PrincipalKind k) { return k == PrincipalKind::kGroup ? "group" : "user"; }

Status ValidateAccessName(std::string_view what, const std::string& name) {
  const std::string subject(what);
  if (name.empty() || name.size() > 100) {
    return InvalidArgument("invalid_name", "a " + subject + " name has 1 to 100 characters");
  }
  if (name.front() == ' ' || name.back() == ' ') {
    return InvalidArgument("invalid_name", "a " + subject + " name may not start or end with a space");
  }
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) {
      return InvalidArgument("invalid_name", "a " + subject + " name may not contain control characters");
    }
  }
  return Status::Ok();
}

}  // namespace quarry
