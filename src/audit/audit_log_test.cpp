#include "audit/audit_log.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "common/testing/temp_dir.h"
#include "meta/sqlite/sqlite_meta_store.h"

namespace quarry::audit {
namespace {

using namespace std::chrono_literals;

// A store that fails while `failing` is set and otherwise keeps what it is given.
class FlakyStore final : public AuditStore {
 public:
  Status Append(const std::vector<AuditEvent>& events) override {
    if (failing) return Unavailable("metadata_store_unavailable", "down");
    kept.insert(kept.end(), events.begin(), events.end());
    return Status::Ok();
  }
  Result<std::vector<AuditEvent>> List(const std::string&, const AuditFilter&) override { return kept; }
  Result<int> Prune(UnixMillis, int) override { return 0; }
  bool failing = false;
  std::vector<AuditEvent> kept;
};

Principal Member(const std::string& tenant, Role role) {
  Principal p;
  p.tenant.id = tenant;
  p.user.id = "usr_" + tenant;
  p.user.role = role;
  p.key_id = "key_1";
  p.scopes = {"admin", "read", "write"};
  return p;
}

TEST(AuditLog, EventsAreWrittenInOrderAndReadByTheirTenantsAdminsOnly) {
  quarry::testing::TempDir dir{"audit"};
  auto store = std::move(OpenSqliteAuditStore({(dir.path() / "meta.db").string()})).value();
  SimulatedClock clock;
  AuditLog log(*store, clock, AuditOptions{});
  const Principal owner = Member("ten_a", Role::kOwner);
  for (int i = 0; i < 5; ++i) {
    log.Record("ten_a", &owner, "key.create", "key_" + std::to_string(i), "ok", {{"n", i}});
    clock.Advance(1s);
  }
  log.Record("ten_b", nullptr, "dataset.create", "other", "ok", {});
  auto events = log.List(owner, AuditFilter{});  // flushes what is pending
  ASSERT_TRUE(events.ok()) << events.status().ToString();
  ASSERT_EQ(events->size(), 5u) << "never another tenant's";
  EXPECT_EQ((*events)[0].target, "key_0");
  EXPECT_EQ((*events)[4].target, "key_4");
  EXPECT_LT((*events)[0].id, (*events)[4].id);
  EXPECT_EQ((*events)[0].user_id, owner.user.id);
  AuditFilter window;
  window.since = (*events)[1].at;
  window.until = (*events)[3].at;
  EXPECT_EQ(log.List(owner, window)->size(), 2u);
  EXPECT_EQ(log.List(Member("ten_a", Role::kAnalyst), AuditFilter{}).status().code(), "role_too_low");
  EXPECT_EQ(log.List(Principal::LocalOperator(), AuditFilter{}).status().code(), "tenant_member_required");
  // Retention removes the oldest.
  EXPECT_EQ(store->Prune((*events)[2].at, 1000).value(), 2);
  EXPECT_EQ(log.List(owner, AuditFilter{})->size(), 3u);
}

TEST(AuditLog, AFailingStoreLosesNothingUntilItsBoundAndNoRequestWaitsOnIt) {
  FlakyStore store;
  SimulatedClock clock;
  AuditLog log(store, clock, AuditOptions{100ms, 4, 24h, false});
  log.Record("ten_a", nullptr, "query", "0", "ok", {});
  log.Record("ten_a", nullptr, "query", "1", "ok", {});
  store.failing = true;
  EXPECT_FALSE(log.Flush().ok());
  store.failing = false;
  log.Record("ten_a", nullptr, "query", "2", "ok", {});
  log.Record("ten_a", nullptr, "query", "3", "ok", {});  // full, but the store failed last: not written here
  EXPECT_TRUE(store.kept.empty());
  ASSERT_TRUE(log.Flush().ok());  // the writer's next round
  ASSERT_EQ(store.kept.size(), 4u);
  EXPECT_EQ(store.kept.front().target, "0") << "events kept their order across the failure";
  for (int i = 4; i < 8; ++i) log.Record("ten_a", nullptr, "query", std::to_string(i), "ok", {});
  EXPECT_EQ(store.kept.size(), 8u) << "a full buffer is written by the recorder while the store works";
  EXPECT_EQ(log.dropped(), 0u);
  // Past twice the bound while the store fails, the oldest go (and are counted).
  store.failing = true;
  log.Record("ten_a", nullptr, "query", "x", "ok", {});
  EXPECT_FALSE(log.Flush().ok());
  for (int i = 0; i < 12; ++i) log.Record("ten_a", nullptr, "query", "y" + std::to_string(i), "ok", {});
  EXPECT_GT(log.dropped(), 0u);
  store.failing = false;
  ASSERT_TRUE(log.Flush().ok());
  EXPECT_EQ(store.kept.back().target, "y11") << "the newest are kept";
}

TEST(AuditLog, QueriesRecordTheirStatementOrItsHash) {
  FlakyStore store;
  SimulatedClock clock;
  EXPECT_EQ(AuditLog::StatementField("SELECT 1", false).size(), 64u);
  EXPECT_EQ(AuditLog::StatementField("SELECT 1", true), "SELECT 1");
  EXPECT_FALSE(AuditLog(store, clock, AuditOptions{}).query_text()) << "hashes by default";
  EXPECT_TRUE(AuditLog(store, clock, AuditOptions{100ms, 10, 24h, true}).query_text());
}

}  // namespace
}  // namespace quarry::audit
