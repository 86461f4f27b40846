// switch_bench.cpp: csp's context switch against Boost.Context's, side by side in one run: the
// measurement behind "our own few lines over fcontext" (docs/runtime.md, "Context switch").
//
// Each benchmark ping-pongs between the benchmark's thread and one fiber; an iteration is two
// switches, there and back, and items_per_second counts switches.
//   CspFiberSwitch      csp_fiber_switch (src/platform/fiber_switch_*.S), what goroutines use
//   BoostFcontextJump   boost::context::detail::jump_fcontext: the assembly under Boost.Context
//   BoostContextFiber   boost::context::fiber::resume(), Boost.Context's public API over it
// Built only where Boost.Context is installed (libboost-context-dev).
#include <benchmark/benchmark.h>

#include <boost/context/detail/fcontext.hpp>
#include <boost/context/fiber.hpp>
#include <cstddef>
#include <memory>
#include <utility>

#include "platform/fiber_switch.hpp"

namespace {

constexpr std::size_t stack_size = 64 * 1024;

struct stack_memory {
  stack_memory() : bytes(new (std::align_val_t{64}) std::byte[stack_size]) {}
  ~stack_memory() { ::operator delete[](bytes, std::align_val_t{64}); }
  std::byte* top() const { return bytes + stack_size; }
  std::byte* bytes;
};

struct csp_partners {
  void* main_sp = nullptr;
  void* fiber_sp = nullptr;
};

[[noreturn]] void csp_partner(void* argument) {
  auto& partners = *static_cast<csp_partners*>(argument);
  for (;;) csp_fiber_switch(&partners.fiber_sp, partners.main_sp);
}

void CspFiberSwitch(benchmark::State& state) {
  stack_memory stack;
  csp_partners partners;
  partners.fiber_sp = csp::platform::prepare_fiber_stack(stack.top(), &csp_partner, &partners);
  for (auto _ : state) csp_fiber_switch(&partners.main_sp, partners.fiber_sp);
  state.SetItemsProcessed(2 * state.iterations());
  // The partner stays suspended in its loop; its stack holds nothing that needs destroying.
}
BENCHMARK(CspFiberSwitch);

void fcontext_partner(boost::context::detail::transfer_t from) {
  for (;;) from = boost::context::detail::jump_fcontext(from.fctx, nullptr);
}

void BoostFcontextJump(benchmark::State& state) {
  stack_memory stack;
  boost::context::detail::fcontext_t partner =
      boost::context::detail::make_fcontext(stack.top(), stack_size, &fcontext_partner);
  for (auto _ : state) partner = boost::context::detail::jump_fcontext(partner, nullptr).fctx;
  state.SetItemsProcessed(2 * state.iterations());
}
BENCHMARK(BoostFcontextJump);

void BoostContextFiber(benchmark::State& state) {
  boost::context::fiber partner{[](boost::context::fiber&& main) {
    for (;;) main = std::move(main).resume();
    return std::move(main);
  }};
  for (auto _ : state) partner = std::move(partner).resume();
  state.SetItemsProcessed(2 * state.iterations());
  // Destroying the suspended fiber unwinds its stack (Boost's forced_unwind).
}
BENCHMARK(BoostContextFiber);

}  // namespace

BENCHMARK_MAIN();
