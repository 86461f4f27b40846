// membarrier_cost.cpp: what one membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) costs here, with
// the other CPU idle and busy: the asymmetric fence that removing the owner's runnext
// exchange would need (docs/runtime.md, "Parking"). Kept so the note's figure can be rerun:
//   g++ -O2 -std=c++20 -pthread bench/compare/experiments/membarrier_cost.cpp -o /tmp/mbc &&
//   /tmp/mbc
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
static long mb(int cmd) { return syscall(__NR_membarrier, cmd, 0, 0); }
int main() {
  long q = mb(MEMBARRIER_CMD_QUERY);
  std::printf("query %lx expedited %d\n", q, (q & MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0);
  std::printf("register %ld\n", mb(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED));
  std::atomic<bool> stop{false};
  std::atomic<long> spins{0};
  for (int busy = 0; busy < 2; ++busy) {
    std::thread t;
    if (busy)
      t = std::thread([&] {
        long n = 0;
        while (!stop.load(std::memory_order_relaxed)) ++n;
        spins = n;
      });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto s = std::chrono::steady_clock::now();
    const int n = 20000;
    for (int i = 0; i < n; ++i) mb(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
    double ns =
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - s).count() / n;
    stop = true;
    if (busy) t.join();
    std::printf("busy other thread=%d: %.0f ns per membarrier\n", busy, ns);
    stop = false;
  }
}
