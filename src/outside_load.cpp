// outside_load.cpp: whether a plain thread's poll should yield the core, and how busy processes
// outside this one are found.
//
// A plain thread waiting on a channel polls before it sleeps and yields the core now and then
// (parker.cpp, buffered.hpp), so that a partner of the same program that shares its core can
// run. Beside busy strangers (a build, another service) every such yield hands the core to one
// of them for its whole time slice, and the poll, which was to save microseconds, costs
// milliseconds per wait (docs/runtime.md, "Parking", "Under outside load"). A yield's length
// alone cannot tell the two cases apart: five of the program's own threads on two cores also
// keep each other off the core for milliseconds. So a long yield only prompts a look at where
// the CPU time went: the time the kernel counts as busy on the CPUs this process may use
// (/proc/stat), less the process's own CPU time, is what strangers took. Over the last 100 ms
// to 1 s, if strangers took more than a quarter of those CPUs, a yield feeds them; then, for the
// next 100 ms, polls do not yield and a waiting thread sleeps soon, to be woken by its partner.
// At the end of those 100 ms the next poll looks again rather than learn it by losing another
// slice. Cumulative counters, not a snapshot of who is runnable: a program whose threads wake
// and sleep every few microseconds never holds still for a snapshot.
//
// Cost: while nothing is found, one relaxed load per poll. A look reads /proc/stat with a stack
// buffer (no allocation: select's promise covers the sleep path) and the process's CPU clock;
// one thread looks at a time and at most once per 50 ms.
#include <fcntl.h>
#include <sched.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "csp/detail/parker.hpp"

namespace csp::detail {
namespace {

using nanoseconds = std::int64_t;

// A yield that keeps the core away longer than this lost it to a whole time slice (Linux's
// base slice is 0.75 ms times 1 + log2(CPUs)); a partner that needed the core answers within
// microseconds and yields back.
constexpr nanoseconds long_yield = 500'000;
// How long what a look found holds, and how long after a look no thread looks again.
constexpr nanoseconds finding_lasts = 100'000'000;
constexpr nanoseconds between_looks = 50'000'000;
// The window over which strangers' share is judged: /proc/stat counts in ticks of 10 ms per
// CPU, so a shorter one is mostly rounding; a longer one describes the past, not now.
constexpr nanoseconds shortest_window = 100'000'000;
constexpr nanoseconds longest_window = 1'000'000'000;

// When the finding of busy strangers expires; 0 while none holds. Relaxed: it guards no data.
std::atomic<nanoseconds> loaded_until{0};
// The earliest time another look may start; a thread starts one by advancing it with a CAS.
std::atomic<nanoseconds> next_look{0};
// Held by the thread that looks, which alone touches `last_sample`.
std::atomic_flag looking = ATOMIC_FLAG_INIT;

// Where the CPU time went up to one moment.
struct cpu_sample {
  nanoseconds time = 0;
  // Busy time of the CPUs this process may use, all processes together, in ticks: converted
  // only as a difference, since in nanoseconds a large machine's total since boot can
  // overflow 64 bits within a year.
  long long busy_ticks = 0;
  nanoseconds ours = 0;  // this process's CPU time
};
cpu_sample last_sample;

nanoseconds now() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Parses "cpuN user nice system idle iowait irq softirq steal ..." (or the total line, "cpu ")
// into its busy time in ticks: user, nice, system, irq and softirq. Idle and iowait are not
// busy, and steal is time the hypervisor took, which no yield of ours hands over.
long long busy_ticks(const char* line) noexcept {
  while (*line != '\0' && *line != ' ') ++line;
  long long fields[7] = {};
  for (long long& field : fields) {
    while (*line == ' ') ++line;
    if (*line < '0' || *line > '9') return -1;
    for (; *line >= '0' && *line <= '9'; ++line) field = field * 10 + (*line - '0');
  }
  return fields[0] + fields[1] + fields[2] + fields[5] + fields[6];
}

// The busy ticks of the CPUs this process may use, from /proc/stat; -1 if unreadable. With
// every CPU allowed, the total line (the first) is enough; otherwise the allowed CPUs' lines,
// which come next, are summed.
long long busy_ticks_of_allowed_cpus() noexcept {
  cpu_set_t allowed;
  const bool every_cpu = ::sched_getaffinity(0, sizeof allowed, &allowed) != 0 ||
                         CPU_COUNT(&allowed) >= ::get_nprocs();
  const int file = ::open("/proc/stat", O_RDONLY | O_CLOEXEC);
  if (file < 0) return -1;
  long long total = 0;
  bool found = false;
  char chunk[4096];
  char line[512];
  std::size_t line_length = 0;
  bool done = false;
  while (!done) {
    const ssize_t length = ::read(file, chunk, sizeof chunk);
    if (length <= 0) break;
    for (ssize_t i = 0; i < length && !done; ++i) {
      if (chunk[i] != '\n') {
        if (line_length < sizeof line - 1) line[line_length++] = chunk[i];
        // The CPU lines come first; the next one ("intr ...") can be many kilobytes long.
        if (line_length == 3 && std::strncmp(line, "cpu", 3) != 0) done = true;
        continue;
      }
      line[line_length] = '\0';
      line_length = 0;
      if (std::strncmp(line, "cpu", 3) != 0) {
        done = true;
      } else if (line[3] == ' ') {
        if (every_cpu) {
          total = busy_ticks(line);
          found = total >= 0;
          done = true;
        }
      } else {
        const int cpu = std::atoi(line + 3);
        if (cpu >= 0 && cpu < CPU_SETSIZE && CPU_ISSET(cpu, &allowed)) {
          const long long ticks = busy_ticks(line);
          if (ticks >= 0) {
            total += ticks;
            found = true;
          }
        }
      }
    }
  }
  ::close(file);
  return found ? total : -1;
}

long ticks_per_second() noexcept {
  static const long ticks = ::sysconf(_SC_CLK_TCK);
  return ticks;
}

bool take_sample(cpu_sample& sample) noexcept {
  timespec ours{};
  const long long ticks = busy_ticks_of_allowed_cpus();
  if (ticks < 0 || ticks_per_second() <= 0 ||
      ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ours) != 0) {
    return false;
  }
  sample.time = now();
  sample.busy_ticks = ticks;
  sample.ours = ours.tv_sec * 1'000'000'000LL + ours.tv_nsec;
  return true;
}

enum class finding { quiet, busy, undecided };

// Whether, since the last sample, strangers took over a quarter of the CPUs this process may
// use; undecided while the window is too short to say (it grows until the next look).
finding strangers_busy() noexcept {
  cpu_sample sample;
  if (!take_sample(sample)) return finding::quiet;  // cannot tell: keep yielding
  const nanoseconds window = sample.time - last_sample.time;
  if (last_sample.time != 0 && window < shortest_window) return finding::undecided;
  const cpu_sample previous = last_sample;
  last_sample = sample;
  if (previous.time == 0 || window > longest_window) return finding::undecided;
  const nanoseconds busy =
      (sample.busy_ticks - previous.busy_ticks) * (1'000'000'000 / ticks_per_second());
  const nanoseconds strangers = busy - (sample.ours - previous.ours);
  return strangers * 4 > window * allowed_cpu_count() ? finding::busy : finding::quiet;
}

// Looks, unless another thread looked less than between_looks ago or is looking now; returns
// whether busy strangers are known (found now, or by the last look).
bool look(nanoseconds time) noexcept {
  nanoseconds earliest = next_look.load(std::memory_order_relaxed);
  if (time < earliest ||
      !next_look.compare_exchange_strong(earliest, time + between_looks,
                                         std::memory_order_relaxed) ||
      looking.test_and_set(std::memory_order_acquire)) {
    return loaded_until.load(std::memory_order_relaxed) != 0;
  }
  const finding found = strangers_busy();
  if (found != finding::undecided) {
    loaded_until.store(found == finding::busy ? time + finding_lasts : 0,
                       std::memory_order_relaxed);
  }
  looking.clear(std::memory_order_release);
  return loaded_until.load(std::memory_order_relaxed) != 0;
}

}  // namespace

bool outside_load_known() noexcept {
  const nanoseconds until = loaded_until.load(std::memory_order_relaxed);
  if (until == 0) return false;
  const nanoseconds time = now();
  return time < until || look(time);
}

bool yield_while_polling() noexcept {
  if (outside_load_known()) return false;
  const nanoseconds before = now();
  ::sched_yield();
  const nanoseconds after = now();
  return after - before < long_yield || !look(after);
}

}  // namespace csp::detail
