// scheduler.hpp: csp's M:N goroutine scheduler (internal to src/runtime).
//
// Shape (Go's G/M/P, golang/go:src/runtime/proc.go):
//   goroutine  a fiber: a stack, a saved context, a closure, a parker.
//   processor  the right to run goroutines (max_procs of them): a local run queue of 256, a
//              `runnext` slot, a scheduling tick.
//   machine    an OS thread that runs one processor's loop, or one locked goroutine.
//
// Scheduling rules:
//   - a goroutine made runnable by a goroutine (a channel partner, `go`) goes to the current
//     processor's runnext, so a communicating pair runs on one core, back to back, cache-hot;
//     the goroutine it displaces goes to the tail of the local queue, or, if it never ran (a
//     fresh `go`), to the fresh queue;
//   - the local queue is served first in first out, then the fresh queue newest first (depth
//     first: a tree of goroutines keeps few alive); once a time slice the oldest fresh
//     goroutine goes ahead of all if it waited longer than a slice; thieves take the oldest of
//     both (local_pop(), steal()); a full fresh queue spills its oldest half into the global
//     queue's ring for fresh goroutines, which only a processor whose queues ran dry takes
//     from (into its fresh queue), or the aged pick, shared with the fresh queue's;
//   - made runnable from outside (a plain thread, the timer thread, the blocking pool): the
//     global queue;
//   - a machine looks, in order: every 61st slice one goroutine of the global queue (not its
//     fresh ring), runnext, a spilled fresh goroutine if it is due its aged pick, its local
//     queue, the global queue, then steals half of another processor's queue if it is a
//     backlog (worth_stealing(): its owner would not get through it within 20 µs at the rate
//     it ran goroutines over a 20 µs watch; or, sooner, it has started none for 5 µs, being
//     inside a long one); another's runnext only if it sat there unchanged for 5 µs;
//   - a goroutine taken from runnext inherits the current time slice (Go's inheritTime); once
//     a chain of them has run for 10 ms, the queues go first, so a pair of goroutines that
//     ready each other cannot starve the rest of the processor's queue;
//   - work-conserving: whoever makes work runnable wakes an idle machine when no machine is
//     spinning (searching). Idle machines spin about 20 µs, then sleep on a futex: an idle
//     runtime uses no CPU.
//   - except for runnext: a goroutine readied into an empty runnext usually runs within
//     nanoseconds, when the goroutine that readied it blocks, and no other machine may take it
//     before runnext_grace anyway. So while one idle machine is the watcher, such a ready
//     wakes nobody (a futex wake per ready cost a ping-pong on two workers 30%); the watcher
//     sleeps with a timeout (50 µs, doubling to 1 ms while it finds nothing) and takes a
//     runnext that sat unchanged for a whole interval, or that holds a goroutine at the end
//     of an interval in which its owner ran fewer than one goroutine per 10 µs (two
//     computing stages readying each other by turns). It watches only while some machine
//     runs goroutines. When it leaves to search, its search covers every runnext; when it
//     stops because every machine is idle, it looks once more and wakes one if work shows.
//   - and for a goroutine that has run before and is displaced from runnext into the local
//     queue: while a watcher watches, that wakes nobody either (a runnext chain displaces at
//     every hand-off, and each wake-up had the idle machine spin in vain). The watcher's look
//     judges every queue as a thief would (worth_stealing(), over its interval), and also
//     takes a queue its owner has not popped from for 1 ms (queue_patience) while the queue
//     held goroutines: an owner walking a runnext chain serves at a high rate, but not its
//     queue. A displaced fresh goroutine (a `go`) still wakes a machine: spawning is where
//     parallel work comes from.
//   - goroutines migrate between machines when stolen: thread_local state and errno are not
//     preserved across a blocking operation (lock_os_thread() pins a goroutine; see go.hpp).
//
// Lost wake-ups: a machine going idle increments idle_count_ and then re-checks every queue;
// a producer pushes and then reads idle_count_/spinning_. Both sides use seq_cst operations,
// so one of them sees the other (Dekker). A producer that finds spinning_ non-zero leaves its
// work to that searcher, so whoever takes a count out of spinning_ looks again after: a
// machine that stops searching (go_idle's re-check), and a waker that put a count in for a
// machine it then found no more on the idle list (wake_idle_machine). The exception is a ready into
// an empty runnext, a plain store: a machine that misses it there becomes the watcher, or one
// exists (ready_now).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <typeinfo>
#include <vector>

#include "csp/detail/adaptive_mutex.hpp"
#include "csp/detail/parker.hpp"
#include "csp/detail/waiter.hpp"
#include "csp/detail/wake_batch.hpp"
#include "csp/go.hpp"
#include "record_pool.hpp"
#include "registry.hpp"
#include "sanitizers.hpp"
#include "stack_pool.hpp"

namespace csp::runtime {

struct goroutine;
struct machine;
struct processor;

// Parks a goroutine: the goroutine switches to its machine's scheduler, which sets the
// sleeping bit in the word only then, off the goroutine's stack; unpark() makes it runnable.
class goroutine_parker final : public detail::parker {
 public:
  explicit goroutine_parker(goroutine& g) noexcept : goroutine_(g) {}
  void park(std::atomic<std::uint32_t>& word, std::uint32_t observed,
            detail::steady_time deadline) override;
  void unpark(std::atomic<std::uint32_t>& word) noexcept override;
  bool supports_deadline() const noexcept override { return false; }
  void note_wait(const detail::wait_reason& reason) noexcept override;
  bool sleeps_before_unlocking() const noexcept override { return true; }
  bool polls_before_blocking() const noexcept override;
  void park_unlocking(std::atomic<std::uint32_t>& word, std::uint32_t observed,
                      detail::adaptive_mutex& lock) override CSP_RELEASE(lock);

 private:
  goroutine& goroutine_;
};

using task = detail::goroutine_task;

// What a goroutine is doing, for diagnostics. Written by the scheduler, read by dumps.
enum class goroutine_status : std::uint8_t { runnable, running, waiting };

// The record lives at the top of the goroutine's own stack (scheduler::spawn), or in a home
// from the record pool until it first runs (record_pool.hpp), aligned to a cache line. Its first
// line holds everything a hand-off touches (the switch, ready(), the parker, the wait reason's
// kind), so that waking a goroutine that has not run for a while (in a chain of thousands) costs
// one miss on the record, not three.
struct alignas(64) goroutine {
  goroutine(stack s, std::string&& given_name) noexcept
      : parker(*this), stack_memory(s), name(std::move(given_name)) {}

  void* sp = nullptr;  // saved stack pointer while not running
  goroutine_parker parker;
  machine* locked_to = nullptr;  // lock_os_thread(): the only machine that may run it
  // Its processor's `executions` (mod 2^32) when it last started running: how many goroutines
  // ran there since, which tells whether its frames are likely still cached. never_ran until
  // its first run, which sends it to the fresh queue when a newer goroutine displaces it from
  // runnext; a processor whose count reaches that value once in 2^32 runs only misfiles one
  // goroutine as fresh, which changes its turn, never whether it runs.
  static constexpr std::uint32_t never_ran = 0xffffffffu;
  std::uint32_t last_run = never_ran;
  // Diagnostics, written by the scheduler and read by dumps. The wait reason is stored field
  // by field in relaxed atomics: a dump taken while the goroutine changes state may show a
  // mix, never a torn pointer.
  std::atomic<goroutine_status> status{goroutine_status::runnable};
  std::atomic<detail::wait_reason::kind> reason{detail::wait_reason::kind::none};
  stack stack_memory;

  // Colder: read when the goroutine starts, exits or is reported.
  sanitizer_fiber fiber;
  task* closure = nullptr;
  std::uint64_t id = 0;
  std::string name;
  int lock_count = 0;
  // Whether the record lives in a home from the record pool, not at the top of its stack (a
  // goroutine spawned with no warm stack at hand: it takes one when it first runs, and until
  // then `sp` is null and `stack_memory` empty).
  bool in_home = false;
  spawn_site site;
  std::atomic<const std::type_info*> reason_element{nullptr};
  std::atomic<std::size_t> reason_capacity{0};
  std::atomic<std::size_t> reason_cases{0};
};
static_assert(sizeof(stack) == 24, "the hot fields of goroutine fill its first cache line");

// What a goroutine asks its machine to do when it switches back to the scheduler.
struct request {
  enum class kind { none, park, park_unlocking, yield, exit, lock_thread, unlock_thread };
  kind what = kind::none;
  std::atomic<std::uint32_t>* word = nullptr;
  std::uint32_t observed = 0;
  detail::adaptive_mutex* lock = nullptr;  // park_unlocking: released once off the stack
};

// Fields are grouped by who writes them, a cache line apart: idle machines searching for work
// read a processor's queue state and runnext in a loop, and each write by the owner to a line
// they read costs the owner a cache miss on its next write.
struct alignas(64) processor {
  static constexpr std::size_t queue_capacity = 256;

  // The local queues: the owner pushes and pops, thieves steal, all under `lock`. `queue` holds
  // goroutines that have run (readied, stolen), first in first out; `fresh` those that never
  // ran, pushed out of runnext by a newer `go`, taken newest first but for one aged pick per
  // time slice (local_pop()), and at its oldest end a goroutine that yielded while fresh ones
  // waited (yield_push()). size_hint is the two counts' sum.
  detail::adaptive_mutex lock;
  std::size_t head = 0;
  std::size_t count = 0;
  std::size_t fresh_head = 0;  // the oldest
  std::size_t fresh_count = 0;
  // The goroutine yield_push() last put at the fresh queue's oldest end, which the aged pick
  // passes over once: taking it would run the yielder again before the goroutines it yielded
  // to. Only compared, never followed: it may have run, moved or exited since.
  const goroutine* fresh_yielder = nullptr;
  std::atomic<std::size_t> size_hint{0};
  // Goroutines the owner took from its local queue, ever: how fast it serves the queue, for
  // thieves deciding whether to steal from it.
  std::atomic<std::uint64_t> local_pops{0};
  goroutine* queue[queue_capacity] = {};
  goroutine* fresh[queue_capacity] = {};
  // When each of `fresh` was queued, in ns of CLOCK_MONOTONIC_COARSE.
  std::int64_t fresh_since[queue_capacity] = {};

  // Written by the owner at every hand-off, read by thieves.
  alignas(64) std::atomic<goroutine*> runnext{nullptr};
  std::atomic<std::uint64_t> runnext_generation{0};

  // The owner's alone (others read some of them rarely).
  alignas(64) int index = 0;
  // Time slices begun: goroutines taken from a queue (Go's schedtick). A goroutine taken from
  // runnext inherits the running slice and does not count.
  std::uint32_t tick = 0;
  // Goroutines that inherited the current slice, and when the 64th of them ran, in ns of
  // CLOCK_MONOTONIC_COARSE (the slice's start as far as we know: reading the clock at every
  // slice would cost spawn-heavy code more than it is worth). Once the slice is over, runnext
  // waits behind the queues.
  std::uint32_t inherited = 0;
  bool slice_over = false;
  std::int64_t slice_mark = 0;
  // When local_pop() or aged_global_fresh() last took the oldest fresh goroutine ahead of its
  // turn (coarse ns).
  std::int64_t aged_pick = 0;
  // When aged_global_fresh() last read the count of spilled fresh goroutines (coarse ns).
  std::int64_t spilled_check = 0;
  // Goroutine switches on this processor; the deadlock detector reads it to see progress.
  std::atomic<std::uint64_t> executions{0};
  // Goroutine ids and counts, kept per processor so that spawning and exiting on different
  // workers write no shared cache line (one shared counter cost a third of go() with two
  // spawners). Only the owning machine writes them; readers of the counts load them.
  std::uint64_t next_id = 0;   // the next id of the batch this processor holds
  std::uint64_t id_limit = 0;  // one past that batch
  std::atomic<std::int64_t> spawned{0};
  std::atomic<std::int64_t> exited{0};
  std::atomic<bool> active{true};
  std::atomic<std::uint32_t> reactivate_word{0};
  // 1 while the processor's machine may run goroutines: from the moment it starts or leaves
  // idleness until it sleeps in go_idle() or retire(). Stored (seq_cst) before the machine
  // reads `active` at the top of its search, so that set_max_procs(), which clears `active`
  // and then reads this, either sees 0 or is sure the machine will see itself retired at its
  // next search (scheduler::wait_for_retirements). Read by others only there.
  std::atomic<std::uint32_t> may_run{0};
  stack_cache stacks;  // only the owning machine touches it
  record_cache homes;  // likewise
  // This processor's view, as a thief, of every other processor's queue (steal()).
  struct queue_watch {
    std::uint64_t runs = 0;
    detail::steady_time since{};
  };
  std::vector<queue_watch> watches;
};

struct machine {
  processor* owned = nullptr;  // null while it runs a locked goroutine only
  void* scheduler_sp = nullptr;
  sanitizer_fiber scheduler_fiber;
  goroutine* current = nullptr;
  request pending;
  // A goroutine that parked or exited by switching straight to `current` (its processor's
  // runnext) instead of to the scheduler: `current` finishes its request (`pending`) first
  // thing, on its own stack, as the scheduler would have on the machine's.
  goroutine* previous = nullptr;
  bool spinning = false;
  std::atomic<std::uint32_t> wake_word{0};
  // While it watches (go_idle), what it saw of each processor at its last look, and when.
  struct look {
    std::uint64_t runnext_generation = 0;
    std::uint64_t executions = 0;
    std::uint64_t local_pops = 0;
    detail::steady_time pops_since{};  // since when local_pops has not moved, the queue held
  };
  std::vector<look> looks;
  detail::steady_time last_look{};
  // The processor whose queue the last look judged a backlog (-1: none), for the search that
  // follows to steal from without judging it again.
  int judged_backlog = -1;
  goroutine* solo = nullptr;  // the locked goroutine this machine is dedicated to
  std::atomic<std::uint32_t> solo_word{0};
};

class scheduler {
 public:
  // Returns the scheduler, starting it (max_procs machines) on first use.
  static scheduler& instance();

  // Creates a goroutine running `closure` (placed by `place` at its stack's top, or in a home
  // from the record pool when no warm stack is at hand).
  void spawn(go_options&& options, task* (*place)(void* where, void* arg), std::size_t closure_size,
             void* arg);

  // Before a goroutine spawned in a home first runs: gives it a stack, moving its record there
  // if it can; returns the goroutine's record, moved or not. For the scheduling loop only.
  goroutine& take_stack(machine& m, goroutine& g) noexcept;

  // Makes a parked goroutine runnable.
  void ready(goroutine& g);

  // The goroutine running on this thread, or null on a plain thread.
  static goroutine* current_goroutine() noexcept;

  void yield_current();
  void lock_current_thread();
  void unlock_current_thread();

  int set_max_procs(int n);
  int max_procs() const noexcept { return active_procs_.load(); }

  // Switches the running goroutine back to its machine's scheduler with `r`. Returns when the
  // goroutine is resumed, possibly on another machine.
  static void switch_to_scheduler(goroutine& g, request::kind what,
                                  std::atomic<std::uint32_t>* word = nullptr,
                                  std::uint32_t observed = 0,
                                  detail::adaptive_mutex* lock = nullptr);

  // First thing a goroutine does whenever it (re)starts running: tells the sanitizers, and
  // finishes the request of a goroutine that handed this machine over to it.
  static void resumed(goroutine& g);

  // Whether the running goroutine's processor holds nothing else to run: an empty runnext and
  // local queue, and an empty global queue. False on a plain thread. A hint: relaxed loads.
  bool nothing_else_to_run() const noexcept;

  // Goroutines spawned and not yet exited. Never less than the true count at some moment
  // during the call (exits are read before spawns); exact when nothing spawns meanwhile.
  std::int64_t live_goroutines() const noexcept;
  // The scheduler's state in a few lines (csp::scheduler_trace()): read without its locks, so a
  // hung runtime can still be described; each figure may be a moment stale.
  std::string trace() const;
  // csp::run() calls in progress: deadlock detection applies only under csp::run, as Go's
  // applies to a program whose main is a goroutine.
  void enter_run() noexcept { run_depth_.fetch_add(1, std::memory_order_seq_cst); }
  void leave_run() noexcept { run_depth_.fetch_sub(1, std::memory_order_seq_cst); }
  // Blocking-pool calls in flight: they may wake goroutines, so they mask a deadlock.
  std::atomic<long> blocking_calls{0};

  // Calls `visit(g)` for every live goroutine, by id; none exits meanwhile. Ids are unique and
  // grow with time on each worker, which takes them in batches (as Go's goidcache): across
  // workers, a higher id is not always a younger goroutine.
  template <class Visit>
  void for_each_goroutine(Visit&& visit) {
    registry_.for_each([](const goroutine* a, const goroutine* b) { return a->id < b->id; },
                       std::forward<Visit>(visit));
  }

 private:
  scheduler();
  void start_machine(processor* p, goroutine* solo);
  void machine_loop(machine& m);
  void solo_loop(machine& m);
  void execute(machine& m, goroutine& g);
  bool finish_request(machine& m, goroutine& g);
  goroutine* direct_successor(machine& m, request::kind what);
  static goroutine* inherit_runnext(processor& p);
  static bool may_inherit(processor& p);
  [[gnu::noinline]] static bool slice_goes_on(processor& p);
  static void begin_slice(processor& p);
  goroutine* find_runnable(machine& m);
  goroutine* steal(processor& thief, int judged_backlog = -1);
  static bool worth_stealing(processor& thief, const processor& victim, std::size_t queued,
                             detail::steady_time now);
  goroutine* global_pop(processor* into);
  goroutine* aged_global_fresh(processor& p);
  void global_push(goroutine& g);
  void global_push_batch(goroutine* const* batch, std::size_t count, bool fresh = false);
  void local_push(processor& p, goroutine& g);
  void local_push_batch(processor& p, goroutine* const* batch, std::size_t count);
  void fresh_push(processor& p, goroutine& g);
  void yield_push(processor& p, goroutine& g);
  void fresh_push_batch(processor& p, goroutine* const* batch, const std::int64_t* since,
                        std::size_t count);
  void ready_now(goroutine& g);
  void flush_deferred();
  friend class detail::wake_batch;
  goroutine* local_pop(processor& p);
  void wake_idle_machine();
  void go_idle(machine& m);
  bool work_visible(bool count_runnext = true);
  bool watch_processors(machine& m, bool judge);
  void stop_watching();
  bool any_may_run() const;
  void retire(machine& m);
  void set_may_run(processor& p, bool value);
  void wake_retirement_waiters();
  bool retirements_pending() const;
  void wait_for_retirements();
  void destroy(goroutine& g);
  void spawn_in_home(go_options& options, task* (*place)(void* where, void* arg), void* arg,
                     machine& m);

  // Processors only ever get added; readers index below processor_count_ (acquire), which is
  // published after the slot is written. A fixed array, so readers never see a reallocation.
  static constexpr int max_processors = 1024;
  processor* processors_[max_processors] = {};
  std::mutex procs_lock_;
  std::atomic<int> active_procs_{0};
  // set_max_procs() calls waiting for retired processors to stop running goroutines, and the
  // word they sleep on: bumped whenever a processor's may_run drops or one is reactivated.
  std::atomic<int> retirement_waiters_{0};
  std::atomic<std::uint32_t> retirement_word_{0};
  std::atomic<int> processor_count_{0};

  detail::adaptive_mutex global_lock_;
  // The global run queue. (A list threaded through the goroutine records, which sit at the tops
  // of stacks 256 KiB apart, missed the TLB at every step of a batch pop.)
  // A growable ring of goroutines, guarded by global_lock_.
  struct goroutine_ring {
    std::vector<goroutine*> slots;  // its size is 0 or a power of two
    std::size_t head = 0;
    std::size_t count = 0;
    void push(goroutine* const* batch, std::size_t n);
    // Takes the first `n` (n <= count): the first is returned, the rest go to `rest`.
    goroutine* pop(std::size_t n, goroutine** rest);
  };
  goroutine_ring global_ring_;
  // Fresh goroutines spilled from full fresh queues, in a ring of their own: the poll of the
  // global queue every 61st slice does not take them (each would open an old subtree ahead of
  // its turn); a processor whose queues ran dry takes a batch into its fresh queue.
  goroutine_ring global_fresh_ring_;
  std::atomic<std::size_t> global_fresh_size_{0};  // global_fresh_ring_.count, for lock-free reads
  std::atomic<std::size_t> global_size_{0};        // both rings

  detail::adaptive_mutex idle_lock_;
  std::vector<machine*> idle_machines_;
  std::atomic<int> idle_count_{0};
  std::atomic<int> spinning_{0};
  // 1 while an idle machine watches the runnext slots (go_idle): then a goroutine readied into
  // an empty runnext wakes nobody, and the watcher takes it if it sits there too long.
  std::atomic<int> watcher_{0};

  // Ids are handed out in batches of id_batch to processors, one at a time to goroutines
  // spawned off the workers; exits off the workers (a locked goroutine's machine has no
  // processor) count here too.
  static constexpr std::uint64_t id_batch = 64;
  std::uint64_t take_id(machine* m) noexcept;
  alignas(64) std::atomic<std::uint64_t> next_id_{1};
  alignas(64) std::atomic<std::int64_t> foreign_spawned_{0};
  std::atomic<std::int64_t> foreign_exited_{0};

  bool deadlocked();
  std::uint64_t progress() const;
  [[noreturn]] void report_deadlock();

  std::atomic<int> run_depth_{0};
  std::atomic<int> solo_running_{0};
  std::atomic<std::uint64_t> solo_executions_{0};

  registry<goroutine> registry_;
  record_pool<goroutine> homes_{registry_};
};

// Reports an exception that escaped a goroutine and ends the process with status 2, as an
// unrecovered Go panic does.
[[noreturn]] void die_of_exception(const goroutine& g, std::exception_ptr error);

}  // namespace csp::runtime
