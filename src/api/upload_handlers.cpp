// /v1/uploads: resumable uploads with the tus 1.0.0 protocol (core, creation,
// creation-with-upload, termination, expiration), so that a multi-GB upload survives a dropped
// connection or a closed tab. Protocol: https://tus.io/protocols/resumable-upload. Bytes are
// appended by the HTTP layer (Route::upload with UploadTarget::append); ResumableUploads holds
// the state and starts the ingestion when the last byte arrives.
#include <charconv>

#include "api/handler_support.h"

namespace quarry::api {
namespace {

constexpr const char* kTusVersion = "1.0.0";

void TusHeaders(http::Response& r) { r.headers.emplace_back("Tus-Resumable", kTusVersion); }

http::Response TusProblem(const http::Request& req, const Status& status) {
  http::Response r = http::Response::Problem(status, req);
  TusHeaders(r);
  return r;
}

Status CheckTusVersion(const http::Request& req) {
  if (req.headers.Get("Tus-Resumable") != kTusVersion) {
    return Status(ErrorCode::kPreconditionFailed, "unsupported_tus_version",
                  "send the header Tus-Resumable: 1.0.0 (the only tus version this server speaks)");
  }
  return Status::Ok();
}

Result<std::int64_t> HeaderNumber(const http::Request& req, const char* name) {
  const std::string_view text = req.headers.Get(name);
  std::int64_t value = -1;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || value < 0) {
    return InvalidArgument("invalid_" + std::string(name == std::string("Upload-Length") ? "upload_length" : "upload_offset"),
                           std::string("the header ") + name + " must be a non-negative whole number of bytes");
  }
  return value;
}

void StateHeaders(http::Response& r, const catalog::UploadState& state) {
  r.headers.emplace_back("Upload-Offset", std::to_string(state.offset));
  if (state.upload.job_id.empty()) {
    r.headers.emplace_back("Upload-Expires", FormatHttpDate(state.upload.expires_at));
  } else {
    r.headers.emplace_back("Quarry-Job", "/v1/jobs/" + state.upload.job_id);
  }
  TusHeaders(r);
}

}  // namespace

void RegisterUploadRoutes(http::Router& router, AppContext& app) {
  router.Add({"OPTIONS", "/v1/uploads", [&app](http::Request&) {
                http::Response r;
                r.status = 204;
                r.headers.emplace_back("Tus-Version", kTusVersion);
                r.headers.emplace_back("Tus-Extension", "creation,creation-with-upload,termination,expiration");
                r.headers.emplace_back("Tus-Max-Size", std::to_string(app.uploads.max_upload_bytes()));
                TusHeaders(r);
                return r;
              }});

  // Creation (and creation-with-upload: the POST may carry the first bytes).
  http::Route create{"POST", "/v1/uploads", Authed(app, [&app](http::Request& req, const Principal& p) {
                       const std::string id = req.path_params["upload_id"];
                       auto state = app.uploads.AfterAppend(p, id);
                       if (!state.ok()) return TusProblem(req, state.status());
                       http::Response r;
                       r.status = 201;
                       r.headers.emplace_back("Location", "/v1/uploads/" + id);
                       StateHeaders(r, *state);
                       return r;
                     })};
  create.upload = AuthedUpload(app, [&app](http::Request& req, const Principal& p) -> Result<http::UploadTarget> {
    QUARRY_RETURN_IF_ERROR(CheckTusVersion(req));
    if (req.headers.Has("Upload-Defer-Length")) {
      return InvalidArgument("defer_length_not_supported", "send Upload-Length: the upload's size must be known");
    }
    QUARRY_ASSIGN_OR_RETURN(std::int64_t length, HeaderNumber(req, "Upload-Length"));
    // A creation without bytes may carry any Content-Type (clients add form defaults).
    const std::string_view type = req.headers.Get("Content-Type");
    const bool has_body = req.headers.Has("Transfer-Encoding") ||
                          (req.headers.Has("Content-Length") && req.headers.Get("Content-Length") != "0");
    if (has_body && type != "application/offset+octet-stream") {
      return Status(ErrorCode::kUnsupportedMediaType, "invalid_content_type",
                    "an upload's bytes are sent as Content-Type: application/offset+octet-stream");
    }
    QUARRY_ASSIGN_OR_RETURN(ResumableUpload upload,
                            app.uploads.Create(p, length, std::string(req.headers.Get("Upload-Metadata"))));
    req.path_params["upload_id"] = upload.id;
    http::UploadTarget target{app.uploads_dir + "/tus_" + upload.id, static_cast<std::uint64_t>(length), true, 0};
    target.on_stored = app.uploads.LineChecker(upload.id, 0);
    return target;
  });
  router.Add(std::move(create));

  router.Add({"HEAD", "/v1/uploads/{id}", Authed(app, [&app](http::Request& req, const Principal& p) {
                if (Status st = CheckTusVersion(req); !st.ok()) return TusProblem(req, st);
                auto state = app.uploads.Inspect(p, req.path_params["id"]);
                if (!state.ok()) return TusProblem(req, state.status());
                http::Response r;
                r.status = 200;
                r.headers.emplace_back("Upload-Length", std::to_string(state->upload.length));
                if (!state->upload.metadata.empty()) r.headers.emplace_back("Upload-Metadata", state->upload.metadata);
                r.headers.emplace_back("Cache-Control", "no-store");
                StateHeaders(r, *state);
                return r;
              })});

  http::Route append{"PATCH", "/v1/uploads/{id}", Authed(app, [&app](http::Request& req, const Principal& p) {
                       auto state = app.uploads.AfterAppend(p, req.path_params["id"]);
                       if (!state.ok()) return TusProblem(req, state.status());
                       http::Response r;
                       r.status = 204;
                       StateHeaders(r, *state);
                       return r;
                     })};
  append.upload = AuthedUpload(app, [&app](http::Request& req, const Principal& p) -> Result<http::UploadTarget> {
    QUARRY_RETURN_IF_ERROR(CheckTusVersion(req));
    if (req.headers.Get("Content-Type") != "application/offset+octet-stream") {
      return Status(ErrorCode::kUnsupportedMediaType, "invalid_content_type",
                    "PATCH bodies are sent as Content-Type: application/offset+octet-stream");
    }
    QUARRY_ASSIGN_OR_RETURN(std::int64_t offset, HeaderNumber(req, "Upload-Offset"));
    QUARRY_ASSIGN_OR_RETURN(catalog::AppendTarget target,
                            app.uploads.PrepareAppend(p, req.path_params.at("id"), offset));
    http::UploadTarget upload{target.path, static_cast<std::uint64_t>(target.max_bytes), true,
                              static_cast<std::uint64_t>(target.offset)};
    upload.on_stored = app.uploads.LineChecker(req.path_params.at("id"), target.offset);
    return upload;
  });
  router.Add(std::move(append));

  router.Add({"DELETE", "/v1/uploads/{id}", Authed(app, [&app](http::Request& req, const Principal& p) {
                if (Status st = CheckTusVersion(req); !st.ok()) return TusProblem(req, st);
                Status terminated = app.uploads.Terminate(p, req.path_params["id"]);
                if (!terminated.ok()) return TusProblem(req, terminated);
                http::Response r;
                r.status = 204;
                TusHeaders(r);
                return r;
              })});

  // Not part of tus: the upload as JSON (for scripts and the CLI).
  router.Add({"GET", "/v1/uploads/{id}", Authed(app, [&app](http::Request& req, const Principal& p) {
                return Render(req, app.uploads.Inspect(p, req.path_params["id"]), 200, [](const catalog::UploadState& s) {
                  return boost::json::object{
                      {"id", s.upload.id},
                      {"offset", s.offset},
                      {"length", s.upload.length},
                      {"expires_at", FormatRfc3339(s.upload.expires_at)},
                      {"job_id", s.upload.job_id.empty() ? boost::json::value(nullptr) : boost::json::value(s.upload.job_id)}};
                });
              })});
}

}  // namespace quarry::api
