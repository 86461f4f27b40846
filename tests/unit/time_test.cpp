// time_test.cpp: csp::after, csp::timer, csp::ticker and sleeping (csp/time.hpp), and the timed
// forms of the channel operations and of select.
//
// Each test names the Go rule it checks (go-semantics.md §1.13, TM-*). Timing is checked from
// below only: a timer may be late on a loaded machine, never early, so no test bounds a delay
// from above. (The upper bounds here are of another kind: "a non-positive sleep returns at once",
// checked against seconds, and the CPU time an idle timer service may use.)
//
// Knowing that a timer fired: the timer service holds its lock while it fires a timer, and
// pending_count() takes that lock, so once the count drops the tick is in the channel. Tests
// poll pending_count() (bounded by `patience`) instead of sleeping.
#include <gtest/gtest.h>
#include <time.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "csp/channel.hpp"
#include "csp/detail/timer_service.hpp"
#include "csp/select.hpp"
#include "csp/time.hpp"
#include "support/cpu_time.hpp"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CSP_TIME_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CSP_TIME_TEST_SANITIZED 1
#endif
#endif
#ifndef CSP_TIME_TEST_SANITIZED
#define CSP_TIME_TEST_SANITIZED 0
#endif

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

// How long any bounded wait in this file gives the timer service before the test fails.
constexpr auto patience = 10s;
// A delay under test, and how long a "nothing arrives" probe waits.
constexpr auto delay = 20ms;

std::size_t pending() { return csp::detail::timer_service::instance().pending_count(); }

// Polls until at most `count` timers are pending; false after `patience`.
bool wait_until_pending_at_most(std::size_t count) {
  const auto give_up = steady::now() + patience;
  while (pending() > count) {
    if (steady::now() >= give_up) return false;
    std::this_thread::yield();
  }
  return true;
}

template <class F>
steady::duration time_of(F&& operation) {
  const auto start = steady::now();
  operation();
  return steady::now() - start;
}

template <class F>
std::string panic_text(F&& operation) {
  try {
    operation();
  } catch (const csp::panic_error& error) {
    return error.what();
  } catch (...) {
    return "<another exception>";
  }
  return "<no exception>";
}

using csp_test::process_cpu_time;

// =============================================================================================
// csp::after

TEST(TimeAfter, DeliversOnceNoSoonerThanItsDelay) {  // TM-1
  const auto start = steady::now();
  auto ch = csp::after(delay);
  auto first = ch.receive_for(patience);
  const auto received_at = steady::now();
  ASSERT_EQ(first.status, csp::channel_status::success);
  EXPECT_GE(*first, start + delay) << "the value is the time it fired";
  EXPECT_GE(received_at - start, delay);
  // Exactly one value, and the channel is never closed.
  EXPECT_EQ(ch.try_receive().status, csp::channel_status::empty);
  EXPECT_EQ(ch.receive_for(delay).status, csp::channel_status::timeout);
}

TEST(TimeAfter, NonPositiveDelayFiresAtOnce) {  // TM-1
  for (const auto d : {0ms, -5ms}) {
    auto ch = csp::after(d);
    EXPECT_EQ(ch.receive_for(patience).status, csp::channel_status::success);
    EXPECT_EQ(ch.try_receive().status, csp::channel_status::empty);
  }
}

TEST(TimeAfter, UnreferencedAfterIsCancelledAtOnce) {  // TM-2
  const std::size_t baseline = pending();
  {
    auto ch = csp::after(1h);
    EXPECT_EQ(pending(), baseline + 1);
    auto copy = ch;
    ch = nullptr;
    EXPECT_EQ(pending(), baseline + 1) << "a copy still references it";
  }
  EXPECT_EQ(pending(), baseline);

  // The usual timeout idiom: the after() case of a select that took another case.
  csp::channel<int> ready(1);
  ASSERT_TRUE(ready.try_send(1));
  EXPECT_EQ(csp::select(csp::on_receive(ready), csp::on_receive(csp::after(1h))), 0u);
  EXPECT_EQ(pending(), baseline);

  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(ready.try_send(i));
    csp::select(csp::on_receive(ready), csp::on_receive(csp::after(1h)));
  }
  EXPECT_EQ(pending(), baseline);
}

// =============================================================================================
// csp::timer

TEST(TimeTimer, StopReturnsTrueOnlyWhenItStoppedAPendingTimer) {  // TM-3
  csp::timer t(1h);
  EXPECT_TRUE(t.stop());
  EXPECT_FALSE(t.stop());
  EXPECT_EQ(t.channel().receive_for(delay).status, csp::channel_status::timeout)
      << "stop() does not close the channel";
}

TEST(TimeTimer, FiredTimerKeepsItsValueUntilReceived) {  // TM-2 (the control for the next)
  const std::size_t baseline = pending();
  const auto start = steady::now();
  csp::timer t(1ms);
  ASSERT_TRUE(wait_until_pending_at_most(baseline)) << "the timer never fired";
  auto value = t.channel().try_receive();
  ASSERT_EQ(value.status, csp::channel_status::success);
  EXPECT_GE(*value, start + 1ms);
  EXPECT_EQ(t.channel().try_receive().status, csp::channel_status::empty);
  EXPECT_FALSE(t.stop()) << "it had fired";
}

TEST(TimeTimer, NoStaleValueAfterStopOfAFiredTimer) {  // TM-2, TM-3
  const std::size_t baseline = pending();
  csp::timer t(1ms);
  ASSERT_TRUE(wait_until_pending_at_most(baseline)) << "the timer never fired";
  EXPECT_FALSE(t.stop()) << "it had already fired";
  EXPECT_EQ(t.channel().try_receive().status, csp::channel_status::empty);
  EXPECT_EQ(t.channel().receive_for(delay).status, csp::channel_status::timeout);
}

TEST(TimeTimer, NoStaleValueAfterResetOfAFiredTimer) {  // TM-2, TM-4
  const std::size_t baseline = pending();
  csp::timer t(1ms);
  ASSERT_TRUE(wait_until_pending_at_most(baseline)) << "the timer never fired";
  const auto reset_at = steady::now();
  EXPECT_FALSE(t.reset(1h)) << "it had already fired";
  EXPECT_EQ(t.channel().try_receive().status, csp::channel_status::empty);
  EXPECT_EQ(t.channel().receive_for(delay).status, csp::channel_status::timeout);

  // Reset again to something short: the value that comes is the new setting's.
  EXPECT_TRUE(t.reset(delay));
  auto value = t.channel().receive_for(patience);
  ASSERT_EQ(value.status, csp::channel_status::success);
  EXPECT_GE(*value, reset_at + delay);
}

TEST(TimeTimer, StopWhileAReceiverWaitsDeliversNothing) {  // TM-2
  csp::timer t(1h);
  auto ch = t.channel();
  csp::receive_result<steady::time_point> got;
  std::jthread receiver([&] { got = ch.receive_for(200ms); });
  EXPECT_TRUE(t.stop());
  receiver.join();
  EXPECT_EQ(got.status, csp::channel_status::timeout);
}

TEST(TimeTimer, ResetReturnsWhetherItWasActive) {  // TM-4
  csp::timer t(1h);
  EXPECT_TRUE(t.reset(2h));
  EXPECT_TRUE(t.stop());
  EXPECT_FALSE(t.reset(1h)) << "it was stopped";
  EXPECT_TRUE(t.reset(1h));
  EXPECT_TRUE(t.stop());
  EXPECT_FALSE(t.stop());
}

TEST(TimeTimer, ResetTimerFiresNoSoonerThanTheNewDelay) {  // TM-4
  csp::timer t(1h);
  const auto reset_at = steady::now();
  EXPECT_TRUE(t.reset(delay));
  auto value = t.channel().receive_for(patience);
  const auto received_at = steady::now();
  ASSERT_EQ(value.status, csp::channel_status::success);
  EXPECT_GE(*value, reset_at + delay);
  EXPECT_GE(received_at - reset_at, delay);
  EXPECT_EQ(t.channel().try_receive().status, csp::channel_status::empty);
}

TEST(TimeTimer, ChannelOutlivesTheTimerObject) {
  const auto start = steady::now();
  csp::receiver<steady::time_point> ch;
  {
    csp::timer t(delay);
    ch = t.channel();
  }
  auto value = ch.receive_for(patience);
  ASSERT_EQ(value.status, csp::channel_status::success) << "the timer stays armed";
  EXPECT_GE(*value, start + delay);
}

TEST(TimeTimer, TimerWorksInASelect) {
  const auto start = steady::now();
  csp::timer t(delay);
  csp::channel<int> idle;
  std::optional<steady::time_point> fired;
  EXPECT_EQ(csp::select(csp::on_receive(idle), csp::on_receive(t.channel(), fired)), 1u);
  EXPECT_GE(steady::now() - start, delay);
  ASSERT_TRUE(fired.has_value());
  EXPECT_GE(*fired, start + delay);
  EXPECT_FALSE(t.stop()) << "it fired";
}

TEST(TimeChannels, SizeAndCapacityAreZero) {  // TM-2, LEN-2
  const std::size_t baseline = pending();
  csp::timer pending_timer(1h);
  EXPECT_EQ(pending_timer.channel().size(), 0u);
  EXPECT_EQ(pending_timer.channel().capacity(), 0u);

  csp::timer fired(1ms);
  ASSERT_TRUE(wait_until_pending_at_most(baseline + 1)) << "the timer never fired";
  EXPECT_EQ(fired.channel().size(), 0u) << "even with its tick waiting";
  EXPECT_EQ(fired.channel().capacity(), 0u);

  auto after = csp::after(1h);
  EXPECT_EQ(after.size(), 0u);
  EXPECT_EQ(after.capacity(), 0u);

  csp::ticker k(1h);
  EXPECT_EQ(k.channel().size(), 0u);
  EXPECT_EQ(k.channel().capacity(), 0u);
}

// =============================================================================================
// csp::ticker

TEST(TimeTicker, DeliversPeriodicTicksNoSooner) {  // TM-5
  constexpr auto period = 10ms;
  const auto start = steady::now();
  csp::ticker k(period);
  auto ch = k.channel();
  steady::time_point previous = start;
  for (int i = 1; i <= 3; ++i) {
    auto tick = ch.receive_for(patience);
    ASSERT_EQ(tick.status, csp::channel_status::success) << "tick " << i;
    // Ticks keep their phase: tick i is due at start + i * period, and nothing fires early.
    EXPECT_GE(*tick, start + i * period) << "tick " << i;
    EXPECT_GT(*tick, previous);
    previous = *tick;
  }
  EXPECT_GE(steady::now() - start, 3 * period);
}

TEST(TimeTicker, DropsTicksForASlowReceiver) {  // TM-5
  constexpr auto period = 10ms;
  const auto start = steady::now();
  csp::ticker k(period);
  auto ch = k.channel();
  csp::sleep_for(10 * period);  // the slow receiver: ten periods without receiving

  auto first = ch.try_receive();
  ASSERT_EQ(first.status, csp::channel_status::success) << "one tick is kept";
  EXPECT_GE(*first, start + period);
  // The kept tick is the oldest one (tick 1, due at start + period): the later ones were
  // dropped, not put in its place. (The margin allows for a service thread late by 8 periods.)
  EXPECT_LT(*first, start + 9 * period) << "the kept tick is not the first one";
  // Nothing else was queued. A fresh tick may fire in between the two calls (a period ends at
  // any moment); that one is recognisable as new, being later than every dropped one.
  auto second = ch.try_receive();
  if (second.status == csp::channel_status::success) {
    EXPECT_GE(*second, start + 10 * period) << "a dropped tick was queued";
    EXPECT_EQ(ch.try_receive().status, csp::channel_status::empty);
  } else {
    EXPECT_EQ(second.status, csp::channel_status::empty);
  }

  // The ticker goes on ticking, on its phase. (Tick 10 is due just as the sleep ends: it may
  // still come, if the service had not fired it yet when the buffer was drained.)
  auto later = ch.receive_for(patience);
  ASSERT_EQ(later.status, csp::channel_status::success);
  EXPECT_GE(*later, start + 10 * period);
  EXPECT_GT(*later, *first);
}

TEST(TimeTicker, NonPositivePeriodPanics) {  // TM-5
  EXPECT_EQ(panic_text([] { csp::ticker k(0ms); }), "non-positive interval for NewTicker");
  EXPECT_EQ(panic_text([] { csp::ticker k(-1ms); }), "non-positive interval for NewTicker");
  EXPECT_EQ(panic_text([] { csp::ticker k(std::chrono::nanoseconds(0)); }),
            "non-positive interval for NewTicker");
}

TEST(TimeTicker, ResetToANonPositivePeriodPanics) {  // TM-5
  csp::ticker k(1h);
  EXPECT_EQ(panic_text([&] { k.reset(0ms); }), "non-positive interval for Ticker.Reset");
  EXPECT_EQ(panic_text([&] { k.reset(-1s); }), "non-positive interval for Ticker.Reset");
}

TEST(TimeTicker, StopEndsTheTicksWithoutClosing) {  // TM-5
  constexpr auto period = 5ms;
  const std::size_t baseline = pending();
  csp::ticker k(period);
  auto ch = k.channel();
  ASSERT_EQ(ch.receive_for(patience).status, csp::channel_status::success);
  k.stop();
  EXPECT_EQ(pending(), baseline);
  EXPECT_EQ(ch.try_receive().status, csp::channel_status::empty) << "an undelivered tick is gone";
  EXPECT_EQ(ch.receive_for(4 * period).status, csp::channel_status::timeout);
}

TEST(TimeTicker, ResetChangesThePeriod) {  // TM-5
  csp::ticker k(1h);
  const auto reset_at = steady::now();
  k.reset(5ms);
  auto ch = k.channel();
  auto first = ch.receive_for(patience);
  ASSERT_EQ(first.status, csp::channel_status::success);
  EXPECT_GE(*first, reset_at + 5ms);
  auto second = ch.receive_for(patience);
  ASSERT_EQ(second.status, csp::channel_status::success);
  EXPECT_GE(*second, reset_at + 10ms);
}

TEST(TimeTicker, UnreferencedTickerIsCancelled) {  // TM-2
  const std::size_t baseline = pending();
  {
    csp::ticker k(1ms);
    EXPECT_EQ(pending(), baseline + 1);
  }
  EXPECT_EQ(pending(), baseline);
}

// =============================================================================================
// Sleeping.

TEST(TimeSleep, SleepForWaitsAtLeastTheDuration) {  // TM-7
  EXPECT_GE(time_of([] { csp::sleep_for(delay); }), delay);
  EXPECT_GE(time_of([] { csp::sleep_for(std::chrono::microseconds(1500)); }),
            std::chrono::microseconds(1500));
}

TEST(TimeSleep, SleepUntilWaitsUntilTheDeadline) {  // TM-7
  const auto deadline = steady::now() + delay;
  csp::sleep_until(deadline);
  EXPECT_GE(steady::now(), deadline);

  const auto start = steady::now();
  csp::sleep_until(std::chrono::system_clock::now() + delay);
  EXPECT_GE(steady::now() - start, delay - 1ms) << "a system_clock deadline converts";
}

TEST(TimeSleep, NonPositiveDurationsReturnAtOnce) {  // TM-7
  // "At once" is checked against a bound of seconds; a sleep that really waited would take an
  // hour.
  const auto elapsed = time_of([] {
    csp::sleep_for(0ms);
    csp::sleep_for(-1h);
    csp::sleep_for(std::chrono::nanoseconds(-1));
    csp::sleep_until(steady::now() - 1h);
    csp::sleep_until(std::chrono::system_clock::now() - 1h);
    csp::sleep_until(steady::time_point::min());
  });
  EXPECT_LT(elapsed, 5s);
}

// =============================================================================================
// Timed operations agree with the timers: none returns before its time.

TEST(TimeTimedOperations, NeverReturnBeforeTheirTimeout) {
  csp::channel<int> unbuffered, full(1);
  ASSERT_TRUE(full.try_send(0));

  auto start = steady::now();
  EXPECT_EQ(unbuffered.receive_for(delay).status, csp::channel_status::timeout);
  EXPECT_GE(steady::now() - start, delay);

  start = steady::now();
  EXPECT_FALSE(unbuffered.send_for(1, delay));
  EXPECT_GE(steady::now() - start, delay);

  start = steady::now();
  EXPECT_FALSE(full.send_for(1, delay));
  EXPECT_GE(steady::now() - start, delay);

  const auto deadline = steady::now() + delay;
  EXPECT_EQ(unbuffered.receive_until(deadline).status, csp::channel_status::timeout);
  EXPECT_GE(steady::now(), deadline);

  const auto send_deadline = steady::now() + delay;
  EXPECT_FALSE(unbuffered.send_until(1, send_deadline));
  EXPECT_GE(steady::now(), send_deadline);

  start = steady::now();
  EXPECT_EQ(csp::select(csp::on_receive(unbuffered), csp::on_receive(csp::after(delay))), 1u);
  EXPECT_GE(steady::now() - start, delay);

  start = steady::now();
  EXPECT_EQ(csp::select(csp::on_send(full, 2), csp::on_receive(csp::after(delay))), 1u);
  EXPECT_GE(steady::now() - start, delay);
}

TEST(TimeTimedOperations, ManyShortTimeoutsNeverFireEarly) {
  csp::channel<int> idle;
  for (int i = 0; i < 20; ++i) {
    const auto d = std::chrono::microseconds(100 * (i + 1));
    const auto start = steady::now();
    std::optional<steady::time_point> fired;
    ASSERT_EQ(csp::select(csp::on_receive(idle), csp::on_receive(csp::after(d), fired)), 1u);
    const auto end = steady::now();
    EXPECT_GE(end - start, d) << "timeout " << i;
    ASSERT_TRUE(fired.has_value());
    EXPECT_GE(*fired, start + d);
  }
}

// =============================================================================================
// The timer service.

TEST(TimeService, HundredThousandPendingTimersCostNoCpu) {
  constexpr std::size_t count = 100000;
  csp_test::wait_until_quiet();  // see cpu_time.hpp: earlier tests' leftovers are not ours
  const std::size_t baseline = pending();
  {
    std::vector<csp::timer> timers;
    timers.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
      // Spread over an hour and a bit, so the heap has work to do; none fires during the test.
      timers.emplace_back(1h + std::chrono::milliseconds(static_cast<long>(i % 9973)));
    }
    EXPECT_EQ(pending(), baseline + count);

    // The service sleeps until the earliest deadline, an hour away: over this window the
    // process uses almost no CPU (the test thread sleeps too).
    const auto threads_before = csp_test::cpu_by_thread();
    const auto cpu_before = process_cpu_time();
    std::this_thread::sleep_for(200ms);
    const auto cpu_used = process_cpu_time() - cpu_before;
    const auto threads_after = csp_test::cpu_by_thread();
    const auto allowed = CSP_TIME_TEST_SANITIZED ? 20ms : 10ms;  // 5% of one core (10% sanitized)
    EXPECT_LT(cpu_used, allowed) << std::chrono::duration<double, std::milli>(cpu_used).count()
                                 << " ms of CPU in 200 ms with " << count << " timers pending; "
                                 << csp_test::busiest_threads(threads_before, threads_after);

    // Stopping half of them, then destroying all, takes them out of the heap.
    for (std::size_t i = 0; i < count; i += 2) EXPECT_TRUE(timers[i].stop());
    EXPECT_EQ(pending(), baseline + count / 2);
  }
  EXPECT_EQ(pending(), baseline);
}

TEST(TimeService, IdleServiceUsesNoCpu) {
  csp_test::wait_until_quiet();
  const auto threads_before = csp_test::cpu_by_thread();
  const auto cpu_before = process_cpu_time();
  std::this_thread::sleep_for(100ms);
  const auto cpu_used = process_cpu_time() - cpu_before;
  EXPECT_LT(cpu_used, CSP_TIME_TEST_SANITIZED ? 10ms : 5ms)
      << csp_test::busiest_threads(threads_before, csp_test::cpu_by_thread());
}

TEST(TimeService, EarlierTimerScheduledLaterStillFiresFirst) {
  // The service sleeps towards the hour-long timer; a shorter one added afterwards must wake it.
  csp::timer slow(1h);
  const auto start = steady::now();
  auto fast = csp::after(delay);
  auto value = fast.receive_for(patience);
  ASSERT_EQ(value.status, csp::channel_status::success);
  EXPECT_GE(*value, start + delay);
  EXPECT_TRUE(slow.stop());
}

}  // namespace
