// Authenticator: turns an "Authorization: Bearer <key>" header into a Principal.
//
// Contract:
//   - Unknown, malformed, revoked and expired keys all fail with the same 401 Status
//     ("invalid_api_key"), and the secret hash is compared in constant time.
//   - A disabled user or tenant fails with 403 ("user_disabled" / "tenant_disabled").
//   - Once a key has been verified it is served from memory: no store round trip per request.
//     Refresh() (run every `refresh_interval` by the background thread) reads the store's identity
//     epoch and drops the whole cache when it moved, so a revocation or a disabled tenant, even
//     one made by another process on the same store, takes effect within one interval. Expiry is
//     checked against the Clock on every request.
//   - A well-formed key whose prefix the store does not know is remembered as unknown for one
//     refresh interval (bounded), so fake keys cannot turn every request into a store lookup.
//   - Last-used times are collected in memory and written in one batch by Refresh() at most every
//     `key_use_flush_interval`.
// Thread-safety: Authenticate and Refresh may be called concurrently from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "auth/principal.h"
#include "common/clock.h"
#include "common/status.h"
#include "meta/meta_store.h"
#include "meta/session_store.h"

namespace quarry {

struct AuthenticatorOptions {
  std::chrono::milliseconds refresh_interval{250};
  std::chrono::milliseconds key_use_flush_interval{10'000};
  std::size_t max_entries = 100'000;
};

struct SessionAuthOptions {
  std::chrono::milliseconds idle_timeout{3'600'000};  // unused this long: the session ends
  std::chrono::milliseconds seen_write_interval{60'000};  // last_seen_at is written at most this often
};

class Authenticator {
 public:
  Authenticator(MetaStore& store, const Clock& clock, AuthenticatorOptions options);
  ~Authenticator();
  Authenticator(const Authenticator&) = delete;
  Authenticator& operator=(const Authenticator&) = delete;

  // `authorization` is the raw Authorization header value (may be empty). The Principal is
  // shared with the cache (no copy per request) and stays valid as long as it is held.
  Result<std::shared_ptr<const Principal>> Authenticate(std::string_view authorization);

  // Turns on session authentication; call before serving (not thread-safe against Authenticate*).
  void EnableSessions(SessionStore& sessions, SessionAuthOptions options);
  // `token` is the value of the session cookie.
  Result<std::shared_ptr<const Principal>> AuthenticateSession(std::string_view token);
  // Drops the sessions held in memory at once (after this process revoked one, so that the next
  // request already sees it; other processes follow the epoch).
  void ForgetSessions();

  // One refresh cycle: pick up identity changes, flush key use when due.
  void Refresh();
  // Runs Refresh every refresh_interval on a background thread until Stop() or destruction.
  void StartBackgroundRefresh();
  void Stop();

  std::size_t cached_entries() const;

 private:
  struct Entry {
    ApiKey key;
    Principal principal;  // its tenant's and user's status decide RequireActive
    std::atomic<UnixMillis> last_used{0};
    std::atomic<bool> use_dirty{false};
  };

  struct SessionEntry {
    Session session;
    Principal principal;
    std::atomic<UnixMillis> last_seen{0};
    std::atomic<UnixMillis> written_seen{0};  // the last_seen_at the store has (or is being sent)
    std::atomic<bool> seen_dirty{false};
  };

  Result<std::shared_ptr<Entry>> Load(const std::string& prefix);
  Result<std::shared_ptr<SessionEntry>> LoadSession(const std::string& token_hash);
  Status CheckSession(SessionEntry& entry);
  // Adopts the store's `epoch` for the cache (cache_mu_ held): false when the caller loaded with
  // an older epoch than the cache's and must not cache what it loaded.
  bool AdoptEpoch(std::int64_t epoch);
  // The same for the session epoch (SessionStore::SessionEpoch) and the session cache.
  bool AdoptSessionEpoch(std::int64_t epoch);
  void ClearLocked();  // cache_mu_ held
  void FlushSessionUse();
  // Part of Refresh: drops the session cache when the store's session epoch moved.
  void RefreshSessions();
  void RememberMiss(const std::string& prefix);
  Status Check(Entry& entry, std::string_view token);
  void FlushKeyUse();
  void DropCache();

  MetaStore& store_;
  const Clock& clock_;
  const AuthenticatorOptions options_;

  mutable std::shared_mutex cache_mu_;
  std::unordered_map<std::string, std::shared_ptr<Entry>> cache_;  // GUARDED_BY(cache_mu_)
  // Prefixes the store does not know, until when they are known to be unknown.
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> misses_;  // GUARDED_BY(cache_mu_)
  std::atomic<std::int64_t> epoch_{-1};
  SessionStore* sessions_store_ = nullptr;  // set by EnableSessions before serving
  SessionAuthOptions session_options_;
  std::unordered_map<std::string, std::shared_ptr<SessionEntry>> sessions_;  // GUARDED_BY(cache_mu_)
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> session_misses_;  // GUARDED_BY(cache_mu_)
  std::atomic<std::int64_t> session_epoch_{-1};

  std::mutex refresh_mu_;  // serializes Refresh()
  std::chrono::steady_clock::time_point last_flush_;

  std::mutex thread_mu_;
  std::condition_variable thread_cv_;
  bool stopping_ = false;  // GUARDED_BY(thread_mu_)
  std::thread thread_;
};

}  // namespace quarry
