// futex.hpp: the kernel's wait-on-address primitive, as the thread parker and the channel
// lock use it.
//
// Guarantees: futex_wait returns when *word no longer equals `expected`, after a futex_wake on
// the same address, when `deadline` passes, or spuriously; callers always re-check. futex_wake
// never dereferences `word`: it is safe to call after the object holding the word has been
// destroyed (the party that owned it already saw the new value and left), which is what lets a
// waker publish a state and then wake without a second handshake.
// Memory ordering: none of its own; the atomics around the calls carry it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace csp::detail {

using steady_time = std::chrono::steady_clock::time_point;

// The deadline of an operation that has none.
inline constexpr steady_time no_deadline = steady_time::max();

void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                steady_time deadline = no_deadline) noexcept;
void futex_wake_one(std::atomic<std::uint32_t>& word) noexcept;
void futex_wake_all(std::atomic<std::uint32_t>& word) noexcept;

// A hint to the processor that the caller is spinning (x86 `pause`, Arm `yield`).
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

}  // namespace csp::detail
