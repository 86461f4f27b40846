// stack_span.cpp: what a hand-off's touch of the next goroutine's top stack page costs, as a
// function of how far apart the stacks are. 2,000 "stacks" of a given stride in one
// MAP_NORESERVE mapping; one line near the top of each is a link of a pointer chase (shuffled,
// then in address order), and the chase's ns per step is printed. With COLOUR=1 set, each
// line moves `i % 64` cache lines down from its stack's top, as stack colouring would place
// it. Not a peer; a measurement kept so that docs/runtime.md's figures ("Stacks") can be rerun:
//   g++ -O2 -std=c++20 bench/compare/experiments/stack_span.cpp -o /tmp/stack_span &&
//   /tmp/stack_span && COLOUR=1 /tmp/stack_span
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

int main() {
  constexpr std::size_t stacks = 2000;
  constexpr std::size_t page = 4096;
  const bool colour = std::getenv("COLOUR") != nullptr;
  for (const std::size_t size :
       {16 * 1024ul, 24 * 1024ul, 32 * 1024ul, 64 * 1024ul, 256 * 1024ul}) {
    const std::size_t stride = size + page;  // a guard page below each, as guarded stacks have
    const std::size_t bytes = stacks * stride + page;
    auto* base = static_cast<char*>(::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
    if (base == MAP_FAILED) return 1;
    auto at = [&](std::size_t i) {
      const std::size_t offset = colour ? (i % 64) * 64 : 0;
      return reinterpret_cast<void**>(base + i * stride + stride - 64 - offset);
    };
    std::vector<std::size_t> order(stacks);
    for (std::size_t i = 0; i < stacks; ++i) order[i] = i;
    std::mt19937 random(1);
    std::shuffle(order.begin(), order.end(), random);
    double ns[2] = {};
    for (int mode = 0; mode < 2; ++mode) {
      for (std::size_t k = 0; k < stacks; ++k) {
        const std::size_t from = mode == 0 ? order[k] : k;
        const std::size_t to = mode == 0 ? order[(k + 1) % stacks] : (k + 1) % stacks;
        *at(from) = at(to);
      }
      void** p = at(0);
      for (int warm = 0; warm < 20000; ++warm) p = static_cast<void**>(*p);
      constexpr long steps = 4'000'000;
      const auto start = std::chrono::steady_clock::now();
      for (long s = 0; s < steps; ++s) p = static_cast<void**>(*p);
      ns[mode] = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start)
                     .count() /
                 steps;
      if (p == nullptr) std::puts("unreachable");
    }
    std::printf("stacks of %3zu KiB, %4zu MB in all: shuffled %.1f ns, in order %.1f ns per step\n",
                size / 1024, bytes >> 20, ns[0], ns[1]);
    ::munmap(base, bytes);
  }
}
