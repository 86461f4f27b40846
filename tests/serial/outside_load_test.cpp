// outside_load_test.cpp: how a plain thread's poll finds busy processes outside its own
// (src/outside_load.cpp): found beside them, forgotten once they end.
//
// These tests start busy processes of their own and judge how busy the machine is, so CTest
// runs them alone (RUN_SERIAL, tests/CMakeLists.txt): another test running beside them would
// be a busy stranger too. Every wait is bounded; a bound reached fails with what was seen, or
// skips where an independent reading shows other processes loading the machine meanwhile.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "csp/detail/parker.hpp"
#include "support/cpu_time.hpp"

namespace {

using std::chrono::steady_clock;
constexpr auto patience = std::chrono::seconds(20);
constexpr auto forget_patience = std::chrono::seconds(5);

// The share of the CPUs that other processes used since construction: the busy ticks of
// /proc/stat's total line, less this process's CPU time, over the elapsed time and the CPUs.
// An independent reading of what the library judges, over a much longer window.
class cpu_share {
 public:
  cpu_share() : start_(steady_clock::now()), busy_(busy_seconds()), ours_(our_seconds()) {}
  double of_others() const {
    const double elapsed = std::chrono::duration<double>(steady_clock::now() - start_).count();
    const double others = (busy_seconds() - busy_) - (our_seconds() - ours_);
    return others / (elapsed * ::get_nprocs());
  }

 private:
  static double busy_seconds() {
    std::ifstream stat("/proc/stat");
    std::string cpu;
    long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0;
    stat >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq;
    return static_cast<double>(user + nice + system + irq + softirq) / ::sysconf(_SC_CLK_TCK);
  }
  static double our_seconds() {
    return std::chrono::duration<double>(csp_test::process_cpu_time()).count();
  }
  steady_clock::time_point start_;
  double busy_;
  double ours_;
};

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
  const auto deadline = steady_clock::now() + patience;
  unsigned long yields = 0;
  while (!outside_load_known()) {
    ASSERT_LT(steady_clock::now(), deadline)
        << strangers.count() << " busy processes not found after " << yields << " yields";
    if (yield_while_polling()) ++yields;
  }
  // Once found, polls do not feed them any more yields.
  EXPECT_FALSE(yield_while_polling());

  strangers.end();
  // The finding holds 100 ms; the poll that comes after looks again and finds the CPUs free
  // (the window of that look may still hold the strangers' last moments: then one more). If
  // other processes keep the machine busy meanwhile (a build beside the suite), holding the
  // finding is right: the test then measures the machine itself over its wait and skips.
  const cpu_share share;
  const auto forget_by = steady_clock::now() + forget_patience;
  while (outside_load_known()) {
    if (steady_clock::now() > forget_by) {
      const double others = share.of_others();
      if (others > 0.25) {
        GTEST_SKIP() << "other processes used " << others * 100
                     << "% of the CPUs while this waited: the finding rightly held";
      }
      FAIL() << "busy processes ended but still known, with others using only " << others * 100
             << "% of the CPUs";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // a pause between polls
  }
  // Without strangers, a poll yields again.
  EXPECT_TRUE(yield_while_polling());
}

}  // namespace
