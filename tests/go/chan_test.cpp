// Port of golang/go:src/runtime/chan_test.go: TestChan over capacities 0..19 (Go's -short
// count), TestNonblockRecvRace and TestMultiConsumer, the tests of that file that need no select.
// Goroutines become std::threads. Where Go sleeps a millisecond to let a goroutine block, this
// port probes instead: an operation of its own that must time out (receive_for / send_for), so
// a wrong "does not block" still shows, and nothing waits on a sleep.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <thread>
#include <vector>

#include "csp/channel.hpp"

namespace {

using namespace std::chrono_literals;

constexpr auto probe = 1ms;

class GoTestChan : public testing::TestWithParam<int> {};

INSTANTIATE_TEST_SUITE_P(Capacities, GoTestChan, testing::Range(0, 20));

TEST_P(GoTestChan, ReceiveFromEmptyChanBlocks) {
  const int chan_cap = GetParam();
  csp::channel<int> c(chan_cap);
  std::atomic<bool> recv1{false};
  std::thread t1([&] {
    (void)c.receive();  // _ = <-c
    recv1.store(true);
  });
  std::atomic<bool> recv2{false};
  std::thread t2([&] {
    (void)c.receive().has_value();  // _, _ = <-c
    recv2.store(true);
  });
  EXPECT_EQ(c.receive_for(probe).status, csp::channel_status::timeout);
  EXPECT_FALSE(recv1.load() || recv2.load()) << "chan[" << chan_cap << "]: receive from empty chan";
  // Ensure that non-blocking receive does not block.
  EXPECT_EQ(c.try_receive().status, csp::channel_status::empty)
      << "chan[" << chan_cap << "]: receive from empty chan";
  EXPECT_EQ(c.try_receive().status, csp::channel_status::empty)
      << "chan[" << chan_cap << "]: receive from empty chan";
  c.send(0);
  c.send(0);
  t1.join();
  t2.join();
}

TEST_P(GoTestChan, SendToFullChanBlocks) {
  const int chan_cap = GetParam();
  csp::channel<int> c(chan_cap);
  for (int i = 0; i < chan_cap; ++i) c.send(i);
  std::atomic<bool> sent{false};
  std::thread t([&] {
    c.send(0);
    sent.store(true);
  });
  EXPECT_FALSE(c.send_for(0, probe));
  EXPECT_FALSE(sent.load()) << "chan[" << chan_cap << "]: send to full chan";
  // Ensure that non-blocking send does not block.
  EXPECT_FALSE(c.try_send(0)) << "chan[" << chan_cap << "]: send to full chan";
  (void)c.receive();
  t.join();
  EXPECT_TRUE(sent.load());
}

TEST_P(GoTestChan, ReceiveZeroFromClosedChan) {
  const int chan_cap = GetParam();
  csp::channel<int> c(chan_cap);
  for (int i = 0; i < chan_cap; ++i) c.send(i);
  c.close();
  for (int i = 0; i < chan_cap; ++i) {
    EXPECT_EQ(c.receive(), i) << "chan[" << chan_cap << "]";
  }
  EXPECT_EQ(c.receive().value_or(0), 0) << "chan[" << chan_cap << "]";
  auto v = c.receive();  // v, ok := <-c
  EXPECT_FALSE(v.has_value()) << "chan[" << chan_cap << "]: expected 0/false";
}

TEST_P(GoTestChan, CloseUnblocksReceive) {
  const int chan_cap = GetParam();
  csp::channel<int> c(chan_cap);
  csp::channel<bool> done;
  std::thread t([&] {
    auto v = c.receive();
    done.send(!v.has_value());  // done <- v == 0 && ok == false
  });
  EXPECT_EQ(c.receive_for(probe).status, csp::channel_status::timeout);
  c.close();
  EXPECT_EQ(done.receive(), true) << "chan[" << chan_cap << "]: received non zero from closed chan";
  t.join();
}

TEST_P(GoTestChan, FifoAndConcurrentSums) {
  const int chan_cap = GetParam();
  csp::channel<int> c(chan_cap);
  {
    // Send 100 integers, ensure that we receive them non-corrupted in FIFO order.
    std::thread t([c] {
      for (int i = 0; i < 100; ++i) c.send(i);
    });
    for (int i = 0; i < 100; ++i) {
      ASSERT_EQ(c.receive(), i) << "chan[" << chan_cap << "]";
    }
    t.join();
  }
  {
    // Same, but using recv2.
    std::thread t([c] {
      for (int i = 0; i < 100; ++i) c.send(i);
    });
    for (int i = 0; i < 100; ++i) {
      auto v = c.receive();
      ASSERT_TRUE(v.has_value()) << "chan[" << chan_cap << "]: receive failed, expected " << i;
      ASSERT_EQ(*v, i) << "chan[" << chan_cap << "]";
    }
    t.join();
  }
  // Send 1000 integers in 4 goroutines, ensure that we receive what we send.
  constexpr int P = 4;
  constexpr int L = 1000;
  std::vector<std::thread> threads;
  for (int p = 0; p < P; ++p) {
    threads.emplace_back([c] {
      for (int i = 0; i < L; ++i) c.send(i);
    });
  }
  csp::channel<std::map<int, int>> done;
  for (int p = 0; p < P; ++p) {
    threads.emplace_back([c, done] {
      std::map<int, int> recv;
      for (int i = 0; i < L; ++i) recv[*c.receive()] += 1;
      done.send(std::move(recv));
    });
  }
  std::map<int, int> recv;
  for (int p = 0; p < P; ++p) {
    const std::map<int, int> part = *done.receive();
    for (auto [k, v] : part) recv[k] += v;
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(recv.size(), static_cast<std::size_t>(L)) << "chan[" << chan_cap << "]";
  for (auto [k, v] : recv) {
    EXPECT_EQ(v, P) << "chan[" << chan_cap << "]: value " << k;
  }
}

TEST_P(GoTestChan, LenCap) {
  const int chan_cap = GetParam();
  const auto expected = static_cast<std::size_t>(chan_cap);
  csp::channel<int> c(chan_cap);
  EXPECT_EQ(c.size(), 0u) << "chan[" << chan_cap << "]: bad len";
  EXPECT_EQ(c.capacity(), expected) << "chan[" << chan_cap << "]: bad cap";
  for (int i = 0; i < chan_cap; ++i) c.send(i);
  EXPECT_EQ(c.size(), expected) << "chan[" << chan_cap << "]: bad len";
  EXPECT_EQ(c.capacity(), expected) << "chan[" << chan_cap << "]: bad cap";
}

// A non-blocking receive racing with close must still see "ready": the channel holds a value
// until the main thread takes it, and is closed before that.
TEST(GoChan, NonblockRecvRace) {
  constexpr int n = 1000;
  for (int i = 0; i < n; ++i) {
    csp::channel<int> c(1);
    c.send(1);
    std::thread t([c] {
      // select { case <-c: default: t.Fatal("chan is not ready") }
      EXPECT_NE(c.try_receive().status, csp::channel_status::empty) << "chan is not ready";
    });
    c.close();
    (void)c.receive();
    t.join();
  }
}

TEST(GoChan, MultiConsumer) {
  constexpr int nwork = 23;
  constexpr int niter = 27183;  // Go: 271828; a tenth keeps the suite fast on two cores
  const int pn[] = {2, 3, 7, 11, 13, 17, 19, 23, 27, 31};
  constexpr int npn = sizeof(pn) / sizeof(pn[0]);

  csp::channel<int> q(nwork * 3);
  csp::channel<int> r(nwork * 3);

  // workers
  std::vector<std::thread> workers;
  for (int w = 0; w < nwork; ++w) {
    workers.emplace_back([&, w] {
      for (int v : q) {
        // mess with the fifo-ish nature of range
        if (pn[w % npn] == v) std::this_thread::yield();
        r.send(v);
      }
    });
  }

  // feeder & closer
  long expect = 0;
  std::thread feeder([&] {
    for (int i = 0; i < niter; ++i) {
      const int v = pn[i % npn];
      expect += v;
      q.send(v);
    }
    q.close();                         // no more work
    for (auto& w : workers) w.join();  // workers done
    r.close();                         // ... so there can be no more results
  });

  // consume & check
  int n = 0;
  long s = 0;
  for (int v : r) {
    ++n;
    s += v;
  }
  feeder.join();
  EXPECT_EQ(n, niter);
  EXPECT_EQ(s, expect);
}

}  // namespace
