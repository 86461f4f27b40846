// Port of golang/go:test/closedchan.go ("Test close(c), receive of closed channel"), the direct
// operation path (Go's XChan). Go's two select paths (SChan, SSChan) wait for csp's select; in
// their place this port adds a second path through the timed operations, which must behave the
// same on a closed channel. Go's non-blocking forms (a select with one case and a default) map
// to try_send / try_receive, as the Go compiler lowers them (SEL-15).
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <tuple>
#include <utility>

#include "csp/channel.hpp"

namespace {

using namespace std::chrono_literals;

// type Chan interface
class chan {
 public:
  explicit chan(csp::channel<int> c) : c_(std::move(c)) {}
  virtual ~chan() = default;
  virtual void send(int x) = 0;
  virtual bool nbsend(int x) = 0;
  virtual int recv() = 0;
  virtual std::pair<int, bool> nbrecv() = 0;
  virtual std::pair<int, bool> recv2() = 0;
  virtual std::tuple<int, bool, bool> nbrecv2() = 0;
  void close() { c_.close(); }
  virtual std::string impl() const = 0;

 protected:
  csp::channel<int> c_;
};

// Direct channel operations (Go's XChan).
class xchan final : public chan {
 public:
  using chan::chan;
  void send(int x) override { c_.send(x); }
  bool nbsend(int x) override { return c_.try_send(x); }
  int recv() override { return c_.receive().value_or(0); }
  std::pair<int, bool> nbrecv() override {
    auto r = c_.try_receive();
    switch (r.status) {
      case csp::channel_status::success:
        return {*r, true};
      case csp::channel_status::closed:  // a receive from a closed channel is selected
        return {0, true};
      default:
        return {0, false};
    }
  }
  std::pair<int, bool> recv2() override {
    auto v = c_.receive();
    return {v.value_or(0), v.has_value()};
  }
  std::tuple<int, bool, bool> nbrecv2() override {
    auto r = c_.try_receive();
    switch (r.status) {
      case csp::channel_status::success:
        return {*r, true, true};
      case csp::channel_status::closed:
        return {0, false, true};
      default:
        return {0, false, false};
    }
  }
  std::string impl() const override { return "(direct operations)"; }
};

// The same through send_for / receive_for with a generous timeout: on a closed channel nothing
// may wait for it.
class timed_chan final : public chan {
 public:
  using chan::chan;
  static constexpr auto patience = 10s;
  void send(int x) override { EXPECT_TRUE(c_.send_for(x, patience)); }
  bool nbsend(int x) override { return c_.send_for(x, 0s); }
  int recv() override { return recv2().first; }
  std::pair<int, bool> nbrecv() override {
    auto [x, ok, selected] = receive(0s);
    return {x, selected};
  }
  std::pair<int, bool> recv2() override {
    auto [x, ok, selected] = receive(patience);
    EXPECT_TRUE(selected) << "timed out on a closed channel";
    return {x, ok};
  }
  std::tuple<int, bool, bool> nbrecv2() override { return receive(0s); }
  std::string impl() const override { return "(timed operations)"; }

 private:
  std::tuple<int, bool, bool> receive(std::chrono::seconds timeout) {
    auto r = c_.receive_for(timeout);
    switch (r.status) {
      case csp::channel_status::success:
        return {*r, true, true};
      case csp::channel_status::closed:
        return {0, false, true};
      default:
        return {0, false, false};
    }
  }
};

// func shouldPanic(f func())
template <class F>
void should_panic(F&& f) {
  try {
    f();
  } catch (const csp::panic_error&) {
    return;
  }
  ADD_FAILURE() << "did not panic";
}

void test1(chan& c) {
  for (int i = 0; i < 3; ++i) {
    // recv a close signal (a zero value)
    EXPECT_EQ(c.recv(), 0) << "test1: recv on closed " << c.impl();
    {
      auto [x, ok] = c.recv2();
      EXPECT_TRUE(x == 0 && !ok) << "test1: recv2 on closed: " << x << " " << ok << c.impl();
    }
    // should work with select: received a value without blocking, so selected == true.
    {
      auto [x, selected] = c.nbrecv();
      EXPECT_TRUE(x == 0 && selected)
          << "test1: recv on closed nb: " << x << " " << selected << c.impl();
    }
    {
      auto [x, ok, selected] = c.nbrecv2();
      EXPECT_TRUE(x == 0 && !ok && selected)
          << "test1: recv2 on closed nb: " << x << " " << ok << " " << selected << c.impl();
    }
  }

  // send should work with ,ok too: sent a value without blocking, so ok == true.
  should_panic([&] { c.nbsend(1); });

  // the value should have been discarded.
  EXPECT_EQ(c.recv(), 0) << "test1: recv on closed got non-zero after send on closed " << c.impl();

  // similarly Send.
  should_panic([&] { c.send(2); });
  EXPECT_EQ(c.recv(), 0) << "test1: recv on closed got non-zero after send on closed " << c.impl();
}

void testasync1(chan& c) {
  // should be able to get the last value via Recv
  EXPECT_EQ(c.recv(), 1) << "testasync1: Recv did not get 1 " << c.impl();
  test1(c);
}

void testasync2(chan& c) {
  // should be able to get the last value via Recv2
  auto [x, ok] = c.recv2();
  EXPECT_TRUE(x == 1 && ok) << "testasync2: Recv2 did not get 1, true: " << x << " " << ok
                            << c.impl();
  test1(c);
}

void testasync3(chan& c) {
  // should be able to get the last value via Nbrecv
  auto [x, selected] = c.nbrecv();
  EXPECT_TRUE(x == 1 && selected) << "testasync3: Nbrecv did not get 1, true: " << x << " "
                                  << selected << c.impl();
  test1(c);
}

void testasync4(chan& c) {
  // should be able to get the last value via Nbrecv2
  auto [x, ok, selected] = c.nbrecv2();
  EXPECT_TRUE(x == 1 && ok && selected) << "testasync4: Nbrecv2 did not get 1, true, true: " << x
                                        << " " << ok << " " << selected << c.impl();
  test1(c);
}

csp::channel<int> closedsync() {
  csp::channel<int> c;
  c.close();
  return c;
}

csp::channel<int> closedasync() {
  csp::channel<int> c(2);
  c.send(1);
  c.close();
  return c;
}

// var mks = []func(chan int) Chan
using maker = std::unique_ptr<chan> (*)(csp::channel<int>);
const maker mks[] = {
    [](csp::channel<int> c) -> std::unique_ptr<chan> { return std::make_unique<xchan>(c); },
    [](csp::channel<int> c) -> std::unique_ptr<chan> { return std::make_unique<timed_chan>(c); },
};

TEST(GoClosedChan, ClosedUnbuffered) {
  for (maker mk : mks) test1(*mk(closedsync()));
}

TEST(GoClosedChan, ClosedBuffered) {
  for (auto testclosed : {testasync1, testasync2, testasync3, testasync4}) {
    for (maker mk : mks) testclosed(*mk(closedasync()));
  }
}

TEST(GoClosedChan, CloseOfNilPanics) {
  csp::channel<int> ch{nullptr};  // var ch chan int
  should_panic([&] { ch.close(); });
}

TEST(GoClosedChan, CloseOfClosedPanics) {
  csp::channel<int> ch;
  ch.close();
  should_panic([&] { ch.close(); });
}

}  // namespace
