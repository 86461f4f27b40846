// death_test.hpp: the fixture of every death test (GoogleTest runs suites named *DeathTest
// first, before other tests have started threads).
//
// Each death test runs in a fresh process of the test binary ("threadsafe" style): the default
// style forks the parent, and a parent whose runtime already runs its worker threads would
// leave a child with a half-copied runtime. Under qemu-user neither style works
// (support/emulation.hpp), so there the tests skip, saying why.
#pragma once

#include <gtest/gtest.h>

#include "support/emulation.hpp"

namespace csp_test {

class death_test : public testing::Test {
 protected:
  void SetUp() override {
    if (runs_under_user_mode_emulation()) {
      GTEST_SKIP() << "death tests cannot run under qemu-user (support/emulation.hpp)";
    }
    GTEST_FLAG_SET(death_test_style, "threadsafe");
  }
};

}  // namespace csp_test
