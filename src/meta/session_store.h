// SessionStore: the records of web sign-in (docs/security.md, "Web sign-in"): users' password
// hashes, sessions, and failed sign-in attempts. Implementations: SQLite now (schema: migration 11),
// PostgreSQL in the scale-out mode.
//
// Contract:
//   - Tenant-scoped reads take the tenant id and never return another tenant's rows.
//   - Revoking sessions (one, or a user's on a password change) increments the identity epoch in
//     the same transaction, so authenticators of every process drop the sessions they hold.
//   - Failed attempts are rows per subject (an account or a client address) and time, so that
//     throttling holds across processes sharing the store.
//   - No SQL crosses this interface.
// Thread-safety: every method is atomic and safe to call concurrently.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "meta/records.h"

namespace quarry {

// A signed-in browser. The token itself is never stored: only its SHA-256.
struct Session {
  std::string id;  // "ses_..."
  std::string tenant_id;
  std::string user_id;
  std::string token_hash;  // lowercase hex SHA-256 of the cookie token, unique
  UnixMillis created_at = 0;
  UnixMillis last_seen_at = 0;  // written in batches (at most about once a minute per session)
  UnixMillis expires_at = 0;    // absolute end (auth.session_ttl after creation)
  std::optional<UnixMillis> revoked_at;
  std::string client_address;  // IP the session was created from
  std::string user_agent;      // truncated to kMaxUserAgentBytes
};

inline constexpr std::size_t kMaxUserAgentBytes = 256;

// Failed sign-ins of one subject inside a window.
struct FailureCount {
  int count = 0;
  UnixMillis oldest = 0;  // the oldest failure counted (0 when none)
};

class SessionStore {
 public:
  virtual ~SessionStore() = default;

  // --- passwords ---
  // The user's encoded password hash; nullopt when the user has none (keys only).
  // NotFound "user_not_found".
  virtual Result<std::optional<std::string>> GetPasswordHash(const std::string& tenant_id,
                                                             const std::string& user_id) = 0;
  // Sets the user's password hash and, in the same transaction, revokes every active session of
  // the user except `keep_session_id` (may be empty), bumping the session epoch when any was.
  // Returns how many sessions were revoked. NotFound "user_not_found".
  virtual Result<int> SetPasswordHash(const std::string& tenant_id, const std::string& user_id,
                                      const std::string& password_hash, const std::string& keep_session_id,
                                      UnixMillis now) = 0;

  // --- sessions ---
  // AlreadyExists "session_id_taken"; NotFound "user_not_found" when the user is not the tenant's.
  // In the same transaction the user's password hash must still be `verified_hash` (the one the
  // sign-in checked): otherwise FailedPrecondition "password_changed", so that a sign-in verified
  // against an old password cannot outlive a password change that raced it.
  virtual Status InsertSession(const Session& session, const std::string& verified_hash) = 0;
  // Across tenants (authentication only). NotFound "session_not_found".
  virtual Result<Session> FindSessionByTokenHash(const std::string& token_hash) = 0;
  virtual Result<Session> GetSession(const std::string& tenant_id, const std::string& session_id) = 0;
  // Sets revoked_at if not yet revoked (idempotent) and bumps the session epoch.
  // NotFound "session_not_found".
  virtual Status RevokeSession(const std::string& tenant_id, const std::string& session_id, UnixMillis now) = 0;
  // A counter that only grows, bumped in the transaction of every session revocation: caches of
  // sessions (in every process on the store) drop theirs when it moves. Separate from the
  // identity epoch, so that sign-outs do not flush every cached API key of every tenant.
  virtual Result<std::int64_t> SessionEpoch() = 0;
  // Records last-seen times in one write (batched by the authenticator); times only move forward.
  virtual Status RecordSessionUse(const std::vector<std::pair<std::string, UnixMillis>>& uses) = 0;
  // Deletes sessions that expired or were revoked before `before`, at most `limit`; returns how many.
  virtual Result<int> DeleteEndedSessions(UnixMillis before, int limit) = 0;

  // --- failed sign-in attempts ---
  // Records one failure at `at` for each subject, and removes every failure older than
  // `forget_before` (of any subject) in the same write.
  virtual Status RecordSignInFailure(const std::vector<std::string>& subjects, UnixMillis at,
                                     UnixMillis forget_before) = 0;
  // The subject's failures after `since` (a failure exactly `window` old no longer counts).
  virtual Result<FailureCount> CountSignInFailures(const std::string& subject, UnixMillis since) = 0;
  // Forgets the subject's failures (a successful sign-in of an account).
  virtual Status ClearSignInFailures(const std::string& subject) = 0;
};

}  // namespace quarry
