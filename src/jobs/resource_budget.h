// ResourceBudget: admits jobs to a worker pool by the memory their kind declares
// (KindPolicy::memory_bytes) against the pool's budget, so that a pool never runs more at once
// than fits (two 6 GB ingestions on an 8 GB machine wait for each other; small jobs keep running).
//
// Protocol, per claim: ReserveForClaim() holds the largest need among the kinds that still fit
// and returns those kinds (the claim asks only for them); once the claim returns, Settle() keeps
// just the claimed kind's need (or nothing when no job came back); Release() returns it when the
// attempt ends. Holding the largest need before the store picks a job means concurrent claims of
// one pool can never overcommit the budget, at the price of briefly holding too much.
//
// A budget of 0 admits everything without locking (the kinds list is returned as is).
// The budget is per pool (per process): it bounds what one machine's workers run.
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"

namespace quarry::jobs {

class ResourceBudget {
 public:
  // `needs`: bytes per kind (absent or 0: needs nothing); `kinds`: every kind the pool runs.
  ResourceBudget(std::int64_t budget_bytes, std::map<std::string, std::int64_t> needs,
                 std::vector<std::string> kinds);

  // InvalidArgument naming each kind that needs more than the whole budget (it could never run).
  Status Validate() const;

  struct Hold {
    std::vector<std::string> kinds;  // what the claim may ask for; empty: nothing fits now
    std::int64_t bytes = 0;          // held until Settle
  };
  Hold ReserveForClaim();
  // Ends `hold`: keeps the need of `claimed_kind` (nullptr: nothing was claimed).
  void Settle(const Hold& hold, const std::string* claimed_kind);
  // Returns the need of a finished attempt of `kind`.
  void Release(const std::string& kind);

  std::int64_t reserved() const;
  std::int64_t budget() const { return budget_; }

 private:
  std::int64_t NeedOf(const std::string& kind) const;

  const std::int64_t budget_;
  const std::map<std::string, std::int64_t> needs_;
  const std::vector<std::string> kinds_;
  mutable std::mutex mu_;
  std::int64_t reserved_ = 0;  // GUARDED_BY(mu_)
};

}  // namespace quarry::jobs
