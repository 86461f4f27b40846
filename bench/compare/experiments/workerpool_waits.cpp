// workerpool_waits.cpp: the workerpool workload (compare.cpp's: 2 workers ranging over a jobs
// channel of capacity 100, results on another, 20,000 jobs of ~20 us), with every channel
// operation timed, to see where the pool loses against its ceiling (bench/compare/README.md,
// "workerpool" under run v). An operation that took over 2 us waited: the party parked, or
// its worker ran someone else first. Printed per party: operations, waits, their total and how
// many fell under 4, 8, 16, 32 and 64 us;
// per thread of the process: its time on a core and waiting for one (schedstat).
// workerpool_waits.go is the same program in Go, for a side-by-side run.
//
// Usage: workerpool_waits [ITERATIONS]   (the job length: `compare_csp calibrate` prints it)
// Built as build/release/bench/csp_workerpool_waits (bench/CMakeLists.txt).
// Example: for i in 1 2 3; do build/release/bench/csp_workerpool_waits 10361;
//            (cd bench/compare/experiments && go run workerpool_waits.go 10361); done
#include <dirent.h>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <string>

#include "../harness.hpp"
#include "csp/csp.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

struct tally {
  long operations = 0;
  long waits = 0;
  double waited_us = 0;
  // Waits by length: under 4, 8, 16, 32 and 64 us, and longer.
  long by_length[6] = {};

  template <class Operation>
  void time(Operation operation) {
    const auto start = clock_type::now();
    operation();
    const double us = std::chrono::duration<double, std::micro>(clock_type::now() - start).count();
    ++operations;
    if (us > 2) {
      ++waits;
      waited_us += us;
      int bucket = 0;
      for (double bound = 4; bucket < 5 && us >= bound; bound *= 2) ++bucket;
      ++by_length[bucket];
    }
  }

  void print(const char* party) const {
    std::printf(
        "%s ops %ld waits %ld (%.1f ms) [<4us %ld, <8 %ld, <16 %ld, <32 %ld, <64 %ld, more %ld]  ",
        party, operations, waits, waited_us / 1000, by_length[0], by_length[1], by_length[2],
        by_length[3], by_length[4], by_length[5]);
  }
};

// Nanoseconds on a core and waiting for one, per thread of this process, by name and thread id:
// the machines, and the thread that called csp::run, which waits beside them.
std::map<std::string, std::pair<double, double>> thread_times() {
  std::map<std::string, std::pair<double, double>> times;
  DIR* tasks = ::opendir("/proc/self/task");
  if (tasks == nullptr) return times;
  while (const dirent* entry = ::readdir(tasks)) {
    if (entry->d_name[0] == '.') continue;
    const std::string dir = std::string("/proc/self/task/") + entry->d_name;
    std::string name;
    std::getline(std::ifstream(dir + "/comm"), name);
    double on_cpu = 0;
    double waiting = 0;
    std::ifstream(dir + "/schedstat") >> on_cpu >> waiting;
    times[name + "-" + entry->d_name] = {on_cpu, waiting};
  }
  ::closedir(tasks);
  return times;
}

}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t iterations = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 10361;
  constexpr int jobs_count = 20'000;
  constexpr int workers = 2;
  csp::run([&] {
    tally consumer, producer, receives[workers], sends[workers];
    const auto before = thread_times();
    const auto start = clock_type::now();
    csp::channel<int> jobs(100);
    csp::channel<std::uint64_t> results(100);
    csp::wait_group done;
    done.add(workers + 1);
    for (int w = 0; w < workers; ++w) {
      csp::go([&, w] {
        for (;;) {
          std::optional<int> job;
          receives[w].time([&] { job = jobs.receive(); });
          if (!job) break;
          const std::uint64_t result =
              harness::work(static_cast<std::uint64_t>(*job) + 1, iterations);
          sends[w].time([&] { results.send(result); });
        }
        done.done();
      });
    }
    csp::go([&] {
      for (int j = 0; j < jobs_count; ++j) producer.time([&] { jobs.send(j); });
      jobs.close();
      done.done();
    });
    for (int j = 0; j < jobs_count; ++j) consumer.time([&] { (void)results.receive(); });
    const double ms = std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
    const auto after = thread_times();
    done.wait();
    std::printf("parallel %.1f ms | ", ms);
    consumer.print("consumer");
    producer.print("producer");
    for (int w = 0; w < workers; ++w) {
      std::printf("worker %d: ", w);
      receives[w].print("receive");
      sends[w].print("send");
    }
    for (const auto& [id, times] : after) {
      const auto then = before.find(id);
      if (then == before.end()) continue;
      std::printf("thread %s: on a core %.1f ms, waiting for one %.1f ms  ", id.c_str(),
                  (times.first - then->second.first) / 1e6,
                  (times.second - then->second.second) / 1e6);
    }
    std::printf("\n");
  });
}
