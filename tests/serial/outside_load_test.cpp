// outside_load_test.cpp: how a plain thread's poll finds busy processes outside its own
// (src/outside_load.cpp): found beside them, forgotten once they end.
//
// These tests start busy processes of their own and judge how busy the machine is, so CTest
// runs them alone (RUN_SERIAL, tests/CMakeLists.txt): another test running beside them would
// be a busy stranger too. Every wait is bounded; a bound reached fails with what was seen.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "csp/detail/parker.hpp"

namespace {

using std::chrono::steady_clock;
constexpr auto patience = std::chrono::seconds(20);

// Busy processes, one more than the CPUs this process may use, so that every one of them is
// shared with a stranger; killed on destruction.
class busy_processes {
 public:
  busy_processes() {
    const int count = csp::detail::allowed_cpu_count() + 1;
    for (int i = 0; i < count; ++i) {
      const pid_t child = ::fork();
      if (child == 0) {
        std::atomic<unsigned long> spins{0};
        for (;;) spins.fetch_add(1, std::memory_order_relaxed);
      }
      if (child > 0) children_.push_back(child);
    }
  }
  busy_processes(const busy_processes&) = delete;
  busy_processes& operator=(const busy_processes&) = delete;
  ~busy_processes() { end(); }

  std::size_t count() const { return children_.size(); }

  void end() {
    for (const pid_t child : children_) ::kill(child, SIGKILL);
    for (const pid_t child : children_) ::waitpid(child, nullptr, 0);
    children_.clear();
  }

 private:
  std::vector<pid_t> children_;
};

TEST(OutsideLoad, FoundBesideBusyProcessesAndForgottenWhenTheyEnd) {
  using csp::detail::outside_load_known;
  using csp::detail::yield_while_polling;
  busy_processes strangers;
  ASSERT_GT(strangers.count(), 0u) << "fork failed";

  // A poll yields until a yield that lost the core for long prompts the looks that find them
  // (two looks at least 100 ms apart: the first only starts the window).
  auto deadline = steady_clock::now() + patience;
  unsigned long yields = 0;
  unsigned long refused = 0;
  while (!outside_load_known()) {
    ASSERT_LT(steady_clock::now(), deadline)
        << strangers.count() << " busy processes not found after " << yields << " yields";
    if (yield_while_polling()) {
      ++yields;
    } else {
      ++refused;
    }
  }
  // Once found, polls do not feed them any more yields.
  EXPECT_FALSE(yield_while_polling());

  strangers.end();
  // The finding holds 100 ms; the poll that comes after looks again and finds the CPUs free
  // (the window of that look may still hold the strangers' last moments: then one more).
  deadline = steady_clock::now() + patience;
  while (outside_load_known()) {
    ASSERT_LT(steady_clock::now(), deadline) << "busy processes ended but still known";
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // a pause between polls
  }
  // Without strangers, a poll yields again.
  EXPECT_TRUE(yield_while_polling());
}

}  // namespace
