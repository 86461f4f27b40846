// spawn_bench.cpp: what csp::go costs, measured to compare builds with and without the
// goroutine records (spawn site, name, registry) that diagnostics read. bench/spawn_records.sh
// builds this twice and runs the two interleaved.
//
//   BM_Go/unnamed       go(f) for an empty f, from one goroutine, then a wait_group wait for
//                       the batch: the spawn, the run and the exit of a goroutine
//   BM_Go/named         the same with go_options{.name = "worker"} (a short string: no
//                       allocation with libstdc++'s small-string buffer)
//   BM_Go/two_spawners  two goroutines spawning at once, so the registry lock is contended
#include <benchmark/benchmark.h>

#include <cstdint>

#include "csp/go.hpp"
#include "csp/wait_group.hpp"

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

}  // namespace

BENCHMARK_MAIN();
