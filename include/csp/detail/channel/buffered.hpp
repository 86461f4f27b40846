// buffered.hpp: the capacity-n flavor, a ring of n slots.
//
// Invariants (lock held): 0 <= count <= capacity; receivers wait only while count == 0 and
// senders only while count == capacity; slots [head, head + count) mod capacity hold live
// values, the rest are raw storage. A receive that takes the head of a full ring moves the
// longest-waiting sender's value into the freed slot at once (Go's RCV-6), so blocked senders
// are served in arrival order and no newcomer barges past them. A send that finds a blocked
// receiver (the ring is then empty) hands the value over directly, bypassing the ring (SND-7).
// Storage is allocated once, uninitialised, so T needs no default constructor and a large
// capacity costs address space until it is used.
#pragma once

#include <cstddef>
#include <memory>
#include <new>

#include "csp/detail/channel/core.hpp"

namespace csp::detail {

template <class T>
class buffered_channel final : public channel_core<T> {
  using base = channel_core<T>;

 public:
  explicit buffered_channel(std::size_t capacity) : base(capacity) {
    slots_ = static_cast<T*>(
        ::operator new (capacity * sizeof(T), std::align_val_t{alignof(T)}, std::nothrow));
    if (slots_ == nullptr) throw_panic("makechan: size out of range");
  }

  ~buffered_channel() override {
    std::size_t index = head_;
    for (std::size_t left = this->count_.load(std::memory_order_relaxed); left > 0; --left) {
      slots_[index].~T();
      if (++index == this->capacity_) index = 0;
    }
    ::operator delete (slots_, std::align_val_t{alignof(T)});
  }

 private:
  bool send_locked(T& value, wake_list& wakes) override CSP_REQUIRES(this->lock_) {
    const std::size_t count = this->count_.load(std::memory_order_relaxed);
    if (count == 0) {
      if (operation* receiver = this->receivers_.claim_first(nullptr)) {
        base::hand_to(*receiver, value, wakes);
        return true;
      }
    }
    if (count == this->capacity_) return false;
    push(value, count);
    return true;
  }

  channel_status receive_locked(std::optional<T>& out, wake_list& wakes) override
      CSP_REQUIRES(this->lock_) {
    const std::size_t count = this->count_.load(std::memory_order_relaxed);
    if (count == 0) {
      return this->closed_.load(std::memory_order_relaxed) ? channel_status::closed
                                                           : channel_status::empty;
    }
    T& head = slots_[head_];
    out.emplace(std::move_if_noexcept(head));  // a throw here leaves the ring untouched
    head.~T();
    if (++head_ == this->capacity_) head_ = 0;
    this->count_.store(count - 1, std::memory_order_release);
    // The ring was full if a sender waits: give its value the slot just freed.
    if (operation* sender = this->senders_.claim_first(nullptr)) {
      try {
        push(*static_cast<T*>(sender->slot), count - 1);
        wakes.add(sender->owner, waiter::outcome::success);
      } catch (...) {
        // Our receive succeeded; the sender keeps its value and meets the exception itself
        // when it retries.
        wakes.add(sender->owner, waiter::outcome::retry);
      }
    }
    return channel_status::success;
  }

  bool can_send_locked(const waiter*) const override CSP_REQUIRES(this->lock_) {
    // Blocked receivers imply an empty ring, so room in the ring covers them too.
    return this->count_.load(std::memory_order_relaxed) < this->capacity_;
  }
  bool can_receive_locked(const waiter*) const override CSP_REQUIRES(this->lock_) {
    // Blocked senders imply a full ring, so a non-empty ring covers them too.
    return this->count_.load(std::memory_order_relaxed) > 0;
  }

  // Constructs a copy or move of `value` at the tail; on a throw nothing changes.
  void push(T& value, std::size_t count) CSP_REQUIRES(this->lock_) {
    std::size_t tail = head_ + count;
    if (tail >= this->capacity_) tail -= this->capacity_;
    ::new (static_cast<void*>(slots_ + tail)) T(std::move_if_noexcept(value));
    this->count_.store(count + 1, std::memory_order_release);
  }

  T* slots_ = nullptr;
  std::size_t head_ CSP_GUARDED_BY(this->lock_) = 0;
};

}  // namespace csp::detail
