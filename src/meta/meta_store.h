// MetaStore: the contract of the metadata store (tenants, users, API keys; later datasets and
// jobs). Implementations: SQLite (embedded mode, meta/sqlite/) now, PostgreSQL (scale-out) later.
//
// Contract:
//   - Every method is safe to call concurrently from any thread.
//   - Tenant-scoped reads take the tenant id and never return another tenant's rows: a row of
//     another tenant is NotFound, exactly like a missing one.
//   - Uniqueness violations are AlreadyExists with a stable code; a store that cannot be reached
//     or is locked past its busy timeout is Unavailable; anything else unexpected is Internal.
//   - Changes that affect authentication (tenant or user status, key revocation) increment the
//     identity epoch in the same transaction, so caches elsewhere (even in other processes on the
//     same store) know to drop what they hold.
//   - No SQL or engine type crosses this interface.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "meta/records.h"

namespace quarry {

class MetaStore {
 public:
  virtual ~MetaStore() = default;

  // Cheap liveness probe of the store (used by /readyz).
  virtual Status Ping() = 0;
  // The schema version the store is at after migrations.
  virtual Result<int> SchemaVersion() = 0;

  // Runs `body` in one transaction: every call made on the `MetaStore&` it receives is part of
  // it; the transaction commits when `body` returns OK and rolls back otherwise. Do not call the
  // outer store from inside `body`. Transactions are short: no I/O other than the store's.
  virtual Status InTransaction(const std::function<Status(MetaStore&)>& body) = 0;

  // --- tenants ---
  virtual Status InsertTenant(const Tenant& tenant) = 0;  // AlreadyExists "tenant_slug_taken"
  virtual Result<Tenant> GetTenant(const std::string& tenant_id) = 0;
  virtual Result<Tenant> GetTenantBySlug(const std::string& slug) = 0;
  virtual Result<Page<Tenant>> ListTenants(const PageRequest& page) = 0;
  // Updates name and status (and updated_at); bumps the identity epoch.
  virtual Status UpdateTenant(const Tenant& tenant) = 0;

  // --- users (always within a tenant) ---
  virtual Status InsertUser(const User& user) = 0;  // AlreadyExists "user_email_taken"
  virtual Result<User> GetUser(const std::string& tenant_id, const std::string& user_id) = 0;
  virtual Result<User> GetUserByEmail(const std::string& tenant_id, const std::string& email) = 0;
  virtual Result<Page<User>> ListUsers(const std::string& tenant_id, const PageRequest& page) = 0;
  // Updates role and status (and updated_at); bumps the identity epoch.
  virtual Status UpdateUser(const User& user) = 0;
  // Replaces the tenant's quota overrides (a JSON object, validated by the caller) and bumps the
  // identity epoch. NotFound "tenant_not_found".
  virtual Status SetTenantQuotas(const std::string& tenant_id, const std::string& quotas_json, UnixMillis now) = 0;
  // Replaces the tenant's settings (a JSON object, validated by the caller) and bumps the identity
  // epoch. NotFound "tenant_not_found".
  virtual Status SetTenantSettings(const std::string& tenant_id, const std::string& settings_json, UnixMillis now) = 0;
  // Replaces the user's attributes (a JSON object, validated by the caller) and bumps the identity
  // epoch, so that the next request of the user already carries them. NotFound "user_not_found".
  virtual Status SetUserAttributes(const std::string& tenant_id, const std::string& user_id,
                                   const std::string& attributes_json, UnixMillis now) = 0;

  // --- API keys ---
  virtual Status InsertApiKey(const ApiKey& key) = 0;
  // tenant_id empty selects operator keys.
  virtual Result<ApiKey> GetApiKey(const std::string& tenant_id, const std::string& key_id) = 0;
  // Looks a key up by its public prefix, across tenants (authentication only).
  virtual Result<ApiKey> FindApiKeyByPrefix(const std::string& prefix) = 0;
  // Keys of a tenant (tenant_id empty: operator keys), optionally only one user's.
  virtual Result<Page<ApiKey>> ListApiKeys(const std::string& tenant_id,
                                           const std::string& user_id_or_empty,
                                           const PageRequest& page) = 0;
  // Sets revoked_at if not yet revoked (idempotent); bumps the identity epoch.
  virtual Status RevokeApiKey(const std::string& tenant_id, const std::string& key_id,
                              UnixMillis revoked_at) = 0;
  // Records last use times in one write (batched by the authenticator).
  virtual Status RecordApiKeyUse(const std::vector<std::pair<std::string, UnixMillis>>& uses) = 0;

  // A counter that only grows; see the contract above.
  virtual Result<std::int64_t> IdentityEpoch() = 0;
};

}  // namespace quarry
