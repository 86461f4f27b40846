// scheduler.cpp: see scheduler.hpp for the design.
#include "scheduler.hpp"

#include <dirent.h>
#include <pthread.h>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <mutex>
#include <new>
#include <typeinfo>

#include "../platform/fiber_switch.hpp"
#include "csp/detail/timer_service.hpp"
#include "csp/detail/wake_batch.hpp"
#include "csp/diagnostics.hpp"
#include "csp/select.hpp"

#if defined(__GNUG__)
#include <cxxabi.h>
#endif

namespace csp::runtime {
namespace {

// The machine this thread is, if it is one. Read through machine_of_this_thread() only: an
// inlined thread_local read could be cached across a switch that moved the goroutine.
thread_local machine* this_machine = nullptr;

[[gnu::noinline]] machine* machine_of_this_thread() noexcept {
  machine* m = this_machine;
  asm volatile("" ::: "memory");
  return m;
}

// Adds one to a counter that only the calling machine writes (others may read it): a load and
// a store, not a locked read-modify-write, on paths that run at every spawn or hand-off.
template <class T>
void owner_increment(std::atomic<T>& counter, std::memory_order order) noexcept {
  counter.store(counter.load(std::memory_order_relaxed) + 1, order);
}

// The processor of the goroutine running on this thread, or null on a plain thread or on a
// machine's own stack between goroutines.
processor* running_processor() noexcept {
  machine* const m = machine_of_this_thread();
  return m != nullptr && m->owned != nullptr && m->current != nullptr ? m->owned : nullptr;
}

// The prefetch helpers below are always inlined: a function whose only effects are prefetches
// is pure to GCC, which deletes every call to it that it did not inline (GCC 12 at -O2 deletes
// calls to such a function, loop or no loop). Inlining is all that keeps them today.

// Starts loading a goroutine's record into the cache (every line of it: the scheduler reads
// its saved stack pointer, fiber, stack bounds, parker and status when it switches to it).
[[gnu::always_inline]] inline void prefetch_record(const goroutine& g) noexcept {
  const auto* bytes = reinterpret_cast<const char*>(&g);
  for (std::size_t offset = 0; offset < sizeof(goroutine); offset += 64) {
    __builtin_prefetch(bytes + offset);
  }
}

// Starts loading the frames a parked goroutine resumes through: from its saved stack pointer
// up to its record, at most 16 lines (a goroutine parked in a channel operation sits ~700 bytes
// deep). Called when it goes into runnext, some 100 ns before it runs: in a chain of goroutines
// (a sieve) every one of them is cold by then. A goroutine whose record stayed in its home
// (take_stack()) gets the 16 lines above its stack pointer.
[[gnu::always_inline]] inline void prefetch_frames(const goroutine& g) noexcept {
  if (g.sp == nullptr) return;  // not started, in a home: no frames yet
  const auto from = reinterpret_cast<std::uintptr_t>(g.sp);
  auto to = reinterpret_cast<std::uintptr_t>(&g);
  if (to - from > 16 * 64) to = from + 16 * 64;
  for (std::uintptr_t line = from; line < to; line += 64) {
    __builtin_prefetch(reinterpret_cast<const void*>(line));
  }
}

// The goroutines this thread readied inside its open wake_batch scopes (wake_batch.hpp). Only
// touched between a batch's start and end, which never switch goroutines, so the thread_local
// cannot be cached across a switch.
struct deferred_wakes {
  static constexpr std::size_t capacity = 128;
  goroutine* items[capacity];
  std::size_t count = 0;
  int depth = 0;
};
thread_local deferred_wakes deferred;

// Now by CLOCK_MONOTONIC_COARSE, in ns: the kernel's tick, read from the vDSO without the time
// stamp counter (~4 ns here), and precise enough for rules measured in time slices.
std::int64_t coarse_now_ns() noexcept {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
  return std::int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

// How long an idle machine keeps looking for work before it sleeps.
constexpr auto spin_duration = std::chrono::microseconds(20);
// How long everything must stay asleep before the deadlock detector reports.
constexpr auto deadlock_grace = std::chrono::milliseconds(100);
// How long a machine stays idle before it trims surplus stacks (see go_idle).
constexpr auto trim_delay = std::chrono::milliseconds(20);
// How long a chain of goroutines, each readied by the one before into runnext, may keep the
// queued goroutines waiting: Go's forcePreemptNS, after which sysmon preempts such a chain.
constexpr auto time_slice = std::chrono::milliseconds(10);
// How long a stealer waits before it takes another processor's runnext.
constexpr auto runnext_grace = std::chrono::microseconds(5);
// How long, on average, goroutines readied into a processor's runnext may wait there for the
// goroutine running before the watcher moves them (watch_processors()).
constexpr auto runnext_wait_grace = std::chrono::microseconds(10);
// How often the watching idle machine looks at the runnext slots: at first, and at most.
constexpr auto watch_interval_first = std::chrono::microseconds(50);
constexpr auto watch_interval_longest = std::chrono::milliseconds(1);
// How long a thief watches a queue before it judges it, and how long a backlog it leaves to
// the queue's owner (worth_stealing()).
constexpr auto steal_window = std::chrono::microseconds(20);
constexpr auto steal_grace = std::chrono::microseconds(20);
// How long an owner may start no goroutine at all before a thief takes its queue without
// waiting out the steal_window (worth_stealing()).
constexpr auto stuck_window = std::chrono::microseconds(5);
// How long a queue may wait untouched behind its owner's runnext chain before the watcher
// judges it a backlog however fast the owner runs (watch_processors()).
constexpr auto queue_patience = std::chrono::milliseconds(1);

int default_max_procs() {
  if (const char* text = std::getenv("CSP_MAXPROCS")) {
    const int n = std::atoi(text);
    if (n > 0) return n;
  }
  // The CPUs this process may run on, as Go's GOMAXPROCS default: under `taskset -c 0` a
  // second worker would only time-slice with the first.
  return detail::allowed_cpu_count();
}

// The first code a new goroutine runs, on its own stack.
[[noreturn]] void goroutine_main(void* argument) {
  auto& g = *static_cast<goroutine*>(argument);
  scheduler::resumed(g);
  try {
    g.closure->run();
  } catch (...) {
    die_of_exception(g, std::current_exception());
  }
  g.closure->~task();
  g.closure = nullptr;
  scheduler::switch_to_scheduler(g, request::kind::exit);
  std::abort();  // an exited goroutine is never resumed
}

// The top bytes of every stack hold its occupant word for the registry (registry.hpp), in the
// cache line of the goroutine record just below it.
constexpr std::size_t occupant_word_space = alignof(std::max_align_t);
// How many goroutines may wait in homes while other workers could run them (spawn()).
constexpr std::size_t homes_beside_other_workers = 2 * record_pool<goroutine>::homes_per_chunk;
// What take_stack() keeps below the record for a closure moved out of a home.
constexpr std::size_t closure_room_on_stack =
    (record_pool<goroutine>::closure_capacity + 63) & ~std::size_t{63};
[[maybe_unused]] goroutine** occupant_word(const stack& s) noexcept {
  return reinterpret_cast<goroutine**>(s.top() - sizeof(goroutine*));
}

// Where a goroutine's record goes on its stack: just below the occupant word, a cache line apart.
std::byte* record_place(const stack& s) noexcept {
  return reinterpret_cast<std::byte*>(
      reinterpret_cast<std::uintptr_t>(s.top() - occupant_word_space - sizeof(goroutine)) &
      ~std::uintptr_t{alignof(goroutine) - 1});
}

// Makes `g`'s first switch run it on `s`, its frames starting below `frames_top`.
void prepare_first_switch(goroutine& g, const stack& s, std::byte* frames_top) noexcept {
  std::byte* const sp_top = reinterpret_cast<std::byte*>(
      reinterpret_cast<std::uintptr_t>(frames_top) & ~std::uintptr_t{63});
  g.sp = platform::prepare_fiber_stack(sp_top, &goroutine_main, &g);
  g.fiber.stack_bottom = s.bottom;
  g.fiber.stack_size = s.size;
  g.fiber.tsan_fiber = create_tsan_fiber();
  register_stack_root(s.bottom, s.size);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The goroutine parker.

void goroutine_parker::park(std::atomic<std::uint32_t>& word, std::uint32_t observed,
                            detail::steady_time) {
  scheduler::switch_to_scheduler(goroutine_, request::kind::park, &word, observed);
}

void goroutine_parker::park_unlocking(std::atomic<std::uint32_t>& word, std::uint32_t observed,
                                      detail::adaptive_mutex& lock) CSP_NO_THREAD_SAFETY_ANALYSIS {
  scheduler::switch_to_scheduler(goroutine_, request::kind::park_unlocking, &word, observed, &lock);
}

void goroutine_parker::note_wait(const detail::wait_reason& reason) noexcept {
  goroutine_.reason.store(reason.what, std::memory_order_relaxed);
  goroutine_.reason_element.store(reason.element, std::memory_order_relaxed);
  goroutine_.reason_capacity.store(reason.capacity, std::memory_order_relaxed);
  goroutine_.reason_cases.store(reason.cases, std::memory_order_relaxed);
}

bool goroutine_parker::polls_before_blocking() const noexcept {
  return detail::several_cpus() && scheduler::instance().nothing_else_to_run();
}

void goroutine_parker::unpark(std::atomic<std::uint32_t>&) noexcept {
  // Only the party that took the sleeping bit out of the word wakes the goroutine, once, and
  // the goroutine's machine marked it waiting before it put the bit in (finish_request): a
  // second wake-up, or one of a goroutine that is still running, would run it on two machines.
  assert(goroutine_.status.load(std::memory_order_relaxed) == goroutine_status::waiting);
  scheduler::instance().ready(goroutine_);
}

// ---------------------------------------------------------------------------------------------
// Start-up, spawning, readying.

scheduler& scheduler::instance() {
  // Never destroyed: machines may still sleep in it while the process exits.
  static scheduler* const the_scheduler = new scheduler();
  return *the_scheduler;
}

scheduler::scheduler() { set_max_procs(default_max_procs()); }

goroutine* scheduler::current_goroutine() noexcept {
  machine* m = machine_of_this_thread();
  return m == nullptr ? nullptr : m->current;
}

void scheduler::spawn(go_options&& options, task* (*place)(void* where, void* arg),
                      std::size_t closure_size, void* arg) {
  // The spawning goroutine cannot move to another machine before this returns (nothing here
  // parks), so its processor's stack cache is its own meanwhile.
  machine* const m = machine_of_this_thread();
  processor* const owner = m != nullptr ? m->owned : nullptr;
  stack_cache* const cache = owner != nullptr ? &owner->stacks : nullptr;
  stack s;
  if (cache == nullptr || !stack_pool::instance().allocate_warm(*cache, s)) {
    // No warm stack at hand: the next one would be a page fault here, and again for every
    // goroutine spawned before one of them runs and gives a stack back. Spawn it without one,
    // in a home: always at one worker, where none of them runs before the spawner blocks; with
    // more, only while few wait in homes. There other workers run goroutines as they come,
    // and a spawner that outran them (a home costs it 0.1 us, a fault 12-27 us on this VM)
    // would leave a million goroutines each holding a home and, once run, a stack: 1,000,000
    // parked took 4,602 bytes each at peak instead of 4,193. Taking the fault itself paces the
    // spawner to the workers that run its goroutines.
    if (owner != nullptr && closure_size <= record_pool<goroutine>::closure_capacity &&
        (options.stack_size == 0 || options.stack_size == default_stack_size()) &&
        (active_procs_.load(std::memory_order_relaxed) == 1 ||
         homes_.out() < homes_beside_other_workers)) {
      spawn_in_home(options, place, arg, *m);
      return;
    }
    s = stack_pool::instance().allocate(options.stack_size, cache);
  }
#if !defined(CSP_NO_GOROUTINE_RECORDS)
  if (!s.registered) [[unlikely]] {
    try {
      registry_.reserve(s.id, occupant_word(s));
    } catch (...) {
      stack_pool::instance().release(s);
      throw;
    }
    s.registered = true;
  }
#endif
  // The goroutine record and its closure live at the top of its own stack: one allocation.
  std::byte* const top = record_place(s);
#if !defined(CSP_NO_GOROUTINE_RECORDS)
  auto* g = new (top) goroutine(s, std::move(options.name));
#else
  auto* g = new (top) goroutine(s, {});
#endif
  std::byte* closure_at = top - ((closure_size + 63) & ~std::size_t{63});
  try {
    g->closure = place(closure_at, arg);
  } catch (...) {
    g->~goroutine();
    stack_pool::instance().release(s);
    throw;
  }
  prepare_first_switch(*g, s, closure_at);
  g->id = take_id(m);
#if !defined(CSP_NO_GOROUTINE_RECORDS)  // off only in the build that measures what this costs
  g->site = options.site;
  registry<goroutine>::enter(occupant_word(s), g);
#endif
  ready(*g);
}

// A goroutine whose record and closure go into a home from the record pool; its stack comes
// when it first runs (start_running()).
void scheduler::spawn_in_home([[maybe_unused]] go_options& options,
                              task* (*place)(void* where, void* arg), void* arg, machine& m) {
  std::byte* const home = homes_.allocate(m.owned->homes);
#if !defined(CSP_NO_GOROUTINE_RECORDS)
  auto* g = new (home) goroutine(stack{}, std::move(options.name));
#else
  auto* g = new (home) goroutine(stack{}, {});
#endif
  g->in_home = true;
  try {
    g->closure = place(record_pool<goroutine>::closure_of(home), arg);
  } catch (...) {
    g->~goroutine();
    homes_.release(home, &m.owned->homes);
    throw;
  }
  g->id = take_id(&m);
#if !defined(CSP_NO_GOROUTINE_RECORDS)
  g->site = options.site;
  registry<goroutine>::enter(record_pool<goroutine>::occupant(home), g);
#endif
  ready(*g);
}

// Gives a goroutine that waited to run in a home its stack, as it is about to run for the first
// time, and moves its record and closure onto the stack's top, as go() would have put them: the
// home is free again at once (so a goroutine that runs and then parks holds one page, not a page
// and a home), and its record shares a page with the frames its hand-offs touch. A closure whose
// move could throw, or a stack the registry has no room for, leaves the goroutine in its home
// for life (destroy() gives the home back).
goroutine& scheduler::take_stack(machine& m, goroutine& g) noexcept {
  stack_cache* const cache = m.owned != nullptr ? &m.owned->stacks : nullptr;
  stack s;
  try {
    s = stack_pool::instance().allocate(0, cache);
  } catch (const std::bad_alloc&) {
    // Go's "runtime: out of memory" is fatal too; go() itself throws only while the goroutine
    // has not been made.
    std::fprintf(stderr, "fatal error: out of memory: no stack for goroutine %llu\n",
                 static_cast<unsigned long long>(g.id));
    std::_Exit(2);
  }
  goroutine* run = &g;
  // Below the stack's occupant word: on a stack that does not hold the record, it stays null.
  std::byte* frames_top = s.top() - occupant_word_space;
  bool registered = true;
#if !defined(CSP_NO_GOROUTINE_RECORDS)
  if (!s.registered) {
    try {
      registry_.reserve(s.id, occupant_word(s));
      s.registered = true;
    } catch (const std::bad_alloc&) {
      registered = false;
    }
  }
#endif
  if (registered) {
    std::byte* const record_at = record_place(s);
    std::byte* const closure_at = record_at - closure_room_on_stack;
    if (task* const moved = g.closure->relocate(closure_at)) {
      std::byte* const home = reinterpret_cast<std::byte*>(&g);
#if !defined(CSP_NO_GOROUTINE_RECORDS)
      // Out of the home's word before its name moves (a dump reads it), into the stack's once
      // the new record is whole: a dump meanwhile misses it for a moment.
      registry_.leave(record_pool<goroutine>::occupant(home));
#endif
      auto* r = new (record_at) goroutine(s, std::move(g.name));
      r->closure = moved;
      r->id = g.id;
      r->site = g.site;
#if !defined(CSP_NO_GOROUTINE_RECORDS)
      registry<goroutine>::enter(occupant_word(s), r);
#endif
      g.~goroutine();
      homes_.release(home, m.owned != nullptr ? &m.owned->homes : nullptr);
      run = r;
      frames_top = closure_at;
    }
  }
  run->stack_memory = s;
  prepare_first_switch(*run, s, frames_top);
  return *run;
}

std::uint64_t scheduler::take_id(machine* m) noexcept {
  if (m == nullptr || m->owned == nullptr) {
    foreign_spawned_.fetch_add(1, std::memory_order_release);
    return next_id_.fetch_add(1, std::memory_order_relaxed);
  }
  processor& p = *m->owned;
  if (p.next_id == p.id_limit) {
    p.next_id = next_id_.fetch_add(id_batch, std::memory_order_relaxed);
    p.id_limit = p.next_id + id_batch;
  }
  // Only this machine writes the count: an increment without a locked instruction.
  owner_increment(p.spawned, std::memory_order_release);
  return p.next_id++;
}

bool scheduler::nothing_else_to_run() const noexcept {
  const processor* const p = running_processor();
  return p != nullptr && p->runnext.load(std::memory_order_relaxed) == nullptr &&
         p->size_hint.load(std::memory_order_relaxed) == 0 &&
         global_size_.load(std::memory_order_relaxed) == 0;
}

std::string scheduler::trace() const {
  const auto relaxed = std::memory_order_relaxed;
  std::string text;
  char line[256];
  std::snprintf(line, sizeof line,
                "sched: max_procs=%d idle_machines=%d spinning=%d watcher=%d global_queue=%zu "
                "(fresh %zu) live_goroutines=%lld run_depth=%d blocking_calls=%ld\n",
                active_procs_.load(relaxed), idle_count_.load(relaxed), spinning_.load(relaxed),
                watcher_.load(relaxed), global_size_.load(relaxed),
                global_fresh_size_.load(relaxed), static_cast<long long>(live_goroutines()),
                run_depth_.load(relaxed), blocking_calls.load(relaxed));
  text += line;
  const int count = processor_count_.load(std::memory_order_acquire);
  for (int i = 0; i < count; ++i) {
    const processor& p = *processors_[i];
    std::snprintf(line, sizeof line,
                  "  P%d: %s, may_run=%u, runnext=%s, queued=%zu, executions=%llu, "
                  "local_pops=%llu\n",
                  p.index, p.active.load(relaxed) ? "active" : "retired", p.may_run.load(relaxed),
                  p.runnext.load(relaxed) != nullptr ? "set" : "empty", p.size_hint.load(relaxed),
                  static_cast<unsigned long long>(p.executions.load(relaxed)),
                  static_cast<unsigned long long>(p.local_pops.load(relaxed)));
    text += line;
  }
  return text;
}

std::int64_t scheduler::live_goroutines() const noexcept {
  // Exits first, then spawns: a goroutine counted as exited was counted as spawned before it
  // ran (its spawn happens before its exit), so the difference never falls below the truth.
  const int count = processor_count_.load(std::memory_order_acquire);
  std::int64_t exited = foreign_exited_.load(std::memory_order_acquire);
  for (int i = 0; i < count; ++i) exited += processors_[i]->exited.load(std::memory_order_acquire);
  std::int64_t spawned = foreign_spawned_.load(std::memory_order_acquire);
  for (int i = 0; i < count; ++i) {
    spawned += processors_[i]->spawned.load(std::memory_order_acquire);
  }
  return spawned - exited;
}

void scheduler::ready(goroutine& g) {
  g.status.store(goroutine_status::runnable, std::memory_order_relaxed);
  if (deferred.depth > 0 && g.locked_to == nullptr) {
    if (deferred.count == deferred_wakes::capacity) flush_deferred();
    deferred.items[deferred.count++] = &g;
    return;
  }
  ready_now(g);
}

void scheduler::flush_deferred() {
  const std::size_t count = deferred.count;
  deferred.count = 0;
  if (count == 1) {
    ready_now(*deferred.items[0]);
    return;
  }
  if (processor* const p = running_processor()) {
    local_push_batch(*p, deferred.items, count);
  } else {
    global_push_batch(deferred.items, count);
  }
  wake_idle_machine();
}

void scheduler::ready_now(goroutine& g) {
  if (g.locked_to != nullptr) {
    // A locked goroutine runs only on its own machine.
    machine& owner = *g.locked_to;
    owner.solo_word.store(1, std::memory_order_release);
    detail::futex_wake_one(owner.solo_word);
    return;
  }
  if (processor* const running = running_processor()) {
    processor& p = *running;
    owner_increment(p.runnext_generation, std::memory_order_relaxed);  // stealers read it
    // Only a goroutine that has not run for a while: a partner that ran a switch ago (a
    // ping-pong) is cached, and the prefetches would be its hand-off's cost (8%).
    if (static_cast<std::uint32_t>(p.executions.load(std::memory_order_relaxed)) - g.last_run > 8) {
      prefetch_frames(g);
    }
    // Into an empty slot with a plain store: only the owner fills runnext and stealers only
    // empty it, so a slot the owner sees empty stays empty until the owner writes. Only a
    // displacement needs the exchange, which may race with a stealer's CAS.
    // The store is not ordered before the reads of watcher_ and idle_count_ below, so a
    // machine going idle at this instant may miss the push and we may miss its announcement.
    // The goroutine is not lost: that machine then becomes the watcher (watcher_ was 0 when
    // we read it, so it finds none), or another machine already watches, and the watcher takes
    // a runnext that sits unchanged for an interval (50 us to 1 ms) behind a running
    // goroutine, which is what happens to it when the watcher is seen too; a watcher that stops
    // while this machine may run wakes another (stop_watching). The exchange cost a locked
    // instruction at every hand-off, 10% of a goroutine ping-pong.
    goroutine* displaced = p.runnext.load(std::memory_order_relaxed);
    if (displaced == nullptr) {
      p.runnext.store(&g, std::memory_order_release);
    } else {
      displaced = p.runnext.exchange(&g, std::memory_order_seq_cst);
    }
    if (displaced != nullptr) {
      // last_run is on the displaced record's first line, which its own ready touched a moment
      // ago (it went into runnext): usually still cached, unlike a flag on a colder line.
      if (displaced->last_run == goroutine::never_ran) {
        fresh_push(p, *displaced);
      } else {
        local_push(p, *displaced);
        // A goroutine that has run before, queued behind the running one: the watcher judges
        // the queue as a thief would (watch_processors()). A futex wake per displacement kept
        // the idle machine spinning in vain at every hand-off of a runnext chain (the sieve).
        if (watcher_.load(std::memory_order_seq_cst) != 0) return;
      }
    } else if (watcher_.load(std::memory_order_seq_cst) != 0) {
      // Only g waits, and only for the running goroutine, which usually blocks within
      // nanoseconds and runs g next: the watcher covers the case where it runs on
      // (scheduler.hpp). A futex wake here cost a ping-pong on two workers 30%.
      return;
    }
  } else {
    global_push(g);
  }
  wake_idle_machine();
}

// ---------------------------------------------------------------------------------------------
// Queues.

void scheduler::global_push(goroutine& g) {
  goroutine* const one = &g;
  global_push_batch(&one, 1);
}

void scheduler::goroutine_ring::push(goroutine* const* batch, std::size_t n) {
  if (count + n > slots.size()) {
    // Grow to a power of two, unwrapping the ring. Rare: the ring keeps its size.
    std::size_t size = std::max<std::size_t>(slots.size() * 2, 256);
    while (size < count + n) size *= 2;
    std::vector<goroutine*> grown(size);
    for (std::size_t i = 0; i < count; ++i) grown[i] = slots[(head + i) & (slots.size() - 1)];
    slots.swap(grown);
    head = 0;
  }
  const std::size_t mask = slots.size() - 1;
  for (std::size_t i = 0; i < n; ++i) slots[(head + count + i) & mask] = batch[i];
  count += n;
}

goroutine* scheduler::goroutine_ring::pop(std::size_t n, goroutine** rest) {
  const std::size_t mask = slots.size() - 1;
  goroutine* const first = slots[head];
  for (std::size_t i = 1; i < n; ++i) rest[i - 1] = slots[(head + i) & mask];
  head = (head + n) & mask;
  count -= n;
  return first;
}

void scheduler::global_push_batch(goroutine* const* batch, std::size_t count, bool fresh) {
  {
    detail::lock_guard guard(global_lock_);
    goroutine_ring& ring = fresh ? global_fresh_ring_ : global_ring_;
    ring.push(batch, count);
    if (fresh) global_fresh_size_.store(ring.count, std::memory_order_relaxed);
  }
  global_size_.fetch_add(count, std::memory_order_seq_cst);
}

// Takes one goroutine from the global queue, and moves a batch more into `into`'s queue. When
// only spilled fresh goroutines wait, and `into` is given (its queues ran dry), a batch of them
// goes into its fresh queue.
goroutine* scheduler::global_pop(processor* into) {
  if (global_size_.load(std::memory_order_seq_cst) == 0) return nullptr;
  goroutine* batch[processor::queue_capacity / 2];
  std::size_t taken = 0;
  bool fresh = false;
  goroutine* first = nullptr;
  {
    detail::lock_guard guard(global_lock_);
    fresh = global_ring_.count == 0;
    if (fresh && (into == nullptr || global_fresh_ring_.count == 0)) return nullptr;
    goroutine_ring& ring = fresh ? global_fresh_ring_ : global_ring_;
    const int procs = std::max(1, active_procs_.load(std::memory_order_relaxed));
    // Go's globrunqget: a fair share for this processor, at most what there is and what fits.
    const std::size_t want =
        into == nullptr ? 1 : std::min({ring.count / procs + 1, ring.count, std::size(batch) + 1});
    first = ring.pop(want, batch);
    taken = want - 1;
    if (fresh) global_fresh_size_.store(ring.count, std::memory_order_relaxed);
    global_size_.fetch_sub(want, std::memory_order_seq_cst);
  }
  if (taken != 0 && !fresh) local_push_batch(*into, batch, taken);
  if (taken != 0 && fresh) {
    // How long they waited is not known: as if queued now, first come first (the newest last).
    std::int64_t since[std::size(batch)];
    std::fill_n(since, taken, coarse_now_ns());
    fresh_push_batch(*into, batch, since, taken);
  }
  return first;
}

// The aged pick for spilled fresh goroutines (local_pop() has the one for the fresh queue; both
// share the processor's once a slice): the oldest of them, which are older than any in a fresh
// queue, so that a processor that never runs dry cannot leave them waiting for ever.
// find_runnable() calls it only every 8th slice, or when the slice is over (a pair that readies
// each other holds the worker: then the queues get a turn once a slice, and so does this): a
// call at every pass through find_runnable() that runnext did not answer cost spawn 5-9%, paired
// over 21-25 alternated runs, and as much when it returned at once (12%): the call, not its
// work. Inlined, the test costs nothing measurable. And the count of spilled goroutines, which
// shares a line with the global queue's counts, is read once a slice per processor.
goroutine* scheduler::aged_global_fresh(processor& p) {
  const std::int64_t now = coarse_now_ns();
  constexpr std::int64_t slice = std::chrono::nanoseconds(time_slice).count();
  if (now - p.spilled_check < slice) return nullptr;
  p.spilled_check = now;
  if (global_fresh_size_.load(std::memory_order_relaxed) == 0) return nullptr;
  if (now - p.aged_pick < slice) return nullptr;
  goroutine* g = nullptr;
  {
    detail::lock_guard guard(global_lock_);
    if (global_fresh_ring_.count == 0) return nullptr;
    g = global_fresh_ring_.pop(1, nullptr);
    global_fresh_size_.store(global_fresh_ring_.count, std::memory_order_relaxed);
    global_size_.fetch_sub(1, std::memory_order_seq_cst);
  }
  p.aged_pick = now;
  return g;
}

// Queues what fits in `p`'s queue under one lock; the rest goes to the global queue.
void scheduler::local_push_batch(processor& p, goroutine* const* batch, std::size_t count) {
  std::size_t placed = 0;
  {
    detail::lock_guard guard(p.lock);
    placed = std::min(count, processor::queue_capacity - p.count);
    for (std::size_t i = 0; i < placed; ++i) {
      p.queue[(p.head + p.count) % processor::queue_capacity] = batch[i];
      ++p.count;
    }
    p.size_hint.store(p.count, std::memory_order_seq_cst);
  }
  if (placed < count) global_push_batch(batch + placed, count - placed);
}

void scheduler::local_push(processor& p, goroutine& g) {
  goroutine* overflow[processor::queue_capacity / 2 + 1];
  std::size_t spilled = 0;
  {
    detail::lock_guard guard(p.lock);
    if (p.count == processor::queue_capacity) {
      // Full: move half of it, and g, to the global queue (Go's runqputslow).
      for (std::size_t i = 0; i < processor::queue_capacity / 2; ++i) {
        overflow[spilled++] = p.queue[p.head];
        p.head = (p.head + 1) % processor::queue_capacity;
        --p.count;
      }
      overflow[spilled++] = &g;
    } else {
      p.queue[(p.head + p.count) % processor::queue_capacity] = &g;
      ++p.count;
    }
    p.size_hint.store(p.count, std::memory_order_seq_cst);
  }
  if (spilled != 0) global_push_batch(overflow, spilled);
}

// Queues a goroutine that never ran at the fresh queue's newest end. Full: its oldest half
// goes to the global queue, as local_push() spills.
void scheduler::fresh_push(processor& p, goroutine& g) {
  const std::int64_t now = coarse_now_ns();
  goroutine* overflow[processor::queue_capacity / 2];
  std::size_t spilled = 0;
  {
    detail::lock_guard guard(p.lock);
    if (p.fresh_count == processor::queue_capacity) {
      for (; spilled < processor::queue_capacity / 2; ++spilled) {
        overflow[spilled] = p.fresh[p.fresh_head];
        p.fresh_head = (p.fresh_head + 1) % processor::queue_capacity;
        --p.fresh_count;
      }
    }
    const std::size_t slot = (p.fresh_head + p.fresh_count) % processor::queue_capacity;
    p.fresh[slot] = &g;
    p.fresh_since[slot] = now;
    ++p.fresh_count;
    p.size_hint.store(p.count + p.fresh_count, std::memory_order_seq_cst);
  }
  if (spilled != 0) global_push_batch(overflow, spilled, true);
}

// Queues a goroutine that yielded behind everything `p` holds, so that all of it runs before
// the yielder does again (Go's Gosched, which uses the global queue). While fresh goroutines wait,
// that is the fresh queue's oldest end, not the local queue's tail: the local queue goes
// first, so a goroutine yielding in a loop there would keep every fresh one waiting (for a time
// slice each). It takes the oldest one's time of queuing, so that it neither delays nor
// hastens the aged pick (local_pop()).
void scheduler::yield_push(processor& p, goroutine& g) {
  {
    detail::lock_guard guard(p.lock);
    if (p.fresh_count != 0 && p.fresh_count < processor::queue_capacity) {
      const std::int64_t since = p.fresh_since[p.fresh_head];
      p.fresh_head = (p.fresh_head + processor::queue_capacity - 1) % processor::queue_capacity;
      p.fresh[p.fresh_head] = &g;
      p.fresh_since[p.fresh_head] = since;
      p.fresh_yielder = &g;
      ++p.fresh_count;
      p.size_hint.store(p.count + p.fresh_count, std::memory_order_seq_cst);
      return;
    }
  }
  local_push(p, g);
}

// Queues fresh goroutines, oldest first, keeping when each was first queued; what does not fit
// goes to the global queue.
void scheduler::fresh_push_batch(processor& p, goroutine* const* batch, const std::int64_t* since,
                                 std::size_t count) {
  std::size_t placed = 0;
  {
    detail::lock_guard guard(p.lock);
    placed = std::min(count, processor::queue_capacity - p.fresh_count);
    for (std::size_t i = 0; i < placed; ++i) {
      const std::size_t slot = (p.fresh_head + p.fresh_count) % processor::queue_capacity;
      p.fresh[slot] = batch[i];
      p.fresh_since[slot] = since[i];
      ++p.fresh_count;
    }
    p.size_hint.store(p.count + p.fresh_count, std::memory_order_seq_cst);
  }
  if (placed < count) global_push_batch(batch + placed, count - placed, true);
}

// The owner's next goroutine from its queues: goroutines that have run first, in the order they
// were queued, then the newest fresh one. Newest first is depth first: a goroutine that spawns
// children and waits for them has its subtree finished before its siblings start, so a tree of
// a million goroutines (skynet) keeps a few hundred alive instead of tens of thousands, each
// with a stack to fault in. Goroutines that ran go first so that the work in progress finishes
// before new work starts (it frees memory; new work takes it), and so that a spawner cannot keep
// them waiting. What newest first alone would allow, an old fresh goroutine waiting as long as
// newer ones come, the aged pick bounds: once a time slice (10 ms) the oldest fresh goroutine runs
// ahead of every other if it waited longer than a slice. Once a slice, not all that waited that
// long: in a tree every opened old sibling stays open until its whole subtree is done, and
// opening them all would be breadth first again. Thieves take the oldest (steal()).
goroutine* scheduler::local_pop(processor& p) {
  if (p.size_hint.load(std::memory_order_relaxed) == 0) return nullptr;
  detail::lock_guard guard(p.lock);
  goroutine* g = nullptr;
  if (p.fresh_count != 0) {
    const std::int64_t now = coarse_now_ns();
    constexpr std::int64_t slice = std::chrono::nanoseconds(time_slice).count();
    const bool aged = now - p.fresh_since[p.fresh_head] >= slice && now - p.aged_pick >= slice;
    // A yielder at the oldest end is passed over once (p.fresh_yielder); alone there, it waits
    // its turn behind the local queue.
    const bool yielder_first = aged && p.fresh[p.fresh_head] == p.fresh_yielder;
    if (aged && (!yielder_first || p.fresh_count > 1)) {
      p.aged_pick = now;
      g = p.fresh[p.fresh_head];
      if (yielder_first) {
        // The yielder keeps the oldest end and its time there, so that it runs no earlier
        // than it would have; the one behind it, no older, takes this turn.
        const std::size_t next = (p.fresh_head + 1) % processor::queue_capacity;
        g = p.fresh[next];
        p.fresh[next] = p.fresh[p.fresh_head];
        p.fresh_since[next] = p.fresh_since[p.fresh_head];
      }
      p.fresh_yielder = nullptr;
      p.fresh_head = (p.fresh_head + 1) % processor::queue_capacity;
      --p.fresh_count;
    } else if (p.count == 0) {
      g = p.fresh[(p.fresh_head + p.fresh_count - 1) % processor::queue_capacity];
      --p.fresh_count;
    }
  }
  if (g == nullptr) {
    if (p.count == 0) return nullptr;
    g = p.queue[p.head];
    p.head = (p.head + 1) % processor::queue_capacity;
    --p.count;
  }
  p.size_hint.store(p.count + p.fresh_count, std::memory_order_seq_cst);
  owner_increment(p.local_pops, std::memory_order_relaxed);
  // The next one's record, so that its first touch when it runs does not wait for memory:
  // every record sits at the top of its own stack, a page of its own, and after a burst of
  // spawns it is neither cached nor in the TLB. That first touch was 15% of skynet's samples.
  // And the frames it resumes through: a queue filled by a wake_batch (a close, a cancel) is
  // thousands of goroutines that last ran long ago, run back to back (A/B: cancel 0.81-0.86x,
  // parked 0.64-0.81x, skynet 0.97x). The queue's lock keeps it from running meanwhile, so its
  // `sp` holds.
  goroutine* const next =
      p.count != 0         ? p.queue[p.head]
      : p.fresh_count != 0 ? p.fresh[(p.fresh_head + p.fresh_count - 1) % processor::queue_capacity]
                           : nullptr;
  if (next != nullptr) {
    prefetch_record(*next);
    prefetch_frames(*next);
  }
  return g;
}

// Whether `victim`'s queue is worth stealing from: its owner would not get through it within
// steal_grace at the rate it ran goroutines while `thief` watched (at least steal_window; every
// run counts, runnext's included: an owner walking a runnext chain of short runs is not stuck,
// and the watcher's queue_patience bounds how long its queue waits). A
// producer/consumer group whose goroutines take turns on one worker keeps a short queue that
// its owner serves within a microsecond: stealing from it only moves the group's goroutines
// between cores, and every hand-off then crosses them (the mpsc and mpmc workloads ran 6-10x
// slower for it). A worker stuck in a long goroutine serves nothing, and a long queue of short
// goroutines takes longer than the grace to drain: both are stolen from after one window.
bool scheduler::worth_stealing(processor& thief, const processor& victim, std::size_t queued,
                               detail::steady_time now) {
  if (thief.watches.size() <= static_cast<std::size_t>(victim.index)) {
    try {
      thief.watches.resize(static_cast<std::size_t>(victim.index) + 1);
    } catch (const std::bad_alloc&) {
      return true;  // no room to watch: steal as plain work stealing does
    }
  }
  processor::queue_watch& watch = thief.watches[static_cast<std::size_t>(victim.index)];
  const auto watched = now - watch.since;
  if (watched < steal_window) {
    // An owner that has started no goroutine at all for stuck_window is inside a long one
    // (or its thread lost its core): it serves nothing before that one ends, so waiting out
    // the window would only keep this worker idle. A group taking turns starts one every
    // microsecond or so, and keeps its queue.
    return watched >= stuck_window &&
           victim.executions.load(std::memory_order_relaxed) == watch.runs;
  }
  const std::uint64_t runs = victim.executions.load(std::memory_order_relaxed);
  const std::uint64_t served = runs - watch.runs;
  watch = {runs, now};
  // A watch left over from long ago says nothing about the queue now: start again.
  if (watched > 4 * steal_window) return false;
  // In durations, not counts: the counts of a nanosecond `watched` against a microsecond
  // grace made every queue that was not served a thousand times over look like a backlog,
  // so any queue still non-empty after a window was stolen from (until 2026-11-30).
  return watched * static_cast<std::int64_t>(queued) >
         std::chrono::duration_cast<std::chrono::nanoseconds>(steal_grace) *
             static_cast<std::int64_t>(served);
}

// Steals half of some other processor's queue into `thief`'s, returning one to run.
goroutine* scheduler::steal(processor& thief, int judged_backlog) {
  const int count = processor_count_.load(std::memory_order_acquire);
  if (count <= 1) return nullptr;
  const int start = static_cast<int>(detail::random_below(static_cast<std::uint32_t>(count)));
  detail::steady_time now{};  // read once, and only if some queue holds work
  for (int round = 0; round < 2; ++round) {
    for (int k = 0; k < count; ++k) {
      processor& victim = *processors_[(start + k) % count];
      if (&victim == &thief) continue;
      const std::size_t queued =
          round == 0 ? victim.size_hint.load(std::memory_order_seq_cst) : std::size_t{0};
      if (queued > 0 && now == detail::steady_time{}) now = std::chrono::steady_clock::now();
      if (queued > 0 &&
          (victim.index == judged_backlog || worth_stealing(thief, victim, queued, now))) {
        // Half of both queues, the oldest of each: goroutines that ran first, then the oldest
        // fresh ones, which in a tree of goroutines are the roots of the biggest subtrees.
        goroutine* loot[processor::queue_capacity];
        goroutine* fresh_loot[processor::queue_capacity];
        std::int64_t fresh_since[processor::queue_capacity];
        std::size_t taken = 0;
        std::size_t fresh_taken = 0;
        {
          detail::lock_guard guard(victim.lock);
          const std::size_t half = (victim.count + victim.fresh_count + 1) / 2;
          for (; taken < half && taken < victim.count; ++taken) {
            loot[taken] = victim.queue[(victim.head + taken) % processor::queue_capacity];
          }
          for (; taken + fresh_taken < half; ++fresh_taken) {
            const std::size_t slot = (victim.fresh_head + fresh_taken) % processor::queue_capacity;
            fresh_loot[fresh_taken] = victim.fresh[slot];
            fresh_since[fresh_taken] = victim.fresh_since[slot];
          }
          victim.head = (victim.head + taken) % processor::queue_capacity;
          victim.count -= taken;
          victim.fresh_head = (victim.fresh_head + fresh_taken) % processor::queue_capacity;
          victim.fresh_count -= fresh_taken;
          victim.size_hint.store(victim.count + victim.fresh_count, std::memory_order_seq_cst);
        }
        if (taken > 0) {
          if (taken > 1) local_push_batch(thief, loot + 1, taken - 1);
          if (fresh_taken > 0) fresh_push_batch(thief, fresh_loot, fresh_since, fresh_taken);
          return loot[0];
        }
        if (fresh_taken > 0) {
          if (fresh_taken > 1) {
            fresh_push_batch(thief, fresh_loot + 1, fresh_since + 1, fresh_taken - 1);
          }
          return fresh_loot[0];
        }
      }
      if (round == 1 && victim.runnext.load(std::memory_order_seq_cst) != nullptr) {
        // Only a runnext that sat unclaimed for a while: otherwise its owner is about to run
        // it, and taking it would split a communicating pair across cores.
        const std::uint64_t generation = victim.runnext_generation.load();
        goroutine* seen = victim.runnext.load();
        const auto until = std::chrono::steady_clock::now() + runnext_grace;
        while (std::chrono::steady_clock::now() < until) detail::cpu_relax();
        if (victim.runnext_generation.load() == generation && seen != nullptr &&
            victim.runnext.compare_exchange_strong(seen, nullptr)) {
          return seen;
        }
      }
    }
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Idle machines.

void scheduler::wake_idle_machine() {
  for (;;) {
    if (idle_count_.load(std::memory_order_seq_cst) == 0) return;
    // One spinning machine at a time is enough to find new work.
    int expected = 0;
    if (!spinning_.compare_exchange_strong(expected, 1, std::memory_order_seq_cst)) return;
    machine* sleeper = nullptr;
    {
      detail::lock_guard guard(idle_lock_);
      if (!idle_machines_.empty()) {
        sleeper = idle_machines_.back();
        idle_machines_.pop_back();
        idle_count_.fetch_sub(1, std::memory_order_seq_cst);
      }
    }
    if (sleeper != nullptr) {
      // The woken machine starts out spinning; it inherits the count taken above.
      sleeper->wake_word.store(1, std::memory_order_release);
      detail::futex_wake_one(sleeper->wake_word);
      return;
    }
    // Every machine had left the idle list (searching or running), so no one was woken. But
    // while our count stood in spinning_, other wakers took it for a searcher and left their
    // work to it, and machines may have gone idle after their last look: a searcher that does
    // not exist. Whoever gives the count back looks again, as a searcher leaving does in
    // go_idle(): work seen now wakes a machine that went idle meanwhile. (Without this, the
    // select stress test hung about one run in a hundred under qemu-aarch64, where a thread is
    // often descheduled inside this window: both machines asleep, goroutines in the global
    // queue, their wakers turned away by this count; docs/runtime.md, "Lost wake-ups".)
    spinning_.fetch_sub(1, std::memory_order_seq_cst);
    if (!work_visible()) return;
  }
}

bool scheduler::work_visible(bool count_runnext) {
  if (global_size_.load(std::memory_order_seq_cst) != 0) return true;
  const int count = processor_count_.load(std::memory_order_acquire);
  for (int i = 0; i < count; ++i) {
    processor& p = *processors_[i];
    if (p.size_hint.load(std::memory_order_seq_cst) != 0) return true;
    if (count_runnext && p.runnext.load(std::memory_order_seq_cst) != nullptr) return true;
  }
  return false;
}

// The watcher's look, after an interval asleep: true when some processor's runnext holds the
// goroutine it held at the last look (its generation unchanged), so that it has waited at
// least an interval behind a goroutine that does not block; or holds one while its owner ran
// fewer than one goroutine per runnext_wait_grace since the last look; or when some processor's
// queue is a backlog, as worth_stealing() judges one over the interval since the last look, or has
// waited queue_patience without its owner taking any of it (an owner walking a runnext chain
// of short runs serves at a high rate, but not its queue). Such a queue is left in
// m.judged_backlog for the search that follows. Without `judge`, it only records.
bool scheduler::watch_processors(machine& m, bool judge) {
  const auto now = std::chrono::steady_clock::now();
  const auto interval = now - m.last_look;
  m.last_look = now;
  const int count = processor_count_.load(std::memory_order_acquire);
  bool stale = false;
  for (int i = 0; i < count; ++i) {
    processor& p = *processors_[i];
    machine::look& look = m.looks[static_cast<std::size_t>(i)];
    const std::uint64_t generation = p.runnext_generation.load(std::memory_order_relaxed);
    const bool runnext_held = p.runnext.load(std::memory_order_seq_cst) != nullptr;
    if (judge && runnext_held && look.runnext_generation == generation) stale = true;
    look.runnext_generation = generation;
    if (&p == m.owned) continue;
    const std::size_t queued = p.size_hint.load(std::memory_order_seq_cst);
    const std::uint64_t executions = p.executions.load(std::memory_order_relaxed);
    const std::uint64_t served = executions - look.executions;
    look.executions = executions;
    // A runnext held by an owner that ran goroutines slower than one per runnext_wait_grace
    // since the last look: its goroutines compute, and whatever each one readies waits for
    // it, a different goroutine each time (two stages of a pipeline taking turns on one
    // worker), so the generation test above never fires. A pair handing off runs thousands
    // per interval. Held now is enough: requiring it at the last look as well cost every move
    // an interval more (docs/runtime.md, "The runnext watcher").
    if (judge && runnext_held &&
        interval > std::chrono::duration_cast<std::chrono::nanoseconds>(runnext_wait_grace) *
                       static_cast<std::int64_t>(served)) {
      stale = true;
    }
    const std::uint64_t pops = p.local_pops.load(std::memory_order_relaxed);
    if (queued == 0 || pops != look.local_pops) look.pops_since = now;
    look.local_pops = pops;
    if (!judge || queued == 0) continue;
    const bool backlog = interval * static_cast<std::int64_t>(queued) >
                             std::chrono::duration_cast<std::chrono::nanoseconds>(steal_grace) *
                                 static_cast<std::int64_t>(served) ||
                         now - look.pops_since >= queue_patience;
    if (backlog) {
      m.judged_backlog = i;
      stale = true;
    }
  }
  return stale;
}

// Gives up the watch. Then, as in go_idle's re-check, looks for work, runnext included: a
// ready that saw the watcher just before it left woke nobody, and someone must see its
// goroutine. But a ready into an empty runnext is a plain store (ready_now), which that look
// may miss; so it also wakes a machine, which becomes the next watcher unless it finds work,
// while any processor's machine may run goroutines. A machine sets may_run (seq_cst) before it
// runs any: if we read it unset, that machine's later read of watcher_ sees our 0 (or a newer
// watcher), and its ready wakes a machine itself.
void scheduler::stop_watching() {
  watcher_.store(0, std::memory_order_seq_cst);
  if (work_visible() || any_may_run()) wake_idle_machine();
}

bool scheduler::any_may_run() const {
  const int count = processor_count_.load(std::memory_order_acquire);
  for (int i = 0; i < count; ++i) {
    if (processors_[i]->may_run.load(std::memory_order_seq_cst) != 0) return true;
  }
  return false;
}

void scheduler::go_idle(machine& m) {
  m.wake_word.store(0, std::memory_order_relaxed);
  {
    detail::lock_guard guard(idle_lock_);
    idle_machines_.push_back(&m);
    idle_count_.fetch_add(1, std::memory_order_seq_cst);
  }
  // Takes us off the idle list, to go looking for work; false when a waker did it first (its
  // wake is on the way: consume it below).
  auto leave_idle_list = [&] {
    detail::lock_guard guard(idle_lock_);
    auto it = std::find(idle_machines_.begin(), idle_machines_.end(), &m);
    if (it == idle_machines_.end()) return false;
    idle_machines_.erase(it);
    idle_count_.fetch_sub(1, std::memory_order_seq_cst);
    return true;
  };
  // Become the watcher if there is none (scheduler.hpp). With a watcher, us or another, a
  // goroutine in a runnext does not keep us awake: it is the watcher's. (Else a pair that
  // readies each other into runnext at every hand-off would keep us spinning for ever.)
  bool watching_runnexts = false;
  if (int none = 0; watcher_.compare_exchange_strong(none, 1, std::memory_order_seq_cst)) {
    watching_runnexts = true;
    watch_processors(m, false);
  }
  std::chrono::nanoseconds watch_interval = watch_interval_first;
  auto next_watch = std::chrono::steady_clock::now() + watch_interval;
  // Re-check after announcing: a producer that pushed before seeing us idle is seen here.
  // Leaving to search ourselves, we need not hand the watch to anyone (stop_watching): the
  // search sees every runnext, and a searcher that finds other work wakes the next one.
  if (work_visible(watcher_.load(std::memory_order_seq_cst) == 0)) {
    if (watching_runnexts) watcher_.store(0, std::memory_order_seq_cst);
    if (leave_idle_list()) return;
    watching_runnexts = false;
  }
  // Under csp::run an idle machine looks every grace period for a whole-program deadlock, and
  // reports one seen twice in a row with no progress at all in between: a thread or a timer in
  // the middle of waking someone shows up as progress. Otherwise it sleeps until woken (no
  // csp::run: nothing to detect, and no CPU spent; a run that starts later wakes a machine for
  // its main goroutine, and that one does the watching).
  // A machine idle for trim_delay while the stack pool holds more than it keeps warm gives the
  // surplus memory back, a batch at a time, looking for a wake-up between batches (one machine
  // at a time: another that finds the pool being trimmed sleeps for trim_delay). Not at once:
  // trimming interrupts every core (TLB shootdowns), and a runtime that pauses between bursts
  // of goroutines would pay for it in the next burst, refaulting the pages it gave back.
  bool seen_deadlocked = false;
  std::uint64_t seen_progress = 0;
  auto next_check = std::chrono::steady_clock::now();
  stack_pool& pool = stack_pool::instance();
  detail::steady_time trim_at = detail::no_deadline;
  while (m.wake_word.load(std::memory_order_acquire) == 0) {
    const auto now = std::chrono::steady_clock::now();
    if (watching_runnexts) {
      if (idle_count_.load(std::memory_order_seq_cst) >= active_procs_.load()) {
        // Every machine idle: nothing fills a runnext without waking someone first.
        stop_watching();
        watching_runnexts = false;
      } else if (now >= next_watch) {
        if (watch_processors(m, true)) {
          // A goroutine has waited an interval behind one that does not block: go and take
          // it (steal() does, after its runnext_grace).
          watcher_.store(0, std::memory_order_seq_cst);
          if (leave_idle_list()) return;
          watching_runnexts = false;
        } else {
          watch_interval =
              std::min<std::chrono::nanoseconds>(watch_interval * 2, watch_interval_longest);
          next_watch = now + watch_interval;
        }
      }
    }
    const bool watching = run_depth_.load(std::memory_order_seq_cst) != 0;
    if (watching && now >= next_check) {
      const bool dead = deadlocked();
      const std::uint64_t now_progress = progress();
      if (dead && seen_deadlocked && now_progress == seen_progress) report_deadlock();
      seen_deadlocked = dead;
      seen_progress = now_progress;
      next_check = now + deadlock_grace;
    }
    if (pool.prefault_wanted()) {
      // A machine about to sleep finishes the prefaulting first, a batch at a time, looking
      // for a wake-up in between (stack_pool::prefault).
      pool.prefault();
      continue;
    }
    if (!pool.trim_pending()) {
      trim_at = detail::no_deadline;
    } else if (trim_at == detail::no_deadline) {
      trim_at = now + trim_delay;
    } else if (now >= trim_at) {
      if (pool.trim()) continue;
      trim_at = now + trim_delay;
    }
    detail::steady_time deadline = trim_at;
    if (watching) deadline = std::min(deadline, next_check);
    if (watching_runnexts) deadline = std::min(deadline, next_watch);
    detail::futex_wait(m.wake_word, 0, deadline);
  }
  // Woken: the waker counted us as searching, and the search covers every runnext.
  if (watching_runnexts) watcher_.store(0, std::memory_order_seq_cst);
  m.spinning = true;  // counted in spinning_ by the waker
}

// ---------------------------------------------------------------------------------------------
// Machines.

void scheduler::start_machine(processor* p, goroutine* solo) {
  // The watch table here, not when the machine first watches: go_idle() has no way out of an
  // allocation failure that would not leave a ready into an empty runnext unwatched
  // (stop_watching()). Before the machine, so that a failure leaks nothing.
  std::vector<machine::look> looks;
  if (solo == nullptr) looks.resize(static_cast<std::size_t>(max_processors));
  auto* m = new machine;
  m->owned = p;
  m->solo = solo;
  m->looks = std::move(looks);
  std::thread([this, m] {
    ::pthread_setname_np(::pthread_self(), "csp-machine");
    this_machine = m;
    m->scheduler_fiber.tsan_fiber = current_tsan_fiber();
    if (m->solo != nullptr) {
      solo_loop(*m);
    } else {
      machine_loop(*m);
    }
    // Only a machine that gave its processor away (lock_os_thread) and whose goroutine
    // unlocked or exited gets here; nothing refers to it any more.
    delete m;
  }).detach();
}

goroutine* scheduler::find_runnable(machine& m) {
  // A machine counted in spinning_ (it was woken to look for work, or is searching) must
  // leave that count on every way out, or wake_idle_machine() would think someone is still
  // searching and never wake anybody again.
  auto stop_spinning = [&](bool found_work) {
    if (!m.spinning) return;
    m.spinning = false;
    if (spinning_.fetch_sub(1, std::memory_order_seq_cst) == 1 && found_work) {
      // The last searcher found work: there may be more, so let another machine look.
      wake_idle_machine();
    }
  };
  for (;;) {
    processor& p = *m.owned;
    // seq_cst, after may_run's store: see processor::may_run.
    if (!p.active.load(std::memory_order_seq_cst)) {
      stop_spinning(false);
      return nullptr;
    }
    // Every 61st slice the global queue first; then runnext, inheriting the running slice;
    // then (once a slice) a spilled fresh goroutine, the queues; then runnext after all when its
    // slice is over but nothing else waits.
    goroutine* found = p.tick % 61 == 0 ? global_pop(nullptr) : nullptr;
    bool inherited = false;
    if (found == nullptr) {
      found = inherit_runnext(p);
      inherited = found != nullptr;
    }
    // The call only every 8th slice or when the slice is over (aged_global_fresh()).
    if (found == nullptr && (p.slice_over || p.tick % 8 == 0)) found = aged_global_fresh(p);
    if (found == nullptr) found = local_pop(p);
    if (found == nullptr) found = global_pop(&p);
    if (found == nullptr) found = p.runnext.exchange(nullptr, std::memory_order_acq_rel);
    if (found != nullptr) {
      m.judged_backlog = -1;
      if (!inherited) begin_slice(p);
      stop_spinning(true);
      return found;
    }

    // Nothing here: look elsewhere for a while, as one of the spinning machines.
    if (!m.spinning) {
      m.spinning = true;
      spinning_.fetch_add(1, std::memory_order_seq_cst);
    }
    const auto until = std::chrono::steady_clock::now() + spin_duration;
    stack_pool& pool = stack_pool::instance();
    // The watcher's verdict holds for the first look only; it may be stale by the next.
    int judged_backlog = std::exchange(m.judged_backlog, -1);
    do {
      found = steal(p, std::exchange(judged_backlog, -1));
      if (found == nullptr) found = global_pop(&p);
      if (found == nullptr) found = p.runnext.exchange(nullptr, std::memory_order_acq_rel);
      if (found == nullptr) found = local_pop(p);
      // A burst of go() is taking fresh stacks: fault some in for it (stack_pool::prefault).
      if (found == nullptr && pool.prefault_wanted()) pool.prefault();
    } while (found == nullptr && std::chrono::steady_clock::now() < until &&
             p.active.load(std::memory_order_relaxed));
    stop_spinning(found != nullptr);
    if (found != nullptr) {
      begin_slice(p);
      return found;
    }
    set_may_run(p, false);
    go_idle(m);  // returns spinning if woken: the next round searches and accounts for it
    set_may_run(p, true);
  }
}

void scheduler::machine_loop(machine& m) {
  if (m.owned != nullptr) set_may_run(*m.owned, true);
  for (;;) {
    if (m.owned == nullptr) return;  // handed its processor away (lock_os_thread) and left
    goroutine* g = find_runnable(m);
    if (g == nullptr) {
      retire(m);
      continue;
    }
    owner_increment(m.owned->executions,
                    std::memory_order_relaxed);  // the deadlock detector reads it
    execute(m, *g);
    if (m.solo != nullptr) {
      solo_loop(m);
      return;
    }
  }
}

// A processor beyond max_procs: its work goes to the global queue, and its machine sleeps
// until set_max_procs() brings it back.
void scheduler::retire(machine& m) {
  processor& p = *m.owned;
  // In the order this processor would have run them, as Go's procresize hands them over:
  // runnext, then the queue from its head.
  if (goroutine* g = p.runnext.exchange(nullptr)) global_push(*g);
  while (goroutine* g = local_pop(p)) global_push(*g);
  set_may_run(p, false);
  wake_idle_machine();
  // The word is cleared before each look at `active`, not after the wait: set_max_procs()
  // sets it after `active`, so a reactivation whose store came after this machine had already
  // seen `active` and left (or before it ever started) left it at 1, and the next retirement's
  // futex_wait returned at once, for ever: a retired machine spinning on a whole core until it
  // was reactivated (GoroutineScheduling.ARetiredWorkerSleeps).
  for (;;) {
    p.reactivate_word.store(0, std::memory_order_seq_cst);
    if (p.active.load(std::memory_order_seq_cst)) break;
    detail::futex_wait(p.reactivate_word, 0);
  }
  set_may_run(p, true);
}

void scheduler::set_may_run(processor& p, bool value) {
  p.may_run.store(value ? 1 : 0, std::memory_order_seq_cst);
  if (!value) wake_retirement_waiters();
}

// Tells set_max_procs() calls waiting in wait_for_retirements() to look again.
void scheduler::wake_retirement_waiters() {
  if (retirement_waiters_.load(std::memory_order_seq_cst) == 0) return;
  retirement_word_.fetch_add(1, std::memory_order_seq_cst);
  detail::futex_wake_all(retirement_word_);
}

// Whether a processor beyond max_procs may still run goroutines. A machine whose processor is
// retired finishes the goroutine it runs, until that one blocks, yields or exits, and then
// stops (retire); one that is idle or searching stops at once.
bool scheduler::retirements_pending() const {
  const int count = processor_count_.load(std::memory_order_acquire);
  for (int i = 0; i < count; ++i) {
    const processor& p = *processors_[i];
    if (!p.active.load(std::memory_order_seq_cst) &&
        p.may_run.load(std::memory_order_seq_cst) != 0) {
      return true;
    }
  }
  return false;
}

// Sleeps until retirements_pending() is false; on a plain thread only.
void scheduler::wait_for_retirements() {
  retirement_waiters_.fetch_add(1, std::memory_order_seq_cst);
  for (;;) {
    const std::uint32_t observed = retirement_word_.load(std::memory_order_seq_cst);
    if (!retirements_pending()) break;
    detail::futex_wait(retirement_word_, observed);
  }
  retirement_waiters_.fetch_sub(1, std::memory_order_seq_cst);
}

void scheduler::solo_loop(machine& m) {
  // This machine runs its locked goroutine only, until the goroutine unlocks or exits.
  // The goroutine is parked when we get here; ready() sets solo_word to resume it.
  while (m.solo != nullptr) {
    while (m.solo_word.exchange(0, std::memory_order_acquire) == 0) {
      detail::futex_wait(m.solo_word, 0);
    }
    solo_running_.fetch_add(1, std::memory_order_seq_cst);
    solo_executions_.fetch_add(1, std::memory_order_relaxed);
    execute(m, *m.solo);
    solo_running_.fetch_sub(1, std::memory_order_seq_cst);
  }
}

// What holds as `g` starts to run on `m`, switched to by the scheduler loop or straight from
// another goroutine.
// Returns the goroutine to switch to: `g`, or its record moved onto the stack it has just been
// given (take_stack()).
static goroutine& start_running(machine& m, goroutine& first) noexcept {
  goroutine& g = first.sp != nullptr ? first : scheduler::instance().take_stack(m, first);
  m.current = &g;
  if (m.owned != nullptr) {
    g.last_run = static_cast<std::uint32_t>(m.owned->executions.load(std::memory_order_relaxed));
  }
  stack_pool::prefetch_canary(g.stack_memory);
  g.status.store(goroutine_status::running, std::memory_order_relaxed);
  detail::set_current_parker(&g.parker);
  return g;
}

void scheduler::execute(machine& m, goroutine& first) {
  goroutine* g = &first;
  do {
    g = &start_running(m, *g);
    before_switch(m.scheduler_fiber, g->fiber, false);
    csp_fiber_switch(&m.scheduler_sp, g->sp);
    after_switch(m.scheduler_fiber, nullptr);
    // The goroutine that switched back: `first`, or one that others handed the machine to.
    g = m.current;
    detail::set_current_parker(nullptr);
    m.current = nullptr;
  } while (finish_request(m, *g));
}

// The request comes field by field, written straight into the machine: a `request` built on the
// caller's stack with scalar stores and copied with vector loads cost a store-forwarding stall
// per park (~8% of a goroutine ping-pong).
void scheduler::switch_to_scheduler(goroutine& g, request::kind what,
                                    std::atomic<std::uint32_t>* word, std::uint32_t observed,
                                    detail::adaptive_mutex* lock) {
  machine& m = *machine_of_this_thread();
  m.pending.what = what;
  m.pending.word = word;
  m.pending.observed = observed;
  m.pending.lock = lock;
  const bool exiting = what == request::kind::exit;
  if (goroutine* next = instance().direct_successor(m, what)) {
    // Straight to the goroutine the scheduler would run next: one switch instead of two, and
    // no pass through the scheduling loop. `next` finishes our request (resumed()).
    m.previous = &g;
    next = &start_running(m, *next);
    before_switch(g.fiber, next->fiber, exiting);
    csp_fiber_switch(&g.sp, next->sp);
  } else {
    before_switch(g.fiber, m.scheduler_fiber, exiting);
    csp_fiber_switch(&g.sp, m.scheduler_sp);
  }
  // Resumed, perhaps by another machine, by its scheduler or by a goroutine.
  resumed(g);
}

void scheduler::resumed(goroutine& g) {
  machine& m = *machine_of_this_thread();
  goroutine* const previous = m.previous;
  // From the machine's own stack, whose bounds only the sanitizer knows, or from a goroutine's.
  after_switch(g.fiber, previous == nullptr ? &m.scheduler_fiber : nullptr);
  if (previous == nullptr) return;
  m.previous = nullptr;
  scheduler& self = instance();
  // The word changed while `previous` switched out: it runs again, after us.
  if (self.finish_request(m, *previous)) self.ready_now(*previous);
}

// The goroutine a parking or exiting goroutine may hand its machine to directly: its
// processor's runnext, which the scheduling loop would pick next anyway, except when the loop
// would look at the global queue first or the time slice is over (so nothing queued starves).
goroutine* scheduler::direct_successor(machine& m, request::kind what) {
  if (what != request::kind::park && what != request::kind::park_unlocking &&
      what != request::kind::exit) {
    return nullptr;
  }
  processor* const p = m.owned;
  if (p == nullptr || m.solo != nullptr) return nullptr;
  if (!p->active.load(std::memory_order_relaxed)) return nullptr;
  if (p->tick % 61 == 0 && global_size_.load(std::memory_order_relaxed) != 0) return nullptr;
  goroutine* const next = inherit_runnext(*p);
  if (next == nullptr) return nullptr;
  owner_increment(p->executions, std::memory_order_relaxed);
  return next;
}

// Takes runnext to run in the current time slice; null when it is empty, a stealer took it, or
// the slice is over. The run is counted after the exchange: may_inherit() only reads (but for
// the clock every 64th run), so that the exchange, a locked instruction, does not wait for a
// store to drain (3% of ping-pong).
// Both are on every hand-off and meant to be inlined; -fno-semantic-interposition
// (CMakeLists.txt) lets GCC do so under -fPIC.
goroutine* scheduler::inherit_runnext(processor& p) {
  if (p.runnext.load(std::memory_order_relaxed) == nullptr || !may_inherit(p)) return nullptr;
  goroutine* const next = p.runnext.exchange(nullptr, std::memory_order_acq_rel);
  if (next != nullptr) ++p.inherited;
  return next;
}

// Whether runnext may run next in the current time slice.
bool scheduler::may_inherit(processor& p) {
  if (p.slice_over) [[unlikely]] {
    return false;
  }
  if ((p.inherited + 1) % 64 != 0) [[likely]] {
    return true;
  }
  return slice_goes_on(p);
}

// The clock behind may_inherit(), every 64th inherited run.
bool scheduler::slice_goes_on(processor& p) {
  const std::int64_t now = coarse_now_ns();
  if (p.inherited + 1 == 64) {
    p.slice_mark = now;
    return true;
  }
  if (now - p.slice_mark < std::chrono::nanoseconds(time_slice).count()) return true;
  p.slice_over = true;
  return false;
}

void scheduler::begin_slice(processor& p) {
  ++p.tick;
  p.inherited = 0;
  p.slice_over = false;
}

// Releases a channel lock that a goroutine took on its own stack and handed over with its park
// request; the thread-safety analysis cannot follow a lock across a stack switch.
namespace {
void release_after_switch(detail::adaptive_mutex& lock) CSP_NO_THREAD_SAFETY_ANALYSIS {
  lock.unlock();
}
}  // namespace

// Carries out what `g` asked for when it switched out. Returns true when `g` must run again
// right away on this machine.
bool scheduler::finish_request(machine& m, goroutine& g) {
  const request r = m.pending;
  m.pending = request{};
  if (!stack_pool::canary_intact(g.stack_memory)) {
    std::fprintf(stderr,
                 "fatal error: stack overflow in goroutine %llu: its stack's canary is "
                 "overwritten (stack size %zu bytes; give it more with go_options::stack_size)\n",
                 static_cast<unsigned long long>(g.id), g.stack_memory.size);
    std::_Exit(2);
  }
  switch (r.what) {
    case request::kind::park: {
      // Off the goroutine's stack now: from the moment the sleeping bit is in the word, a
      // partner may run the goroutine elsewhere, so this is the last touch of `g`.
      g.status.store(goroutine_status::waiting, std::memory_order_relaxed);
      std::uint32_t expected = r.observed;
      // The word changed while we switched out: the goroutine runs on at once.
      return (r.observed & detail::sleeping_bit) == 0 &&
             !r.word->compare_exchange_strong(expected, r.observed | detail::sleeping_bit,
                                              std::memory_order_acq_rel);
    }
    case request::kind::park_unlocking:
      // The sleeping bit is in the word already, and no partner can see the goroutine before
      // the lock is released: after this, a partner may run it elsewhere at once.
      g.status.store(goroutine_status::waiting, std::memory_order_relaxed);
      release_after_switch(*r.lock);
      return false;
    case request::kind::yield:
      if (g.locked_to != nullptr) return true;  // nothing else may run on this machine
      yield_push(*m.owned, g);
      return false;
    case request::kind::lock_thread: {
      // This machine becomes g's alone; its processor goes to a new machine.
      processor* p = m.owned;
      m.owned = nullptr;
      m.solo = &g;
      g.locked_to = &m;
      start_machine(p, nullptr);
      return true;
    }
    case request::kind::unlock_thread:
      // Off g's stack now, so another machine may take it. This machine then ends.
      g.locked_to = nullptr;
      m.solo = nullptr;
      global_push(g);
      wake_idle_machine();
      return false;
    case request::kind::exit:
      if (m.solo == &g) m.solo = nullptr;
      destroy(g);
      return false;
    case request::kind::none:
      return false;
  }
  return false;
}

void scheduler::destroy(goroutine& g) {
  const bool in_home = g.in_home;
  std::byte* const home = reinterpret_cast<std::byte*>(&g);
#if !defined(CSP_NO_GOROUTINE_RECORDS)
  registry_.leave(in_home ? record_pool<goroutine>::occupant(home) : occupant_word(g.stack_memory));
#endif
  destroy_tsan_fiber(g.fiber.tsan_fiber);
  const stack s = g.stack_memory;
  // The record first, then the stack's leak-check root: LeakSanitizer may scan at exit while
  // this runs, and the record's heap (its name) must be freed or still reachable.
  g.~goroutine();
  unregister_stack_root(s.bottom, s.size);
  unpoison_stack(s.bottom, s.size);
  machine* const m = machine_of_this_thread();
  processor* const owner = m != nullptr ? m->owned : nullptr;
  stack_pool::instance().release(s, owner != nullptr ? &owner->stacks : nullptr);
  if (in_home) homes_.release(home, owner != nullptr ? &owner->homes : nullptr);
  if (owner != nullptr) {
    owner_increment(owner->exited, std::memory_order_release);
  } else {
    foreign_exited_.fetch_add(1, std::memory_order_release);
  }
}

// ---------------------------------------------------------------------------------------------
// Deadlock detection (Go's checkdead, golang/go:src/runtime/proc.go).

bool other_threads_asleep();

// True when, under csp::run, nothing can ever run again: every processor's machine is idle and
// none is searching, no locked goroutine runs, no goroutine is queued, no timer is pending (a
// sleeping goroutine or a timed wait masks a deadlock, as in Go), no blocking call is in flight,
// and no plain thread is running (other_threads_asleep); see docs/diagnostics.md.
bool scheduler::deadlocked() {
  static const bool enabled = [] {
    const char* text = std::getenv("CSP_DEADLOCK_DETECTION");
    return text == nullptr || (std::strcmp(text, "off") != 0 && std::strcmp(text, "0") != 0);
  }();
  if (!enabled || run_depth_.load(std::memory_order_seq_cst) == 0) return false;
  if (idle_count_.load(std::memory_order_seq_cst) < active_procs_.load(std::memory_order_seq_cst)) {
    return false;
  }
  if (spinning_.load(std::memory_order_seq_cst) != 0) return false;
  if (solo_running_.load(std::memory_order_seq_cst) != 0) return false;
  if (blocking_calls.load(std::memory_order_seq_cst) != 0) return false;
  if (work_visible()) return false;
  if (detail::timer_service::instance().pending_count() != 0) return false;
  return other_threads_asleep();
}

// Whether every thread that is not csp's own (named "csp-…") is asleep: parked in a csp
// operation, or not running at all. A plain thread that is running may be about to wake a
// goroutine, even one that never used csp before; it masks the deadlock. A plain thread asleep
// in some other system call (reading a socket, say) does not: such a thread should wait through
// csp::blocking, which masks it, or the program can set CSP_DEADLOCK_DETECTION=off.
bool other_threads_asleep() {
  DIR* tasks = ::opendir("/proc/self/task");
  if (tasks == nullptr) return false;  // cannot tell: never report
  bool asleep = true;
  auto& census = detail::thread_census::instance();
  while (dirent* entry = ::readdir(tasks)) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    const long id = std::strtol(entry->d_name, nullptr, 10);
    const std::string path = std::string("/proc/self/task/") + entry->d_name;
    std::ifstream comm(path + "/comm");
    std::string name;
    std::getline(comm, name);
    if (name.rfind("csp-", 0) == 0 || census.is_parked(id)) continue;
    std::ifstream stat(path + "/stat");
    std::string line;
    std::getline(stat, line);
    const auto close = line.rfind(')');
    if (close == std::string::npos || close + 2 >= line.size() || line[close + 2] == 'R') {
      asleep = false;
      break;
    }
  }
  ::closedir(tasks);
  return asleep;
}

std::uint64_t scheduler::progress() const {
  std::uint64_t total =
      solo_executions_.load(std::memory_order_relaxed) + detail::thread_census::instance().wakes();
  const int count = processor_count_.load(std::memory_order_acquire);
  for (int i = 0; i < count; ++i) {
    total += processors_[i]->executions.load(std::memory_order_relaxed);
  }
  return total;
}

void scheduler::report_deadlock() {
  // Two idle machines may see it at once; one report is enough.
  static std::atomic<bool> reported{false};
  if (reported.exchange(true)) {
    for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
  }
  std::string report = "fatal error: all goroutines are asleep - deadlock!\n\n";
  report += goroutine_dump();
  std::fputs(report.c_str(), stderr);
  std::fflush(stderr);
  std::_Exit(2);
}

// ---------------------------------------------------------------------------------------------
// Services for the public API.

void scheduler::yield_current() {
  goroutine* g = current_goroutine();
  if (g == nullptr) {
    std::this_thread::yield();
    return;
  }
  switch_to_scheduler(*g, request::kind::yield);
}

void scheduler::lock_current_thread() {
  goroutine* g = current_goroutine();
  if (g == nullptr) return;  // a plain thread is its own thread already
  if (g->lock_count++ > 0) return;
  switch_to_scheduler(*g, request::kind::lock_thread);
}

void scheduler::unlock_current_thread() {
  goroutine* g = current_goroutine();
  if (g == nullptr || g->lock_count == 0) return;
  if (--g->lock_count > 0) return;
  switch_to_scheduler(*g, request::kind::unlock_thread);
}

int scheduler::set_max_procs(int n) {
  int previous = 0;
  {
    std::lock_guard guard(procs_lock_);
    previous = active_procs_.load();
    if (n < 1) return previous;
    n = std::min(n, max_processors);
    int count = processor_count_.load();
    while (count < n) {
      auto* p = new processor;
      p->index = count;
      processors_[count] = p;
      processor_count_.store(++count, std::memory_order_release);
      start_machine(p, nullptr);
    }
    for (int i = 0; i < count; ++i) {
      processor& p = *processors_[i];
      const bool active = i < n;
      if (p.active.exchange(active, std::memory_order_seq_cst) != active && active) {
        p.reactivate_word.store(1, std::memory_order_release);
        detail::futex_wake_all(p.reactivate_word);
      }
    }
    active_procs_.store(n);
    // Wake everyone so that retired processors notice and hand their work over.
    for (int i = 0; i < n; ++i) wake_idle_machine();
    // A waiter from an earlier call may be waiting for a processor reactivated just now.
    wake_retirement_waiters();
  }
  // Go's GOMAXPROCS stops the world: when it returns, at most n processors run goroutines.
  // Here the same holds once the retired ones have stopped. Waiting outside procs_lock_ lets a
  // goroutine on a retired processor call set_max_procs meanwhile without deadlock.
  if (current_goroutine() != nullptr) {
    // A goroutine must not block its worker, which may be one we wait for, nor wait for its
    // own processor: it polls, yielding. A yield on a retired processor moves it to one that
    // stays, and lets that processor's machine stop.
    while (retirements_pending()) yield_current();
  } else {
    wait_for_retirements();
  }
  return previous == 0 ? n : previous;
}

}  // namespace csp::runtime

namespace csp::detail {

void note_wait(const wait_reason& reason) noexcept {
  if (runtime::goroutine* g = runtime::scheduler::current_goroutine()) g->parker.note_wait(reason);
}

wake_batch::wake_batch() noexcept { ++runtime::deferred.depth; }

wake_batch::~wake_batch() {
  // Nothing deferred means no goroutine was readied: the scheduler may not even exist.
  if (--runtime::deferred.depth == 0 && runtime::deferred.count != 0) {
    runtime::scheduler::instance().flush_deferred();
  }
}

}  // namespace csp::detail

namespace csp::runtime {

// ---------------------------------------------------------------------------------------------
// Panics.

void die_of_exception(const goroutine& g, std::exception_ptr error) {
  std::string type = "unknown exception";
  std::string what;
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    what = e.what();
#if defined(__GNUG__)
    int status = 0;
    char* demangled = abi::__cxa_demangle(typeid(e).name(), nullptr, nullptr, &status);
    type = status == 0 && demangled != nullptr ? demangled : typeid(e).name();
    std::free(demangled);
#else
    type = typeid(e).name();
#endif
  } catch (...) {
  }
  // Go prints "panic: <value>" and then the goroutine; we add where it was spawned.
  std::string report = "panic: " + type + ": " + what + "\n\n";
  report += "goroutine " + std::to_string(g.id);
  if (!g.name.empty()) report += " \"" + g.name + "\"";
  report += " [running]:\n\tspawned at " + std::string(g.site.file) + ":" +
            std::to_string(g.site.line) + " in " + g.site.function + "\n";
  std::fputs(report.c_str(), stderr);
  std::fflush(stderr);
  std::_Exit(2);
}

}  // namespace csp::runtime
