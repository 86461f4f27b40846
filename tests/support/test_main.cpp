// test_main.cpp: GoogleTest's main, plus a watchdog that turns a hung test into a fast failure.
//
// Every test gets a time limit (CSP_TEST_TIMEOUT_S, 60 s by default; sanitizer builds are slow).
// A test still running past it is named on stderr, with a dump of every goroutine (what each is
// blocked on, and where it was spawned), and the process aborts, so a deadlock shows up as
// "watchdog: Suite.Name hung for 60 s" and its goroutines instead of a silent CTest timeout.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <mutex>
#include <string>
#include <thread>

#include "csp/diagnostics.hpp"

namespace {

// Writes every goroutine to stderr, then aborts. The dump runs on a thread of its own and gets
// a few seconds at most: a hang inside the runtime may hold what the dump needs, and the abort
// must come regardless. (A hang of 2026-12-01 in the aarch64 CI run left only the test's name.)
[[noreturn]] void dump_goroutines_and_abort() {
  std::packaged_task<void()> dump([] {
    const std::string text = csp::goroutine_dump();
    std::fprintf(stderr, "goroutines at the time:\n%s\n", text.empty() ? "(none)" : text.c_str());
    std::fprintf(stderr, "%s\n", csp::scheduler_trace().c_str());
    std::fflush(stderr);
  });
  std::future<void> written = dump.get_future();
  std::thread(std::move(dump)).detach();
  if (written.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
    std::fprintf(stderr, "(the goroutine dump did not finish within 5 s)\n");
    std::fflush(stderr);
  }
  std::abort();
}

class watchdog : public testing::EmptyTestEventListener {
 public:
  explicit watchdog(std::chrono::seconds limit) : limit_(limit), thread_([this] { watch(); }) {}
  ~watchdog() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }

  void OnTestStart(const testing::TestInfo& info) override {
    std::lock_guard lock(mutex_);
    name_ = std::string(info.test_suite_name()) + "." + info.name();
    deadline_ = std::chrono::steady_clock::now() + limit_;
    running_ = true;
    changed_.notify_all();
  }
  void OnTestEnd(const testing::TestInfo&) override {
    std::lock_guard lock(mutex_);
    running_ = false;
    changed_.notify_all();
  }

 private:
  void watch() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      if (!running_) {
        changed_.wait(lock);
        continue;
      }
      const auto deadline = deadline_;
      if (changed_.wait_until(lock, deadline) == std::cv_status::timeout && running_ &&
          deadline_ == deadline) {
        std::fprintf(stderr, "\nwatchdog: %s hung for %lld s; aborting\n", name_.c_str(),
                     static_cast<long long>(limit_.count()));
        std::fflush(stderr);
        dump_goroutines_and_abort();
      }
    }
  }

  const std::chrono::seconds limit_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::string name_;
  std::chrono::steady_clock::time_point deadline_;
  bool running_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  long seconds = 60;
  if (const char* text = std::getenv("CSP_TEST_TIMEOUT_S"))
    seconds = std::strtol(text, nullptr, 10);
  testing::UnitTest::GetInstance()->listeners().Append(new watchdog(std::chrono::seconds(seconds)));
  return RUN_ALL_TESTS();
}
