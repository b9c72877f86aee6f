// AuditStore: the append-only record of security-relevant events of each tenant (docs/security.md,
// "Audit log"). Events are only ever appended, read by tenant, and removed by retention (oldest
// first); nothing edits one. Implementations: SQLite now, PostgreSQL in the scale-out mode.
// Tenant reads take the tenant id and never return another tenant's events.
// Thread-safety: every method is atomic and safe to call concurrently.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "meta/records.h"

namespace quarry {

struct AuditEvent {
  std::int64_t id = 0;     // assigned by the store, increasing
  std::string tenant_id;   // the tenant the event belongs to
  UnixMillis at = 0;
  std::string user_id;     // who acted ("" for the operator or the system)
  std::string key_id;      // with which key ("" when none)
  std::string kind;        // e.g. "key.create", "query", "denied"
  std::string target;      // what it acted on: a path, a dataset, a user id
  std::string outcome;     // "ok" or "denied"
  std::string details_json = "{}";
};

struct AuditFilter {
  std::string user_id;  // "" = any
  std::string kind;     // "" = any
  std::optional<UnixMillis> since, until;  // [since, until)
  std::int64_t after_id = 0;                // keyset pagination
  int limit = 100;
};

class AuditStore {
 public:
  virtual ~AuditStore() = default;
  // Appends the events in one transaction (ids assigned in order).
  virtual Status Append(const std::vector<AuditEvent>& events) = 0;
  // The tenant's events matching `filter`, oldest first, at most filter.limit (1-1000).
  virtual Result<std::vector<AuditEvent>> List(const std::string& tenant_id, const AuditFilter& filter) = 0;
  // Removes events older than `before`, at most `limit`; returns how many.
  virtual Result<int> Prune(UnixMillis before, int limit) = 0;
};

}  // namespace quarry
