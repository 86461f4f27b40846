// channel_test.cpp: csp::channel<T> (csp/channel.hpp), driven from plain std::thread parties.
//
// Tests name the Go rule they check by its ID in the design notes' go-semantics.md (CH-*, SND-*,
// RCV-*, CL-*, LEN-*, ORD-*, MM-*; docs/design.md cites the same IDs).
//
// Knowing that a party is blocked: the channel API has no "number of blocked parties" accessor,
// so a test that needs a party to be queued before it acts (FIFO of blocked parties, close of a
// blocked party, rendezvous) watches the party's thread from outside. On Linux,
// /proc/self/task/<tid>/syscall shows the system call a thread sleeps in and its arguments; csp's
// thread parker sleeps in futex(FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG) on its waiter word, with
// the expected value "phase waiting, sleeping bit set" (waiter.hpp, parker.hpp), and it sets that
// bit only after the operation is linked into the channel's queue. The channel lock sleeps with
// the value 2, glibc and the sanitizers' runtimes with other futex operations, so the match is
// specific. Polling is bounded; where /proc cannot be read those tests are skipped, never slept.
//
// Every wait is bounded: parties block with *_for(patience) where a hang is possible, and
// bounded polls give up after `patience`; the test main's watchdog catches the rest.
#include <gtest/gtest.h>
#include <linux/futex.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <numeric>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "csp/channel.hpp"
#include "support/thread_probe.hpp"

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

// How long any bounded wait in this file gives its partner before the test fails.
constexpr auto patience = 10s;
// How long a "this blocks" probe or a timeout under test waits.
constexpr auto short_wait = 20ms;

// ---------------------------------------------------------------------------------------------
// Observing blocked parties (see the file comment).

using csp_test::current_tid;
using csp_test::parked_in_csp;
using csp_test::parking_observable;

#define REQUIRE_PARKING_OBSERVABLE()                                                      \
  do {                                                                                    \
    if (!parking_observable()) {                                                          \
      GTEST_SKIP() << "cannot read /proc/self/task/<tid>/syscall, so cannot tell that a " \
                      "party is blocked without sleeping";                                \
    }                                                                                     \
  } while (false)

// A thread running one party's part of a test. The body must not block anywhere but in the
// channel operations under test, so that "parked" means "parked in the channel".
class party {
 public:
  explicit party(std::function<void()> body)
      : thread_([this, body = std::move(body)] {
          tid_.store(current_tid(), std::memory_order_release);
          body();
          finished_.store(true, std::memory_order_release);
        }) {}
  party(const party&) = delete;
  party& operator=(const party&) = delete;
  ~party() { join(); }

  // Waits until the party sleeps in a channel operation; false when it finished instead or
  // `patience` passed.
  [[nodiscard]] bool wait_until_parked() const {
    const auto give_up = steady::now() + patience;
    while (steady::now() < give_up) {
      if (finished_.load(std::memory_order_acquire)) return false;
      const pid_t tid = tid_.load(std::memory_order_acquire);
      if (tid != 0 && parked_in_csp(tid)) return true;
      std::this_thread::yield();
    }
    return false;
  }

  bool finished() const { return finished_.load(std::memory_order_acquire); }

  void join() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::atomic<pid_t> tid_{0};
  std::atomic<bool> finished_{false};
  std::thread thread_;  // last: starts after the fields above exist
};

// Runs `operation` and returns what it threw as panic_error's text, or a marker.
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

template <class F>
steady::duration time_of(F&& operation) {
  const auto start = steady::now();
  operation();
  return steady::now() - start;
}

// Polls `condition` until it holds or `patience` passes.
template <class F>
bool eventually(F&& condition) {
  const auto give_up = steady::now() + patience;
  while (!condition()) {
    if (steady::now() >= give_up) return false;
    std::this_thread::yield();
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Construction, identity, len/cap (CH-1, CH-2, CH-4, LEN-1).

TEST(ChannelConstruction, DefaultIsUnbufferedAndNotNil) {
  csp::channel<int> c;
  EXPECT_FALSE(c == nullptr);
  EXPECT_EQ(c.capacity(), 0u);
  EXPECT_EQ(c.size(), 0u);
  // Unbuffered: nobody receives, so a non-blocking send fails.
  EXPECT_FALSE(c.try_send(1));
}

TEST(ChannelConstruction, CapacityZeroIsUnbufferedNotNil) {
  csp::channel<int> c(0);
  EXPECT_FALSE(c == nullptr);
  EXPECT_EQ(c.capacity(), 0u);
  EXPECT_EQ(c.size(), 0u);
  EXPECT_FALSE(c.try_send(1));
  EXPECT_EQ(c.try_receive().status, csp::channel_status::empty);
  c.close();  // a nil channel would throw here
  EXPECT_EQ(c.try_receive().status, csp::channel_status::closed);
}

TEST(ChannelConstruction, BufferedCapacityAndSize) {
  csp::channel<int> c(10);
  EXPECT_EQ(c.capacity(), 10u);
  EXPECT_EQ(c.size(), 0u);
  for (int i = 0; i < 3; ++i) c.send(i);
  EXPECT_EQ(c.size(), 3u);
  EXPECT_EQ(c.capacity(), 10u);
  (void)c.receive();
  EXPECT_EQ(c.size(), 2u);
}

TEST(ChannelConstruction, AnyIntegerTypeIsACapacity) {
  EXPECT_EQ(csp::channel<int>(short{3}).capacity(), 3u);
  EXPECT_EQ(csp::channel<int>(static_cast<unsigned char>(4)).capacity(), 4u);
  EXPECT_EQ(csp::channel<int>(std::size_t{5}).capacity(), 5u);
  EXPECT_EQ(csp::channel<int>(std::int64_t{6}).capacity(), 6u);
  EXPECT_EQ(csp::channel<int>(7ull).capacity(), 7u);
  // Neither bool nor an implicit conversion makes a capacity.
  static_assert(!std::is_constructible_v<csp::channel<int>, bool>);
  static_assert(!std::is_convertible_v<int, csp::channel<int>>);
  static_assert(std::is_convertible_v<std::nullptr_t, csp::channel<int>>);
}

TEST(ChannelConstruction, CopiesShareTheChannelAndCompareByIdentity) {
  csp::channel<int> a(2);
  csp::channel<int> b = a;  // NOLINT(performance-unnecessary-copy-initialization)
  csp::channel<int> other(2);
  EXPECT_TRUE(a == b);
  EXPECT_FALSE(a != b);
  EXPECT_FALSE(a == other);
  EXPECT_TRUE(a != other);
  EXPECT_FALSE(a == nullptr);
  EXPECT_FALSE(nullptr == a);

  b.send(5);
  EXPECT_EQ(a.size(), 1u);
  EXPECT_EQ(a.receive(), 5);

  csp::channel<int> assigned(1);
  assigned = a;
  EXPECT_TRUE(assigned == a);
  assigned.close();
  EXPECT_EQ(panic_text([&] { a.close(); }), "close of closed channel");
}

TEST(ChannelConstruction, NilChannelsCompareEqual) {
  csp::channel<int> x{nullptr};
  csp::channel<int> y = nullptr;
  EXPECT_TRUE(x == y);
  EXPECT_TRUE(x == nullptr);
  EXPECT_TRUE(nullptr == y);
  EXPECT_FALSE(x == csp::channel<int>(1));
}

TEST(ChannelConstruction, ChannelLivesWhileAnyHandleDoes) {
  csp::channel<std::string> survivor{nullptr};
  {
    csp::channel<std::string> c(2);
    c.send("kept");
    survivor = c;
  }
  EXPECT_EQ(survivor.receive(), "kept");
}

TEST(ChannelConstruction, MakechanRejectsNegativeAndHugeSizes) {
  constexpr const char* text = "makechan: size out of range";
  EXPECT_EQ(panic_text([] { csp::channel<int> c(-1); }), text);
  EXPECT_EQ(panic_text([] { csp::channel<int> c(std::int64_t{-1}); }), text);
  EXPECT_EQ(panic_text([] { csp::channel<int> c(std::numeric_limits<int>::min()); }), text);
  EXPECT_EQ(panic_text([] { csp::channel<int> c(1ull << 59); }), text);
  EXPECT_EQ(panic_text([] { csp::channel<int> c(std::numeric_limits<std::int64_t>::max()); }),
            text);
  EXPECT_EQ(panic_text([] { csp::channel<int> c(std::numeric_limits<std::uint64_t>::max()); }),
            text);
  // Bytes = 2^48 passes the size check but is more than a process can map: the failed
  // allocation must surface as the same panic, not as std::bad_alloc.
  EXPECT_EQ(panic_text([] { csp::channel<std::array<char, 4096>> c(std::size_t{1} << 36); }), text);
  EXPECT_EQ(panic_text([] { csp::channel<int> c(std::size_t{1} << 46); }), text);
  // One step over the bound fails the size check itself.
  EXPECT_EQ(panic_text([] { csp::channel<std::array<char, 4096>> c((std::size_t{1} << 36) + 1); }),
            text);
}

TEST(ChannelConstruction, LargeCapacityThatFitsIsFine) {
  csp::channel<int> c(1 << 20);
  EXPECT_EQ(c.capacity(), std::size_t{1} << 20);
  c.send(1);
  EXPECT_EQ(c.receive(), 1);
}

// A large buffer's memory is committed as it is used, one page fault per page, taken by a
// write. A read of an untouched page would map the kernel's zero page there, and the write
// after it would fault again and replace it, flushing the TLB of every core the process runs
// on. Both ends may be first on a page: the sender when the buffer fills, the receiver when
// it polls an empty one.
TEST(ChannelBuffered, ALargeBufferFaultsEachPageInOnce) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "ThreadSanitizer's shadow memory faults in beside every page";
#else
  constexpr std::size_t capacity = std::size_t{1} << 18;
  constexpr std::size_t pages = capacity * 2 * sizeof(std::int64_t) / 4096;  // 16-byte slots
  const auto minor_faults = [] {
    rusage usage{};
    ::getrusage(RUSAGE_THREAD, &usage);
    return static_cast<std::size_t>(usage.ru_minflt);
  };
  {
    csp::channel<std::int64_t> filled(capacity);
    const std::size_t before = minor_faults();
    for (std::size_t i = 0; i < capacity; ++i) {
      ASSERT_TRUE(filled.try_send(static_cast<std::int64_t>(i)));
    }
    const std::size_t faults = minor_faults() - before;
    EXPECT_LE(faults, pages + pages / 2) << "senders first on " << pages << " pages";
  }
  {
    csp::channel<std::int64_t> polled(capacity);
    const std::size_t before = minor_faults();
    for (std::size_t i = 0; i < capacity; ++i) {
      ASSERT_EQ(polled.try_receive().status, csp::channel_status::empty);
      ASSERT_TRUE(polled.try_send(static_cast<std::int64_t>(i)));
      ASSERT_EQ(polled.try_receive().value, static_cast<std::int64_t>(i));
    }
    const std::size_t faults = minor_faults() - before;
    EXPECT_LE(faults, pages + pages / 2) << "receivers first on " << pages << " pages";
  }
#endif
}

TEST(ChannelConstruction, PanicErrorIsALogicError) {
  static_assert(std::is_base_of_v<std::logic_error, csp::panic_error>);
  csp::channel<int> c;
  c.close();
  EXPECT_THROW(c.close(), std::logic_error);
}

// ---------------------------------------------------------------------------------------------
// The nil channel (CH-1, SND-4, RCV-1, CL-2, LEN-1).

TEST(ChannelNil, SizeAndCapacityAreZero) {
  csp::channel<int> c{nullptr};
  EXPECT_EQ(c.size(), 0u);
  EXPECT_EQ(c.capacity(), 0u);
}

TEST(ChannelNil, TryOperationsFail) {
  csp::channel<std::unique_ptr<int>> c{nullptr};
  auto value = std::make_unique<int>(1);
  EXPECT_FALSE(c.try_send(std::move(value)));
  ASSERT_NE(value, nullptr);  // untouched
  EXPECT_EQ(*value, 1);
  auto result = c.try_receive();
  EXPECT_EQ(result.status, csp::channel_status::empty);
  EXPECT_FALSE(result);
  EXPECT_FALSE(result.value.has_value());

  csp::channel<int> ints{nullptr};
  const int lvalue = 3;
  EXPECT_FALSE(ints.try_send(lvalue));
}

TEST(ChannelNil, CloseThrows) {
  csp::channel<int> c{nullptr};
  EXPECT_EQ(panic_text([&] { c.close(); }), "close of nil channel");
  // Still nil and still throwing: nothing changed.
  EXPECT_EQ(panic_text([&] { c.close(); }), "close of nil channel");
}

TEST(ChannelNil, TimedOperationsTimeOutNoEarlier) {
  csp::channel<std::unique_ptr<int>> c{nullptr};
  auto value = std::make_unique<int>(1);
  bool sent = true;
  EXPECT_GE(time_of([&] { sent = c.send_for(std::move(value), short_wait); }), short_wait);
  EXPECT_FALSE(sent);
  EXPECT_NE(value, nullptr);

  const auto send_deadline = steady::now() + short_wait;
  EXPECT_FALSE(c.send_until(std::move(value), send_deadline));
  EXPECT_GE(steady::now(), send_deadline);
  EXPECT_NE(value, nullptr);

  csp::channel_status status = csp::channel_status::success;
  EXPECT_GE(time_of([&] { status = c.receive_for(short_wait).status; }), short_wait);
  EXPECT_EQ(status, csp::channel_status::timeout);

  const auto receive_deadline = steady::now() + short_wait;
  auto result = c.receive_until(receive_deadline);
  EXPECT_GE(steady::now(), receive_deadline);
  EXPECT_EQ(result.status, csp::channel_status::timeout);
  EXPECT_FALSE(result.value.has_value());
}

// ---------------------------------------------------------------------------------------------
// Buffered channels (SND-3, RCV-2, RCV-5, ORD-1, RNG-1).

TEST(ChannelBuffered, ValuesComeOutInOrder) {
  csp::channel<int> c(4);
  for (int i = 0; i < 4; ++i) c.send(i);
  EXPECT_EQ(c.size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(c.receive(), i);
  EXPECT_EQ(c.size(), 0u);
  // Wrap the ring around a few times.
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < 3; ++i) c.send(round * 10 + i);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(c.receive(), round * 10 + i);
  }
}

TEST(ChannelBuffered, SendToFullAndReceiveFromEmptyWouldBlock) {
  csp::channel<int> c(2);
  EXPECT_EQ(c.receive_for(short_wait).status, csp::channel_status::timeout);
  EXPECT_TRUE(c.try_send(1));
  EXPECT_TRUE(c.try_send(2));
  EXPECT_FALSE(c.try_send(3));
  EXPECT_FALSE(c.send_for(3, short_wait));
  EXPECT_EQ(c.size(), 2u);
  EXPECT_EQ(c.receive(), 1);
  EXPECT_EQ(c.receive(), 2);
}

TEST(ChannelBuffered, ProducerAndConsumerThreadsKeepOrder) {
  constexpr int count = 20000;
  csp::channel<int> c(8);
  std::thread producer([c] {
    for (int i = 0; i < count; ++i) c.send(i);
    c.close();
  });
  int expected = 0;
  for (int v : c) {
    ASSERT_EQ(v, expected);
    ++expected;
  }
  EXPECT_EQ(expected, count);
  producer.join();
}

TEST(ChannelBuffered, RangeForReceivesUntilClosedAndDrained) {
  csp::channel<int> c(3);
  std::thread producer([c] {
    for (int i = 1; i <= 100; ++i) c.send(i);
    c.close();
  });
  std::vector<int> seen;
  for (int v : c) seen.push_back(v);
  producer.join();
  std::vector<int> expected(100);
  std::iota(expected.begin(), expected.end(), 1);
  EXPECT_EQ(seen, expected);
}

TEST(ChannelBuffered, RangeForOverClosedEmptyChannelRunsZeroTimes) {
  csp::channel<int> c(3);
  c.close();
  int iterations = 0;
  for (int v : c) {
    (void)v;
    ++iterations;
  }
  EXPECT_EQ(iterations, 0);
}

TEST(ChannelBuffered, LeavingRangeForEarlyLeavesTheRest) {
  csp::channel<int> c(5);
  for (int i = 0; i < 5; ++i) c.send(i);
  c.close();
  for (int v : c) {
    if (v == 1) break;
  }
  EXPECT_EQ(c.size(), 3u);
  EXPECT_EQ(c.receive(), 2);
}

TEST(ChannelBuffered, ChannelIsAnInputRange) {
  static_assert(std::ranges::input_range<csp::channel<int>>);
  static_assert(std::ranges::input_range<csp::channel<std::unique_ptr<int>>>);
  csp::channel<int> c(3);
  c.send(4);
  c.send(5);
  c.close();
  auto it = c.begin();
  ASSERT_NE(it, c.end());
  EXPECT_EQ(*it, 4);
  ++it;
  ASSERT_NE(it, c.end());
  EXPECT_EQ(*it, 5);
  it++;
  EXPECT_EQ(it, c.end());
}

TEST(ChannelBuffered, BlockedReceiverGetsValueDirectly) {  // SND-7
  REQUIRE_PARKING_OBSERVABLE();
  csp::channel<int> c(3);
  std::optional<int> got;
  party receiver([&] { got = c.receive_for(patience).value; });
  ASSERT_TRUE(receiver.wait_until_parked());
  c.send(9);
  EXPECT_EQ(c.size(), 0u);  // never went through the ring
  receiver.join();
  EXPECT_EQ(got, 9);
}

// ---------------------------------------------------------------------------------------------
// Unbuffered channels: a rendezvous (SND-2, RCV-5, LEN-1).

TEST(ChannelUnbuffered, SendReturnsOnlyAfterAReceiverTookTheValue) {
  csp::channel<int> c;
  std::atomic<bool> receiver_arrived{false};
  std::atomic<bool> sent{false};
  std::thread sender([&] {
    c.send(7);
    // A completed send on an unbuffered channel implies a receiver has come.
    EXPECT_TRUE(receiver_arrived.load());
    sent.store(true);
  });
  // Whatever the timing, nobody has received yet: a second send finds no receiver either.
  EXPECT_FALSE(c.send_for(8, 1ms));
  EXPECT_FALSE(sent.load());
  receiver_arrived.store(true);
  EXPECT_EQ(c.receive(), 7);
  sender.join();
  EXPECT_TRUE(sent.load());
}

TEST(ChannelUnbuffered, ParkedSenderIsNotDoneUntilReceived) {
  REQUIRE_PARKING_OBSERVABLE();
  csp::channel<int> c;
  std::atomic<bool> sent{false};
  party sender([&] {
    c.send(7);
    sent.store(true);
  });
  ASSERT_TRUE(sender.wait_until_parked());
  EXPECT_FALSE(sent.load());
  EXPECT_EQ(c.size(), 0u);  // LEN-1: always 0 unbuffered, even with a blocked sender
  EXPECT_EQ(c.receive(), 7);
  sender.join();
  EXPECT_TRUE(sent.load());
}

TEST(ChannelUnbuffered, ReceiveReturnsOnlyAfterASenderCame) {
  REQUIRE_PARKING_OBSERVABLE();
  csp::channel<int> c;
  std::atomic<bool> sender_arrived{false};
  std::optional<int> got;
  party receiver([&] {
    got = c.receive();
    EXPECT_TRUE(sender_arrived.load());
  });
  ASSERT_TRUE(receiver.wait_until_parked());
  EXPECT_EQ(got, std::nullopt);
  sender_arrived.store(true);
  c.send(3);
  receiver.join();
  EXPECT_EQ(got, 3);
}

TEST(ChannelUnbuffered, TrySendSucceedsOnlyWithABlockedReceiver) {
  REQUIRE_PARKING_OBSERVABLE();
  csp::channel<int> c;
  EXPECT_FALSE(c.try_send(1));
  std::optional<int> got;
  party receiver([&] { got = c.receive_for(patience).value; });
  ASSERT_TRUE(receiver.wait_until_parked());
  EXPECT_TRUE(c.try_send(2));
  receiver.join();
  EXPECT_EQ(got, 2);
  EXPECT_FALSE(c.try_send(3));
}

TEST(ChannelUnbuffered, TryReceiveSucceedsOnlyWithABlockedSender) {
  REQUIRE_PARKING_OBSERVABLE();
  csp::channel<int> c;
  EXPECT_EQ(c.try_receive().status, csp::channel_status::empty);
  bool sent = false;
  party sender([&] { sent = c.send_for(4, patience); });
  ASSERT_TRUE(sender.wait_until_parked());
  auto result = c.try_receive();
  EXPECT_EQ(result.status, csp::channel_status::success);
  EXPECT_EQ(result.value, 4);
  sender.join();
  EXPECT_TRUE(sent);
  EXPECT_EQ(c.try_receive().status, csp::channel_status::empty);
}

TEST(ChannelUnbuffered, PingPong) {
  csp::channel<int> ping;
  csp::channel<int> pong;
  std::thread echo([&] {
    for (std::optional<int> v; (v = ping.receive());) pong.send(*v + 1);
  });
  for (int i = 0; i < 1000; ++i) {
    ping.send(i);
    ASSERT_EQ(pong.receive(), i + 1);
  }
  ping.close();
  echo.join();
}

// ---------------------------------------------------------------------------------------------
// try_send / try_receive.

TEST(ChannelTry, FailedTrySendLeavesTheValueUntouched) {
  csp::channel<std::unique_ptr<int>> full(1);
  ASSERT_TRUE(full.try_send(std::make_unique<int>(0)));
  auto value = std::make_unique<int>(42);
  EXPECT_FALSE(full.try_send(std::move(value)));
  ASSERT_NE(value, nullptr);
  EXPECT_EQ(*value, 42);

  csp::channel<std::unique_ptr<int>> unbuffered;
  EXPECT_FALSE(unbuffered.try_send(std::move(value)));
  ASSERT_NE(value, nullptr);
  EXPECT_EQ(*value, 42);

  csp::channel<std::unique_ptr<int>> room(1);
  EXPECT_TRUE(room.try_send(std::move(value)));
  EXPECT_EQ(value, nullptr);  // this one happened: the value moved
  EXPECT_EQ(**room.receive(), 42);
}

TEST(ChannelTry, TrySendOfAnLvalueCopies) {
  csp::channel<std::string> c(1);
  const std::string text = "copied";
  EXPECT_TRUE(c.try_send(text));
  EXPECT_FALSE(c.try_send(text));
  EXPECT_EQ(text, "copied");
  EXPECT_EQ(c.receive(), "copied");
}

TEST(ChannelTry, TryReceiveReportsSuccessEmptyOrClosed) {
  for (int capacity : {0, 2}) {
    SCOPED_TRACE(capacity);
    csp::channel<int> c(capacity);
    auto empty = c.try_receive();
    EXPECT_EQ(empty.status, csp::channel_status::empty);
    EXPECT_FALSE(empty);
    EXPECT_FALSE(empty.value.has_value());
    if (capacity > 0) {
      c.send(5);
      auto success = c.try_receive();
      EXPECT_EQ(success.status, csp::channel_status::success);
      EXPECT_TRUE(success);
      EXPECT_EQ(*success, 5);
      c.send(6);
    }
    c.close();
    if (capacity > 0) {
      auto drained = c.try_receive();
      EXPECT_EQ(drained.status, csp::channel_status::success);
      EXPECT_EQ(drained.value, 6);
    }
    for (int i = 0; i < 3; ++i) {
      auto closed = c.try_receive();
      EXPECT_EQ(closed.status, csp::channel_status::closed);
      EXPECT_FALSE(closed);
      EXPECT_FALSE(closed.value.has_value());
    }
  }
}

TEST(ChannelTry, StatusNames) {
  EXPECT_EQ(csp::to_string(csp::channel_status::success), "success");
  EXPECT_EQ(csp::to_string(csp::channel_status::empty), "empty");
  EXPECT_EQ(csp::to_string(csp::channel_status::full), "full");
  EXPECT_EQ(csp::to_string(csp::channel_status::closed), "closed");
  EXPECT_EQ(csp::to_string(csp::channel_status::timeout), "timeout");
  EXPECT_EQ(csp::to_string(csp::channel_status::canceled), "canceled");
}

// ---------------------------------------------------------------------------------------------
// Timeouts: a result, never an exception, and never before the deadline.

TEST(ChannelTimeouts, SendForTimesOutNoEarlierAndKeepsTheValue) {
  for (int capacity : {0, 1}) {
    SCOPED_TRACE(capacity);
    csp::channel<std::unique_ptr<int>> c(capacity);
    if (capacity > 0) c.send(std::make_unique<int>(0));
    auto value = std::make_unique<int>(1);
    bool sent = true;
    EXPECT_GE(time_of([&] { sent = c.send_for(std::move(value), short_wait); }), short_wait);
    EXPECT_FALSE(sent);
    ASSERT_NE(value, nullptr);
    EXPECT_EQ(*value, 1);
    EXPECT_EQ(c.size(), static_cast<std::size_t>(capacity));
  }
}

TEST(ChannelTimeouts, SendUntilTimesOutNoEarlierAndKeepsTheValue) {
  for (int capacity : {0, 1}) {
    SCOPED_TRACE(capacity);
    csp::channel<std::unique_ptr<int>> c(capacity);
    if (capacity > 0) c.send(std::make_unique<int>(0));
    auto value = std::make_unique<int>(1);
    const auto deadline = steady::now() + short_wait;
    EXPECT_FALSE(c.send_until(std::move(value), deadline));
    EXPECT_GE(steady::now(), deadline);
    ASSERT_NE(value, nullptr);
    EXPECT_EQ(*value, 1);
  }
}

TEST(ChannelTimeouts, ReceiveForAndUntilTimeOutNoEarlier) {
  for (int capacity : {0, 1}) {
    SCOPED_TRACE(capacity);
    csp::channel<int> c(capacity);
    csp::receive_result<int> result;
    EXPECT_GE(time_of([&] { result = c.receive_for(short_wait); }), short_wait);
    EXPECT_EQ(result.status, csp::channel_status::timeout);
    EXPECT_FALSE(result.value.has_value());

    const auto deadline = steady::now() + short_wait;
    result = c.receive_until(deadline);
    EXPECT_GE(steady::now(), deadline);
    EXPECT_EQ(result.status, csp::channel_status::timeout);
  }
}

TEST(ChannelTimeouts, SystemClockDeadlinesConvert) {
  // A system_clock deadline is converted to steady_clock when the call starts; the two clocks
  // are read at slightly different instants, so allow a millisecond for the conversion.
  constexpr auto slack = 1ms;
  csp::channel<int> c;
  csp::receive_result<int> result;
  const auto start = steady::now();
  result = c.receive_until(std::chrono::system_clock::now() + short_wait);
  EXPECT_GE(steady::now() - start, short_wait - slack);
  EXPECT_EQ(result.status, csp::channel_status::timeout);

  const auto send_start = steady::now();
  EXPECT_FALSE(c.send_until(1, std::chrono::system_clock::now() + short_wait));
  EXPECT_GE(steady::now() - send_start, short_wait - slack);

  // A deadline in the past: no wait at all, and values that are ready still come.
  const auto past = std::chrono::system_clock::now() - 1h;
  EXPECT_EQ(c.receive_until(past).status, csp::channel_status::timeout);
  EXPECT_FALSE(c.send_until(2, past));
  csp::channel<int> ready(1);
  EXPECT_TRUE(ready.send_until(3, past));
  EXPECT_EQ(ready.receive_until(past).value, 3);
}

TEST(ChannelTimeouts, ZeroNegativeAndFractionalTimeouts) {
  csp::channel<int> c(1);
  EXPECT_EQ(c.receive_for(0ms).status, csp::channel_status::timeout);
  EXPECT_EQ(c.receive_for(-5ms).status, csp::channel_status::timeout);
  EXPECT_TRUE(c.send_for(1, 0ms));  // room: succeeds even with no time at all
  EXPECT_FALSE(c.send_for(2, -5ms));
  EXPECT_FALSE(c.send_for(2, 0ns));
  EXPECT_EQ(c.receive_for(0ms).value, 1);
  // A floating-point duration rounds up, never down.
  const std::chrono::duration<double, std::milli> fractional(5.5);
  EXPECT_GE(time_of([&] { (void)c.receive_for(fractional); }), fractional);
}

TEST(ChannelTimeouts, TimedOperationsSucceedWhenThePartnerComes) {
  for (int capacity : {0, 1}) {
    SCOPED_TRACE(capacity);
    csp::channel<int> c(capacity);
    std::thread sender([&] {
      for (int i = 0; i < 50; ++i) EXPECT_TRUE(c.send_for(i, patience));
      EXPECT_TRUE(c.send_until(50, steady::now() + patience));
    });
    for (int i = 0; i < 50; ++i) {
      auto result = c.receive_for(patience);
      ASSERT_EQ(result.status, csp::channel_status::success);
      EXPECT_EQ(*result, i);
    }
    EXPECT_EQ(c.receive_until(std::chrono::system_clock::now() + patience).value, 50);
    sender.join();
  }
}

TEST(ChannelTimeouts, TimedOutPartiesLeaveNothingBehind) {
  csp::channel<int> c;
  EXPECT_FALSE(c.send_for(1, 1ms));
  // The timed-out send must not be found by a later receive ...
  EXPECT_EQ(c.try_receive().status, csp::channel_status::empty);
  EXPECT_EQ(c.receive_for(1ms).status, csp::channel_status::timeout);
  // ... nor the timed-out receive by a later send.
  EXPECT_FALSE(c.try_send(2));
  EXPECT_FALSE(c.send_for(2, 1ms));
  c.close();
  EXPECT_EQ(c.try_receive().status, csp::channel_status::closed);
}

TEST(ChannelTimeouts, ClosedIsReportedNotTimeout) {
  csp::channel<int> c(1);
  c.close();
  EXPECT_EQ(c.receive_for(patience).status, csp::channel_status::closed);
  EXPECT_EQ(c.receive_until(steady::now() + patience).status, csp::channel_status::closed);
  EXPECT_EQ(panic_text([&] { (void)c.send_for(1, short_wait); }), "send on closed channel");
  EXPECT_EQ(panic_text([&] { (void)c.send_until(1, steady::now() + short_wait); }),
            "send on closed channel");
}

TEST(ChannelTimeouts, RacingTimeoutsLoseAndDuplicateNothing) {
  // Receives and sends with tiny timeouts meet, miss, and abort in every interleaving; a value
  // arrives exactly when its send_for reported success.
  constexpr int attempts = 3000;
  for (int capacity : {0, 1}) {
    SCOPED_TRACE(capacity);
    csp::channel<int> c(capacity);
    std::vector<int> received;
    std::thread receiver([&] {
      for (int i = 0; i < attempts; ++i) {
        auto result = c.receive_for(20us);
        if (result) received.push_back(*result);
      }
    });
    std::vector<int> sent;
    for (int i = 0; i < attempts; ++i) {
      if (c.send_for(i, 20us)) sent.push_back(i);
    }
    receiver.join();
    while (auto left = c.try_receive()) received.push_back(*left);
    EXPECT_EQ(received, sent);
  }
}

TEST(ChannelTimeouts, TimeoutTooLongToRepresentWaitsForThePartner) {
  REQUIRE_PARKING_OBSERVABLE();
  csp::channel<int> c;
  csp::channel_status status = csp::channel_status::timeout;
  party receiver([&] { status = c.receive_for(std::chrono::hours::max()).status; });
  ASSERT_TRUE(receiver.wait_until_parked()) << "receive_for(hours::max()) did not block";
  c.send(1);
  receiver.join();
  EXPECT_EQ(status, csp::channel_status::success);

  bool sent = false;
  party sender([&] { sent = c.send_for(2, std::chrono::seconds::max()); });
  ASSERT_TRUE(sender.wait_until_parked()) << "send_for(seconds::max()) did not block";
  EXPECT_EQ(c.receive(), 2);
  sender.join();
  EXPECT_TRUE(sent);

  using coarse = std::chrono::time_point<std::chrono::system_clock, std::chrono::seconds>;
  party late([&] { status = c.receive_until(coarse::max()).status; });
  ASSERT_TRUE(late.wait_until_parked()) << "receive_until(far future) did not block";
  c.send(3);
  late.join();
  EXPECT_EQ(status, csp::channel_status::success);
}

// ---------------------------------------------------------------------------------------------
// close (SND-5, SND-6, RCV-2, RCV-4, CL-2, CL-3, CL-5).

TEST(ChannelClose, SendOnClosedChannelPanicsAndKeepsTheValue) {
  for (int capacity : {0, 3}) {
    SCOPED_TRACE(capacity);
    csp::channel<std::unique_ptr<int>> c(capacity);
    c.close();
    auto value = std::make_unique<int>(5);
    EXPECT_EQ(panic_text([&] { c.send(std::move(value)); }), "send on closed channel");
    EXPECT_NE(value, nullptr);
    EXPECT_EQ(panic_text([&] { (void)c.try_send(std::move(value)); }), "send on closed channel");
    EXPECT_NE(value, nullptr);
    EXPECT_EQ(panic_text([&] { (void)c.send_for(std::move(value), patience); }),
              "send on closed channel");
    EXPECT_NE(value, nullptr);
    EXPECT_EQ(c.size(), 0u);  // even with room in the buffer, nothing went in
  }
}

TEST(ChannelClose, TrySendOnClosedFullChannelPanics) {
  csp::channel<int> c(1);
  c.send(1);
  c.close();
  EXPECT_EQ(panic_text([&] { (void)c.try_send(2); }), "send on closed channel");
}

TEST(ChannelClose, CloseOfClosedChannelPanics) {
  for (int capacity : {0, 1}) {
    csp::channel<int> c(capacity);
    c.close();
    EXPECT_EQ(panic_text([&] { c.close(); }), "close of closed channel");
    EXPECT_EQ(panic_text([&] { c.close(); }), "close of closed channel");
  }
}

TEST(ChannelClose, ReceiversDrainInOrderThenGetNothingForever) {
  csp::channel<int> c(4);
  for (int i = 0; i < 3; ++i) c.send(i);
  c.close();
  EXPECT_EQ(c.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(c.receive(), i);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(c.receive(), std::nullopt);
    EXPECT_EQ(c.try_receive().status, csp::channel_status::closed);
    EXPECT_EQ(c.receive_for(patience).status, csp::channel_status::closed);
  }
}

TEST(ChannelClose, ClosedUnbufferedChannelReceivesNothing) {
  csp::channel<int> c;
  c.close();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(c.receive(), std::nullopt);
}

TEST(ChannelClose, CloseWakesEveryBlockedReceiver) {
  REQUIRE_PARKING_OBSERVABLE();
  for (int capacity : {0, 2}) {
    SCOPED_TRACE(capacity);
    csp::channel<int> c(capacity);
    std::optional<int> plain = 1;
    csp::channel_status timed = csp::channel_status::success;
    int ranged = 0;
    {
      std::vector<std::unique_ptr<party>> receivers;
      receivers.push_back(std::make_unique<party>([&] { plain = c.receive(); }));
      receivers.push_back(std::make_unique<party>([&] { timed = c.receive_for(patience).status; }));
      receivers.push_back(std::make_unique<party>([&] {
        for (int v : c) ranged += 1 + v;
      }));
      for (auto& receiver : receivers) ASSERT_TRUE(receiver->wait_until_parked());
      c.close();
    }  // joins all three
    EXPECT_EQ(plain, std::nullopt);
    EXPECT_EQ(timed, csp::channel_status::closed);
    EXPECT_EQ(ranged, 0);
  }
}

TEST(ChannelClose, CloseWakesEveryBlockedSenderWithAPanic) {
  REQUIRE_PARKING_OBSERVABLE();
  for (int capacity : {0, 1}) {
    SCOPED_TRACE(capacity);
    csp::channel<std::unique_ptr<int>> c(capacity);
    if (capacity > 0) c.send(std::make_unique<int>(0));
    constexpr int senders = 3;
    std::string texts[senders];
    bool kept[senders] = {};
    {
      std::vector<std::unique_ptr<party>> parties;
      for (int i = 0; i < senders; ++i) {
        parties.push_back(std::make_unique<party>([&, i] {
          auto value = std::make_unique<int>(i + 1);
          texts[i] = panic_text([&] {
            if (i == 0) c.send(std::move(value));
            if (i == 1) (void)c.send_for(std::move(value), patience);
            if (i == 2) (void)c.send_until(std::move(value), steady::now() + patience);
          });
          kept[i] = value != nullptr && *value == i + 1;
        }));
        ASSERT_TRUE(parties.back()->wait_until_parked());
      }
      c.close();
    }
    for (int i = 0; i < senders; ++i) {
      EXPECT_EQ(texts[i], "send on closed channel") << "sender " << i;
      EXPECT_TRUE(kept[i]) << "sender " << i << " lost its value";
    }
    // Only what was buffered before close comes out.
    if (capacity > 0) {
      auto first = c.try_receive();
      ASSERT_TRUE(first);
      EXPECT_EQ(**first, 0);
    }
    EXPECT_EQ(c.receive(), std::nullopt);
  }
}

TEST(ChannelClose, CloseFromAnotherThreadEndsRangeFor) {
  csp::channel<int> c(2);
  std::thread closer([c] {
    c.send(1);
    c.send(2);
    c.send(3);
    c.close();
  });
  int sum = 0;
  for (int v : c) sum += v;
  closer.join();
  EXPECT_EQ(sum, 6);
}

// ---------------------------------------------------------------------------------------------
// Ordering (ORD-1, ORD-2, RCV-6).

TEST(ChannelOrdering, BlockedSendersAreServedInArrivalOrder) {
  REQUIRE_PARKING_OBSERVABLE();
  for (int capacity : {0, 2}) {
    SCOPED_TRACE(capacity);
    csp::channel<int> c(capacity);
    for (int i = 0; i < capacity; ++i) c.send(i);
    std::vector<std::unique_ptr<party>> senders;
    for (int v = capacity; v < capacity + 4; ++v) {
      senders.push_back(std::make_unique<party>([c, v] { EXPECT_TRUE(c.send_for(v, patience)); }));
      ASSERT_TRUE(senders.back()->wait_until_parked()) << "sender of " << v;
    }
    EXPECT_EQ(c.size(), static_cast<std::size_t>(capacity));  // blocked senders are not counted
    for (int v = 0; v < capacity + 4; ++v) EXPECT_EQ(c.receive_for(patience).value, v);
  }
}

TEST(ChannelOrdering, ReceiveOfAFullRingTakesTheLongestWaitingSender) {  // RCV-6
  REQUIRE_PARKING_OBSERVABLE();
  csp::channel<int> c(2);
  c.send(0);
  c.send(1);
  party first([c] { EXPECT_TRUE(c.send_for(2, patience)); });
  ASSERT_TRUE(first.wait_until_parked());
  party second([c] { EXPECT_TRUE(c.send_for(3, patience)); });
  ASSERT_TRUE(second.wait_until_parked());
  EXPECT_EQ(c.receive(), 0);
  // The freed slot went to the first blocked sender at once: the ring is full again and a
  // newcomer cannot barge in ahead of the second one.
  first.join();
  EXPECT_EQ(c.size(), 2u);
  EXPECT_FALSE(c.try_send(99));
  EXPECT_EQ(c.receive(), 1);
  second.join();
  EXPECT_EQ(c.receive(), 2);
  EXPECT_EQ(c.receive(), 3);
  EXPECT_EQ(c.try_receive().status, csp::channel_status::empty);
}

TEST(ChannelOrdering, BlockedReceiversAreServedInArrivalOrder) {
  REQUIRE_PARKING_OBSERVABLE();
  for (int capacity : {0, 3}) {
    SCOPED_TRACE(capacity);
    csp::channel<int> c(capacity);
    constexpr int receivers = 4;
    std::optional<int> got[receivers];
    {
      std::vector<std::unique_ptr<party>> parties;
      for (int i = 0; i < receivers; ++i) {
        parties.push_back(
            std::make_unique<party>([&, i] { got[i] = c.receive_for(patience).value; }));
        ASSERT_TRUE(parties.back()->wait_until_parked()) << "receiver " << i;
      }
      for (int i = 0; i < receivers; ++i) c.send(100 + i);
    }
    for (int i = 0; i < receivers; ++i) EXPECT_EQ(got[i], 100 + i) << "receiver " << i;
  }
}

TEST(ChannelOrdering, EachProducersValuesStayInOrder) {  // ORD-1, ORD-3
  constexpr int producers = 3;
  constexpr int per_producer = 3000;
  for (int capacity : {0, 1, 16}) {
    SCOPED_TRACE(capacity);
    csp::channel<std::pair<int, int>> c(capacity);
    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p) {
      threads.emplace_back([c, p] {
        for (int i = 0; i < per_producer; ++i) c.send({p, i});
      });
    }
    int next[producers] = {};
    for (int n = 0; n < producers * per_producer; ++n) {
      auto [p, i] = *c.receive();
      ASSERT_EQ(i, next[p]) << "producer " << p;
      ++next[p];
    }
    for (auto& t : threads) t.join();
  }
}

TEST(ChannelOrdering, ManySendersAndReceiversConserveEveryValue) {  // CH-6
  constexpr int senders = 3;
  constexpr int receivers = 3;
  constexpr int per_sender = 2000;
  for (int capacity : {0, 1, 7}) {
    SCOPED_TRACE(capacity);
    csp::channel<int> c(capacity);
    std::vector<std::thread> threads;
    std::vector<std::vector<int>> received(receivers);
    for (int r = 0; r < receivers; ++r) {
      threads.emplace_back([c, &mine = received[r]] {
        for (int v : c) mine.push_back(v);
      });
    }
    std::vector<std::thread> sending;
    for (int s = 0; s < senders; ++s) {
      sending.emplace_back([c, s] {
        for (int i = 0; i < per_sender; ++i) c.send(s * per_sender + i);
      });
    }
    for (auto& t : sending) t.join();
    c.close();
    for (auto& t : threads) t.join();
    std::vector<int> all;
    for (auto& part : received) all.insert(all.end(), part.begin(), part.end());
    std::sort(all.begin(), all.end());
    std::vector<int> expected(senders * per_sender);
    std::iota(expected.begin(), expected.end(), 0);
    EXPECT_EQ(all, expected);
  }
}

// ---------------------------------------------------------------------------------------------
// Element types.

struct no_default {
  explicit no_default(int v) : value(v) {}
  int value;
};

TEST(ChannelValues, MoveOnlyValues) {
  for (int capacity : {0, 2}) {
    SCOPED_TRACE(capacity);
    csp::channel<std::unique_ptr<int>> c(capacity);
    std::thread sender([c] {
      for (int i = 0; i < 10; ++i) c.send(std::make_unique<int>(i));
      c.close();
    });
    int expected = 0;
    for (std::unique_ptr<int>& v : c) {
      ASSERT_NE(v, nullptr);
      EXPECT_EQ(*v, expected++);
    }
    EXPECT_EQ(expected, 10);
    sender.join();
  }
}

TEST(ChannelValues, TypesWithoutADefaultConstructor) {
  static_assert(!std::is_default_constructible_v<no_default>);
  for (int capacity : {0, 3}) {
    SCOPED_TRACE(capacity);
    csp::channel<no_default> c(capacity);
    std::thread sender([c] {
      for (int i = 0; i < 5; ++i) c.send(no_default(i));
      c.close();
    });
    int expected = 0;
    for (const no_default& v : c) EXPECT_EQ(v.value, expected++);
    EXPECT_EQ(expected, 5);
    sender.join();
    auto result = c.try_receive();
    EXPECT_EQ(result.status, csp::channel_status::closed);
  }
}

TEST(ChannelValues, LargeValues) {
  using page = std::array<char, 4096>;
  for (int capacity : {0, 4}) {
    SCOPED_TRACE(capacity);
    csp::channel<page> c(capacity);
    std::thread sender([c] {
      for (int i = 0; i < 64; ++i) {
        page p;
        p.fill(static_cast<char>(i));
        c.send(p);
      }
      c.close();
    });
    int expected = 0;
    for (const page& p : c) {
      EXPECT_TRUE(
          std::all_of(p.begin(), p.end(), [&](char b) { return b == static_cast<char>(expected); }))
          << "page " << expected;
      ++expected;
    }
    EXPECT_EQ(expected, 64);
    sender.join();
  }
}

// The ring lays out small and large capacities differently (one cache line for positions and
// slots, or a line each), and places slots at their type's alignment in either case. Order
// through many laps is checked here; a slot at the wrong alignment is caught by the
// ASan+UBSan build (-fsanitize=alignment), where the move out of the slot would trap.
template <class T>
void expect_in_order_through_many_laps(std::size_t capacity) {
  csp::channel<T> c(capacity);
  constexpr int count = 2000;
  std::thread sender([c] {
    for (int i = 0; i < count; ++i) c.send(T{i});
    c.close();
  });
  int expected = 0;
  for (const T& value : c) {
    EXPECT_EQ(value.value, expected) << "capacity " << capacity;
    ++expected;
  }
  EXPECT_EQ(expected, count);
  sender.join();
}

struct small_value {
  int value;
};
struct alignas(32) aligned_32 {
  int value;
};
struct alignas(128) aligned_128 {
  int value;
};

TEST(ChannelValues, SmallAndLargeRingsOfAlignedValuesKeepOrder) {
  for (std::size_t capacity : {1, 2, 3, 4, 5, 64}) {
    expect_in_order_through_many_laps<small_value>(capacity);
    expect_in_order_through_many_laps<aligned_32>(capacity);
    expect_in_order_through_many_laps<aligned_128>(capacity);
  }
}

struct counted {
  explicit counted(int v) : value(v) { live.fetch_add(1); }
  counted(const counted& other) : value(other.value) { live.fetch_add(1); }
  counted(counted&& other) noexcept : value(other.value) { live.fetch_add(1); }
  ~counted() { live.fetch_sub(1); }
  int value;
  static inline std::atomic<int> live{0};
};

TEST(ChannelValues, BufferedValuesAreDestroyedWithTheChannel) {
  {
    csp::channel<counted> c(5);
    for (int i = 0; i < 4; ++i) c.send(counted(i));
    EXPECT_EQ(counted::live.load(), 4);
    (void)c.receive();  // the ring's head moves, so the leftovers wrap
    c.send(counted(4));
    c.send(counted(5));
    EXPECT_EQ(counted::live.load(), 5);
  }
  EXPECT_EQ(counted::live.load(), 0);
}

// ---------------------------------------------------------------------------------------------
// Values whose move or copy throws: the exception reaches the caller, and no value is lost or
// duplicated.

struct move_failure : std::runtime_error {
  move_failure() : std::runtime_error("move failed on purpose") {}
};

// Makes the next `count` moves or copies of the value with id `id` throw.
struct faults {
  static void arm(int id, int count) {
    target.store(id);
    remaining.store(count);
  }
  static void disarm() { remaining.store(0); }
  static void maybe_throw(int id) {
    if (id != target.load()) return;
    for (int left = remaining.load(); left > 0;) {
      if (remaining.compare_exchange_weak(left, left - 1)) throw move_failure();
    }
  }
  static inline std::atomic<int> target{-1};
  static inline std::atomic<int> remaining{0};
};

// A value with an id, whose move (and, when Copyable, copy) may throw. Move-only: the channel's
// std::move_if_noexcept moves it. Copyable: the channel copies it.
template <bool Copyable>
class fallible {
 public:
  static constexpr int moved_from = -1;

  explicit fallible(int id) : id_(id) { live.fetch_add(1); }
  fallible(fallible&& other) noexcept(false) : id_(other.id_) {
    faults::maybe_throw(other.id_);  // before anything changes: the source survives a throw
    other.id_ = moved_from;
    live.fetch_add(1);
  }
  fallible(const fallible& other) requires Copyable : id_(other.id_) {
    faults::maybe_throw(other.id_);
    live.fetch_add(1);
  }
  fallible& operator=(const fallible&) = delete;
  ~fallible() { live.fetch_sub(1); }

  int id() const { return id_; }

  static inline std::atomic<int> live{0};

 private:
  int id_;
};

// The id of what a non-blocking receive got, or -100 when it got nothing.
template <class T>
int id_of(const csp::receive_result<T>& result) {
  return result ? result->id() : -100;
}

using throwing_move_only = fallible<false>;
using throwing_copyable = fallible<true>;
static_assert(!std::is_copy_constructible_v<throwing_move_only>);
static_assert(!std::is_nothrow_move_constructible_v<throwing_move_only>);
static_assert(std::is_copy_constructible_v<throwing_copyable>);
static_assert(!std::is_nothrow_move_constructible_v<throwing_copyable>);

template <class T>
class ChannelExceptions : public testing::Test {
 protected:
  void SetUp() override {
    faults::disarm();
    live_before_ = T::live.load();
  }
  void TearDown() override {
    faults::disarm();
    EXPECT_EQ(T::live.load(), live_before_) << "a value leaked or was destroyed twice";
  }

 private:
  int live_before_ = 0;
};

using fallible_types = testing::Types<throwing_move_only, throwing_copyable>;
TYPED_TEST_SUITE(ChannelExceptions, fallible_types);

TYPED_TEST(ChannelExceptions, BufferedSendThatThrowsChangesNothing) {
  using T = TypeParam;
  csp::channel<T> c(2);
  c.send(T(1));
  T value(2);
  faults::arm(2, 1);
  EXPECT_THROW(c.send(std::move(value)), move_failure);
  EXPECT_EQ(value.id(), 2);
  EXPECT_EQ(c.size(), 1u);
  faults::arm(2, 1);
  EXPECT_THROW((void)c.try_send(std::move(value)), move_failure);
  EXPECT_EQ(value.id(), 2);
  faults::arm(2, 1);
  EXPECT_THROW((void)c.send_for(std::move(value), patience), move_failure);
  EXPECT_EQ(value.id(), 2);
  EXPECT_EQ(c.size(), 1u);
  // Once moves work again, the same value goes through, once.
  c.send(std::move(value));
  EXPECT_EQ(c.size(), 2u);
  EXPECT_EQ(id_of(c.try_receive()), 1);
  EXPECT_EQ(id_of(c.try_receive()), 2);
  EXPECT_EQ(c.try_receive().status, csp::channel_status::empty);
}

TYPED_TEST(ChannelExceptions, BufferedReceiveThatThrowsLeavesTheValueInPlace) {
  using T = TypeParam;
  csp::channel<T> c(2);
  c.send(T(1));
  c.send(T(2));
  faults::arm(1, 1);
  EXPECT_THROW((void)c.receive(), move_failure);
  EXPECT_EQ(c.size(), 2u);
  faults::arm(1, 1);
  EXPECT_THROW((void)c.try_receive(), move_failure);
  faults::arm(1, 1);
  EXPECT_THROW((void)c.receive_for(patience), move_failure);
  EXPECT_EQ(c.size(), 2u);
  EXPECT_EQ(id_of(c.try_receive()), 1);
  EXPECT_EQ(id_of(c.try_receive()), 2);
}

// The last handle going away destroys what is still buffered, in place: no move, so nothing
// that can throw from a destructor (a throw there would end the process).
TYPED_TEST(ChannelExceptions, DestroyingAChannelWithValuesLeftMovesNothing) {
  using T = TypeParam;
  {
    csp::channel<T> c(4);
    c.send(T(1));
    c.send(T(2));
    c.send(T(3));
    EXPECT_EQ(id_of(c.try_receive()), 1);  // the ring's head is not at its first slot
    faults::arm(2, 100);                   // any move or copy of value 2 would throw from here on
  }
  // TearDown checks that values 2 and 3 were destroyed, once each.
}

TYPED_TEST(ChannelExceptions, HandOffToABlockedReceiverThatThrows) {
  // The sender gets the exception and keeps its value; the receiver keeps waiting and gets the
  // value when the sender tries again. Unbuffered (SND-2) and buffered (SND-7) hand-off.
  REQUIRE_PARKING_OBSERVABLE();
  using T = TypeParam;
  for (int capacity : {0, 2}) {
    SCOPED_TRACE(capacity);
    csp::channel<T> c(capacity);
    int got = 0;
    party receiver([&] {
      auto result = c.receive_for(patience);
      got = result ? result->id() : -100;
    });
    ASSERT_TRUE(receiver.wait_until_parked());
    T value(5);
    faults::arm(5, 1);
    EXPECT_THROW(c.send(std::move(value)), move_failure);
    EXPECT_EQ(value.id(), 5);
    EXPECT_TRUE(c.send_for(std::move(value), patience));
    receiver.join();
    EXPECT_EQ(got, 5);
    EXPECT_EQ(c.try_receive().status, csp::channel_status::empty);
  }
}

TYPED_TEST(ChannelExceptions, TakingFromABlockedSenderThatThrows) {
  // Unbuffered: the receiver gets the exception, the sender keeps its value and waits on.
  REQUIRE_PARKING_OBSERVABLE();
  using T = TypeParam;
  csp::channel<T> c;
  bool sent = false;
  party sender([&] { sent = c.send_for(T(6), patience); });
  ASSERT_TRUE(sender.wait_until_parked());
  faults::arm(6, 1);
  EXPECT_THROW((void)c.receive(), move_failure);
  auto result = c.receive_for(patience);
  ASSERT_EQ(result.status, csp::channel_status::success);
  EXPECT_EQ(result->id(), 6);
  sender.join();
  EXPECT_TRUE(sent);
  EXPECT_EQ(c.try_receive().status, csp::channel_status::empty);
}

TYPED_TEST(ChannelExceptions, RefillThatThrowsOnceIsRetriedBySender) {
  // A receive takes the head of a full ring while a sender is blocked; moving the sender's
  // value into the freed slot throws. The receive succeeds; the sender retries and succeeds.
  REQUIRE_PARKING_OBSERVABLE();
  using T = TypeParam;
  csp::channel<T> c(1);
  c.send(T(1));
  bool sent = false;
  std::string error;
  party sender([&] {
    T value(2);
    try {
      sent = c.send_for(std::move(value), patience);
    } catch (const move_failure&) {
      error = "threw";
    }
  });
  ASSERT_TRUE(sender.wait_until_parked());
  faults::arm(2, 1);
  auto head = c.receive();
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->id(), 1);
  sender.join();
  EXPECT_TRUE(sent);
  EXPECT_EQ(error, "");
  EXPECT_EQ(c.size(), 1u);
  EXPECT_EQ(id_of(c.try_receive()), 2);
  EXPECT_EQ(c.try_receive().status, csp::channel_status::empty);
}

TYPED_TEST(ChannelExceptions, RefillThatKeepsThrowingReachesTheSender) {
  REQUIRE_PARKING_OBSERVABLE();
  using T = TypeParam;
  csp::channel<T> c(1);
  c.send(T(1));
  bool sent = false;
  bool threw = false;
  int kept = 0;
  party sender([&] {
    T value(2);
    try {
      sent = c.send_for(std::move(value), patience);
    } catch (const move_failure&) {
      threw = true;
    }
    kept = value.id();
  });
  ASSERT_TRUE(sender.wait_until_parked());
  faults::arm(2, 2);  // the refill, then the sender's own retry
  auto head = c.receive();
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->id(), 1);
  sender.join();
  EXPECT_FALSE(sent);
  EXPECT_TRUE(threw);
  EXPECT_EQ(kept, 2);  // the value stayed with its sender
  EXPECT_EQ(c.size(), 0u);
  EXPECT_EQ(c.try_receive().status, csp::channel_status::empty);
}

TYPED_TEST(ChannelExceptions, RefillThatThrowsPassesTheSlotToTheNextSender) {
  // Two senders wait on a full ring; the receive that frees the slot cannot move the first
  // one's value in. The first is told to retry, and the slot goes to the second at once: left
  // empty while a sender waited, it let receivers queue beside that sender, and a stress round
  // hung with one sender and two receivers asleep on an empty channel of capacity 1.
  REQUIRE_PARKING_OBSERVABLE();
  using T = TypeParam;
  csp::channel<T> c(1);
  c.send(T(1));
  bool first_sent = false;
  bool second_sent = false;
  party first([&] { first_sent = c.send_for(T(2), patience); });
  ASSERT_TRUE(first.wait_until_parked());
  party second([&] { second_sent = c.send_for(T(3), patience); });
  ASSERT_TRUE(second.wait_until_parked());
  faults::arm(2, 1);
  auto head = c.receive();
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->id(), 1);
  second.join();  // its value took the freed slot during that receive
  EXPECT_TRUE(second_sent);
  EXPECT_EQ(id_of(c.try_receive()), 3);
  auto last = c.receive_for(patience);
  ASSERT_EQ(last.status, csp::channel_status::success);
  EXPECT_EQ(last->id(), 2);
  first.join();
  EXPECT_TRUE(first_sent);
  EXPECT_EQ(c.try_receive().status, csp::channel_status::empty);
}

// ---------------------------------------------------------------------------------------------
// Memory ordering (MM-1..MM-4). The data below is deliberately non-atomic: under TSan a missing
// happens-before edge is reported as a race; elsewhere the tests check values.

TEST(ChannelMemoryModel, SendHappensBeforeTheMatchingReceiveCompletes) {  // MM-1
  constexpr int count = 500;
  for (int capacity : {0, 1, 8}) {
    SCOPED_TRACE(capacity);
    std::vector<int> payload(count);
    csp::channel<int> c(capacity);
    std::thread sender([&] {
      for (int i = 0; i < count; ++i) {
        payload[i] = i * 3;
        c.send(i);
      }
    });
    for (int n = 0; n < count; ++n) {
      const int i = *c.receive();
      ASSERT_EQ(payload[i], i * 3);
    }
    sender.join();
  }
}

TEST(ChannelMemoryModel, SendOfAPointerPublishesWhatItPointsTo) {  // MM-1
  for (int capacity : {0, 2}) {
    csp::channel<std::vector<int>*> c(capacity);
    std::thread sender([c] {
      for (int i = 0; i < 200; ++i) c.send(new std::vector<int>(16, i));
      c.close();
    });
    int expected = 0;
    for (std::vector<int>* v : c) {
      EXPECT_EQ(v->size(), 16u);
      EXPECT_EQ((*v)[15], expected++);
      delete v;
    }
    sender.join();
  }
}

TEST(ChannelMemoryModel, CloseHappensBeforeAReceiveThatReportsClosed) {  // MM-2
  for (int capacity : {0, 1}) {
    SCOPED_TRACE(capacity);
    {  // the receiver blocks, then close wakes it
      int data = 0;
      csp::channel<int> c(capacity);
      std::thread closer([&] {
        data = 42;
        c.close();
      });
      EXPECT_EQ(c.receive(), std::nullopt);
      EXPECT_EQ(data, 42);
      closer.join();
    }
    {  // the receiver polls and sees closed without blocking
      int data = 0;
      csp::channel<int> c(capacity);
      std::thread closer([&] {
        data = 43;
        c.close();
      });
      EXPECT_TRUE(
          eventually([&] { return c.try_receive().status == csp::channel_status::closed; }));
      EXPECT_EQ(data, 43);
      closer.join();
    }
    {  // a timed receive reports closed
      int data = 0;
      csp::channel<int> c(capacity);
      std::thread closer([&] {
        data = 44;
        c.close();
      });
      EXPECT_EQ(c.receive_for(patience).status, csp::channel_status::closed);
      EXPECT_EQ(data, 44);
      closer.join();
    }
  }
}

TEST(ChannelMemoryModel, UnbufferedReceiveHappensBeforeTheSendCompletes) {  // MM-3
  constexpr int rounds = 300;
  std::vector<int> written(rounds);
  csp::channel<int> c;
  std::thread receiver([&] {
    for (int i = 0; i < rounds; ++i) {
      written[i] = i + 1;  // before the receive that matches send i
      EXPECT_EQ(c.receive(), i);
    }
  });
  for (int i = 0; i < rounds; ++i) {
    c.send(i);
    ASSERT_EQ(written[i], i + 1);  // visible once send i completed
  }
  receiver.join();
}

TEST(ChannelMemoryModel, UnbufferedTryOperationsAlsoSynchronize) {  // MM-1, MM-3
  csp::channel<int> c;
  int before_send = 0;
  int before_receive = 0;
  std::thread sender([&] {
    before_send = 1;
    c.send(1);
    EXPECT_EQ(before_receive, 2);
  });
  before_receive = 2;
  EXPECT_TRUE(eventually([&] { return c.try_receive().status == csp::channel_status::success; }));
  EXPECT_EQ(before_send, 1);
  sender.join();
}

TEST(ChannelMemoryModel, BufferedChannelIsACountingSemaphore) {  // MM-4
  // The k-th receive happens before the (k+C)-th send completes: after send number s
  // (1-based) returns, the write made before receive number s - C is visible.
  constexpr int capacity = 3;
  constexpr int count = 600;
  std::vector<int> written(count);
  csp::channel<int> c(capacity);
  std::thread receiver([&] {
    for (int k = 0; k < count; ++k) {
      written[k] = k + 1;  // before receive number k + 1
      (void)c.receive();
    }
  });
  for (int s = 1; s <= count; ++s) {
    c.send(s);
    if (s > capacity) {
      ASSERT_EQ(written[s - capacity - 1], s - capacity);
    }
  }
  receiver.join();
}

TEST(ChannelMemoryModel, CapacityOneChannelAsAMutex) {  // MM-4 with C = 1
  constexpr int threads = 3;
  constexpr int rounds = 500;
  csp::channel<int> lock(1);
  long counter = 0;  // guarded by `lock`
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      for (int i = 0; i < rounds; ++i) {
        lock.send(0);
        ++counter;
        (void)lock.receive();
      }
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(counter, threads * rounds);
}

}  // namespace
