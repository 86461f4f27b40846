// populate_faults.cpp: what a goroutine stack's first page costs on this machine, and whether
// populating it in the kernel first (madvise MADV_POPULATE_WRITE, Linux 5.14) makes that
// cheaper (docs/runtime.md, "Stacks", the ideas not taken). 2,000 mappings of 64 KiB, one per
// stack, each touched once at its top, as a goroutine's first run does:
//   touch            the first write to a fresh page (a page fault);
//   populate         one madvise per top page;
//   touch populated  the first write to a page populated so;
//   populate range   one madvise over 2,000 contiguous pages (the kernel's cost alone).
// Printed in microseconds per page, for each of 3 rounds.
// Built as build/release/bench/csp_populate_faults (bench/CMakeLists.txt).
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace {

using clock_type = std::chrono::steady_clock;

constexpr std::size_t stacks = 2000;
constexpr std::size_t stack_size = 64 * 1024;

char* map_bytes(std::size_t bytes) {
  void* memory = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (memory == MAP_FAILED) {
    std::perror("mmap");
    std::exit(1);
  }
  return static_cast<char*>(memory);
}

template <class Step>
double us_per_page(Step step) {
  const auto start = clock_type::now();
  for (std::size_t i = 0; i < stacks; ++i) step(i);
  return std::chrono::duration<double, std::micro>(clock_type::now() - start).count() / stacks;
}

}  // namespace

int main() {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  for (int round = 1; round <= 3; ++round) {
    char* touched = map_bytes(stacks * stack_size);
    const double touch = us_per_page([&](std::size_t i) { touched[(i + 1) * stack_size - 1] = 1; });

    char* populated = map_bytes(stacks * stack_size);
    const double populate = us_per_page([&](std::size_t i) {
      if (::madvise(populated + (i + 1) * stack_size - page, page, MADV_POPULATE_WRITE) != 0) {
        std::perror("madvise");
        std::exit(1);
      }
    });
    const double touch_populated =
        us_per_page([&](std::size_t i) { populated[(i + 1) * stack_size - 1] = 1; });

    char* range = map_bytes(stacks * page);
    const auto start = clock_type::now();
    if (::madvise(range, stacks * page, MADV_POPULATE_WRITE) != 0) {
      std::perror("madvise");
      return 1;
    }
    const double populate_range =
        std::chrono::duration<double, std::micro>(clock_type::now() - start).count() / stacks;

    std::printf(
        "round %d, us per page: touch %.2f  populate %.2f  touch populated %.2f  "
        "populate range %.2f\n",
        round, touch, populate, touch_populated, populate_range);
    ::munmap(touched, stacks * stack_size);
    ::munmap(populated, stacks * stack_size);
    ::munmap(range, stacks * page);
  }
}
