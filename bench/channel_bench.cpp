// channel_bench.cpp: csp::channel<int> against the bounded queue a C++ developer writes by hand
// (std::mutex, condition variables, std::deque), from plain std::threads.
//
// Scenarios (see bench/README.md):
//   BM_Spsc/<impl>/buffered       1 producer, 1 consumer, capacity 1024
//   BM_Spsc/<impl>/unbuffered     1 producer, 1 consumer, capacity 0 (rendezvous)
//   BM_Mpmc/<impl>/buffered       4 producers, 4 consumers, capacity 1024
//   BM_Mpmc/<impl>/unbuffered     4 producers, 4 consumers, capacity 0
//   BM_PingPong/<impl>            two threads, two unbuffered channels, one round trip per item
//   .../oversubscribed            the same with every worker thread pinned to CPU 0
//   .../two_cores                 SPSC and ping-pong with one side pinned to CPU 0 and the other
//                                 to CPU 1 (the unpinned runs land on one core or on two as the
//                                 scheduler pleases; these two variants take the choice away)
//
// Every iteration starts the threads, moves `items` values, closes and joins. Besides
// items_per_second (wall clock), each benchmark reports the CPU time of the whole process over
// the measured region: cpu_util (process CPU seconds per wall second; 2.0 = two cores busy)
// and cpu_per_item_ns, so spinning shows up even where it buys throughput.
#include <benchmark/benchmark.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "csp/channel.hpp"

namespace {

// ---------------------------------------------------------------------------------------------
// The baseline: a bounded blocking queue with close(), as written by hand.
//
// Capacity n > 0: senders wait while n values are queued, receivers while none are. Capacity 0
// behaves as Go's unbuffered channel: a send queues its value (one at a time) and then waits
// until a receiver has taken it, which needs a third condition variable for the hand-off
// acknowledgement.
class condvar_queue {
 public:
  explicit condvar_queue(std::size_t capacity) : capacity_(capacity) {}

  // False if the queue is closed.
  bool send(int value) {
    std::unique_lock lock(mutex_);
    const std::size_t room = std::max<std::size_t>(capacity_, 1);
    not_full_.wait(lock, [&] { return closed_ || items_.size() < room; });
    if (closed_) return false;
    items_.push_back(value);
    const std::uint64_t ticket = ++pushed_;
    if (capacity_ == 0) {
      not_empty_.notify_one();
      taken_.wait(lock, [&] { return closed_ || popped_ >= ticket; });
      return popped_ >= ticket;
    }
    lock.unlock();
    not_empty_.notify_one();
    return true;
  }

  // Empty once the queue is closed and drained.
  std::optional<int> receive() {
    std::unique_lock lock(mutex_);
    not_empty_.wait(lock, [&] { return closed_ || !items_.empty(); });
    if (items_.empty()) return std::nullopt;
    const int value = items_.front();
    items_.pop_front();
    ++popped_;
    lock.unlock();
    not_full_.notify_one();
    if (capacity_ == 0) taken_.notify_all();
    return value;
  }

  void close() {
    {
      const std::lock_guard lock(mutex_);
      closed_ = true;
    }
    not_full_.notify_all();
    not_empty_.notify_all();
    taken_.notify_all();
  }

 private:
  const std::size_t capacity_;
  std::mutex mutex_;
  std::condition_variable not_full_;
  std::condition_variable not_empty_;
  std::condition_variable taken_;
  std::deque<int> items_;
  std::uint64_t pushed_ = 0;
  std::uint64_t popped_ = 0;
  bool closed_ = false;
};

// ---------------------------------------------------------------------------------------------
// The two implementations behind one interface.

struct csp_impl {
  static constexpr const char* name = "csp";
  using queue = csp::channel<int>;
  static void send(queue& q, int value) { q.send(value); }
  static std::optional<int> receive(queue& q) { return q.receive(); }
  static void close(queue& q) { q.close(); }
};

struct condvar_impl {
  static constexpr const char* name = "mutex_condvar";
  using queue = condvar_queue;
  static void send(queue& q, int value) { (void)q.send(value); }
  static std::optional<int> receive(queue& q) { return q.receive(); }
  static void close(queue& q) { q.close(); }
};

// ---------------------------------------------------------------------------------------------
// Measuring

// Values moved per iteration: the same for both implementations. Rendezvous scenarios move
// fewer, because the baseline needs tens of microseconds per hand-off on a VM.
constexpr std::int64_t buffered_items = 100'000;
constexpr std::int64_t rendezvous_items = 20'000;
constexpr std::size_t buffered_capacity = 1024;

double process_cpu_seconds() {
  timespec now{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

// Where the worker threads run.
enum class placement {
  any,        // wherever the scheduler puts them
  one_core,   // all pinned to CPU 0: oversubscribed
  two_cores,  // sending side (producers, ping caller) on CPU 0, receiving side on CPU 1
};

// Pins the calling thread as `where` says, `side` 0 being the sending side.
void place(placement where, int side) {
  if (where == placement::any) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(where == placement::two_cores ? side : 0, &set);
  pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

// Runs `body` once per iteration and reports throughput and whole-process CPU use. `body`
// returns the checksum of what was received; it must equal the checksum of what was sent.
void measure(benchmark::State& state, std::int64_t items, std::int64_t expected_checksum,
             const std::function<std::int64_t()>& body) {
  double cpu = 0;
  double wall = 0;
  for (auto _ : state) {
    const double cpu_start = process_cpu_seconds();
    const auto wall_start = std::chrono::steady_clock::now();
    const std::int64_t checksum = body();
    wall += std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
    cpu += process_cpu_seconds() - cpu_start;
    if (checksum != expected_checksum) {
      state.SkipWithError("received values do not match the sent ones");
      break;
    }
  }
  const double total_items = static_cast<double>(items) * static_cast<double>(state.iterations());
  state.SetItemsProcessed(static_cast<std::int64_t>(total_items));
  state.counters["cpu_util"] = benchmark::Counter(wall > 0 ? cpu / wall : 0);
  state.counters["cpu_per_item_ns"] =
      benchmark::Counter(total_items > 0 ? cpu * 1e9 / total_items : 0);
}

std::int64_t checksum_of_range(std::int64_t count) { return count * (count - 1) / 2; }

// P producers send `items` values in total (0 .. items-1, split between them); C consumers
// receive until the queue is closed. The main thread closes after the producers finish.
template <class Impl>
void producers_consumers(benchmark::State& state, std::size_t capacity, int producers,
                         int consumers, placement where) {
  const std::int64_t items = capacity == 0 ? rendezvous_items : buffered_items;
  measure(state, items, checksum_of_range(items), [&] {
    typename Impl::queue queue(capacity);
    std::atomic<std::int64_t> checksum{0};
    std::vector<std::thread> receivers;
    for (int c = 0; c < consumers; ++c) {
      receivers.emplace_back([&] {
        place(where, 1);
        std::int64_t sum = 0;
        while (const std::optional<int> value = Impl::receive(queue)) sum += *value;
        checksum.fetch_add(sum, std::memory_order_relaxed);
      });
    }
    std::vector<std::thread> senders;
    for (int p = 0; p < producers; ++p) {
      senders.emplace_back([&, p] {
        place(where, 0);
        for (std::int64_t i = p; i < items; i += producers) Impl::send(queue, static_cast<int>(i));
      });
    }
    for (auto& thread : senders) thread.join();
    Impl::close(queue);
    for (auto& thread : receivers) thread.join();
    return checksum.load();
  });
}

// Two threads, two unbuffered queues: A sends i on `ping` and waits for it back on `pong`.
template <class Impl>
void ping_pong(benchmark::State& state, placement where) {
  const std::int64_t items = rendezvous_items;
  measure(state, items, checksum_of_range(items), [&] {
    typename Impl::queue ping(0);
    typename Impl::queue pong(0);
    std::int64_t checksum = 0;
    std::thread echo([&] {
      place(where, 1);
      while (const std::optional<int> value = Impl::receive(ping)) Impl::send(pong, *value);
    });
    std::thread caller([&] {
      place(where, 0);
      for (std::int64_t i = 0; i < items; ++i) {
        Impl::send(ping, static_cast<int>(i));
        checksum += *Impl::receive(pong);
      }
      Impl::close(ping);
    });
    caller.join();
    echo.join();
    return checksum;
  });
}

template <class Impl>
void register_all() {
  const std::string impl = Impl::name;
  auto add = [](const std::string& name, auto function) {
    benchmark::RegisterBenchmark(name.c_str(), function)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  };
  using enum placement;
  add("BM_Spsc/" + impl + "/buffered", [](benchmark::State& state) {
    producers_consumers<Impl>(state, buffered_capacity, 1, 1, any);
  });
  add("BM_Spsc/" + impl + "/unbuffered",
      [](benchmark::State& state) { producers_consumers<Impl>(state, 0, 1, 1, any); });
  add("BM_Mpmc/" + impl + "/buffered", [](benchmark::State& state) {
    producers_consumers<Impl>(state, buffered_capacity, 4, 4, any);
  });
  add("BM_Mpmc/" + impl + "/unbuffered",
      [](benchmark::State& state) { producers_consumers<Impl>(state, 0, 4, 4, any); });
  add("BM_PingPong/" + impl, [](benchmark::State& state) { ping_pong<Impl>(state, any); });
  struct variant {
    const char* suffix;
    placement where;
  };
  for (const variant v : {variant{"/oversubscribed", one_core}, variant{"/two_cores", two_cores}}) {
    const placement where = v.where;
    add("BM_Spsc/" + impl + "/buffered" + v.suffix, [where](benchmark::State& state) {
      producers_consumers<Impl>(state, buffered_capacity, 1, 1, where);
    });
    add("BM_Spsc/" + impl + "/unbuffered" + v.suffix,
        [where](benchmark::State& state) { producers_consumers<Impl>(state, 0, 1, 1, where); });
    add("BM_PingPong/" + impl + v.suffix,
        [where](benchmark::State& state) { ping_pong<Impl>(state, where); });
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all<csp_impl>();
  register_all<condvar_impl>();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
