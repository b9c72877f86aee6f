// SessionService: web sign-in (docs/security.md, "Web sign-in"): passwords, sessions, throttling.
//
// Contract:
//   - SignIn answers every failure of the credentials (unknown tenant, unknown email, a user
//     without a password, a wrong password) with the same 401 "invalid_credentials", after the same
//     work: an unknown account is verified against a dummy hash (PasswordHasher).
//   - Failed sign-ins are counted per account (tenant slug + email, existing or not) and per client
//     address over `failure_window`; at `failures_per_account` / `failures_per_address` further
//     attempts get 429 "too_many_sign_in_attempts" with Retry-After, before any password is
//     checked. A successful sign-in forgets its account's failures. Counts live in the store, so
//     they hold across processes (two concurrent attempts may both pass the last free slot).
//   - Sign-ins are audited in the tenant's log when the tenant exists: "session.create" (ok) and
//     "session.denied" (wrong credentials or a disabled user/tenant); never the password.
//   - Revocations (sign-out, password change) take effect on this process's next request and on
//     others' within auth.cache_refresh (the identity epoch).
// Thread-safety: safe to call concurrently.
#pragma once

#include <atomic>
#include <chrono>
#include <optional>
#include <string>

#include "auth/authenticator.h"
#include "auth/password.h"
#include "auth/principal.h"
#include "common/clock.h"
#include "common/status.h"
#include "identity/identity_service.h"
#include "meta/meta_store.h"
#include "meta/session_store.h"

namespace quarry::audit {
class AuditLog;
}

namespace quarry {

struct SessionOptions {
  std::chrono::milliseconds ttl{12 * 3'600'000};
  int failures_per_account = 5;
  int failures_per_address = 50;
  std::chrono::milliseconds failure_window{15 * 60'000};
};

struct SignInRequest {
  std::string tenant;  // slug
  std::string email;
  std::string password;
  std::string client_address;  // IP (no port)
  std::string user_agent;
};

struct SignedIn {
  Session session;
  std::string token;  // the cookie value: given once, never stored
};

class SessionService {
 public:
  SessionService(MetaStore& store, SessionStore& sessions, IdentityService& identity, Authenticator& authenticator,
                 PasswordHasher& hasher, const Clock& clock, SessionOptions options)
      : store_(store), sessions_(sessions), identity_(identity), authenticator_(authenticator), hasher_(hasher),
        clock_(clock), options_(options) {}
  // Where sign-ins are recorded (none: not recorded, e.g. `quarry admin`). Set before use.
  void set_audit(audit::AuditLog* audit) { audit_ = audit; }

  Result<SignedIn> SignIn(const SignInRequest& request);
  // The caller's own session: NotFound "session_not_found" unless `actor` signed in with a session.
  Result<Session> Current(const Principal& actor);
  // Revokes the caller's session (sign-out); same errors as Current.
  Result<Session> SignOut(const Principal& actor);
  // Sets the password of a user of `tenant_id`. Oneself: `current_password` is required when the
  // user has a password already. Another user: owners and admins with the admin scope (only an
  // owner for an owner), without `current_password`; the operator (`quarry admin`) for anyone.
  // Revokes every session of the user except the caller's own.
  Status SetPassword(const Principal& actor, const std::string& tenant_id, const std::string& id_or_email,
                     const std::optional<std::string>& current_password, const std::string& new_password,
                     const std::string& client_address);

 private:
  Status CheckThrottle(const std::string& subject, int limit, UnixMillis now);
  void RecordFailure(const std::string& account, const std::string& address, UnixMillis now);
  void Audit(const std::string& tenant_id, const Principal* actor, const char* kind, const std::string& target,
             const char* outcome, const std::string& email, const std::string& address, const char* reason);
  void SweepEndedSessions(UnixMillis now);

  MetaStore& store_;
  SessionStore& sessions_;
  IdentityService& identity_;
  Authenticator& authenticator_;
  PasswordHasher& hasher_;
  const Clock& clock_;
  const SessionOptions options_;
  audit::AuditLog* audit_ = nullptr;
  std::atomic<UnixMillis> last_sweep_{0};
};

// 12 to 256 bytes, not the user's email (InvalidArgument "invalid_new_password").
Status ValidateNewPassword(const std::string& password, const std::string& email);

}  // namespace quarry
