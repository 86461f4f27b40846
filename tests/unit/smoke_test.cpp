#include <gtest/gtest.h>

#include <thread>

#include "csp/channel.hpp"

TEST(Smoke, BufferedAndUnbuffered) {
  csp::channel<int> buffered(3);
  buffered.send(1);
  buffered.send(2);
  EXPECT_EQ(buffered.size(), 2u);
  EXPECT_EQ(*buffered.receive(), 1);
  csp::channel<int> hand;
  std::thread t([&] { hand.send(42); });
  EXPECT_EQ(*hand.receive(), 42);
  t.join();
}
