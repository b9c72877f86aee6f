// Group commit: concurrent writes share transactions but keep their own outcomes.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "common/testing/temp_dir.h"
#include "meta/sqlite/group_commit.h"

namespace quarry::sqlite {
namespace {

class GroupCommitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto first = Connection::Open(path_, 5000);
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    ASSERT_TRUE((*first)->Exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)").ok());
    pool_ = std::make_unique<ConnectionPool>(path_, 5000, 8, std::move(first).value());
    committer_ = std::make_unique<GroupCommitter>(*pool_);
  }
  std::int64_t Count() {
    auto lease = pool_->Acquire();
    auto stmt = (**lease).Prepare("SELECT COUNT(*) FROM t");
    EXPECT_TRUE(stmt->Step().value());
    return stmt->ColumnInt64(0);
  }
  static Status Insert(Connection& conn, int id) {
    QUARRY_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare("INSERT INTO t (id, v) VALUES (?, 'x')"));
    stmt.Bind(1, id);
    return stmt.Run();
  }

  testing::TempDir temp_{"group-commit"};
  const std::string path_ = (temp_.path() / "g.db").string();
  std::unique_ptr<ConnectionPool> pool_;
  std::unique_ptr<GroupCommitter> committer_;
};

TEST_F(GroupCommitTest, ConcurrentWritesAllCommitAndFailuresStayTheirOwn) {
  constexpr int kThreads = 8, kPerThread = 200;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const int id = t * kPerThread + i;
        // Every tenth write inserts its row, then fails: only its own savepoint rolls back.
        const bool fail = id % 10 == 0;
        Status st = committer_->Run([&](Connection& conn) -> Status {
          QUARRY_RETURN_IF_ERROR(Insert(conn, id));
          if (fail) return InvalidArgument("on_purpose", "fails after writing");
          return Status::Ok();
        });
        if (fail) {
          EXPECT_EQ(st.code(), "on_purpose");
          ++failures;
        } else {
          EXPECT_TRUE(st.ok()) << st.ToString();
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), kThreads * kPerThread / 10);
  EXPECT_EQ(Count(), kThreads * kPerThread - failures.load());
}

TEST_F(GroupCommitTest, ALaterWriteSeesAnEarlierOneOfTheSameBatch) {
  ASSERT_TRUE(committer_->Run([](Connection& conn) { return Insert(conn, 1); }).ok());
  Status duplicate = committer_->Run([](Connection& conn) { return Insert(conn, 1); });
  EXPECT_FALSE(duplicate.ok()) << "primary key already taken";
  EXPECT_EQ(Count(), 1);
}

TEST_F(GroupCommitTest, AThrowingWriteFailsAloneWithAnInternalError) {
  Status st = committer_->Run([](Connection&) -> Status { throw std::runtime_error("boom"); });
  EXPECT_EQ(st.category(), ErrorCode::kInternal);
  EXPECT_TRUE(committer_->Run([](Connection& conn) { return Insert(conn, 7); }).ok());
  EXPECT_EQ(Count(), 1);
}

}  // namespace
}  // namespace quarry::sqlite
