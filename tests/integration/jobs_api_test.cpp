// The job queue end to end: submit, progress, cancel, idempotency, isolation, limits, and a
// server killed mid-job whose job is rescued after restart and completes exactly once.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <csignal>

#include "integration/harness.h"

namespace quarry::testing {
namespace {

using namespace std::chrono_literals;

boost::json::value Json(const HttpResult& r) { return boost::json::parse(r.body); }
std::string Str(const boost::json::value& v) { return std::string(v.as_string()); }

// Re-reads the job until `done` holds for it, or the deadline passes.
boost::json::value WaitForJob(const QuarryServer& server, const std::string& key, const std::string& id,
                              const std::function<bool(const boost::json::value&)>& done,
                              std::chrono::milliseconds deadline = 20s) {
  auto end = std::chrono::steady_clock::now() + deadline;
  boost::json::value job;
  do {
    auto r = server.Request("GET", "/v1/jobs/" + id, key);
    if (r.status == 200) {
      job = Json(r);
      if (done(job)) return job;
    }
  } while (std::chrono::steady_clock::now() < end);
  return job;
}

bool InState(const boost::json::value& job, const char* state) { return job.at("state") == state; }

const std::vector<std::string> kTestKinds = {"--set", "jobs.allow_test_kinds=true", "--set", "jobs.heartbeat=50ms"};

TEST(JobsApi, SubmitRunsToSuccessWithProgress) {
  QuarryServer server(kTestKinds);
  ASSERT_TRUE(server.started());
  const std::string key = server.demo_key();
  auto submitted = server.Request("POST", "/v1/jobs", key, R"({"kind":"sleep","payload":{"ms":300,"steps":3}})");
  ASSERT_EQ(submitted.status, 202) << submitted.body;
  const std::string id = Str(Json(submitted).at("id"));
  EXPECT_EQ(submitted.headers["location"], "/v1/jobs/" + id);
  auto job = WaitForJob(server, key, id, [](const auto& j) { return InState(j, "succeeded"); });
  ASSERT_TRUE(InState(job, "succeeded")) << boost::json::serialize(job);
  EXPECT_EQ(job.at("attempt").as_int64(), 1);
  EXPECT_EQ(job.at("result").at("slept_ms").as_int64(), 300);
  EXPECT_EQ(job.at("progress").at("done").as_int64(), 3);
  EXPECT_EQ(job.at("progress").at("unit"), "steps");
  EXPECT_FALSE(job.at("finished_at").is_null());

  auto list = Json(server.Request("GET", "/v1/jobs?state=succeeded", key));
  ASSERT_EQ(list.at("items").as_array().size(), 1u);
  auto metrics = server.Request("GET", "/metrics");
  EXPECT_NE(metrics.body.find("quarry_jobs_succeeded_total 1"), std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find("quarry_job_run_duration_seconds_count 1"), std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find("quarry_job_run_duration_seconds_bucket{le=\"1\"} 1"), std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find("quarry_job_claim_duration_seconds_count"), std::string::npos);
}

TEST(JobsApi, CancelStopsARunningJob) {
  QuarryServer server(kTestKinds);
  ASSERT_TRUE(server.started());
  const std::string key = server.demo_key();
  auto submitted = server.Request("POST", "/v1/jobs", key, R"({"kind":"sleep","payload":{"ms":60000,"steps":600}})");
  ASSERT_EQ(submitted.status, 202);
  const std::string id = Str(Json(submitted).at("id"));
  auto running = WaitForJob(server, key, id, [](const auto& j) { return InState(j, "running"); });
  ASSERT_TRUE(InState(running, "running"));
  auto canceled = server.Request("POST", "/v1/jobs/" + id + "/cancel", key);
  ASSERT_EQ(canceled.status, 200);
  EXPECT_EQ(Json(canceled).at("cancel_requested"), true);
  auto job = WaitForJob(server, key, id, [](const auto& j) { return InState(j, "canceled"); });
  EXPECT_TRUE(InState(job, "canceled")) << boost::json::serialize(job);
  // A final job never changes again.
  EXPECT_TRUE(InState(Json(server.Request("POST", "/v1/jobs/" + id + "/cancel", key)), "canceled"));
}

TEST(JobsApi, QueuedJobsCancelAtOnceAndIdempotencyKeysReplay) {
  QuarryServer server({"--set", "jobs.allow_test_kinds=true", "--set", "jobs.workers=0",
                       "--set", "jobs.max_queued_per_tenant=2"});
  ASSERT_TRUE(server.started());
  const std::string key = server.demo_key();
  auto first = server.Request("POST", "/v1/jobs", key, R"({"kind":"noop"})", {"Idempotency-Key: upload-42"});
  ASSERT_EQ(first.status, 202) << first.body;
  auto again = server.Request("POST", "/v1/jobs", key, R"({"kind":"noop"})", {"Idempotency-Key: upload-42"});
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.headers["idempotent-replayed"], "true");
  EXPECT_EQ(Json(again).at("id"), Json(first).at("id"));
  EXPECT_EQ(Json(first).at("queue_position").as_int64(), 0);

  auto second = server.Request("POST", "/v1/jobs", key, R"({"kind":"noop"})");
  ASSERT_EQ(second.status, 202);
  EXPECT_EQ(Json(second).at("queue_position").as_int64(), 1);
  auto full = server.Request("POST", "/v1/jobs", key, R"({"kind":"noop"})");
  EXPECT_EQ(full.status, 429);
  EXPECT_EQ(Json(full).at("code"), "queue_full");

  const std::string id = Str(Json(first).at("id"));
  auto canceled = server.Request("POST", "/v1/jobs/" + id + "/cancel", key);
  ASSERT_EQ(canceled.status, 200);
  EXPECT_EQ(Json(canceled).at("state"), "canceled");
}

TEST(JobsApi, BadSubmissionsAndIsolation) {
  QuarryServer server({"--set", "jobs.workers=0"});
  ASSERT_TRUE(server.started());
  const std::string key = server.demo_key();
  auto test_kind = server.Request("POST", "/v1/jobs", key, R"({"kind":"sleep"})");
  EXPECT_EQ(test_kind.status, 400) << "test kinds are off by default";
  EXPECT_EQ(Json(test_kind).at("code"), "invalid_kind");
  EXPECT_EQ(server.Request("POST", "/v1/jobs", key, R"({"kind":"noop","payload":[1]})").status, 400);
  EXPECT_EQ(server.Request("GET", "/v1/jobs?state=bogus", key).status, 400);
  EXPECT_EQ(server.Request("GET", "/v1/jobs/job_00000000000000000000000000", key).status, 404);
  EXPECT_EQ(server.Request("GET", "/v1/jobs", server.operator_key()).status, 403);
}

TEST(JobsApi, OtherTenantsAndOtherUsersJobsAreInvisible) {
  QuarryServer server({"--set", "jobs.allow_test_kinds=true", "--set", "jobs.workers=0"});
  ASSERT_TRUE(server.started());
  const std::string demo = server.demo_key();
  auto acme = Json(server.Request("POST", "/v1/admin/tenants", server.operator_key(),
                                  R"({"slug":"acme","name":"Acme","owner_email":"o@acme.io"})"));
  const std::string acme_key = Str(acme.at("owner_key").at("secret"));
  auto job = Json(server.Request("POST", "/v1/jobs", demo, R"({"kind":"noop"})"));
  const std::string id = Str(job.at("id"));
  auto foreign = server.Request("GET", "/v1/jobs/" + id, acme_key);
  EXPECT_EQ(foreign.status, 404);
  EXPECT_EQ(Json(foreign).at("code"), "job_not_found");
  EXPECT_EQ(server.Request("POST", "/v1/jobs/" + id + "/cancel", acme_key).status, 404);
  EXPECT_EQ(Json(server.Request("GET", "/v1/jobs", acme_key)).at("items").as_array().size(), 0u);

  // An analyst of the demo tenant sees only their own jobs.
  auto user = Json(server.Request("POST", "/v1/users", demo, R"({"email":"ana@demo.local","role":"analyst"})"));
  auto analyst = Str(Json(server.Request("POST", "/v1/keys", demo,
                                         R"({"name":"ana","user_id":")" + Str(user.at("id")) + R"("})"))
                         .at("secret"));
  EXPECT_EQ(server.Request("GET", "/v1/jobs/" + id, analyst).status, 404);
  EXPECT_EQ(Json(server.Request("GET", "/v1/jobs", analyst)).at("items").as_array().size(), 0u);
  EXPECT_EQ(server.Request("POST", "/v1/jobs", analyst, R"({"kind":"noop"})").status, 202);
  EXPECT_EQ(Json(server.Request("GET", "/v1/jobs", analyst)).at("items").as_array().size(), 1u);
  EXPECT_EQ(Json(server.Request("GET", "/v1/jobs", demo)).at("items").as_array().size(), 2u) << "the owner sees all";
}

// Parses an event stream into (id, event, data) triples.
struct SseEvent {
  long long id = 0;
  std::string event, data;
};
std::vector<SseEvent> ParseSse(const std::string& text) {
  std::vector<SseEvent> events;
  SseEvent current;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    start = end + 1;
    if (line.empty()) {
      if (!current.event.empty()) events.push_back(current);
      current = SseEvent{};
    } else if (line.rfind("id: ", 0) == 0) {
      current.id = std::stoll(line.substr(4));
    } else if (line.rfind("event: ", 0) == 0) {
      current.event = line.substr(7);
    } else if (line.rfind("data: ", 0) == 0) {
      current.data = line.substr(6);
    }
  }
  return events;
}

TEST(JobsApi, EventStreamFollowsAJobToItsEndAndResumes) {
  QuarryServer server(kTestKinds);
  ASSERT_TRUE(server.started());
  const std::string key = server.demo_key();
  auto submitted = Json(server.Request("POST", "/v1/jobs", key, R"({"kind":"sleep","payload":{"ms":400,"steps":4}})"));
  const std::string id = Str(submitted.at("id"));
  // The stream ends by itself after the final state, so the whole body arrives.
  auto stream = server.Request("GET", "/v1/jobs/" + id + "/events", key);
  ASSERT_EQ(stream.status, 200);
  EXPECT_EQ(stream.headers["content-type"], "text/event-stream");
  auto events = ParseSse(stream.body);
  ASSERT_GE(events.size(), 3u) << stream.body;
  for (std::size_t i = 1; i < events.size(); ++i) EXPECT_GT(events[i].id, events[i - 1].id) << stream.body;
  EXPECT_EQ(events.front().event, "state");
  EXPECT_NE(events.front().data.find(R"("state":"queued")"), std::string::npos);
  EXPECT_EQ(events.back().event, "state");
  EXPECT_NE(events.back().data.find(R"("state":"succeeded")"), std::string::npos) << stream.body;
  // Progress events arrive in order, ending with the last step.
  long long last_done = -1;
  for (const auto& e : events) {
    if (e.event != "progress") continue;
    long long done = boost::json::parse(e.data).at("done").as_int64();
    EXPECT_GE(done, last_done);
    last_done = done;
  }
  EXPECT_EQ(last_done, 4);

  // Reconnecting after the second event resumes with the third, nothing missed.
  auto resumed = server.Request("GET", "/v1/jobs/" + id + "/events", key, "",
                                {"Last-Event-ID: " + std::to_string(events[1].id)});
  auto rest = ParseSse(resumed.body);
  ASSERT_EQ(rest.size(), events.size() - 2);
  EXPECT_EQ(rest.front().id, events[2].id);

  // Another tenant's job: 404 before any stream starts.
  auto acme = Json(server.Request("POST", "/v1/admin/tenants", server.operator_key(),
                                  R"({"slug":"acme","name":"Acme","owner_email":"o@acme.io"})"));
  EXPECT_EQ(server.Request("GET", "/v1/jobs/" + id + "/events", Str(acme.at("owner_key").at("secret"))).status, 404);
}

TEST(JobsCli, FollowDrawsProgressUntilTheJobEnds) {
  QuarryServer server(kTestKinds);
  ASSERT_TRUE(server.started());
  const std::string key_file = server.data_dir() + "/secrets/demo.key";
  auto ok = Json(server.Request("POST", "/v1/jobs", server.demo_key(), R"({"kind":"sleep","payload":{"ms":400,"steps":4}})"));
  auto follow = RunCommand({QUARRY_BINARY, "job", Str(ok.at("id")), "--follow", "--interval-ms", "50",
                            "--data-dir", server.data_dir(), "--key-file", key_file});
  EXPECT_EQ(follow.exit_code, 0) << follow.err;
  EXPECT_NE(follow.out.find("100% succeeded"), std::string::npos) << follow.out;

  auto bad = Json(server.Request("POST", "/v1/jobs", server.demo_key(), R"({"kind":"sleep","payload":{"fail":"permanent"}})"));
  auto failed = RunCommand({QUARRY_BINARY, "job", Str(bad.at("id")), "--follow", "--interval-ms", "50",
                            "--data-dir", server.data_dir(), "--key-file", key_file});
  EXPECT_EQ(failed.exit_code, 1);
  EXPECT_NE(failed.err.find("error: sleep_failed"), std::string::npos) << failed.err;  // errors go to stderr

  auto list = RunCommand({QUARRY_BINARY, "jobs", "--data-dir", server.data_dir(), "--key-file", key_file});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find(Str(ok.at("id"))), std::string::npos) << list.out;

  auto no_key = RunCommand({QUARRY_BINARY, "jobs", "--data-dir", server.data_dir()});
  EXPECT_EQ(no_key.exit_code, 2);
  EXPECT_NE(no_key.err.find("QUARRY_API_KEY"), std::string::npos);
}

TEST(JobsApi, JobOfAKilledServerIsRescuedAfterRestartAndRunsOnce) {
  std::string dir;
  std::string id;
  std::string key;
  {
    QuarryServer server(kTestKinds);
    ASSERT_TRUE(server.started());
    dir = server.data_dir();
    key = server.demo_key();
    auto submitted = server.Request("POST", "/v1/jobs", key, R"({"kind":"sleep","payload":{"ms":60000,"steps":600}})");
    id = Str(Json(submitted).at("id"));
    ASSERT_TRUE(InState(WaitForJob(server, key, id, [](const auto& j) { return InState(j, "running"); }), "running"));
    server.Stop(SIGKILL);  // no graceful anything: the lease is left behind
    // Keep the data dir: the harness only removes dirs it created when the object goes away,
    // so copy it aside first.
    RunCommand({"/bin/cp", "-a", dir, dir + "-kept"});
  }
  const std::string kept = dir + "-kept";
  QuarryServer restarted({"--set", "jobs.allow_test_kinds=true", "--set", "jobs.heartbeat=50ms"}, kept);
  ASSERT_TRUE(restarted.started());
  // The restarted server expires its previous run's lease at once and runs the job again; cancel
  // that second attempt to keep the test short, after checking it is a new attempt.
  auto job = WaitForJob(restarted, key, id, [](const auto& j) { return InState(j, "running") && j.at("attempt").as_int64() == 2; });
  ASSERT_TRUE(InState(job, "running")) << boost::json::serialize(job);
  EXPECT_EQ(job.at("attempt").as_int64(), 2);
  EXPECT_TRUE(restarted.WaitForOutput([](const std::string& l) { return l.find("previous run of this server") != std::string::npos; }));
  ASSERT_EQ(restarted.Request("POST", "/v1/jobs/" + id + "/cancel", key).status, 200);
  EXPECT_TRUE(InState(WaitForJob(restarted, key, id, [](const auto& j) { return InState(j, "canceled"); }), "canceled"));
  restarted.Stop();
  RemoveTree(kept);
}

}  // namespace
}  // namespace quarry::testing
