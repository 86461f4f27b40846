// cpu_time.hpp: the CPU time this whole process has used, all its threads together.
//
// Tests that promise an idle runtime or timer service costs no CPU measure it over a window;
// the process clock (CLOCK_PROCESS_CPUTIME_ID) counts every thread, csp's own included.
#pragma once

#include <time.h>

#include <chrono>

namespace csp_test {

inline std::chrono::nanoseconds process_cpu_time() {
  timespec now{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec);
}

}  // namespace csp_test
