#include "meta/job_records.h"

namespace quarry {

std::string_view ToString(JobState s) {
  switch (s) {
    case JobState::kQueued: return "queued";
    case JobState::kRunning: return "running";
    case JobState::kSucceeded: return "succeeded";
    case JobState::kFailed: return "failed";
    case JobState::kCanceled: return "canceled";
  }
  return "queued";
}

std::optional<JobState> ParseJobState(std::string_view s) {
  for (JobState state : {JobState::kQueued, JobState::kRunning, JobState::kSucceeded,
                         JobState::kFailed, JobState::kCanceled}) {
    if (ToString(state) == s) return state;
  }
  return std::nullopt;
}

bool IsLegalTransition(JobState from, JobState to) {
  switch (from) {
    case JobState::kQueued:
      return to == JobState::kRunning || to == JobState::kCanceled;
    case JobState::kRunning:
      return to == JobState::kSucceeded || to == JobState::kFailed || to == JobState::kCanceled ||
             to == JobState::kQueued;
    case JobState::kSucceeded:
    case JobState::kFailed:
    case JobState::kCanceled:
      return false;
  }
  return false;
}

}  // namespace quarry
