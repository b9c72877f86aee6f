// /v1/datasets: uploads (streamed to disk, ingested by a background job) and the dataset registry.
#include <charconv>

#include "api/handler_support.h"
#include "common/ids.h"
#include "http/multipart.h"

namespace quarry::api {
namespace {

boost::json::value ParseOr(const std::string& json, boost::json::value fallback) {
  boost::system::error_code ec;
  auto value = boost::json::parse(json, ec);
  return ec ? fallback : value;
}

// Counts and statistics a caller under a row policy does not see are null (and []).
boost::json::value RowCount(std::int64_t rows, bool restricted) {
  return restricted ? boost::json::value(nullptr) : boost::json::value(rows);
}

boost::json::object VersionJson(const DatasetVersion& v, bool restricted) {
  return {{"version", v.version},
          {"row_count", RowCount(v.row_count, restricted)},
          {"byte_size", v.byte_size},
          {"schema", ParseOr(v.schema_json, boost::json::array())},
          {"stats", ParseOr(v.stats_json, boost::json::array())},
          {"source", ParseOr(v.source_json, boost::json::object())},
          {"job_id", v.job_id},
          {"created_at", FormatRfc3339(v.created_at)}};
}

boost::json::object DatasetJson(const Dataset& d, bool restricted = false) {
  return {{"name", d.name},
          {"id", d.id},
          {"current_version", d.current_version},
          {"row_count", RowCount(d.row_count, restricted)},
          {"rows_restricted", restricted},
          {"byte_size", d.byte_size},
          {"project_id", d.project_id.empty() ? boost::json::value(nullptr) : boost::json::value(d.project_id)},
          {"created_at", FormatRfc3339(d.created_at)},
          {"updated_at", FormatRfc3339(d.updated_at)}};
}

boost::json::object PolicyJson(const DatasetPolicy& p) {
  boost::json::object o{{"id", p.id}};
  boost::json::value definition = ParseOr(p.definition_json, boost::json::object());
  if (definition.is_object()) {
    for (const auto& [key, value] : definition.as_object()) o[key] = value;
  }
  o["created_by"] = p.created_by;
  o["created_at"] = FormatRfc3339(p.created_at);
  return o;
}

boost::json::object DetailJson(const catalog::DatasetDetail& detail) {
  boost::json::object o = DatasetJson(detail.dataset, detail.rows_restricted);
  o["schema"] = ParseOr(detail.current.schema_json, boost::json::array());
  o["stats"] = ParseOr(detail.current.stats_json, boost::json::array());
  boost::json::array versions;
  for (const auto& v : detail.versions) {
    versions.push_back({{"version", v.version}, {"row_count", RowCount(v.row_count, detail.rows_restricted)},
                        {"byte_size", v.byte_size},
                        {"created_at", FormatRfc3339(v.created_at)}, {"job_id", v.job_id}});
  }
  o["versions"] = std::move(versions);
  return o;
}

// The upload's parameters from the query string, plus what the headers say.
Result<ingest::IngestRequest> UploadRequest(const http::Request& req) {
  QUARRY_ASSIGN_OR_RETURN(ingest::IngestRequest request, ingest::IngestRequestFromQuery(req.query));
  request.dataset = req.path_params.at("name");
  const std::string_view encoding = req.headers.Get("Content-Encoding");
  if (!encoding.empty() && encoding != "gzip" && encoding != "zstd" && encoding != "identity") {
    return InvalidArgument("unsupported_content_encoding",
                           "Content-Encoding must be gzip, zstd or identity (the compression is detected from "
                           "the bytes either way)");
  }
  return request;
}

}  // namespace

void RegisterDatasetRoutes(http::Router& router, AppContext& app) {
  http::Route upload{"PUT", "/v1/datasets/{name}/data",
                     Authed(app, [&app](http::Request& req, const Principal& p) {
                       auto request = UploadRequest(req);
                       if (!request.ok()) return Problem(req, request.status());
                       if (req.body_bytes == 0) {
                         return Problem(req, InvalidArgument("empty_file", "the upload is empty (0 bytes); send "
                                                                           "the file as the request body"));
                       }
                       // Keep the body: move it to its final name before the job can see it.
                       request->upload_path = app.uploads_dir + "/" + NewId("upl", app.clock.NowMillis());
                       if (::rename(req.body_file.c_str(), request->upload_path.c_str()) != 0) {
                         return Problem(req, Unavailable("upload_write_failed", "storing the upload failed; retry"));
                       }
                       if (request->filename.empty()) request->filename = req.body_filename;
                       if (request->filename.empty()) request->filename = request->dataset;
                       auto enqueued = app.datasets.StartIngest(p, *request, std::string(req.headers.Get("Idempotency-Key")));
                       if (!enqueued.ok() || enqueued->existing) ::unlink(request->upload_path.c_str());
                       if (!enqueued.ok()) return Problem(req, enqueued.status());
                       auto view = app.jobs.View(enqueued->job);
                       if (!view.ok()) return Problem(req, view.status());
                       http::Response response = JsonResponse(202, JobViewToJson(*view));
                       response.headers.emplace_back("Location", "/v1/jobs/" + enqueued->job.id);
                       if (enqueued->existing) response.headers.emplace_back("Idempotent-Replayed", "true");
                       return response;
                     })};
  upload.upload = AuthedUpload(app, [&app](http::Request& req, const Principal& p) -> Result<http::UploadTarget> {
    auto request = UploadRequest(req);
    if (!request.ok()) return request.status();
    // A browser form (multipart/form-data) is decoded while it streams: only its file is stored.
    QUARRY_ASSIGN_OR_RETURN(std::string boundary, http::MultipartBoundary(req.headers.Get("Content-Type")));
    QUARRY_RETURN_IF_ERROR(app.datasets.CheckUpload(p, *request));
    http::UploadTarget target{app.uploads_dir + "/" + RandomAlphanumeric(20) + ".part",
                              static_cast<std::uint64_t>(app.datasets.MaxUploadBytes(p))};
    target.multipart_boundary = std::move(boundary);
    return target;
  });
  router.Add(std::move(upload));

  router.Add({"GET", "/v1/datasets", Authed(app, [&app](http::Request& req, const Principal& p) {
                auto page = ParsePage(req);
                if (!page.ok()) return Problem(req, page.status());
                return Render(req, app.datasets.List(p, *page), 200, [](const Page<catalog::DatasetSummary>& datasets) {
                  return PageToJson(datasets, [](const auto& d) { return DatasetJson(d.dataset, d.rows_restricted); });
                });
              })});

  router.Add({"GET", "/v1/datasets/{name}", Authed(app, [&app](http::Request& req, const Principal& p) {
                return Render(req, app.datasets.Get(p, req.path_params["name"]), 200, DetailJson);
              })});

  router.Add({"GET", "/v1/datasets/{name}/versions", Authed(app, [&app](http::Request& req, const Principal& p) {
                return Render(req, app.datasets.Versions(p, req.path_params["name"]), 200,
                              [](const catalog::DatasetDetail& d) {
                                return ItemsToJson(d.versions, std::nullopt, [&](const DatasetVersion& v) {
                                  return VersionJson(v, d.rows_restricted);
                                });
                              });
              })});

  router.Add({"POST", "/v1/datasets/{name}/rollback", Authed(app, [&app](http::Request& req, const Principal& p) {
                auto body = ParseJsonObject(req);
                if (!body.ok()) return Problem(req, body.status());
                FieldReader fields(*body);
                auto version = fields.Int("version", 1, 1'000'000'000);
                if (!version.ok()) return Problem(req, version.status());
                if (Status st = fields.RejectUnknownFields(); !st.ok()) return Problem(req, st);
                if (!*version) return Problem(req, InvalidArgument("missing_field", "field 'version' is required"));
                return Render(req, app.datasets.Rollback(p, req.path_params["name"], static_cast<int>(**version)), 200,
                              [](const catalog::DatasetSummary& d) { return DatasetJson(d.dataset, d.rows_restricted); });
              })});

  // Access policies (docs/security.md, "Row and column policies").
  router.Add({"GET", "/v1/datasets/{name}/policies", Authed(app, [&app](http::Request& req, const Principal& p) {
                return Render(req, app.datasets.ListPolicies(p, req.path_params["name"]), 200,
                              [](const auto& policies) { return ItemsToJson(policies, std::nullopt, PolicyJson); });
              })});

  router.Add({"POST", "/v1/datasets/{name}/policies", Authed(app, [&app](http::Request& req, const Principal& p) {
                auto body = ParseJsonObject(req);
                if (!body.ok()) return Problem(req, body.status());
                return Render(req, app.datasets.CreatePolicy(p, req.path_params["name"], *body), 201, PolicyJson);
              })});

  router.Add({"DELETE", "/v1/datasets/{name}/policies/{id}", Authed(app, [&app](http::Request& req, const Principal& p) {
                return NoContent(req, app.datasets.DeletePolicy(p, req.path_params["name"], req.path_params["id"]));
              })});

  // Moving a dataset into or out of a project (docs/security.md, "Projects, groups and grants").
  router.Add({"PATCH", "/v1/datasets/{name}", Authed(app, [&app](http::Request& req, const Principal& p) {
                auto body = ParseJsonObject(req);
                if (!body.ok()) return Problem(req, body.status());
                const auto* project = body->if_contains("project_id");
                if (!project || (!project->is_null() && !project->is_string()) || body->size() != 1) {
                  return Problem(req, InvalidArgument("invalid_field", "send {\"project_id\": \"prj_...\"} to move the "
                                                                       "dataset into a project, or null to move it out"));
                }
                const std::string project_id = project->is_string() ? std::string(project->as_string()) : "";
                return Render(req, app.datasets.MoveToProject(p, req.path_params["name"], project_id), 200,
                              [](const catalog::DatasetSummary& s) { return DatasetJson(s.dataset, s.rows_restricted); });
              })});

  router.Add({"DELETE", "/v1/datasets/{name}", Authed(app, [&app](http::Request& req, const Principal& p) {
                return NoContent(req, app.datasets.Delete(p, req.path_params["name"]));
              })});
}

}  // namespace quarry::api
