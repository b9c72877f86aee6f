// Watchdog: one thread for the process that runs a callback at a deadline (a statement's
// interrupt, engine.cpp). Written by hand because it is a few dozen lines over a condition
// variable; Asio's timers would pull Asio into the engine.
// Thread-safety: all members are safe to call concurrently. A Timer's callback never runs after
// its destructor has returned.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

namespace quarry::engine::internal {

class Watchdog {
 public:
  using Clock = std::chrono::steady_clock;

  class Timer {
   public:
    Timer(Watchdog& watchdog, Clock::time_point deadline, std::function<void()> fire)
        : watchdog_(watchdog), id_(watchdog.Arm(deadline, std::move(fire), &fired_)) {}
    ~Timer() { watchdog_.Disarm(id_); }
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;
    bool fired() const { return fired_.load(); }

   private:
    Watchdog& watchdog_;
    std::atomic<bool> fired_{false};
    const std::uint64_t id_;
  };

  static Watchdog& Instance() {
    static Watchdog instance;
    return instance;
  }

  ~Watchdog() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  struct Entry {
    std::function<void()> fire;
    std::atomic<bool>* fired;
  };

  std::uint64_t Arm(Clock::time_point deadline, std::function<void()> fire, std::atomic<bool>* fired) {
    std::lock_guard lock(mu_);
    if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
    const std::uint64_t id = ++next_id_;
    timers_.emplace(std::make_pair(deadline, id), Entry{std::move(fire), fired});
    cv_.notify_all();
    return id;
  }

  // Callbacks run under mu_, so once Disarm holds it the callback has finished or never starts.
  void Disarm(std::uint64_t id) {
    std::lock_guard lock(mu_);
    for (auto it = timers_.begin(); it != timers_.end(); ++it) {
      if (it->first.second == id) {
        timers_.erase(it);
        return;
      }
    }
  }

  void Loop() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      if (timers_.empty()) {
        cv_.wait(lock);
        continue;
      }
      auto first = timers_.begin();
      // A copy: Disarm may erase the entry (and its key) while this thread waits.
      const Clock::time_point deadline = first->first.first;
      if (Clock::now() < deadline) {
        cv_.wait_until(lock, deadline);
        continue;
      }
      first->second.fired->store(true);
      first->second.fire();
      timers_.erase(first);
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::pair<Clock::time_point, std::uint64_t>, Entry> timers_;  // GUARDED_BY(mu_)
  std::uint64_t next_id_ = 0;                                            // GUARDED_BY(mu_)
  bool stopping_ = false;                                                 // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace quarry::engine::internal
