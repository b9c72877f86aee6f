// JobService: the queue as users and other services see it: submit, list, inspect and cancel
// jobs, with tenant isolation and permissions. Workers are separate (WorkerPool).
//
// Permissions (docs/jobs.md): tenant members only (the operator key has no tenant). Everyone
// sees and cancels their own jobs; owners and admins (with the admin scope) see and cancel every
// job of their tenant. Submitting needs the write scope. Other tenants' jobs are NotFound.
// Thread-safety: safe to call concurrently.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "auth/principal.h"
#include "common/clock.h"
#include "jobs/job_handler.h"
#include "jobs/worker_pool.h"
#include "meta/job_store.h"

namespace quarry::jobs {

struct JobServiceOptions {
  int max_queued_per_tenant = 10'000;
  int max_running_per_tenant = 2;  // the workers' default of the quota 'running_jobs
  std::chrono::milliseconds idempotency_window{24 * 3'600'000LL};
  int workers = 2;                       // for start-time estimates
  std::size_t max_payload_bytes = 64 * 1024;
};

struct Submission {
  std::string kind;
  std::string payload_json = "{}";
  int priority = 0;               // -100..100
  std::string idempotency_key;    // optional, 1..200 printable ASCII characters
};

struct JobView {
  Job job;
  JobProgress progress;
  std::optional<std::int64_t> queue_position;      // while queued
  std::optional<UnixMillis> estimated_start_at;    // while queued, when durations are known
};

inline constexpr int kMaxTenantWeight = 1000;

class JobService {
 public:
  // `notify` wakes local workers after an enqueue; `metrics` (optional) feeds start estimates.
  JobService(JobStore& store, const HandlerRegistry& registry, const Clock& clock, JobServiceOptions options,
             std::function<void()> notify = nullptr, const JobMetrics* metrics = nullptr)
      : store_(store), registry_(registry), clock_(clock), options_(options), notify_(std::move(notify)),
        metrics_(metrics) {}

  // A job of a user-submittable kind (POST /v1/jobs).
  Result<EnqueueResult> Submit(const Principal& actor, const Submission& submission);
  // Any registered kind, for services that start jobs on the user's behalf (uploads, exports).
  Result<EnqueueResult> Enqueue(const Principal& actor, const Submission& submission);

  Result<Page<Job>> List(const Principal& actor, JobFilter filter, const PageRequest& page);
  Result<JobView> Get(const Principal& actor, const std::string& job_id);
  Result<JobView> Cancel(const Principal& actor, const std::string& job_id);
  // The user-facing view of a job already read (progress, queue position, estimated start).
  Result<JobView> View(Job job);
  // The job's events after `after_seq` (see JobStore::ListEvents), with the same visibility as Get.
  Result<std::vector<JobEvent>> Events(const Principal& actor, const std::string& job_id, std::int64_t after_seq,
                                       int limit);
  // The caller's tenant's queued and running jobs, and its quotas 'queued_jobs', 'running_jobs'.
  struct JobUsage {
    std::int64_t queued = 0, running = 0, max_queued = 0, max_running = 0;
  };
  Result<JobUsage> Usage(const Principal& actor);
  // The operator sets a tenant's weight in the fair claim (1-1000; see JobStore::SetTenantWeight).
  // The caller has checked that the tenant exists.
  Status SetTenantWeight(const Principal& actor, const std::string& tenant_id, int weight);
  Result<int> TenantWeight(const Principal& actor, const std::string& tenant_id);
  // After the operator changed a tenant's quotas: hands its 'running_jobs' override (or its
  // absence) to the fair claim (JobStore::SetTenantRunningCap).
  Status ApplyTenantQuotas(const Principal& actor, const Tenant& tenant);

 private:
  Status RequireMember(const Principal& actor) const;
  // Replaces the payload with what its kind lets users see.
  void ShowPublicPayload(Job& job) const;
  bool SeesWholeTenant(const Principal& actor) const;
  // The job, if the actor may see it (else job_not_found); no view computed.
  Result<Job> Visible(const Principal& actor, const std::string& job_id);

  JobStore& store_;
  const HandlerRegistry& registry_;
  const Clock& clock_;
  const JobServiceOptions options_;
  const std::function<void()> notify_;
  const JobMetrics* metrics_;
};

}  // namespace quarry::jobs
