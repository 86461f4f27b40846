// futex_linux.cpp: csp/detail/futex.hpp on Linux, with the raw futex system call.
//
// FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline, which is what
// std::chrono::steady_clock reads on Linux, so a wait that wakes spuriously and sleeps again
// never stretches its deadline. All futexes here are process-private.
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>

#include "csp/detail/futex.hpp"

namespace csp::detail {
namespace {

long futex(std::atomic<std::uint32_t>& word, int op, std::uint32_t value,
           const timespec* timeout) noexcept {
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
  return ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), op | FUTEX_PRIVATE_FLAG,
                   value, timeout, nullptr, FUTEX_BITSET_MATCH_ANY);
}

}  // namespace

void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                steady_time deadline) noexcept {
  if (deadline == no_deadline) {
    futex(word, FUTEX_WAIT_BITSET, expected, nullptr);
    return;
  }
  const auto since_epoch = deadline.time_since_epoch();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  const auto nanoseconds =
      std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch - seconds);
  const timespec absolute{static_cast<time_t>(seconds.count()),
                          static_cast<long>(nanoseconds.count())};
  futex(word, FUTEX_WAIT_BITSET, expected, &absolute);
}

void futex_wake_one(std::atomic<std::uint32_t>& word) noexcept {
  futex(word, FUTEX_WAKE_BITSET, 1, nullptr);
}

void futex_wake_all(std::atomic<std::uint32_t>& word) noexcept {
  futex(word, FUTEX_WAKE_BITSET, INT_MAX, nullptr);
}

}  // namespace csp::detail
