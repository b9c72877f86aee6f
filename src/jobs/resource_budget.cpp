#include "jobs/resource_budget.h"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

namespace quarry::jobs {

ResourceBudget::ResourceBudget(std::int64_t budget_bytes, std::map<std::string, std::int64_t> needs,
                               std::vector<std::string> kinds)
    : budget_(std::max<std::int64_t>(0, budget_bytes)), needs_(std::move(needs)), kinds_(std::move(kinds)) {}

std::int64_t ResourceBudget::NeedOf(const std::string& kind) const {
  auto it = needs_.find(kind);
  return it == needs_.end() ? 0 : std::max<std::int64_t>(0, it->second);
}

Status ResourceBudget::Validate() const {
  if (budget_ == 0) return Status::Ok();
  std::string too_big;
  for (const auto& kind : kinds_) {
    if (NeedOf(kind) > budget_) {
      if (!too_big.empty()) too_big += ", ";
      too_big += fmt::format("'{}' needs {} bytes", kind, NeedOf(kind));
    }
  }
  if (too_big.empty()) return Status::Ok();
  return InvalidArgument("job_memory_budget_too_small",
                         fmt::format("jobs.memory_budget ({} bytes) is smaller than what some job kinds need "
                                     "({}); their jobs could never run. Raise jobs.memory_budget.",
                                     budget_, too_big));
}

ResourceBudget::Hold ResourceBudget::ReserveForClaim() {
  if (budget_ == 0) return Hold{kinds_, 0};
  Hold hold;
  std::lock_guard lock(mu_);
  const std::int64_t available = budget_ - reserved_;
  for (const auto& kind : kinds_) {
    const std::int64_t need = NeedOf(kind);
    if (need > available) continue;
    hold.kinds.push_back(kind);
    hold.bytes = std::max(hold.bytes, need);
  }
  reserved_ += hold.bytes;
  return hold;
}

void ResourceBudget::Settle(const Hold& hold, const std::string* claimed_kind) {
  if (budget_ == 0) return;
  std::lock_guard lock(mu_);
  reserved_ -= hold.bytes;
  if (claimed_kind != nullptr) reserved_ += NeedOf(*claimed_kind);
}

void ResourceBudget::Release(const std::string& kind) {
  if (budget_ == 0) return;
  std::lock_guard lock(mu_);
  reserved_ -= NeedOf(kind);
}

std::int64_t ResourceBudget::reserved() const {
  std::lock_guard lock(mu_);
  return reserved_;
}

}  // namespace quarry::jobs
