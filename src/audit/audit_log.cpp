#include "audit/audit_log.h"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "auth/permissions.h"
#include "common/ids.h"

namespace quarry::audit {

AuditLog::AuditLog(AuditStore& store, const Clock& clock, AuditOptions options)
    : store_(store), clock_(clock), options_(options) {}

AuditLog::~AuditLog() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (writer_.joinable()) writer_.join();
  if (Status st = Flush(); !st.ok()) spdlog::error("audit events could not be written at shutdown: {}", st.ToString());
}

void AuditLog::Start() {
  if (!writer_.joinable()) writer_ = std::thread([this] { Loop(); });
}

void AuditLog::Record(const std::string& tenant_id, const Principal* actor, std::string kind, std::string target,
                      std::string outcome, boost::json::object details) {
  AuditEvent e;
  e.tenant_id = tenant_id;
  e.at = clock_.NowMillis();
  if (actor) {
    e.user_id = actor->is_operator ? "operator" : actor->user.id;
    e.key_id = actor->key_id;
  }
  e.kind = std::move(kind);
  e.target = std::move(target);
  e.outcome = std::move(outcome);
  e.details_json = boost::json::serialize(details);
  bool full = false;
  {
    std::lock_guard lock(mu_);
    buffer_.push_back(std::move(e));
    full = buffer_.size() >= options_.max_buffer;
    if (buffer_.size() > 2 * options_.max_buffer) {
      buffer_.erase(buffer_.begin());
      ++dropped_;
    }
  }
  if (full && !store_failing_) (void)Flush();  // back-pressure: the recording caller writes
}

Status AuditLog::Write(std::vector<AuditEvent> batch) {
  // The caller holds write_mu_.
  if (batch.empty()) return Status::Ok();
  Status st = store_.Append(batch);
  store_failing_ = !st.ok();
  if (st.ok()) return st;
  std::lock_guard lock(mu_);
  batch.insert(batch.end(), std::make_move_iterator(buffer_.begin()), std::make_move_iterator(buffer_.end()));
  buffer_ = std::move(batch);
  if (buffer_.size() > 2 * options_.max_buffer) {
    const std::size_t excess = buffer_.size() - 2 * options_.max_buffer;
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(excess));
    dropped_ += excess;
    spdlog::error("the audit log dropped {} event(s): the store keeps failing ({})", excess, st.ToString());
  }
  return st;
}

Status AuditLog::Flush() {
  // One writer at a time, and the buffer taken under it: when Flush returns, every event
  // recorded before it was called is written (a batch another writer had taken is finished
  // first), in recording order.
  std::lock_guard write_lock(write_mu_);
  std::vector<AuditEvent> batch;
  {
    std::lock_guard lock(mu_);
    batch.swap(buffer_);
  }
  return Write(std::move(batch));
}

void AuditLog::Loop() {
  UnixMillis last_prune = 0;
  std::unique_lock lock(mu_);
  while (!stopping_) {
    wake_.wait_for(lock, options_.flush_interval, [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    if (Status st = Flush(); !st.ok()) spdlog::warn("writing audit events failed (retried): {}", st.ToString());
    const UnixMillis now = clock_.NowMillis();
    if (now - last_prune > 3'600'000) {  // retention: hourly, bounded per round
      last_prune = now;
      auto pruned = store_.Prune(now - options_.retention.count(), 100'000);
      if (pruned.ok() && *pruned > 0) spdlog::info("audit retention removed {} event(s)", *pruned);
    }
    lock.lock();
  }
}

Result<std::vector<AuditEvent>> AuditLog::List(const Principal& actor, AuditFilter filter) {
  if (actor.is_operator) {
    return PermissionDenied("tenant_member_required",
                            "the audit log belongs to tenants; use a key of a tenant's owner or admin");
  }
  QUARRY_RETURN_IF_ERROR(RequireTenantAdmin(actor));
  (void)Flush();  // what happened up to now is readable now
  return store_.List(actor.tenant.id, filter);
}

std::string AuditLog::StatementField(const std::string& sql, bool text) { return text ? sql : Sha256Hex(sql); }

}  // namespace quarry::audit
