// A job's progress as users see it. Stored as JSON text in the job record.
#pragma once

#include <cstdint>
#include <string>

namespace quarry::jobs {

struct JobProgress {
  double percent = -1;  // 0..100, or -1 when unknown
  std::string phase;    // e.g. "queued", "reading", "writing", "publishing"
  std::int64_t done = 0;
  std::int64_t total = 0;  // 0 when unknown
  std::string unit;        // "bytes", "rows", "steps", ...
  std::string message;     // short, human

  bool operator==(const JobProgress&) const = default;
};

std::string ProgressToJson(const JobProgress& progress);
// Unknown or malformed input yields a default JobProgress (progress is informational).
JobProgress ProgressFromJson(const std::string& json);

}  // namespace quarry::jobs
