#!/usr/bin/env bash
# loop.sh: runs a build's test binaries again and again, each time in a new shuffled order, until
# the time is up, and keeps the log of every run that fails or hangs. CI runs each stress test
# once, for 2 s per build; a bug that needs an unlucky interleaving shows up only over many runs
# (2026-11-29: a TSan run of csp_stress_tests hung once in 24, which led to the fix in c71dad0).
#
# Usage: tests/stress/loop.sh BUILD MINUTES [BINARY...]
#   BUILD     a build directory under build/ (release, asan-ubsan, tsan), already built
#   MINUTES   how long to keep going
#   BINARY    test binaries to run (default: csp_unit_tests csp_go_tests csp_stress_tests)
# Each run is bounded by the tests' own watchdog (60 s per test) and by a 15-minute timeout.
# Logs of failed runs: build/BUILD/stress-loop/run_N.log; the summary goes to stdout.
set -uo pipefail
cd "$(dirname "$0")/../.."
if [[ $# -lt 2 ]]; then
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
build=$1
minutes=$2
shift 2
binaries=("$@")
[[ ${#binaries[@]} -gt 0 ]] || binaries=(csp_unit_tests csp_go_tests csp_stress_tests)

# The sanitizer options of the test presets (CMakePresets.json).
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:allocator_may_return_null=1:atexit_sleep_ms=0

logs=build/$build/stress-loop
mkdir -p "$logs"
end=$(($(date +%s) + minutes * 60))
runs=0
failures=0
while [[ $(date +%s) -lt $end ]]; do
  for binary in "${binaries[@]}"; do
    path=build/$build/tests/$binary
    [[ -x $path ]] || { echo "no $path: build it first" >&2; exit 2; }
    runs=$((runs + 1))
    seed=$((RANDOM * 32768 + RANDOM))
    log=$logs/run_$runs.log
    # setarch -R: TSan needs the address space unrandomized on newer kernels.
    if timeout 900 setarch "$(uname -m)" -R "$path" --gtest_shuffle --gtest_random_seed=$((seed % 99999 + 1)) \
      >"$log" 2>&1; then
      rm -f "$log"
    else
      failures=$((failures + 1))
      echo "FAIL run $runs: $binary, shuffle seed $((seed % 99999 + 1)), log $log"
      grep -E "FAILED|watchdog|WARNING: .*Sanitizer|ERROR: .*Sanitizer|runtime error|Assertion" "$log" |
        head -5
    fi
    [[ $(date +%s) -lt $end ]] || break
  done
done
echo "$runs runs of ${binaries[*]} in build/$build, $failures failed"
[[ $failures -eq 0 ]]
