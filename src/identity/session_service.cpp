#include "identity/session_service.h"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "audit/audit_log.h"
#include "auth/permissions.h"
#include "auth/session_token.h"
#include "common/ids.h"

namespace quarry {
namespace {

constexpr std::size_t kMinPasswordBytes = 12;
constexpr std::size_t kMaxPasswordBytes = 256;
constexpr UnixMillis kSweepEvery = 3'600'000;  // ended sessions are deleted at most hourly
constexpr UnixMillis kKeepEnded = 24 * 3'600'000;

Status InvalidCredentials() {
  return Unauthenticated("invalid_credentials",
                         "The tenant, email or password is wrong (or the user has no password: ask an "
                         "admin to set one); check them and try again");
}

Status NoSession() {
  return NotFound("session_not_found",
                  "This request was not made with a session cookie (an API key has no session); sign in "
                  "with POST /v1/sessions");
}

Status Invalid(const std::string& field, const std::string& message) {
  return InvalidArgument("invalid_" + field, message).WithDetail("field", field);
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string AccountSubject(const std::string& tenant_slug, const std::string& email) {
  return "account:" + tenant_slug + ":" + email;
}

}  // namespace

Status ValidateNewPassword(const std::string& password, const std::string& email) {
  if (password.size() < kMinPasswordBytes || password.size() > kMaxPasswordBytes) {
    return Invalid("new_password", "the new password must be 12 to 256 bytes long; a few words make a good one");
  }
  if (Lower(password) == Lower(email)) return Invalid("new_password", "the new password must not be your email");
  return Status::Ok();
}

Status SessionService::CheckThrottle(const std::string& subject, int limit, UnixMillis now) {
  const UnixMillis window = options_.failure_window.count();
  QUARRY_ASSIGN_OR_RETURN(FailureCount failures, sessions_.CountSignInFailures(subject, now - window));
  if (failures.count < limit) return Status::Ok();
  const UnixMillis wait_ms = std::max<UnixMillis>(failures.oldest + window - now, 1'000);
  const std::string seconds = std::to_string((wait_ms + 999) / 1'000);
  return Status(ErrorCode::kResourceExhausted, "too_many_sign_in_attempts",
                "Too many failed sign-ins for this account or from this address; wait " + seconds +
                    " seconds and try again, or ask an admin to set a new password")
      .WithDetail("retry_after_seconds", seconds);
}

void SessionService::RecordFailure(const std::string& account, const std::string& address, UnixMillis now) {
  Status st = sessions_.RecordSignInFailure({account, "address:" + address}, now, now - options_.failure_window.count());
  if (!st.ok()) spdlog::warn("could not record a failed sign-in: {}", st.ToString());
}

void SessionService::Audit(const std::string& tenant_id, const Principal* actor, const char* kind,
                           const std::string& target, const char* outcome, const std::string& email,
                           const std::string& address, const char* reason) {
  if (!audit_) return;
  boost::json::object details{{"email", email}, {"address", address}};
  if (reason) details["reason"] = reason;
  audit_->Record(tenant_id, actor, kind, target, outcome, std::move(details));
}

Result<SignedIn> SessionService::SignIn(const SignInRequest& request) {
  if (request.tenant.empty() || request.tenant.size() > 63) return Invalid("tenant", "tenant must be the tenant's slug");
  if (request.email.empty() || request.email.size() > 254) return Invalid("email", "email must be 1 to 254 characters");
  if (request.password.empty() || request.password.size() > kMaxPasswordBytes) {
    return Invalid("password", "password must be 1 to 256 bytes");
  }
  const std::string slug = Lower(request.tenant);
  const std::string email = Lower(request.email);
  const std::string account = AccountSubject(slug, email);
  const UnixMillis now = clock_.NowMillis();
  QUARRY_RETURN_IF_ERROR(CheckThrottle(account, options_.failures_per_account, now));
  QUARRY_RETURN_IF_ERROR(CheckThrottle("address:" + request.client_address, options_.failures_per_address, now));

  // The same lookups and one verification whatever exists, so timing tells nothing.
  std::optional<Tenant> tenant;
  std::optional<User> user;
  std::optional<std::string> hash;
  auto found_tenant = store_.GetTenantBySlug(slug);
  if (found_tenant.ok()) {
    tenant = std::move(found_tenant).value();
    auto found_user = store_.GetUserByEmail(tenant->id, email);
    if (found_user.ok()) {
      user = std::move(found_user).value();
      QUARRY_ASSIGN_OR_RETURN(hash, sessions_.GetPasswordHash(tenant->id, user->id));
    } else if (found_user.status().category() != ErrorCode::kNotFound) {
      return found_user.status();
    }
  } else if (found_tenant.status().category() != ErrorCode::kNotFound) {
    return found_tenant.status();
  }
  QUARRY_ASSIGN_OR_RETURN(bool match, hasher_.Verify(request.password, hash));

  Principal actor;
  if (tenant) actor.tenant = *tenant;
  if (user) actor.user = *user;
  if (!match) {
    RecordFailure(account, request.client_address, now);
    if (tenant) {
      Audit(tenant->id, user ? &actor : nullptr, "session.denied", user ? user->id : email, "denied", email,
            request.client_address, !user ? "unknown_email" : hash ? "wrong_password" : "no_password");
    }
    return InvalidCredentials();
  }
  if (Status st = sessions_.ClearSignInFailures(account); !st.ok()) spdlog::warn("{}", st.ToString());
  if (Status active = RequireActive(*tenant, *user); !active.ok()) {
    Audit(tenant->id, &actor, "session.denied", user->id, "denied", email, request.client_address,
          active.code().c_str());
    return active;
  }

  GeneratedSessionToken token = GenerateSessionToken();
  Session session{NewId("ses", now), tenant->id, user->id, token.hash, now, now, now + options_.ttl.count(),
                  std::nullopt, request.client_address, request.user_agent.substr(0, kMaxUserAgentBytes)};
  if (Status inserted = sessions_.InsertSession(session, hash.value_or("")); !inserted.ok()) {
    // The password changed after it was verified: the old one no longer signs in.
    return inserted.code() == "password_changed" ? InvalidCredentials() : inserted;
  }
  actor.key_id = session.id;
  Audit(tenant->id, &actor, "session.create", session.id, "ok", email, request.client_address, nullptr);
  SweepEndedSessions(now);
  return SignedIn{std::move(session), std::move(token.token)};
}

void SessionService::SweepEndedSessions(UnixMillis now) {
  UnixMillis last = last_sweep_.load();
  if (now - last < kSweepEvery || !last_sweep_.compare_exchange_strong(last, now)) return;
  auto removed = sessions_.DeleteEndedSessions(now - kKeepEnded, 10'000);
  if (!removed.ok()) spdlog::warn("could not delete ended sessions: {}", removed.status().ToString());
}

Result<Session> SessionService::Current(const Principal& actor) {
  if (actor.is_operator || !IsSessionId(actor.key_id)) return NoSession();
  auto session = sessions_.GetSession(actor.tenant.id, actor.key_id);
  if (!session.ok() && session.status().category() == ErrorCode::kNotFound) return NoSession();
  return session;
}

Result<Session> SessionService::SignOut(const Principal& actor) {
  QUARRY_ASSIGN_OR_RETURN(Session session, Current(actor));
  QUARRY_RETURN_IF_ERROR(sessions_.RevokeSession(session.tenant_id, session.id, clock_.NowMillis()));
  authenticator_.ForgetSessions();
  return sessions_.GetSession(session.tenant_id, session.id);
}

Status SessionService::SetPassword(const Principal& actor, const std::string& tenant_id, const std::string& id_or_email,
                                   const std::optional<std::string>& current_password, const std::string& new_password,
                                   const std::string& client_address) {
  // GetUser: oneself, or owners and admins anyone of the tenant; others' users are NotFound.
  QUARRY_ASSIGN_OR_RETURN(User user, identity_.GetUser(actor, tenant_id, id_or_email));
  const bool self = !actor.is_operator && user.id == actor.user.id;
  if (self && !IsSessionId(actor.key_id)) {
    // A password signs in with every scope of the role: a narrower key must not mint one.
    for (const std::string& scope : MaxScopesForRole(actor.user.role)) {
      if (!actor.HasScope(scope)) {
        return PermissionDenied("scope_exceeds_key",
                                "A password signs in with every scope of your role, and this key lacks '" + scope +
                                    "'; set it with a key holding all of them, while signed in, or ask an owner "
                                    "or admin");
      }
    }
  }
  if (!self && !actor.is_operator) {
    QUARRY_RETURN_IF_ERROR(RequireTenantAdmin(actor));
    if (user.role == Role::kOwner && actor.user.role != Role::kOwner) {
      return PermissionDenied("role_too_low", "Only an owner may set an owner's password");
    }
  }
  if (!self && current_password) {
    return Invalid("current_password", "current_password is only for changing your own password; leave it out");
  }
  QUARRY_RETURN_IF_ERROR(ValidateNewPassword(new_password, user.email));
  const UnixMillis now = clock_.NowMillis();
  if (self) {
    QUARRY_ASSIGN_OR_RETURN(std::optional<std::string> stored, sessions_.GetPasswordHash(tenant_id, user.id));
    if (stored) {
      if (!current_password) {
        return Invalid("current_password", "current_password is required to change your own password");
      }
      // Guessing the current password through this route is throttled like sign-ins.
      const std::string account = AccountSubject(actor.tenant.slug, user.email);
      QUARRY_RETURN_IF_ERROR(CheckThrottle(account, options_.failures_per_account, now));
      QUARRY_ASSIGN_OR_RETURN(bool match, hasher_.Verify(*current_password, stored));
      if (!match) {
        RecordFailure(account, client_address, now);
        return PermissionDenied("wrong_current_password",
                                "current_password is not your current password; a forgotten password is "
                                "reset by an owner or admin");
      }
    }
  }
  QUARRY_ASSIGN_OR_RETURN(std::string hash, hasher_.Hash(new_password));
  const std::string keep = self && IsSessionId(actor.key_id) ? actor.key_id : std::string();
  auto revoked = sessions_.SetPasswordHash(tenant_id, user.id, hash, keep, now);
  if (!revoked.ok()) {
    return revoked.status().category() == ErrorCode::kNotFound
               ? NotFound("user_not_found", "No such user in this tenant")
               : revoked.status();
  }
  if (*revoked > 0) authenticator_.ForgetSessions();
  return Status::Ok();
}

}  // namespace quarry
