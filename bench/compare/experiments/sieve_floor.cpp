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
// The ladder: options put back, one at a time, what a real hand-off pays once goroutines may
// run on several threads, so that each rung's price is measured on its own (docs/runtime.md,
// "The budget of a hand-off"):
//   --frames N          N more cache lines of stack between a parked fiber's saved stack
//                       pointer and its closure, written as it parks and read as it resumes
//                       (csp parks 12 lines below a goroutine's record, this program 3);
//   --lock              each channel operation takes the channel's lock: a CAS to take it and
//                       a release store to give it back, as csp's adaptive_mutex uncontended;
//   --runnext-exchange  the next fiber is taken out of runnext by an exchange, as csp's
//                       inherit_runnext() (Go's runqget: a CAS), since a thief may race for it;
//   --word              the partner publishes the outcome in the parked fiber's state word (a
//                       release store) and the fiber reads it as it resumes (an acquire load),
//                       as csp's waiter does;
//   --prefetch          the readied fiber's 16 lines above its saved stack pointer are
//                       prefetched, as csp's prefetch_frames() does for a cold goroutine.
//
// Usage: sieve_floor [ROUNDS] [OPTIONS]  (default 9 rounds; each round prints the measured ms
// of one sieve, after an unmeasured warm-up round that faults the stacks in, as compare_csp's
// warm-up does)
// Built as build/release/bench/csp_sieve_floor (bench/CMakeLists.txt), or alone, as measured:
//   g++ -O2 -std=c++20 -Isrc bench/compare/experiments/sieve_floor.cpp
//       src/platform/fiber_switch_x86_64.S -o /tmp/sieve_floor   (one line)
// The loop behind bench/results/sieve-floor-2026-12-01amd.txt:
//   for i in $(seq 9); do echo "round $i"; echo "floor | $(/tmp/sieve_floor 1)";
//     echo "csp_2_workers | $(build/compare/compare_csp sieve)";
//     echo "csp_1_worker | $(CSP_MAXPROCS=1 build/compare/compare_csp sieve)";
//     echo "go_2_procs | $(build/compare/compare_go sieve)"; done
// The ladder's loop is in the header of bench/results/sieve-ladder-2026-12-01amd.txt.
// Instructions and L1 misses per hand-off (callgrind's model, which ignores prefetches):
//   valgrind --tool=callgrind --cache-sim=yes /tmp/sieve_floor 1
//   CSP_MAXPROCS=1 valgrind --tool=callgrind --cache-sim=yes build/compare/compare_csp sieve
#include <sys/mman.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "platform/fiber_switch.hpp"

namespace {

constexpr std::size_t stack_size = 256 * 1024;

// The ladder's rungs (see the header), off unless asked for.
struct rungs {
  int frames = 0;
  bool lock = false;
  bool runnext_exchange = false;
  bool word = false;
  bool prefetch = false;
};
rungs ladder;

struct fiber {
  void* sp = nullptr;
  // The --word rung: 1 while parked in a channel, 2 once a partner completed it.
  std::atomic<unsigned> state{0};
};

// The one thread's scheduler: runnext, then a FIFO queue, as csp's processor has.
struct scheduler {
  fiber* current = nullptr;
  // Atomic for the --runnext-exchange rung only; one thread touches it.
  std::atomic<fiber*> runnext{nullptr};
  std::deque<fiber*> queue;
  void* idle_sp = nullptr;  // the thread's own stack, run when nothing is runnable

  void ready(fiber* f) {
    if (ladder.prefetch) {
      // As csp's prefetch_frames(): the lines from the saved stack pointer up, at most 16.
      const auto from = reinterpret_cast<std::uintptr_t>(f->sp);
      for (std::uintptr_t line = from; line < from + 16 * 64; line += 64) {
        __builtin_prefetch(reinterpret_cast<const void*>(line));
      }
    }
    fiber* const displaced = runnext.load(std::memory_order_relaxed);
    if (displaced != nullptr) queue.push_back(displaced);
    runnext.store(f, std::memory_order_relaxed);
  }
  // Blocks the current fiber: runs the next runnable one, or returns to the thread's stack.
  void block() {
    fiber* const self = current;
    fiber* next = runnext.load(std::memory_order_relaxed);
    if (next != nullptr) {
      if (ladder.runnext_exchange) {
        next = runnext.exchange(nullptr, std::memory_order_acq_rel);
      } else {
        runnext.store(nullptr, std::memory_order_relaxed);
      }
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

// Blocks the current fiber with `lines` more cache lines of its stack in use (--frames), each
// written before the switch and read after it, as a deeper chain of frames would be. alloca,
// not a fixed array: the switch saves its registers right below the lines in use, as it would
// below real frames, not a page further down.
[[gnu::noinline]] void block_with_frames(int lines) {
  auto* const frames = static_cast<volatile char*>(__builtin_alloca(std::size_t(lines) * 64));
  for (int i = 0; i < lines; ++i) frames[64 * i] = 1;
  the_scheduler.block();
  for (int i = 0; i < lines; ++i) (void)frames[64 * i];
}

// Parks the current fiber in a channel operation, paying the rungs asked for.
void park(fiber& self) {
  if (ladder.frames > 0) {
    block_with_frames(ladder.frames);
  } else {
    the_scheduler.block();
  }
  if (ladder.word && self.state.load(std::memory_order_acquire) != 2) {
    std::fprintf(stderr, "sieve_floor: resumed before its partner finished it\n");
    std::abort();
  }
}

// Completes a parked partner: publishes the outcome (--word) and makes it runnable.
void complete(fiber& partner) {
  if (ladder.word) partner.state.store(2, std::memory_order_release);
  the_scheduler.ready(&partner);
}

// An unbuffered channel of int: at most one waiting party, since each channel here has one
// sender and one receiver.
struct channel {
  std::atomic<bool> locked{false};  // the --lock rung
  void lock() {
    if (!ladder.lock) return;
    bool expected = false;
    while (!locked.compare_exchange_weak(expected, true, std::memory_order_acquire,
                                         std::memory_order_relaxed)) {
      expected = false;
    }
  }
  void unlock() {
    if (ladder.lock) locked.store(false, std::memory_order_release);
  }

  fiber* receiver = nullptr;
  int* receiver_slot = nullptr;
  fiber* sender = nullptr;
  int sender_value = 0;

  void send(int value) {
    lock();
    if (receiver != nullptr) {
      *receiver_slot = value;
      fiber* const partner = receiver;
      receiver = nullptr;
      unlock();
      complete(*partner);
      return;
    }
    fiber& self = *the_scheduler.current;
    sender = &self;
    sender_value = value;
    if (ladder.word) self.state.store(1, std::memory_order_relaxed);
    unlock();  // one thread: nobody can complete us before we park
    park(self);
  }
  int receive() {
    lock();
    if (sender != nullptr) {
      const int value = sender_value;
      fiber* const partner = sender;
      sender = nullptr;
      unlock();
      complete(*partner);
      return value;
    }
    fiber& self = *the_scheduler.current;
    int value = 0;
    receiver = &self;
    receiver_slot = &value;
    if (ladder.word) self.state.store(1, std::memory_order_relaxed);
    unlock();
    park(self);
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
  the_scheduler.current = nullptr;
  the_scheduler.runnext.store(nullptr, std::memory_order_relaxed);
  the_scheduler.queue.clear();
  stacks_used = 0;
  const auto start = std::chrono::steady_clock::now();
  spawn(sieve_main, nullptr, nullptr, 0);
  the_scheduler.current = the_scheduler.runnext.exchange(nullptr, std::memory_order_relaxed);
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
  int rounds = 9;
  std::string label = "floor";
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--frames" && i + 1 < argc && std::atoi(argv[i + 1]) >= 0 &&
        std::atoi(argv[i + 1]) <= 64) {
      ladder.frames = std::atoi(argv[++i]);
      label += "+frames" + std::to_string(ladder.frames);
    } else if (arg == "--lock") {
      ladder.lock = true;
      label += "+lock";
    } else if (arg == "--runnext-exchange") {
      ladder.runnext_exchange = true;
      label += "+xchg";
    } else if (arg == "--prefetch") {
      ladder.prefetch = true;
      label += "+prefetch";
    } else if (arg == "--word") {
      ladder.word = true;
      label += "+word";
    } else if (!arg.empty() && arg[0] != '-') {
      rounds = std::atoi(argv[i]);
    } else {
      std::fprintf(stderr,
                   "usage: sieve_floor [ROUNDS] [--frames N (0-64)] [--lock] "
                   "[--runnext-exchange] [--word] [--prefetch]\n");
      return 2;
    }
  }
  (void)run_once();  // warm-up: the first stacks fault in, as compare_csp's warm-up run does
  for (int round = 0; round < rounds; ++round) {
    std::printf("RESULT sieve %s %.3f ms\n", label.c_str(), run_once());
  }
}
