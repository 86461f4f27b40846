// spawn_bench.cpp: what csp::go costs, measured to compare builds with and without the
// goroutine records (spawn site, name, registry) that diagnostics read. bench/spawn_records.sh
// builds this twice and runs the two interleaved.
//
//   BM_Go/unnamed       go(f) for an empty f, from one goroutine, then a wait_group wait for
//                       the batch: the spawn, the run and the exit of a goroutine
//   BM_Go/named         the same with go_options{.name = "worker"} (a short string: no
//                       allocation with libstdc++'s small-string buffer)
//   BM_Go/two_spawners  two goroutines spawning at once, so the registry lock is contended
//   BM_BurstThenIdle    100,000 goroutines parked on one channel and released, then the process
//                       left alone until it is quiet (support/cpu_time.hpp's wait_until_quiet):
//                       the time (manual time; the last 50 ms are the quiet window) and the CPU
//                       (idle_cpu_ms, all threads) that the idle workers spend giving the burst's
//                       stacks back to the kernel (stack_pool::trim), and the resident memory
//                       after (rss_mib)
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>

#include "csp/channel.hpp"
#include "csp/go.hpp"
#include "csp/wait_group.hpp"
#include "support/cpu_time.hpp"
#include "support/resident.hpp"

namespace {

constexpr int batch = 2000;  // below the pool's 4,096 warm stacks: no trimming in steady state

void spawn_batch(bool named) {
  csp::wait_group done;
  done.add(batch);
  for (int i = 0; i < batch; ++i) {
    if (named) {
      csp::go({.name = "worker"}, [&done] { done.done(); });
    } else {
      csp::go([&done] { done.done(); });
    }
  }
  done.wait();
}

void BM_Go(benchmark::State& state, bool named, int spawners) {
  // One csp::run around the whole loop: the runtime's start and stop are not what is measured.
  csp::run([&] {
    for (auto _ : state) {
      csp::wait_group all;
      for (int s = 0; s < spawners; ++s) all.go([named] { spawn_batch(named); });
      all.wait();
    }
  });
  state.SetItemsProcessed(state.iterations() * std::int64_t{batch} * spawners);
  state.counters["ns_per_go"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * batch * spawners,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

BENCHMARK_CAPTURE(BM_Go, unnamed, false, 1)->Name("BM_Go/unnamed")->UseRealTime();
BENCHMARK_CAPTURE(BM_Go, named, true, 1)->Name("BM_Go/named")->UseRealTime();
BENCHMARK_CAPTURE(BM_Go, two_spawners, false, 2)->Name("BM_Go/two_spawners")->UseRealTime();

void BM_BurstThenIdle(benchmark::State& state) {
  constexpr int goroutines = 100000;
  std::chrono::nanoseconds idle_cpu{0};
  for (auto _ : state) {
    {
      csp::channel<int> release;
      csp::wait_group done;
      for (int i = 0; i < goroutines; ++i) done.go([&release] { release.receive(); });
      for (int i = 0; i < goroutines; ++i) release.send(i);
      done.wait();
    }
    const auto start = std::chrono::steady_clock::now();
    const auto cpu_before = csp_test::process_cpu_time();
    if (!csp_test::wait_until_quiet(std::chrono::seconds(10))) {
      state.SkipWithError("the process was not quiet within 10 s of the burst");
      break;
    }
    idle_cpu += csp_test::process_cpu_time() - cpu_before;
    state.SetIterationTime(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  state.counters["idle_cpu_ms"] = std::chrono::duration<double, std::milli>(idle_cpu).count() /
                                  static_cast<double>(state.iterations());
  state.counters["rss_mib"] = static_cast<double>(csp_test::resident_kib()) / 1024.0;
}

BENCHMARK(BM_BurstThenIdle)->UseManualTime()->Iterations(5)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
