// wake_stress_test.cpp: randomized stress of the scheduler's wake-ups from plain threads.
//
// Several plain threads, more than there are CPUs, make goroutines runnable from outside the
// workers, in rounds. In a round every thread, after a random pause (spinning, not sleeping),
// makes one goroutine runnable: it spawns one that answers it on a channel, or hands a value
// to a goroutine of its own that is parked in a receive, or spawns one that sleeps a few
// microseconds first, so that the timer thread wakes it; then it waits for the answer, and
// for the other threads at a barrier. So the wake-ups of a round race with each other and with
// the workers going idle after the last round, and after each round nothing else happens:
// a goroutine left runnable while every worker sleeps is not rescued by a later wake-up.
//
// The property: a goroutine made runnable always runs. Every wait for an answer is bounded; one
// that times out means a goroutine sat runnable while every worker slept, and fails the test
// with the seed and the scheduler's state (csp::scheduler_trace()).
//
// Written on 2026-12-01 for a lost wake-up (docs/runtime.md, "Lost wake-ups"): a waker that
// found no idle worker to wake held the "somebody is searching" count for a moment; other
// wakers, seeing it, left their goroutines to that searcher, which did not exist, while the
// workers went to sleep. The select stress test hung on it about one run in a hundred under
// qemu-aarch64. This test did not catch it: 0 hangs in 16 native runs and 86 runs under
// qemu-aarch64 of the unfixed build, in a variant that also put half its threads at
// SCHED_IDLE, for the kernel to preempt them in the middle of a wake-up. It guards the
// property for the wake-ups it makes.
//
// Environment: CSP_STRESS_SEED and CSP_STRESS_SECONDS as in channel_stress_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "csp/channel.hpp"
#include "csp/diagnostics.hpp"
#include "csp/go.hpp"
#include "csp/time.hpp"
#include "support/stress_environment.hpp"

namespace {

using std::chrono::steady_clock;

// How long an answer may take before the test calls its goroutine lost: far beyond any
// scheduling delay, even under a sanitizer or emulation.
constexpr auto answer_limit = std::chrono::seconds(20);

// Keeps the CPU for about `iterations` loop turns without a system call: long enough, at
// random, for the workers to run out of work and go idle.
void pause_spinning(std::uint64_t iterations) {
  std::atomic<std::uint64_t> turns{0};
  while (turns.fetch_add(1, std::memory_order_relaxed) < iterations) {
  }
}

struct outcome {
  std::uint64_t wakes = 0;
  std::string failure;  // empty while nothing went wrong
};

// Ends a round for every thread at once, and decides there, once for all, whether it was the
// last: threads that each read the clock after the barrier would disagree.
struct round_end {
  steady_clock::time_point deadline;
  std::atomic<bool>* last;
  void operator()() noexcept {
    if (steady_clock::now() >= deadline) last->store(true, std::memory_order_relaxed);
  }
};
using round_barrier = std::barrier<round_end>;

// One plain thread's part: one wake-up per round, each answered within answer_limit, until the
// last round. A thread that fails leaves the barrier, so the others run on to the end.
outcome wake_in_rounds(std::uint64_t seed, round_barrier& rounds, const std::atomic<bool>& last) {
  std::mt19937_64 random(seed);
  outcome result;
  csp::channel<std::uint64_t> answers;
  // A goroutine of this thread's that parks in a receive between wake-ups and answers each.
  // It holds only handles, by value: a thread that fails returns without waiting for it.
  csp::channel<std::uint64_t> requests;
  csp::channel<int> finished;
  csp::go([requests, answers, finished] {
    for (std::uint64_t value : requests) answers.send(value + 1);
    finished.close();
  });
  const auto lost = [&](const char* how, std::uint64_t value) {
    result.failure = std::string("no answer within ") + std::to_string(answer_limit.count()) +
                     " s to wake-up " + std::to_string(value) + " (" + how +
                     "): a runnable goroutine did not run\n" + csp::scheduler_trace() +
                     csp::goroutine_dump();
    rounds.arrive_and_drop();
    return result;
  };
  for (std::uint64_t value = 0; !last.load(std::memory_order_relaxed); ++value) {
    pause_spinning(random() % 4'000);
    switch (random() % 3) {
      case 0:  // a new goroutine, runnable from birth, made so by this thread
        csp::go([answers, value] { answers.send(value + 1); });
        break;
      case 1:  // a parked goroutine, made runnable by this thread's send
        if (!requests.send_for(value, answer_limit)) {
          return lost("parked goroutine, request", value);
        }
        break;
      default: {  // a goroutine that sleeps, made runnable by the timer thread
        const auto nap = std::chrono::microseconds(random() % 50);
        csp::go([answers, value, nap] {
          csp::sleep_for(nap);
          answers.send(value + 1);
        });
        break;
      }
    }
    const auto answer = answers.receive_for(answer_limit);
    if (!answer || *answer != value + 1) return lost("answer", value);
    ++result.wakes;
    rounds.arrive_and_wait();
  }
  requests.close();
  if (finished.receive_for(answer_limit).status != csp::channel_status::closed) {
    result.failure = "the parked goroutine did not finish after its channel closed\n" +
                     csp::scheduler_trace() + csp::goroutine_dump();
  }
  return result;
}

TEST(WakeStress, GoroutinesThatThreadsMakeRunnableAlwaysRun) {
  const std::uint64_t seed = csp::testing::stress_seed();
  const double budget = csp::testing::stress_seconds();
  csp::testing::announce_stress("WakeStress", seed, budget);
  std::mt19937_64 plan(seed);
  const unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
  const unsigned threads = cpus + 2 + static_cast<unsigned>(plan() % 3);
  std::atomic<bool> last{false};
  round_barrier rounds(
      static_cast<std::ptrdiff_t>(threads),
      round_end{steady_clock::now() + std::chrono::duration_cast<steady_clock::duration>(
                                          std::chrono::duration<double>(budget)),
                &last});
  std::vector<outcome> outcomes(threads);
  std::vector<std::thread> wakers;
  for (unsigned t = 0; t < threads; ++t) {
    const std::uint64_t thread_seed = plan();
    wakers.emplace_back([&outcomes, &rounds, &last, t, thread_seed] {
      outcomes[t] = wake_in_rounds(thread_seed, rounds, last);
    });
  }
  for (std::thread& waker : wakers) waker.join();
  std::uint64_t wakes = 0;
  for (const outcome& each : outcomes) {
    ASSERT_EQ(each.failure, "") << "seed " << seed;
    wakes += each.wakes;
  }
  std::cout << "[ stress   ] WakeStress: " << threads << " threads, " << wakes
            << " wake-ups in rounds, each answered" << std::endl;
}

}  // namespace
