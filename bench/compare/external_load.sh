#!/usr/bin/env bash
# external_load.sh: csp's plain-thread channels on a machine that other processes keep busy.
#
# Runs the plain-thread rows spsc_cap0/threads and spsc_cap1/threads of compare_csp and the test
# GoSelect.DoubleSelect (test/chan/doubleselect.go: a sender, four forwarders and a receiver,
# six plain threads on unbuffered channels, 100,000 values), REPS times each: first on a quiet
# machine, then beside HOGS busy loops (`yes > /dev/null`), each a process of its own, as a
# build or another service would be. Prints ns per message and the test's ms, run by run.
#
# Usage: bench/compare/external_load.sh [HOGS] [REPS]
#   HOGS   busy loops beside the runs (default: the CPU count); REPS runs of each (default 3)
# Environment: CMP_CSP (default build/compare/compare_csp, built by run.sh) and CMP_GO_TESTS
# (default build/release/tests/csp_go_tests) choose the binaries, so that two builds can be
# compared; bench/compare/experiments/parker-*.patch are the variants tried on 2026-11-29.
set -euo pipefail
cd "$(dirname "$0")/../.."
hogs=${1:-$(nproc)}
reps=${2:-3}
compare=${CMP_CSP:-build/compare/compare_csp}
go_tests=${CMP_GO_TESTS:-build/release/tests/csp_go_tests}
for binary in "$compare" "$go_tests"; do
  [[ -x $binary ]] || {
    echo "missing $binary: build it first (bench/compare/run.sh, cmake --preset release)" >&2
    exit 2
  }
done

pids=()
stop_hogs() {
  ((${#pids[@]})) && kill "${pids[@]}" 2>/dev/null || true
  pids=()
}
trap stop_hogs EXIT

measure() {
  local label=$1 workload
  for workload in spsc_cap0/threads spsc_cap1/threads; do
    printf '%-7s %-18s ns/msg:' "$label" "$workload"
    for ((i = 0; i < reps; ++i)); do
      timeout 120 "$compare" "$workload" 2>&1 | awk '/^RESULT/ {printf " %.0f", $4}' || printf ' timeout'
    done
    echo
  done
  printf '%-7s %-18s ms:    ' "$label" DoubleSelect
  for ((i = 0; i < reps; ++i)); do
    timeout 200 "$go_tests" --gtest_filter=GoSelect.DoubleSelect 2>&1 |
      sed -n 's/.*OK \] GoSelect.DoubleSelect (\([0-9]*\) ms).*/ \1/p' | tr -d '\n' ||
      printf ' timeout'
  done
  echo
}

echo "== $(nproc) CPUs; $compare and $go_tests; $reps runs each"
measure quiet
for ((h = 0; h < hogs; ++h)); do
  yes >/dev/null &
  pids+=($!)
done
measure "${hogs} hogs"
