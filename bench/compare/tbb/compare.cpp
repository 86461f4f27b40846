// compare.cpp: oneTBB's tbb::concurrent_bounded_queue in bench/compare (see
// bench/compare/README.md), used from plain std::threads; only `idle` uses TBB's task scheduler.
//
//   compare_tbb <workload> [max-messages [target-ms]]
//
// Prints `RESULT <metric> tbb <value> <unit>` lines, or `NA <metric> tbb <reason>` for a workload
// the queue cannot express; checks its own result and exits 1 on a wrong one.
//
// What the queue lacks: select, close (abort() throws in every waiter instead; the harness ends
// by count, so none is needed), and capacity 0: set_capacity(0) makes every push block forever
// rather than hand the value to a waiting pop, so there is no rendezvous.
#include <tbb/blocked_range.h>
#include <tbb/concurrent_queue.h>
#include <tbb/parallel_reduce.h>
#include <tbb/task_arena.h>
#include <tbb/version.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "../harness.hpp"

namespace {

const char* const peer = "tbb";
using message = std::int64_t;

class channel_under_test {
 public:
  explicit channel_under_test(std::int64_t capacity) { queue_.set_capacity(capacity); }

  class endpoint {
   public:
    explicit endpoint(tbb::concurrent_bounded_queue<message>& queue) : queue_(&queue) {}
    void send(message value) { queue_->push(value); }
    message receive() {
      message value = 0;
      queue_->pop(value);
      return value;
    }

   private:
    tbb::concurrent_bounded_queue<message>* queue_;
  };
  endpoint sender() { return endpoint(queue_); }
  endpoint receiver() { return endpoint(queue_); }
  bool drained() {
    message value = 0;
    return !queue_.try_pop(value);
  }

 private:
  tbb::concurrent_bounded_queue<message> queue_;
};

// The task scheduler after a parallel_for has woken its workers, with nothing left to do.
void idle() {
  tbb::task_arena arena;
  std::int64_t checksum = 0;
  arena.execute([&] {
    checksum = tbb::parallel_reduce(
        tbb::blocked_range<std::int64_t>(0, 1'000'000), std::int64_t{0},
        [](const tbb::blocked_range<std::int64_t>& range, std::int64_t sum) {
          for (std::int64_t i = range.begin(); i != range.end(); ++i) sum += i;
          return sum;
        },
        [](std::int64_t a, std::int64_t b) { return a + b; });
  });
  if (checksum != harness::expected_sum(1'000'000)) harness::fail("idle warm-up sum");
  // Spinning workers get 100 ms to give up before the measured second.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const double cpu = harness::cpu_seconds();
  const auto start = harness::clock_type::now();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const double wall = std::chrono::duration<double>(harness::clock_type::now() - start).count();
  const double used = harness::cpu_seconds() - cpu;
  std::printf("INFO idle tbb arena of %d threads, %.2f ms CPU in %.3f s\n", arena.max_concurrency(),
              used * 1000, wall);
  harness::result("idle", peer, 100 * used / wall, "%core");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <workload> [max-messages [target-ms]]\n", argv[0]);
    return 2;
  }
  const std::string name = argv[1];
  if (name == "idle") {
    idle();
    return 0;
  }
  const harness::sizing limits = harness::sizing_arguments(argc, argv);
  const auto workload = harness::parse_channel_workload(name);
  if (!workload) {
    std::fprintf(stderr, "unknown workload %s\n", name.c_str());
    return 2;
  }
  if (workload->kind == harness::shape::select_rx ||
      workload->kind == harness::shape::select_both) {
    harness::not_available(name, peer, "no select");
    return 0;
  }
  if (workload->kind != harness::shape::seq && workload->capacity == 0) {
    harness::not_available(name, peer, "no capacity 0");
    return 0;
  }
  harness::thread_launcher launcher;
  const harness::measurement m = harness::measure_transfer(
      workload->kind, workload->capacity, limits, launcher,
      [](std::int64_t capacity) { return std::make_unique<channel_under_test>(capacity); });
  harness::report(name, peer, m);
  return 0;
}
