// sieve_reruns.cpp: the sieve workload (compare.cpp's, test/chan/sieve1.go's shape) run several
// times in one process, to see how a run depends on the runs before it (bench/compare/README.md,
// "the sieve after a warm-up").
//
// Usage: sieve_reruns STEP...   where each STEP is
//   N    a run that finds the N-th prime and leaves its goroutines blocked, as compare.cpp's
//        warm-up does (and Go's program);
//   -N   a run that finds the N-th prime, then drains its chain, so its goroutines exit and
//        their stacks go back to the pool;
//   pMS  a pause of MS milliseconds;
//   c    from here on, count the values the filters pass on (one relaxed atomic increment per
//        send, shared by every thread: it slows the runs) and print how many were passed during
//        each run, by any chain.
// Built as build/release/bench/csp_sieve_reruns (bench/CMakeLists.txt).
// Example: CSP_MAXPROCS=1 build/release/bench/csp_sieve_reruns 2000 2000 p2000 2000
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "csp/csp.hpp"

namespace {

bool counting = false;
std::atomic<long> passed{0};

void generate(csp::sender<int> out, int last) {
  for (int i = 2; i <= last; ++i) out.send(i);
  out.close();
}

void filter(csp::receiver<int> in, csp::sender<int> out, int prime) {
  for (int i : in) {
    if (i % prime != 0) {
      if (counting) passed.fetch_add(1, std::memory_order_relaxed);
      out.send(i);
    }
  }
  out.close();
}

void run(int n, bool drain) {
  csp::run([n, drain] {
    const auto start = std::chrono::steady_clock::now();
    const long passed_before = passed.load();
    csp::channel<int> ch;
    // A drained run's generator stops at the 2,000th prime's value (17,389) or beyond; a leaked
    // one never stops.
    csp::go(generate, csp::sender<int>(ch), drain ? std::max(17389, 10 * n) : 1 << 30);
    int prime = 0;
    for (int i = 0; i < n; ++i) {
      prime = *ch.receive();
      csp::channel<int> next;
      csp::go(filter, csp::receiver<int>(ch), csp::sender<int>(next), prime);
      ch = next;
    }
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    const long passed_during = passed.load() - passed_before;
    if (drain) {
      while (ch.receive()) {
      }
    }
    std::printf("prime %d: %.1f ms (%s)", n, ms, drain ? "then drained" : "left blocked");
    if (counting) std::printf(", %ld values passed on meanwhile", passed_during);
    std::printf("\n");
  });
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (argv[i][0] == 'c') {
      counting = true;
    } else if (argv[i][0] == 'p') {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(argv[i] + 1)));
    } else {
      const int n = std::atoi(argv[i]);
      run(std::abs(n), n < 0);
    }
  }
}
