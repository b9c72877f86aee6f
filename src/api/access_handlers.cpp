// /v1/projects, /v1/groups and /v1/datasets/{name}/grants: who inside a tenant may see which
// dataset (access/access_service.h has the rules; docs/security.md "Projects, groups and grants").
#include "api/handler_support.h"

namespace quarry::api {
namespace {

using access::AccessService;

boost::json::object ProjectJson(const Project& p) {
  return {{"id", p.id},
          {"name", p.name},
          {"description", p.description},
          {"created_by", p.created_by},
          {"created_at", FormatRfc3339(p.created_at)},
          {"updated_at", FormatRfc3339(p.updated_at)}};
}
boost::json::object MemberJson(const ProjectMember& m) {
  return {{"project_id", m.project_id},
          {"member_id", m.member_id},
          {"kind", ToString(m.kind)},
          {"role", ToString(m.role)},
          {"added_at", FormatRfc3339(m.added_at)}};
}
boost::json::object GroupJson(const Group& g) {
  return {{"id", g.id}, {"name", g.name}, {"created_at", FormatRfc3339(g.created_at)}};
}
boost::json::object GroupMemberJson(const GroupMember& m) {
  return {{"group_id", m.group_id}, {"user_id", m.user_id}, {"added_at", FormatRfc3339(m.added_at)}};
}
boost::json::object GrantJson(const DatasetGrant& g) {
  return {{"id", g.id},
          {"dataset_id", g.dataset_id},
          {"kind", ToString(g.kind)},
          {"grantee_id", g.grantee_id},
          {"created_by", g.created_by},
          {"created_at", FormatRfc3339(g.created_at)}};
}

// {"user_id": "usr_..."} or {"group_id": "grp_..."}: exactly one of them.
Result<std::string> MemberIdOf(FieldReader& fields) {
  QUARRY_ASSIGN_OR_RETURN(auto user, fields.String("user_id"));
  QUARRY_ASSIGN_OR_RETURN(auto group, fields.String("group_id"));
  if (user.has_value() == group.has_value()) {
    return InvalidArgument("invalid_member", "name exactly one of user_id (usr_...) or group_id (grp_...)");
  }
  return user ? *user : *group;
}

}  // namespace

void RegisterAccessRoutes(http::Router& router, AppContext& app) {
  AccessService& access = app.access;

  // --- projects ---
  router.Add({"GET", "/v1/projects", Authed(app, [&access](http::Request& req, const Principal& p) {
                auto page = ParsePage(req);
                if (!page.ok()) return Problem(req, page.status());
                return Render(req, access.ListProjects(p, *page), 200,
                              [](const Page<Project>& projects) { return PageToJson(projects, ProjectJson); });
              })});
  router.Add({"POST", "/v1/projects", Authed(app, [&access](http::Request& req, const Principal& p) {
                auto body = ParseJsonObject(req);
                if (!body.ok()) return Problem(req, body.status());
                FieldReader fields(*body);
                auto name = fields.String("name", true);
                if (!name.ok()) return Problem(req, name.status());
                auto description = fields.String("description");
                if (!description.ok()) return Problem(req, description.status());
                if (Status st = fields.RejectUnknownFields(); !st.ok()) return Problem(req, st);
                return Render(req, access.CreateProject(p, **name, description->value_or("")), 201, ProjectJson);
              })});
  router.Add({"GET", "/v1/projects/{id}", Authed(app, [&access](http::Request& req, const Principal& p) {
                return Render(req, access.GetProject(p, req.path_params["id"]), 200, ProjectJson);
              })});
  router.Add({"PATCH", "/v1/projects/{id}", Authed(app, [&access](http::Request& req, const Principal& p) {
                auto body = ParseJsonObject(req);
                if (!body.ok()) return Problem(req, body.status());
                FieldReader fields(*body);
                auto name = fields.String("name");
                if (!name.ok()) return Problem(req, name.status());
                auto description = fields.String("description");
                if (!description.ok()) return Problem(req, description.status());
                if (Status st = fields.RejectUnknownFields(); !st.ok()) return Problem(req, st);
                return Render(req, access.UpdateProject(p, req.path_params["id"], {*name, *description}), 200,
                              ProjectJson);
              })});
  router.Add({"DELETE", "/v1/projects/{id}", Authed(app, [&access](http::Request& req, const Principal& p) {
                return NoContent(req, access.DeleteProject(p, req.path_params["id"]));
              })});

  router.Add({"GET", "/v1/projects/{id}/members", Authed(app, [&access](http::Request& req, const Principal& p) {
                auto page = ParsePage(req);
                if (!page.ok()) return Problem(req, page.status());
                return Render(req, access.ListProjectMembers(p, req.path_params["id"], *page), 200,
                              [](const Page<ProjectMember>& members) { return PageToJson(members, MemberJson); });
              })});
  // Adds a member, or changes its role (idempotent).
  router.Add({"POST", "/v1/projects/{id}/members", Authed(app, [&access](http::Request& req, const Principal& p) {
                auto body = ParseJsonObject(req);
                if (!body.ok()) return Problem(req, body.status());
                FieldReader fields(*body);
                auto member = MemberIdOf(fields);
                if (!member.ok()) return Problem(req, member.status());
                auto role_text = fields.String("role", true);
                if (!role_text.ok()) return Problem(req, role_text.status());
                if (Status st = fields.RejectUnknownFields(); !st.ok()) return Problem(req, st);
                auto role = ParseProjectRole(**role_text);
                if (!role) return Problem(req, InvalidArgument("invalid_role", "role must be admin, editor or viewer"));
                return Render(req, access.PutProjectMember(p, req.path_params["id"], *member, *role), 200, MemberJson);
              })});
  router.Add({"DELETE", "/v1/projects/{id}/members/{member_id}",
              Authed(app, [&access](http::Request& req, const Principal& p) {
                return NoContent(req, access.DeleteProjectMember(p, req.path_params["id"], req.path_params["member_id"]));
              })});

  // --- groups ---
  router.Add({"GET", "/v1/groups", Authed(app, [&access](http::Request& req, const Principal& p) {
                auto page = ParsePage(req);
                if (!page.ok()) return Problem(req, page.status());
                return Render(req, access.ListGroups(p, *page), 200,
                              [](const Page<Group>& groups) { return PageToJson(groups, GroupJson); });
              })});
  router.Add({"POST", "/v1/groups", Authed(app, [&access](http::Request& req, const Principal& p) {
                auto body = ParseJsonObject(req);
                if (!body.ok()) return Problem(req, body.status());
                FieldReader fields(*body);
                auto name = fields.String("name", true);
                if (!name.ok()) return Problem(req, name.status());
                if (Status st = fields.RejectUnknownFields(); !st.ok()) return Problem(req, st);
                return Render(req, access.CreateGroup(p, **name), 201, GroupJson);
              })});
  router.Add({"GET", "/v1/groups/{id}", Authed(app, [&access](http::Request& req, const Principal& p) {
                return Render(req, access.GetGroup(p, req.path_params["id"]), 200, GroupJson);
              })});
  router.Add({"DELETE", "/v1/groups/{id}", Authed(app, [&access](http::Request& req, const Principal& p) {
                return NoContent(req, access.DeleteGroup(p, req.path_params["id"]));
              })});
  router.Add({"GET", "/v1/groups/{id}/members", Authed(app, [&access](http::Request& req, const Principal& p) {
                auto page = ParsePage(req);
                if (!page.ok()) return Problem(req, page.status());
                return Render(req, access.ListGroupMembers(p, req.path_params["id"], *page), 200,
                              [](const Page<GroupMember>& members) { return PageToJson(members, GroupMemberJson); });
              })});
  router.Add({"POST", "/v1/groups/{id}/members", Authed(app, [&access](http::Request& req, const Principal& p) {
                auto body = ParseJsonObject(req);
                if (!body.ok()) return Problem(req, body.status());
                FieldReader fields(*body);
                auto user = fields.String("user_id", true);
                if (!user.ok()) return Problem(req, user.status());
                if (Status st = fields.RejectUnknownFields(); !st.ok()) return Problem(req, st);
                return Render(req, access.PutGroupMember(p, req.path_params["id"], **user), 200, GroupMemberJson);
              })});
  router.Add({"DELETE", "/v1/groups/{id}/members/{user_id}", Authed(app, [&access](http::Request& req, const Principal& p) {
                return NoContent(req, access.DeleteGroupMember(p, req.path_params["id"], req.path_params["user_id"]));
              })});

  // --- grants ---
  router.Add({"GET", "/v1/datasets/{name}/grants", Authed(app, [&access](http::Request& req, const Principal& p) {
                return Render(req, access.ListGrants(p, req.path_params["name"]), 200,
                              [](const auto& grants) { return ItemsToJson(grants, std::nullopt, GrantJson); });
              })});
  router.Add({"POST", "/v1/datasets/{name}/grants", Authed(app, [&access](http::Request& req, const Principal& p) {
                auto body = ParseJsonObject(req);
                if (!body.ok()) return Problem(req, body.status());
                FieldReader fields(*body);
                auto grantee = MemberIdOf(fields);
                if (!grantee.ok()) return Problem(req, grantee.status());
                if (Status st = fields.RejectUnknownFields(); !st.ok()) return Problem(req, st);
                return Render(req, access.CreateGrant(p, req.path_params["name"], *grantee), 201, GrantJson);
              })});
  router.Add({"DELETE", "/v1/datasets/{name}/grants/{id}", Authed(app, [&access](http::Request& req, const Principal& p) {
                return NoContent(req, access.DeleteGrant(p, req.path_params["name"], req.path_params["id"]));
              })});
}

}  // namespace quarry::api
