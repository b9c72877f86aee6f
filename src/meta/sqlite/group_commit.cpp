#include "meta/sqlite/group_commit.h"

#include <vector>

namespace quarry::sqlite {

Status GroupCommitter::Run(const std::function<Status(Connection&)>& body) {
  Pending me{&body};
  std::unique_lock lock(mu_);
  queue_.push_back(&me);
  while (!me.done) {
    if (leading_) {
      cv_.wait(lock);
      continue;
    }
    leading_ = true;
    std::vector<Pending*> batch;
    while (!queue_.empty() && batch.size() < max_batch_) {
      batch.push_back(queue_.front());
      queue_.pop_front();
    }
    lock.unlock();
    RunBatch(batch);
    lock.lock();
    for (Pending* p : batch) p->done = true;
    leading_ = false;
    cv_.notify_all();
  }
  return me.status;
}

void GroupCommitter::RunBatch(const std::vector<Pending*>& batch) {
  auto fail_all = [&](const Status& st) {
    for (Pending* p : batch) p->status = st;
  };
  auto lease = pool_.Acquire();
  if (!lease.ok()) return fail_all(lease.status());
  Connection& conn = **lease;
  if (Status begun = conn.Exec("BEGIN IMMEDIATE"); !begun.ok()) return fail_all(begun);
  for (Pending* p : batch) {
    Status st = conn.Exec("SAVEPOINT quarry_write");
    if (st.ok()) {
      try {
        st = (*p->body)(conn);
      } catch (const std::exception& e) {
        st = Internal("metadata_store_error", std::string("a store write threw: ") + e.what());
      }
      if (st.ok()) {
        st = conn.Exec("RELEASE quarry_write");
      } else {
        (void)conn.Exec("ROLLBACK TO quarry_write");
        (void)conn.Exec("RELEASE quarry_write");
      }
    }
    p->status = st;
  }
  Status committed = conn.Exec("COMMIT");
  if (!committed.ok()) {
    (void)conn.Exec("ROLLBACK");
    for (Pending* p : batch) {
      if (p->status.ok()) p->status = committed;
    }
  }
}

}  // namespace quarry::sqlite
