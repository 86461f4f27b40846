// select.cpp: the parts of csp/select.hpp that do not depend on the cases' types.
#include "csp/select.hpp"

#include <chrono>
#include <cstdint>
#include <random>
#include <thread>

namespace csp::detail {
namespace {

// wyrand (Wang Yi): one multiply per number, statistically sound for picking among cases.
// Seeded per thread from the OS so that two threads never poll in the same order.
struct random_state {
  std::uint64_t seed;
  random_state() {
    std::random_device device;
    seed = (std::uint64_t{device()} << 32) ^ device() ^
           static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  }
  std::uint64_t next() noexcept {
    seed += 0xa0761d6478bd642fULL;
    const __uint128_t product = static_cast<__uint128_t>(seed) * (seed ^ 0xe7037ed1a0b428dbULL);
    return static_cast<std::uint64_t>(product >> 64) ^ static_cast<std::uint64_t>(product);
  }
};

thread_local random_state random;

}  // namespace

std::uint32_t random_below(std::uint32_t bound) noexcept {
  // Lemire's multiply-shift: uniform enough for bound << 2^32, and no division.
  return static_cast<std::uint32_t>(((random.next() & 0xffffffffULL) * bound) >> 32);
}

void block_forever() {
  waiter self;
  note_wait({wait_reason::kind::select_no_cases});
  for (;;) self.wait();
}

}  // namespace csp::detail
