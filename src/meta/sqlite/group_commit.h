// Group commit for the SQLite stores.
//
// With synchronous=FULL every commit is an fsync, and the fsync, not the SQL, bounds how many
// writes per second the store takes. GroupCommitter lets concurrent writers share commits: the
// first writer to arrive becomes the leader, takes every write waiting (FIFO, up to max_batch),
// runs each in its own SAVEPOINT inside one BEGIN IMMEDIATE transaction, and commits once; the
// others wait and get their own outcome. Semantics per write are exactly those of running it
// alone, in queue order: its savepoint rolls back when it fails and later writes do not see it;
// it succeeds only if the shared COMMIT does. Writers of this process never meet SQLite's busy
// handler (which backs off by sleeping); writers of other processes still do.
// Thread-safe. The pool must outlive the committer.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>

#include "common/status.h"
#include "meta/sqlite/sqlite_connection.h"

namespace quarry::sqlite {

class GroupCommitter {
 public:
  explicit GroupCommitter(ConnectionPool& pool, std::size_t max_batch = 64)
      : pool_(pool), max_batch_(max_batch) {}

  // Runs `body` in a transaction (possibly shared) and returns its outcome, or the commit's error.
  Status Run(const std::function<Status(Connection&)>& body);

 private:
  struct Pending {
    const std::function<Status(Connection&)>* body;
    Status status;
    bool done = false;
  };
  void RunBatch(const std::vector<Pending*>& batch);

  ConnectionPool& pool_;
  const std::size_t max_batch_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending*> queue_;  // GUARDED_BY(mu_)
  bool leading_ = false;        // GUARDED_BY(mu_): a batch is being run
};

}  // namespace quarry::sqlite
