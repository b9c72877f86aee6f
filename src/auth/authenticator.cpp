#include "auth/authenticator.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <vector>

#include "auth/api_key_token.h"
#include "auth/permissions.h"
#include "common/ids.h"

namespace quarry {
namespace {

Status InvalidKey() {
  return Unauthenticated("invalid_api_key",
                         "The API key is missing, malformed, unknown, revoked or expired; send "
                         "'Authorization: Bearer <key>' with a valid key");
}

bool IsBearer(std::string_view header, std::string_view* token) {
  constexpr std::string_view kBearer = "Bearer ";
  if (header.size() <= kBearer.size()) return false;
  for (std::size_t i = 0; i < kBearer.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) !=
        std::tolower(static_cast<unsigned char>(kBearer[i]))) {
      return false;
    }
  }
  *token = header.substr(kBearer.size());
  while (!token->empty() && token->front() == ' ') token->remove_prefix(1);
  while (!token->empty() && token->back() == ' ') token->remove_suffix(1);
  return true;
}

}  // namespace

Authenticator::Authenticator(MetaStore& store, const Clock& clock, AuthenticatorOptions options)
    : store_(store), clock_(clock), options_(options), last_flush_(clock.SteadyNow()) {}

Authenticator::~Authenticator() { Stop(); }

Result<std::shared_ptr<const Principal>> Authenticator::Authenticate(std::string_view authorization) {
  std::string_view token;
  if (!IsBearer(authorization, &token)) return InvalidKey();
  auto prefix = ApiKeyPrefixOf(token);
  if (!prefix) return InvalidKey();

  std::shared_ptr<Entry> entry;
  {
    std::shared_lock lock(cache_mu_);
    auto it = cache_.find(*prefix);
    if (it != cache_.end()) {
      entry = it->second;
    } else if (auto miss = misses_.find(*prefix); miss != misses_.end() && miss->second > clock_.SteadyNow()) {
      return InvalidKey();
    }
  }
  if (!entry) {
    auto loaded = Load(*prefix);
    if (!loaded.ok()) {
      if (loaded.status().code() == "invalid_api_key") RememberMiss(*prefix);
      return loaded.status();
    }
    entry = std::move(loaded).value();
  }
  QUARRY_RETURN_IF_ERROR(Check(*entry, token));
  entry->last_used.store(clock_.NowMillis(), std::memory_order_relaxed);
  entry->use_dirty.store(true, std::memory_order_relaxed);
  const Principal* principal = &entry->principal;
  return std::shared_ptr<const Principal>(std::move(entry), principal);
}

Status Authenticator::Check(Entry& entry, std::string_view token) {
  // Hash first and compare in constant time, whatever the key's state, so that timing does not
  // tell a revoked key from a wrong secret.
  const bool secret_matches = ConstantTimeEquals(Sha256Hex(token), entry.key.secret_hash);
  if (!secret_matches || entry.key.revoked_at) return InvalidKey();
  if (entry.key.expires_at && *entry.key.expires_at <= clock_.NowMillis()) return InvalidKey();
  return RequireActive(entry.principal.tenant, entry.principal.user);
}

// Unknown prefixes are remembered for one refresh interval, so a flood of well-formed fake keys
// costs one store lookup per prefix per interval instead of one per request.
void Authenticator::RememberMiss(const std::string& prefix) {
  std::unique_lock lock(cache_mu_);
  if (misses_.size() >= options_.max_entries) misses_.clear();
  misses_[prefix] = clock_.SteadyNow() + options_.refresh_interval;
}

Result<std::shared_ptr<Authenticator::Entry>> Authenticator::Load(const std::string& prefix) {
  // Read the epoch before the rows: if it moves while we load, the next Refresh drops the entry.
  auto epoch = store_.IdentityEpoch();
  if (!epoch.ok()) return epoch.status();
  auto key = store_.FindApiKeyByPrefix(prefix);
  if (!key.ok()) {
    if (key.status().category() == ErrorCode::kNotFound) return InvalidKey();
    return key.status();
  }
  auto entry = std::make_shared<Entry>();
  entry->key = std::move(key).value();
  Principal& p = entry->principal;
  p.key_id = entry->key.id;
  p.scopes = entry->key.scopes;
  if (entry->key.is_operator()) {
    p.is_operator = true;
  } else {
    auto tenant = store_.GetTenant(entry->key.tenant_id);
    if (!tenant.ok()) return tenant.status().category() == ErrorCode::kNotFound ? InvalidKey() : tenant.status();
    auto user = store_.GetUser(entry->key.tenant_id, entry->key.user_id);
    if (!user.ok()) return user.status().category() == ErrorCode::kNotFound ? InvalidKey() : user.status();
    p.tenant = std::move(tenant).value();
    p.user = std::move(user).value();
    // A key's scopes never exceed what its user's current role allows (a demoted user's old keys
    // lose what the new role lacks; a role change moves the epoch, so this is re-read).
    const std::vector<std::string> allowed = MaxScopesForRole(p.user.role);
    std::erase_if(p.scopes, [&](const std::string& scope) {
      return std::find(allowed.begin(), allowed.end(), scope) == allowed.end();
    });
  }

  std::unique_lock lock(cache_mu_);
  if (!AdoptEpoch(*epoch)) return entry;  // loaded with an older epoch: use once, do not cache
  if (cache_.size() >= options_.max_entries) cache_.clear();
  cache_[prefix] = entry;
  return entry;
}

bool Authenticator::AdoptEpoch(std::int64_t epoch) {
  if (epoch_.load() == epoch) return true;
  if (epoch_.load() > epoch) return false;
  // The cache belongs to an older epoch: start a fresh one rather than mixing.
  ClearLocked();
  epoch_.store(epoch);
  return true;
}

void Authenticator::ClearLocked() {
  cache_.clear();
  misses_.clear();
  sessions_.clear();
  session_misses_.clear();
}

void Authenticator::Refresh() {
  std::lock_guard refresh_lock(refresh_mu_);
  auto now = clock_.SteadyNow();
  if (now - last_flush_ >= options_.key_use_flush_interval) {
    FlushKeyUse();
    last_flush_ = now;
  }
  auto epoch = store_.IdentityEpoch();
  if (!epoch.ok()) {
    // Fail closed: without knowing the epoch we cannot trust the cache.
    spdlog::warn("identity epoch unavailable ({}); dropping the key cache", epoch.status().ToString());
    DropCache();
    return;
  }
  if (*epoch != epoch_.load()) {
    FlushKeyUse();
    std::unique_lock lock(cache_mu_);
    ClearLocked();
    epoch_.store(*epoch);
  }
  RefreshSessions();
  std::unique_lock lock(cache_mu_);
  std::erase_if(misses_, [now](const auto& miss) { return miss.second <= now; });
  std::erase_if(session_misses_, [now](const auto& miss) { return miss.second <= now; });
}

void Authenticator::DropCache() {
  FlushKeyUse();
  std::unique_lock lock(cache_mu_);
  ClearLocked();
  epoch_.store(-1);
}

void Authenticator::FlushKeyUse() {
  std::vector<std::pair<std::string, UnixMillis>> uses;
  {
    std::shared_lock lock(cache_mu_);
    for (auto& [prefix, entry] : cache_) {
      if (entry->use_dirty.exchange(false, std::memory_order_relaxed)) {
        uses.emplace_back(entry->key.id, entry->last_used.load(std::memory_order_relaxed));
      }
    }
  }
  FlushSessionUse();
  if (uses.empty()) return;
  Status st = store_.RecordApiKeyUse(uses);
  if (!st.ok()) spdlog::warn("could not record API key use: {}", st.ToString());
}

void Authenticator::StartBackgroundRefresh() {
  std::lock_guard lock(thread_mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] {
    std::unique_lock guard(thread_mu_);
    while (!stopping_) {
      guard.unlock();
      Refresh();
      guard.lock();
      thread_cv_.wait_for(guard, options_.refresh_interval, [this] { return stopping_; });
    }
  });
}

void Authenticator::Stop() {
  {
    std::lock_guard lock(thread_mu_);
    stopping_ = true;
  }
  thread_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  FlushKeyUse();
}

std::size_t Authenticator::cached_entries() const {
  std::shared_lock lock(cache_mu_);
  return cache_.size();
}

}  // namespace quarry
