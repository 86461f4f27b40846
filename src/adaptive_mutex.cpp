// adaptive_mutex.cpp: the contended path of csp/detail/adaptive_mutex.hpp.
#include "csp/detail/adaptive_mutex.hpp"

namespace csp::detail {
namespace {

// About a microsecond of polling: longer than the lock is ever held by a running thread, far
// shorter than a futex sleep and wake-up on this class of machine.
constexpr int spin_limit = 64;

}  // namespace

void adaptive_mutex::lock_contended() noexcept {
  for (int i = 0; i < spin_limit; ++i) {
    cpu_relax();
    std::uint32_t expected = 0;
    if (state_.load(std::memory_order_relaxed) == 0 &&
        state_.compare_exchange_weak(expected, 1, std::memory_order_acquire,
                                     std::memory_order_relaxed)) {
      return;
    }
  }
  // Announce a sleeper (state 2) so that unlock() wakes us, and take the lock if it was free.
  while (state_.exchange(2, std::memory_order_acquire) != 0) futex_wait(state_, 2);
}

}  // namespace csp::detail
