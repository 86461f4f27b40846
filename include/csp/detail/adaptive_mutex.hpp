// adaptive_mutex.hpp: the lock that guards one channel's state.
//
// A three-state futex mutex (Drepper, "Futexes Are Tricky", mutex 2) that spins briefly before
// sleeping. Critical sections under it are a few dozen instructions long, so a contender that
// spins for about a microsecond usually gets the lock without a system call; one that does not
// sleeps on the futex and costs no CPU, so an oversubscribed machine never livelocks on it.
//
// State: 0 unlocked; 1 locked, nobody sleeping; 2 locked, sleepers may exist.
// Memory ordering: unlock() happens before the next lock() that acquires it.
// Not recursive, not fair. Parked goroutines never hold it: it is held only across code that
// does not block.
#pragma once

#include <atomic>
#include <cstdint>

#include "csp/detail/futex.hpp"
#include "csp/detail/thread_annotations.hpp"

namespace csp::detail {

class CSP_CAPABILITY("mutex") adaptive_mutex {
 public:
  adaptive_mutex() = default;
  adaptive_mutex(const adaptive_mutex&) = delete;
  adaptive_mutex& operator=(const adaptive_mutex&) = delete;

  void lock() CSP_ACQUIRE() {
    std::uint32_t expected = 0;
    if (state_.compare_exchange_strong(expected, 1, std::memory_order_acquire,
                                       std::memory_order_relaxed)) [[likely]] {
      return;
    }
    lock_contended();
  }

  bool try_lock() CSP_TRY_ACQUIRE(true) {
    std::uint32_t expected = 0;
    return state_.compare_exchange_strong(expected, 1, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }

  void unlock() CSP_RELEASE() {
    // Only state 2 can have a sleeper; state 1 means nobody asked to be woken.
    if (state_.exchange(0, std::memory_order_release) == 2) [[unlikely]] {
      futex_wake_one(state_);
    }
  }

 private:
  void lock_contended() noexcept;

  std::atomic<std::uint32_t> state_{0};
};

// Holds an adaptive_mutex for a scope.
class CSP_SCOPED_CAPABILITY lock_guard {
 public:
  explicit lock_guard(adaptive_mutex& mutex) CSP_ACQUIRE(mutex) : mutex_(mutex) { mutex_.lock(); }
  ~lock_guard() CSP_RELEASE() { mutex_.unlock(); }
  lock_guard(const lock_guard&) = delete;
  lock_guard& operator=(const lock_guard&) = delete;

 private:
  adaptive_mutex& mutex_;
};

}  // namespace csp::detail
