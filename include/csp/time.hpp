// time.hpp: timers, tickers and sleeping, with Go 1.23's semantics.
//
//   csp::select(csp::on_receive(jobs, job), csp::on_receive(csp::after(100ms)));  // a timeout
//   csp::timer t(5s);    t.stop();   t.reset(1s);     t.channel().receive();
//   csp::ticker k(1s);   for (auto tick : k.channel()) { ... }                      // until stop
//   csp::sleep_for(5ms);
//
// A timer's channel delivers one value, the steady_clock time at which it fired; a ticker's
// delivers one per period. Guarantees (go-semantics.md TM-1..7):
//   - nothing fires early: a value is delivered no sooner than its deadline;
//   - after stop() or reset() returns, no value from the earlier setting can be received;
//   - a ticker whose last tick is still unreceived drops the next tick instead of queueing it,
//     and keeps its phase;
//   - the channels report size() and capacity() 0, like Go's synchronous timer channels, and
//     are never closed: stop() does not close them;
//   - a timer or after() channel that nobody references any more is cancelled at once: it costs
//     neither CPU nor memory;
//   - one service thread fires every timer of the process; it sleeps until the earliest
//     deadline and, with no pending timer, indefinitely.
// sleep_for / sleep_until block the calling party (thread now, goroutine once the runtime runs
// it) for at least the given time; a non-positive duration returns at once.
//
// Memory ordering: a timer's delivery is an ordinary channel send; stop() and reset() happen
// before any receive that returns a value of the new setting.
// Lifetime: the receiver from channel() may outlive the timer object; the timer stays armed
// while either exists.
#pragma once

#include <chrono>
#include <memory>

#include "csp/channel.hpp"
#include "csp/detail/channel/timer.hpp"
#include "csp/panic_error.hpp"

namespace csp {

namespace detail {
void sleep_until_steady(steady_time deadline);
}  // namespace detail

// A one-shot timer (Go's time.Timer).
class timer {
 public:
  using clock = std::chrono::steady_clock;

  // Starts a timer that fires once, `delay` from now.
  template <class Rep, class Period>
  explicit timer(const std::chrono::duration<Rep, Period>& delay)
      : channel_(std::make_shared<detail::timer_channel>(clock::duration::zero())) {
    channel_->restart(detail::deadline_after(delay), clock::duration::zero());
  }

  // Returns the channel the timer delivers to.
  receiver<clock::time_point> channel() const {
    return detail::handle_access::make<receiver<clock::time_point>>(
        std::shared_ptr<detail::channel_core<clock::time_point>>(channel_));
  }

  // Stops the timer. True if this call stopped it, false if it had already fired or stopped.
  // An undelivered value is discarded.
  bool stop() { return channel_->stop(); }

  // Re-arms the timer to fire `delay` from now; returns whether it had been pending. An
  // undelivered value of the earlier setting is discarded.
  template <class Rep, class Period>
  bool reset(const std::chrono::duration<Rep, Period>& delay) {
    return channel_->restart(detail::deadline_after(delay), clock::duration::zero());
  }

 private:
  std::shared_ptr<detail::timer_channel> channel_;
};

// A periodic ticker (Go's time.Ticker).
class ticker {
 public:
  using clock = std::chrono::steady_clock;

  // Starts a ticker with the given period. Throws panic_error("non-positive interval for
  // NewTicker") for a period <= 0.
  template <class Rep, class Period>
  explicit ticker(const std::chrono::duration<Rep, Period>& period)
      : channel_(std::make_shared<detail::timer_channel>(checked(period, "NewTicker"))) {
    const auto step = checked(period, "NewTicker");
    channel_->restart(clock::now() + step, step);
  }

  // Returns the channel the ticks are delivered to.
  receiver<clock::time_point> channel() const {
    return detail::handle_access::make<receiver<clock::time_point>>(
        std::shared_ptr<detail::channel_core<clock::time_point>>(channel_));
  }

  // Stops the ticker; an undelivered tick is discarded. The channel is not closed.
  void stop() { channel_->stop(); }

  // Stops the ticker and restarts it with a new period. Throws panic_error("non-positive
  // interval for Ticker.Reset") for a period <= 0.
  template <class Rep, class Period>
  void reset(const std::chrono::duration<Rep, Period>& period) {
    const auto step = checked(period, "Ticker.Reset");
    channel_->restart(clock::now() + step, step);
  }

 private:
  template <class Rep, class Period>
  static clock::duration checked(const std::chrono::duration<Rep, Period>& period,
                                 const char* who) {
    if (period <= period.zero()) {
      detail::throw_panic(who[0] == 'N' ? "non-positive interval for NewTicker"
                                        : "non-positive interval for Ticker.Reset");
    }
    return std::chrono::ceil<clock::duration>(period);
  }

  std::shared_ptr<detail::timer_channel> channel_;
};

// Returns a channel that delivers the time once, `delay` from now (Go's time.After).
template <class Rep, class Period>
receiver<std::chrono::steady_clock::time_point> after(
    const std::chrono::duration<Rep, Period>& delay) {
  auto channel = std::make_shared<detail::timer_channel>(std::chrono::steady_clock::duration{});
  channel->restart(detail::deadline_after(delay), std::chrono::steady_clock::duration::zero());
  return detail::handle_access::make<receiver<std::chrono::steady_clock::time_point>>(
      std::shared_ptr<detail::channel_core<std::chrono::steady_clock::time_point>>(
          std::move(channel)));
}

// Blocks the calling party for at least `duration`.
template <class Rep, class Period>
void sleep_for(const std::chrono::duration<Rep, Period>& duration) {
  if (duration <= duration.zero()) return;
  detail::sleep_until_steady(detail::deadline_after(duration));
}

// Blocks the calling party until `deadline` has passed.
template <class Clock, class Duration>
void sleep_until(const std::chrono::time_point<Clock, Duration>& deadline) {
  detail::sleep_until_steady(detail::to_steady(deadline));
}

}  // namespace csp
