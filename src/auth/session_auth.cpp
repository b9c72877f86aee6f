// Authenticator's half for web sign-in sessions (see authenticator.h): the cache of verified
// session cookies, dropped with the key cache when the identity epoch moves.
#include <spdlog/spdlog.h>

#include <vector>

#include "auth/authenticator.h"
#include "auth/permissions.h"
#include "auth/session_token.h"
#include "common/ids.h"

namespace quarry {
namespace {

Status InvalidSession() {
  return Unauthenticated("invalid_session",
                         "The session is missing, unknown, signed out or expired; sign in again with "
                         "POST /v1/sessions");
}

}  // namespace

void Authenticator::EnableSessions(SessionStore& sessions, SessionAuthOptions options) {
  sessions_store_ = &sessions;
  session_options_ = options;
}

Result<std::shared_ptr<const Principal>> Authenticator::AuthenticateSession(std::string_view token) {
  if (!sessions_store_ || !LooksLikeSessionToken(token)) return InvalidSession();
  const std::string hash = Sha256Hex(token);
  std::shared_ptr<SessionEntry> entry;
  {
    std::shared_lock lock(cache_mu_);
    auto it = sessions_.find(hash);
    if (it != sessions_.end()) {
      entry = it->second;
    } else if (auto miss = session_misses_.find(hash);
               miss != session_misses_.end() && miss->second > clock_.SteadyNow()) {
      return InvalidSession();
    }
  }
  if (!entry) {
    auto loaded = LoadSession(hash);
    if (!loaded.ok()) {
      if (loaded.status().code() == "invalid_session") {
        // Unknown tokens are remembered for one interval, like unknown key prefixes.
        std::unique_lock lock(cache_mu_);
        if (session_misses_.size() >= options_.max_entries) session_misses_.clear();
        session_misses_[hash] = clock_.SteadyNow() + options_.refresh_interval;
      }
      return loaded.status();
    }
    entry = std::move(loaded).value();
  }
  const UnixMillis now = clock_.NowMillis();
  if (entry->last_seen.load(std::memory_order_relaxed) + session_options_.idle_timeout.count() <= now) {
    // Idle as far as this process knows: another process sharing the store may have served it
    // since (its last-seen times reach the store in batches), so ask the store before refusing.
    auto stored = sessions_store_->FindSessionByTokenHash(hash);
    if (stored.ok() && stored->last_seen_at > entry->last_seen.load(std::memory_order_relaxed)) {
      entry->last_seen.store(stored->last_seen_at, std::memory_order_relaxed);
    }
  }
  QUARRY_RETURN_IF_ERROR(CheckSession(*entry));
  entry->last_seen.store(now, std::memory_order_relaxed);
  if (now - entry->written_seen.load(std::memory_order_relaxed) >= session_options_.seen_write_interval.count()) {
    entry->seen_dirty.store(true, std::memory_order_relaxed);
  }
  const Principal* principal = &entry->principal;
  return std::shared_ptr<const Principal>(std::move(entry), principal);
}

Status Authenticator::CheckSession(SessionEntry& entry) {
  const UnixMillis now = clock_.NowMillis();
  const UnixMillis idle_end = entry.last_seen.load(std::memory_order_relaxed) + session_options_.idle_timeout.count();
  if (entry.session.revoked_at || entry.session.expires_at <= now || idle_end <= now) return InvalidSession();
  return RequireActive(entry.principal.tenant, entry.principal.user);
}

Result<std::shared_ptr<Authenticator::SessionEntry>> Authenticator::LoadSession(const std::string& token_hash) {
  // Read the epochs before the rows: if one moves while we load, the next Refresh drops the entry.
  auto epoch = store_.IdentityEpoch();
  if (!epoch.ok()) return epoch.status();
  auto session_epoch = sessions_store_->SessionEpoch();
  if (!session_epoch.ok()) return session_epoch.status();
  auto session = sessions_store_->FindSessionByTokenHash(token_hash);
  if (!session.ok()) return session.status().category() == ErrorCode::kNotFound ? InvalidSession() : session.status();
  auto entry = std::make_shared<SessionEntry>();
  entry->session = std::move(session).value();
  auto tenant = store_.GetTenant(entry->session.tenant_id);
  if (!tenant.ok()) return tenant.status().category() == ErrorCode::kNotFound ? InvalidSession() : tenant.status();
  auto user = store_.GetUser(entry->session.tenant_id, entry->session.user_id);
  if (!user.ok()) return user.status().category() == ErrorCode::kNotFound ? InvalidSession() : user.status();
  Principal& p = entry->principal;
  p.tenant = std::move(tenant).value();
  p.user = std::move(user).value();
  p.key_id = entry->session.id;
  p.scopes = MaxScopesForRole(p.user.role);  // the current role's: a role change moves the epoch
  entry->last_seen.store(entry->session.last_seen_at);
  entry->written_seen.store(entry->session.last_seen_at);

  std::unique_lock lock(cache_mu_);
  // Loaded with an older epoch: use once, do not cache.
  if (!AdoptEpoch(*epoch) || !AdoptSessionEpoch(*session_epoch)) return entry;
  if (sessions_.size() >= options_.max_entries) sessions_.clear();
  sessions_[token_hash] = entry;
  return entry;
}

bool Authenticator::AdoptSessionEpoch(std::int64_t epoch) {
  if (session_epoch_.load() == epoch) return true;
  if (session_epoch_.load() > epoch) return false;
  sessions_.clear();
  session_misses_.clear();
  session_epoch_.store(epoch);
  return true;
}

void Authenticator::RefreshSessions() {
  if (!sessions_store_) return;
  auto epoch = sessions_store_->SessionEpoch();
  if (!epoch.ok()) {
    // Fail closed: without the epoch a revocation elsewhere could go unseen.
    spdlog::warn("session epoch unavailable ({}); dropping the session cache", epoch.status().ToString());
    ForgetSessions();
    session_epoch_.store(-1);
    return;
  }
  if (*epoch == session_epoch_.load()) return;
  FlushSessionUse();
  std::unique_lock lock(cache_mu_);
  sessions_.clear();
  session_misses_.clear();
  session_epoch_.store(*epoch);
}

void Authenticator::ForgetSessions() {
  FlushSessionUse();
  std::unique_lock lock(cache_mu_);
  sessions_.clear();
  session_misses_.clear();
}

void Authenticator::FlushSessionUse() {
  if (!sessions_store_) return;
  std::vector<std::pair<std::string, UnixMillis>> uses;
  {
    std::shared_lock lock(cache_mu_);
    for (auto& [hash, entry] : sessions_) {
      if (entry->seen_dirty.exchange(false, std::memory_order_relaxed)) {
        const UnixMillis seen = entry->last_seen.load(std::memory_order_relaxed);
        entry->written_seen.store(seen, std::memory_order_relaxed);
        uses.emplace_back(entry->session.id, seen);
      }
    }
  }
  if (uses.empty()) return;
  Status st = sessions_store_->RecordSessionUse(uses);
  if (!st.ok()) spdlog::warn("could not record session use: {}", st.ToString());
}

}  // namespace quarry
