// mutex_test.cpp: csp::mutex (Go's sync.Mutex, csp/mutex.hpp).
//
// Mutual exclusion among goroutines and plain threads (the protected counters are plain ints:
// under TSan, a missing happens-before edge between one holder and the next is a reported race,
// MM-6), try_lock, the standard lock wrappers, FIFO hand-off without barging, and that a
// goroutine blocked on the mutex parks instead of blocking its worker thread.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#include "csp/channel.hpp"
#include "csp/go.hpp"
#include "csp/mutex.hpp"
#include "csp/wait_group.hpp"
#include "support/runtime_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using csp_test::patience;
using csp_test::scaled;
using csp_test::wait_bounded;

class Mutex : public csp_test::RuntimeTest {};
class MutexOneWorker : public csp_test::RuntimeTest {};
CSP_INSTANTIATE_RUNTIME_TEST(Mutex);
INSTANTIATE_TEST_SUITE_P(Procs, MutexOneWorker, testing::Values(1), csp_test::procs_name);

static_assert(std::is_default_constructible_v<csp::mutex>);
static_assert(!std::is_copy_constructible_v<csp::mutex>);
static_assert(!std::is_copy_assignable_v<csp::mutex>);
static_assert(!std::is_move_constructible_v<csp::mutex>);

// A critical section that notices any overlap with another holder.
struct guarded_counter {
  csp::mutex lock;
  long long value = 0;  // plain: protected by `lock` only
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};

  void increment(bool yield_inside) {
    std::lock_guard guard(lock);
    if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
    const long long seen = value;
    // Parking or yielding while holding the lock lets others contend even on one worker.
    if (yield_inside) csp::yield();
    value = seen + 1;
    inside.fetch_sub(1);
  }
};

TEST_P(Mutex, MutualExclusionAmongGoroutines) {  // MM-6
  constexpr int goroutines = 8;
  const int per_goroutine = scaled(2000);
  guarded_counter counter;
  csp::wait_group wg;
  for (int g = 0; g < goroutines; ++g) {
    wg.go([&] {
      for (int i = 0; i < per_goroutine; ++i) counter.increment(i % 16 == 0);
    });
  }
  wait_bounded(wg);
  EXPECT_EQ(counter.value, static_cast<long long>(goroutines) * per_goroutine);
  EXPECT_EQ(counter.overlaps.load(), 0);
}

TEST_P(Mutex, MutualExclusionAmongThreadsAndGoroutines) {  // MM-6
  constexpr int goroutines = 4;
  constexpr int threads = 2;
  const int per_party = scaled(2000);
  guarded_counter counter;
  csp::wait_group wg;
  for (int g = 0; g < goroutines; ++g) {
    wg.go([&] {
      for (int i = 0; i < per_party; ++i) counter.increment(i % 16 == 0);
    });
  }
  {
    std::vector<std::jthread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&] {
        for (int i = 0; i < per_party; ++i) counter.increment(false);
      });
    }
  }
  wait_bounded(wg);
  EXPECT_EQ(counter.value, static_cast<long long>(goroutines + threads) * per_party);
  EXPECT_EQ(counter.overlaps.load(), 0);
}

TEST_P(Mutex, TryLock) {
  csp::mutex m;
  EXPECT_TRUE(m.try_lock());
  EXPECT_FALSE(m.try_lock());  // not recursive
  // Another party, a goroutine, fails too while it is held...
  csp::channel<bool> result(1);
  csp::go([&m, result] { result.send(m.try_lock()); });
  auto other = result.receive_for(patience);
  ASSERT_TRUE(other);
  EXPECT_FALSE(*other);
  m.unlock();
  // ...and succeeds once it is free.
  csp::go([&m, result] {
    const bool got = m.try_lock();
    if (got) m.unlock();
    result.send(got);
  });
  other = result.receive_for(patience);
  ASSERT_TRUE(other);
  EXPECT_TRUE(*other);
  EXPECT_TRUE(m.try_lock());
  m.unlock();
}

TEST_P(Mutex, StandardLockWrappers) {
  csp::mutex a, b;
  {
    std::lock_guard guard(a);
    EXPECT_FALSE(a.try_lock());
  }
  {
    std::unique_lock lock(a, std::defer_lock);
    EXPECT_FALSE(lock.owns_lock());
    lock.lock();
    EXPECT_TRUE(lock.owns_lock());
    lock.unlock();
    EXPECT_TRUE(lock.try_lock());
    std::unique_lock second(a, std::try_to_lock);
    EXPECT_FALSE(second.owns_lock());
  }
  {
    std::scoped_lock both(a, b);
    EXPECT_FALSE(a.try_lock());
    EXPECT_FALSE(b.try_lock());
  }
  EXPECT_TRUE(a.try_lock());
  EXPECT_TRUE(b.try_lock());
  a.unlock();
  b.unlock();
}

TEST_P(Mutex, ScopedLockAvoidsDeadlockInOppositeOrders) {
  // std::scoped_lock (std::lock) takes several csp::mutexes without deadlock, whatever order
  // the parties name them in; one goroutine and one thread in each order.
  csp::mutex a, b;
  long long shared = 0;  // plain: protected by both
  const int rounds = scaled(1000);
  csp::wait_group wg;
  wg.go([&] {
    for (int i = 0; i < rounds; ++i) {
      std::scoped_lock both(a, b);
      ++shared;
    }
  });
  wg.go([&] {
    for (int i = 0; i < rounds; ++i) {
      std::scoped_lock both(b, a);
      ++shared;
      if (i % 32 == 0) csp::yield();
    }
  });
  {
    std::jthread t1([&] {
      for (int i = 0; i < rounds; ++i) {
        std::scoped_lock both(a, b);
        ++shared;
      }
    });
    std::jthread t2([&] {
      for (int i = 0; i < rounds; ++i) {
        std::scoped_lock both(b, a);
        ++shared;
      }
    });
  }
  wait_bounded(wg);
  EXPECT_EQ(shared, 4LL * rounds);
}

TEST_P(MutexOneWorker, WaitersAcquireInArrivalOrder) {
  // One worker makes the arrival order deterministic: the holder starts each waiter and yields
  // to it, and the waiter runs until it queues on the mutex.
  constexpr int waiters = 10;
  csp::mutex m;
  std::vector<int> order;  // written under m
  csp::wait_group wg;
  bool barged = true;
  wg.go([&] {
    m.lock();
    for (int i = 0; i < waiters; ++i) {
      wg.go([&, i] {
        std::lock_guard guard(m);
        order.push_back(i);
      });
      csp::yield();  // the new goroutine runs (runnext) and queues on the mutex
    }
    m.unlock();
    // unlock() handed the mutex to the longest waiter, so it is still locked: no barging.
    barged = m.try_lock();
    if (barged) m.unlock();
  });
  wait_bounded(wg);
  EXPECT_FALSE(barged);
  std::vector<int> expected(waiters);
  for (int i = 0; i < waiters; ++i) expected[static_cast<std::size_t>(i)] = i;
  EXPECT_EQ(order, expected);
}

TEST_P(Mutex, UnlockHandsOverToTheLongestWaiterWithoutBarging) {
  // With any number of workers: a thread holds the mutex while a goroutine queues; after the
  // thread unlocks, the mutex already belongs to the goroutine, so the thread's try_lock fails
  // until the goroutine has released it.
  csp::mutex m;
  m.lock();
  std::atomic<bool> queued{false};
  csp::channel<int> acquired(1);
  csp::channel<int> release;
  csp::go([&, acquired, release] {
    queued.store(true);
    m.lock();
    acquired.send(1);
    (void)release.receive();
    m.unlock();
  });
  // Wait until the goroutine is queued on the mutex: its dump line says so.
  const auto give_up = std::chrono::steady_clock::now() + patience;
  while (csp::goroutine_dump().find("[mutex]") == std::string::npos &&
         std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(100us);  // a poll's backoff
  }
  ASSERT_TRUE(queued.load());
  m.unlock();
  EXPECT_FALSE(m.try_lock()) << "the unlocker took the mutex back from its waiter";
  EXPECT_TRUE(acquired.receive_for(patience));
  EXPECT_FALSE(m.try_lock());
  ASSERT_TRUE(release.send_for(0, patience));
  // The goroutine unlocks right after the hand-shake; wait for that (bounded).
  bool relocked = false;
  while (!(relocked = m.try_lock()) && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::yield();
  }
  ASSERT_TRUE(relocked);
  m.unlock();
}

TEST_P(MutexOneWorker, ABlockedGoroutineDoesNotBlockItsWorker) {
  // The owner holds the mutex until another goroutine tells it to let go; a contender blocks
  // on the mutex in between. With one worker, that other goroutine runs only if the contender
  // parked rather than blocking the thread.
  csp::mutex m;
  csp::channel<int> locked(1), contending(1), release(1), finished(3);
  csp::go([&m, locked, release, finished] {  // owner
    m.lock();
    locked.send(1);
    (void)release.receive();
    m.unlock();
    finished.send(1);
  });
  ASSERT_TRUE(locked.receive_for(patience));
  csp::go([&m, contending, finished] {  // contender
    contending.send(1);
    m.lock();  // parks: the owner holds it
    m.unlock();
    finished.send(2);
  });
  csp::go([contending, release, finished] {  // releaser: needs the worker
    (void)contending.receive();
    release.send(1);
    finished.send(4);
  });
  int sum = 0;
  for (int i = 0; i < 3; ++i) {
    auto v = finished.receive_for(patience);
    ASSERT_TRUE(v) << "only " << sum << " finished";
    sum += *v;
  }
  EXPECT_EQ(sum, 7);
}

TEST_P(Mutex, PlainThreadsOnly) {
  // Without goroutines it is an ordinary mutex for threads.
  guarded_counter counter;
  const int per_thread = scaled(5000);
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < per_thread; ++i) counter.increment(false);
      });
    }
  }
  EXPECT_EQ(counter.value, 4LL * per_thread);
  EXPECT_EQ(counter.overlaps.load(), 0);
}

}  // namespace
