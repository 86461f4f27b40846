// floor_line_claim.cpp: does taking the cache line for writing before the first load help the
// SelectAsyncContended floor loop on this machine? Mode 0: load then CAS (as csp's ring does);
// mode 1: a failing CAS first, then the CAS; mode 2: fetch_add. 15 runs each, medians and the
// median paired ratio. Not a peer; a measurement kept so the note's figure can be rerun:
//   g++ -O2 -std=c++20 -pthread bench/compare/experiments/floor_line_claim.cpp -o /tmp/flc &&
//   /tmp/flc
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <vector>
struct alignas(64) counter {
  std::atomic<std::int64_t> tokens{0};
};
// Mode 0: put = load + CAS (csp's push); Mode 1: put = failing CAS to own the line, then CAS; Mode
// 2: fetch_add.
template <int Mode>
double run(std::int64_t n) {
  std::array<counter, 2> ch;
  auto body = [&](std::int64_t iterations, std::uint64_t state) {
    ch[0].tokens.fetch_add(1);
    for (std::int64_t i = 0; i < iterations; ++i) {
      for (int taken = -1; taken < 0;) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        const int first = state & 1;
        for (int k = 0; k < 2 && taken < 0; ++k) {
          auto& t = ch[first ^ k].tokens;
          std::int64_t seen = t.load(std::memory_order_relaxed);
          while (seen > 0 && !t.compare_exchange_weak(seen, seen - 1)) {
          }
          if (seen > 0) taken = first ^ k;
        }
        if (taken >= 0) {
          auto& o = ch[taken ^ 1].tokens;
          if (Mode == 2) {
            o.fetch_add(1);
            continue;
          }
          std::int64_t s;
          if (Mode == 1) {
            s = -12345;
            o.compare_exchange_strong(s, -12345);
          } else
            s = o.load(std::memory_order_relaxed);
          while (!o.compare_exchange_weak(s, s + 1)) {
          }
        }
      }
    }
  };
  auto start = std::chrono::steady_clock::now();
  std::thread a(body, n / 2, 88172645463325252ull), b(body, n / 2, 0x9E3779B97F4A7C15ull);
  a.join();
  b.join();
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start)
             .count() /
         n;
}
int main() {
  std::vector<double> r[3];
  for (int i = 0; i < 15; ++i) {
    r[0].push_back(run<0>(1000000));
    r[1].push_back(run<1>(1000000));
    r[2].push_back(run<2>(1000000));
  }
  std::vector<double> ratio;
  for (int i = 0; i < 15; ++i) ratio.push_back(r[1][i] / r[0][i]);
  for (auto& v : r) std::sort(v.begin(), v.end());
  std::sort(ratio.begin(), ratio.end());
  std::printf(
      "medians: load+cas %.1f  cas-first %.1f  fetch_add %.1f ; paired cas-first/load %.3f\n",
      r[0][7], r[1][7], r[2][7], ratio[7]);
}
