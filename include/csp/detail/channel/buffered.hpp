// buffered.hpp: the capacity-n flavor, a lock-free ring of n slots (ring.hpp) in front of the
// channel lock.
//
// Two regimes, switched by the ring's slow bit:
//   - nobody waits (the bit is clear): send and receive, and their try_ forms, are lock-free
//     ring operations; a send into a full ring or a receive from an empty one takes the lock
//     to wait.
//   - somebody waits, or the channel is closed (the bit is set): every operation takes the
//     lock, and the channel behaves exactly as Go's chan.go — which is also the whole story for
//     a T whose move may throw: such a channel keeps the bit set for life.
// Every locked section sets the bit before it looks at the ring (prepare_locked) and clears it
// on its way out if no operation is queued and the channel is open (settle_locked). A party
// therefore decides to wait only after every fast operation that could change that decision
// has finished or has been turned away.
//
// Invariants (lock held, bit set): receivers wait only while the ring is empty and senders only
// while it is full. A receive that takes the head of a full ring moves the longest-waiting
// sender's value into the freed slot at once (Go's RCV-6), so blocked senders are served in
// arrival order and no newcomer barges past them: a newcomer sees the bit and queues. If a
// sender's value will not move into the slot (its move throws), that sender is told to retry
// and the next one gets the slot: the ring is never left with room while a sender waits. A
// send that finds a blocked receiver (the ring is then empty) hands the value over directly,
// bypassing the ring (SND-7).
// Storage: capacity slots of sizeof(T) plus an 8-byte stamp each, allocated once and stamped at
// creation, so T needs no default constructor.
#pragma once

#include <cassert>
#include <cstddef>
#include <optional>
#include <type_traits>

#include "csp/detail/channel/core.hpp"
#include "csp/detail/channel/ring.hpp"

namespace csp::detail {

template <class T>
class buffered_channel final : public channel_core<T> {
  using base = channel_core<T>;
  // Lock-free operations need a move that cannot fail after the slot is claimed.
  static constexpr bool lock_free = std::is_nothrow_move_constructible_v<T>;

 public:
  explicit buffered_channel(std::size_t capacity)
      : base(checked(capacity), channel_flavor::buffered), ring_(capacity) {
    if (!ring_.ok()) throw_panic("makechan: size out of range");
    if constexpr (!lock_free) {
      lock_guard guard(this->lock_);
      ring_.set_slow_locked();
    }
  }

  std::size_t size() const noexcept override { return ring_.size(); }

  bool send(T& value, steady_time deadline) override {
    if constexpr (lock_free) {
      if (poll([&] { return ring_.template push<false>(value); }) == ring_result::done) {
        return true;
      }
    }
    return this->template send_as<buffered_channel>(value, deadline);
  }

  channel_status receive(std::optional<T>& out, steady_time deadline) override {
    if constexpr (lock_free) {
      if (poll([&] { return ring_.template pop<false>(out); }) == ring_result::done) {
        return channel_status::success;
      }
    }
    return this->template receive_as<buffered_channel>(out, deadline);
  }

  bool try_send(T& value) override { return try_send_inline(value); }
  channel_status try_receive(std::optional<T>& out) override { return try_receive_inline(out); }

  // The bodies of try_send and try_receive, which try_send_now and try_receive_now
  // (flavors.hpp) inline into their callers: the ring's fast push or pop, then, only if the
  // lock must decide, the locked half.
  [[gnu::always_inline]] bool try_send_inline(T& value) {
    if constexpr (lock_free) {
      switch (ring_.template push<false>(value)) {
        case ring_result::done:
          return true;
        case ring_result::full_or_empty:
          return false;  // full, and with the bit clear nobody waits to receive
        case ring_result::slow:
          break;
      }
    }
    return this->template try_send_locking<buffered_channel>(value);
  }

  [[gnu::always_inline]] channel_status try_receive_inline(std::optional<T>& out) {
    if constexpr (lock_free) {
      switch (ring_.template pop<false>(out)) {
        case ring_result::done:
          return channel_status::success;
        case ring_result::full_or_empty:
          return channel_status::empty;  // empty and open: a closed channel keeps the bit
        case ring_result::slow:
          break;
      }
    }
    return this->template try_receive_locking<buffered_channel>(out);
  }

 private:
  friend base;  // send_as and receive_as call the hooks below directly
  using ring_result = typename ring<T>::result;

  // Runs a fast ring operation; if the ring is full (empty), a plain thread on a machine with
  // several CPUs tries again for a while before it takes the lock to wait: 127 pauses in
  // doubling rounds, then up to 4 yields of the core (crossbeam's Backoff), none beside busy
  // processes (yield_while_polling). Blocking costs a futex sleep and wake of microseconds on
  // each side, where a partner on another core usually answers within a few hundred
  // nanoseconds. Goroutines do not poll: their worker has other
  // goroutines to run, and parking one costs a switch, not a system call.
  template <class Operation>
  static ring_result poll(Operation operation) {
    ring_result result = operation();
    if (result != ring_result::full_or_empty || !polling_pays()) return result;
    for (unsigned step = 0; step <= 10; ++step) {
      if (step <= 6) {
        for (unsigned i = 0; i < (1u << step); ++i) cpu_relax();
      } else if (!yield_while_polling()) {
        break;  // busy processes share our CPUs: wait under the lock, where one sleeps
      }
      result = operation();
      if (result != ring_result::full_or_empty) break;
    }
    return result;
  }

  static std::size_t checked(std::size_t capacity) {
    if (capacity > ring<T>::max_capacity || capacity > SIZE_MAX / (sizeof(T) + 8)) {
      throw_panic("makechan: size out of range");
    }
    return capacity;
  }

  void prepare_locked() override CSP_REQUIRES(this->lock_) {
    if (!ring_.is_slow_locked()) ring_.set_slow_locked();
  }
  void settle_locked() override CSP_REQUIRES(this->lock_) {
#if defined(CSP_CHECK_INVARIANTS)
    // The invariants above, at the end of every locked section (the sanitizer presets; see
    // check_invariants_locked). A waiter that is no longer waiting may still sit in a queue
    // until someone drops it, so only waiting ones count.
    assert(!this->receivers_.has_waiting(nullptr, base::invariant_walk) || ring_.size() == 0);
    assert(!this->senders_.has_waiting(nullptr, base::invariant_walk) ||
           ring_.size() == this->capacity_);
#endif
    if (lock_free && this->senders_.empty() && this->receivers_.empty() &&
        !this->closed_.load(std::memory_order_relaxed)) {
      ring_.clear_slow_locked();
    }
  }

  bool send_locked(T& value, wake_list& wakes) override CSP_REQUIRES(this->lock_) {
    if (!this->receivers_.empty() && ring_.size() == 0) {
      if (operation* receiver = this->receivers_.claim_first(nullptr)) {
        base::hand_to(*receiver, value, wakes);
        return true;
      }
    }
    return ring_.template push<true>(value) == ring_result::done;
  }

  channel_status receive_locked(std::optional<T>& out, wake_list& wakes) override
      CSP_REQUIRES(this->lock_) {
    if (ring_.template pop<true>(out) != ring_result::done) {
      return this->closed_.load(std::memory_order_relaxed) ? channel_status::closed
                                                           : channel_status::empty;
    }
    // The ring was full if a sender waits: give its value the slot just freed.
    while (operation* sender = this->senders_.claim_first(nullptr)) {
      try {
        if (ring_.template push<true>(*static_cast<T*>(sender->slot)) == ring_result::done) {
          wakes.add(sender->owner, waiter::outcome::success);
        } else {
          wakes.add(sender->owner, waiter::outcome::retry);  // cannot happen: one slot is free
        }
        break;
      } catch (...) {
        // Our receive succeeded; the sender keeps its value and meets the exception itself
        // when it retries. The slot goes to the next blocked sender: left free, it would break
        // the invariant that senders wait only on a full ring, and a receiver could then queue
        // beside a waiting sender, both asleep for good if the retry throws again and its
        // sender gives up.
        wakes.add_retry(*sender);
      }
    }
    return channel_status::success;
  }

  bool can_send_locked(const waiter*) const override CSP_REQUIRES(this->lock_) {
    // Blocked receivers imply an empty ring, so room in the ring covers them too.
    return ring_.size() < this->capacity_;
  }
  bool can_receive_locked(const waiter*) const override CSP_REQUIRES(this->lock_) {
    // Blocked senders imply a full ring, so a non-empty ring covers them too.
    return ring_.size() > 0;
  }

  ring<T> ring_;
};

}  // namespace csp::detail
