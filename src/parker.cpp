// parker.cpp: the OS-thread parker, and which parker the calling context uses.
#include "csp/detail/parker.hpp"

#include <sched.h>
#include <unistd.h>

#include <thread>

namespace csp::detail {
namespace {

// How long a thread polls its word before it sleeps: 1,000 pauses (about 20 µs on the EPYC CI
// machines), yielding the core every 50. A partner running on another core usually answers
// within that window, and then neither side makes a futex call; the yields let a partner that
// shares this core run, which is what keeps an oversubscribed machine from slowing down. This
// policy measured best of those tried in every scenario of bench/channel_bench.cpp (see
// bench/README.md); the price is at most ~20 µs of CPU for a wait that ends in a sleep.
//
// Beside busy processes outside this one the yields cost their time slices instead, so then
// the poll is shorter and yields nothing (yield_while_polling, outside_load.cpp).
//
// On a process allowed a single CPU (taskset, a one-CPU container) pausing cannot help: the
// partner runs only when this thread gives the core away. There the poll yields at every
// step, 20 times, before it sleeps (Go spins only with more than one CPU, for the same reason).
struct spin_policy {
  int iterations;
  int yield_every;
};

spin_policy policy_for_this_process() noexcept {
  return allowed_cpu_count() == 1 ? spin_policy{20, 1} : spin_policy{1000, 50};
}

class os_thread_parker final : public parker {
 public:
  void park(std::atomic<std::uint32_t>& word, std::uint32_t observed,
            steady_time deadline) override {
    static const spin_policy policy = policy_for_this_process();
    // Beside busy processes a yield feeds them a time slice: poll a quarter as long without
    // yielding (with one CPU not at all), then sleep until the partner wakes us.
    const bool yields = !outside_load_known();
    const int iterations =
        yields ? policy.iterations : (policy.yield_every == 1 ? 0 : policy.iterations / 4);
    for (int i = 1; i <= iterations; ++i) {
      if (yields && i % policy.yield_every == 0) {
        if (!yield_while_polling()) break;  // the CAS below sees a word that changed meanwhile
      } else {
        cpu_relax();
      }
      if (word.load(std::memory_order_relaxed) != observed) return;
    }
    // Block the current thread, telling the next writer of the word to wake it.
    std::uint32_t sleeping = observed | sleeping_bit;
    if (sleeping != observed &&
        !word.compare_exchange_strong(observed, sleeping, std::memory_order_relaxed)) {
      return;
    }
    thread_census::instance().enter_park();
    futex_wait(word, sleeping, deadline);
    thread_census::instance().leave_park();
  }

  void unpark(std::atomic<std::uint32_t>& word) noexcept override { futex_wake_one(word); }
};

os_thread_parker the_thread_parker;
thread_local parker* current = nullptr;

}  // namespace

parker& thread_parker() noexcept { return the_thread_parker; }

int allowed_cpu_count() noexcept {
  cpu_set_t allowed;
  if (::sched_getaffinity(0, sizeof allowed, &allowed) == 0) {
    const int count = CPU_COUNT(&allowed);
    if (count > 0) return count;
  }
  const unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 1 : static_cast<int>(cores);
}

bool several_cpus() noexcept {
  static const bool several = allowed_cpu_count() > 1;
  return several;
}

bool polling_pays() noexcept { return several_cpus() && &current_parker() == &the_thread_parker; }

thread_census& thread_census::instance() noexcept {
  static thread_census census;
  return census;
}

// The census costs a lock and a vector operation around each futex sleep of a plain thread,
// which is already a system call; it is never on a path that does not sleep.
void thread_census::enter_park() noexcept {
  {
    std::lock_guard guard(parked_ids_lock_);
    if (parked_count_ < max_recorded) parked_ids_[parked_count_++] = static_cast<long>(::gettid());
  }
}

void thread_census::leave_park() noexcept {
  {
    std::lock_guard guard(parked_ids_lock_);
    const long self = static_cast<long>(::gettid());
    for (std::size_t i = 0; i < parked_count_; ++i) {
      if (parked_ids_[i] == self) {
        parked_ids_[i] = parked_ids_[--parked_count_];
        break;
      }
    }
  }
  wakes_.fetch_add(1, std::memory_order_relaxed);
}

bool thread_census::is_parked(long thread_id) const {
  std::lock_guard guard(parked_ids_lock_);
  for (std::size_t i = 0; i < parked_count_; ++i) {
    if (parked_ids_[i] == thread_id) return true;
  }
  return false;
}

parker& current_parker() noexcept { return current != nullptr ? *current : the_thread_parker; }

void set_current_parker(parker* p) noexcept { current = p; }

}  // namespace csp::detail
