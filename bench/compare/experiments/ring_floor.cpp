// ring_floor.cpp: how fast can any bounded queue run SelectAsyncContended's shape on this
// machine? Two threads pass two tokens through two queues of capacity 2: take from a random one
// first (else the other), put into the other. The same loop over six queues, interleaved, 11
// rounds (the first argument, default 11); medians and ranges in ns per operation (wall time
// over both threads' operations, as compare_csp reports SelectAsyncContended/threads). Not a
// peer and not meant to land in the library; kept so that the figures in
// bench/compare/README.md ("Rows on the AMD guest") can be measured again, one round at a time
// alternated with Go's and csp's SelectAsyncContended:
//   bench/compare/run.sh SelectAsyncContended     # builds build/compare (csp and Go)
//   g++ -O2 -std=c++20 -pthread -Iinclude bench/compare/experiments/ring_floor.cpp
//       build/compare/libcsp.a -o /tmp/ring_floor       (one line; or build/release/bench/
//       csp_ring_floor, which bench/CMakeLists.txt builds so that both compilers check it)
//   for i in $(seq 9); do /tmp/ring_floor 1; build/compare/compare_go SelectAsyncContended;
//     build/compare/compare_csp SelectAsyncContended; done      (one line)
//
// The queues:
//   counters/fetch_add  two token counters, a put is one fetch_add: compare_csp's
//                       SelectAsyncContended/floor. No value, no room check.
//   counters/load+cas   the same, but a put looks for room first (load, then CAS), as a
//                       bounded queue's send must before it claims a slot.
//   crossbeam           Vyukov's bounded queue as crossbeam-channel's array flavor runs it (a
//                       stamp per slot, head and tail advanced by CAS), in one cache line as
//                       csp's ring of capacity 2 is; csp's algorithm without the channel.
//   one-word            head and tail in one word; a producer claims by CAS and then stamps its
//                       slot, a consumer copies the value and claims by CAS and writes nothing
//                       else (only for values that can be copied before they are owned).
//   spin-lock           Go's shape: a lock word and plain indices and values on one line.
//   csp/try_receive     csp::channel<int>(2) with try_receive() and send(), no select.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "csp/channel.hpp"

namespace {

constexpr std::int64_t operations = 1'000'000;

int coin(std::uint64_t& state) {  // xorshift64, as the floor's loop draws its first channel
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return static_cast<int>(state & 1);
}

// Runs body(operations / 2, seed) on two threads at once, from a common start (without it one
// thread may pass all its tokens before the other exists, at a single core's speed); ns per
// operation over both.
template <class Body>
double two_threads(Body body) {
  std::atomic<int> arrived{0};
  std::chrono::steady_clock::time_point start;
  auto run = [&](std::uint64_t seed) {
    if (arrived.fetch_add(1) == 1) start = std::chrono::steady_clock::now();
    while (arrived.load() < 2) csp::detail::cpu_relax();
    body(operations / 2, seed);
  };
  std::thread first(run, 0x9e3779b97f4a7c15ull);
  std::thread second(run, 0xbf58476d1ce4e5b9ull);
  first.join();
  second.join();
  const std::chrono::duration<double, std::nano> elapsed = std::chrono::steady_clock::now() - start;
  return elapsed.count() / operations;
}

// The token-passing loop over two queues with try_take(value) and put(value).
template <class Queue>
double pass_tokens() {
  std::array<Queue, 2> queues;
  return two_threads([&](std::int64_t iterations, std::uint64_t state) {
    queues[0].put(0);
    for (std::int64_t i = 0; i < iterations; ++i) {
      for (int taken = -1; taken < 0;) {
        const int first = coin(state);
        int value = 0;
        for (int k = 0; k < 2 && taken < 0; ++k) {
          if (queues[first ^ k].try_take(value)) taken = first ^ k;
        }
        if (taken >= 0) queues[taken ^ 1].put(value);
      }
    }
  });
}

template <bool CheckRoom>
struct alignas(64) counter {
  std::atomic<std::int64_t> tokens{0};
  bool try_take(int&) {
    std::int64_t seen = tokens.load(std::memory_order_relaxed);
    while (seen > 0 && !tokens.compare_exchange_weak(seen, seen - 1)) {
    }
    return seen > 0;
  }
  void put(int) {
    if constexpr (!CheckRoom) {
      tokens.fetch_add(1);
    } else {
      std::int64_t seen = tokens.load(std::memory_order_relaxed);
      while (seen < 2 && !tokens.compare_exchange_weak(seen, seen + 1)) {
      }
    }
  }
};

// Capacity 2; a lap is 4 positions, so position & 3 is the slot index (0 or 1).
struct alignas(64) crossbeam_ring {
  std::atomic<std::uint64_t> head{0};
  std::atomic<std::uint64_t> tail{0};
  struct slot {
    std::atomic<std::uint64_t> stamp;
    int value;
  };
  slot slots[2] = {{{0}, 0}, {{1}, 0}};
  static std::uint64_t next(std::uint64_t position) {
    return (position & 3) == 0 ? position + 1 : (position & ~std::uint64_t{3}) + 4;
  }
  bool try_take(int& out) {
    std::uint64_t position = head.load(std::memory_order_relaxed);
    for (;;) {
      slot& s = slots[position & 3];
      const std::uint64_t stamp = s.stamp.load(std::memory_order_acquire);
      if (stamp == position + 1) {
        if (head.compare_exchange_weak(position, next(position))) {
          out = s.value;
          s.stamp.store(position + 4, std::memory_order_release);
          return true;
        }
        continue;
      }
      if (stamp == position && tail.load() == position) return false;
      csp::detail::cpu_relax();
      position = head.load(std::memory_order_relaxed);
    }
  }
  void put(int value) {
    std::uint64_t position = tail.load(std::memory_order_relaxed);
    for (;;) {
      slot& s = slots[position & 3];
      if (s.stamp.load(std::memory_order_acquire) == position) {
        if (tail.compare_exchange_weak(position, next(position))) {
          s.value = value;
          s.stamp.store(position + 1, std::memory_order_release);
          return;
        }
        continue;
      }
      csp::detail::cpu_relax();  // never full here: two tokens, capacity 2 each
      position = tail.load(std::memory_order_relaxed);
    }
  }
};

struct alignas(64) one_word_ring {
  std::atomic<std::uint64_t> state{0};  // head in the low half, tail in the high half
  struct slot {
    std::atomic<std::uint32_t> stamp{0};  // position + 1 once its producer has written it
    std::atomic<std::int32_t> value{0};
  };
  slot slots[2];
  bool try_take(int& out) {
    std::uint64_t word = state.load(std::memory_order_acquire);
    for (;;) {
      const auto head = static_cast<std::uint32_t>(word);
      if (head == static_cast<std::uint32_t>(word >> 32)) return false;
      slot& s = slots[head % 2];
      if (s.stamp.load(std::memory_order_acquire) != head + 1) {
        csp::detail::cpu_relax();
        word = state.load(std::memory_order_acquire);
        continue;
      }
      const int value = s.value.load(std::memory_order_relaxed);
      if (state.compare_exchange_weak(word, (word & ~std::uint64_t{0xffffffff}) | (head + 1),
                                      std::memory_order_acq_rel, std::memory_order_acquire)) {
        out = value;
        return true;
      }
    }
  }
  void put(int value) {
    std::uint64_t word = state.load(std::memory_order_acquire);
    for (;;) {
      const auto tail = static_cast<std::uint32_t>(word >> 32);
      if (tail - static_cast<std::uint32_t>(word) == 2) {  // never here: see crossbeam_ring
        csp::detail::cpu_relax();
        word = state.load(std::memory_order_acquire);
        continue;
      }
      if (state.compare_exchange_weak(word, word + (std::uint64_t{1} << 32),
                                      std::memory_order_acq_rel, std::memory_order_acquire)) {
        slots[tail % 2].value.store(value, std::memory_order_relaxed);
        slots[tail % 2].stamp.store(tail + 1, std::memory_order_release);
        return;
      }
    }
  }
};

struct alignas(64) spin_lock_ring {
  std::atomic<std::uint32_t> lock{0};
  std::uint32_t head = 0;
  std::uint32_t tail = 0;
  int values[2] = {};
  void acquire() {
    for (;;) {
      std::uint32_t expected = 0;
      if (lock.compare_exchange_weak(expected, 1, std::memory_order_acquire)) return;
      while (lock.load(std::memory_order_relaxed) != 0) csp::detail::cpu_relax();
    }
  }
  void release() { lock.store(0, std::memory_order_release); }
  bool try_take(int& out) {
    acquire();
    const bool any = head != tail;
    if (any) out = values[head++ % 2];
    release();
    return any;
  }
  void put(int value) {
    acquire();
    values[tail++ % 2] = value;  // never full: see crossbeam_ring
    release();
  }
};

struct csp_channel {
  csp::channel<int> channel{2};
  bool try_take(int& out) {
    const auto received = channel.try_receive();
    if (!received) return false;
    out = *received;
    return true;
  }
  void put(int value) { channel.send(value); }
};

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::max(1, std::atoi(argv[1])) : 11;
  const char* const names[] = {"counters/fetch_add", "counters/load+cas", "crossbeam",
                               "one-word",           "spin-lock",         "csp/try_receive"};
  double (*const runs[])() = {pass_tokens<counter<false>>, pass_tokens<counter<true>>,
                              pass_tokens<crossbeam_ring>, pass_tokens<one_word_ring>,
                              pass_tokens<spin_lock_ring>, pass_tokens<csp_channel>};
  constexpr int queues = sizeof(runs) / sizeof(runs[0]);
  std::vector<double> results[queues];
  for (int round = 0; round < rounds; ++round) {
    for (int q = 0; q < queues; ++q) results[q].push_back(runs[q]());
  }
  for (int q = 0; q < queues; ++q) {
    std::sort(results[q].begin(), results[q].end());
    std::printf("%-20s %6.1f ns/op (%.1f-%.1f)\n", names[q], results[q][rounds / 2],
                results[q].front(), results[q].back());
  }
}
