// wait_group_test.cpp: csp::wait_group (Go's sync.WaitGroup; go-semantics.md §1.14, WG-1..8).
//
// Ports of golang/go src/sync/waitgroup_test.go (TestWaitGroup, TestWaitGroupMisuse,
// TestWaitGroupRace, TestWaitGroupAlign, TestWaitGroupGo) name their source; the rest checks
// csp's own guarantees (csp/wait_group.hpp): parties of both kinds — plain threads and goroutines
// — add, finish and wait on one wait_group, and everything done before done() is visible after
// wait() (MM-8; the plain, non-atomic data makes that a TSan check).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "csp/channel.hpp"
#include "csp/go.hpp"
#include "csp/panic_error.hpp"
#include "csp/select.hpp"
#include "csp/wait_group.hpp"
#include "support/runtime_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using csp_test::must_finish;
using csp_test::patience;
using csp_test::scaled;
using csp_test::wait_bounded;

class WaitGroup : public csp_test::RuntimeTest {};
class WaitGroupOneWorker : public csp_test::RuntimeTest {};
CSP_INSTANTIATE_RUNTIME_TEST(WaitGroup);
INSTANTIATE_TEST_SUITE_P(Procs, WaitGroupOneWorker, testing::Values(1), csp_test::procs_name);

std::string panic_text(csp::wait_group& wg, std::int64_t delta) {
  try {
    wg.add(delta);
  } catch (const csp::panic_error& error) {
    return error.what();
  } catch (...) {
    return "<another exception>";
  }
  return "<no exception>";
}

TEST_P(WaitGroup, WaitReturnsAtOnceWhenTheCountIsZero) {  // WG-1, WG-3
  csp::wait_group fresh;
  EXPECT_EQ(fresh.count(), 0);
  must_finish("wait on a new wait_group", [&] { fresh.wait(); });
  csp::wait_group balanced;
  balanced.add(3);
  balanced.done();
  balanced.add(-2);
  must_finish("wait on a wait_group back at zero", [&] { balanced.wait(); });
  // Inside a goroutine too.
  csp::channel<int> returned(1);
  csp::go([&fresh, returned] {
    fresh.wait();
    returned.send(1);
  });
  EXPECT_TRUE(returned.receive_for(patience));
}

TEST_P(WaitGroup, NegativeCounterPanicsAndLeavesTheCount) {  // WG-2, TestWaitGroupMisuse
  csp::wait_group wg;
  wg.add(1);
  wg.done();
  EXPECT_EQ(panic_text(wg, -1), "sync: negative WaitGroup counter");
  EXPECT_EQ(wg.count(), 0);
  wg.add(2);
  EXPECT_EQ(panic_text(wg, -3), "sync: negative WaitGroup counter");
  EXPECT_EQ(wg.count(), 2);  // unchanged by the failed add
  try {
    wg.done();
    wg.done();
    wg.done();
    ADD_FAILURE() << "a third done() did not panic";
  } catch (const csp::panic_error& error) {
    EXPECT_STREQ(error.what(), "sync: negative WaitGroup counter");
  }
  EXPECT_EQ(wg.count(), 0);
  must_finish("wait after a failed done()", [&] { wg.wait(); });
  // Caught inside a goroutine, as Go's recover() would.
  csp::channel<std::string> text(1);
  csp::go([&wg, text] { text.send(panic_text(wg, -1)); });
  auto seen = text.receive_for(patience);
  ASSERT_TRUE(seen);
  EXPECT_EQ(*seen, "sync: negative WaitGroup counter");
}

TEST_P(WaitGroup, ThreadsFinishAndTheMainThreadWaits) {  // MM-8
  constexpr int n = 8;
  std::vector<int> results(n, 0);  // plain data: written before done(), read after wait()
  csp::wait_group wg;
  wg.add(n);
  std::vector<std::jthread> workers;
  for (int i = 0; i < n; ++i) {
    workers.emplace_back([&, i] {
      results[static_cast<std::size_t>(i)] = i * i;
      wg.done();
    });
  }
  wait_bounded(wg);
  for (int i = 0; i < n; ++i) EXPECT_EQ(results[static_cast<std::size_t>(i)], i * i);
}

TEST_P(WaitGroup, GoroutinesFinishAndAThreadWaits) {  // MM-8
  const int n = scaled(1000);
  std::vector<long long> results(static_cast<std::size_t>(n), 0);
  csp::wait_group wg;
  wg.add(n);
  for (int i = 0; i < n; ++i) {
    csp::go([&, i] {
      if (i % 7 == 0) csp::yield();
      results[static_cast<std::size_t>(i)] = 3LL * i;
      wg.done();
    });
  }
  wait_bounded(wg);
  for (int i = 0; i < n; ++i) ASSERT_EQ(results[static_cast<std::size_t>(i)], 3LL * i);
}

TEST_P(WaitGroup, ThreadsFinishAndAGoroutineWaits) {
  constexpr int n = 8;
  std::vector<int> results(n, 0);
  csp::wait_group wg;
  wg.add(n);
  csp::channel<long long> sum(1);
  csp::go([&, sum] {
    wg.wait();
    long long total = 0;
    for (int v : results) total += v;  // plain reads after wait()
    sum.send(total);
  });
  {
    std::vector<std::jthread> workers;
    for (int i = 0; i < n; ++i) {
      workers.emplace_back([&, i] {
        results[static_cast<std::size_t>(i)] = i + 1;
        wg.done();
      });
    }
  }
  auto total = sum.receive_for(patience);
  ASSERT_TRUE(total);
  EXPECT_EQ(*total, n * (n + 1) / 2);
}

TEST_P(WaitGroup, ManyWaitersOfBothKindsAreReleasedTogether) {  // WG-3
  constexpr int goroutine_waiters = 50;
  constexpr int thread_waiters = 4;
  csp::wait_group gate;
  gate.add(1);
  std::atomic<bool> opened{false};
  std::atomic<int> early{0};
  csp::wait_group released;
  released.add(goroutine_waiters + thread_waiters);
  for (int i = 0; i < goroutine_waiters; ++i) {
    csp::go([&] {
      gate.wait();
      if (!opened.load()) early.fetch_add(1);
      released.done();
    });
  }
  std::vector<std::jthread> threads;
  for (int i = 0; i < thread_waiters; ++i) {
    threads.emplace_back([&] {
      gate.wait();
      if (!opened.load()) early.fetch_add(1);
      released.done();
    });
  }
  EXPECT_EQ(released.count(), goroutine_waiters + thread_waiters);  // nobody got through yet
  // Let the waiters queue (not needed for correctness: a late one returns at once).
  for (int i = 0; i < 100; ++i) std::this_thread::yield();
  opened.store(true);
  csp::go([&] { gate.done(); });  // the last done() comes from a goroutine
  wait_bounded(released);
  EXPECT_EQ(early.load(), 0);
}

TEST_P(WaitGroup, ReuseAfterWait) {  // golang/go src/sync/waitgroup_test.go TestWaitGroup
  // testWaitGroup: n goroutines pass a barrier (wg1) and wait at a second one (wg2), which
  // must not let anybody through before the last Done. Go runs it 8 times with the same two
  // WaitGroups, "to ensure barrier is in a proper state"; more rounds here.
  csp::wait_group wg1, wg2;
  const int rounds = scaled(100, 5);
  for (int round = 0; round < rounds; ++round) {
    constexpr int n = 16;
    wg1.add(n);
    wg2.add(n);
    csp::channel<bool> exited(n);
    for (int i = 0; i != n; ++i) {
      csp::go([&wg1, &wg2, exited] {
        wg1.done();
        wg2.wait();
        exited.send(true);
      });
    }
    wait_bounded(wg1);
    for (int i = 0; i != n; ++i) {
      if (exited.try_receive()) {
        ADD_FAILURE() << "WaitGroup released group too soon";
      }
      wg2.done();
    }
    for (int i = 0; i != n; ++i) {
      // Will time out if barrier fails to unlock someone.
      ASSERT_TRUE(exited.receive_for(patience)) << "round " << round << ", exit " << i;
    }
  }
}

TEST_P(WaitGroup, SpuriousWakeupsNeverHappen) {  // TestWaitGroupRace
  // Also a lifetime check: each wait_group is destroyed as soon as its wait() returns, while
  // the goroutine that called the last done() may still be finishing (ASan).
  const int iterations = scaled(1000);
  for (int i = 0; i < iterations; ++i) {
    auto wg = std::make_unique<csp::wait_group>();
    std::atomic<int> n{0};
    // spawn goroutine 1
    wg->add(1);
    csp::go([&] {
      n.fetch_add(1);
      wg->done();
    });
    // spawn goroutine 2
    wg->add(1);
    csp::go([&] {
      n.fetch_add(1);
      wg->done();
    });
    // Wait for goroutine 1 and 2
    wait_bounded(*wg);
    ASSERT_EQ(n.load(), 2) << "Spurious wakeup from Wait";
    wg.reset();
  }
}

TEST_P(WaitGroup, Align) {  // TestWaitGroupAlign
  struct X {
    char x;
    csp::wait_group wg;
  };
  X x;
  x.x = 1;
  x.wg.add(1);
  csp::go([](X* p) { p->wg.done(); }, &x);
  wait_bounded(x.wg);
}

TEST_P(WaitGroup, GoRunsTheFunctionAndCountsIt) {  // WG-7, TestWaitGroupGo
  csp::wait_group wg;
  int i = 0;  // plain: the function's return happens before wait() returns
  wg.go([&i] { ++i; });
  wait_bounded(wg);
  EXPECT_EQ(i, 1);

  // Many, from a thread; a goroutine started by go() may itself call go().
  const int n = scaled(500);
  std::atomic<int> ran{0};
  for (int k = 0; k < n; ++k) {
    wg.go([&] {
      ran.fetch_add(1);
      wg.go([&] { ran.fetch_add(1); });
    });
  }
  wait_bounded(wg);
  EXPECT_EQ(ran.load(), 2 * n);
  EXPECT_EQ(wg.count(), 0);
}

TEST_P(WaitGroup, AddFromAGoroutineWhileTheCountIsPositive) {  // WG-4
  // Adds made while the count is above zero may come at any time, from any party.
  csp::wait_group wg;
  std::atomic<int> leaves{0};
  wg.add(1);
  csp::go([&] {
    for (int i = 0; i < 10; ++i) {
      wg.add(1);
      csp::go([&] {
        leaves.fetch_add(1);
        wg.done();
      });
    }
    wg.done();
  });
  wait_bounded(wg);
  EXPECT_EQ(leaves.load(), 10);
}

TEST_P(WaitGroup, CountReportsTheCounter) {
  csp::wait_group wg;
  wg.add(5);
  EXPECT_EQ(wg.count(), 5);
  wg.done();
  EXPECT_EQ(wg.count(), 4);
  wg.add(-4);
  EXPECT_EQ(wg.count(), 0);
}

TEST_P(WaitGroupOneWorker, AWaitingGoroutineDoesNotBlockItsWorker) {
  // With one worker, the goroutine that calls done() can run only if the waiting one parked.
  csp::wait_group wg;
  wg.add(1);
  csp::channel<int> finished(1);
  csp::go([&wg, finished] {
    csp::go([&wg] { wg.done(); });  // queued behind its starter on the one worker
    wg.wait();
    finished.send(1);
  });
  EXPECT_TRUE(finished.receive_for(patience));
}

TEST_P(WaitGroup, MemoryOrderingFromManyPartiesToManyWaiters) {  // MM-8
  // Every party's plain writes before done() are visible to every released waiter.
  constexpr int writers = 16;
  constexpr int waiters = 8;
  std::vector<int> data(writers, 0);
  csp::wait_group wg;
  wg.add(writers);
  csp::wait_group checked;
  checked.add(waiters);
  std::atomic<int> wrong{0};
  for (int w = 0; w < waiters; ++w) {
    csp::go([&] {
      wg.wait();
      for (int i = 0; i < writers; ++i) {
        if (data[static_cast<std::size_t>(i)] != i + 100) wrong.fetch_add(1);
      }
      checked.done();
    });
  }
  std::vector<std::jthread> threads;
  for (int i = 0; i < writers; ++i) {
    auto write = [&, i] {
      data[static_cast<std::size_t>(i)] = i + 100;
      wg.done();
    };
    if (i % 2 == 0) {
      csp::go(write);
    } else {
      threads.emplace_back(write);
    }
  }
  wait_bounded(checked);
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
