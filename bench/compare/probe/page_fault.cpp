// page_fault.cpp: what the first touch of a fresh page of memory costs, right now.
//
// Not a peer and not a workload: the second gauge of the machine's state, which runner.py and
// ab.sh read before every rep, beside line_handoff.cpp. On the 2-vCPU VM these benchmarks run
// on, a first touch cost ~11 us in a slow spell (2026-11-30) — an order of magnitude above a
// page fault on bare metal — while a cache line still crossed between the cores in ~30 ns. The
// workloads that fault in their memory as they go (skynet, parked and spawn, each in a fresh
// process; every goroutine stack's first page is one fault) slow down with it, csp and Go by
// different factors: csp's goroutines hold a page each, Go's 2 KiB stacks share pages.
//
// Maps fresh anonymous memory without transparent huge pages (so that each page is one fault),
// writes one byte per page, unmaps; the figure is the fastest of 3 rounds, per page.
//
// Output: "RESULT page_fault probe <ns> ns/page", or "NA page_fault probe <reason>".
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>

namespace {

constexpr std::size_t pages = 4096;
constexpr std::size_t page_size = 4096;
constexpr int rounds = 3;

}  // namespace

int main() {
  double fastest = 0;
  for (int round = 0; round < rounds; ++round) {
    const std::size_t size = pages * page_size;
    void* memory =
        ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) {
      std::printf("NA page_fault probe mmap failed: %s\n", std::strerror(errno));
      return 0;
    }
    // Without this a huge page could back the range, and one fault would fill 512 pages.
    (void)::madvise(memory, size, MADV_NOHUGEPAGE);
    auto* bytes = static_cast<volatile unsigned char*>(memory);
    const auto started = std::chrono::steady_clock::now();
    for (std::size_t page = 0; page < pages; ++page) bytes[page * page_size] = 1;
    const std::chrono::duration<double, std::nano> elapsed =
        std::chrono::steady_clock::now() - started;
    ::munmap(memory, size);
    const double per_page = elapsed.count() / static_cast<double>(pages);
    fastest = round == 0 ? per_page : std::min(fastest, per_page);
  }
  std::printf("RESULT page_fault probe %.0f ns/page\n", fastest);
  return 0;
}
