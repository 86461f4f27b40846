// compare.cpp: moodycamel::BlockingConcurrentQueue in bench/compare (see
// bench/compare/README.md), used from plain std::threads.
//
//   compare_moodycamel <workload> [max-messages [target-ms]]
//
// Prints `RESULT <metric> moodycamel <value> <unit>` lines, or `NA <metric> moodycamel <reason>`
// for a workload the queue cannot express; checks its own result and exits 1 on a wrong one.
//
// The queue is unbounded and has no close and no select: a producer never waits, so the
// capacity-1024 workloads and seq run it without any bound (the others run at 1024), and the
// receivers stop by count, as in every peer here. Capacity 0 and 1 have no equivalent. Every
// task uses its own producer or consumer token, the queue's documented fast path.
#include <concurrentqueue/blockingconcurrentqueue.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "../harness.hpp"

namespace {

const char* const peer = "moodycamel";
using message = std::int64_t;
using queue_type = moodycamel::BlockingConcurrentQueue<message>;

class channel_under_test {
 public:
  class producer {
   public:
    explicit producer(queue_type& queue) : queue_(&queue), token_(queue) {}
    void send(message value) {
      if (!queue_->enqueue(token_, value)) harness::fail("enqueue could not allocate");
    }

   private:
    queue_type* queue_;
    moodycamel::ProducerToken token_;
  };
  class consumer {
   public:
    explicit consumer(queue_type& queue) : queue_(&queue), token_(queue) {}
    message receive() {
      message value = 0;
      queue_->wait_dequeue(token_, value);
      return value;
    }

   private:
    queue_type* queue_;
    moodycamel::ConsumerToken token_;
  };
  producer sender() { return producer(queue_); }
  consumer receiver() { return consumer(queue_); }
  bool drained() {
    message value = 0;
    return !queue_.try_dequeue(value);
  }

 private:
  queue_type queue_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <workload> [max-messages [target-ms]]\n", argv[0]);
    return 2;
  }
  const std::string name = argv[1];
  if (name == "idle") {
    harness::not_available(name, peer, "no runtime");
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
  if (workload->capacity < 1024 && workload->kind != harness::shape::seq) {
    harness::not_available(name, peer, "unbounded");
    return 0;
  }
  std::printf("INFO %s moodycamel runs unbounded\n", name.c_str());
  harness::thread_launcher launcher;
  const harness::measurement m = harness::measure_transfer(
      workload->kind, workload->capacity, limits, launcher,
      [](std::int64_t) { return std::make_unique<channel_under_test>(); });
  harness::report(name, peer, m);
  return 0;
}
