// error_group_test.cpp: csp::error_group (csp/error_group.hpp).
//
// The first five tests are ports of golang/sync errgroup/errgroup_test.go (TestZeroGroup,
// TestWithContext, TestTryGo, TestGoLimit, TestCancelCause), each run twice: with tasks that
// fail by returning a std::error_code (Go's `return err`) and with tasks that throw. Go compares
// errors by identity; here an error_code compares by value and an exception by its
// exception_ptr, which is identity too. The rest check the C++ surface: both ways of reporting,
// the limit's panic, and that a failure stops the siblings through the group's context.
//
// No test sleeps to synchronise; every wait is bounded by `patience`.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "csp/channel.hpp"
#include "csp/context.hpp"
#include "csp/error_group.hpp"
#include "csp/go.hpp"

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

constexpr auto patience = 20s;

// Go's errors.New: two distinct errors, as error_codes.
const std::error_code err1 = std::make_error_code(std::errc::io_error);
const std::error_code err2 = std::make_error_code(std::errc::no_space_on_device);
const std::error_code doom = std::make_error_code(std::errc::owner_dead);

// The error a group reports, as Go's Wait returns it: the code of its first failure, or none.
std::error_code wait_code(csp::error_group& g) { return g.wait_error().code(); }

// Returns why `ctx` ended, as an error_code (a std::system_error cause), or a sentinel.
std::error_code cause_code(const csp::context& ctx) {
  const std::exception_ptr cause = csp::cause(ctx);
  if (cause == nullptr) return std::make_error_code(std::errc::no_message);
  try {
    std::rethrow_exception(cause);
  } catch (const std::system_error& error) {
    return error.code();
  } catch (...) {
  }
  return std::make_error_code(std::errc::not_supported);
}

// Go: TestZeroGroup.
TEST(ErrorGroupGo, ZeroGroup) {
  const std::vector<std::vector<std::error_code>> cases = {
      {}, {std::error_code{}}, {err1}, {err1, std::error_code{}}, {err1, std::error_code{}, err2}};
  for (const auto& errs : cases) {
    csp::error_group g;
    std::error_code first;
    for (const std::error_code& err : errs) {
      g.go([err] { return err; });
      if (!first && err) first = err;
      EXPECT_EQ(wait_code(g), first);  // Wait after each Go: the first error stays
    }
  }
}

TEST(ErrorGroupGo, ZeroGroupWithExceptions) {
  const auto e1 = std::make_exception_ptr(std::runtime_error("errgroup_test: 1"));
  const auto e2 = std::make_exception_ptr(std::runtime_error("errgroup_test: 2"));
  const std::vector<std::vector<std::exception_ptr>> cases = {
      {}, {nullptr}, {e1}, {e1, nullptr}, {e1, nullptr, e2}};
  for (const auto& errs : cases) {
    csp::error_group g;
    std::exception_ptr first;
    for (const std::exception_ptr& err : errs) {
      g.go([err] {
        if (err) std::rethrow_exception(err);
      });
      if (!first && err) first = err;
      EXPECT_EQ(g.wait_error().exception(), first);
    }
  }
}

// Go: TestWithContext.
TEST(ErrorGroupGo, WithContext) {
  struct test_case {
    std::vector<std::error_code> errs;
    std::error_code want;
  };
  const std::vector<test_case> cases = {
      {{}, {}}, {{std::error_code{}}, {}}, {{doom}, doom}, {{doom, std::error_code{}}, doom}};
  for (const auto& tc : cases) {
    auto [g, ctx] = csp::error_group::with_context(csp::background());
    for (const std::error_code& err : tc.errs) g.go([err] { return err; });
    EXPECT_EQ(wait_code(g), tc.want);
    // Whatever happened, the context is done once Wait returns.
    EXPECT_EQ(csp::select(csp::on_receive(ctx.done()), csp::on_default()), 0u);
  }
}

// Go: TestTryGo.
TEST(ErrorGroupGo, TryGo) {
  csp::error_group g;
  constexpr int n = 42;
  g.set_limit(42);
  csp::channel<std::monostate> ch;
  auto fn = [ch] { ch.send(std::monostate{}); };
  for (int i = 0; i < n; ++i) {
    ASSERT_TRUE(g.try_go(fn)) << "TryGo should succeed but got fail at " << i << "-th call.";
  }
  ASSERT_FALSE(g.try_go(fn)) << "TryGo is expected to fail but succeeded.";
  csp::go([ch] {
    for (int i = 0; i < n; ++i) (void)ch.receive();
  });
  g.wait();

  ASSERT_TRUE(g.try_go(fn)) << "TryGo should succeed but got fail after all goroutines.";
  csp::go([ch] { (void)ch.receive(); });
  g.wait();

  // Switch limit.
  g.set_limit(1);
  ASSERT_TRUE(g.try_go(fn)) << "TryGo should succeed but got failed.";
  ASSERT_FALSE(g.try_go(fn)) << "TryGo should fail but succeeded.";
  csp::go([ch] { (void)ch.receive(); });
  g.wait();

  // Block all calls.
  g.set_limit(0);
  for (int i = 0; i < 1 << 10; ++i) {
    ASSERT_FALSE(g.try_go(fn)) << "TryGo should fail but got succeeded.";
  }
  g.wait();
}

// Go: TestGoLimit.
TEST(ErrorGroupGo, GoLimit) {
  constexpr int limit = 10;
  csp::error_group g;
  g.set_limit(limit);
  std::atomic<int> active{0};
  std::atomic<int> most{0};
  for (int i = 0; i <= 1 << 10; ++i) {
    g.go([&]() -> std::error_code {
      const int n = ++active;
      int seen = most.load();
      while (n > seen && !most.compare_exchange_weak(seen, n)) {
      }
      if (n > limit) return std::make_error_code(std::errc::resource_unavailable_try_again);
      csp::yield();  // give the other goroutines a chance to increment active
      --active;
      return {};
    });
  }
  EXPECT_EQ(wait_code(g), std::error_code{}) << "saw " << most.load() << " active goroutines";
  EXPECT_LE(most.load(), limit);
}

// Go: TestCancelCause.
TEST(ErrorGroupGo, CancelCause) {
  struct test_case {
    std::vector<std::error_code> errs;
    std::error_code want;
  };
  const std::vector<test_case> cases = {
      {{}, {}}, {{std::error_code{}}, {}}, {{doom}, doom}, {{doom, std::error_code{}}, doom}};
  for (const auto& tc : cases) {
    auto [g, ctx] = csp::error_group::with_context(csp::background());
    for (const std::error_code& err : tc.errs) (void)g.try_go([err] { return err; });
    EXPECT_EQ(wait_code(g), tc.want);
    const std::error_code want = tc.want ? tc.want : std::error_code(csp::errc::canceled);
    EXPECT_EQ(cause_code(ctx), want);
  }
}

TEST(ErrorGroupGo, CancelCauseWithExceptions) {
  const auto doomed = std::make_exception_ptr(std::runtime_error("group_test: doomed"));
  auto [g, ctx] = csp::error_group::with_context(csp::background());
  g.go([doomed] { std::rethrow_exception(doomed); });
  g.go([] {});
  EXPECT_EQ(g.wait_error().exception(), doomed);
  EXPECT_EQ(csp::cause(ctx), doomed);  // the very exception, as Go's cause is the very error
  EXPECT_EQ(ctx.err(), csp::errc::canceled);
}

// ---------------------------------------------------------------------------------------------
// Reporting.

TEST(ErrorGroup, WaitRethrowsTheException) {
  csp::error_group g;
  g.go([] { throw std::invalid_argument("bad image"); });
  try {
    g.wait();
    ADD_FAILURE() << "wait() did not throw";
  } catch (const std::invalid_argument& error) {
    EXPECT_STREQ(error.what(), "bad image");
  }
}

TEST(ErrorGroup, WaitThrowsSystemErrorForACode) {
  csp::error_group g;
  g.go([]() -> std::error_code { return std::make_error_code(std::errc::io_error); });
  try {
    g.wait();
    ADD_FAILURE() << "wait() did not throw";
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code(), std::errc::io_error);
  }
}

TEST(ErrorGroup, WaitErrorDescribesTheFailure) {
  {
    csp::error_group g;
    g.go([] {});
    const auto failure = g.wait_error();
    EXPECT_FALSE(failure);
    EXPECT_EQ(failure.exception(), nullptr);
    EXPECT_FALSE(failure.code());
    EXPECT_EQ(failure.message(), "");
  }
  {
    csp::error_group g;
    g.go([]() -> std::error_code { return csp::errc::deadline_exceeded; });
    const auto failure = g.wait_error();
    ASSERT_TRUE(failure);
    EXPECT_EQ(failure.code(), csp::errc::deadline_exceeded);
    EXPECT_EQ(failure.message(), "context deadline exceeded");
    EXPECT_THROW(failure.rethrow(), std::system_error);
  }
  {
    csp::error_group g;
    g.go([] { throw std::system_error(std::make_error_code(std::errc::broken_pipe), "write"); });
    const auto failure = g.wait_error();
    EXPECT_EQ(failure.code(), std::errc::broken_pipe);  // a thrown system_error has a code too
  }
  {
    csp::error_group g;
    g.go([] { throw std::out_of_range("row 7"); });
    const auto failure = g.wait_error();
    ASSERT_TRUE(failure);
    EXPECT_FALSE(failure.code());  // other exceptions have none: test the failure itself
    EXPECT_EQ(failure.message(), "row 7");
  }
  {
    csp::error_group g;
    g.go([] { throw 42; });
    EXPECT_EQ(g.wait_error().message(), "unknown exception");
  }
}

TEST(ErrorGroup, PanicsInTasksAreFailures) {
  // Deviation from errgroup v0.16+, on purpose: a panic_error does not crash the process.
  csp::error_group g;
  g.go([] {
    csp::channel<int> ch(1);
    ch.close();
    ch.send(1);
  });
  EXPECT_EQ(g.wait_error().message(), "send on closed channel");
}

TEST(ErrorGroup, FirstFailureWinsUnderConcurrency) {
  for (int round = 0; round < 20; ++round) {
    auto [g, ctx] = csp::error_group::with_context(csp::background());
    std::atomic<int> failed{0};
    for (int i = 0; i < 16; ++i) {
      g.go([i, &failed] {
        ++failed;
        throw std::runtime_error("task " + std::to_string(i));
      });
    }
    const auto failure = g.wait_error();
    EXPECT_EQ(failed.load(), 16);
    ASSERT_TRUE(failure);
    EXPECT_EQ(csp::cause(ctx), failure.exception());  // the recorded one cancelled the context
  }
}

// ---------------------------------------------------------------------------------------------
// Limits.

TEST(ErrorGroup, ChangingTheLimitWhileTasksRunPanics) {
  csp::error_group g;
  g.set_limit(2);
  csp::channel<int> gate;
  g.go([gate] { (void)gate.receive(); });
  try {
    g.set_limit(5);
    ADD_FAILURE() << "set_limit did not throw";
  } catch (const csp::panic_error& error) {
    EXPECT_STREQ(error.what(),
                 "errgroup: modify limit while 1 goroutines in the group are still active");
  }
  g.set_limit(-1);  // removing the limit never panics (Go's SetLimit(n < 0))
  gate.close();
  g.wait();
  g.set_limit(3);  // nothing running: fine
}

TEST(ErrorGroup, GoWaitsAtTheLimit) {
  csp::error_group g;
  g.set_limit(1);
  csp::channel<int> gate;
  g.go([gate] { (void)gate.receive(); });
  csp::channel<bool> second_started(1);
  csp::channel<bool> go_returned(1);
  std::thread launcher([&] {
    g.go([second_started] { (void)second_started.try_send(true); });
    (void)go_returned.try_send(true);
  });
  // The second go() cannot return while the first task holds the only slot; let it go.
  EXPECT_EQ(go_returned.try_receive().status, csp::channel_status::empty);
  gate.send(1);
  EXPECT_TRUE(go_returned.receive_for(patience));
  EXPECT_TRUE(second_started.receive_for(patience));
  launcher.join();
  g.wait();
}

// ---------------------------------------------------------------------------------------------
// The group's context stops the siblings.

TEST(ErrorGroup, FailureStopsTheSiblings) {
  auto [g, ctx] = csp::error_group::with_context(csp::background());
  csp::channel<int> jobs;  // nobody ever sends: the siblings wait until ctx ends
  std::atomic<int> stopped{0};
  for (int i = 0; i < 4; ++i) {
    g.go([ctx = ctx, jobs, &stopped]() -> std::error_code {
      const auto job = jobs.receive(ctx);
      if (job.status == csp::channel_status::canceled) {
        ++stopped;
        return ctx.err();  // dropped: the failure came first
      }
      return {};
    });
  }
  g.go([] { throw std::runtime_error("worker 5 failed"); });
  const auto failure = g.wait_error();
  EXPECT_EQ(failure.message(), "worker 5 failed");
  EXPECT_EQ(stopped.load(), 4);
}

TEST(ErrorGroup, TasksOutliveTheHandle) {
  csp::channel<int> results(1);
  csp::channel<int> gate;
  {
    csp::error_group g;
    g.go([gate, results] {
      (void)gate.receive();
      (void)results.try_send(9);
    });
  }
  gate.send(1);
  EXPECT_EQ(results.receive_for(patience).value, 9);
}

TEST(ErrorGroup, MoveTheHandle) {
  auto [g, ctx] = csp::error_group::with_context(csp::background());
  csp::error_group moved = std::move(g);
  moved.go([] { throw std::runtime_error("moved"); });
  EXPECT_EQ(moved.wait_error().message(), "moved");
  EXPECT_EQ(ctx.err(), csp::errc::canceled);
}

TEST(ErrorGroup, GroupInsideAGoroutine) {
  auto outcome = csp::run([] {
    auto [g, ctx] = csp::error_group::with_context(csp::background());
    std::atomic<int> sum{0};
    for (int i = 1; i <= 100; ++i) g.go([i, &sum] { sum += i; });
    g.wait();
    return sum.load();
  });
  EXPECT_EQ(outcome, 5050);
}

}  // namespace
