// harness.hpp: what the C++ programs of bench/compare share for the channel workloads (see
// bench/compare/README.md): the output lines, the workload names, and the shapes of seq, spsc,
// mpsc and mpmc written once, so that csp (goroutines and plain threads), Boost.Fiber, oneTBB,
// moodycamel and the mutex queue run exactly the same program around their own channel.
//
// A peer plugs in two things:
//   - a launcher: start(f) runs f concurrently (a thread, a goroutine, a fiber), join() waits
//     for everything started;
//   - a channel: sender() and receiver() give the handle one task uses (moodycamel's tokens
//     are per task), with send(std::int64_t) and std::int64_t receive(); drained() tells, once
//     every message was received, that nothing is left in it (closing it first where the peer
//     can close).
// The message is a 64-bit integer in every peer, Go and Rust included.
#pragma once

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace harness {

using clock_type = std::chrono::steady_clock;

// crossbeam-channel's benchmarks use 4 producers and 4 consumers (THREADS = 4).
constexpr int tasks = 4;

// The run.sh protocol: one line per metric, flushed at once so a later crash keeps it.
inline void result(std::string_view metric, std::string_view peer, double value,
                   std::string_view unit) {
  std::printf("RESULT %.*s %.*s %.6g %.*s\n", static_cast<int>(metric.size()), metric.data(),
              static_cast<int>(peer.size()), peer.data(), value, static_cast<int>(unit.size()),
              unit.data());
  std::fflush(stdout);
}

// A workload this peer cannot express: run.sh shows `n/a: <reason>` instead of a number.
inline void not_available(std::string_view metric, std::string_view peer, std::string_view reason) {
  std::printf("NA %.*s %.*s %.*s\n", static_cast<int>(metric.size()), metric.data(),
              static_cast<int>(peer.size()), peer.data(), static_cast<int>(reason.size()),
              reason.data());
  std::fflush(stdout);
}

[[noreturn]] inline void fail(const std::string& message) {
  std::fprintf(stderr, "WRONG RESULT: %s\n", message.c_str());
  std::fflush(stderr);
  std::_Exit(1);
}

// Whether a workload runs once unmeasured before its measured run: yes, unless CMP_WARMUP=0
// (run.sh; Go's main.go reads it too), which measures a cold process instead.
inline bool warm_up_wanted() {
  const char* text = std::getenv("CMP_WARMUP");
  return text == nullptr || std::strcmp(text, "0") != 0;
}

// --- workload names ------------------------------------------------------------------------
enum class shape { seq, spsc, mpsc, mpmc, select_rx, select_both };

struct channel_workload {
  shape kind;
  std::int64_t capacity;
};

// "seq" (one task sends every message before receiving any, so its capacity is the run's
// message count, set by measure_transfer) or
// "<shape>_cap<capacity>", e.g. "mpmc_cap0"; nullopt for any other name.
inline std::optional<channel_workload> parse_channel_workload(std::string_view name) {
  if (name == "seq") return channel_workload{shape::seq, 0};
  const auto cut = name.rfind("_cap");
  if (cut == std::string_view::npos) return std::nullopt;
  const std::string_view base = name.substr(0, cut);
  const std::string digits(name.substr(cut + 4));
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  const std::int64_t capacity = std::atoll(digits.c_str());
  if (base == "spsc") return channel_workload{shape::spsc, capacity};
  if (base == "mpsc") return channel_workload{shape::mpsc, capacity};
  if (base == "mpmc") return channel_workload{shape::mpmc, capacity};
  if (base == "select_rx") return channel_workload{shape::select_rx, capacity};
  if (base == "select_both") return channel_workload{shape::select_both, capacity};
  return std::nullopt;
}

// How many messages a run moves. run.sh passes the same limits to every peer: at most
// `max_messages`, and about `target_seconds` of wall time (see measure()).
struct sizing {
  std::int64_t max_messages = 5'000'000;
  double target_seconds = 0.25;
};

inline sizing sizing_arguments(int argc, char** argv) {
  sizing s;
  if (argc > 2) s.max_messages = std::atoll(argv[2]);
  if (argc > 3) s.target_seconds = std::atof(argv[3]) / 1000;
  s.max_messages -= s.max_messages % tasks;  // every producer's and consumer's share is equal
  if (s.max_messages < tasks) fail("the message count must be at least " + std::to_string(tasks));
  return s;
}

struct measurement {
  double ns_per_message;
  std::int64_t messages;
};

// go test -bench's b.N, simplified. A run of 0.1-1 s means 1,000 messages for a queue that
// wakes a sleeping thread per message and millions for a lock-free fast path, so the count
// adapts: runs of 1,000, 2,000, 4,000 ... messages warm up (threads, stacks, allocator pools,
// the queue's memory) until one lasts 20 ms or reaches the maximum, and the measured run moves
// as many messages as should last the target time. `run(messages)` returns ns per message.
template <class Run>
measurement measure(const sizing& limits, Run run) {
  const auto round = [](std::int64_t n) { return n - n % tasks; };
  const std::int64_t floor = std::min<std::int64_t>(round(1000), limits.max_messages);
  std::int64_t messages = floor;
  double ns = run(messages);
  while (ns * static_cast<double>(messages) < 20e6 && messages < limits.max_messages) {
    messages = std::min(messages * 2, limits.max_messages);
    ns = run(messages);
  }
  const double wanted = limits.target_seconds * 1e9 / ns;
  messages = wanted >= static_cast<double>(limits.max_messages)
                 ? limits.max_messages
                 : std::max(floor, round(static_cast<std::int64_t>(wanted)));
  return {run(messages), messages};
}

// 0 + 1 + ... + (messages - 1): what the receivers' values must add up to.
constexpr std::int64_t expected_sum(std::int64_t messages) { return messages * (messages - 1) / 2; }

// CPU time (user + system, every thread) this process has used so far.
inline double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// The launcher of the plain-thread peers: one std::thread per task.
class thread_launcher {
 public:
  template <class F>
  void start(F f) {
    threads_.emplace_back(std::move(f));
  }
  void join() {
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

 private:
  std::vector<std::thread> threads_;
};

// --- the shapes (crossbeam-channel/benchmarks) ---------------------------------------------
// Producer p sends p * share ... (p + 1) * share - 1, so the values are 0 ... messages - 1
// whatever the number of producers, and their sum checks that each arrived exactly once.
template <class Launcher, class Channel>
double transfer(shape kind, std::int64_t messages, Launcher& launcher, Channel& channel) {
  std::atomic<std::int64_t> sum{0}, count{0};
  const int producers = kind == shape::spsc ? 1 : tasks;
  const int consumers = kind == shape::mpmc ? tasks : 1;
  const std::int64_t send_share = messages / producers;
  const std::int64_t receive_share = messages / consumers;

  const auto start = clock_type::now();
  if (kind == shape::seq) {
    launcher.start([&] {
      auto tx = channel.sender();
      auto rx = channel.receiver();
      for (std::int64_t i = 0; i < messages; ++i) tx.send(i);
      std::int64_t mine = 0;
      for (std::int64_t i = 0; i < messages; ++i) mine += rx.receive();
      sum += mine;
      count += messages;
    });
  } else {
    for (int p = 0; p < producers; ++p) {
      launcher.start([&, p] {
        auto tx = channel.sender();
        const std::int64_t first = p * send_share;
        for (std::int64_t i = first; i < first + send_share; ++i) tx.send(i);
      });
    }
    for (int c = 0; c < consumers; ++c) {
      launcher.start([&] {
        auto rx = channel.receiver();
        std::int64_t mine = 0;
        for (std::int64_t i = 0; i < receive_share; ++i) mine += rx.receive();
        sum += mine;
        count += receive_share;
      });
    }
  }
  launcher.join();
  const double ns = std::chrono::duration<double, std::nano>(clock_type::now() - start).count();

  if (count.load() != messages || sum.load() != expected_sum(messages)) {
    fail("received " + std::to_string(count.load()) + " messages summing to " +
         std::to_string(sum.load()) + ", expected " + std::to_string(messages) + " summing to " +
         std::to_string(expected_sum(messages)));
  }
  if (!channel.drained()) fail("a value was left in the channel");
  return ns / static_cast<double>(messages);
}

// Each run gets a fresh channel; seq's capacity is that run's message count.
template <class Launcher, class MakeChannel>
measurement measure_transfer(shape kind, std::int64_t capacity, const sizing& limits,
                             Launcher& launcher, MakeChannel make_channel) {
  return measure(limits, [&](std::int64_t messages) {
    auto channel = make_channel(kind == shape::seq ? messages : capacity);
    return transfer(kind, messages, launcher, *channel);
  });
}

// The two lines of a channel workload: the number, and how many messages it took.
inline void report(std::string_view metric, std::string_view peer, const measurement& m) {
  std::printf("INFO %.*s %.*s measured %lld messages\n", static_cast<int>(metric.size()),
              metric.data(), static_cast<int>(peer.size()), peer.data(),
              static_cast<long long>(m.messages));
  result(metric, peer, m.ns_per_message, "ns/msg");
}

// The worker pool's job: ~20 µs of CPU once calibrated (xorshift64). The Go and Rust programs
// spell out the same loop.
inline std::uint64_t work(std::uint64_t seed, std::uint64_t iterations) {
  std::uint64_t x = seed;
  for (std::uint64_t i = 0; i < iterations; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
  }
  return x;
}

}  // namespace harness
