// context_bench.cpp: what a context costs (csp/context.hpp).
//
// Scenarios:
//   BM_ContextErr/<ctx>              ctx.err() on background, a live with_cancel context, and a
//                                    value eight levels below one (err() asks the nearest
//                                    canceler: the depth must not matter)
//   BM_ReceiveReady/<form>           a receive from a buffered channel that holds a value:
//                                    receive() against receive(ctx) (live ctx) and
//                                    receive(background()), side by side; each iteration also
//                                    refills the channel with try_send
//   BM_SendReady/<form>              the same for a send into a buffered channel with room
//   BM_WithCancelPair                with_cancel + cancel on a long-lived parent
//   BM_WithTimeoutPair               with_timeout + cancel (arms and stops a timer)
//   BM_CancelWakesWaiters/<n>        n goroutines blocked in receive(ctx); the time from
//                                    cancel() until the last of them has come back from it
//                                    (manual time; also per goroutine). They exit only after
//                                    the measurement: releasing 10,000 stacks is the
//                                    runtime's cost, not the context's.
#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

#include "csp/channel.hpp"
#include "csp/context.hpp"
#include "csp/go.hpp"
#include "csp/wait_group.hpp"

namespace {

using namespace std::chrono_literals;

inline const csp::context_key<int> level{"level"};

void BM_ContextErr_Background(benchmark::State& state) {
  const csp::context ctx = csp::background();
  for (auto _ : state) benchmark::DoNotOptimize(ctx.err());
}
BENCHMARK(BM_ContextErr_Background)->Name("BM_ContextErr/background");

void BM_ContextErr_Live(benchmark::State& state) {
  auto [ctx, cancel] = csp::with_cancel(csp::background());
  for (auto _ : state) benchmark::DoNotOptimize(ctx.err());
  cancel();
}
BENCHMARK(BM_ContextErr_Live)->Name("BM_ContextErr/live_with_cancel");

void BM_ContextErr_Deep(benchmark::State& state) {
  auto [root, cancel] = csp::with_cancel(csp::background());
  csp::context ctx = root;
  for (int i = 0; i < 8; ++i) ctx = csp::with_value(ctx, level, i);
  for (auto _ : state) benchmark::DoNotOptimize(ctx.err());
  cancel();
}
BENCHMARK(BM_ContextErr_Deep)->Name("BM_ContextErr/value_8_levels_down");

void BM_ContextErr_Canceled(benchmark::State& state) {
  auto [ctx, cancel] = csp::with_cancel(csp::background());
  cancel();
  for (auto _ : state) benchmark::DoNotOptimize(ctx.err());
}
BENCHMARK(BM_ContextErr_Canceled)->Name("BM_ContextErr/canceled");

enum class form { plain, live_context, background_context };

template <form Form>
void BM_ReceiveReady(benchmark::State& state) {
  csp::channel<int> ch(1);
  auto [ctx, cancel] = csp::with_cancel(csp::background());
  const csp::context background = csp::background();
  int i = 0;
  for (auto _ : state) {
    if (!ch.try_send(++i)) state.SkipWithError("full");
    if constexpr (Form == form::plain) {
      benchmark::DoNotOptimize(ch.receive());
    } else if constexpr (Form == form::live_context) {
      benchmark::DoNotOptimize(ch.receive(ctx));
    } else {
      benchmark::DoNotOptimize(ch.receive(background));
    }
  }
  cancel();
}
BENCHMARK(BM_ReceiveReady<form::plain>)->Name("BM_ReceiveReady/plain");
BENCHMARK(BM_ReceiveReady<form::live_context>)->Name("BM_ReceiveReady/context");
BENCHMARK(BM_ReceiveReady<form::background_context>)->Name("BM_ReceiveReady/background");

template <form Form>
void BM_SendReady(benchmark::State& state) {
  csp::channel<int> ch(1);
  auto [ctx, cancel] = csp::with_cancel(csp::background());
  const csp::context background = csp::background();
  int i = 0;
  for (auto _ : state) {
    if constexpr (Form == form::plain) {
      ch.send(++i);
    } else if constexpr (Form == form::live_context) {
      benchmark::DoNotOptimize(ch.send(++i, ctx));
    } else {
      benchmark::DoNotOptimize(ch.send(++i, background));
    }
    benchmark::DoNotOptimize(ch.try_receive());
  }
  cancel();
}
BENCHMARK(BM_SendReady<form::plain>)->Name("BM_SendReady/plain");
BENCHMARK(BM_SendReady<form::live_context>)->Name("BM_SendReady/context");
BENCHMARK(BM_SendReady<form::background_context>)->Name("BM_SendReady/background");

void BM_WithCancelPair(benchmark::State& state) {
  auto [parent, cancel_parent] = csp::with_cancel(csp::background());
  for (auto _ : state) {
    auto [ctx, cancel] = csp::with_cancel(parent);
    cancel();
  }
  cancel_parent();
}
BENCHMARK(BM_WithCancelPair);

void BM_WithTimeoutPair(benchmark::State& state) {
  auto [parent, cancel_parent] = csp::with_cancel(csp::background());
  for (auto _ : state) {
    auto [ctx, cancel] = csp::with_timeout(parent, 1h);
    cancel();
  }
  cancel_parent();
}
BENCHMARK(BM_WithTimeoutPair);

void BM_CancelWakesWaiters(benchmark::State& state) {
  const auto waiters = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    auto [ctx, cancel] = csp::with_cancel(csp::background());
    csp::channel<int> never;
    csp::channel<int> release;
    csp::channel<int> all_awake(1);
    std::atomic<std::size_t> awake{0};
    csp::wait_group returned;
    for (std::size_t i = 0; i < waiters; ++i) {
      returned.go([&awake, waiters, ctx = ctx, never, release, all_awake] {
        benchmark::DoNotOptimize(never.receive(ctx));
        if (awake.fetch_add(1, std::memory_order_acq_rel) + 1 == waiters) {
          (void)all_awake.try_send(1);
        }
        (void)release.receive();  // stay alive: goroutine exits are not what is measured
      });
    }
    // Every goroutine queued on ctx's done channel before the clock starts.
    while (csp::detail::context_access::waiting_count(ctx) < waiters) std::this_thread::yield();
    const auto start = std::chrono::steady_clock::now();
    cancel();
    (void)all_awake.receive();
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    state.SetIterationTime(took.count());
    release.close();
    returned.wait();
  }
  state.counters["ns_per_waiter"] = benchmark::Counter(
      static_cast<double>(waiters),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_CancelWakesWaiters)
    ->Arg(1000)
    ->Arg(10000)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
