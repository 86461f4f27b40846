// view_test.cpp: csp::sender<T> and csp::receiver<T> (csp/channel.hpp), Go's chan<- T and
// <-chan T.
//
// The compile-time half ports golang/go:test/chan/perm.go (DIR-1, DIR-2, CL-4, RNG-2) as
// concept checks: each misuse is a requires-expression that must be false. tests/compile_fail/
// checks the same misuses by compiling real programs, in case a concept check is satisfied for
// the wrong reason. The runtime half checks that views do what their channel does.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <ranges>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "csp/channel.hpp"

namespace {

using namespace std::chrono_literals;

// ---------------------------------------------------------------------------------------------
// What each handle can do, as concepts over the handle type.

template <class H>
concept can_send = requires(const H h, typename H::value_type v) {
  h.send(std::move(v));
};
template <class H>
concept can_send_copy = requires(const H h, const typename H::value_type& v) {
  h.send(v);
};
template <class H>
concept can_try_send = requires(const H h, typename H::value_type v) {
  h.try_send(std::move(v));
};
template <class H>
concept can_send_for = requires(const H h, typename H::value_type v) {
  h.send_for(std::move(v), 1ms);
};
template <class H>
concept can_send_until = requires(const H h, typename H::value_type v) {
  h.send_until(std::move(v), std::chrono::steady_clock::now());
};
template <class H>
concept can_close = requires(const H h) {
  h.close();
};

template <class H>
concept can_receive = requires(const H h) {
  h.receive();
};
template <class H>
concept can_try_receive = requires(const H h) {
  h.try_receive();
};
template <class H>
concept can_receive_for = requires(const H h) {
  h.receive_for(1ms);
};
template <class H>
concept can_receive_until = requires(const H h) {
  h.receive_until(std::chrono::steady_clock::now());
};
template <class H>
concept can_begin = requires(const H h) {
  h.begin();
};
template <class H>
concept can_end = requires(const H h) {
  h.end();
};

template <class H>
concept has_len_cap = requires(const H h) {
  { h.size() } -> std::same_as<std::size_t>;
  { h.capacity() } -> std::same_as<std::size_t>;
};

using channel = csp::channel<int>;
using sender = csp::sender<int>;
using receiver = csp::receiver<int>;

// The bidirectional channel has everything (the positive control for the concepts above).
static_assert(can_send<channel> && can_send_copy<channel> && can_try_send<channel> &&
              can_send_for<channel> && can_send_until<channel> && can_close<channel>);
static_assert(can_receive<channel> && can_try_receive<channel> && can_receive_for<channel> &&
              can_receive_until<channel> && can_begin<channel> && can_end<channel>);
static_assert(std::ranges::input_range<channel>);
static_assert(has_len_cap<channel> && has_len_cap<sender> && has_len_cap<receiver>);

// sender<T>: sends and closes (CL-4: closing a send-only channel is allowed) ...
static_assert(can_send<sender> && can_send_copy<sender> && can_try_send<sender> &&
              can_send_for<sender> && can_send_until<sender> && can_close<sender>);
// ... and never receives or ranges (DIR-1, RNG-2).
static_assert(!can_receive<sender>);
static_assert(!can_try_receive<sender>);
static_assert(!can_receive_for<sender>);
static_assert(!can_receive_until<sender>);
static_assert(!can_begin<sender>);
static_assert(!can_end<sender>);
static_assert(!std::ranges::range<sender>);

// receiver<T>: receives and ranges ...
static_assert(can_receive<receiver> && can_try_receive<receiver> && can_receive_for<receiver> &&
              can_receive_until<receiver> && can_begin<receiver> && can_end<receiver>);
static_assert(std::ranges::input_range<receiver>);
// ... and never sends or closes (DIR-1, CL-4).
static_assert(!can_send<receiver>);
static_assert(!can_send_copy<receiver>);
static_assert(!can_try_send<receiver>);
static_assert(!can_send_for<receiver>);
static_assert(!can_send_until<receiver>);
static_assert(!can_close<receiver>);

// Conversions (DIR-2): a channel converts implicitly to either view ...
static_assert(std::is_convertible_v<channel, sender>);
static_assert(std::is_convertible_v<channel, receiver>);
static_assert(std::is_convertible_v<const channel&, sender>);
static_assert(std::is_assignable_v<sender&, const channel&>);
static_assert(std::is_assignable_v<receiver&, const channel&>);
// ... but never back, nor from one direction to the other, implicitly or explicitly.
static_assert(!std::is_convertible_v<receiver, sender>);
static_assert(!std::is_constructible_v<sender, receiver>);
static_assert(!std::is_assignable_v<sender&, receiver>);
static_assert(!std::is_convertible_v<sender, receiver>);
static_assert(!std::is_constructible_v<receiver, sender>);
static_assert(!std::is_assignable_v<receiver&, sender>);
static_assert(!std::is_convertible_v<sender, channel>);
static_assert(!std::is_constructible_v<channel, sender>);
static_assert(!std::is_assignable_v<channel&, sender>);
static_assert(!std::is_convertible_v<receiver, channel>);
static_assert(!std::is_constructible_v<channel, receiver>);
static_assert(!std::is_assignable_v<channel&, receiver>);
// Element types must match exactly, as in Go (chan int is not chan<- int64).
static_assert(!std::is_convertible_v<csp::channel<int>, csp::sender<long>>);
static_assert(!std::is_convertible_v<csp::channel<int>, csp::receiver<long>>);
static_assert(!std::is_convertible_v<csp::sender<int>, csp::sender<long>>);
// nil views, like nil channels.
static_assert(std::is_nothrow_convertible_v<std::nullptr_t, sender>);
static_assert(std::is_nothrow_convertible_v<std::nullptr_t, receiver>);
static_assert(std::is_nothrow_default_constructible_v<sender>);
static_assert(std::is_nothrow_default_constructible_v<receiver>);
// Views of move-only types keep their direction too.
static_assert(can_send<csp::sender<std::unique_ptr<int>>>);
static_assert(!can_send_copy<csp::sender<std::unique_ptr<int>>>);
static_assert(!can_receive<csp::sender<std::unique_ptr<int>>>);
static_assert(!can_send<csp::receiver<std::unique_ptr<int>>>);
static_assert(std::ranges::input_range<csp::receiver<std::unique_ptr<int>>>);

// ---------------------------------------------------------------------------------------------
// Views at run time.

void produce(csp::sender<int> out, int count) {
  for (int i = 0; i < count; ++i) out.send(i);
  out.close();
}

void square(csp::receiver<int> in, csp::sender<int> out) {
  for (int v : in) out.send(v * v);
  out.close();
}

TEST(ChannelViews, PipelineOfViewsConvertedImplicitly) {
  csp::channel<int> numbers;
  csp::channel<int> squares(4);
  std::thread producer(produce, numbers, 20);     // channel -> sender
  std::thread squarer(square, numbers, squares);  // channel -> receiver, sender
  csp::receiver<int> results = squares;
  int i = 0;
  for (int v : results) {
    EXPECT_EQ(v, i * i);
    ++i;
  }
  EXPECT_EQ(i, 20);
  producer.join();
  squarer.join();
}

TEST(ChannelViews, ViewsShareTheChannelAndCompareWithIt) {
  csp::channel<int> c(3);
  csp::sender<int> s = c;
  csp::receiver<int> r = c;
  EXPECT_TRUE(s == c);
  EXPECT_TRUE(r == c);
  EXPECT_TRUE(c == s);
  EXPECT_FALSE(s == nullptr);
  EXPECT_FALSE(r == nullptr);
  EXPECT_FALSE(s == csp::sender<int>(csp::channel<int>(1)));

  s.send(1);
  EXPECT_EQ(c.size(), 1u);
  EXPECT_EQ(r.size(), 1u);
  EXPECT_EQ(s.size(), 1u);
  EXPECT_EQ(s.capacity(), 3u);
  EXPECT_EQ(r.capacity(), 3u);
  EXPECT_EQ(r.receive(), 1);
}

TEST(ChannelViews, EveryOperationWorksThroughItsView) {
  csp::channel<std::string> c(2);
  csp::sender<std::string> s = c;
  csp::receiver<std::string> r = c;
  const std::string lvalue = "copied";
  EXPECT_TRUE(s.try_send(lvalue));
  EXPECT_TRUE(s.send_for(std::string("timed"), 1s));
  EXPECT_FALSE(s.try_send(std::string("full")));
  EXPECT_FALSE(s.send_for(lvalue, 1ms));
  EXPECT_FALSE(s.send_until(lvalue, std::chrono::steady_clock::now() + 1ms));
  EXPECT_EQ(r.try_receive().value, "copied");
  EXPECT_EQ(r.receive_for(1s).value, "timed");
  EXPECT_EQ(r.try_receive().status, csp::channel_status::empty);
  EXPECT_EQ(r.receive_for(1ms).status, csp::channel_status::timeout);
  EXPECT_EQ(r.receive_until(std::chrono::system_clock::now() + 1ms).status,
            csp::channel_status::timeout);
  s.send(lvalue);
  s.close();
  EXPECT_EQ(r.receive(), "copied");
  EXPECT_EQ(r.receive(), std::nullopt);
  EXPECT_EQ(r.try_receive().status, csp::channel_status::closed);
  try {
    s.send("late");
    ADD_FAILURE() << "send on a closed channel through a sender did not throw";
  } catch (const csp::panic_error& e) {
    EXPECT_STREQ(e.what(), "send on closed channel");
  }
  try {
    s.close();
    ADD_FAILURE() << "second close through a sender did not throw";
  } catch (const csp::panic_error& e) {
    EXPECT_STREQ(e.what(), "close of closed channel");
  }
}

TEST(ChannelViews, ViewsKeepTheChannelAlive) {
  csp::sender<int> s;
  csp::receiver<int> r;
  {
    csp::channel<int> c(1);
    s = c;
    r = c;
  }
  s.send(4);
  EXPECT_EQ(r.receive(), 4);
  s.close();
  EXPECT_EQ(r.receive(), std::nullopt);
}

TEST(ChannelViews, NilViews) {
  csp::sender<int> s;
  csp::receiver<int> r = nullptr;
  EXPECT_TRUE(s == nullptr);
  EXPECT_TRUE(r == nullptr);
  EXPECT_TRUE(csp::sender<int>(csp::channel<int>(nullptr)) == nullptr);
  EXPECT_EQ(s.size(), 0u);
  EXPECT_EQ(s.capacity(), 0u);
  EXPECT_EQ(r.size(), 0u);
  EXPECT_EQ(r.capacity(), 0u);
  EXPECT_FALSE(s.try_send(1));
  EXPECT_FALSE(s.send_for(1, 1ms));
  EXPECT_EQ(r.try_receive().status, csp::channel_status::empty);
  EXPECT_EQ(r.receive_for(1ms).status, csp::channel_status::timeout);
  try {
    s.close();
    ADD_FAILURE() << "close of a nil sender did not throw";
  } catch (const csp::panic_error& e) {
    EXPECT_STREQ(e.what(), "close of nil channel");
  }
}

TEST(ChannelViews, MoveOnlyValuesThroughViews) {
  csp::channel<std::unique_ptr<int>> c;
  csp::sender<std::unique_ptr<int>> s = c;
  csp::receiver<std::unique_ptr<int>> r = c;
  std::thread producer([s] {
    for (int i = 0; i < 5; ++i) s.send(std::make_unique<int>(i));
    s.close();
  });
  std::vector<int> seen;
  for (auto& p : r) seen.push_back(*p);
  producer.join();
  EXPECT_EQ(seen, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(ChannelViews, ReceiverWorksWithRangeAlgorithms) {
  csp::channel<int> c(5);
  for (int i = 1; i <= 5; ++i) c.send(i);
  c.close();
  csp::receiver<int> r = c;
  std::vector<int> evens;
  std::ranges::for_each(r, [&](int v) {
    if (v % 2 == 0) evens.push_back(v);
  });
  EXPECT_EQ(evens, (std::vector<int>{2, 4}));
}

}  // namespace
