#include "jobs/job_service.h"

#include "quota/quota.h"

#include <algorithm>

#include "auth/permissions.h"
#include "common/ids.h"

namespace quarry::jobs {
namespace {

Status JobNotFound() { return NotFound("job_not_found", "No such job in this tenant"); }

Status InvalidSubmission(const std::string& field, const std::string& message) {
  return InvalidArgument("invalid_" + field, message).WithDetail("field", field);
}

}  // namespace

Status JobService::RequireMember(const Principal& actor) const {
  if (actor.is_operator) {
    return PermissionDenied("tenant_member_only",
                            "Jobs belong to tenants; use a tenant member's key");
  }
  return Status::Ok();
}

Result<JobService::JobUsage> JobService::Usage(const Principal& actor) {
  QUARRY_RETURN_IF_ERROR(RequireMember(actor));
  QUARRY_ASSIGN_OR_RETURN(auto counts, store_.TenantJobCounts(actor.tenant.id));
  return JobUsage{counts.first, counts.second, quota::Value(actor.tenant, "queued_jobs", options_.max_queued_per_tenant),
                  quota::Value(actor.tenant, "running_jobs", options_.max_running_per_tenant)};
}

Status JobService::SetTenantWeight(const Principal& actor, const std::string& tenant_id, int weight) {
  QUARRY_RETURN_IF_ERROR(RequireOperator(actor));
  if (weight < 1 || weight > kMaxTenantWeight) {
    return InvalidArgument("invalid_weight", "job_weight must be between 1 and " + std::to_string(kMaxTenantWeight));
  }
  return store_.SetTenantWeight(tenant_id, weight);
}

Status JobService::ApplyTenantQuotas(const Principal& actor, const Tenant& tenant) {
  QUARRY_RETURN_IF_ERROR(RequireOperator(actor));
  const std::int64_t cap = quota::Value(tenant, "running_jobs", -1);  // -1: no override
  return store_.SetTenantRunningCap(tenant.id, cap > 0 ? std::optional<int>(static_cast<int>(cap)) : std::nullopt);
}

Result<int> JobService::TenantWeight(const Principal& actor, const std::string& tenant_id) {
  QUARRY_RETURN_IF_ERROR(RequireOperator(actor));
  return store_.TenantWeight(tenant_id);
}

bool JobService::SeesWholeTenant(const Principal& actor) const {
  return (actor.user.role == Role::kOwner || actor.user.role == Role::kAdmin) && actor.HasScope(kScopeAdmin);
}

Result<EnqueueResult> JobService::Submit(const Principal& actor, const Submission& submission) {
  const KindPolicy* policy = registry_.Policy(submission.kind);
  if (!policy || !policy->user_submittable) {
    return InvalidSubmission("kind", "'" + submission.kind.substr(0, 64) +
                                         "' is not a job kind that can be submitted directly");
  }
  return Enqueue(actor, submission);
}

Result<EnqueueResult> JobService::Enqueue(const Principal& actor, const Submission& submission) {
  QUARRY_RETURN_IF_ERROR(RequireMember(actor));
  QUARRY_RETURN_IF_ERROR(RequireScope(actor, kScopeWrite));
  const KindPolicy* policy = registry_.Policy(submission.kind);
  if (!policy) return InvalidSubmission("kind", "unknown job kind '" + submission.kind.substr(0, 64) + "'");
  if (submission.payload_json.size() > options_.max_payload_bytes) {
    return InvalidSubmission("payload", "the payload exceeds " + std::to_string(options_.max_payload_bytes) + " bytes");
  }
  if (submission.priority < -100 || submission.priority > 100) {
    return InvalidSubmission("priority", "priority must be between -100 and 100");
  }
  const std::string& key = submission.idempotency_key;
  if (key.size() > 200 || std::any_of(key.begin(), key.end(), [](char c) { return c < 0x21 || c > 0x7e; })) {
    return InvalidSubmission("idempotency_key", "an idempotency key is 1 to 200 printable ASCII characters");
  }
  NewJob job;
  job.tenant_id = actor.tenant.id;
  job.user_id = actor.user.id;
  job.kind = submission.kind;
  job.payload_json = submission.payload_json;
  job.priority = submission.priority;
  job.max_attempts = policy->max_attempts;
  const UnixMillis now = clock_.NowMillis();
  job.run_after = now;
  job.idempotency_key = key;
  auto result = store_.Enqueue(job, quota::Value(actor.tenant, "queued_jobs", options_.max_queued_per_tenant),
                               options_.idempotency_window, now);
  if (result.ok() && !result->existing && notify_) notify_();
  return result;
}

Result<Page<Job>> JobService::List(const Principal& actor, JobFilter filter, const PageRequest& page) {
  QUARRY_RETURN_IF_ERROR(RequireMember(actor));
  if (page.limit < 1 || page.limit > 1000) return InvalidArgument("invalid_limit", "limit must be between 1 and 1000");
  if (!SeesWholeTenant(actor)) {
    if (!filter.user_id.empty() && filter.user_id != actor.user.id) {
      return PermissionDenied("role_too_low", "Only owners and admins may list other users' jobs");
    }
    filter.user_id = actor.user.id;
  }
  QUARRY_ASSIGN_OR_RETURN(Page<Job> jobs, store_.List(actor.tenant.id, filter, page));
  for (Job& job : jobs.items) ShowPublicPayload(job);
  return jobs;
}

void JobService::ShowPublicPayload(Job& job) const {
  if (const JobHandler* handler = registry_.Handler(job.kind)) job.payload_json = handler->PublicPayload(job.payload_json);
}

Result<Job> JobService::Visible(const Principal& actor, const std::string& job_id) {
  QUARRY_RETURN_IF_ERROR(RequireMember(actor));
  if (!LooksLikeId(job_id, "job")) return JobNotFound();
  auto job = store_.Get(actor.tenant.id, job_id);
  if (!job.ok()) return job.status().category() == ErrorCode::kNotFound ? JobNotFound() : job.status();
  if (!SeesWholeTenant(actor) && job->user_id != actor.user.id) return JobNotFound();
  return job;
}

Result<JobView> JobService::Get(const Principal& actor, const std::string& job_id) {
  QUARRY_ASSIGN_OR_RETURN(Job job, Visible(actor, job_id));
  return View(std::move(job));
}

Result<JobView> JobService::Cancel(const Principal& actor, const std::string& job_id) {
  QUARRY_ASSIGN_OR_RETURN(Job before, Visible(actor, job_id));
  QUARRY_RETURN_IF_ERROR(RequireScope(actor, kScopeWrite));
  QUARRY_ASSIGN_OR_RETURN(Job job, store_.RequestCancel(actor.tenant.id, job_id, clock_.NowMillis()));
  // Canceled before it ever ran (or between attempts): no handler will clean up after it.
  if (before.state == JobState::kQueued && job.state == JobState::kCanceled) {
    if (JobHandler* handler = registry_.Handler(job.kind)) handler->Discard(job);
  }
  return View(std::move(job));
}

Result<std::vector<JobEvent>> JobService::Events(const Principal& actor, const std::string& job_id,
                                                 std::int64_t after_seq, int limit) {
  // Polled every 200 ms per open event stream: a visibility check, not a full view.
  QUARRY_RETURN_IF_ERROR(Visible(actor, job_id).status());
  return store_.ListEvents(actor.tenant.id, job_id, after_seq, limit);
}

Result<JobView> JobService::View(Job job) {
  ShowPublicPayload(job);
  JobView view;
  view.progress = ProgressFromJson(job.progress_json);
  if (job.state == JobState::kQueued) {
    QUARRY_ASSIGN_OR_RETURN(std::int64_t position, store_.QueuePosition(job));
    view.queue_position = position;
    const UnixMillis now = clock_.NowMillis();
    if (metrics_ && metrics_->claims.load() > 0) {
      const double average_ms = static_cast<double>(metrics_->run_micros.load()) / 1000.0 /
                                static_cast<double>(metrics_->claims.load());
      const double wait_ms = static_cast<double>(position) * average_ms / std::max(1, options_.workers);
      view.estimated_start_at = std::max(now, job.run_after) + static_cast<UnixMillis>(wait_ms);
    } else if (job.run_after > now) {
      view.estimated_start_at = job.run_after;
    }
  }
  view.job = std::move(job);
  return view;
}

}  // namespace quarry::jobs
