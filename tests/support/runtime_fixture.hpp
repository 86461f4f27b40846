// runtime_fixture.hpp: a GoogleTest fixture that runs a test under several worker counts (marl's
// WithBoundScheduler idea), and helpers shared by the goroutine tests.
//
//   class GoTest : public csp_test::RuntimeTest {};
//   TEST_P(GoTest, Something) { ... procs() ... }
//   CSP_INSTANTIATE_RUNTIME_TEST(GoTest);   // runs it with max_procs 1, 2 and 4 (TSan: 2)
//
// SetUp sets csp::set_max_procs(GetParam()) (it can change at run time) and notes how many
// goroutines exist; TearDown waits, bounded, until every goroutine the test started has exited —
// a goroutine left blocked is a leak, reported with a goroutine dump — and then restores the
// previous worker count, so tests that share a process do not see each other's settings.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <semaphore>
#include <string>
#include <thread>

#include "csp/diagnostics.hpp"
#include "csp/go.hpp"
#include "csp/wait_group.hpp"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CSP_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CSP_TEST_SANITIZED 1
#endif
#endif
#ifndef CSP_TEST_SANITIZED
#define CSP_TEST_SANITIZED 0
#endif

#if defined(__SANITIZE_ADDRESS__)
#define CSP_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CSP_TEST_ASAN 1
#endif
#endif
#ifndef CSP_TEST_ASAN
#define CSP_TEST_ASAN 0
#endif

#if defined(__SANITIZE_THREAD__)
#define CSP_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CSP_TEST_TSAN 1
#endif
#endif
#ifndef CSP_TEST_TSAN
#define CSP_TEST_TSAN 0
#endif

namespace csp_test {

using namespace std::chrono_literals;

inline constexpr bool sanitized = CSP_TEST_SANITIZED != 0;
inline constexpr bool asan = CSP_TEST_ASAN != 0;
inline constexpr bool tsan = CSP_TEST_TSAN != 0;

// How long any bounded wait gives its partner before the test fails.
inline constexpr auto patience = std::chrono::seconds(sanitized ? 30 : 10);

// An iteration count, divided by `divisor` (at least 1 is left) under a sanitizer.
constexpr int scaled(int n, int divisor = 10) { return sanitized ? std::max(1, n / divisor) : n; }

// Waits until at most `target` goroutines exist, for at most `limit`; polls with a short
// backoff (a yield, then sleeps of up to 1 ms: this is a poll, not synchronisation).
inline bool wait_for_goroutine_count(std::int64_t target,
                                     std::chrono::steady_clock::duration limit = patience) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  auto pause = std::chrono::microseconds(1);
  for (int round = 0; csp::goroutine_count() > target; ++round) {
    if (std::chrono::steady_clock::now() >= give_up) return false;
    if (round < 64) {
      csp::yield();
    } else {
      std::this_thread::sleep_for(pause);
      pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(1));
    }
  }
  return true;
}

// Runs `f` on a plain thread and waits, at most `limit`, for it to return. A call that does not
// return is a hang: it is named on stderr with a goroutine dump, and the process aborts — what
// the test main's watchdog would do later, and without a chance to return while `f` still uses
// the test's objects.
template <class F>
void must_finish(const char* what, F&& f, std::chrono::steady_clock::duration limit = patience) {
  std::binary_semaphore finished(0);
  std::thread party([&] {
    f();
    finished.release();
  });
  if (!finished.try_acquire_for(limit)) {
    std::fprintf(
        stderr, "\nhung: %s did not finish within %lld s\n%s", what,
        static_cast<long long>(std::chrono::duration_cast<std::chrono::seconds>(limit).count()),
        csp::goroutine_dump().c_str());
    std::fflush(stderr);
    std::abort();
  }
  party.join();
}

// Waits for `wg` on a plain thread, bounded as must_finish() is.
inline void wait_bounded(csp::wait_group& wg,
                         std::chrono::steady_clock::duration limit = patience) {
  must_finish(
      "wait_group::wait", [&wg] { wg.wait(); }, limit);
}

class RuntimeTest : public testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    previous_procs_ = csp::set_max_procs(GetParam());
    baseline_ = csp::goroutine_count();
  }

  void TearDown() override {
    if (!wait_for_goroutine_count(baseline_)) {
      ADD_FAILURE() << "goroutines left running after the test: " << csp::goroutine_count()
                    << " exist, " << baseline_ << " did before it\n"
                    << csp::goroutine_dump();
    }
    csp::set_max_procs(previous_procs_);
  }

  // The worker count this instance runs with.
  int procs() const { return GetParam(); }
  // How many goroutines existed when the test started.
  std::int64_t baseline() const { return baseline_; }

 private:
  int previous_procs_ = 0;
  std::int64_t baseline_ = 0;
};

inline std::string procs_name(const testing::TestParamInfo<int>& info) {
  return "procs" + std::to_string(info.param);
}

}  // namespace csp_test

// Instantiates a RuntimeTest-derived suite with 1, 2 and 4 worker threads; under TSan with 2
// only. (TSan sleeps atexit_sleep_ms, 1 s by default, at the exit of every process that still
// has other threads, and the runtime's workers never exit: each test process costs a second.)
#if CSP_TEST_TSAN
#define CSP_RUNTIME_TEST_PROCS testing::Values(2)
#else
#define CSP_RUNTIME_TEST_PROCS testing::Values(1, 2, 4)
#endif
#define CSP_INSTANTIATE_RUNTIME_TEST(Suite) \
  INSTANTIATE_TEST_SUITE_P(Procs, Suite, CSP_RUNTIME_TEST_PROCS, csp_test::procs_name)
