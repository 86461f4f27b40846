// Port of golang/go:test/chan/zerosize.go ("Making channels of a zero-sized type should not
// panic"): make(chan [0]byte), make(chan [0]byte, 1), make(chan struct{}),
// make(chan struct{}, 1). C++ has no zero-sized objects, so the closest types are an empty
// struct and std::array<std::byte, 0>; beyond Go's test, values also go through each channel.
#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <thread>

#include "csp/channel.hpp"

namespace {

struct empty {};

template <class T>
void exercise(int capacity) {
  csp::channel<T> c(capacity);
  EXPECT_EQ(c.capacity(), static_cast<std::size_t>(capacity));
  std::thread sender([c] {
    for (int i = 0; i < 100; ++i) c.send(T{});
    c.close();
  });
  int received = 0;
  for (const T& v : c) {
    (void)v;
    ++received;
  }
  sender.join();
  EXPECT_EQ(received, 100);
  EXPECT_EQ(c.receive(), std::nullopt);
}

TEST(GoZeroSize, MakeSucceeds) {
  [[maybe_unused]] csp::channel<std::array<std::byte, 0>> a;     // make(chan [0]byte)
  [[maybe_unused]] csp::channel<std::array<std::byte, 0>> b(1);  // make(chan [0]byte, 1)
  [[maybe_unused]] csp::channel<empty> c;                        // make(chan struct{})
  [[maybe_unused]] csp::channel<empty> d(1);                     // make(chan struct{}, 1)
}

TEST(GoZeroSize, ZeroByteArraysFlow) {
  exercise<std::array<std::byte, 0>>(0);
  exercise<std::array<std::byte, 0>>(1);
}

TEST(GoZeroSize, EmptyStructsFlow) {
  exercise<empty>(0);
  exercise<empty>(1);
  exercise<empty>(64);
}

TEST(GoZeroSize, EmptyStructChannelAsASignal) {
  csp::channel<empty> done;
  int result = 0;
  std::thread worker([&] {
    result = 42;
    done.close();  // the usual Go idiom: close(done)
  });
  EXPECT_EQ(done.receive(), std::nullopt);
  EXPECT_EQ(result, 42);
  worker.join();
}

}  // namespace
