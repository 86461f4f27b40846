// cpu_time.hpp: the CPU time this whole process has used, all its threads together, and which
// threads used it.
//
// Tests that promise an idle runtime or timer service costs no CPU measure it over a window;
// the process clock (CLOCK_PROCESS_CPUTIME_ID) counts every thread, csp's own included. When
// such a test fails, the per-thread breakdown (cpu_by_thread) says whose work landed in the
// window: a spinning worker is a bug, a worker trimming stacks that an earlier test left is not.
// Such a test starts with wait_until_quiet(), so that what an earlier test in the same process
// left to do (after a burst of 100,000 goroutines, the idle workers give their stacks' memory
// back for about 100 ms) is done before its window opens.
#pragma once

#include <time.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace csp_test {

inline std::chrono::nanoseconds process_cpu_time() {
  timespec now{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec);
}

// Waits, at most `limit`, until the process uses under a tenth of one core over a 50 ms window.
// Returns whether it did. Measurement, not synchronisation: a process that never gets quiet (a
// spinning thread) is what the caller's own window then catches and reports. The window is
// longer than the 20 ms that idle workers wait before they trim stacks, so that a trim that is
// due begins inside it.
inline bool wait_until_quiet(std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  constexpr auto window = std::chrono::milliseconds(50);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    const auto before = process_cpu_time();
    std::this_thread::sleep_for(window);
    if (process_cpu_time() - before < window / 10) return true;
  }
  return false;
}

struct thread_cpu {
  std::string name;
  std::chrono::nanoseconds used{0};
};

// Every live thread of this process by id, with its name and the CPU time it has used
// (schedstat's first field, in nanoseconds). Threads that exit between two snapshots drop out.
inline std::map<int, thread_cpu> cpu_by_thread() {
  std::map<int, thread_cpu> threads;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task", error)) {
    const auto& directory = entry.path();
    std::ifstream schedstat(directory / "schedstat");
    long long used = 0;
    if (!(schedstat >> used)) continue;  // the thread has exited
    std::string name;
    std::getline(std::ifstream(directory / "comm") >> std::ws, name);
    threads[std::stoi(directory.filename().string())] = {name, std::chrono::nanoseconds(used)};
  }
  return threads;
}

// The threads that used CPU between two snapshots, busiest first, as "name (tid): 1.2 ms; ...".
inline std::string busiest_threads(const std::map<int, thread_cpu>& before,
                                   const std::map<int, thread_cpu>& after) {
  std::vector<std::pair<std::chrono::nanoseconds, std::string>> used;
  for (const auto& [id, thread] : after) {
    const auto earlier = before.find(id);
    const auto delta = thread.used - (earlier == before.end() ? std::chrono::nanoseconds(0)
                                                              : earlier->second.used);
    if (delta <= std::chrono::nanoseconds(0)) continue;
    std::ostringstream line;
    line << thread.name << " (" << id
         << "): " << std::chrono::duration<double, std::milli>(delta).count() << " ms";
    used.emplace_back(delta, line.str());
  }
  std::sort(used.begin(), used.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  std::string text;
  for (const auto& entry : used) text += (text.empty() ? "" : "; ") + entry.second;
  return text.empty() ? "no thread used CPU" : text;
}

}  // namespace csp_test
