// fiber_switch.hpp: the goroutine context switch, a few instructions per ABI
// (fiber_switch_x86_64.S, fiber_switch_aarch64.S).
//
// Contract:
//   - csp_fiber_switch(save_sp, load_sp) pushes the callee-saved registers on the current stack,
//     stores the stack pointer in *save_sp, loads load_sp, pops the registers saved there and
//     returns into that context. Nothing else is saved: not the floating-point control state,
//     not a signal mask (docs/runtime.md, "Threads, thread-local state and errno").
//   - load_sp is either what an earlier switch stored or what prepare_fiber_stack() returned.
//   - A fiber's entry function must never return: its stack has no frame to return into (the
//     trampoline traps if it does). It ends by switching away for good.
// Memory ordering: none of its own. Whoever hands a fiber to another thread publishes its saved
// stack pointer with release/acquire (the scheduler's queues do).
#pragma once

#include <cstddef>
#include <cstring>

extern "C" void csp_fiber_switch(void** save_sp, void* load_sp);
extern "C" void csp_fiber_trampoline();

namespace csp::platform {

// Lays out a fresh stack below `top` (16-byte aligned) so that the first switch to the returned
// stack pointer "returns" into csp_fiber_trampoline, which calls entry(argument).
inline void* prepare_fiber_stack(std::byte* top, void (*entry)(void*), void* argument) {
  auto* slots = reinterpret_cast<void**>(top);
#if defined(__x86_64__)
  // [r15][r14][r13][r12][rbx][rbp][return address]; `top` is 16-byte aligned, so the
  // trampoline's call enters `entry` with the stack aligned as the ABI wants.
  slots -= 7;
  slots[0] = nullptr;                                         // r15
  slots[1] = nullptr;                                         // r14
  slots[2] = reinterpret_cast<void*>(entry);                  // r13: entry
  slots[3] = argument;                                        // r12: argument
  slots[4] = nullptr;                                         // rbx
  slots[5] = nullptr;                                         // rbp
  slots[6] = reinterpret_cast<void*>(&csp_fiber_trampoline);  // return address
#elif defined(__aarch64__)
  // x19..x30 then d8..d15: 22 slots, 176 bytes.
  slots -= 22;
  std::memset(slots, 0, 22 * sizeof(void*));
  slots[0] = argument;                                         // x19: argument
  slots[1] = reinterpret_cast<void*>(entry);                   // x20: entry
  slots[11] = reinterpret_cast<void*>(&csp_fiber_trampoline);  // x30: return address
#else
#error "csp: no fiber switch for this architecture yet"
#endif
  return slots;
}

}  // namespace csp::platform
