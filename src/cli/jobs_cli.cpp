// `quarry jobs` and `quarry job ID [--follow]`: the job queue from a terminal, over the REST API.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <boost/json.hpp>

#include <cmath>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "cli/client_support.h"
#include "cli/commands.h"
#include "client/api_client.h"

namespace quarry::cli {
namespace {

struct JobsArgs {
  std::string state, kind, job_id;
  bool watch = false;
  bool follow = false;
  int interval_ms = 500;
  int limit = 50;
};

int RunJob(const ClientFlags& flags, const JobsArgs& args) {
  std::unique_ptr<client::ApiClient> holder;
  auto api = MakeClient(flags, &holder);
  if (!api.ok()) return Report(api.status());
  if (args.follow) return FollowJob(**api, args.job_id, args.interval_ms);
  auto job = GetJson(**api, "/v1/jobs/" + args.job_id);
  if (!job.ok()) return Report(job.status());
  fmt::print("{}  {}  attempt {}/{}\n{}\n", Text(*job, "id"), Text(*job, "kind"),
             static_cast<int>(Number(*job, "attempt", 0)), static_cast<int>(Number(*job, "max_attempts", 0)),
             ProgressLine(*job));
  if (const auto* error = job->as_object().if_contains("error"); error && error->is_object()) {
    fmt::print("error: {}: {}\n", Text(*error, "code"), Text(*error, "message"));
  }
  return 0;
}

int RunJobs(const ClientFlags& flags, const JobsArgs& args) {
  std::unique_ptr<client::ApiClient> holder;
  auto api = MakeClient(flags, &holder);
  if (!api.ok()) return Report(api.status());
  std::string path = "/v1/jobs?limit=" + std::to_string(args.limit);
  if (!args.state.empty()) path += "&state=" + args.state;
  if (!args.kind.empty()) path += "&kind=" + args.kind;
  while (true) {
    auto page = GetJson(**api, path);
    if (!page.ok()) return Report(page.status());
    std::string out = fmt::format("{:<31} {:<10} {:<24} {}\n", "ID", "KIND", "CREATED", "PROGRESS");
    for (const auto& job : page->at("items").as_array()) {
      out += fmt::format("{:<31} {:<10} {:<24} {}\n", Text(job, "id"), Text(job, "kind").substr(0, 10),
                         Text(job, "created_at"), ProgressLine(job));
    }
    if (args.watch && ::isatty(STDOUT_FILENO) == 1) fmt::print("\033[H\033[2J");
    fmt::print("{}", out);
    std::fflush(stdout);
    if (!args.watch) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(std::max(200, args.interval_ms)));
  }
}

}  // namespace

void AddJobCommands(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<ClientFlags>();
  auto args = std::make_shared<JobsArgs>();

  CLI::App* jobs = app.add_subcommand("jobs", "list your jobs (owners and admins: the tenant's)");
  AddClientFlags(jobs, flags.get());
  jobs->add_option("--state", args->state, "queued, running, succeeded, failed or canceled");
  jobs->add_option("--kind", args->kind, "only this kind");
  jobs->add_option("--limit", args->limit, "how many (1..1000)")->check(CLI::Range(1, 1000));
  jobs->add_flag("--watch", args->watch, "refresh until interrupted");
  jobs->callback([=] { *exit_code = RunJobs(*flags, *args); });

  CLI::App* job = app.add_subcommand("job", "show one job; --follow draws its progress until it ends");
  AddClientFlags(job, flags.get());
  job->add_option("id", args->job_id, "job id (job_...)")->required();
  job->add_flag("--follow", args->follow, "follow until the job ends; exit 0 if it succeeded, 1 otherwise");
  job->add_option("--interval-ms", args->interval_ms, "polling interval")->check(CLI::Range(50, 60'000));
  job->callback([=] { *exit_code = RunJob(*flags, *args); });
}

}  // namespace quarry::cli
