// sieve_floor.cpp: the concurrent prime sieve (compare.cpp's, test/chan/sieve1.go's shape) on
// bare fibers, one thread, no locks and no atomics: how fast a hand-off can be on this machine
// when nothing but the hand-off is paid. It asks how far csp's hand-off (~80 ns on the AMD
// guest, docs/runtime.md "Stealing only a backlog") is from the floor that issue #4's sieve
// target (2x Go) needs (41-46 ns there).
//
// What it keeps from csp: csp_fiber_switch (the same assembly), one stack per goroutine of
// csp's default size (256 KiB, mmap'd, touched only where used), Go's runnext rule (the
// goroutine a hand-off readies runs next; the one it displaces is queued), and a rendezvous
// channel that hands the value straight to a waiting partner. What it drops: every lock,
// atomic and fence, the scheduler's bookkeeping (time slices, stealing, diagnostics, the
// canary), the waiter's state word, select, close, and other threads.
//
// Usage: sieve_floor [ROUNDS]   (default 9; each round prints the measured ms of one sieve,
// after an unmeasured warm-up round that faults the stacks in, as compare_csp's warm-up does)
// Built as build/release/bench/csp_sieve_floor (bench/CMakeLists.txt), or alone, as measured:
//   g++ -O2 -std=c++20 -Isrc bench/compare/experiments/sieve_floor.cpp
//       src/platform/fiber_switch_x86_64.S -o /tmp/sieve_floor   (one line)
// The loop behind bench/results/sieve-floor-2026-12-01amd.txt:
//   for i in $(seq 9); do echo "round $i"; echo "floor | $(/tmp/sieve_floor 1)";
//     echo "csp_2_workers | $(build/compare/compare_csp sieve)";
//     echo "csp_1_worker | $(CSP_MAXPROCS=1 build/compare/compare_csp sieve)";
//     echo "go_2_procs | $(build/compare/compare_go sieve)"; done
// Instructions and L1 misses per hand-off (callgrind's model, which ignores prefetches):
//   valgrind --tool=callgrind --cache-sim=yes /tmp/sieve_floor 1
//   CSP_MAXPROCS=1 valgrind --tool=callgrind --cache-sim=yes build/compare/compare_csp sieve
#include <sys/mman.h>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <vector>

#include "platform/fiber_switch.hpp"

namespace {

constexpr std::size_t stack_size = 256 * 1024;

struct fiber {
  void* sp = nullptr;
};

// The one thread's scheduler: runnext, then a FIFO queue, as csp's processor has.
struct scheduler {
  fiber* current = nullptr;
  fiber* runnext = nullptr;
  std::deque<fiber*> queue;
  void* idle_sp = nullptr;  // the thread's own stack, run when nothing is runnable

  void ready(fiber* f) {
    if (runnext != nullptr) queue.push_back(runnext);
    runnext = f;
  }
  // Blocks the current fiber: runs the next runnable one, or returns to the thread's stack.
  void block() {
    fiber* const self = current;
    fiber* next = runnext;
    if (next != nullptr) {
      runnext = nullptr;
    } else if (!queue.empty()) {
      next = queue.front();
      queue.pop_front();
    }
    if (next == nullptr) {
      current = nullptr;
      csp_fiber_switch(&self->sp, idle_sp);
    } else {
      current = next;
      csp_fiber_switch(&self->sp, next->sp);
    }
  }
};
scheduler the_scheduler;

// An unbuffered channel of int: at most one waiting party, since each channel here has one
// sender and one receiver.
struct channel {
  fiber* receiver = nullptr;
  int* receiver_slot = nullptr;
  fiber* sender = nullptr;
  int sender_value = 0;

  void send(int value) {
    if (receiver != nullptr) {
      *receiver_slot = value;
      fiber* const partner = receiver;
      receiver = nullptr;
      the_scheduler.ready(partner);
      return;
    }
    sender = the_scheduler.current;
    sender_value = value;
    the_scheduler.block();
  }
  int receive() {
    if (sender != nullptr) {
      const int value = sender_value;
      fiber* const partner = sender;
      sender = nullptr;
      the_scheduler.ready(partner);
      return value;
    }
    int value = 0;
    receiver = the_scheduler.current;
    receiver_slot = &value;
    the_scheduler.block();
    return value;
  }
};

// A task's closure lives at the top of its stack, as csp puts a goroutine's there.
struct task {
  void (*body)(task&);
  fiber self;
  channel* in = nullptr;
  channel* out = nullptr;
  int prime = 0;
};

[[noreturn]] void fiber_main(void* argument) {
  auto& t = *static_cast<task*>(argument);
  t.body(t);
  std::fprintf(stderr, "a fiber returned\n");
  std::abort();
}

// Stacks are reused round after round, in the same order, as csp's pool hands its warm stacks
// back out: a round's chain is left blocked and never runs again, so the next round may take
// its stacks. Only the warm-up round faults them in.
std::vector<std::byte*> stacks;
std::size_t stacks_used = 0;

std::byte* take_stack() {
  if (stacks_used == stacks.size()) {
    void* memory = ::mmap(nullptr, stack_size, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (memory == MAP_FAILED) {
      std::perror("mmap");
      std::exit(1);
    }
    stacks.push_back(static_cast<std::byte*>(memory));
  }
  return stacks[stacks_used++];
}

void spawn(void (*body)(task&), channel* in, channel* out, int prime) {
  std::byte* top = take_stack() + stack_size;
  top -= (sizeof(task) + 63) & ~std::size_t{63};
  auto* t = new (top) task{body, {}, in, out, prime};
  t->self.sp = csp::platform::prepare_fiber_stack(top, &fiber_main, t);
  the_scheduler.ready(&t->self);
}

void generate(task& t) {
  for (int i = 2;; ++i) t.out->send(i);
}

void filter(task& t) {
  for (;;) {
    const int i = t.in->receive();
    if (i % t.prime != 0) t.out->send(i);
  }
}

// The main goroutine: sieve_chain's loop and the collector in one, as sieve1.go's main is.
int result_prime = 0;
void sieve_main(task&) {
  constexpr int n = 2000;
  channel* ch = new channel;
  spawn(generate, nullptr, ch, 0);
  for (int i = 0; i < n; ++i) {
    const int prime = ch->receive();
    result_prime = prime;
    channel* next = new channel;
    spawn(filter, ch, next, prime);
    ch = next;
  }
  // Done: back to the thread for good (this fiber and its chain stay blocked, as Go's do).
  fiber* const self = the_scheduler.current;
  the_scheduler.current = nullptr;
  csp_fiber_switch(&self->sp, the_scheduler.idle_sp);
}

double run_once() {
  the_scheduler = scheduler{};
  stacks_used = 0;
  const auto start = std::chrono::steady_clock::now();
  spawn(sieve_main, nullptr, nullptr, 0);
  the_scheduler.current = the_scheduler.runnext;
  the_scheduler.runnext = nullptr;
  csp_fiber_switch(&the_scheduler.idle_sp, the_scheduler.current->sp);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (result_prime != 17389) {
    std::fprintf(stderr, "sieve_floor: 2000th prime %d\n", result_prime);
    std::exit(1);
  }
  return ms;
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 9;
  (void)run_once();  // warm-up: the first stacks fault in, as compare_csp's warm-up run does
  for (int round = 0; round < rounds; ++round) {
    std::printf("RESULT sieve floor %.3f ms\n", run_once());
  }
}
