// timer.hpp: the flavor behind csp::after, csp::timer and csp::ticker.
//
// Go 1.23 semantics (go-semantics.md TM-1..6, LEN-2): the channel is "synchronous" to its
// users — size() and capacity() are 0 — but holds at most one undelivered tick, so a timer that
// fires before anybody receives is not lost. stop() and reset() discard that tick under the
// timer service's lock, so no value from an earlier setting can be received after they return.
// A ticker whose tick is still undelivered drops the next one instead of queueing it.
//
// The timer node lives inside the channel: when the last handle goes, the destructor cancels
// the node, so a timer nobody references costs neither CPU nor heap space. The destructor takes
// the service lock first; a fire() already running under that lock completes on members that
// are still intact.
//
// Invariants (channel lock held): receivers wait only while tick_ is empty; nobody ever sends
// except the service; the channel is never closed.
#pragma once

#include <chrono>
#include <optional>

#include "csp/detail/channel/core.hpp"
#include "csp/detail/timer_service.hpp"

namespace csp::detail {

using timer_value = std::chrono::steady_clock::time_point;

class timer_channel final : public channel_core<timer_value>, public timer_node {
 public:
  // period == zero(): a one-shot timer.
  // Internally a one-slot channel (count_ says whether a tick waits, for the fast paths);
  // size() and capacity() report 0.
  explicit timer_channel(std::chrono::steady_clock::duration period) noexcept
      : channel_core<timer_value>(1), period_(period) {}

  std::size_t capacity() const noexcept override { return 0; }
  std::size_t size() const noexcept override { return 0; }

  ~timer_channel() override {
    timer_service::instance().locked([this] { timer_service::instance().cancel_locked(*this); });
  }

  // Starts (or restarts) the timer at `when` with `period`; discards an undelivered tick.
  // Returns whether the timer was pending.
  bool restart(steady_time when, std::chrono::steady_clock::duration period) {
    auto& service = timer_service::instance();
    return service.locked([&] {
      const bool was_pending = service.cancel_locked(*this);
      discard_tick();
      period_ = period;
      scheduled_ = when;
      service.schedule_locked(*this, when);
      return was_pending;
    });
  }

  // Stops the timer and discards an undelivered tick; true if it was pending.
  bool stop() {
    auto& service = timer_service::instance();
    return service.locked([&] {
      const bool was_pending = service.cancel_locked(*this);
      discard_tick();
      return was_pending;
    });
  }

  steady_time fire(steady_time now) override {
    {
      channel_section section(*this);
      timer_value value = now;
      send_locked(value, section.wakes);
    }
    if (period_ == std::chrono::steady_clock::duration::zero()) return no_deadline;
    // Skip the ticks a slow receiver missed, keeping the phase (Go's ticker adjustment).
    steady_time next = scheduled_ + period_;
    if (next <= now) next += period_ * ((now - next) / period_ + 1);
    scheduled_ = next;
    return next;
  }

 private:
  bool send_locked(timer_value& value, wake_list& wakes) override CSP_REQUIRES(lock_) {
    if (operation* receiver = receivers_.claim_first(nullptr)) {
      hand_to(*receiver, value, wakes);
    } else if (!tick_) {
      tick_ = value;
      count_.store(1, std::memory_order_release);
    }
    // Otherwise a tick is still undelivered: drop this one, as Go's ticker does.
    return true;
  }

  channel_status receive_locked(std::optional<timer_value>& out, wake_list&) override
      CSP_REQUIRES(lock_) {
    if (!tick_) return channel_status::empty;
    out = tick_;
    tick_.reset();
    count_.store(0, std::memory_order_release);
    return channel_status::success;
  }

  bool can_send_locked(const waiter*) const override CSP_REQUIRES(lock_) { return true; }
  bool can_receive_locked(const waiter*) const override CSP_REQUIRES(lock_) {
    return tick_.has_value();
  }

  void discard_tick() {
    lock_guard guard(lock_);
    tick_.reset();
    count_.store(0, std::memory_order_release);
  }

  std::chrono::steady_clock::duration period_;  // guarded by the service lock
  steady_time scheduled_{};                     // guarded by the service lock
  std::optional<timer_value> tick_ CSP_GUARDED_BY(lock_);
};

}  // namespace csp::detail
