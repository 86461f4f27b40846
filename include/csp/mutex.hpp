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
// lock(ctx) waits for the lock or for the context's end, whichever comes first (false: not
//   locked; see csp/context.hpp); a waiter that gives up leaves the queue as if never there.
// Memory ordering: for n < m, the n-th unlock() happens before the m-th lock() returns (MM-6).
// Lifetime: must be unlocked and have no waiters when destroyed.
#pragma once

#include <atomic>
#include <cstdint>

#include "csp/detail/adaptive_mutex.hpp"
#include "csp/detail/waiter.hpp"

namespace csp {

class context;  // csp/context.hpp

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
    lock_contended(nullptr);
  }
  // Locks unless `ctx` ends first; true if it locked. False at once if ctx has already ended.
  [[nodiscard]] bool lock(const context& ctx);
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

  // Waits for the lock, or (ctx not null) for the end of *ctx; true if it locked.
  bool lock_contended(const context* ctx);
  void unlock_contended();

  std::atomic<std::uint32_t> state_{0};
  detail::adaptive_mutex queue_lock_;
  detail::wait_queue waiters_ CSP_GUARDED_BY(queue_lock_);
};

}  // namespace csp
