#!/usr/bin/env bash
# test.sh: the whole test suite, as CI runs it. Installs what is missing, then for each of the
# release (g++), asan-ubsan (clang++), tsan (g++) and aarch64 (cross g++, tests under
# qemu-aarch64) presets: configures, builds everything with -Wall -Wextra -Werror and runs
# CTest. Stress tests run in release, tsan and aarch64, bounded by CSP_STRESS_SECONDS each.
# Ends with one line: "csp: N passed, N failed".
#
# The aarch64 preset is what runs src/platform/fiber_switch_aarch64.S at all on an x86-64
# machine: qemu-user emulates the instructions, not a real core's memory ordering (its
# host here is x86-64), so it checks the ABI — every register the switch must keep, the first
# entry of a fiber, the stack's alignment — but not weak-ordering races. The death tests skip
# there (tests/support/emulation.hpp).
#
# Usage: scripts/test.sh [preset...]     (default: release asan-ubsan tsan aarch64)
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/packages.sh
ensure_packages "${build_packages[@]}" || exit 1

presets=("$@")
[ ${#presets[@]} -eq 0 ] && presets=(release asan-ubsan tsan aarch64)
for preset in "${presets[@]}"; do
  [ "$preset" = aarch64 ] && { ensure_packages "${aarch64_packages[@]}" || exit 1; }
done
jobs=$(nproc)
export CSP_STRESS_SECONDS=${CSP_STRESS_SECONDS:-3}

# ThreadSanitizer's runtime in Debian 12 maps its shadow memory at fixed addresses that newer
# kernels with more mmap randomisation may already have used; run without ASLR there.
no_aslr=()
if [ "$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 28)" -gt 28 ]; then
  no_aslr=(setarch "$(uname -m)" -R)
fi

passed=0
failed=0
status=0
for preset in "${presets[@]}"; do
  echo "=== $preset: configure and build"
  # Examples and tests explicitly on: a build directory configured otherwise by hand must not
  # silently skip their tests.
  if ! { cmake --preset "$preset" -DCSP_BUILD_EXAMPLES=ON -DCSP_BUILD_TESTS=ON && cmake --build --preset "$preset" -j "$jobs"; } \
      >"build-$preset.log" 2>&1; then
    cat "build-$preset.log"
    echo "=== $preset: BUILD FAILED"
    status=1
    failed=$((failed + 1))
    continue
  fi
  rm -f "build-$preset.log"
  filter=()
  [ "$preset" = asan-ubsan ] && filter=(-LE stress)
  echo "=== $preset: test"
  log=$(mktemp)
  runner=()
  [ "$preset" = tsan ] && runner=("${no_aslr[@]}")
  "${runner[@]}" ctest --preset "$preset" -j "$jobs" "${filter[@]}" 2>&1 | tee "$log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  summary=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1)
  if [ -n "$summary" ]; then
    total=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$summary")
    bad=$(sed -E 's/.*passed, ([0-9]+) tests? failed.*/\1/' <<<"$summary")
    passed=$((passed + total - bad))
    failed=$((failed + bad))
  else
    failed=$((failed + 1))
    status=1
  fi
  rm -f "$log"
done

echo "csp: $passed passed, $failed failed"
exit $status
