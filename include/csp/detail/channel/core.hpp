// core.hpp: what every channel flavor shares — the lock, the closed flag, the queues of blocked
// parties, blocking with deadlines, close(), and the hooks that select uses.
//
// Algorithm: Go's runtime/chan.go (one lock per channel, FIFO queues of blocked operations,
// direct hand-off to a blocked partner), with crossbeam-channel's waiter protocol for blocking
// and select (a CAS on the waiter decides, so a select registers on each channel separately and
// never holds two channel locks at once).
//
// Invariants (with lock_ held):
//   - an operation in a queue belongs to a waiter that is blocked in this channel or in a select
//     that includes it; once its waiter leaves `waiting` it is dropped by whoever meets it next,
//     or by its owner;
//   - closed_ never goes back to false; after close, both queues hold no waiting operation;
//   - a value is moved exactly once: into a ring slot, or into a receiver's slot, or not at all.
//
// Exceptions: values move with std::move_if_noexcept, so a type whose move may throw is copied
// and its source survives a failure. When the move throws, the party doing the move gets the
// exception and the channel is as before: a value being sent stays with its sender, a value
// being received stays in the ring or with its sender. A blocked partner whose value could not
// be moved is woken with `retry` and runs its own operation again, so the exception reaches the
// party that owns the value.
//
// Memory ordering: lock_ orders everything done under it; a value handed to a blocked party is
// published by waiter::finish (release) and read after waiter::wait (acquire). Hence a send
// happens before the receive that gets its value completes, and close() happens before a receive
// that reports closed (Go's memory model, MM-1 and MM-2); for capacity 0 the receive also happens
// before the send completes (MM-3), and for capacity C the k-th receive before the (k+C)-th send
// completes (MM-4), because the sender that waits for room is completed under the same lock.
#pragma once

#include <atomic>
#include <cassert>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <type_traits>
#include <utility>

#include "csp/channel_status.hpp"
#include "csp/detail/adaptive_mutex.hpp"
#include "csp/detail/thread_annotations.hpp"
#include "csp/detail/waiter.hpp"
#include "csp/detail/wake_batch.hpp"
#include "csp/panic_error.hpp"

namespace csp::detail {

[[noreturn]] void throw_panic(const char* text);

inline bool deadline_passed(steady_time deadline) noexcept {
  return deadline != no_deadline && std::chrono::steady_clock::now() >= deadline;
}

// Waiters to finish once the channel lock is released: waking a thread is a system call, and
// a woken party should not find the lock still held. A channel operation completes at most one
// partner, and may owe a second one a retry; a receive that refills a buffered channel's ring
// may owe a retry to every blocked sender whose value would not move (buffered.hpp), which
// wait here in a list threaded through their own operations.
class wake_list {
 public:
  wake_list() = default;
  wake_list(const wake_list&) = delete;
  wake_list& operator=(const wake_list&) = delete;

  void add(waiter* w, waiter::outcome how) noexcept {
    assert(count_ < 2);
    entries_[count_++] = {w, how};
  }
  // `op` has left its channel's queue (claimed), so its links are free to use.
  void add_retry(operation& op) noexcept { retries_.push_back(op); }
  bool empty() const noexcept { return count_ == 0 && retries_.empty(); }
  void run() noexcept {
    for (int i = 0; i < count_; ++i) entries_[i].target->finish(entries_[i].how);
    count_ = 0;
    // Unlinked before the finish: its owner may reuse the node as soon as it sees the outcome.
    while (operation* op = retries_.front()) {
      retries_.remove(*op);
      op->owner->finish(waiter::outcome::retry);
    }
  }

 private:
  struct entry {
    waiter* target;
    waiter::outcome how;
  };
  entry entries_[2];
  int count_ = 0;
  wait_queue retries_;
};

// Which implementation a core is: try_send_now() and try_receive_now() (flavors.hpp) call the
// two common ones without a virtual call, and only the buffered flavor has the prepare/settle
// hooks that channel_section runs.
enum class channel_flavor : std::uint8_t { rendezvous, buffered, other };

template <class T>
class channel_core {
 public:
  explicit channel_core(std::size_t capacity,
                        channel_flavor flavor = channel_flavor::other) noexcept
      : flavor_(flavor), capacity_(capacity) {}
  virtual ~channel_core() = default;
  channel_core(const channel_core&) = delete;
  channel_core& operator=(const channel_core&) = delete;

  // Go's cap and len. Virtual only so that timer channels can report 0 for both, as Go's
  // synchronous timer channels do.
  virtual std::size_t capacity() const noexcept { return capacity_; }
  virtual std::size_t size() const noexcept { return count_.load(std::memory_order_relaxed); }

  // Sends `value`, moving from it only if the send happens. Returns false when `deadline`
  // passed first. Throws panic_error if the channel is or becomes closed.
  // One lock section decides, and queues the send there if it must wait: a first section that
  // only looked, and a second one to queue, cost a blocking send two more locked instructions
  // (the lock's CAS and its release's exchange), a sixth of a goroutine ping-pong's hand-off.
  virtual bool send(T& value, steady_time deadline) {
    return send_as<channel_core>(value, deadline);
  }

  // Sends `value` if that needs no waiting. Throws panic_error on a closed channel, as Go's
  // select with a default case does.
  virtual bool try_send(T& value) { return try_send_as<channel_core>(value); }

  // Receives into `out` (left empty unless success). Returns success, closed (closed and
  // drained), or timeout.
  // As send(), one lock section decides and queues.
  virtual channel_status receive(std::optional<T>& out, steady_time deadline) {
    return receive_as<channel_core>(out, deadline);
  }

  // Receives into `out` if that needs no waiting: success, empty or closed.
  virtual channel_status try_receive(std::optional<T>& out) {
    return try_receive_as<channel_core>(out);
  }

  // The bodies of try_send and try_receive for a flavor without a lock-free path of its own
  // (rendezvous), with Flavor's hooks called directly (as in send_as): try_send_now and
  // try_receive_now (flavors.hpp) inline them.
  template <class Flavor>
  bool try_send_as(T& value) {
    if (send_would_block()) return false;
    return try_send_locking<Flavor>(value);
  }
  template <class Flavor>
  channel_status try_receive_as(std::optional<T>& out) {
    if (receive_would_block()) return channel_status::empty;
    return try_receive_locking<Flavor>(out);
  }

  // try_send and try_receive once their lock-free answer was "take the lock and see". Out of
  // line: inlined into every case of a select, the locked paths made SelectSyncContended 8%
  // slower.
  template <class Flavor>
  [[gnu::noinline]] bool try_send_locking(T& value) {
    channel_section section(*this);
    if (closed_.load(std::memory_order_relaxed)) throw_panic("send on closed channel");
    return send_locked_as<Flavor>(value, section.wakes);
  }
  template <class Flavor>
  [[gnu::noinline]] channel_status try_receive_locking(std::optional<T>& out) {
    channel_section section(*this);
    return receive_locked_as<Flavor>(out, section.wakes);
  }

  // Closes the channel: blocked receivers wake with "closed", blocked senders wake and throw.
  void close() {
    wait_queue woken;
    {
      channel_section section(*this);
      if (closed_.load(std::memory_order_relaxed)) throw_panic("close of closed channel");
      closed_.store(true, std::memory_order_release);
      while (operation* op = receivers_.claim_first(nullptr)) woken.push_back(*op);
      while (operation* op = senders_.claim_first(nullptr)) woken.push_back(*op);
    }
    // Finish outside the lock. Unlink each operation first: its owner may return, and reuse or
    // free the node, the moment it sees the new state.
    wake_batch batch;
    while (operation* op = woken.front()) {
      woken.remove(*op);
      op->owner->finish(waiter::outcome::closed);
    }
  }

  bool is_closed() const noexcept { return closed_.load(std::memory_order_acquire); }
  channel_flavor flavor() const noexcept { return flavor_; }

  // Select hooks. A select first tries every case with try_send/try_receive; if none can
  // proceed it queues one operation per case with enqueue_*, which refuses (returns false) when
  // the case became ready meanwhile; after waking it removes what is still queued with
  // dequeue_*. `op.owner` is the select's waiter, which never pairs with its own other cases.
  bool enqueue_send(operation& op) {
    channel_section section(*this);
    if (closed_.load(std::memory_order_relaxed) || can_send_locked(op.owner)) return false;
    senders_.push_back(op);
    return true;
  }
  bool enqueue_receive(operation& op) {
    channel_section section(*this);
    if (closed_.load(std::memory_order_relaxed) || can_receive_locked(op.owner)) return false;
    receivers_.push_back(op);
    return true;
  }
  void dequeue_send(operation& op) {
    channel_section section(*this);
    if (op.linked) senders_.remove(op);
  }
  void dequeue_receive(operation& op) {
    channel_section section(*this);
    if (op.linked) receivers_.remove(op);
  }

 protected:
  // The bodies of send() and receive(), instantiated by each final flavor for itself (its
  // send() and receive() overrides call them with Flavor = itself), so that the flavor hooks
  // they call are direct calls the compiler can inline, not virtual ones: a virtual
  // send_locked() and capacity() per channel operation were a few percent of a goroutine
  // hand-off. With Flavor = channel_core the hooks stay virtual.
  template <class Flavor>
  bool send_as(T& value, steady_time deadline) {
    single_operation blocked(
        deadline == no_deadline ? waiter::decided_by::partners_only : waiter::decided_by::anyone,
        &value);
    waiter& self = blocked.self;
    operation& op = blocked.op;
    for (;;) {
      waiter::result result;
      {
        channel_section section(*this);
        if (closed_.load(std::memory_order_relaxed)) throw_panic("send on closed channel");
        if (send_locked_as<Flavor>(value, section.wakes)) return true;
        if (deadline_passed(deadline)) return false;
        // Prepare for blocking: from here a receiver or close() may claim `op`.
        senders_.push_back(op);
        self.note_wait(
            {wait_reason::kind::chan_send, &typeid(T), static_cast<Flavor&>(*this).capacity()});
        if (deadline == no_deadline) result = section.wait_unlocking(self);
      }
      if (deadline != no_deadline) result = self.wait(deadline);
      if (result.final_phase() == waiter::phase::aborted) {
        channel_section section(*this);
        if (op.linked) senders_.remove(op);
        return false;
      }
      switch (result.how()) {
        case waiter::outcome::success:
          return true;
        case waiter::outcome::closed:
          throw_panic("send on closed channel");
        case waiter::outcome::retry:
          self.reset();
          break;
      }
    }
  }

  template <class Flavor>
  channel_status receive_as(std::optional<T>& out, steady_time deadline) {
    single_operation blocked(
        deadline == no_deadline ? waiter::decided_by::partners_only : waiter::decided_by::anyone,
        &out);
    waiter& self = blocked.self;
    operation& op = blocked.op;
    for (;;) {
      waiter::result result;
      {
        channel_section section(*this);
        const channel_status status = receive_locked_as<Flavor>(out, section.wakes);
        if (status != channel_status::empty) return status;
        if (deadline_passed(deadline)) return channel_status::timeout;
        // Prepare for blocking: from here a sender or close() may claim `op`.
        receivers_.push_back(op);
        self.note_wait(
            {wait_reason::kind::chan_receive, &typeid(T), static_cast<Flavor&>(*this).capacity()});
        if (deadline == no_deadline) result = section.wait_unlocking(self);
      }
      if (deadline != no_deadline) result = self.wait(deadline);
      if (result.final_phase() == waiter::phase::aborted) {
        channel_section section(*this);
        if (op.linked) receivers_.remove(op);
        return channel_status::timeout;
      }
      switch (result.how()) {
        case waiter::outcome::success:
          return channel_status::success;
        case waiter::outcome::closed:
          return channel_status::closed;
        case waiter::outcome::retry:
          self.reset();
          break;
      }
    }
  }

  // The flavor's hooks, called directly. The analysis cannot see that the flavor's lock_ is
  // this->lock_, so the call is unchecked and the requirement is stated here instead.
  template <class Flavor>
  bool send_locked_as(T& value, wake_list& wakes)
      CSP_REQUIRES(lock_) CSP_NO_THREAD_SAFETY_ANALYSIS {
    return static_cast<Flavor&>(*this).send_locked(value, wakes);
  }
  template <class Flavor>
  channel_status receive_locked_as(std::optional<T>& out, wake_list& wakes)
      CSP_REQUIRES(lock_) CSP_NO_THREAD_SAFETY_ANALYSIS {
    return static_cast<Flavor&>(*this).receive_locked(out, wakes);
  }

  // Holds the channel lock for a scope, runs the flavor's prepare/settle hooks right after
  // taking it and right before releasing it, and finishes the collected waiters after
  // releasing it, on every exit path, exceptions included.
  class CSP_SCOPED_CAPABILITY channel_section {
   public:
    explicit channel_section(channel_core& core) CSP_ACQUIRE(core.lock_) : core_(core) {
      core_.lock_.lock();
      if (core_.has_hooks()) core_.prepare_locked();
    }
    ~channel_section() CSP_RELEASE() {
      if (handed_over_) return;
      core_.check_invariants_locked();
      if (core_.has_hooks()) core_.settle_locked();
      core_.lock_.unlock();
      wakes.run();
    }

    // Blocks the owner of `w`, a partners_only waiter whose operation this section queued;
    // the lock is released once the owner sleeps (waiter::wait_unlocking). An operation that
    // queues itself has completed nobody, so nothing waits to be woken.
    waiter::result wait_unlocking(waiter& w) CSP_NO_THREAD_SAFETY_ANALYSIS {
      assert(wakes.empty());
      core_.check_invariants_locked();
      if (core_.has_hooks()) core_.settle_locked();
      handed_over_ = true;
      return w.wait_unlocking(core_.lock_);
    }
    channel_section(const channel_section&) = delete;
    channel_section& operator=(const channel_section&) = delete;

    wake_list wakes;

   private:
    channel_core& core_;
    bool handed_over_ = false;  // the lock went to wait_unlocking()
  };

  // The invariants every flavor keeps, checked at the end of every locked section in builds
  // with CSP_CHECK_INVARIANTS (the sanitizer presets; the buffered flavor checks its own in
  // settle_locked). While the lock is held nobody joins or leaves a queue, and a queued
  // operation's waiter can only leave `waiting` (claimed through another channel, or aborted),
  // never come back to it: an operation seen waiting here has been waiting since it was queued.
  // Each walk stops after invariant_walk operations: a queue of thousands that no longer wait
  // (a cancel's, until each select has taken its own out) made every section walk them all, and
  // compare_csp's cancel (built without NDEBUG, when NDEBUG still switched these on) 380x
  // slower. A shorter walk only misses a broken invariant, never reports a sound one.
  static constexpr std::size_t invariant_walk = 64;
  void check_invariants_locked() const CSP_REQUIRES(lock_) {
#if defined(CSP_CHECK_INVARIANTS)
    // close() claims every waiting operation in its section, and nobody queues on a closed
    // channel.
    if (closed_.load(std::memory_order_relaxed)) {
      assert(!senders_.has_waiting(nullptr, invariant_walk) &&
             !receivers_.has_waiting(nullptr, invariant_walk));
    }
    // Capacity 0: a send and a receive that both wait would have met when the second one came,
    // unless they are two cases of one select, which never pairs with itself.
    if (flavor_ == channel_flavor::rendezvous && receivers_.has_waiting(nullptr, invariant_walk)) {
      if (const waiter* sender = senders_.first_waiting(nullptr, invariant_walk)) {
        assert(!senders_.has_waiting(sender, invariant_walk) &&
               !receivers_.has_waiting(sender, invariant_walk));
      }
    }
#endif
  }

  // Whether prepare_locked and settle_locked do anything: only the buffered flavor overrides
  // them.
  bool has_hooks() const noexcept { return flavor_ == channel_flavor::buffered; }

  // Called right after the lock is taken, before anything is inspected, and right before it
  // is released, after everything is done (the buffered flavor switches its ring to the lock
  // and back there).
  virtual void prepare_locked() CSP_REQUIRES(lock_) {}
  virtual void settle_locked() CSP_REQUIRES(lock_) {}

  // Flavor hooks, called with lock_ held on an open channel (send) or any channel (receive).
  // send_locked: completes the send now and returns true, or returns false (it would block).
  // receive_locked: success, empty (it would block) or closed (closed and drained).
  virtual bool send_locked(T& value, wake_list& wakes) CSP_REQUIRES(lock_) = 0;
  virtual channel_status receive_locked(std::optional<T>& out, wake_list& wakes)
      CSP_REQUIRES(lock_) = 0;
  // Whether a send / receive could complete now, not counting operations of `self`.
  virtual bool can_send_locked(const waiter* self) const CSP_REQUIRES(lock_) = 0;
  virtual bool can_receive_locked(const waiter* self) const CSP_REQUIRES(lock_) = 0;

  // Moves `value` into the slot of `op`, a receive operation this call claimed, and schedules
  // its owner's wake-up. If the move throws, the owner is told to retry and the exception
  // propagates to the sender, which still owns its value.
  static void hand_to(operation& op, T& value, wake_list& wakes) {
    auto& slot = *static_cast<std::optional<T>*>(op.slot);
    try {
      slot.emplace(std::move_if_noexcept(value));
    } catch (...) {
      wakes.add(op.owner, waiter::outcome::retry);
      throw;
    }
    wakes.add(op.owner, waiter::outcome::success);
  }

  // Moves the value of `op`, a send operation this call claimed, into `out`; as hand_to, the
  // exception goes to the receiver and the sender retries with its value intact.
  static void take_from(operation& op, std::optional<T>& out, wake_list& wakes) {
    T& source = *static_cast<T*>(op.slot);
    try {
      out.emplace(std::move_if_noexcept(source));
    } catch (...) {
      wakes.add(op.owner, waiter::outcome::retry);
      throw;
    }
    wakes.add(op.owner, waiter::outcome::success);
  }

  // What a blocking send or receive touches comes first, in 60 bytes after the vtable
  // pointer: the lock and both queues, so that it spans two cache lines at most. In the
  // sieve's chain a hand-off finds its channel cold, and a queue head on another line than the
  // lock is a second miss in a row. (Aligning the object to a line as well, so that it takes
  // one, was no faster in A/B and cost each channel 80 bytes.)
  adaptive_mutex lock_;
  std::atomic<bool> closed_{false};  // written under lock_
  const channel_flavor flavor_;      // in the padding before senders_
  wait_queue senders_ CSP_GUARDED_BY(lock_);
  wait_queue receivers_ CSP_GUARDED_BY(lock_);
  // Then what the fast paths (try_ on a buffered or timer channel) read.
  const std::size_t capacity_;
  // Values a receiver can take without a partner (the ring's, or a timer's pending tick);
  // written under lock_, read without it by size() and the fast paths.
  std::atomic<std::size_t> count_{0};

 private:
  // The lock-free answers of the non-blocking operations (Go's chansend / chanrecv fast path).
  // count_ and the queue lengths are stored with release under the lock, so reading them with
  // acquire also shows every earlier change made under the lock, closed_ included: a reader
  // that sees the count a receive left after close() also sees the close.
  // A closed channel cannot reopen, and a full ring with no waiting receiver (an empty ring
  // with no waiting sender) cannot change without the lock; so "would block" read first and
  // "open" read after describe one instant, the one of the first load. Any other answer means
  // "take the lock and see".
  bool send_would_block() const noexcept CSP_NO_THREAD_SAFETY_ANALYSIS {
    return count_.load(std::memory_order_acquire) == capacity_ && receivers_.length_hint() == 0 &&
           !closed_.load(std::memory_order_acquire);
  }
  bool receive_would_block() const noexcept CSP_NO_THREAD_SAFETY_ANALYSIS {
    return count_.load(std::memory_order_acquire) == 0 && senders_.length_hint() == 0 &&
           !closed_.load(std::memory_order_acquire);
  }
};

}  // namespace csp::detail
