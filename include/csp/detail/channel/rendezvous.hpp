// rendezvous.hpp: the capacity-0 flavor, where a send and a receive meet.
//
// No value is ever stored in the channel. The party that arrives second finds the first one
// blocked in the opposite queue and moves the value between their stacks, so a send completes
// exactly when a receiver has taken the value (Go's unbuffered channel, SND-2 / RCV-5).
// Invariant: at most one of senders_ and receivers_ holds waiting operations, except for one
// select that waits on both sides of this channel (it never pairs with itself).
#pragma once

#include "csp/detail/channel/core.hpp"

namespace csp::detail {

template <class T>
class rendezvous_channel final : public channel_core<T> {
  using base = channel_core<T>;

 public:
  rendezvous_channel() noexcept : base(0, channel_flavor::rendezvous) {}

  bool send(T& value, steady_time deadline) override {
    return this->template send_as<rendezvous_channel>(value, deadline);
  }
  channel_status receive(std::optional<T>& out, steady_time deadline) override {
    return this->template receive_as<rendezvous_channel>(out, deadline);
  }

 private:
  friend base;  // send_as and receive_as call the hooks below directly

  bool send_locked(T& value, wake_list& wakes) override CSP_REQUIRES(this->lock_) {
    operation* receiver = this->receivers_.claim_first(nullptr);
    if (receiver == nullptr) return false;
    base::hand_to(*receiver, value, wakes);
    return true;
  }

  channel_status receive_locked(std::optional<T>& out, wake_list& wakes) override
      CSP_REQUIRES(this->lock_) {
    if (operation* sender = this->senders_.claim_first(nullptr)) {
      base::take_from(*sender, out, wakes);
      return channel_status::success;
    }
    return this->closed_.load(std::memory_order_relaxed) ? channel_status::closed
                                                         : channel_status::empty;
  }

  bool can_send_locked(const waiter* self) const override CSP_REQUIRES(this->lock_) {
    return this->receivers_.has_waiting(self);
  }
  bool can_receive_locked(const waiter* self) const override CSP_REQUIRES(this->lock_) {
    return this->senders_.has_waiting(self);
  }
};

}  // namespace csp::detail
