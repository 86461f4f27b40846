// select_test.cpp: Go's conformance programs for select, ported to csp.
//
// Sources: golang/go test/chan/select.go, select3.go, select4.go, select6.go, select7.go,
// doubleselect.go, nonblock.go, sieve2.go, and TestSelectFairness in src/runtime/chan_test.go
// (go-semantics.md §4). Each test names its source file; the Go program's structure is kept,
// with these translations:
//   - a goroutine is a std::thread (std::jthread, so every one is joined); the goroutine
//     runtime will rerun these with goroutines;
//   - Go's zero value from a closed channel is an empty std::optional;
//   - panic(...) inside a case that must not run becomes ADD_FAILURE();
//   - "f blocks" (select3.go's testBlock: not finished after 0.1 s) becomes a timed operation,
//     or a select with an extra csp::after(100ms) case, that must report that the time ran out
//     and no sooner; a program that simply runs forever in Go (sieve2.go's goroutines) gets a
//     `quit` channel so that its threads can be stopped and joined.
#include <gtest/gtest.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <queue>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "csp/channel.hpp"
#include "csp/select.hpp"
#include "csp/time.hpp"
#include "support/thread_probe.hpp"

#if defined(__SANITIZE_THREAD__)
#define CSP_GO_SELECT_TEST_SLOWDOWN 5
#elif defined(__SANITIZE_ADDRESS__)
#define CSP_GO_SELECT_TEST_SLOWDOWN 5
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CSP_GO_SELECT_TEST_SLOWDOWN 5
#elif __has_feature(address_sanitizer)
#define CSP_GO_SELECT_TEST_SLOWDOWN 5
#endif
#endif
#ifndef CSP_GO_SELECT_TEST_SLOWDOWN
#define CSP_GO_SELECT_TEST_SLOWDOWN 1
#endif

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

// How long any bounded wait gives its partner before the test fails.
constexpr auto patience = 10s;
// select3.go's "0.1s seems plenty long".
constexpr auto block_probe = 100ms;

// Go's iteration counts, smaller where the sanitizers slow every step.
constexpr int scaled(int n) { return n / CSP_GO_SELECT_TEST_SLOWDOWN; }

void unreachable() { ADD_FAILURE() << "control flow shouldn't reach here"; }

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

// Knowing that a party is blocked (see tests/unit/channel_test.cpp): csp's thread parker sleeps
// in futex(FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG) with "phase waiting, sleeping bit set" only
// after every operation of the party is queued. Used where the Go program relies on scheduling
// order for the interleaving it means to test; where /proc cannot be read the order is left to
// chance, as in Go.
using csp_test::current_tid;
using csp_test::parked_in_csp;
using csp_test::parking_observable;

// Waits until the thread that published its id in `tid` sleeps in csp. True at once when
// parking cannot be observed; false after `patience`.
bool wait_until_parked(const std::atomic<pid_t>& tid) {
  if (!parking_observable()) return true;
  const auto give_up = steady::now() + patience;
  while (steady::now() < give_up) {
    const pid_t id = tid.load(std::memory_order_acquire);
    if (id != 0 && parked_in_csp(id)) return true;
    std::this_thread::yield();
  }
  return false;
}

// =============================================================================================
// golang/go test/chan/select.go: all send expressions are evaluated on every entry (SEL-1),
// nil cases are skipped, and default runs when nothing is ready.

struct select_go {
  unsigned counter = 0;
  unsigned shift = 0;

  unsigned GetValue() {
    ++counter;
    return 1u << shift;
  }

  int Send(csp::channel<unsigned> a, csp::channel<unsigned> b) {
    int i = 0;
    for (;;) {
      bool done = false;
      switch (csp::select(csp::on_send(a, GetValue()), csp::on_send(b, GetValue()),
                          csp::on_default())) {
        case 0:
          ++i;
          a = nullptr;
          break;
        case 1:
          ++i;
          b = nullptr;
          break;
        default:
          done = true;  // Go: break LOOP
      }
      if (done) break;
      ++shift;
    }
    return i;
  }
};

TEST(GoSelect, SelectGo) {  // test/chan/select.go
  select_go go;
  csp::channel<unsigned> a(1), b(1);
  EXPECT_EQ(go.Send(a, b), 2);
  auto av = a.try_receive();
  auto bv = b.try_receive();
  ASSERT_TRUE(av);
  ASSERT_TRUE(bv);
  EXPECT_EQ(*av | *bv, 3u) << "bad values " << *av << " " << *bv;
  EXPECT_EQ(go.Send(a, csp::channel<unsigned>{nullptr}), 1);
  EXPECT_EQ(go.counter, 10u);
}

// =============================================================================================
// golang/go test/chan/select3.go: the table of what blocks, what does not, and what panics.

TEST(GoSelect, Select3AlwaysBlocks) {  // test/chan/select3.go, testBlock(always, ...)
  csp::channel<int> nilch{nullptr};

  // Every probe gets block_probe to finish and must report that it did not; they run side by
  // side, so the table costs one probe's time.
  struct probe {
    const char* what;
    std::function<bool()> blocked;  // true: it was still blocked when block_probe passed
  };
  const std::vector<probe> probes = {
      {"nilch <- 7", [&] { return !nilch.send_for(7, block_probe); }},
      {"<-nilch",
       [&] { return nilch.receive_for(block_probe).status == csp::channel_status::timeout; }},
      {"<-ch on a new unbuffered channel",
       [] {
         csp::channel<int> ch;
         return ch.receive_for(block_probe).status == csp::channel_status::timeout;
       }},
      {"select { case <-nilch: }",
       [&] {
         return csp::select(csp::on_receive(nilch, [] { unreachable(); }),
                            csp::on_receive(csp::after(block_probe))) == 1;
       }},
      {"select { case nilch <- 7: }",
       [&] {
         return csp::select(csp::on_send(nilch, 7, [] { unreachable(); }),
                            csp::on_receive(csp::after(block_probe))) == 1;
       }},
      {"select { case <-nilch: case nilch <- 7: }",
       [&] {
         return csp::select(csp::on_receive(nilch, [] { unreachable(); }),
                            csp::on_send(nilch, 7, [] { unreachable(); }),
                            csp::on_receive(csp::after(block_probe))) == 2;
       }},
      {"select { case <-ch: } on a non-ready channel",
       [] {
         csp::channel<int> ch;
         return csp::select(csp::on_receive(ch, [] { unreachable(); }),
                            csp::on_receive(csp::after(block_probe))) == 1;
       }},
      {"select { case c <- 1: case <-c: } (it sees itself)",
       [] {
         csp::channel<int> c;
         return csp::select(csp::on_send(c, 1), csp::on_receive(c),
                            csp::on_receive(csp::after(block_probe))) == 2;
       }},
  };
  // `select {}` cannot be probed: nothing can wake it, so its thread could never be joined.
  static_assert(std::is_same_v<decltype(csp::select()), std::size_t>);

  std::vector<char> blocked(probes.size(), 0);
  std::vector<steady::duration> elapsed(probes.size());
  {
    std::vector<std::jthread> threads;
    for (std::size_t i = 0; i < probes.size(); ++i) {
      threads.emplace_back([&, i] {
        const auto start = steady::now();
        blocked[i] = probes[i].blocked();
        elapsed[i] = steady::now() - start;
      });
    }
  }
  for (std::size_t i = 0; i < probes.size(); ++i) {
    EXPECT_TRUE(blocked[i]) << probes[i].what << ": function did not block";
    EXPECT_GE(elapsed[i], block_probe) << probes[i].what << ": gave up early";
  }
}

TEST(GoSelect, Select3NeverBlocks) {  // test/chan/select3.go, testBlock(never, ...)
  // Each of these runs inline: it must simply complete (the test main's watchdog catches a
  // hang), and where Go's program says unreachable() the case's callback fails the test.
  csp::channel<int> nilch{nullptr};
  csp::channel<int> closedch;
  closedch.close();

  // sending/receiving from a nil channel inside a select is never selected (testPanic(never))
  EXPECT_EQ(csp::select(csp::on_send(nilch, 7, [] { unreachable(); }), csp::on_default()), 1u);
  EXPECT_EQ(csp::select(csp::on_receive(nilch, [] { unreachable(); }), csp::on_default()), 1u);

  // sending to an async channel with free buffer space never blocks
  {
    csp::channel<int> ch(1);
    ch.send(7);
  }

  // receiving from a closed channel never blocks
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(closedch.receive(), std::nullopt) << "expected zero value from closed channel";
    const std::optional<int> x = closedch.receive();  // x, ok := <-closedch
    EXPECT_FALSE(x.has_value()) << "expected 0, false from closed channel";
  }

  // selects with default cases don't block
  EXPECT_EQ(csp::select(csp::on_default()), 0u);
  EXPECT_EQ(csp::select(csp::on_receive(nilch, [] { unreachable(); }), csp::on_default()), 1u);
  EXPECT_EQ(csp::select(csp::on_send(nilch, 7, [] { unreachable(); }), csp::on_default()), 1u);

  // selects with ready channels don't block
  {
    csp::channel<int> ch(1);
    EXPECT_EQ(csp::select(csp::on_send(ch, 7), csp::on_default([] { unreachable(); })), 0u);
  }
  {
    csp::channel<int> ch(1);
    ch.send(7);
    EXPECT_EQ(csp::select(csp::on_receive(ch), csp::on_default([] { unreachable(); })), 0u);
  }

  // selects with closed channels behave like ordinary operations
  EXPECT_EQ(csp::select(csp::on_receive(closedch)), 0u);  // case <-closedch:
  std::optional<int> x = 99;
  EXPECT_EQ(csp::select(csp::on_receive(closedch, x)), 0u);  // case x := <-closedch:
  EXPECT_EQ(x, std::nullopt);
  bool ok = true;
  EXPECT_EQ(csp::select(csp::on_receive(closedch,  // case x, ok := <-closedch:
                                        [&](std::optional<int> v) { ok = v.has_value(); })),
            0u);
  EXPECT_FALSE(ok);
}

TEST(GoSelect, Select3AlwaysPanics) {  // test/chan/select3.go, testPanic(always, ...)
  csp::channel<int> closedch;
  closedch.close();
  // sending to a closed channel panics.
  EXPECT_EQ(panic_text([&] { closedch.send(7); }), "send on closed channel");
  // select { case closedch <- 7: }
  EXPECT_EQ(panic_text([&] { csp::select(csp::on_send(closedch, 7)); }), "send on closed channel");
}

// =============================================================================================
// golang/go test/chan/select4.go: the left-hand side of a receive case that is not chosen is
// never evaluated ("BUG: called f"). C++ analogue: the out-parameter of a case not taken is
// never written, and its callback (where the assignment would go) never runs.

TEST(GoSelect, Select4) {  // test/chan/select4.go
  struct {
    int a = 0;
  } x;
  csp::channel<int> c(1);
  csp::channel<int> c1;
  c.send(42);

  // As an out-parameter: *f()'s slot must stay untouched.
  std::optional<int> f_slot = -1, x_a;
  EXPECT_EQ(csp::select(csp::on_receive(c1, f_slot), csp::on_receive(c, x_a)), 1u);
  EXPECT_EQ(f_slot, -1) << "BUG: wrote the untaken case's out-parameter";
  ASSERT_TRUE(x_a.has_value());
  EXPECT_EQ(*x_a, 42) << "BUG: " << *x_a;

  // As the assignment itself: f must not be called.
  c.send(42);
  bool f_called = false;
  auto f = [&]() -> int* {
    f_called = true;  // println("BUG: called f")
    static int sink;
    return &sink;
  };
  csp::select(csp::on_receive(c1, [&](std::optional<int> v) { *f() = v.value_or(0); }),
              csp::on_receive(c, [&](std::optional<int> v) { x.a = v.value_or(0); }));
  EXPECT_FALSE(f_called) << "BUG: called f";
  EXPECT_EQ(x.a, 42) << "BUG: " << x.a;
}

// =============================================================================================
// golang/go test/chan/select6.go (issue 2075): a select that lost a case must not corrupt the
// wait queue of the losing channel when other waiters are queued there too.

TEST(GoSelect, Select6Issue2075) {  // test/chan/select6.go
  for (int round = 0; round < scaled(40); ++round) {
    csp::channel<bool> c1, c2, c3;
    std::atomic<pid_t> g1_tid{0}, g2_tid{0};
    // go func() { <-c1 }()
    std::jthread g1([&] {
      g1_tid.store(current_tid(), std::memory_order_release);
      EXPECT_EQ(c1.receive_for(patience).status, csp::channel_status::success);
    });
    // The Go program hopes that g1 queues on c1 before g2's select; make it so when we can.
    ASSERT_TRUE(wait_until_parked(g1_tid));
    std::jthread g2([&] {
      g2_tid.store(current_tid(), std::memory_order_release);
      csp::select(csp::on_receive(c1, [] { ADD_FAILURE() << "dummy"; }),
                  csp::on_receive(c2, [&] { EXPECT_TRUE(c3.send_for(true, patience)); }));
      EXPECT_EQ(c1.receive_for(patience).status, csp::channel_status::success);
    });
    ASSERT_TRUE(wait_until_parked(g2_tid));
    // go func() { c2 <- true }()
    std::jthread g3([&] { EXPECT_TRUE(c2.send_for(true, patience)); });
    ASSERT_EQ(c3.receive_for(patience).status, csp::channel_status::success);
    ASSERT_TRUE(c1.send_for(true, patience));
    ASSERT_TRUE(c1.send_for(true, patience));
  }
}

// =============================================================================================
// golang/go test/chan/select7.go: select when discarding a value, in all 9 combinations of
// {<-c, 1-case select, 2-case select with an idle c2} x {c <- 1, 1-case select, 2-case select}.

void recv1(csp::receiver<int> c) { (void)c.receive(); }
void recv2(csp::receiver<int> c) { csp::select(csp::on_receive(c)); }
void recv3(csp::receiver<int> c) {
  csp::channel<int> c2;
  csp::select(csp::on_receive(c), csp::on_receive(c2));
}

void send1(void (*recv)(csp::receiver<int>)) {
  csp::channel<int> c;
  std::jthread g(recv, c);
  std::this_thread::yield();  // runtime.Gosched()
  c.send(1);
}
void send2(void (*recv)(csp::receiver<int>)) {
  csp::channel<int> c;
  std::jthread g(recv, c);
  std::this_thread::yield();
  csp::select(csp::on_send(c, 1));
}
void send3(void (*recv)(csp::receiver<int>)) {
  csp::channel<int> c;
  std::jthread g(recv, c);
  std::this_thread::yield();
  csp::channel<int> c2;
  csp::select(csp::on_send(c, 1), csp::on_send(c2, 1));
}

TEST(GoSelect, Select7) {  // test/chan/select7.go
  // Go runs each combination once; repeating them explores more interleavings. Every wait here
  // has a partner that is sure to come, as in Go; a hang is caught by the test main's watchdog.
  for (int round = 0; round < scaled(20); ++round) {
    send1(recv1);
    send2(recv1);
    send3(recv1);
    send1(recv2);
    send2(recv2);
    send3(recv2);
    send1(recv3);
    send2(recv3);
    send3(recv3);
  }
}

// =============================================================================================
// golang/go test/chan/doubleselect.go: one select commits exactly one case, so no value is
// ever sent on two channels (codereview 180068).

TEST(GoSelect, DoubleSelect) {  // test/chan/doubleselect.go
  const int iterations = scaled(100000);
  csp::channel<int> c1, c2, c3, c4, cmux;
  std::atomic<int> muxes_running{4};
  std::vector<char> seen(static_cast<std::size_t>(iterations), 0);
  int received = 0, duplicates = 0;
  {
    std::vector<std::jthread> goroutines;
    // sender: sends a counter to one of four channels.
    goroutines.emplace_back([&] {
      for (int i = 0; i < iterations; ++i) {
        csp::select(csp::on_send(c1, i), csp::on_send(c2, i), csp::on_send(c3, i),
                    csp::on_send(c4, i));
      }
      c1.close();
      c2.close();
      c3.close();
      c4.close();
    });
    // mux: forwards one channel onto cmux; the last one to finish closes cmux.
    for (csp::channel<int>* in : {&c1, &c2, &c3, &c4}) {
      goroutines.emplace_back([&, in] {
        for (int v : *in) cmux.send(v);
        if (muxes_running.fetch_sub(1) == 1) cmux.close();
      });
    }
    // recver: checks for duplicates.
    for (int v : cmux) {
      ASSERT_GE(v, 0);
      ASSERT_LT(v, iterations);
      if (seen[static_cast<std::size_t>(v)]++ != 0 && ++duplicates <= 5) {
        ADD_FAILURE() << "got duplicate value: " << v;
      }
      ++received;
    }
  }
  EXPECT_EQ(duplicates, 0);
  EXPECT_EQ(received, iterations);
}

// =============================================================================================
// golang/go test/chan/nonblock.go: non-blocking operations (select with a default) succeed only
// when they need no waiting: on an unbuffered channel, only when the partner is already there.

template <class T>
void nonblock_one_type(int buffer, const T& expect_received, const T& to_send) {
  SCOPED_TRACE(testing::Message() << "buffer " << buffer);
  csp::channel<T> c(buffer);
  csp::channel<bool> sync;

  // A non-blocking receive on an empty channel takes the default.
  std::optional<T> value;
  EXPECT_EQ(csp::select(csp::on_receive(c, value), csp::on_default()), 1u) << "blocked sender";
  EXPECT_FALSE(value.has_value());

  // go receiver(c, sync); non-blocking sends until one succeeds. (Go sleeps a few ticks
  // between tries and gives up after 10000; here a try yields, and the tries are bounded in
  // time.)
  {
    std::jthread receiver([&] {
      auto got = c.receive_for(patience);
      EXPECT_TRUE(got) << "receiver";
      if (got) {
        EXPECT_EQ(*got, expect_received) << "receiver value";
      }
      EXPECT_TRUE(sync.send_for(true, patience));
    });
    bool ok = false;
    const auto give_up = steady::now() + patience;
    while (!ok && steady::now() < give_up) {
      ok = csp::select(csp::on_send(c, expect_received), csp::on_default()) == 0;
      if (!ok) std::this_thread::yield();
    }
    EXPECT_TRUE(ok) << "receiver never ready";
    EXPECT_TRUE(sync.receive_for(patience)) << "receiver did not finish";
  }

  // go sender(c, sync); non-blocking receives until one succeeds.
  {
    std::jthread sender([&] {
      EXPECT_TRUE(c.send_for(to_send, patience)) << "sender";
      EXPECT_TRUE(sync.send_for(true, patience));
    });
    if (buffer > 0) {
      // The value is in the buffer once the sender is done: one try must do.
      EXPECT_TRUE(sync.receive_for(patience));
      value.reset();
      EXPECT_EQ(csp::select(csp::on_receive(c, value), csp::on_default()), 0u) << "sender";
    } else {
      bool ok = false;
      const auto give_up = steady::now() + patience;
      while (!ok && steady::now() < give_up) {
        value.reset();
        ok = csp::select(csp::on_receive(c, value), csp::on_default()) == 0;
        if (!ok) std::this_thread::yield();
      }
      EXPECT_TRUE(ok) << "sender never ready";
    }
    ASSERT_TRUE(value.has_value());
    EXPECT_EQ(*value, to_send) << "sender value";
    if (buffer == 0) {
      EXPECT_TRUE(sync.receive_for(patience)) << "sender did not finish";
    }
  }
}

TEST(GoSelect, NonBlock) {  // test/chan/nonblock.go
  for (int buffer = 0; buffer < 2; ++buffer) {
    nonblock_one_type<std::int32_t>(buffer, 123, 234);
    nonblock_one_type<std::int64_t>(buffer, 123456, 234567);
    nonblock_one_type<bool>(buffer, true, true);
    nonblock_one_type<std::string>(buffer, "hello", "hello again");
  }
}

// =============================================================================================
// golang/go test/chan/sieve2.go: an Eratosthenes sieve over odd candidates, with a heap of
// "peek channels" of multiples and a sendproxy goroutine that makes a channel an unbounded
// buffer, using a select whose output case is nil while the buffer is empty.
//
// In Go the goroutines run forever and die with the program. Here every blocking operation also
// watches `quit`; closing it makes each thread unwind (by throwing `stopped`), and every thread
// is joined.

class sieve2 {
 public:
  ~sieve2() { stop_and_join(); }

  // Return a chan int of primes.
  csp::channel<int> Sieve() {
    // The output values.
    csp::channel<int> out(10);
    out.send(2);
    out.send(3);

    // The channel of all composites to be eliminated in increasing order.
    csp::channel<int> composites(50);

    // The feedback loop.
    csp::channel<int> primes(10);
    primes.send(3);

    // Merge channels of multiples of 'primes' into 'composites'.
    go([this, primes, composites] {
      std::priority_queue<peek_ch, std::vector<peek_ch>, later_head> h;
      int min = 15;
      for (;;) {
        csp::channel<int> m = multiples(recv(primes));
        const int head = recv(m);
        while (min < head) {
          send(composites, min);
          peek_ch minchan = h.top();
          h.pop();
          min = minchan.head;
          minchan.head = recv(minchan.ch);
          h.push(minchan);
        }
        while (min == head) {
          peek_ch minchan = h.top();
          h.pop();
          min = minchan.head;
          minchan.head = recv(minchan.ch);
          h.push(minchan);
        }
        send(composites, head);
        h.push(peek_ch{recv(m), m});
      }
    });

    // Sieve out 'composites' from 'candidates'.
    go([this, primes, composites, out] {
      // The merging goroutine receives from 'primes' much slower than this one sends to it;
      // the proxy buffers without bound so that this goroutine never blocks on it.
      csp::sender<int> primes_proxy = sendproxy(primes);
      csp::channel<int> candidates = odds();
      int p = recv(candidates);
      for (;;) {
        const int c = recv(composites);
        while (p < c) {
          send(primes_proxy, p);
          send(out, p);
          p = recv(candidates);
        }
        if (p == c) p = recv(candidates);
      }
    });

    return out;
  }

  void stop_and_join() {
    if (stopping_) return;
    stopping_ = true;
    quit_.close();
    for (;;) {
      std::thread thread;
      {
        std::lock_guard lock(mutex_);
        if (threads_.empty()) break;
        thread = std::move(threads_.back());
        threads_.pop_back();
      }
      thread.join();  // a thread may start another before it ends: loop until none is left
    }
  }

 private:
  struct stopped {};

  struct peek_ch {
    int head;
    csp::channel<int> ch;
  };
  struct later_head {  // makes std::priority_queue a min-heap on head, as PeekChHeap.Less
    bool operator()(const peek_ch& a, const peek_ch& b) const { return a.head > b.head; }
  };

  template <class F>
  void go(F body) {
    std::lock_guard lock(mutex_);
    threads_.emplace_back([body = std::move(body)]() mutable {
      try {
        body();
      } catch (const stopped&) {
      }
    });
  }

  int recv(const csp::receiver<int>& c) {
    std::optional<int> v;
    if (csp::select(csp::on_receive(c, v), csp::on_receive(quit_)) == 1) throw stopped{};
    return v.value();
  }
  void send(const csp::sender<int>& c, int v) {
    if (csp::select(csp::on_send(c, v), csp::on_receive(quit_)) == 1) throw stopped{};
  }

  // Return a chan of odd numbers, starting from 5.
  csp::channel<int> odds() {
    csp::channel<int> out(50);
    go([this, out] {
      for (int n = 5;; n += 2) send(out, n);
    });
    return out;
  }

  // Return a chan of odd multiples of the prime number p, starting from p*p.
  csp::channel<int> multiples(int p) {
    csp::channel<int> out(10);
    go([this, out, p] {
      for (int n = p * p;; n += 2 * p) send(out, n);
    });
    return out;
  }

  // Return a channel to serve as a sending proxy to 'out'. A goroutine receives values from
  // the proxy and keeps them in an expanding buffer, so that sending to the proxy never blocks.
  csp::sender<int> sendproxy(csp::sender<int> out) {
    csp::channel<int> proxy(10);
    go([this, proxy, out] {
      std::deque<int> buffer;  // Go: a container/ring that doubles when full
      for (;;) {
        csp::sender<int> c = out;
        int e = 0;
        if (buffer.empty()) {
          c = nullptr;  // buffer empty: disable output
        } else {
          e = buffer.front();
        }
        std::optional<int> received;
        switch (csp::select(csp::on_receive(proxy, received), csp::on_send(c, e),
                            csp::on_receive(quit_))) {
          case 0:
            buffer.push_back(received.value());
            break;
          case 1:
            buffer.pop_front();
            break;
          default:
            throw stopped{};
        }
      }
    });
    return proxy;
  }

  csp::channel<bool> quit_;  // closed to stop every goroutine
  bool stopping_ = false;
  std::mutex mutex_;
  std::vector<std::thread> threads_;
};

TEST(GoSelect, Sieve2) {  // test/chan/sieve2.go
  const std::array<int, 25> a = {2,  3,  5,  7,  11, 13, 17, 19, 23, 29, 31, 37, 41,
                                 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97};
  sieve2 sieve;
  csp::channel<int> primes = sieve.Sieve();
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto x = primes.receive_for(patience);
    ASSERT_TRUE(x) << "prime " << i << " never came";
    EXPECT_EQ(*x, a[i]) << *x << " != " << a[i];
  }
  sieve.stop_and_join();
}

// =============================================================================================
// golang/go src/runtime/chan_test.go TestSelectFairness: with 2 ready cases and 2 never-ready
// ones, each ready case is chosen about half the time (SEL-3). Go fails beyond 10 sigma.

TEST(GoSelect, RuntimeSelectFairness) {  // src/runtime/chan_test.go TestSelectFairness
  constexpr int trials = 10000;
  csp::channel<std::uint8_t> c1(trials + 1), c2(trials + 1);
  for (int i = 0; i < trials + 1; ++i) {
    c1.send(1);
    c2.send(2);
  }
  csp::channel<std::uint8_t> c3, c4, out, done;
  std::jthread g([&] {
    for (;;) {
      std::optional<std::uint8_t> b;
      csp::select(csp::on_receive(c3, b), csp::on_receive(c4, b), csp::on_receive(c1, b),
                  csp::on_receive(c2, b));
      if (csp::select(csp::on_send(out, b.value_or(0)), csp::on_receive(done)) == 1) return;
    }
  });
  // Go: close(done) once the trials are counted; here also when the test fails early, so that
  // g can be joined.
  struct closer {
    csp::channel<std::uint8_t>& channel;
    ~closer() { channel.close(); }
  } close_done{done};
  int cnt1 = 0, cnt2 = 0;
  for (int i = 0; i < trials; ++i) {
    auto b = out.receive_for(patience);
    ASSERT_TRUE(b) << "select stopped delivering";
    switch (*b) {
      case 1:
        ++cnt1;
        break;
      case 2:
        ++cnt2;
        break;
      default:
        FAIL() << "unexpected value " << int{*b} << " on channel";
    }
  }
  // If the select in the goroutine is fair, cnt1 and cnt2 should be about the same value.
  // See if we're more than 10 sigma away from the expected value.
  constexpr double mean = trials * 0.5;
  constexpr double stddev = 50.0;  // sqrt(trials * 0.5 * (1 - 0.5))
  EXPECT_LE(std::abs(cnt1 - mean), 10 * stddev)
      << "unfair select: in " << trials << " trials, results were " << cnt1 << ", " << cnt2;
}

}  // namespace
