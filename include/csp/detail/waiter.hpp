// waiter.hpp: a blocked party, and the operations it has queued on channels.
//
// A waiter is one party (thread or goroutine) blocked in one channel operation or one select.
// It owns a 32-bit state word; every decision about the party is a transition of that word, and
// the first CAS wins. A select queues one `operation` per case, all pointing at the same waiter,
// so at most one case can ever be claimed: a losing case never delivers or consumes a value.
//
// State word: [ case index : 24 | outcome : 2 | sleeping : 1 | phase : 2 ]
//
//   phase      meaning                                        who moves it, and where to
//   waiting    queued, nobody has decided yet                 a partner: -> claimed (CAS),
//                                                             or -> done (partners_only)
//                                                             the owner: -> aborted (CAS)
//   claimed    a partner won; it is moving the value now      that partner: -> done
//   done       finished with `outcome` for case `index`       the owner: reset() for a retry
//   aborted    the owner gave up (deadline, or a select that  nobody
//              saw a case become ready while queuing)
//
//   outcome    success: the value moved; closed: the channel was closed (receive: no value,
//              send: the owner throws); retry: the partner could not move the value (T's
//              move constructor threw) and the owner must run its operation again.
//
// Claims are final, so a party that finds a node in any phase but `waiting` may drop it from
// its queue: the owner will not be woken through it. The owner unlinks what is left.
//
// Memory ordering: finish() publishes with release what the partner wrote into the owner's
// slot; wait() reads the final state with acquire, so the owner sees the value.
// Lifetime: a waiter lives on its owner's stack; partners touch it only between a successful
// try_claim() and the finish() that ends their access.
#pragma once

#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <typeinfo>

#include "csp/detail/adaptive_mutex.hpp"
#include "csp/detail/futex.hpp"
#include "csp/detail/parker.hpp"
#include "csp/detail/thread_annotations.hpp"

namespace csp::detail {

// What a blocked party waits on, for goroutine dumps and deadlock and leak reports.
struct wait_reason {
  enum class kind : std::uint8_t {
    none,
    chan_send,
    chan_receive,
    chan_send_nil,
    chan_receive_nil,
    select,
    select_no_cases,
    wait_group,
    mutex,
    sleep,
    blocking_call,
  };
  kind what = kind::none;
  const std::type_info* element = nullptr;  // a channel's element type
  std::size_t capacity = 0;                 // a channel's capacity
  std::size_t cases = 0;                    // a select's live cases
};

// Records why the calling goroutine is about to block (no-op on a plain thread). Called only on
// the paths that are about to park, never on a fast path.
void note_wait(const wait_reason& reason) noexcept;

class waiter {
 public:
  enum class phase : std::uint32_t { waiting = 0, claimed = 1, done = 2, aborted = 3 };
  enum class outcome : std::uint32_t { success = 0, closed = 1, retry = 2 };

  // What wait() returns: the final phase (done or aborted), and for done the outcome and case.
  // It is the waiter's final state word itself: three separate fields, built in memory and
  // returned in registers, cost a store-forwarding stall per hand-off (two 4-byte stores read
  // back as one 8-byte load, ~5% of a goroutine ping-pong).
  class result {
   public:
    constexpr result() noexcept = default;
    constexpr explicit result(std::uint32_t final_state) noexcept : word_(final_state) {}
    constexpr phase final_phase() const noexcept { return phase_of(word_); }
    constexpr outcome how() const noexcept {
      return static_cast<outcome>((word_ >> outcome_shift) & 3u);
    }
    constexpr std::uint32_t case_index() const noexcept { return word_ >> index_shift; }

   private:
    std::uint32_t word_ = static_cast<std::uint32_t>(phase::aborted);
  };

  // Who may decide for the waiter. `anyone`: a partner, or its owner or a timer giving up (a
  // deadline, a select whose case became ready meanwhile, a context). `partners_only`: an
  // untimed send or receive, which only a partner holding the channel's lock can complete, one
  // at a time; such a partner needs no CAS to claim it (try_claim() is free), which saves a
  // locked instruction per hand-off.
  enum class decided_by : bool { anyone, partners_only };

  explicit waiter(parker& p = current_parker()) noexcept : parker_(&p) {}
  explicit waiter(decided_by who, parker& p = current_parker()) noexcept
      : partners_only_(who == decided_by::partners_only), parker_(&p) {}
  waiter(const waiter&) = delete;
  waiter& operator=(const waiter&) = delete;

  // Partner side: takes the decision for this waiter, for case `case_index`. False when another
  // party decided first or the owner aborted.
  bool try_claim(std::uint32_t case_index) noexcept {
    // Nobody else decides, and the caller holds the lock that orders the partners: the waiter
    // is still waiting (it left its queue when it was last decided), and finish() takes it
    // from there.
    if (partners_only_) return true;
    std::uint32_t observed = state_.load(std::memory_order_relaxed);
    for (;;) {
      if (phase_of(observed) != phase::waiting) return false;
      const std::uint32_t claimed = (case_index << index_shift) |
                                    static_cast<std::uint32_t>(phase::claimed) |
                                    (observed & sleeping_bit);
      if (state_.compare_exchange_weak(observed, claimed, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        return true;
      }
    }
  }

  // Partner side, after a successful try_claim(): publishes the outcome and wakes the owner.
  // The waiter may be destroyed as soon as the new state is visible, so the parker is read
  // first and the word is not read again.
  void finish(outcome how) noexcept {
    parker* const p = parker_;
    const std::uint32_t index = state_.load(std::memory_order_relaxed) & ~low_mask;
    const std::uint32_t final_state = index | (static_cast<std::uint32_t>(how) << outcome_shift) |
                                      static_cast<std::uint32_t>(phase::done);
    if (asleep_under_lock_) {
      // The owner put the sleeping bit in under the channel lock and is off its stack; nobody
      // else writes the word until it runs again (wait_unlocking()).
      state_.store(final_state, std::memory_order_release);
      p->unpark(state_);
      return;
    }
    // Read before the exchange too: after it the owner may have returned, and a new waiter
    // (say a plain send's, partners_only) may sit at this address. Reading the field after
    // the exchange made this assertion fail, rarely, in SelectAsyncContended/threads runs of
    // an assertion-enabled build, with nothing wrong but the assertion.
    [[maybe_unused]] const phase expected = partners_only_ ? phase::waiting : phase::claimed;
    const std::uint32_t previous = state_.exchange(final_state, std::memory_order_acq_rel);
    assert(phase_of(previous) == expected);
    if (previous & sleeping_bit) p->unpark(state_);
  }

  // Owner side: records why the owner is about to block (see parker::note_wait).
  void note_wait(const wait_reason& reason) noexcept { parker_->note_wait(reason); }

  // Owner side: gives up unless a partner has decided already. True when it gave up.
  bool try_abort() noexcept {
    std::uint32_t observed = state_.load(std::memory_order_relaxed);
    while (phase_of(observed) == phase::waiting) {
      const std::uint32_t aborted = static_cast<std::uint32_t>(phase::aborted);
      if (state_.compare_exchange_weak(observed, aborted, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        return true;
      }
    }
    return false;
  }

  // Owner side: blocks until a partner finishes this waiter, or until `deadline` passes while
  // nobody has claimed it (then it aborts). A claimed waiter always waits for the finish, even
  // past its deadline: the partner is moving the value and will not be long.
  result wait(steady_time deadline = no_deadline) {
    if (deadline != no_deadline && !parker_->supports_deadline()) return wait_with_timer(deadline);
    for (;;) {
      std::uint32_t observed = state_.load(std::memory_order_acquire);
      switch (phase_of(observed)) {
        case phase::done:
        case phase::aborted:
          return result(observed);
        case phase::waiting:
          if (deadline != no_deadline && std::chrono::steady_clock::now() >= deadline) {
            if (try_abort()) return result();
            continue;
          }
          parker_->park(state_, observed, deadline);
          break;
        case phase::claimed:
          parker_->park(state_, observed, no_deadline);
          break;
      }
    }
  }

  // Owner side, for a partners_only waiter whose operation the owner has just queued under
  // `lock`, still held: releases the lock and blocks until a partner finishes the waiter.
  // A goroutine parks before the lock is released (Go's gopark with chanparkcommit): no partner
  // can look at the waiter before it is asleep, so the sleeping bit goes in with a plain store,
  // and the partner finishes with one (finish()) — two locked instructions fewer per hand-off
  // than the race of a CAS against an exchange. A plain thread releases the lock and waits as
  // usual: it spins before it sleeps, and a partner that comes meanwhile must not pay a
  // futex wake.
  result wait_unlocking(adaptive_mutex& lock) CSP_RELEASE(lock) {
    assert(partners_only_);
    if (!parker_->sleeps_before_unlocking()) {
      lock.unlock();
      return wait();
    }
    const std::uint32_t asleep = state_.load(std::memory_order_relaxed) | sleeping_bit;
    state_.store(asleep, std::memory_order_relaxed);
    asleep_under_lock_ = true;
    parker_->park_unlocking(state_, asleep, lock);
    return wait();  // finds the outcome at once
  }

  // Timer side: aborts a waiter nobody claimed, and wakes its owner if it sleeps. Only the
  // party that replaces a value carrying the sleeping bit wakes the owner, so the timer and a
  // partner can never both do it.
  void abort_at_deadline() noexcept {
    parker* const p = parker_;
    std::uint32_t observed = state_.load(std::memory_order_relaxed);
    while (phase_of(observed) == phase::waiting) {
      if (state_.compare_exchange_weak(observed, static_cast<std::uint32_t>(phase::aborted),
                                       std::memory_order_acq_rel, std::memory_order_relaxed)) {
        if (observed & sleeping_bit) p->unpark(state_);
        return;
      }
    }
  }

  // Owner side: makes a finished or aborted waiter usable for another round.
  void reset() noexcept {
    state_.store(0, std::memory_order_relaxed);
    asleep_under_lock_ = false;
  }

  // Returns the current phase; for diagnostics and assertions only.
  phase current_phase() const noexcept { return phase_of(state_.load(std::memory_order_relaxed)); }

 private:
  // wait() for a parker without deadlines: a timer-service node calls abort_at_deadline().
  result wait_with_timer(steady_time deadline);

  static constexpr std::uint32_t phase_mask = 3u;
  static constexpr std::uint32_t outcome_shift = 3;
  static constexpr std::uint32_t index_shift = 8;
  static constexpr std::uint32_t low_mask = (1u << index_shift) - 1;

  static constexpr phase phase_of(std::uint32_t word) noexcept {
    return static_cast<phase>(word & phase_mask);
  }

  // 16 bytes in all: the flags fill what would be padding after the state word.
  std::atomic<std::uint32_t> state_{0};
  const bool partners_only_ = false;
  // Set by the owner under the channel lock before a partner can see the waiter, read by that
  // partner after taking the same lock.
  bool asleep_under_lock_ = false;
  parker* parker_;
};

// One queued channel operation of a waiter: a plain send or receive has one, a select has one
// per case. It lives on the owner's stack, linked into one channel's wait queue.
struct operation {
  waiter* owner = nullptr;
  // Send: the T the partner moves from. Receive: the std::optional<T> the partner fills.
  void* slot = nullptr;
  std::uint32_t case_index = 0;
  bool linked = false;  // beside case_index, in what would be padding: 40 bytes in all
  operation* prev = nullptr;
  operation* next = nullptr;
};

// The waiter and the one operation of a plain blocking send or receive, on one cache line
// (56 bytes). The partner that completes it reads the operation and then the waiter, both on
// the owner's stack; in a long chain of goroutines (the sieve) that stack is cold, and apart
// they were two misses in a row.
struct alignas(64) single_operation {
  single_operation(waiter::decided_by who, void* slot) noexcept : self(who), op{&self, slot} {}
  waiter self;
  operation op;
};

// A FIFO of operations, intrusive so that queuing never allocates. Guarded by its channel's
// lock, except length_hint().
class wait_queue {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  operation* front() const noexcept { return head_; }

  // The number of queued operations, stale ones included, readable without the lock: the
  // non-blocking fast paths use "0" to answer "would block" without taking it.
  std::size_t length_hint() const noexcept { return length_.load(std::memory_order_acquire); }

  void push_back(operation& op) noexcept {
    assert(!op.linked);
    op.prev = tail_;
    op.next = nullptr;
    (tail_ ? tail_->next : head_) = &op;
    tail_ = &op;
    op.linked = true;
    length_.store(length_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  }

  void remove(operation& op) noexcept {
    assert(op.linked);
    (op.prev ? op.prev->next : head_) = op.next;
    (op.next ? op.next->prev : tail_) = op.prev;
    op.prev = op.next = nullptr;
    op.linked = false;
    length_.store(length_.load(std::memory_order_relaxed) - 1, std::memory_order_release);
  }

  // Removes and returns the oldest operation that some waiter other than `self` queued and that
  // this call claimed; drops the stale ones it passes. Null when there is none. `self` is the
  // select asking, so that a select never pairs with its own opposite case (Go's SEL-10).
  operation* claim_first(const waiter* self) noexcept {
    operation* op = head_;
    while (op != nullptr) {
      operation* const next = op->next;
      if (op->owner != self) {
        remove(*op);
        if (op->owner->try_claim(op->case_index)) return op;
      }
      op = next;
    }
    return nullptr;
  }

  // True when some operation of a waiter other than `self` is still waiting (among the first
  // `limit` operations: the invariant checks look no further).
  bool has_waiting(const waiter* self, std::size_t limit = SIZE_MAX) const noexcept {
    return first_waiting(self, limit) != nullptr;
  }

  // The waiter of the first operation that is still waiting and not `self`'s, or null.
  const waiter* first_waiting(const waiter* self, std::size_t limit = SIZE_MAX) const noexcept {
    for (operation* op = head_; op != nullptr && limit != 0; op = op->next, --limit) {
      if (op->owner != self && op->owner->current_phase() == waiter::phase::waiting) {
        return op->owner;
      }
    }
    return nullptr;
  }

 private:
  operation* head_ = nullptr;
  operation* tail_ = nullptr;
  std::atomic<std::size_t> length_{0};  // written under the lock only
};

}  // namespace csp::detail
