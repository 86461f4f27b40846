// parker.hpp: the seam between a blocked party and whatever puts it to sleep.
//
// Channels, select and the sync primitives never know whether the party that blocks is an OS
// thread, a goroutine or (later) a C++20 coroutine. They see a waiter (waiter.hpp) whose state
// word changes when its operation completes, and the waiter's parker, which sleeps until that
// word changes. Two implementations exist: the OS-thread parker below (spin briefly, then a
// futex on the word itself) and the goroutine parker in src/runtime/ (switch to the scheduler;
// the partner makes the goroutine runnable again). Neither header includes the other.
//
// Protocol, for any parker:
//   park(word, observed, deadline)  Blocks while `word == observed`, until unpark() or
//                                    `deadline`; may return early. Before it truly sleeps it
//                                    sets sleeping_bit in the word by a CAS from `observed`, so
//                                    the party that next changes the word sees the bit in the
//                                    value it replaced and knows to call unpark().
//   unpark(word)                    Called by that party after its change, only when the
//                                    replaced value had sleeping_bit. It must not read `word`:
//                                    the owner may already have seen the change and returned.
// Memory ordering: parkers add none; the waiter's state word carries the happens-before edge
// (release by the party that completes the operation, acquire by the owner that sees it).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>

#include "csp/detail/adaptive_mutex.hpp"
#include "csp/detail/futex.hpp"
#include "csp/detail/thread_annotations.hpp"

namespace csp::detail {

// The bit of a waiter's state word that says "the owner sleeps: wake me".
inline constexpr std::uint32_t sleeping_bit = 1u << 2;

struct wait_reason;

class parker {
 public:
  virtual void park(std::atomic<std::uint32_t>& word, std::uint32_t observed,
                    steady_time deadline) = 0;
  virtual void unpark(std::atomic<std::uint32_t>& word) noexcept = 0;
  // Whether park() honours its deadline. A parker that cannot (a goroutine's: it has no
  // timed sleep of its own) gets deadlines from the waiter, through the timer service.
  virtual bool supports_deadline() const noexcept { return true; }

  // Whether a select should poll its cases a little (select_poll_rounds) before it queues on
  // them and blocks: a partner on another CPU usually answers within a few hundred
  // nanoseconds, less than queueing on every channel, parking and being woken cost. A
  // goroutine's parker says yes while the process may run on several CPUs and the goroutine's
  // worker has nothing else to run, so that the poll takes time from nobody. A thread's says
  // no: threads often outnumber the CPUs (SelectSyncContended/threads: three senders and a
  // receiver on two), and a poll that does not yield the CPU took it from the partners it
  // waited for (1.55x slower); its park() polls, yielding, once queued.
  virtual bool polls_before_blocking() const noexcept { return false; }

  // Records why the party is about to block, for goroutine dumps and deadlock and leak reports
  // (a goroutine's parker; a thread's has nowhere to keep it). The parker knows its party, so
  // this costs no look-up of the current goroutine through thread-local storage.
  virtual void note_wait(const wait_reason& /*reason*/) noexcept {}

  // Go's gopark with an unlock function: for an owner that holds `lock`, the only lock under
  // which anyone may change `word`, and has already put sleeping_bit into it. Releases the lock
  // once the party is truly asleep, then sleeps until unpark(). Only a parker for which
  // sleeps_before_unlocking() is true supports it.
  virtual bool sleeps_before_unlocking() const noexcept { return false; }
  virtual void park_unlocking(std::atomic<std::uint32_t>& /*word*/, std::uint32_t /*observed*/,
                              adaptive_mutex& lock) CSP_RELEASE(lock) {
    lock.unlock();  // not called for this parker (see above); releasing is the safe answer
  }

 protected:
  ~parker() = default;
};

// Returns the parker of the calling context: the running goroutine's inside the runtime, else
// the process-wide OS-thread parker. Defined out of line on purpose: a goroutine may resume on
// another thread, and an inlined thread_local access could be cached across that switch.
parker& current_parker() noexcept;

// Installs `p` as the calling thread's parker (nullptr restores the OS-thread parker). The
// runtime calls it around every switch into a goroutine.
void set_current_parker(parker* p) noexcept;

// Returns the OS-thread parker: a bounded spin, then a futex wait on the word.
parker& thread_parker() noexcept;

// How many CPUs this process may run on (its affinity mask, as Go's GOMAXPROCS default reads
// it), at least 1. Read anew at each call.
int allowed_cpu_count() noexcept;

// Whether this process may run on more than one CPU (allowed_cpu_count() > 1), read once, at
// the first call: with one CPU a partner cannot make progress while a party polls for it.
bool several_cpus() noexcept;

// Whether the caller should poll a little before it blocks: a plain thread, in a process that
// may run on more than one CPU (a goroutine's worker has other goroutines to run instead, and
// with one CPU the partner cannot make progress while we poll).
bool polling_pays() noexcept;

// Gives the core away (sched_yield) while a plain thread polls for its partner, so that a
// partner waiting for this core can run. Returns false when the caller should stop polling and
// sleep instead: without yielding while busy processes outside this one are known to share its
// CPUs (outside_load_known()), or after a yield that lost the core for long and showed them
// there. Beside busy strangers every yield costs their whole time slice, milliseconds, while a
// sleeping thread is woken by its partner within microseconds; docs/runtime.md, "Parking".
bool yield_while_polling() noexcept;

// Whether threads of other processes were found waiting for CPUs that this process also wants,
// within the last 100 ms (src/outside_load.cpp says how it is found). Cheap: one relaxed load
// while nothing was found.
bool outside_load_known() noexcept;

// What the deadlock detector knows of plain threads: which sleep in a csp operation now, and
// how often any woke. Threads running anywhere are seen through /proc (scheduler.cpp).
class thread_census {
 public:
  static thread_census& instance() noexcept;
  void enter_park() noexcept;
  void leave_park() noexcept;
  unsigned long wakes() const noexcept { return wakes_.load(std::memory_order_relaxed); }
  // Whether the thread with this kernel id sleeps in a csp operation now.
  bool is_parked(long thread_id) const;

 private:
  // Kernel ids of the threads asleep in csp. Fixed capacity, so that sleeping never allocates
  // (select's no-allocation promise); a thread that finds it full is not recorded and simply
  // counts as possibly running, which can only hide a deadlock, never invent one.
  static constexpr std::size_t max_recorded = 1024;
  mutable std::mutex parked_ids_lock_;
  long parked_ids_[max_recorded] = {};
  std::size_t parked_count_ = 0;
  std::atomic<unsigned long> wakes_{0};
};

}  // namespace csp::detail
