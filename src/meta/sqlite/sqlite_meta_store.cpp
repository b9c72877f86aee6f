#include "meta/sqlite/sqlite_meta_store.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "meta/sqlite/migrations.h"
#include "meta/sqlite/sqlite_connection.h"
#include "meta/sqlite/sqlite_store_support.h"

namespace quarry {
namespace {

using sqlite::Atomically;
using sqlite::Connection;
using sqlite::ConnectionPool;
using sqlite::Constraint;
using sqlite::FetchPage;
using sqlite::Statement;

constexpr int kMaxPageLimit = 1000;

// --- row mapping ---

Status CorruptRow(std::string_view what) {
  return Internal("metadata_store_error",
                  "unrecognized " + std::string(what) + " value in the metadata database");
}

Status TenantNotFound() { return NotFound("tenant_not_found", "no such tenant"); }
Status UserNotFound() { return NotFound("user_not_found", "no such user in this tenant"); }
Status ApiKeyNotFound() { return NotFound("api_key_not_found", "no such API key"); }

// Scopes are stored as one TEXT of comma-separated names ("" for none).
Result<std::string> JoinScopes(const std::vector<std::string>& scopes) {
  std::string joined;
  for (const std::string& scope : scopes) {
    if (scope.empty() || scope.find(',') != std::string::npos) {
      return Internal("metadata_store_error",
                      "API key scope names must be non-empty and contain no comma");
    }
    if (!joined.empty()) joined += ',';
    joined += scope;
  }
  return joined;
}

std::vector<std::string> SplitScopes(const std::string& joined) {
  std::vector<std::string> scopes;
  std::size_t start = 0;
  while (start < joined.size()) {
    std::size_t end = joined.find(',', start);
    if (end == std::string::npos) end = joined.size();
    scopes.push_back(joined.substr(start, end - start));
    start = end + 1;
  }
  return scopes;
}

// Column lists shared by the INSERTs and SELECTs below, in the order the Read* functions expect.
// Macros so that they concatenate into the SQL literals.
#define TENANT_COLUMNS "id, slug, name, status, created_at, updated_at"
#define TENANT_READ_COLUMNS TENANT_COLUMNS ", quotas_json, settings_json"
#define USER_COLUMNS "id, tenant_id, email, role, status, created_at, updated_at"
#define USER_READ_COLUMNS USER_COLUMNS ", attributes_json"
#define API_KEY_COLUMNS                                                                       \
  "id, tenant_id, user_id, name, prefix, secret_hash, scopes, created_at, last_used_at, " \
  "expires_at, revoked_at"

Result<Tenant> ReadTenant(const Statement& row) {
  Tenant t;
  t.id = row.ColumnText(0);
  t.slug = row.ColumnText(1);
  t.name = row.ColumnText(2);
  auto status = ParseTenantStatus(row.ColumnText(3));
  if (!status) return CorruptRow("tenant status");
  t.status = *status;
  t.created_at = row.ColumnInt64(4);
  t.updated_at = row.ColumnInt64(5);
  t.quotas_json = row.ColumnText(6);
  t.settings_json = row.ColumnText(7);
  return t;
}

Result<User> ReadUser(const Statement& row) {
  User u;
  u.id = row.ColumnText(0);
  u.tenant_id = row.ColumnText(1);
  u.email = row.ColumnText(2);
  auto role = ParseRole(row.ColumnText(3));
  if (!role) return CorruptRow("user role");
  u.role = *role;
  auto status = ParseUserStatus(row.ColumnText(4));
  if (!status) return CorruptRow("user status");
  u.status = *status;
  u.created_at = row.ColumnInt64(5);
  u.updated_at = row.ColumnInt64(6);
  u.attributes_json = row.ColumnText(7);
  return u;
}

Result<ApiKey> ReadApiKey(const Statement& row) {
  ApiKey k;
  k.id = row.ColumnText(0);
  k.tenant_id = row.ColumnText(1);  // NULL reads as ""
  k.user_id = row.ColumnText(2);
  k.name = row.ColumnText(3);
  k.prefix = row.ColumnText(4);
  k.secret_hash = row.ColumnText(5);
  k.scopes = SplitScopes(row.ColumnText(6));
  k.created_at = row.ColumnInt64(7);
  k.last_used_at = row.ColumnOptionalInt64(8);
  k.expires_at = row.ColumnOptionalInt64(9);
  k.revoked_at = row.ColumnOptionalInt64(10);
  return k;
}

template <typename T>
Result<T> FetchOne(Statement& stmt, Result<T> (*read)(const Statement&), Status not_found) {
  QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return not_found;
  return read(stmt);
}

int ClampLimit(int limit) { return std::clamp(limit, 1, kMaxPageLimit); }

Status BumpIdentityEpoch(Connection& conn) {
  QUARRY_ASSIGN_OR_RETURN(
      Statement stmt, conn.Prepare("UPDATE identity_epoch SET value = value + 1 WHERE id = 1"));
  QUARRY_RETURN_IF_ERROR(stmt.Run());
  if (conn.Changes() != 1) {
    return Internal("metadata_store_error", "the identity_epoch row is missing");
  }
  return Status::Ok();
}

// True when `sql` (selecting by id, then by tenant id, "" meaning NULL) returns a row.
Result<bool> ExistsInTenant(Connection& conn, std::string_view sql, std::string_view id,
                            std::string_view tenant_id_or_empty) {
  QUARRY_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare(sql));
  stmt.Bind(1, id).BindTextOrNull(2, tenant_id_or_empty);
  return stmt.Step();
}

// --- the store ---

// All MetaStore methods, written against "a connection for this call": the pooled store leases
// one per call, a transaction view reuses the one its transaction runs on. Reads are one SELECT
// each (consistent without an explicit transaction); writes run through Atomically, so each
// method's writes (e.g. an update and its epoch bump) are all-or-nothing, also inside
// InTransaction, where they become a savepoint of the enclosing transaction.
class SqliteStoreBase : public MetaStore {
 public:
  Status Ping() override {
    return WithConnection([](Connection& conn) { return conn.Exec("SELECT 1"); });
  }

  Result<int> SchemaVersion() override {
    return Read<int>([](Connection& conn) { return sqlite::AppliedSchemaVersion(conn); });
  }

  Status InTransaction(const std::function<Status(MetaStore&)>& body) override;

  // --- tenants ---

  Status InsertTenant(const Tenant& t) override {
    return Write([&](Connection& conn) -> Status {
      QUARRY_ASSIGN_OR_RETURN(Statement stmt,
                              conn.Prepare("INSERT INTO tenants (" TENANT_COLUMNS
                                           ") VALUES (?, ?, ?, ?, ?, ?)"));
      stmt.Bind(1, t.id).Bind(2, t.slug).Bind(3, t.name).Bind(4, ToString(t.status));
      stmt.Bind(5, t.created_at).Bind(6, t.updated_at);
      Status s = stmt.Run();
      switch (stmt.violated_constraint()) {
        case Constraint::kUnique:
          return AlreadyExists("tenant_slug_taken",
                               "a tenant with this slug already exists; choose another slug");
        case Constraint::kPrimaryKey:
          return AlreadyExists("tenant_id_taken", "a tenant with this id already exists");
        default: return s;
      }
    });
  }

  Result<Tenant> GetTenant(const std::string& tenant_id) override {
    return Read<Tenant>([&](Connection& conn) -> Result<Tenant> {
      QUARRY_ASSIGN_OR_RETURN(
          Statement stmt, conn.Prepare("SELECT " TENANT_READ_COLUMNS " FROM tenants WHERE id = ?"));
      stmt.Bind(1, tenant_id);
      return FetchOne(stmt, &ReadTenant, TenantNotFound());
    });
  }

  Result<Tenant> GetTenantBySlug(const std::string& slug) override {
    return Read<Tenant>([&](Connection& conn) -> Result<Tenant> {
      QUARRY_ASSIGN_OR_RETURN(
          Statement stmt, conn.Prepare("SELECT " TENANT_READ_COLUMNS " FROM tenants WHERE slug = ?"));
      stmt.Bind(1, slug);
      return FetchOne(stmt, &ReadTenant, TenantNotFound());
    });
  }

  Result<Page<Tenant>> ListTenants(const PageRequest& page) override {
    return Read<Page<Tenant>>([&](Connection& conn) -> Result<Page<Tenant>> {
      QUARRY_ASSIGN_OR_RETURN(Statement stmt,
                              conn.Prepare("SELECT " TENANT_READ_COLUMNS
                                           " FROM tenants WHERE id > ? ORDER BY id LIMIT ?"));
      const int limit = ClampLimit(page.limit);
      stmt.Bind(1, page.after_id).Bind(2, limit + 1);
      return FetchPage(stmt, limit, &ReadTenant);
    });
  }

  Status UpdateTenant(const Tenant& t) override {
    return Write([&](Connection& conn) -> Status {
      QUARRY_ASSIGN_OR_RETURN(
          Statement stmt,
          conn.Prepare("UPDATE tenants SET name = ?, status = ?, updated_at = ? WHERE id = ?"));
      stmt.Bind(1, t.name).Bind(2, ToString(t.status)).Bind(3, t.updated_at).Bind(4, t.id);
      QUARRY_RETURN_IF_ERROR(stmt.Run());
      if (conn.Changes() == 0) return TenantNotFound();
      return BumpIdentityEpoch(conn);
    });
  }

  // --- users ---

  Status InsertUser(const User& u) override {
    return Write([&](Connection& conn) -> Status {
      QUARRY_ASSIGN_OR_RETURN(Statement stmt,
                              conn.Prepare("INSERT INTO users (" USER_COLUMNS
                                           ") VALUES (?, ?, ?, ?, ?, ?, ?)"));
      stmt.Bind(1, u.id).Bind(2, u.tenant_id).Bind(3, u.email).Bind(4, ToString(u.role));
      stmt.Bind(5, ToString(u.status)).Bind(6, u.created_at).Bind(7, u.updated_at);
      Status s = stmt.Run();
      switch (stmt.violated_constraint()) {
        case Constraint::kUnique:
          return AlreadyExists("user_email_taken",
                               "a user with this email already exists in this tenant");
        case Constraint::kPrimaryKey:
          return AlreadyExists("user_id_taken", "a user with this id already exists");
        case Constraint::kForeignKey: return TenantNotFound();
        default: return s;
      }
    });
  }

  Result<User> GetUser(const std::string& tenant_id, const std::string& user_id) override {
    return Read<User>([&](Connection& conn) -> Result<User> {
      QUARRY_ASSIGN_OR_RETURN(
          Statement stmt,
          conn.Prepare("SELECT " USER_READ_COLUMNS " FROM users WHERE id = ? AND tenant_id = ?"));
      stmt.Bind(1, user_id).Bind(2, tenant_id);
      return FetchOne(stmt, &ReadUser, UserNotFound());
    });
  }

  Result<User> GetUserByEmail(const std::string& tenant_id, const std::string& email) override {
    return Read<User>([&](Connection& conn) -> Result<User> {
      QUARRY_ASSIGN_OR_RETURN(
          Statement stmt,
          conn.Prepare("SELECT " USER_READ_COLUMNS " FROM users WHERE tenant_id = ? AND email = ?"));
      stmt.Bind(1, tenant_id).Bind(2, email);
      return FetchOne(stmt, &ReadUser, UserNotFound());
    });
  }

  Result<Page<User>> ListUsers(const std::string& tenant_id, const PageRequest& page) override {
    return Read<Page<User>>([&](Connection& conn) -> Result<Page<User>> {
      QUARRY_ASSIGN_OR_RETURN(
          Statement stmt,
          conn.Prepare("SELECT " USER_READ_COLUMNS
                       " FROM users WHERE tenant_id = ? AND id > ? ORDER BY id LIMIT ?"));
      const int limit = ClampLimit(page.limit);
      stmt.Bind(1, tenant_id).Bind(2, page.after_id).Bind(3, limit + 1);
      return FetchPage(stmt, limit, &ReadUser);
    });
  }

  Status UpdateUser(const User& u) override {
    return Write([&](Connection& conn) -> Status {
      QUARRY_ASSIGN_OR_RETURN(
          Statement stmt,
          conn.Prepare("UPDATE users SET role = ?, status = ?, updated_at = ?"
                       " WHERE id = ? AND tenant_id = ?"));
      stmt.Bind(1, ToString(u.role)).Bind(2, ToString(u.status)).Bind(3, u.updated_at);
      stmt.Bind(4, u.id).Bind(5, u.tenant_id);
      QUARRY_RETURN_IF_ERROR(stmt.Run());
      if (conn.Changes() == 0) return UserNotFound();
      return BumpIdentityEpoch(conn);
    });
  }

  Status SetTenantQuotas(const std::string& tenant_id, const std::string& quotas_json, UnixMillis now) override {
    return Write([&](Connection& conn) -> Status {
      QUARRY_ASSIGN_OR_RETURN(Statement stmt,
                              conn.Prepare("UPDATE tenants SET quotas_json = ?, updated_at = ? WHERE id = ?"));
      stmt.Bind(1, quotas_json).Bind(2, now).Bind(3, tenant_id);
      QUARRY_RETURN_IF_ERROR(stmt.Run());
      if (conn.Changes() == 0) return TenantNotFound();
      return BumpIdentityEpoch(conn);  // cached principals carry the tenant's quotas
    });
  }

  Status SetTenantSettings(const std::string& tenant_id, const std::string& settings_json, UnixMillis now) override {
    return Write([&](Connection& conn) -> Status {
      QUARRY_ASSIGN_OR_RETURN(Statement stmt,
                              conn.Prepare("UPDATE tenants SET settings_json = ?, updated_at = ? WHERE id = ?"));
      stmt.Bind(1, settings_json).Bind(2, now).Bind(3, tenant_id);
      QUARRY_RETURN_IF_ERROR(stmt.Run());
      if (conn.Changes() == 0) return TenantNotFound();
      return BumpIdentityEpoch(conn);  // cached principals carry the tenant's settings
    });
  }

  Status SetUserAttributes(const std::string& tenant_id, const std::string& user_id, const std::string& attributes_json,
                           UnixMillis now) override {
    return Write([&](Connection& conn) -> Status {
      QUARRY_ASSIGN_OR_RETURN(
          Statement stmt,
          conn.Prepare("UPDATE users SET attributes_json = ?, updated_at = ? WHERE id = ? AND tenant_id = ?"));
      stmt.Bind(1, attributes_json).Bind(2, now).Bind(3, user_id).Bind(4, tenant_id);
      QUARRY_RETURN_IF_ERROR(stmt.Run());
      if (conn.Changes() == 0) return UserNotFound();
      return BumpIdentityEpoch(conn);  // cached principals carry the attributes
    });
  }

  // --- API keys ---

  Status InsertApiKey(const ApiKey& k) override {
    QUARRY_ASSIGN_OR_RETURN(std::string scopes, JoinScopes(k.scopes));
    return Write([&](Connection& conn) -> Status {
      // Checked here rather than left to the foreign keys, which cannot tell which one failed
      // nor that the user belongs to the key's tenant. An operator key (no tenant) has no user.
      if (!k.tenant_id.empty()) {
        QUARRY_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("SELECT 1 FROM tenants WHERE id = ?"));
        stmt.Bind(1, k.tenant_id);
        QUARRY_ASSIGN_OR_RETURN(bool tenant, stmt.Step());
        if (!tenant) return TenantNotFound();
      }
      if (!k.user_id.empty()) {
        QUARRY_ASSIGN_OR_RETURN(
            bool user, ExistsInTenant(conn, "SELECT 1 FROM users WHERE id = ? AND tenant_id IS ?",
                                      k.user_id, k.tenant_id));
        if (!user) return UserNotFound();
      }
      QUARRY_ASSIGN_OR_RETURN(Statement stmt,
                              conn.Prepare("INSERT INTO api_keys (" API_KEY_COLUMNS
                                           ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
      stmt.Bind(1, k.id).BindTextOrNull(2, k.tenant_id).BindTextOrNull(3, k.user_id);
      stmt.Bind(4, k.name).Bind(5, k.prefix).Bind(6, k.secret_hash).Bind(7, scopes);
      stmt.Bind(8, k.created_at).Bind(9, k.last_used_at).Bind(10, k.expires_at);
      stmt.Bind(11, k.revoked_at);
      Status s = stmt.Run();
      switch (stmt.violated_constraint()) {
        case Constraint::kUnique:
          return AlreadyExists("api_key_prefix_taken",
                               "an API key with this prefix already exists; generate a new key");
        case Constraint::kPrimaryKey:
          return AlreadyExists("api_key_id_taken", "an API key with this id already exists");
        default: return s;
      }
    });
  }

  Result<ApiKey> GetApiKey(const std::string& tenant_id, const std::string& key_id) override {
    return Read<ApiKey>([&](Connection& conn) -> Result<ApiKey> {
      QUARRY_ASSIGN_OR_RETURN(
          Statement stmt,
          conn.Prepare("SELECT " API_KEY_COLUMNS
                       " FROM api_keys WHERE id = ? AND tenant_id IS ?"));
      stmt.Bind(1, key_id).BindTextOrNull(2, tenant_id);
      return FetchOne(stmt, &ReadApiKey, ApiKeyNotFound());
    });
  }

  Result<ApiKey> FindApiKeyByPrefix(const std::string& prefix) override {
    return Read<ApiKey>([&](Connection& conn) -> Result<ApiKey> {
      QUARRY_ASSIGN_OR_RETURN(
          Statement stmt,
          conn.Prepare("SELECT " API_KEY_COLUMNS " FROM api_keys WHERE prefix = ?"));
      stmt.Bind(1, prefix);
      return FetchOne(stmt, &ReadApiKey, ApiKeyNotFound());
    });
  }

  Result<Page<ApiKey>> ListApiKeys(const std::string& tenant_id,
                                   const std::string& user_id_or_empty,
                                   const PageRequest& page) override {
    return Read<Page<ApiKey>>([&](Connection& conn) -> Result<Page<ApiKey>> {
      const int limit = ClampLimit(page.limit);
      auto prepared =
          user_id_or_empty.empty()
              ? conn.Prepare("SELECT " API_KEY_COLUMNS " FROM api_keys WHERE tenant_id IS ?"
                             " AND id > ? ORDER BY id LIMIT ?")
              : conn.Prepare("SELECT " API_KEY_COLUMNS " FROM api_keys WHERE tenant_id IS ?"
                             " AND id > ? AND user_id = ? ORDER BY id LIMIT ?");
      if (!prepared.ok()) return prepared.status();
      Statement& stmt = *prepared;
      stmt.BindTextOrNull(1, tenant_id).Bind(2, page.after_id);
      if (user_id_or_empty.empty()) {
        stmt.Bind(3, limit + 1);
      } else {
        stmt.Bind(3, user_id_or_empty).Bind(4, limit + 1);
      }
      return FetchPage(stmt, limit, &ReadApiKey);
    });
  }

  Status RevokeApiKey(const std::string& tenant_id, const std::string& key_id,
                      UnixMillis revoked_at) override {
    return Write([&](Connection& conn) -> Status {
      QUARRY_ASSIGN_OR_RETURN(
          Statement stmt,
          conn.Prepare("UPDATE api_keys SET revoked_at = ?"
                       " WHERE id = ? AND tenant_id IS ? AND revoked_at IS NULL"));
      stmt.Bind(1, revoked_at).Bind(2, key_id).BindTextOrNull(3, tenant_id);
      QUARRY_RETURN_IF_ERROR(stmt.Run());
      if (conn.Changes() == 1) return BumpIdentityEpoch(conn);
      // Already revoked (the first revocation time stands; nothing changed, no epoch bump) or
      // not this tenant's key.
      QUARRY_ASSIGN_OR_RETURN(
          bool exists,
          ExistsInTenant(conn, "SELECT 1 FROM api_keys WHERE id = ? AND tenant_id IS ?", key_id,
                         tenant_id));
      return exists ? Status::Ok() : ApiKeyNotFound();
    });
  }

  Status RecordApiKeyUse(const std::vector<std::pair<std::string, UnixMillis>>& uses) override {
    if (uses.empty()) return Status::Ok();
    return Write([&](Connection& conn) -> Status {
      for (const auto& [key_id, used_at] : uses) {
        QUARRY_ASSIGN_OR_RETURN(
            Statement stmt,
            conn.Prepare("UPDATE api_keys SET last_used_at = ?1"
                         " WHERE id = ?2 AND (last_used_at IS NULL OR last_used_at < ?1)"));
        stmt.Bind(1, used_at).Bind(2, key_id);
        QUARRY_RETURN_IF_ERROR(stmt.Run());
      }
      return Status::Ok();
    });
  }

  Result<std::int64_t> IdentityEpoch() override {
    return Read<std::int64_t>([](Connection& conn) -> Result<std::int64_t> {
      QUARRY_ASSIGN_OR_RETURN(Statement stmt,
                              conn.Prepare("SELECT value FROM identity_epoch WHERE id = 1"));
      QUARRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) return Internal("metadata_store_error", "the identity_epoch row is missing");
      return stmt.ColumnInt64(0);
    });
  }

 protected:
  // Calls `fn` with the connection this method call runs on.
  virtual Status WithConnection(const std::function<Status(Connection&)>& fn) = 0;

 private:
  template <typename T, typename F>
  Result<T> Read(F&& fn) {
    std::optional<Result<T>> out;
    QUARRY_RETURN_IF_ERROR(WithConnection([&](Connection& conn) {
      out.emplace(fn(conn));
      return Status::Ok();
    }));
    return std::move(*out);
  }

  template <typename F>
  Status Write(F&& fn) {
    return WithConnection(
        [&](Connection& conn) { return Atomically(conn, [&] { return fn(conn); }); });
  }
};

// The MetaStore handed to an InTransaction body: every call runs on the transaction's
// connection. Used only by the thread running the body, and only while it runs.
class TransactionView final : public SqliteStoreBase {
 public:
  explicit TransactionView(Connection& conn) : conn_(conn) {}

 protected:
  Status WithConnection(const std::function<Status(Connection&)>& fn) override {
    return fn(conn_);
  }

 private:
  Connection& conn_;
};

// A nested InTransaction (on a view) becomes a savepoint of the enclosing transaction.
Status SqliteStoreBase::InTransaction(const std::function<Status(MetaStore&)>& body) {
  return WithConnection([&](Connection& conn) {
    TransactionView view(conn);
    return Atomically(conn, [&] { return body(view); });
  });
}

class SqliteMetaStore final : public SqliteStoreBase {
 public:
  SqliteMetaStore(const SqliteOptions& options, std::unique_ptr<Connection> first)
      : pool_(options.path, options.busy_timeout_ms, options.max_connections, std::move(first)) {}

 protected:
  Status WithConnection(const std::function<Status(Connection&)>& fn) override {
    QUARRY_ASSIGN_OR_RETURN(ConnectionPool::Lease lease, pool_.Acquire());
    return fn(*lease);
  }

 private:
  ConnectionPool pool_;
};

#undef TENANT_COLUMNS
#undef TENANT_READ_COLUMNS
#undef USER_COLUMNS
#undef USER_READ_COLUMNS
#undef API_KEY_COLUMNS

}  // namespace

int SqliteLatestSchemaVersion() { return sqlite::LatestMigrationVersion(); }

Result<std::unique_ptr<MetaStore>> OpenSqliteMetaStore(const SqliteOptions& options) {
  return sqlite::OpenStore<MetaStore, SqliteMetaStore>(options);
}

}  // namespace quarry
