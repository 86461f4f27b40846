// Port of golang/go:test/chancap.go ("Test the cap predeclared function applied to channels"):
// len/cap of buffered and unbuffered channels, and makechan's panics for negative and huge
// sizes on a 64-bit platform (the `ptrSize == 8` branch).
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "csp/channel.hpp"

namespace {

using T = csp::channel<int>;  // Go: type T chan int

// func shouldPanic(str string, f func()): f must panic with a message containing str.
template <class F>
void should_panic(const std::string& str, F&& f) {
  try {
    f();
  } catch (const csp::panic_error& error) {
    EXPECT_NE(std::string(error.what()).find(str), std::string::npos)
        << "got panic " << error.what() << ", want " << str;
    return;
  }
  ADD_FAILURE() << "did not panic";
}

TEST(GoChanCap, LenAndCap) {
  T c(10);
  EXPECT_EQ(c.size(), 0u) << "chan len/cap want 0 10";
  EXPECT_EQ(c.capacity(), 10u) << "chan len/cap want 0 10";

  for (int i = 0; i < 3; ++i) c.send(i);
  EXPECT_EQ(c.size(), 3u) << "chan len/cap want 3 10";
  EXPECT_EQ(c.capacity(), 10u) << "chan len/cap want 3 10";

  c = T();
  EXPECT_EQ(c.size(), 0u) << "chan len/cap want 0 0";
  EXPECT_EQ(c.capacity(), 0u) << "chan len/cap want 0 0";
}

TEST(GoChanCap, MakechanSizeOutOfRange) {
  int n = -1;
  should_panic("makechan: size out of range", [&] { T c(n); });
  should_panic("makechan: size out of range", [&] { T c(static_cast<std::int64_t>(n)); });
  // Test mem > maxAlloc
  std::int64_t n2 = std::int64_t{1} << 59;
  should_panic("makechan: size out of range", [&] { T c(n2); });
  // Test elem.size*cap overflow
  n2 = INT64_MAX;  // Go: 1<<63 - 1
  should_panic("makechan: size out of range", [&] { T c(n2); });
}

}  // namespace
