// compare.cpp: the csp side of bench/compare (see bench/compare/README.md).
//
//   compare_csp <workload> [work-iterations | max-messages [target-ms]]
//
// Every workload runs its goroutines under csp::run with the default max_procs (the number of
// cores, or CSP_MAXPROCS), prints `RESULT <metric> csp <value> <unit>` lines, checks its own
// result and exits 1 on a wrong one. The shapes mirror bench/compare/go/main.go line for line.
// A workload name ending in /threads runs the same program on plain std::threads, which share
// csp channels without starting the runtime; its lines say `csp-threads`.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "../harness.hpp"
#include "csp/channel.hpp"
#include "csp/context.hpp"
#include "csp/go.hpp"
#include "csp/select.hpp"
#include "csp/time.hpp"
#include "csp/wait_group.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
const char* const peer = "csp";

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

// A field of /proc/self/status in bytes (VmRSS: now, VmHWM: the peak).
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

// --- 1. pingpong ---------------------------------------------------------------------------
void pingpong() {
  constexpr std::int64_t n = 200'000;
  csp::run([] {
    csp::channel<std::int64_t> ping, pong;
    csp::go([ping, pong] {
      for (std::int64_t v : ping) pong.send(v + 1);
    });
    // Warm-up: both goroutines have run and settled on their threads before the timer starts.
    for (std::int64_t i = 0; i < n / 20; ++i) {
      ping.send(i);
      if (*pong.receive() != i + 1) fail("pingpong warm-up");
    }
    std::int64_t sum = 0;
    const auto start = clock_type::now();
    for (std::int64_t i = 0; i < n; ++i) {
      ping.send(i);
      sum += *pong.receive();
    }
    const double ns = ns_since(start);
    ping.close();
    if (sum != n * (n + 1) / 2) fail("pingpong sum " + std::to_string(sum));
    result("pingpong", ns / n, "ns/roundtrip");
  });
}

// --- 2. sieve (test/chan/sieve1.go) ----------------------------------------------------------
// The measured run is sieve1.go's: its generator never stops, and it ends with its chain
// blocked. The warm-up's generator stops at the 2,000th prime instead, so that its chain closes
// and exits before the measured run starts. Left blocked, it would not be idle: each of its
// filters still holds out for one more number to pass on, which is the work of another 2,000
// primes through the chain (about as much as a whole run), done while the measured run runs.
// Go's program does the same (go/main.go).
void generate(csp::sender<int> ch, int last) {
  for (int i = 2;; ++i) {
    ch.send(i);
    if (i == last) break;
  }
  ch.close();
}
void filter(csp::receiver<int> in, csp::sender<int> out, int prime) {
  for (int i : in) {
    if (i % prime != 0) out.send(i);
  }
  out.close();
}
void sieve_chain(csp::sender<int> primes, int last) {
  csp::channel<int> ch;
  csp::go(generate, csp::sender<int>(ch), last);
  for (;;) {
    const std::optional<int> prime = ch.receive();
    if (!prime) {
      primes.close();
      return;
    }
    primes.send(*prime);
    csp::channel<int> ch1;
    csp::go(filter, csp::receiver<int>(ch), csp::sender<int>(ch1), *prime);
    ch = ch1;
  }
}
void sieve() {
  csp::run([] {
    constexpr int n = 2000;
    constexpr int nth_prime = 17389;
    const int last = warming_up ? nth_prime : std::numeric_limits<int>::max();
    const auto start = clock_type::now();
    csp::channel<int> primes;
    csp::go(sieve_chain, csp::sender<int>(primes), last);
    int prime = 0;
    for (int i = 0; i < n; ++i) prime = *primes.receive();
    const double ms = ms_since(start);
    if (prime != nth_prime) fail("sieve: 2000th prime " + std::to_string(prime));
    if (warming_up) {
      while (primes.receive()) {  // until the chain has closed
      }
    }
    result("sieve", ms, "ms");
  });
  // Like Go's main, returning from the measured run leaves the sieve's goroutines blocked; the
  // process just exits.
}

// --- 3. skynet -------------------------------------------------------------------------------
void skynet_node(csp::sender<std::int64_t> c, std::int64_t num, std::int64_t size,
                 std::int64_t div) {
  if (size == 1) {
    c.send(num);
    return;
  }
  csp::channel<std::int64_t> rc;
  for (std::int64_t i = 0; i < div; ++i) {
    csp::go(skynet_node, csp::sender<std::int64_t>(rc), num + i * (size / div), size / div, div);
  }
  std::int64_t sum = 0;
  for (std::int64_t i = 0; i < div; ++i) sum += *rc.receive();
  c.send(sum);
}
void skynet() {
  csp::run([] {
    const auto start = clock_type::now();
    csp::channel<std::int64_t> c;
    csp::go(skynet_node, csp::sender<std::int64_t>(c), 0, 1'000'000, 10);
    const std::int64_t sum = *c.receive();
    const double ms = ms_since(start);
    if (sum != 499'999'500'000) fail("skynet sum " + std::to_string(sum));
    result("skynet", ms, "ms");
  });
}

// skynet_live: the most goroutines alive at once during skynet, sampled by a plain thread every
// 50 µs. The scheduler's order decides it (breadth first grows the tree wide), and each live
// goroutine holds at least a page: it explains skynet's page faults. Not a timing row: the
// sampler takes a share of a core.
void skynet_live() {
  std::atomic<bool> done{false};
  std::int64_t peak = 0;
  std::thread sampler([&] {
    while (!done.load()) {
      peak = std::max(peak, csp::goroutine_count());
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  });
  csp::run([] {
    csp::channel<std::int64_t> c;
    csp::go(skynet_node, csp::sender<std::int64_t>(c), 0, 1'000'000, 10);
    if (const std::int64_t sum = *c.receive(); sum != 499'999'500'000) {
      fail("skynet sum " + std::to_string(sum));
    }
  });
  done.store(true);
  sampler.join();
  result("skynet_live", static_cast<double>(peak), "goroutines");
}

// --- 4. spawn --------------------------------------------------------------------------------
// `yield_every` (not in the other peers: csp::yield() after every that many go(), 0 for never)
// shows what a spawner that never blocks costs at one worker (docs/runtime.md, "No preemption").
void spawn(std::int64_t yield_every) {
  constexpr std::int64_t n = 100'000;
  csp::run([yield_every] {
    csp::channel<std::int64_t> ch(n);
    const std::int64_t baseline = status_bytes("VmRSS");
    const auto start = clock_type::now();
    for (std::int64_t i = 0; i < n; ++i) {
      csp::go([ch, i] { ch.send(i); });
      if (yield_every > 0 && i % yield_every == yield_every - 1) csp::yield();
    }
    std::int64_t sum = 0;
    for (std::int64_t i = 0; i < n; ++i) sum += *ch.receive();
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
  // Sequential reference: one plain thread does every job.
  auto start = clock_type::now();
  std::uint64_t expected = 0;
  for (int j = 0; j < jobs_count; ++j) expected += work(j + 1, iterations);
  const double sequential_ms = ms_since(start);

  csp::run([&] {
    const auto start = clock_type::now();
    csp::channel<int> jobs(100);
    csp::channel<std::uint64_t> results(100);
    for (int w = 0; w < workers; ++w) {
      csp::go([jobs, results, iterations] {
        for (int j : jobs) results.send(work(j + 1, iterations));
      });
    }
    csp::go([jobs] {
      for (int j = 0; j < jobs_count; ++j) jobs.send(j);
      jobs.close();
    });
    std::uint64_t sum = 0;
    for (int j = 0; j < jobs_count; ++j) sum += *results.receive();
    const double parallel_ms = ms_since(start);
    if (sum != expected) fail("workerpool checksum");
    result("workerpool", sequential_ms / (workers * parallel_ms), "efficiency");
    result("workerpool_ms", parallel_ms, "ms");
    std::printf("INFO workerpool csp sequential %.2f ms, parallel %.2f ms, %.2f us/job\n",
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

// --- 5b. pipeline ----------------------------------------------------------------------------
// Two stages that both compute, joined by a channel of capacity 1: the first does ~20 µs of work
// per item and sends the result, the second receives it and does ~20 µs more (the worker pool's
// calibrated job, twice). Efficiency as in the worker pool: one plain thread doing both stages'
// work for every item, over 2 x the pipeline's wall time. What it shows: whether a runtime lets
// two goroutines that keep readying each other compute on two workers at once. A third argument
// sets another capacity (0: unbuffered); the runner always uses 1.
void pipeline(std::uint64_t iterations, std::size_t capacity) {
  constexpr int items = 10'000;
  constexpr int stages = 2;
  auto start = clock_type::now();
  std::uint64_t expected = 0;
  for (int i = 0; i < items; ++i) expected += work(work(i + 1, iterations), iterations);
  const double sequential_ms = ms_since(start);
  csp::run([&] {
    const auto start = clock_type::now();
    csp::channel<std::uint64_t> middle(capacity);
    csp::channel<std::uint64_t> total(1);
    csp::go([middle, iterations] {
      for (int i = 0; i < items; ++i) middle.send(work(i + 1, iterations));
      middle.close();
    });
    csp::go([middle, total, iterations] {
      std::uint64_t sum = 0;
      for (std::uint64_t value : middle) sum += work(value, iterations);
      total.send(sum);
    });
    const std::uint64_t sum = *total.receive();
    const double parallel_ms = ms_since(start);
    if (sum != expected) fail("pipeline checksum");
    result("pipeline", sequential_ms / (stages * parallel_ms), "efficiency");
    result("pipeline_ms", parallel_ms, "ms");
  });
}

// Prints the iteration count that makes work() last ~20 µs here (median of 9 trials).
void calibrate() {
  constexpr std::uint64_t probe = 1'000'000;
  std::vector<double> per_iteration;
  volatile std::uint64_t sink = 0;
  for (int t = 0; t < 9; ++t) {
    const auto start = clock_type::now();
    sink = sink + work(t + 1, probe);
    per_iteration.push_back(ns_since(start) / probe);
  }
  std::sort(per_iteration.begin(), per_iteration.end());
  std::printf("%" PRIu64 "\n", static_cast<std::uint64_t>(20'000 / per_iteration[4]));
}

// --- 6. parked -------------------------------------------------------------------------------
void parked() {
  constexpr std::int64_t n = 1'000'000;
  csp::run([] {
    csp::channel<int> gate;
    csp::wait_group wg;
    std::atomic<std::int64_t> waiting{0}, released{0};
    const std::int64_t baseline = status_bytes("VmRSS");
    const auto start = clock_type::now();
    wg.add(n);
    for (std::int64_t i = 0; i < n; ++i) {
      csp::go([&gate, &wg, &waiting, &released] {
        waiting.fetch_add(1, std::memory_order_relaxed);
        if (!gate.receive()) released.fetch_add(1, std::memory_order_relaxed);
        wg.done();
      });
    }
    while (waiting.load() < n) csp::sleep_for(std::chrono::milliseconds(1));
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
    std::printf("INFO parked csp spawn+park %.1f ms, release %.1f ms, peak RSS %.1f MiB\n", park_ms,
                release_ms, peak / 1048576.0);
  });
}

// --- 7. Go's select benchmarks (runtime/chan_test.go) ----------------------------------------
// Runs body(iterations) in two goroutines (Go's RunParallel with GOMAXPROCS = 2) or two plain
// threads, N/2 iterations each, and reports wall ns per iteration.
constexpr int parallelism = 2;

template <class Body>
double parallel_ns_per_op(std::int64_t n, bool threads, Body body) {
  const std::int64_t each = n / parallelism;
  const auto start = clock_type::now();
  if (threads) {
    std::vector<std::thread> pool;
    for (int p = 0; p < parallelism; ++p) pool.emplace_back([&] { body(each); });
    for (auto& t : pool) t.join();
  } else {
    csp::wait_group wg;
    for (int p = 0; p < parallelism; ++p) wg.go([&] { body(each); });
    wg.wait();
  }
  return ns_since(start) / (each * parallelism);
}

template <class F>
void in_context(bool threads, F f) {
  if (threads) {
    f();
  } else {
    csp::run(f);
  }
}

void select_uncontended(bool threads) {
  constexpr std::int64_t n = 2'000'000;
  in_context(threads, [&] {
    const double ns = parallel_ns_per_op(n, threads, [](std::int64_t iterations) {
      csp::channel<int> myc1(1), myc2(1);
      myc1.send(0);
      for (std::int64_t i = 0; i < iterations; ++i) {
        switch (csp::select(csp::on_receive(myc1), csp::on_receive(myc2))) {
          case 0:
            myc2.send(0);
            break;
          case 1:
            myc1.send(0);
            break;
          default:
            fail("SelectUncontended: bad case");
        }
      }
    });
    result(threads ? "SelectUncontended/threads" : "SelectUncontended", ns, "ns/op");
  });
}

void select_sync_contended(bool threads) {
  constexpr std::int64_t n = 200'000;
  in_context(threads, [&] {
    csp::channel<int> myc1, myc2, myc3, done;
    std::vector<std::thread> senders;
    std::atomic<std::int64_t> received{0};
    auto sender = [=] {
      for (;;) {
        if (csp::select(csp::on_send(myc1, 0), csp::on_send(myc2, 0), csp::on_send(myc3, 0),
                        csp::on_receive(done)) == 3) {
          return;
        }
      }
    };
    const double ns = parallel_ns_per_op(n, threads, [&](std::int64_t iterations) {
      if (threads) {
        static std::mutex m;
        std::lock_guard guard(m);
        senders.emplace_back(sender);
      } else {
        csp::go(sender);
      }
      for (std::int64_t i = 0; i < iterations; ++i) {
        csp::select(csp::on_receive(myc1), csp::on_receive(myc2), csp::on_receive(myc3));
      }
      received.fetch_add(iterations);
    });
    done.close();
    for (auto& t : senders) t.join();
    if (received.load() != n) fail("SelectSyncContended count");
    result(threads ? "SelectSyncContended/threads" : "SelectSyncContended", ns, "ns/op");
  });
}

void select_async_contended(bool threads) {
  constexpr std::int64_t n = 1'000'000;
  in_context(threads, [&] {
    csp::channel<int> myc1(parallelism), myc2(parallelism);
    const double ns = parallel_ns_per_op(n, threads, [&](std::int64_t iterations) {
      myc1.send(0);
      for (std::int64_t i = 0; i < iterations; ++i) {
        switch (csp::select(csp::on_receive(myc1), csp::on_receive(myc2))) {
          case 0:
            myc2.send(0);
            break;
          case 1:
            myc1.send(0);
            break;
          default:
            fail("SelectAsyncContended: bad case");
        }
      }
    });
    if (myc1.size() + myc2.size() != parallelism) fail("SelectAsyncContended: tokens lost");
    result(threads ? "SelectAsyncContended/threads" : "SelectAsyncContended", ns, "ns/op");
  });
}

// Not a channel benchmark: the least line traffic SelectAsyncContended's shape allows on this
// machine, to judge how far from it csp and Go are. The two channels become two counters of
// tokens, each on its own cache line; an iteration takes a token from one that has any (looking
// at a random one first, as the select does) and adds it to the other. No values, no order, no
// waiting: a goroutine that finds both empty looks again. Any channel does at least this, so
// the figure bounds what a select of two buffered channels can reach here.
void select_async_contended_floor() {
  constexpr std::int64_t n = 1'000'000;
  in_context(false, [&] {
    struct alignas(64) counter {
      std::atomic<std::int64_t> tokens{0};
    };
    std::array<counter, 2> channels;
    const double ns = parallel_ns_per_op(n, false, [&](std::int64_t iterations) {
      channels[0].tokens.fetch_add(1);
      std::uint64_t state = reinterpret_cast<std::uintptr_t>(&iterations) | 1;  // xorshift64
      for (std::int64_t i = 0; i < iterations; ++i) {
        for (int taken = -1; taken < 0;) {
          state ^= state << 13;
          state ^= state >> 7;
          state ^= state << 17;
          const int first = static_cast<int>(state & 1);
          for (int k = 0; k < 2 && taken < 0; ++k) {
            std::atomic<std::int64_t>& tokens = channels[first ^ k].tokens;
            std::int64_t seen = tokens.load(std::memory_order_relaxed);
            while (seen > 0 && !tokens.compare_exchange_weak(seen, seen - 1)) {
            }
            if (seen > 0) taken = first ^ k;
          }
          if (taken >= 0) channels[taken ^ 1].tokens.fetch_add(1);
        }
      }
    });
    if (channels[0].tokens + channels[1].tokens != parallelism) fail("floor: tokens lost");
    result("SelectAsyncContended/floor", ns, "ns/op");
  });
}

void select_nonblock(bool threads) {
  constexpr std::int64_t n = 10'000'000;
  in_context(threads, [&] {
    csp::channel<int> myc1, myc2, myc3(1), myc4(1);
    std::atomic<std::int64_t> defaults{0};
    const double ns = parallel_ns_per_op(n, threads, [&](std::int64_t iterations) {
      std::int64_t mine = 0;
      for (std::int64_t i = 0; i < iterations; ++i) {
        mine += csp::select(csp::on_receive(myc1), csp::on_default()) == 1;
        mine += csp::select(csp::on_send(myc2, 0), csp::on_default()) == 1;
        mine += csp::select(csp::on_receive(myc3), csp::on_default()) == 1;
        mine += csp::select(csp::on_send(myc4, 0), csp::on_default()) == 1;
      }
      defaults.fetch_add(mine);
    });
    // Every select takes its default except the first send into myc4.
    if (defaults.load() != 4 * n - 1) fail("SelectNonblock: defaults " + std::to_string(defaults));
    result(threads ? "SelectNonblock/threads" : "SelectNonblock", ns, "ns/op");
  });
}

// Not in chan_test.go: the target "a non-blocking select on a ready channel". Each iteration is
// two selects with a default that both proceed: a send into an empty cap-1 channel, then a
// receive of that value; per goroutine channels, as in SelectUncontended. Reported per select.
void select_nonblock_ready(bool threads) {
  constexpr std::int64_t n = 10'000'000;
  in_context(threads, [&] {
    std::atomic<std::int64_t> taken{0};
    const double ns = parallel_ns_per_op(n, threads, [&](std::int64_t iterations) {
      csp::channel<int> myc(1);
      std::optional<int> value;
      std::int64_t mine = 0;
      for (std::int64_t i = 0; i < iterations; ++i) {
        mine += csp::select(csp::on_send(myc, 1), csp::on_default()) == 0;
        mine += csp::select(csp::on_receive(myc, value), csp::on_default()) == 0 && *value == 1;
      }
      taken.fetch_add(mine);
    });
    if (taken.load() != 2 * n) fail("SelectNonblockReady: " + std::to_string(taken.load()));
    result(threads ? "SelectNonblockReady/threads" : "SelectNonblockReady", ns / 2, "ns/select");
  });
}

// --- fanin -----------------------------------------------------------------------------------
void fanin() {
  constexpr std::int64_t per_producer = 500'000;
  csp::run([] {
    csp::channel<std::int64_t> a, b;
    const auto start = clock_type::now();
    for (auto ch : {a, b}) {
      csp::go([ch] {
        for (std::int64_t i = 1; i <= per_producer; ++i) ch.send(i);
      });
    }
    std::int64_t sum = 0;
    std::optional<std::int64_t> va, vb;
    for (std::int64_t k = 0; k < 2 * per_producer; ++k) {
      if (csp::select(csp::on_receive(a, va), csp::on_receive(b, vb)) == 0) {
        sum += *va;
      } else {
        sum += *vb;
      }
    }
    const double ns = ns_since(start);
    if (sum != per_producer * (per_producer + 1)) fail("fanin sum " + std::to_string(sum));
    result("fanin", ns / (2 * per_producer), "ns/msg");
  });
}

// --- cancel: one context's cancellation reaching 10,000 blocked goroutines ---------------------
// Each goroutine blocks in a receive that also watches the context (Go: a select on a channel
// and ctx.Done()). The figure is the time from cancel until the last of them has come back from
// that receive, per goroutine; the median of 15 rounds. The goroutines then wait on another
// channel, so their exits are not part of it. Both peers let the goroutines settle the same way:
// all have started, then 5 ms pass.
void cancel_wakes() {
  constexpr std::size_t n = 10'000;
  constexpr int rounds = 15;
  csp::run([] {
    std::vector<double> per_goroutine;
    for (int round = 0; round < rounds; ++round) {
      auto [ctx, cancel] = csp::with_cancel(csp::background());
      csp::channel<int> never;
      csp::channel<int> release;
      csp::channel<int> all_awake(1);
      std::atomic<std::size_t> started{0}, awake{0};
      csp::wait_group wg;
      for (std::size_t i = 0; i < n; ++i) {
        wg.go([&started, &awake, ctx = ctx, never, release, all_awake] {
          started.fetch_add(1, std::memory_order_relaxed);
          if (never.receive(ctx).status != csp::channel_status::canceled)
            fail("cancel: a receive that did not report the cancellation");
          if (awake.fetch_add(1, std::memory_order_acq_rel) + 1 == n) (void)all_awake.try_send(1);
          (void)release.receive();
        });
      }
      while (started.load() < n) csp::sleep_for(std::chrono::milliseconds(1));
      csp::sleep_for(std::chrono::milliseconds(5));
      const auto start = clock_type::now();
      cancel();
      (void)all_awake.receive();
      per_goroutine.push_back(ns_since(start) / n);
      release.close();
      wg.wait();
    }
    std::sort(per_goroutine.begin(), per_goroutine.end());
    result("cancel", per_goroutine[rounds / 2], "ns/goroutine");
  });
}

// --- channel workloads (crossbeam-channel's benchmarks; shapes in ../harness.hpp) ---------------
using message = std::int64_t;

// A csp channel as the harness drives it: every task holds its own copy of the handle, as a Go
// program passes the channel to each goroutine.
class channel_under_test {
 public:
  explicit channel_under_test(std::int64_t capacity) : channel_(capacity) {}

  class endpoint {
   public:
    explicit endpoint(csp::channel<message> channel) : channel_(std::move(channel)) {}
    void send(message value) { channel_.send(value); }
    message receive() {
      const std::optional<message> value = channel_.receive();
      if (!value) harness::fail("the channel was closed before the last message");
      return *value;
    }

   private:
    csp::channel<message> channel_;
  };
  endpoint sender() { return endpoint(channel_); }
  endpoint receiver() { return endpoint(channel_); }
  bool drained() {
    channel_.close();
    return !channel_.receive().has_value();
  }

 private:
  csp::channel<message> channel_;
};

class goroutine_launcher {
 public:
  template <class F>
  void start(F f) {
    group_.go(std::move(f));
  }
  void join() { group_.wait(); }

 private:
  csp::wait_group group_;
};

// select_rx: producer p sends its share on its own channel, one consumer selects over all of
// them. select_both: every task selects over every channel, `tasks` of them to send (into
// whichever channel has room or a receiver) and `tasks` to receive.
template <class Launcher>
double select_transfer(harness::shape kind, std::int64_t capacity, std::int64_t messages,
                       Launcher& launcher) {
  constexpr int tasks = harness::tasks;
  static_assert(tasks == 4, "the select calls below name four channels");
  std::array<csp::channel<message>, tasks> channels{
      csp::channel<message>(capacity), csp::channel<message>(capacity),
      csp::channel<message>(capacity), csp::channel<message>(capacity)};
  std::atomic<std::int64_t> sum{0}, count{0};
  const std::int64_t share = messages / tasks;
  const int consumers = kind == harness::shape::select_rx ? 1 : tasks;
  const std::int64_t receive_share = messages / consumers;

  const auto start = clock_type::now();
  for (int p = 0; p < tasks; ++p) {
    launcher.start([&, p, channels] {
      const message first = p * share;
      for (message i = first; i < first + share; ++i) {
        if (kind == harness::shape::select_rx) {
          channels[p].send(i);
        } else {
          csp::select(csp::on_send(channels[0], i), csp::on_send(channels[1], i),
                      csp::on_send(channels[2], i), csp::on_send(channels[3], i));
        }
      }
    });
  }
  for (int c = 0; c < consumers; ++c) {
    launcher.start([&, channels] {
      std::array<std::optional<message>, tasks> values;
      std::int64_t mine = 0;
      for (std::int64_t i = 0; i < receive_share; ++i) {
        const std::size_t taken = csp::select(
            csp::on_receive(channels[0], values[0]), csp::on_receive(channels[1], values[1]),
            csp::on_receive(channels[2], values[2]), csp::on_receive(channels[3], values[3]));
        if (!values[taken]) harness::fail("a channel was closed before the last message");
        mine += *values[taken];
      }
      sum += mine;
      count += receive_share;
    });
  }
  launcher.join();
  const double ns = ns_since(start);

  if (count.load() != messages || sum.load() != harness::expected_sum(messages)) {
    harness::fail("select received " + std::to_string(count.load()) + " messages summing to " +
                  std::to_string(sum.load()));
  }
  for (auto& channel : channels) {
    channel.close();
    if (channel.receive().has_value()) harness::fail("a value was left in a channel");
  }
  return ns / static_cast<double>(messages);
}

template <class Launcher>
harness::measurement measure(const harness::channel_workload& workload,
                             const harness::sizing& limits, Launcher& launcher) {
  if (workload.kind == harness::shape::select_rx || workload.kind == harness::shape::select_both) {
    return harness::measure(limits, [&](std::int64_t messages) {
      return select_transfer(workload.kind, workload.capacity, messages, launcher);
    });
  }
  return harness::measure_transfer(
      workload.kind, workload.capacity, limits, launcher,
      [](std::int64_t capacity) { return std::make_unique<channel_under_test>(capacity); });
}

void channel_workload(const std::string& name, const harness::channel_workload& workload,
                      const harness::sizing& limits, bool threads) {
  if (threads) {
    harness::thread_launcher launcher;
    harness::report(name, "csp-threads", measure(workload, limits, launcher));
    return;
  }
  csp::run([&] {
    std::printf("INFO %s csp max_procs %d\n", name.c_str(), csp::max_procs());
    goroutine_launcher launcher;
    harness::report(name, peer, measure(workload, limits, launcher));
  });
}

// --- idle: the CPU an idle runtime burns --------------------------------------------------------
// The runtime is started and has worked (a short ping-pong wakes every worker thread); then one
// goroutine stays parked on a channel while main sleeps, as a Go program whose main sleeps.
void idle() {
  csp::run([] {
    csp::channel<message> never, ping, pong;
    csp::wait_group parked;
    parked.go([never] { (void)never.receive(); });
    csp::go([ping, pong] {
      for (message v : ping) pong.send(v);
    });
    for (message i = 0; i < 10'000; ++i) {
      ping.send(i);
      if (*pong.receive() != i) fail("idle warm-up ping-pong");
    }
    ping.close();
    // Spinning threads get 100 ms to give up before the measured second.
    csp::sleep_for(std::chrono::milliseconds(100));
    const double cpu = harness::cpu_seconds();
    const auto start = clock_type::now();
    csp::sleep_for(std::chrono::seconds(1));
    const double wall = std::chrono::duration<double>(clock_type::now() - start).count();
    const double used = harness::cpu_seconds() - cpu;
    never.close();
    parked.wait();
    std::printf("INFO idle csp max_procs %d, %.2f ms CPU in %.3f s\n", csp::max_procs(),
                used * 1000, wall);
    result("idle", 100 * used / wall, "%core");
  });
}

}  // namespace

int run_workload(int argc, char** argv);

// Every workload runs once unmeasured first (warm caches, pools, the runtime's threads), then
// once measured — except the channel workloads, which warm up inside (harness.hpp), idle, the
// worker pool, whose sequential pass warms up (and Boost.Fiber cannot install its scheduler
// twice on one thread), and the one-shot workloads whose figures include peak RSS, which a warm-up
// would already have raised: they measure a fresh process (see README.md).
int main(int argc, char** argv) {
  if (argc >= 2) {
    const std::string w = argv[1];
    const bool no_outer_warm_up =
        w == "workerpool" || w == "pipeline" || w == "spawn" || w == "skynet" ||
        w == "skynet_live" || w == "parked" || w == "calibrate" || w.starts_with("idle") ||
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
    std::fprintf(stderr,
                 "usage: %s <workload> [work-iterations (workerpool) | yield-every (spawn)]\n",
                 argv[0]);
    return 2;
  }
  const std::string w = argv[1];
  if (w == "pingpong")
    pingpong();
  else if (w == "sieve")
    sieve();
  else if (w == "skynet")
    skynet();
  else if (w == "skynet_live")
    skynet_live();
  else if (w == "spawn")
    spawn(argc > 2 ? std::strtoll(argv[2], nullptr, 10) : 0);
  else if (w == "workerpool")
    workerpool(argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 2000);
  else if (w == "pipeline")
    pipeline(argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 2000,
             argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 1);
  else if (w == "calibrate")
    calibrate();
  else if (w == "parked")
    parked();
  else if (w == "SelectUncontended")
    select_uncontended(false);
  else if (w == "SelectUncontended/threads")
    select_uncontended(true);
  else if (w == "SelectSyncContended")
    select_sync_contended(false);
  else if (w == "SelectSyncContended/threads")
    select_sync_contended(true);
  else if (w == "SelectAsyncContended")
    select_async_contended(false);
  else if (w == "SelectAsyncContended/threads")
    select_async_contended(true);
  else if (w == "SelectAsyncContended/floor")
    select_async_contended_floor();
  else if (w == "SelectNonblock")
    select_nonblock(false);
  else if (w == "SelectNonblock/threads")
    select_nonblock(true);
  else if (w == "SelectNonblockReady")
    select_nonblock_ready(false);
  else if (w == "SelectNonblockReady/threads")
    select_nonblock_ready(true);
  else if (w == "fanin")
    fanin();
  else if (w == "cancel")
    cancel_wakes();
  else if (w == "idle")
    idle();
  else if (w == "idle/threads")
    harness::not_available("idle", "csp-threads", "no runtime");
  else {
    const bool threads = w.ends_with("/threads");
    const std::string name = threads ? w.substr(0, w.size() - 8) : w;
    if (const auto workload = harness::parse_channel_workload(name)) {
      channel_workload(name, *workload, harness::sizing_arguments(argc, argv), threads);
      return 0;
    }
    std::fprintf(stderr, "unknown workload %s\n", w.c_str());
    return 2;
  }
  return 0;
}
