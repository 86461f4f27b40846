// mutex.hpp: a mutual-exclusion lock that parks goroutines (Go's sync.Mutex).
//
// std::mutex blocks the worker thread a goroutine runs on, and with it every goroutine queued
// there; csp::mutex parks only the goroutine. From a plain thread it blocks the thread. It meets
// the C++ Lockable requirements, so std::lock_guard, std::unique_lock and std::scoped_lock work.
//
// Guarantees: mutual exclusion; not recursive (relocking from the owner deadlocks, as in Go);
//   waiters are served in arrival order — unlock() hands the lock to the longest-waiting party,
//   so nobody starves (Go's starvation mode, always on); an uncontended lock()/unlock() is one
//   atomic exchange each and does not touch the wait queue.
// Memory ordering: for n < m, the n-th unlock() happens before the m-th lock() returns (MM-6).
// Lifetime: must be unlocked and have no waiters when destroyed.
#pragma once

#include <atomic>
#include <cstdint>

#include "csp/detail/adaptive_mutex.hpp"
#include "csp/detail/waiter.hpp"

namespace csp {

class mutex {
 public:
  mutex() = default;
  mutex(const mutex&) = delete;
  mutex& operator=(const mutex&) = delete;

  void lock() {
    std::uint32_t expected = 0;
    if (state_.compare_exchange_strong(expected, locked, std::memory_order_acquire,
                                       std::memory_order_relaxed)) [[likely]] {
      return;
    }
    lock_contended();
  }
  bool try_lock() {
    std::uint32_t expected = 0;
    return state_.compare_exchange_strong(expected, locked, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }
  void unlock() {
    std::uint32_t expected = locked;
    if (state_.compare_exchange_strong(expected, 0, std::memory_order_release,
                                       std::memory_order_relaxed)) [[likely]] {
      return;
    }
    unlock_contended();
  }

 private:
  static constexpr std::uint32_t locked = 1;
  static constexpr std::uint32_t has_waiters = 2;

  void lock_contended();
  void unlock_contended();

  std::atomic<std::uint32_t> state_{0};
  detail::adaptive_mutex queue_lock_;
  detail::wait_queue waiters_ CSP_GUARDED_BY(queue_lock_);
};

}  // namespace csp
