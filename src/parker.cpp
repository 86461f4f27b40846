// parker.cpp: the OS-thread parker, and which parker the calling context uses.
#include "csp/detail/parker.hpp"

namespace csp::detail {
namespace {

// How long a thread polls its word before it sleeps. A partner that is running on another
// core usually answers within this window, and then the wake-up costs no system call on either
// side; one that is not running costs the waiter only this much CPU before the futex.
constexpr int spin_iterations = 100;

class os_thread_parker final : public parker {
 public:
  void park(std::atomic<std::uint32_t>& word, std::uint32_t observed,
            steady_time deadline) override {
    for (int i = 0; i < spin_iterations; ++i) {
      cpu_relax();
      if (word.load(std::memory_order_relaxed) != observed) return;
    }
    // Block the current thread, telling the next writer of the word to wake it.
    std::uint32_t sleeping = observed | sleeping_bit;
    if (sleeping != observed &&
        !word.compare_exchange_strong(observed, sleeping, std::memory_order_relaxed)) {
      return;
    }
    futex_wait(word, sleeping, deadline);
  }

  void unpark(std::atomic<std::uint32_t>& word) noexcept override { futex_wake_one(word); }
};

os_thread_parker the_thread_parker;
thread_local parker* current = nullptr;

}  // namespace

parker& thread_parker() noexcept { return the_thread_parker; }

parker& current_parker() noexcept { return current != nullptr ? *current : the_thread_parker; }

void set_current_parker(parker* p) noexcept { current = p; }

}  // namespace csp::detail
