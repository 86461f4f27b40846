// line_handoff.cpp: how long one cache line takes to move from one core to another, right now.
//
// Not a peer and not a workload: a gauge of the machine's state, which runner.py and ab.sh read
// before every rep. The 2-vCPU VM these benchmarks run on flips, minutes at a time, between a
// mode where a line crosses between its two vCPUs in ~30-40 ns and one where it takes ~230-250
// ns (measured by this program, 2026-11-30). Every workload whose goroutines or threads talk
// across the two cores moves with it, csp's and Go's alike, by different factors; the tables
// can then be read per mode instead of as one blurred median.
//
// Two threads pass a counter back and forth on one cache line; the figure is the median, over
// several bursts, of the time per one-way hand-off. The threads are not pinned, as no runtime
// in the comparison is. A hand-off that does not come within a second (the other thread got
// no core) ends the probe with NA instead of a figure.
//
// Output: "RESULT line_handoff probe <ns> ns/handoff", or "NA line_handoff probe <reason>".
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

constexpr long handoffs_per_burst = 40'000;
constexpr int bursts = 5;
constexpr auto give_up_after = std::chrono::seconds(1);

alignas(64) std::atomic<long> turn{0};
std::atomic<bool> stalled{false};

inline void relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Waits until the counter reads `value`; false if that took longer than give_up_after.
bool await(long value) {
  clock_type::time_point since{};
  for (unsigned spins = 1; turn.load(std::memory_order_acquire) != value; ++spins) {
    if (stalled.load(std::memory_order_relaxed)) return false;
    relax();
    if ((spins & 0xffff) == 0) {
      const auto now = clock_type::now();
      if (since == clock_type::time_point{}) {
        since = now;
      } else if (now - since > give_up_after) {
        stalled.store(true, std::memory_order_relaxed);
        return false;
      }
    }
  }
  return true;
}

// Takes every other turn, from `first`, up to `total` hand-offs.
void play(long first, long total) {
  for (long i = first; i < total; i += 2) {
    if (!await(i)) return;
    turn.store(i + 1, std::memory_order_release);
  }
}

}  // namespace

int main() {
  // One partner for every burst, started before the first clock reading: a burst times
  // hand-offs only, not a thread's start.
  const long total = 2 + bursts * handoffs_per_burst;
  std::thread partner(play, 1, total);
  std::vector<double> per_handoff;
  bool ok = await(0);
  if (ok) turn.store(1, std::memory_order_release);
  ok = ok && await(2);
  for (long start = 2; ok && start < total; start += handoffs_per_burst) {
    const auto started = clock_type::now();
    for (long i = start; i < start + handoffs_per_burst; i += 2) {
      if (!(ok = await(i))) break;
      turn.store(i + 1, std::memory_order_release);
    }
    // The partner's last turn of the burst is its store of start + handoffs_per_burst.
    ok = ok && await(start + handoffs_per_burst);
    const std::chrono::duration<double, std::nano> elapsed = clock_type::now() - started;
    per_handoff.push_back(elapsed.count() / static_cast<double>(handoffs_per_burst));
  }
  partner.join();
  if (!ok || stalled.load()) {
    std::printf("NA line_handoff probe the partner thread got no core for a second\n");
    return 0;
  }
  std::sort(per_handoff.begin(), per_handoff.end());
  std::printf("RESULT line_handoff probe %.1f ns/handoff\n", per_handoff[per_handoff.size() / 2]);
  return 0;
}
