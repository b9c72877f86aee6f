// AuditLog: the record of security-relevant events of each tenant (docs/security.md, "Audit
// log"): who did what, to what, with which outcome; every query (datasets read, rows returned,
// duration, the SQL text or its SHA-256); every denial with its reason. Owners and admins read
// their tenant's (GET /v1/audit).
//
// Contract:
//   - Append-only: events are never edited; retention removes the oldest (AuditOptions::retention).
//   - Record never blocks on the store: events go to a bounded buffer that one background thread
//     writes in batches (one transaction each) every flush_interval. A full buffer is written by
//     the caller itself (back-pressure, never a dropped event). A crash loses at most the events
//     of the last interval; a clean stop writes everything (the destructor flushes).
//   - A failed write is retried with the next batch; while the store fails, recorders do not
//     write themselves (no request waits on a failing store) and the buffer stays bounded by
//     dropping the oldest unwritten events past twice max_buffer (counted in dropped(), logged).
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <boost/json/object.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "auth/principal.h"
#include "common/clock.h"
#include "meta/audit_store.h"

namespace quarry::audit {

struct AuditOptions {
  std::chrono::milliseconds flush_interval{100};
  std::size_t max_buffer = 10'000;
  std::chrono::milliseconds retention{365LL * 24 * 3'600'000};
  bool query_text = false;  // record queries' SQL text (true) or only its SHA-256 (false)
};

class AuditLog {
 public:
  AuditLog(AuditStore& store, const Clock& clock, AuditOptions options);
  ~AuditLog();  // stops the writer and writes what is buffered
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Starts the background writer (without it, events are written when the buffer fills or on
  // Flush: tests).
  void Start();
  // An event of `tenant_id` caused by `actor` (the operator, a member, or nobody for the system).
  void Record(const std::string& tenant_id, const Principal* actor, std::string kind, std::string target,
              std::string outcome, boost::json::object details);
  // Writes everything buffered now.
  Status Flush();

  // The caller's tenant's events (owners and admins with the admin scope), oldest first.
  Result<std::vector<AuditEvent>> List(const Principal& actor, AuditFilter filter);

  // What a query event records of its statement: the text, or its SHA-256.
  static std::string StatementField(const std::string& sql, bool text);
  // The server's default for recording SQL text (AuditOptions); tenants may choose otherwise
  // (their setting 'audit_query_text').
  bool query_text() const { return options_.query_text; }
  std::uint64_t dropped() const { return dropped_.load(); }

 private:
  void Loop();
  // Writes `batch` (the caller holds write_mu_); on failure puts it back at the front (bounded).
  Status Write(std::vector<AuditEvent> batch);

  AuditStore& store_;
  const Clock& clock_;
  const AuditOptions options_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::vector<AuditEvent> buffer_;
  bool stopping_ = false;
  std::mutex write_mu_;  // one writer at a time keeps ids in recording order; taken before mu_
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<bool> store_failing_{false};  // the last write failed: recorders do not write themselves
  std::thread writer_;
};

}  // namespace quarry::audit
