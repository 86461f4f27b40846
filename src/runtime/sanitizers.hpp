// sanitizers.hpp: what AddressSanitizer and ThreadSanitizer must be told about fiber switches.
//
// Both sanitizers track "the current stack". A goroutine switch moves the CPU to another stack
// behind their backs, so every switch is announced: ASan gets the target stack's bounds before
// the switch and confirms it after (so its fake stacks and stack-bounds checks follow the
// fiber), TSan gets the target fiber immediately before the switch (so the happens-before
// relation of the switch is recorded and each goroutine keeps its own shadow state). Without a
// sanitizer, every function here is empty and inlined away.
#pragma once

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#define CSP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CSP_ASAN 1
#endif
#endif

#if defined(__SANITIZE_THREAD__)
#define CSP_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CSP_TSAN 1
#endif
#endif

#if defined(CSP_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#include <sanitizer/lsan_interface.h>
#endif
#if defined(CSP_TSAN)
#include <sanitizer/tsan_interface.h>
#endif

namespace csp::runtime {

// What a sanitizer knows about one fiber (a goroutine's stack, or a worker thread's own).
struct sanitizer_fiber {
  const void* stack_bottom = nullptr;  // lowest usable address
  std::size_t stack_size = 0;
  void* asan_fake_stack = nullptr;
  void* tsan_fiber = nullptr;
};

// Called on the fiber that is leaving, right before the switch. `exiting`: it never resumes.
inline void before_switch([[maybe_unused]] sanitizer_fiber& from,
                          [[maybe_unused]] const sanitizer_fiber& to,
                          [[maybe_unused]] bool exiting) {
#if defined(CSP_ASAN)
  __sanitizer_start_switch_fiber(exiting ? nullptr : &from.asan_fake_stack, to.stack_bottom,
                                 to.stack_size);
#endif
#if defined(CSP_TSAN)
  __tsan_switch_to_fiber(to.tsan_fiber, 0);
#endif
}

// Called on the fiber that arrived, first thing after the switch. `from` learns its bounds when
// it is a thread's own stack, whose bounds only the sanitizer knows.
inline void after_switch([[maybe_unused]] sanitizer_fiber& self,
                         [[maybe_unused]] sanitizer_fiber* from) {
#if defined(CSP_ASAN)
  const void* bottom = nullptr;
  std::size_t size = 0;
  __sanitizer_finish_switch_fiber(self.asan_fake_stack, &bottom, &size);
  if (from != nullptr && from->stack_bottom == nullptr) {
    from->stack_bottom = bottom;
    from->stack_size = size;
  }
#endif
}

// LeakSanitizer scans thread stacks and globals for pointers, not our mmap'd fiber stacks: a
// parked goroutine's stack is registered as a root region, or everything only it refers to
// would be reported as leaked.
inline void register_stack_root([[maybe_unused]] const void* bottom,
                                [[maybe_unused]] std::size_t size) {
#if defined(CSP_ASAN)
  __lsan_register_root_region(bottom, size);
#endif
}
inline void unregister_stack_root([[maybe_unused]] const void* bottom,
                                  [[maybe_unused]] std::size_t size) {
#if defined(CSP_ASAN)
  __lsan_unregister_root_region(bottom, size);
#endif
}

// A finished goroutine's last frames never return (its final switch does not come back), so
// ASan's poisoning of them stays on the stack; a stack going back to the pool is cleared, or
// the next goroutine to get it would trip over stale poison.
inline void unpoison_stack([[maybe_unused]] void* bottom, [[maybe_unused]] std::size_t size) {
#if defined(CSP_ASAN)
  __asan_unpoison_memory_region(bottom, size);
#endif
}

// A new goroutine's TSan state; the thread's own for a worker's scheduler fiber.
inline void* create_tsan_fiber() {
#if defined(CSP_TSAN)
  return __tsan_create_fiber(0);
#else
  return nullptr;
#endif
}
inline void* current_tsan_fiber() {
#if defined(CSP_TSAN)
  return __tsan_get_current_fiber();
#else
  return nullptr;
#endif
}
inline void destroy_tsan_fiber([[maybe_unused]] void* fiber) {
#if defined(CSP_TSAN)
  if (fiber != nullptr) __tsan_destroy_fiber(fiber);
#endif
}

}  // namespace csp::runtime
