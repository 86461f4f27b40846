// compare.cpp: the Boost.Fiber side of bench/compare (see bench/compare/README.md).
//
//   compare_boost <workload> [work-iterations | max-messages [target-ms]]
//
// Schedulers: pingpong and sieve run on one thread with the default round_robin scheduler;
// every other workload runs on 2 threads (the main one and a helper; CMP_BOOST_THREADS changes
// the count, run.sh sets 1 for the pinned runs) with algo::work_stealing (suspend = false,
// Boost's default: an idle thread spins; `idle_suspend` measures suspend = true). Every fiber
// uses a fixedsize_stack of 16 KiB (malloc'd; Boost's default of 128 KiB goes through mmap,
// one kernel mapping per fiber, and 1,000,000 fibers exceed vm.max_map_count). Channels:
// boost::fibers::unbuffered_channel, and buffered_channel where the other peers use a buffered
// channel — its capacity must be a power of two and holds capacity - 1 values, so the next
// power of two above the others' capacity is used (2 for 1, 2048 for 1024). Boost.Fiber has no
// select: the select workloads print `NA`.
#include <boost/fiber/all.hpp>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../harness.hpp"

namespace fibers = boost::fibers;

namespace {

using clock_type = std::chrono::steady_clock;
const char* const peer = "boost";
constexpr std::size_t stack_size = 16 * 1024;

double ms_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}
double ns_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::nano>(clock_type::now() - start).count();
}

// Set during a workload's warm-up run, whose results are not reported.
bool warming_up = false;

void result(const char* metric, double value, const char* unit) {
  if (warming_up) return;
  std::printf("RESULT %s %s %.6g %s\n", metric, peer, value, unit);
  std::fflush(stdout);
}

[[noreturn]] void fail(const std::string& message) {
  std::fprintf(stderr, "WRONG RESULT: %s\n", message.c_str());
  std::fflush(stderr);
  std::_Exit(1);
}

std::int64_t status_bytes(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::size_t length = std::strlen(field);
  while (std::getline(in, line)) {
    if (line.compare(0, length, field) == 0 && line.size() > length && line[length] == ':') {
      return std::atoll(line.c_str() + length + 1) * 1024;
    }
  }
  return -1;
}

using harness::work;  // the worker pool's job, the same in every peer

// Starts a detached fiber with the benchmark's stack size.
template <class F, class... Args>
void spawn_fiber(F&& f, Args&&... args) {
  fibers::fiber(std::allocator_arg, fibers::fixedsize_stack(stack_size), std::forward<F>(f),
                std::forward<Args>(args)...)
      .detach();
}

// Go's sync.WaitGroup on fiber primitives.
class wait_group {
 public:
  void add(std::int64_t n) { count_.fetch_add(n); }
  void done() {
    if (count_.fetch_sub(1) == 1) {
      std::unique_lock lock(mutex_);
      cv_.notify_all();
    }
  }
  void wait() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [this] { return count_.load() == 0; });
  }

 private:
  std::atomic<std::int64_t> count_{0};
  fibers::mutex mutex_;
  fibers::condition_variable cv_;
};

// The work_stealing pool's thread count: 2 (the cores here), or CMP_BOOST_THREADS.
std::uint32_t pool_threads() {
  const char* text = std::getenv("CMP_BOOST_THREADS");
  const int threads = text ? std::atoi(text) : 2;
  return threads > 0 ? static_cast<std::uint32_t>(threads) : 2;
}

// Runs `body` as the main fiber of a work_stealing pool of pool_threads() threads (this one and
// the rest as helpers) and returns when it has returned.
template <class Body>
void with_work_stealing(Body body, bool suspend = false) {
  const std::uint32_t threads = pool_threads();
  std::printf("INFO scheduler boost work_stealing(%u threads, suspend=%s)\n", threads,
              suspend ? "true" : "false");
  fibers::mutex mutex;
  fibers::condition_variable cv;
  bool finished = false;
  std::vector<std::thread> helpers;
  for (std::uint32_t t = 1; t < threads; ++t) {
    helpers.emplace_back([&] {
      fibers::use_scheduling_algorithm<fibers::algo::work_stealing>(threads, suspend);
      std::unique_lock lock(mutex);
      cv.wait(lock, [&] { return finished; });
    });
  }
  fibers::use_scheduling_algorithm<fibers::algo::work_stealing>(threads, suspend);
  body();
  {
    std::unique_lock lock(mutex);
    finished = true;
  }
  cv.notify_all();
  for (auto& t : helpers) t.join();
}

void round_robin_note() { std::printf("INFO scheduler boost round_robin (1 thread)\n"); }

// --- 1. pingpong ---------------------------------------------------------------------------
void pingpong() {
  round_robin_note();
  constexpr std::int64_t n = 200'000;
  fibers::unbuffered_channel<std::int64_t> ping, pong;
  fibers::fiber echo(std::allocator_arg, fibers::fixedsize_stack(stack_size), [&] {
    for (std::int64_t v : ping) pong.push(v + 1);
  });
  // Warm-up: both fibers have run before the timer starts.
  for (std::int64_t i = 0; i < n / 20; ++i) {
    ping.push(i);
    std::int64_t v = 0;
    pong.pop(v);
    if (v != i + 1) fail("pingpong warm-up");
  }
  std::int64_t sum = 0;
  const auto start = clock_type::now();
  for (std::int64_t i = 0; i < n; ++i) {
    ping.push(i);
    std::int64_t v = 0;
    pong.pop(v);
    sum += v;
  }
  const double ns = ns_since(start);
  ping.close();
  echo.join();
  if (sum != n * (n + 1) / 2) fail("pingpong sum " + std::to_string(sum));
  result("pingpong", ns / n, "ns/roundtrip");
}

// --- 2. sieve (test/chan/sieve1.go) ----------------------------------------------------------
// Channels are shared_ptrs: like Go's, they live as long as a goroutine refers to them.
using int_channel = std::shared_ptr<fibers::unbuffered_channel<int>>;

void generate(int_channel ch) {
  for (int i = 2;; ++i) ch->push(i);
}
void filter(int_channel in, int_channel out, int prime) {
  for (int i : *in) {
    if (i % prime != 0) out->push(i);
  }
}
void sieve_chain(int_channel primes) {
  auto ch = std::make_shared<fibers::unbuffered_channel<int>>();
  spawn_fiber(generate, ch);
  for (;;) {
    int prime = 0;
    ch->pop(prime);
    primes->push(prime);
    auto ch1 = std::make_shared<fibers::unbuffered_channel<int>>();
    spawn_fiber(filter, ch, ch1, prime);
    ch = ch1;
  }
}
void sieve() {
  round_robin_note();
  constexpr int n = 2000;
  const auto start = clock_type::now();
  auto primes = std::make_shared<fibers::unbuffered_channel<int>>();
  spawn_fiber(sieve_chain, primes);
  int prime = 0;
  for (int i = 0; i < n; ++i) primes->pop(prime);
  const double ms = ms_since(start);
  if (prime != 17389) fail("sieve: 2000th prime " + std::to_string(prime));
  result("sieve", ms, "ms");
  // Like Go's main: end the process with the sieve's fibers still blocked (Boost's scheduler
  // would otherwise wait for them at thread exit).
  std::fflush(stdout);
  std::_Exit(0);
}

// --- 3. skynet -------------------------------------------------------------------------------
using result_channel = std::shared_ptr<fibers::unbuffered_channel<std::int64_t>>;

void skynet_node(result_channel c, std::int64_t num, std::int64_t size, std::int64_t div) {
  if (size == 1) {
    c->push(num);
    return;
  }
  auto rc = std::make_shared<fibers::unbuffered_channel<std::int64_t>>();
  for (std::int64_t i = 0; i < div; ++i) {
    spawn_fiber(skynet_node, rc, num + i * (size / div), size / div, div);
  }
  std::int64_t sum = 0;
  for (std::int64_t i = 0; i < div; ++i) {
    std::int64_t v = 0;
    rc->pop(v);
    sum += v;
  }
  c->push(sum);
}
void skynet() {
  with_work_stealing([] {
    const auto start = clock_type::now();
    auto c = std::make_shared<fibers::unbuffered_channel<std::int64_t>>();
    spawn_fiber(skynet_node, c, 0, 1'000'000, 10);
    std::int64_t sum = 0;
    c->pop(sum);
    const double ms = ms_since(start);
    if (sum != 499'999'500'000) fail("skynet sum " + std::to_string(sum));
    result("skynet", ms, "ms");
  });
}

// --- 4. spawn --------------------------------------------------------------------------------
void spawn() {
  constexpr std::int64_t n = 100'000;
  with_work_stealing([] {
    // Leaked on purpose: a fiber may still be inside push() after the last pop.
    auto& ch = *new fibers::buffered_channel<std::int64_t>(131'072);  // holds 131,071 >= n
    const std::int64_t baseline = status_bytes("VmRSS");
    const auto start = clock_type::now();
    for (std::int64_t i = 0; i < n; ++i) {
      spawn_fiber([&ch, i] { ch.push(i); });
    }
    std::int64_t sum = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      std::int64_t v = 0;
      ch.pop(v);
      sum += v;
    }
    const double ms = ms_since(start);
    const std::int64_t peak = status_bytes("VmHWM");
    if (sum != n * (n - 1) / 2) fail("spawn sum " + std::to_string(sum));
    result("spawn", ms, "ms");
    result("spawn_mem", static_cast<double>(peak - baseline) / n, "B/goroutine");
  });
}

// --- 5. workerpool ---------------------------------------------------------------------------
void workerpool(std::uint64_t iterations) {
  constexpr int jobs_count = 20'000;
  constexpr int workers = 2;
  auto start = clock_type::now();
  std::uint64_t expected = 0;
  for (int j = 0; j < jobs_count; ++j) expected += work(j + 1, iterations);
  const double sequential_ms = ms_since(start);

  with_work_stealing([&] {
    const auto start = clock_type::now();
    fibers::buffered_channel<int> jobs(128);  // holds 127 (others: 100)
    fibers::buffered_channel<std::uint64_t> results(128);
    // The channels live here: wait for every fiber before leaving. The wait group is leaked on
    // purpose, as the last done() may still touch it after wait() returned.
    auto& finished = *new wait_group;
    finished.add(workers + 1);
    for (int w = 0; w < workers; ++w) {
      spawn_fiber([&] {
        for (int j : jobs) results.push(work(j + 1, iterations));
        finished.done();
      });
    }
    spawn_fiber([&] {
      for (int j = 0; j < jobs_count; ++j) jobs.push(j);
      jobs.close();
      finished.done();
    });
    std::uint64_t sum = 0;
    for (int j = 0; j < jobs_count; ++j) {
      std::uint64_t v = 0;
      results.pop(v);
      sum += v;
    }
    const double parallel_ms = ms_since(start);
    finished.wait();
    if (sum != expected) fail("workerpool checksum");
    result("workerpool", sequential_ms / (workers * parallel_ms), "efficiency");
    result("workerpool_ms", parallel_ms, "ms");
    std::printf("INFO workerpool boost sequential %.2f ms, parallel %.2f ms, %.2f us/job\n",
                sequential_ms, parallel_ms, sequential_ms * 1000 / jobs_count);
  });

  // The machine's ceiling right now: the same jobs split in halves over 2 plain threads.
  start = clock_type::now();
  std::uint64_t halves[workers] = {};
  {
    std::vector<std::thread> pool;
    for (int w = 0; w < workers; ++w) {
      pool.emplace_back([&halves, w, iterations] {
        for (int j = w; j < jobs_count; j += workers) halves[w] += work(j + 1, iterations);
      });
    }
    for (auto& t : pool) t.join();
  }
  const double ceiling_ms = ms_since(start);
  if (halves[0] + halves[1] != expected) fail("workerpool ceiling checksum");
  result("workerpool_ceiling", sequential_ms / (workers * ceiling_ms), "efficiency");
}

// --- 6. parked -------------------------------------------------------------------------------
void parked() {
  constexpr std::int64_t n = 1'000'000;
  with_work_stealing([] {
    // Leaked on purpose: the last fiber may still be leaving gate.pop() or wg.done() when
    // wg.wait() returns.
    auto& gate = *new fibers::unbuffered_channel<int>;
    auto& wg = *new wait_group;
    auto& waiting = *new std::atomic<std::int64_t>{0};
    auto& released = *new std::atomic<std::int64_t>{0};
    const std::int64_t baseline = status_bytes("VmRSS");
    const auto start = clock_type::now();
    wg.add(n);
    for (std::int64_t i = 0; i < n; ++i) {
      spawn_fiber([&] {
        waiting.fetch_add(1, std::memory_order_relaxed);
        int v = 0;
        if (gate.pop(v) == fibers::channel_op_status::closed) {
          released.fetch_add(1, std::memory_order_relaxed);
        }
        wg.done();
      });
    }
    while (waiting.load() < n) boost::this_fiber::sleep_for(std::chrono::milliseconds(1));
    const double park_ms = ms_since(start);
    const auto release_start = clock_type::now();
    gate.close();
    wg.wait();
    const double release_ms = ms_since(release_start);
    const double ms = ms_since(start);
    const std::int64_t peak = status_bytes("VmHWM");
    if (released.load() != n) fail("parked: released " + std::to_string(released.load()));
    result("parked", ms, "ms");
    result("parked_mem", static_cast<double>(peak - baseline) / n, "B/goroutine");
    std::printf("INFO parked boost spawn+park %.1f ms, release %.1f ms, peak RSS %.1f MiB\n",
                park_ms, release_ms, peak / 1048576.0);
  });
}

// --- channel workloads (crossbeam-channel's benchmarks; shapes in ../harness.hpp) ---------------
using message = std::int64_t;

// A Boost.Fiber channel as the harness drives it; every fiber uses the same channel object.
template <class Channel>
class channel_under_test {
 public:
  template <class... Args>
  explicit channel_under_test(Args... args) : channel_(args...) {}

  class endpoint {
   public:
    explicit endpoint(Channel& channel) : channel_(&channel) {}
    void send(message value) {
      if (channel_->push(value) != fibers::channel_op_status::success) {
        harness::fail("push failed before the last message");
      }
    }
    message receive() {
      message value = 0;
      if (channel_->pop(value) != fibers::channel_op_status::success) {
        harness::fail("pop failed before the last message");
      }
      return value;
    }

   private:
    Channel* channel_;
  };
  endpoint sender() { return endpoint(channel_); }
  endpoint receiver() { return endpoint(channel_); }
  bool drained() {
    channel_.close();
    message value = 0;
    return channel_.pop(value) == fibers::channel_op_status::closed;
  }

 private:
  Channel channel_;
};

class fiber_launcher {
 public:
  template <class F>
  void start(F f) {
    fibers_.emplace_back(std::allocator_arg, fibers::fixedsize_stack(stack_size), std::move(f));
  }
  void join() {
    for (auto& f : fibers_) f.join();
    fibers_.clear();
  }

 private:
  // A deque: g++ 12 warns (-Warray-bounds, wrongly) on a vector<fiber>'s reallocation.
  std::deque<fibers::fiber> fibers_;
};

// buffered_channel holds one value less than its power-of-two size: the smallest size that
// holds `capacity` values.
std::size_t buffered_slots(std::int64_t capacity) {
  return std::bit_ceil(static_cast<std::size_t>(capacity) + 1);
}

void channel_workload(const std::string& name, const harness::channel_workload& workload,
                      const harness::sizing& limits) {
  if (workload.kind == harness::shape::select_rx || workload.kind == harness::shape::select_both) {
    harness::not_available(name, peer, "no select");
    return;
  }
  with_work_stealing([&] {
    fiber_launcher launcher;
    harness::measurement m{};
    if (workload.kind != harness::shape::seq && workload.capacity == 0) {
      m = harness::measure_transfer(workload.kind, 0, limits, launcher, [](std::int64_t) {
        return std::make_unique<channel_under_test<fibers::unbuffered_channel<message>>>();
      });
    } else {
      if (workload.kind != harness::shape::seq) {
        std::printf("INFO %s boost buffered_channel(%zu) holds %zu\n", name.c_str(),
                    buffered_slots(workload.capacity), buffered_slots(workload.capacity) - 1);
      }
      m = harness::measure_transfer(
          workload.kind, workload.capacity, limits, launcher, [](std::int64_t capacity) {
            return std::make_unique<channel_under_test<fibers::buffered_channel<message>>>(
                buffered_slots(capacity));
          });
    }
    harness::report(name, peer, m);
  });
}

// --- idle: the CPU an idle scheduler burns ---------------------------------------------------
// The pool has worked (a short ping-pong), then one fiber stays blocked on a channel while the
// main fiber sleeps. With suspend = false (Boost's default) an idle thread spins; with
// suspend = true it sleeps on a condition variable.
void idle(bool suspend) {
  with_work_stealing(
      [suspend] {
        fibers::unbuffered_channel<message> never, ping, pong;
        fiber_launcher launcher;
        launcher.start([&] {
          message value = 0;
          (void)never.pop(value);
        });
        launcher.start([&] {
          for (message v : ping) pong.push(v);
        });
        for (message i = 0; i < 10'000; ++i) {
          ping.push(i);
          message v = -1;
          pong.pop(v);
          if (v != i) fail("idle warm-up ping-pong");
        }
        ping.close();
        // Spinning threads get 100 ms to give up before the measured second.
        boost::this_fiber::sleep_for(std::chrono::milliseconds(100));
        const double cpu = harness::cpu_seconds();
        const auto start = clock_type::now();
        boost::this_fiber::sleep_for(std::chrono::seconds(1));
        const double wall = std::chrono::duration<double>(clock_type::now() - start).count();
        const double used = harness::cpu_seconds() - cpu;
        never.close();
        launcher.join();
        const char* metric = suspend ? "idle_suspend" : "idle";
        std::printf("INFO %s boost %.2f ms CPU in %.3f s\n", metric, used * 1000, wall);
        result(metric, 100 * used / wall, "%core");
      },
      suspend);
}

}  // namespace

int run_workload(int argc, char** argv);

// Every workload runs once unmeasured first (warm caches, pools, the runtime's threads), then
// once measured — except the channel workloads, which warm up inside (harness.hpp), idle, the
// worker pool, whose sequential pass warms up (and Boost.Fiber cannot install its scheduler
// twice on one thread), the sieve, which must end the process to leave its fibers blocked,
// and the one-shot workloads whose figures include peak RSS, which a warm-up
// would already have raised: they measure a fresh process (see README.md).
int main(int argc, char** argv) {
  if (argc >= 2) {
    const std::string w = argv[1];
    const bool no_outer_warm_up =
        w == "workerpool" || w == "sieve" || w == "spawn" || w == "skynet" || w == "parked" ||
        w == "calibrate" || w.starts_with("idle") ||
        harness::parse_channel_workload(w.ends_with("/threads") ? w.substr(0, w.size() - 8) : w)
            .has_value();
    if (!no_outer_warm_up && harness::warm_up_wanted()) {
      warming_up = true;
      if (const int status = run_workload(argc, argv); status != 0) return status;
      warming_up = false;
    }
  }
  return run_workload(argc, argv);
}

int run_workload(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <workload> [work-iterations]\n", argv[0]);
    return 2;
  }
  const std::string w = argv[1];
  if (w == "pingpong")
    pingpong();
  else if (w == "sieve")
    sieve();
  else if (w == "skynet")
    skynet();
  else if (w == "spawn")
    spawn();
  else if (w == "workerpool")
    workerpool(argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 2000);
  else if (w == "parked")
    parked();
  else if (w == "idle")
    idle(false);
  else if (w == "idle_suspend")
    idle(true);
  else if (w.starts_with("Select") || w == "fanin")
    harness::not_available(w, peer, "no select");
  else if (const auto workload = harness::parse_channel_workload(w))
    channel_workload(w, *workload, harness::sizing_arguments(argc, argv));
  else {
    std::fprintf(stderr, "no Boost.Fiber version of %s\n", w.c_str());
    return 3;
  }
  return 0;
}
