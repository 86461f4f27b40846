// context_test.cpp: csp::context (csp/context.hpp) — the tree, its errors, causes, deadlines,
// values, without_cancel and after_func — and every blocking operation bound to a context,
// from goroutines and from plain threads.
//
// Ports of golang/go src/context/context_test.go and x_test.go are named after the Go test
// they follow (TestParentFinishesChild, TestChildFinishesFirst, TestCancelRemoves,
// TestWithCancelCanceledParent, TestDeadline, TestTimeout, TestValues, TestWithoutCancel,
// TestCause, TestAfterFunc*...); the rest check the C++ surface and the no-leak promise.
//
// No test sleeps to synchronise. A test that needs a party to be blocked before it ends the
// context polls the context's done channel until the party is queued there (bounded by
// `patience`); timing is checked from below only.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "csp/channel.hpp"
#include "csp/context.hpp"
#include "csp/detail/timer_service.hpp"
#include "csp/go.hpp"
#include "csp/mutex.hpp"
#include "csp/select.hpp"
#include "csp/wait_group.hpp"
#include "support/resident.hpp"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CSP_CONTEXT_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CSP_CONTEXT_TEST_SANITIZED 1
#endif
#endif
#ifndef CSP_CONTEXT_TEST_SANITIZED
#define CSP_CONTEXT_TEST_SANITIZED 0
#endif

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using access = csp::detail::context_access;

// How long any bounded wait in this file gives the code under test before the test fails.
constexpr auto patience = 20s;

inline const csp::context_key<std::string> request_id{"request_id"};
inline const csp::context_key<std::string> user{"user"};
inline const csp::context_key<int> attempt{"attempt"};
inline const csp::context_key<std::unique_ptr<int>> owned{"owned"};

// Polls `condition` until it holds; false after `patience`.
template <class F>
bool eventually(F&& condition) {
  const auto give_up = steady::now() + patience;
  while (!condition()) {
    if (steady::now() >= give_up) return false;
    std::this_thread::yield();
  }
  return true;
}

// Waits until `count` parties are queued on ctx's done channel.
bool waiting_on(const csp::context& ctx, std::size_t count = 1) {
  return eventually([&] { return access::waiting_count(ctx) >= count; });
}

bool is_closed(const csp::receiver<std::monostate>& done) {
  return done.try_receive().status == csp::channel_status::closed;
}

// The error_code a cause carries, if it is a std::system_error; else a sentinel.
std::error_code code_of(const std::exception_ptr& cause) {
  if (cause == nullptr) return std::make_error_code(std::errc::no_message);
  try {
    std::rethrow_exception(cause);
  } catch (const std::system_error& error) {
    return error.code();
  } catch (...) {
  }
  return std::make_error_code(std::errc::not_supported);
}

std::string what_of(const std::exception_ptr& cause) {
  if (cause == nullptr) return "<null>";
  try {
    std::rethrow_exception(cause);
  } catch (const std::exception& error) {
    return error.what();
  } catch (...) {
  }
  return "<not a std::exception>";
}

std::size_t pending_timers() { return csp::detail::timer_service::instance().pending_count(); }

// Where a blocking operation runs: a plain thread or a goroutine.
enum class party { thread, goroutine };

std::string party_name(const testing::TestParamInfo<party>& info) {
  return info.param == party::thread ? "Thread" : "Goroutine";
}

// Runs a function on a new party and lets the test wait for it, bounded.
class runner {
 public:
  runner(party where, std::function<void()> f) : finished_(1) {
    auto body = [finished = finished_, f = std::move(f)] {
      f();
      (void)finished.try_send(true);
    };
    if (where == party::thread) {
      thread_ = std::thread(body);
    } else {
      csp::go(body);
    }
  }
  ~runner() {
    if (thread_.joinable()) thread_.join();
  }
  // Waits for the function to return; false after `patience`.
  bool join() {
    const bool done = static_cast<bool>(finished_.receive_for(patience));
    if (done && thread_.joinable()) thread_.join();
    return done;
  }

 private:
  csp::channel<bool> finished_;
  std::thread thread_;
};

// ---------------------------------------------------------------------------------------------
// Errors.

TEST(ContextErrors, CategoryHasGoMessages) {
  const std::error_code canceled = csp::errc::canceled;
  const std::error_code deadline = csp::errc::deadline_exceeded;
  EXPECT_EQ(canceled.message(), "context canceled");
  EXPECT_EQ(deadline.message(), "context deadline exceeded");
  EXPECT_STREQ(canceled.category().name(), "context");
  EXPECT_EQ(&canceled.category(), &csp::context_category());
  EXPECT_TRUE(canceled);
  EXPECT_NE(canceled, deadline);
  EXPECT_EQ(canceled, csp::errc::canceled);
}

TEST(ContextErrors, EquivalentToPortableConditions) {
  // Go's DeadlineExceeded is a timeout (Timeout() == true).
  const std::error_code deadline = csp::errc::deadline_exceeded;
  EXPECT_EQ(deadline, std::errc::timed_out);
  const std::error_code canceled = csp::errc::canceled;
  EXPECT_EQ(canceled, std::errc::operation_canceled);
  EXPECT_NE(canceled, std::errc::timed_out);
}

// ---------------------------------------------------------------------------------------------
// Roots (TestBackground, TestTODO).

TEST(ContextRoots, BackgroundAndTodoNeverEnd) {
  for (const csp::context& root : {csp::background(), csp::todo(), csp::context()}) {
    EXPECT_FALSE(root.err());
    EXPECT_TRUE(root.done() == nullptr);
    EXPECT_FALSE(root.deadline());
    EXPECT_EQ(root.value(request_id), nullptr);
    EXPECT_EQ(csp::cause(root), nullptr);
  }
  EXPECT_EQ(csp::background(), csp::context());
  EXPECT_NE(csp::background(), csp::todo());
  EXPECT_EQ(csp::todo(), csp::todo());
}

// ---------------------------------------------------------------------------------------------
// with_cancel and propagation.

TEST(ContextCancel, CancelEndsTheContextOnce) {
  auto [ctx, cancel] = csp::with_cancel(csp::background());
  EXPECT_FALSE(ctx.err());
  ASSERT_FALSE(ctx.done() == nullptr);
  EXPECT_EQ(ctx.done(), ctx.done());  // the same channel every time (CTX-3)
  EXPECT_EQ(ctx.done().try_receive().status, csp::channel_status::empty);
  EXPECT_EQ(csp::cause(ctx), nullptr);

  cancel();
  EXPECT_EQ(ctx.err(), csp::errc::canceled);
  EXPECT_TRUE(is_closed(ctx.done()));
  EXPECT_EQ(code_of(csp::cause(ctx)), csp::errc::canceled);
  EXPECT_EQ(what_of(csp::cause(ctx)), "context canceled");

  cancel();  // idempotent (CTX-6)
  EXPECT_EQ(ctx.err(), csp::errc::canceled);
  EXPECT_TRUE(is_closed(ctx.done()));
}

TEST(ContextCancel, DefaultCancelFunctionDoesNothing) {
  csp::cancel_function cancel;
  cancel();
  csp::cancel_cause_function cancel_cause;
  cancel_cause(std::runtime_error("nothing to cancel"));
}

TEST(ContextCancel, DoneWorksInSelect) {
  auto [ctx, cancel] = csp::with_cancel(csp::background());
  csp::channel<int> never;
  runner canceller(party::goroutine, [ctx = ctx, cancel = cancel] {
    ASSERT_TRUE(waiting_on(ctx));
    cancel();
  });
  EXPECT_EQ(csp::select(csp::on_receive(never), csp::on_receive(ctx.done())), 1u);
  EXPECT_EQ(ctx.err(), csp::errc::canceled);
  EXPECT_TRUE(canceller.join());
}

// Go: TestParentFinishesChild.
TEST(ContextCancel, ParentFinishesChild) {
  auto [parent, cancel] = csp::with_cancel(csp::background());
  auto [cancel_child, stop_child] = csp::with_cancel(parent);
  auto [timer_child, stop_timer_child] = csp::with_timeout(parent, 1h);
  const csp::context value_child = csp::with_value(parent, request_id, "r1");
  auto [grandchild, stop_grandchild] = csp::with_cancel(value_child);

  EXPECT_EQ(access::link_count(parent), 3u);       // the value child links nothing of its own
  EXPECT_EQ(access::link_count(value_child), 3u);  // ...and answers for its canceler
  for (const csp::context& ctx : {parent, cancel_child, timer_child, value_child, grandchild}) {
    EXPECT_FALSE(ctx.err());
  }

  cancel();
  for (const csp::context& ctx : {parent, cancel_child, timer_child, value_child, grandchild}) {
    EXPECT_EQ(ctx.err(), csp::errc::canceled);
    EXPECT_TRUE(is_closed(ctx.done()));
    EXPECT_EQ(code_of(csp::cause(ctx)), csp::errc::canceled);
  }
  EXPECT_EQ(access::link_count(parent), 0u);
  EXPECT_EQ(access::link_count(cancel_child), 0u);

  // A child made after the parent ended is born ended (CTX-7).
  auto [late, stop_late] = csp::with_cancel(parent);
  EXPECT_EQ(late.err(), csp::errc::canceled);
  EXPECT_EQ(access::link_count(parent), 0u);
}

// Go: TestChildFinishesFirst.
TEST(ContextCancel, ChildFinishesFirst) {
  for (const bool cancellable_parent : {false, true}) {
    csp::context parent = csp::background();
    csp::cancel_function cancel_parent;
    if (cancellable_parent) std::tie(parent, cancel_parent) = csp::with_cancel(parent);
    auto [child, cancel_child] = csp::with_cancel(parent);
    EXPECT_EQ(access::link_count(parent), cancellable_parent ? 1u : 0u);

    cancel_child();
    EXPECT_EQ(child.err(), csp::errc::canceled);
    EXPECT_FALSE(parent.err());  // never from child to parent
    EXPECT_EQ(access::link_count(parent), 0u);
    if (cancellable_parent) {
      EXPECT_EQ(parent.done().try_receive().status, csp::channel_status::empty);
      cancel_parent();
      EXPECT_EQ(child.err(), csp::errc::canceled);
    }
  }
}

// Go: TestWithCancelCanceledParent.
TEST(ContextCancel, CanceledParentGivesCanceledChild) {
  auto [parent, cancel] = csp::with_cancel_cause(csp::background());
  cancel(std::runtime_error("parent's cause"));
  auto [child, stop] = csp::with_cancel(parent);
  EXPECT_EQ(child.err(), csp::errc::canceled);
  EXPECT_TRUE(is_closed(child.done()));
  EXPECT_EQ(what_of(csp::cause(child)), "parent's cause");
}

// Go: TestCancelRemoves — a cancel function removes its context from the parent.
TEST(ContextCancel, CancelRemovesChildFromParent) {
  auto [parent, cancel_parent] = csp::with_cancel(csp::background());
  auto [child, cancel] = csp::with_cancel(parent);
  EXPECT_EQ(access::link_count(parent), 1u);
  cancel();
  EXPECT_EQ(access::link_count(parent), 0u);

  auto [timed, cancel_timed] = csp::with_timeout(parent, 1h);
  EXPECT_EQ(access::link_count(parent), 1u);
  cancel_timed();
  EXPECT_EQ(access::link_count(parent), 0u);

  auto stop = csp::after_func(parent, [] {});
  EXPECT_EQ(access::link_count(parent), 1u);
  EXPECT_TRUE(stop());
  EXPECT_EQ(access::link_count(parent), 0u);
  cancel_parent();
}

TEST(ContextCancel, DroppedChildUnlinksItself) {
  // Better than Go: a child whose every handle is gone leaves its parent even if its cancel
  // function was never called.
  auto [parent, cancel_parent] = csp::with_cancel(csp::background());
  {
    auto [child, cancel] = csp::with_cancel(parent);
    auto [timed, cancel_timed] = csp::with_timeout(child, 1h);
    EXPECT_EQ(access::link_count(parent), 1u);
    EXPECT_EQ(access::link_count(child), 1u);
  }
  EXPECT_EQ(access::link_count(parent), 0u);
  cancel_parent();
}

using csp_test::resident_kib;

// CTX-8: a long-lived parent that spawns and cancels many short-lived children keeps flat
// memory — every cancel releases its child.
TEST(ContextCancel, MillionCancelPairsKeepMemoryFlat) {
  constexpr int pairs = CSP_CONTEXT_TEST_SANITIZED ? 200'000 : 1'000'000;
  auto [parent, cancel_parent] = csp::with_cancel(csp::background());
  auto run = [&parent = parent](int count) {
    for (int i = 0; i < count; ++i) {
      auto [child, cancel] = csp::with_cancel(parent);
      cancel();
    }
  };
  run(pairs / 10);  // warm up the allocator
  const long before = resident_kib();
  run(pairs);
  const long after = resident_kib();
  EXPECT_EQ(access::link_count(parent), 0u);
  std::printf("[ resident ] %ld KiB before and %ld KiB after %d with_cancel + cancel pairs\n",
              before, after, pairs);
  // A leak would be ~200 bytes a pair, 200 MB here; the allocator may wobble by a few MiB.
  // (Sanitizers keep freed memory in quarantine, so the resident size means nothing there.)
  if (!CSP_CONTEXT_TEST_SANITIZED && before > 0 && after > 0) {
    EXPECT_LT(after - before, 8 * 1024);
  }
  cancel_parent();
}

TEST(ContextCancel, ConcurrentCancelsAgreeOnOneCause) {
  for (int round = 0; round < 50; ++round) {
    auto [ctx, cancel] = csp::with_cancel_cause(csp::background());
    auto [child, stop_child] = csp::with_cancel(ctx);
    std::vector<std::thread> threads;
    std::atomic<bool> go{false};
    for (int i = 0; i < 4; ++i) {
      threads.emplace_back([&, i, cancel = cancel] {
        while (!go.load()) std::this_thread::yield();
        cancel(std::runtime_error("cause " + std::to_string(i)));
      });
    }
    go = true;
    for (auto& thread : threads) thread.join();
    const std::string winner = what_of(csp::cause(ctx));
    EXPECT_EQ(winner.rfind("cause ", 0), 0u) << winner;
    EXPECT_EQ(what_of(csp::cause(child)), winner);  // the same cause all the way down
  }
}

TEST(ContextCancel, ChildrenBornWhileTheParentEndsAllEnd) {
  for (int round = 0; round < 20; ++round) {
    auto [parent, cancel] = csp::with_cancel(csp::background());
    std::vector<csp::context> children(2000);
    std::thread maker([&, parent = parent] {
      for (auto& child : children) child = csp::with_cancel(parent).first;
    });
    cancel();
    maker.join();
    for (const auto& child : children) ASSERT_EQ(child.err(), csp::errc::canceled);
    EXPECT_EQ(access::link_count(parent), 0u);
  }
}

TEST(ContextCancel, ChildrenDroppedWhileTheParentEnds) {
  // A child's last handle may go while its parent's cancel walks over it.
  for (int round = 0; round < 20; ++round) {
    auto [parent, cancel] = csp::with_cancel(csp::background());
    std::vector<csp::context> children;
    for (int i = 0; i < 2000; ++i) {
      children.push_back(
          csp::with_cancel(i % 2 ? parent : csp::with_timeout(parent, 1h).first).first);
    }
    std::thread dropper([&] { children.clear(); });
    cancel();
    dropper.join();
    EXPECT_EQ(access::link_count(parent), 0u);
  }
}

TEST(ContextCancel, DeepChainsEndWithoutRecursion) {
  // The walk keeps no stack of its own: a chain far deeper than a goroutine's stack could
  // recurse through ends fine, from a goroutine.
  constexpr int depth = 100'000;
  auto [root, cancel] = csp::with_cancel(csp::background());
  std::vector<csp::context> chain{root};
  chain.reserve(depth + 1);
  for (int i = 0; i < depth; ++i) chain.push_back(csp::with_cancel(chain.back()).first);
  runner canceller(party::goroutine, [cancel = cancel] { cancel(); });
  ASSERT_TRUE(canceller.join());
  EXPECT_EQ(chain.back().err(), csp::errc::canceled);
  // Destroying the chain from the leaf up must not recurse either: drop the handles in order.
  while (chain.size() > 1) chain.pop_back();
}

// ---------------------------------------------------------------------------------------------
// Causes (TestCause, CTX-11..13).

TEST(ContextCause, FirstCauseWinsAndChildrenInheritIt) {
  auto [parent, cancel] = csp::with_cancel_cause(csp::background());
  auto [child, cancel_child] = csp::with_cancel(parent);
  const auto first = std::make_exception_ptr(std::runtime_error("first"));
  cancel(first);
  cancel(std::runtime_error("second"));
  EXPECT_EQ(csp::cause(parent), first);
  EXPECT_EQ(csp::cause(child), first);
  EXPECT_EQ(parent.err(), csp::errc::canceled);
  EXPECT_EQ(child.err(), csp::errc::canceled);
}

TEST(ContextCause, NullCauseIsCanceled) {
  auto [ctx, cancel] = csp::with_cancel_cause(csp::background());
  cancel(nullptr);
  EXPECT_EQ(code_of(csp::cause(ctx)), csp::errc::canceled);
}

TEST(ContextCause, ChildCauseDoesNotReachTheParent) {
  auto [parent, cancel_parent] = csp::with_cancel_cause(csp::background());
  auto [child, cancel_child] = csp::with_cancel_cause(parent);
  cancel_child(std::runtime_error("child only"));
  EXPECT_EQ(csp::cause(parent), nullptr);
  cancel_parent(std::runtime_error("parent"));
  EXPECT_EQ(what_of(csp::cause(child)), "child only");
  EXPECT_EQ(what_of(csp::cause(parent)), "parent");
}

TEST(ContextCause, DeadlineCauseOnlyWhenTheDeadlineEnds) {
  const auto too_slow = std::make_exception_ptr(std::runtime_error("too slow"));
  // The deadline ends it: err() is deadline_exceeded and cause() the given one (CTX-13).
  auto [timed, cancel_timed] = csp::with_timeout_cause(csp::background(), 1ms, too_slow);
  EXPECT_FALSE(timed.done().receive_for(patience).status == csp::channel_status::timeout);
  EXPECT_EQ(timed.err(), csp::errc::deadline_exceeded);
  EXPECT_EQ(csp::cause(timed), too_slow);

  // The cancel function ends it first: no cause of its own.
  auto [early, cancel_early] =
      csp::with_deadline_cause(csp::background(), steady::now() + 1h, too_slow);
  cancel_early();
  EXPECT_EQ(early.err(), csp::errc::canceled);
  EXPECT_EQ(code_of(csp::cause(early)), csp::errc::canceled);

  // Already past: ended at once, with the cause.
  auto [past, cancel_past] =
      csp::with_deadline_cause(csp::background(), steady::now() - 1s, too_slow);
  EXPECT_EQ(past.err(), csp::errc::deadline_exceeded);
  EXPECT_EQ(csp::cause(past), too_slow);
}

TEST(ContextCause, CauseOfTheNearestCanceler) {
  auto [ctx, cancel] = csp::with_cancel_cause(csp::background());
  const csp::context valued = csp::with_value(ctx, attempt, 3);
  EXPECT_EQ(csp::cause(valued), nullptr);
  cancel(std::logic_error("bad input"));
  EXPECT_EQ(what_of(csp::cause(valued)), "bad input");
}

// ---------------------------------------------------------------------------------------------
// Deadlines (TestDeadline, TestTimeout, CTX-9).

TEST(ContextDeadline, TimeoutEndsTheContextNoEarlier) {
  constexpr auto timeout = 20ms;
  const auto start = steady::now();
  auto [ctx, cancel] = csp::with_timeout(csp::background(), timeout);
  ASSERT_TRUE(ctx.deadline());
  EXPECT_GE(*ctx.deadline(), start + timeout);
  EXPECT_FALSE(ctx.err());
  EXPECT_EQ(ctx.done().receive_for(patience).status, csp::channel_status::closed);
  EXPECT_GE(steady::now() - start, timeout);
  EXPECT_EQ(ctx.err(), csp::errc::deadline_exceeded);
  EXPECT_EQ(code_of(csp::cause(ctx)), csp::errc::deadline_exceeded);
  EXPECT_EQ(what_of(csp::cause(ctx)), "context deadline exceeded");
  cancel();  // after the deadline: changes nothing
  EXPECT_EQ(ctx.err(), csp::errc::deadline_exceeded);
}

TEST(ContextDeadline, PastDeadlineEndsAtOnce) {
  auto [ctx, cancel] = csp::with_deadline(csp::background(), steady::now() - 1ms);
  EXPECT_EQ(ctx.err(), csp::errc::deadline_exceeded);
  auto [zero, cancel_zero] = csp::with_timeout(csp::background(), 0s);
  EXPECT_EQ(zero.err(), csp::errc::deadline_exceeded);
  auto [negative, cancel_negative] = csp::with_timeout(csp::background(), -5s);
  EXPECT_EQ(negative.err(), csp::errc::deadline_exceeded);
}

TEST(ContextDeadline, SystemClockDeadlinesConvert) {
  const auto start = steady::now();
  auto [ctx, cancel] =
      csp::with_deadline(csp::background(), std::chrono::system_clock::now() + 10ms);
  EXPECT_EQ(ctx.done().receive_for(patience).status, csp::channel_status::closed);
  EXPECT_GE(steady::now() - start, 9ms);  // the clocks' conversion may round by a tick
  EXPECT_EQ(ctx.err(), csp::errc::deadline_exceeded);
}

TEST(ContextDeadline, ChildDeadlineIsNeverLaterThanTheParents) {
  auto [parent, cancel] = csp::with_timeout(csp::background(), 1h);
  const auto parent_deadline = *parent.deadline();
  auto [later, cancel_later] = csp::with_timeout(parent, 2h);
  EXPECT_EQ(later.deadline(), parent_deadline);
  auto [sooner, cancel_sooner] = csp::with_timeout(parent, 30min);
  EXPECT_LT(*sooner.deadline(), parent_deadline);
  // Values and plain cancel children report the deadline they inherit.
  EXPECT_EQ(csp::with_value(parent, attempt, 1).deadline(), parent_deadline);
  EXPECT_EQ(csp::with_cancel(parent).first.deadline(), parent_deadline);
  cancel();
}

TEST(ContextDeadline, ParentDeadlineEndsChildren) {
  auto [parent, cancel] = csp::with_timeout(csp::background(), 10ms);
  auto [child, cancel_child] = csp::with_cancel(parent);
  auto [timed_child, cancel_timed_child] = csp::with_timeout(parent, 1h);
  EXPECT_EQ(timed_child.done().receive_for(patience).status, csp::channel_status::closed);
  EXPECT_EQ(timed_child.err(), csp::errc::deadline_exceeded);
  EXPECT_EQ(child.err(), csp::errc::deadline_exceeded);
  EXPECT_EQ(code_of(csp::cause(child)), csp::errc::deadline_exceeded);
}

TEST(ContextDeadline, CancelStopsTheTimers) {
  // CTX-8: the cancel function "stops any associated timers", its descendants' included.
  // Counted relative to the timers pending when the test starts (none of this file's).
  const std::size_t base = pending_timers();
  {
    auto [ctx, cancel] = csp::with_timeout(csp::background(), 1h);
    EXPECT_EQ(pending_timers(), base + 1);
    cancel();
    EXPECT_EQ(pending_timers(), base);
  }
  auto [parent, cancel_parent] = csp::with_cancel(csp::background());
  auto [a, cancel_a] = csp::with_timeout(parent, 1h);
  auto [b, cancel_b] = csp::with_timeout(csp::with_value(a, attempt, 1), 30min);
  EXPECT_EQ(pending_timers(), base + 2);
  cancel_parent();
  EXPECT_EQ(pending_timers(), base);
  EXPECT_EQ(b.err(), csp::errc::canceled);
  // A dropped context stops its timer too.
  { auto [dropped, cancel_dropped] = csp::with_timeout(csp::background(), 1h); }
  EXPECT_EQ(pending_timers(), base);
}

TEST(ContextDeadline, DeadlineRacesCancel) {
  for (int round = 0; round < 200; ++round) {
    auto [parent, cancel_parent] = csp::with_cancel(csp::background());
    auto [ctx, cancel] = csp::with_timeout(parent, std::chrono::microseconds(round % 50));
    auto [child, cancel_child] = csp::with_timeout(ctx, 1h);
    if (round % 2) cancel();
    if (round % 3 == 0) cancel_parent();
    ASSERT_EQ(child.done().receive_for(patience).status, csp::channel_status::closed);
    EXPECT_TRUE(ctx.err() == csp::errc::canceled || ctx.err() == csp::errc::deadline_exceeded);
    EXPECT_EQ(child.err(), ctx.err());
  }
}

// ---------------------------------------------------------------------------------------------
// Values (TestValues, CTX-10).

TEST(ContextValue, NearestValueWins) {
  const csp::context root = csp::background();
  const csp::context a = csp::with_value(root, request_id, "r1");
  const csp::context b = csp::with_value(a, user, "gopher");
  auto [c, cancel] = csp::with_cancel(b);
  const csp::context d = csp::with_value(c, request_id, "r2");

  EXPECT_EQ(root.value(request_id), nullptr);
  ASSERT_NE(a.value(request_id), nullptr);
  EXPECT_EQ(*a.value(request_id), "r1");
  EXPECT_EQ(a.value(user), nullptr);
  EXPECT_EQ(*b.value(request_id), "r1");
  EXPECT_EQ(*b.value(user), "gopher");
  EXPECT_EQ(*c.value(user), "gopher");  // through a cancel node
  EXPECT_EQ(*d.value(request_id), "r2");
  EXPECT_EQ(*d.value(user), "gopher");
  EXPECT_EQ(d.value(attempt), nullptr);
  cancel();
  EXPECT_EQ(*d.value(request_id), "r2");  // values outlive the end of a context
}

TEST(ContextValue, KeysOfTheSameTypeAreDistinct) {
  static const csp::context_key<int> first{"first"};
  static const csp::context_key<int> second{"second"};
  const csp::context ctx = csp::with_value(csp::with_value(csp::background(), first, 1), second, 2);
  EXPECT_EQ(*ctx.value(first), 1);
  EXPECT_EQ(*ctx.value(second), 2);
  EXPECT_EQ(first.name(), "first");
}

TEST(ContextValue, MoveOnlyValuesAndLifetime) {
  auto shared = std::make_shared<int>(7);
  const std::weak_ptr<int> watch = shared;
  {
    static const csp::context_key<std::shared_ptr<int>> key{"shared"};
    const csp::context ctx = csp::with_value(csp::background(), key, std::move(shared));
    const csp::context unique = csp::with_value(ctx, owned, std::make_unique<int>(9));
    EXPECT_EQ(**unique.value(key), 7);
    EXPECT_EQ(**unique.value(owned), 9);
    EXPECT_FALSE(watch.expired());
  }
  EXPECT_TRUE(watch.expired());  // the value went with its last context
}

// ---------------------------------------------------------------------------------------------
// without_cancel (TestWithoutCancel, CTX-15).

TEST(ContextWithoutCancel, KeepsValuesAndNothingElse) {
  auto [parent, cancel] = csp::with_timeout(csp::with_value(csp::background(), user, "gopher"), 1h);
  const csp::context detached = csp::without_cancel(parent);
  auto [child, cancel_child] = csp::with_cancel(detached);
  cancel();
  EXPECT_EQ(parent.err(), csp::errc::canceled);
  EXPECT_FALSE(detached.err());
  EXPECT_TRUE(detached.done() == nullptr);
  EXPECT_FALSE(detached.deadline());
  EXPECT_EQ(csp::cause(detached), nullptr);
  EXPECT_EQ(*detached.value(user), "gopher");
  EXPECT_FALSE(child.err());  // not reached by the original parent
  EXPECT_FALSE(child.deadline());
  cancel_child();
  EXPECT_EQ(child.err(), csp::errc::canceled);
  EXPECT_EQ(csp::without_cancel(csp::background()), csp::background());
}

// ---------------------------------------------------------------------------------------------
// after_func (TestAfterFuncCalledAfterCancel, ...NotCalledAfterStop, ...CalledImmediately,
// CTX-14).

TEST(ContextAfterFunc, RunsInAGoroutineAfterTheEnd) {
  auto [ctx, cancel] = csp::with_cancel(csp::background());
  csp::channel<bool> ran(1);
  auto stop = csp::after_func(ctx, [ran, ctx = ctx] {
    (void)ran.try_send(csp::in_goroutine() && ctx.err() == csp::errc::canceled);
  });
  EXPECT_EQ(ran.try_receive().status, csp::channel_status::empty);
  cancel();
  const auto result = ran.receive_for(patience);
  ASSERT_TRUE(result);
  EXPECT_TRUE(*result);
  EXPECT_FALSE(stop());  // it ran
  EXPECT_EQ(access::link_count(ctx), 0u);
}

TEST(ContextAfterFunc, StopPreventsIt) {
  auto [ctx, cancel] = csp::with_cancel(csp::background());
  std::atomic<int> calls{0};
  auto stop = csp::after_func(ctx, [&calls] { ++calls; });
  EXPECT_TRUE(stop());
  EXPECT_FALSE(stop());  // later calls return false
  cancel();
  // Nothing to wait for: the callback was unregistered before the end, so none was started.
  csp::channel<bool> probe(1);
  auto second = csp::after_func(ctx, [probe] { (void)probe.try_send(true); });
  ASSERT_TRUE(probe.receive_for(patience));  // registered after the end: runs at once
  EXPECT_FALSE(second());
  EXPECT_EQ(calls.load(), 0);
}

TEST(ContextAfterFunc, IndependentRegistrations) {
  auto [ctx, cancel] = csp::with_timeout(csp::background(), 1h);
  csp::channel<int> ran(3);
  auto stop1 = csp::after_func(ctx, [ran] { (void)ran.try_send(1); });
  auto stop2 = csp::after_func(ctx, [ran] { (void)ran.try_send(2); });
  auto stop3 = csp::after_func(ctx, [ran] { (void)ran.try_send(3); });
  EXPECT_TRUE(stop2());
  cancel();
  int sum = 0;
  for (int i = 0; i < 2; ++i) {
    const auto value = ran.receive_for(patience);
    ASSERT_TRUE(value);
    sum += *value;
  }
  EXPECT_EQ(sum, 4);
}

TEST(ContextAfterFunc, NeverRunsForAContextThatNeverEnds) {
  auto stop = csp::after_func(csp::background(), [] { std::abort(); });
  EXPECT_TRUE(stop());
  EXPECT_FALSE(stop());
  csp::stop_function empty;
  EXPECT_FALSE(empty());
}

TEST(ContextAfterFunc, RegistrationKeepsItsContextLinked) {
  // As in Go, a registration on a child keeps that child reachable from its parent even after
  // every handle to the child is gone, so the parent's end still runs the callback.
  auto [parent, cancel] = csp::with_cancel(csp::background());
  csp::channel<bool> ran(1);
  csp::stop_function stop;
  {
    auto [child, cancel_child] = csp::with_cancel(parent);
    stop = csp::after_func(csp::with_value(child, attempt, 1), [ran] { (void)ran.try_send(true); });
  }
  EXPECT_EQ(access::link_count(parent), 1u);
  cancel();
  EXPECT_TRUE(ran.receive_for(patience));
  EXPECT_FALSE(stop());
}

TEST(ContextAfterFunc, StopRacesTheEnd) {
  for (int round = 0; round < 200; ++round) {
    auto [ctx, cancel] = csp::with_cancel(csp::background());
    csp::channel<bool> ran(1);
    auto stop = csp::after_func(ctx, [ran] { (void)ran.try_send(true); });
    std::thread canceller([cancel = cancel] { cancel(); });
    const bool stopped = stop();
    canceller.join();
    if (stopped) {
      EXPECT_EQ(ran.try_receive().status, csp::channel_status::empty);
    } else {
      EXPECT_TRUE(ran.receive_for(patience));  // exactly one of the two happened
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Blocking operations bound to a context, from a thread and from a goroutine.

class ContextOperation : public testing::TestWithParam<party> {};
INSTANTIATE_TEST_SUITE_P(From, ContextOperation, testing::Values(party::thread, party::goroutine),
                         party_name);

TEST_P(ContextOperation, ReceiveGetsAReadyValue) {
  auto [ctx, cancel] = csp::with_cancel(csp::background());
  csp::channel<int> ch(2);
  ASSERT_TRUE(ch.try_send(1));
  runner r(GetParam(), [&, ctx = ctx] {
    const auto got = ch.receive(ctx);
    EXPECT_EQ(got.status, csp::channel_status::success);
    EXPECT_EQ(*got, 1);
    ch.close();
    EXPECT_EQ(ch.receive(ctx).status, csp::channel_status::closed);  // not canceled
  });
  ASSERT_TRUE(r.join());
  cancel();
}

TEST_P(ContextOperation, ReceiveWaitsForTheValue) {
  auto [ctx, cancel] = csp::with_cancel(csp::background());
  csp::channel<int> ch;
  runner r(GetParam(), [&, ctx = ctx] {
    const auto got = ch.receive(ctx);
    EXPECT_EQ(got.status, csp::channel_status::success);
    EXPECT_EQ(got.value, 42);
  });
  ASSERT_TRUE(waiting_on(ctx));
  ch.send(42);
  ASSERT_TRUE(r.join());
  cancel();
}

TEST_P(ContextOperation, ReceiveStopsWhenTheContextEnds) {
  auto [ctx, cancel] = csp::with_cancel(csp::background());
  csp::channel<int> ch;
  runner r(GetParam(), [&, ctx = ctx] {
    const auto got = ch.receive(ctx);
    EXPECT_EQ(got.status, csp::channel_status::canceled);
    EXPECT_FALSE(got.value);
    EXPECT_EQ(ctx.err(), csp::errc::canceled);
  });
  ASSERT_TRUE(waiting_on(ctx));
  cancel();
  ASSERT_TRUE(r.join());
  // The abandoned receive left nothing behind: a send finds no receiver.
  EXPECT_FALSE(ch.try_send(1));
}

TEST_P(ContextOperation, ReceiveStopsAtTheDeadline) {
  constexpr auto timeout = 15ms;
  csp::channel<int> ch;
  runner r(GetParam(), [&] {
    const auto start = steady::now();
    auto [ctx, cancel] = csp::with_timeout(csp::background(), timeout);
    EXPECT_EQ(ch.receive(ctx).status, csp::channel_status::canceled);
    EXPECT_GE(steady::now() - start, timeout);
    EXPECT_EQ(ctx.err(), csp::errc::deadline_exceeded);
  });
  ASSERT_TRUE(r.join());
}

TEST_P(ContextOperation, EndedContextWinsOverAReadyValue) {
  // The rule of every ctx-bound operation: an ended context fails it at once.
  auto [ctx, cancel] = csp::with_cancel(csp::background());
  cancel();
  csp::channel<int> ch(1);
  ASSERT_TRUE(ch.try_send(5));
  runner r(GetParam(), [&, ctx = ctx] {
    EXPECT_EQ(ch.receive(ctx).status, csp::channel_status::canceled);
    EXPECT_FALSE(ch.send(6, ctx));
  });
  ASSERT_TRUE(r.join());
  EXPECT_EQ(ch.try_receive().value, 5);  // still there
}

TEST_P(ContextOperation, NilChannelWaitsForTheContext) {
  auto [ctx, cancel] = csp::with_cancel(csp::background());
  csp::channel<int> nil(nullptr);
  runner r(GetParam(), [&, ctx = ctx] {
    EXPECT_EQ(nil.receive(ctx).status, csp::channel_status::canceled);
    EXPECT_FALSE(nil.send(1, ctx));
  });
  ASSERT_TRUE(waiting_on(ctx));
  cancel();
  ASSERT_TRUE(r.join());
}

TEST_P(ContextOperation, BackgroundContextIsAPlainOperation) {
  csp::channel<int> ch;
  runner r(GetParam(), [&] {
    EXPECT_TRUE(ch.send(3, csp::background()));
    EXPECT_EQ(ch.receive(csp::todo()).value, 4);
  });
  EXPECT_EQ(ch.receive().value(), 3);
  ch.send(4);
  ASSERT_TRUE(r.join());
}

TEST_P(ContextOperation, SendDeliversOrGivesUpUntouched) {
  auto [ctx, cancel] = csp::with_cancel(csp::background());
  csp::channel<std::unique_ptr<int>> ch(1);
  runner r(GetParam(), [&, ctx = ctx] {
    EXPECT_TRUE(ch.send(std::make_unique<int>(1), ctx));  // room in the buffer
    auto value = std::make_unique<int>(2);
    EXPECT_FALSE(ch.send(std::move(value), ctx));  // full: waits, then ctx ends
    ASSERT_NE(value, nullptr);                     // not sent: still ours
    EXPECT_EQ(*value, 2);
    EXPECT_EQ(ctx.err(), csp::errc::canceled);
  });
  ASSERT_TRUE(waiting_on(ctx));
  cancel();
  ASSERT_TRUE(r.join());
  EXPECT_EQ(*ch.try_receive().value.value(), 1);
  EXPECT_EQ(ch.try_receive().status, csp::channel_status::empty);
}

TEST_P(ContextOperation, SendWaitsForAReceiver) {
  auto [ctx, cancel] = csp::with_cancel(csp::background());
  csp::channel<std::string> ch;
  runner r(GetParam(), [&, ctx = ctx] { EXPECT_TRUE(ch.send(std::string("hello"), ctx)); });
  ASSERT_TRUE(waiting_on(ctx));
  EXPECT_EQ(ch.receive().value(), "hello");
  ASSERT_TRUE(r.join());
  cancel();
}

TEST_P(ContextOperation, SendOnAClosedChannelPanics) {
  auto [ctx, cancel] = csp::with_cancel(csp::background());
  csp::channel<int> ch;
  runner r(GetParam(), [&, ctx = ctx] {
    try {
      (void)ch.send(1, ctx);
      ADD_FAILURE() << "no panic";
    } catch (const csp::panic_error& error) {
      EXPECT_STREQ(error.what(), "send on closed channel");
    }
  });
  ASSERT_TRUE(waiting_on(ctx));
  ch.close();
  ASSERT_TRUE(r.join());
  cancel();
}

TEST_P(ContextOperation, SleepStopsWhenTheContextEnds) {
  auto [ctx, cancel] = csp::with_cancel(csp::background());
  runner r(GetParam(), [ctx = ctx] {
    EXPECT_FALSE(csp::sleep_for(1h, ctx));
    EXPECT_EQ(ctx.err(), csp::errc::canceled);
  });
  ASSERT_TRUE(waiting_on(ctx));
  cancel();
  ASSERT_TRUE(r.join());
}

TEST_P(ContextOperation, SleepRunsItsCourse) {
  auto [ctx, cancel] = csp::with_cancel(csp::background());
  runner r(GetParam(), [ctx = ctx] {
    const auto start = steady::now();
    EXPECT_TRUE(csp::sleep_for(10ms, ctx));
    EXPECT_GE(steady::now() - start, 10ms);
    EXPECT_TRUE(csp::sleep_until(steady::now() + 1ms, ctx));
    EXPECT_TRUE(csp::sleep_for(0s, ctx));
    EXPECT_TRUE(csp::sleep_for(1ms, csp::background()));
  });
  ASSERT_TRUE(r.join());
  cancel();
  EXPECT_FALSE(csp::sleep_for(0s, ctx));  // an ended context fails at once
  EXPECT_FALSE(csp::sleep_for(1h, ctx));
}

TEST_P(ContextOperation, SleepStopsAtTheDeadline) {
  runner r(GetParam(), [] {
    const auto start = steady::now();
    auto [ctx, cancel] = csp::with_timeout(csp::background(), 10ms);
    EXPECT_FALSE(csp::sleep_for(1h, ctx));
    EXPECT_GE(steady::now() - start, 10ms);
    EXPECT_EQ(ctx.err(), csp::errc::deadline_exceeded);
  });
  ASSERT_TRUE(r.join());
}

TEST_P(ContextOperation, WaitGroupWaitStopsWhenTheContextEnds) {
  auto [ctx, cancel] = csp::with_cancel(csp::background());
  csp::wait_group wg;
  wg.add(1);
  runner r(GetParam(), [&, ctx = ctx] { EXPECT_FALSE(wg.wait(ctx)); });
  ASSERT_TRUE(waiting_on(ctx));
  cancel();
  ASSERT_TRUE(r.join());
  // The abandoned wait left nothing behind; the wait_group works on.
  EXPECT_EQ(wg.count(), 1);
  wg.done();
  wg.wait();
  EXPECT_FALSE(wg.wait(ctx));  // ended context: fails at once, even at zero
}

TEST_P(ContextOperation, WaitGroupWaitSeesZero) {
  auto [ctx, cancel] = csp::with_cancel(csp::background());
  csp::wait_group wg;
  EXPECT_TRUE(wg.wait(ctx));  // zero: at once
  wg.add(2);
  runner r(GetParam(), [&, ctx = ctx] { EXPECT_TRUE(wg.wait(ctx)); });
  ASSERT_TRUE(waiting_on(ctx));
  wg.done();
  wg.done();
  ASSERT_TRUE(r.join());
  cancel();
}

TEST_P(ContextOperation, MutexLockStopsWhenTheContextEnds) {
  auto [ctx, cancel] = csp::with_cancel(csp::background());
  csp::mutex m;
  m.lock();
  runner r(GetParam(), [&, ctx = ctx] { EXPECT_FALSE(m.lock(ctx)); });
  ASSERT_TRUE(waiting_on(ctx));
  cancel();
  ASSERT_TRUE(r.join());
  // Still ours; the waiter that gave up is gone from the queue.
  EXPECT_FALSE(m.try_lock());
  m.unlock();
  EXPECT_TRUE(m.try_lock());
  m.unlock();
  EXPECT_FALSE(m.lock(ctx));  // ended context: fails at once, even when free
  EXPECT_TRUE(m.try_lock());
  m.unlock();
}

TEST_P(ContextOperation, MutexLockGetsTheLock) {
  auto [ctx, cancel] = csp::with_cancel(csp::background());
  csp::mutex m;
  int shared = 0;
  m.lock();
  runner r(GetParam(), [&, ctx = ctx] {
    ASSERT_TRUE(m.lock(ctx));
    shared += 1;  // written under the lock
    m.unlock();
  });
  ASSERT_TRUE(waiting_on(ctx));
  shared += 10;
  m.unlock();
  ASSERT_TRUE(r.join());
  m.lock();
  EXPECT_EQ(shared, 11);
  m.unlock();
  cancel();
}

TEST_P(ContextOperation, MutexQueueSurvivesAWaiterThatGivesUp) {
  // A waiter in the middle of the queue leaves; the one behind it still gets the lock.
  auto [first_ctx, cancel_first] = csp::with_cancel(csp::background());
  auto [second_ctx, cancel_second] = csp::with_cancel(csp::background());
  csp::mutex m;
  m.lock();
  runner quitter(GetParam(), [&, ctx = first_ctx] { EXPECT_FALSE(m.lock(ctx)); });
  ASSERT_TRUE(waiting_on(first_ctx));
  runner stayer(GetParam(), [&, ctx = second_ctx] {
    EXPECT_TRUE(m.lock(ctx));
    m.unlock();
  });
  ASSERT_TRUE(waiting_on(second_ctx));
  cancel_first();
  ASSERT_TRUE(quitter.join());
  m.unlock();
  ASSERT_TRUE(stayer.join());
  cancel_second();
}

TEST_P(ContextOperation, BlockingStopsWaitingButTheCallRunsOn) {
  auto [ctx, cancel] = csp::with_cancel(csp::background());
  // The call's state is shared, as the header asks: the caller leaves before it ends.
  auto release = std::make_shared<std::promise<void>>();
  auto finished = std::make_shared<std::promise<int>>();
  runner r(GetParam(), [&, ctx = ctx] {
    const std::optional<int> result = csp::blocking(
        [gate = release->get_future().share(), finished] {
          gate.wait();
          finished->set_value(7);
          return 7;
        },
        ctx);
    EXPECT_FALSE(result);
    EXPECT_EQ(ctx.err(), csp::errc::canceled);
  });
  ASSERT_TRUE(waiting_on(ctx));
  cancel();
  ASSERT_TRUE(r.join());
  release->set_value();
  auto done = finished->get_future();
  ASSERT_EQ(done.wait_for(patience), std::future_status::ready);
  EXPECT_EQ(done.get(), 7);
}

TEST_P(ContextOperation, BlockingReturnsResultsAndRethrows) {
  auto [ctx, cancel] = csp::with_cancel(csp::background());
  runner r(GetParam(), [ctx = ctx] {
    EXPECT_EQ(csp::blocking([] { return std::string("read"); }, ctx), std::string("read"));
    std::atomic<int> calls{0};
    EXPECT_TRUE(csp::blocking([&calls] { ++calls; }, ctx));
    EXPECT_EQ(calls.load(), 1);
    EXPECT_THROW((void)csp::blocking([]() -> int { throw std::runtime_error("EIO"); }, ctx),
                 std::runtime_error);
    EXPECT_EQ(csp::blocking([] { return 5; }, csp::background()), 5);
  });
  ASSERT_TRUE(r.join());
  cancel();
  std::atomic<int> calls{0};
  EXPECT_FALSE(csp::blocking([&calls] { ++calls; }, ctx));  // ended: not even started
  EXPECT_EQ(calls.load(), 0);
}

// ---------------------------------------------------------------------------------------------
// Many waiters.

TEST(ContextWaiters, CancelWakesEveryWaiter) {
  constexpr int goroutines = 1000;
  constexpr int threads = 8;
  auto [ctx, cancel] = csp::with_cancel(csp::background());
  csp::channel<int> never;
  csp::wait_group woken;
  std::atomic<int> canceled{0};
  for (int i = 0; i < goroutines; ++i) {
    woken.go([&, ctx = ctx] {
      if (never.receive(ctx).status == csp::channel_status::canceled) ++canceled;
    });
  }
  std::vector<std::thread> waiting_threads;
  for (int i = 0; i < threads; ++i) {
    woken.add(1);
    waiting_threads.emplace_back([&, ctx = ctx] {
      if (!csp::sleep_for(1h, ctx)) ++canceled;
      woken.done();
    });
  }
  ASSERT_TRUE(waiting_on(ctx, goroutines + threads));
  cancel();
  auto [limit, stop] = csp::with_timeout(csp::background(), patience);
  EXPECT_TRUE(woken.wait(limit));
  for (auto& thread : waiting_threads) thread.join();
  EXPECT_EQ(canceled.load(), goroutines + threads);
}

}  // namespace
