// /v1/jobs: the background job queue as users see it.
#include "api/handler_support.h"

#include <charconv>

namespace quarry::api {
namespace {

boost::json::value OptionalTime(const std::optional<UnixMillis>& t) {
  return t ? boost::json::value(FormatRfc3339(*t)) : boost::json::value(nullptr);
}

boost::json::value ParseOrNull(const std::string& json) {
  if (json.empty()) return nullptr;
  boost::system::error_code ec;
  auto value = boost::json::parse(json, ec);
  return ec ? boost::json::value(nullptr) : value;
}

boost::json::object JobJson(const Job& job, const jobs::JobProgress& progress) {
  boost::json::object o;
  o["id"] = job.id;
  o["kind"] = job.kind;
  o["state"] = ToString(job.state);
  o["user_id"] = job.user_id;
  o["priority"] = job.priority;
  o["attempt"] = job.attempt;
  o["max_attempts"] = job.max_attempts;
  o["cancel_requested"] = job.cancel_requested;
  o["progress"] = {{"percent", progress.percent >= 0 ? boost::json::value(progress.percent) : boost::json::value(nullptr)},
                   {"phase", progress.phase},
                   {"done", progress.done},
                   {"total", progress.total},
                   {"unit", progress.unit},
                   {"message", progress.message}};
  o["payload"] = ParseOrNull(job.payload_json);
  o["result"] = job.state == JobState::kSucceeded ? ParseOrNull(job.result_json) : boost::json::value(nullptr);
  if (!job.error_code.empty()) {
    o["error"] = {{"code", job.error_code}, {"message", job.error_message}, {"details", ParseOrNull(job.error_details_json)}};
  } else {
    o["error"] = nullptr;
  }
  o["idempotency_key"] = job.idempotency_key.empty() ? boost::json::value(nullptr) : boost::json::value(job.idempotency_key);
  o["run_after"] = FormatRfc3339(job.run_after);
  o["created_at"] = FormatRfc3339(job.created_at);
  o["started_at"] = OptionalTime(job.started_at);
  o["finished_at"] = OptionalTime(job.finished_at);
  return o;
}

boost::json::object ViewJson(const jobs::JobView& view) {
  boost::json::object o = JobJson(view.job, view.progress);
  o["queue_position"] = view.queue_position ? boost::json::value(*view.queue_position) : boost::json::value(nullptr);
  o["estimated_start_at"] = OptionalTime(view.estimated_start_at);
  return o;
}

// Server-sent events of one job: each log entry becomes `id: <seq>`, `event: state|progress`,
// `data: <json>`; the stream ends after the event of a final state. A client that reconnects with
// Last-Event-ID (or ?last_event_id=) gets everything after that sequence number, so it misses
// nothing. A comment line every 15 s keeps idle connections (and proxies) alive.
class JobEventStream final : public http::ResponseStream {
 public:
  JobEventStream(jobs::JobService& jobs, Principal actor, std::string job_id, std::int64_t after)
      : jobs_(jobs), actor_(std::move(actor)), job_id_(std::move(job_id)), after_(after),
        last_write_(std::chrono::steady_clock::now()) {}

  bool Poll(std::string* out) override {
    auto events = jobs_.Events(actor_, job_id_, after_, 200);
    if (!events.ok()) {
      // The job vanished (retention) or access was revoked: end the stream with a reason.
      *out += "event: error\ndata: " + boost::json::serialize(boost::json::object{
                                           {"code", events.status().code()}, {"message", events.status().message()}}) +
              "\n\n";
      return false;
    }
    bool finished = false;
    for (const auto& event : *events) {
      *out += "id: " + std::to_string(event.seq) + "\nevent: " + event.type + "\ndata: " + event.data_json + "\n\n";
      after_ = event.seq;
      if (event.type == "state") {
        boost::system::error_code ec;
        auto data = boost::json::parse(event.data_json, ec);
        if (!ec && data.is_object()) {
          auto state = ParseJobState(data.as_object().contains("state") && data.at("state").is_string()
                                         ? std::string(data.at("state").as_string()) : "");
          finished = state && IsTerminal(*state);
        }
      }
    }
    const auto now = std::chrono::steady_clock::now();
    if (!out->empty()) {
      last_write_ = now;
    } else if (now - last_write_ >= std::chrono::seconds(15)) {
      *out += ": keep-alive\n\n";
      last_write_ = now;
    }
    return !finished;
  }

 private:
  jobs::JobService& jobs_;
  const Principal actor_;
  const std::string job_id_;
  std::int64_t after_;
  std::chrono::steady_clock::time_point last_write_;
};

std::int64_t LastEventId(const http::Request& req) {
  std::string text(req.headers.Get("Last-Event-ID"));
  if (text.empty()) {
    if (auto it = req.query.find("last_event_id"); it != req.query.end()) text = it->second;
  }
  std::int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && ptr == text.data() + text.size() && value > 0 ? value : 0;
}

}  // namespace

boost::json::object JobViewToJson(const jobs::JobView& view) { return ViewJson(view); }

void RegisterJobRoutes(http::Router& router, AppContext& app) {
  router.Add({"POST", "/v1/jobs", Authed(app, [&app](http::Request& req, const Principal& p) {
                auto body = ParseJsonObject(req);
                if (!body.ok()) return Problem(req, body.status());
                FieldReader fields(*body);
                auto kind = fields.String("kind", true);
                if (!kind.ok()) return Problem(req, kind.status());
                auto priority = fields.Int("priority", -100, 100);
                if (!priority.ok()) return Problem(req, priority.status());
                auto payload = fields.ObjectJson("payload", 64 * 1024);
                if (!payload.ok()) return Problem(req, payload.status());
                if (Status st = fields.RejectUnknownFields(); !st.ok()) return Problem(req, st);
                jobs::Submission submission{**kind, payload->value_or("{}"), static_cast<int>(priority->value_or(0)),
                                            std::string(req.headers.Get("Idempotency-Key"))};
                auto enqueued = app.jobs.Submit(p, submission);
                if (!enqueued.ok()) return Problem(req, enqueued.status());
                auto view = app.jobs.View(enqueued->job);
                if (!view.ok()) return Problem(req, view.status());
                http::Response response = JsonResponse(enqueued->existing ? 200 : 202, ViewJson(*view));
                response.headers.emplace_back("Location", "/v1/jobs/" + enqueued->job.id);
                if (enqueued->existing) response.headers.emplace_back("Idempotent-Replayed", "true");
                return response;
              })});

  router.Add({"GET", "/v1/jobs", Authed(app, [&app](http::Request& req, const Principal& p) {
                auto page = ParsePage(req);
                if (!page.ok()) return Problem(req, page.status());
                JobFilter filter;
                if (auto it = req.query.find("state"); it != req.query.end()) {
                  filter.state = ParseJobState(it->second);
                  if (!filter.state) {
                    return Problem(req, InvalidArgument("invalid_state", "state must be one of queued, running, "
                                                                         "succeeded, failed, canceled"));
                  }
                }
                if (auto it = req.query.find("kind"); it != req.query.end()) filter.kind = it->second.substr(0, 64);
                if (auto it = req.query.find("user_id"); it != req.query.end()) filter.user_id = it->second.substr(0, 64);
                return Render(req, app.jobs.List(p, filter, *page), 200, [](const Page<Job>& jobs) {
                  return PageToJson(jobs, [](const Job& job) { return JobJson(job, jobs::ProgressFromJson(job.progress_json)); });
                });
              })});

  router.Add({"GET", "/v1/jobs/{id}", Authed(app, [&app](http::Request& req, const Principal& p) {
                return Render(req, app.jobs.Get(p, req.path_params["id"]), 200, ViewJson);
              })});

  router.Add({"GET", "/v1/jobs/{id}/events", Authed(app, [&app](http::Request& req, const Principal& p) {
                const std::string& id = req.path_params["id"];
                auto view = app.jobs.Get(p, id);  // 404 before any stream starts
                if (!view.ok()) return Problem(req, view.status());
                http::Response response;
                response.status = 200;
                response.content_type = "text/event-stream";
                response.stream = std::make_shared<JobEventStream>(app.jobs, p, id, LastEventId(req));
                response.stream_poll_interval = std::chrono::milliseconds(200);
                return response;
              })});

  router.Add({"POST", "/v1/jobs/{id}/cancel", Authed(app, [&app](http::Request& req, const Principal& p) {
                return Render(req, app.jobs.Cancel(p, req.path_params["id"]), 200, ViewJson);
              })});
}

}  // namespace quarry::api
