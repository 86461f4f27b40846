// stress_environment.hpp: what the randomized stress tests read from the environment, and how
// they announce it.
//
//   CSP_STRESS_SEED     the seed (decimal, or hex with 0x); random when unset. Every stress test
//                       prints the seed it used, and its failures repeat it.
//   CSP_STRESS_SECONDS  each test's time budget in seconds (default 2; a value that is not a
//                       positive number means the default).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <random>
#include <string_view>

namespace csp::testing {

inline std::uint64_t stress_seed() {
  if (const char* text = std::getenv("CSP_STRESS_SEED"); text != nullptr && *text != '\0') {
    return std::strtoull(text, nullptr, 0);
  }
  std::random_device device;
  return (std::uint64_t{device()} << 32) ^ device();
}

inline double stress_seconds() {
  if (const char* text = std::getenv("CSP_STRESS_SECONDS"); text != nullptr && *text != '\0') {
    const double seconds = std::strtod(text, nullptr);
    if (seconds > 0) return seconds;
  }
  return 2.0;
}

// Prints the seed and budget a stress test runs with, and how to run it again with that seed.
inline void announce_stress(std::string_view name, std::uint64_t seed, double seconds) {
  std::cout << "[ stress   ] " << name << ": seed " << seed << ", budget " << seconds
            << " s (reproduce with CSP_STRESS_SEED=" << seed << ")" << std::endl;
}

}  // namespace csp::testing
