// Job records as the job store keeps them. Payload, progress, result and error details are JSON
// texts produced and read by the jobs layer (src/jobs/); the store never interprets them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"

namespace quarry {

enum class JobState { kQueued, kRunning, kSucceeded, kFailed, kCanceled };

std::string_view ToString(JobState s);
std::optional<JobState> ParseJobState(std::string_view s);
inline bool IsTerminal(JobState s) {
  return s == JobState::kSucceeded || s == JobState::kFailed || s == JobState::kCanceled;
}
// The state machine (docs/jobs.md):
//   queued  -> running (claim), canceled (cancel while queued)
//   running -> succeeded, failed, canceled (the attempt ends), queued (retry or rescue)
//   succeeded, failed, canceled: final, never change again.
bool IsLegalTransition(JobState from, JobState to);

struct Job {
  std::string id;  // "job_..."
  std::string tenant_id;
  std::string user_id;
  std::string kind;
  std::string payload_json = "{}";
  JobState state = JobState::kQueued;
  int priority = 0;  // higher runs first, within a tenant
  int attempt = 0;   // attempts started so far
  int max_attempts = 1;
  UnixMillis run_after = 0;
  std::string lease_owner;  // empty unless running
  std::optional<UnixMillis> lease_expires_at;
  std::int64_t fencing_token = 0;  // the token of the current (or last) attempt
  std::string progress_json = "{}";
  std::string result_json;  // set when succeeded
  std::string error_code;   // set when failed (and kept from the last failed attempt on retry)
  std::string error_message;
  std::string error_details_json;
  bool cancel_requested = false;
  std::string idempotency_key;  // empty when none
  UnixMillis created_at = 0;
  std::optional<UnixMillis> started_at;   // first attempt's start
  std::optional<UnixMillis> finished_at;  // when it reached a final state
};

}  // namespace quarry
