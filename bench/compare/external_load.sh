#!/usr/bin/env bash
# external_load.sh: csp's channels on a machine that other processes keep busy.
#
# Runs the plain-thread rows spsc_cap0/threads, spsc_cap1/threads and mpsc_cap1/threads (four
# producers and a consumer: the program's own threads outnumber the CPUs) of compare_csp and
# the test GoSelect.DoubleSelect (test/chan/doubleselect.go: a sender, four forwarders and a receiver,
# six plain threads on unbuffered channels, 100,000 values), REPS times each: first on a quiet
# machine, then beside HOGS busy loops (`yes > /dev/null`), each a process of its own, as a
# build or another service would be. Prints ns per message and the test's ms, run by run.
#
# Usage: bench/compare/external_load.sh [HOGS] [REPS]
#   HOGS   busy loops beside the runs (default: the CPU count); REPS runs of each (default 3)
# Environment: CMP_CSP (default build/compare/compare_csp, built by run.sh) and CMP_GO_TESTS
# (default build/release/tests/csp_go_tests) choose the binaries. CMP_OLD_CSP and
# CMP_OLD_GO_TESTS, when set, name a second build run alternately with the first (old, new, old,
# ...), each line then printed for both: the way to compare two builds on this drifting VM.
# CMP_GOROUTINE_ROWS=1 adds the goroutine rows pingpong (ns per round trip), sieve (ms) and
# workerpool (efficiency; its job length calibrated once, quiet, by the new build), each also
# run by Go (CMP_GO, default build/compare/compare_go).
# bench/compare/experiments/parker-*.patch are the variants tried on 2026-11-29.
set -euo pipefail
cd "$(dirname "$0")/../.."
hogs=${1:-$(nproc)}
reps=${2:-3}
sides=(new)
declare -A compare go_tests
compare[new]=${CMP_CSP:-build/compare/compare_csp}
go_tests[new]=${CMP_GO_TESTS:-build/release/tests/csp_go_tests}
if [[ -n ${CMP_OLD_CSP:-} || -n ${CMP_OLD_GO_TESTS:-} ]]; then
  sides=(old new)
  compare[old]=${CMP_OLD_CSP:?set both CMP_OLD_CSP and CMP_OLD_GO_TESTS}
  go_tests[old]=${CMP_OLD_GO_TESTS:?set both CMP_OLD_CSP and CMP_OLD_GO_TESTS}
fi
goroutine_rows=()
if [[ ${CMP_GOROUTINE_ROWS:-0} == 1 ]]; then
  goroutine_rows=(pingpong sieve workerpool)
  compare[go]=${CMP_GO:-build/compare/compare_go}
  [[ -x ${compare[go]} ]] || {
    echo "missing ${compare[go]}: build it first (bench/compare/run.sh)" >&2
    exit 2
  }
fi
for side in "${sides[@]}"; do
  for binary in "${compare[$side]}" "${go_tests[$side]}"; do
    [[ -x $binary ]] || {
      echo "missing $binary: build it first (bench/compare/run.sh, cmake --preset release)" >&2
      exit 2
    }
  done
done

pids=()
stop_hogs() {
  ((${#pids[@]})) && kill "${pids[@]}" 2>/dev/null || true
  pids=()
}
trap stop_hogs EXIT

# Runs every side once per rep, alternately, and prints one line per side.
measure() {
  local label=$1 workload side
  declare -A line unit
  for workload in spsc_cap0/threads spsc_cap1/threads mpsc_cap1/threads DoubleSelect \
    "${goroutine_rows[@]}"; do
    local row_sides=("${sides[@]}")
    [[ $workload == */threads || $workload == DoubleSelect ]] || row_sides+=(go)
    for side in "${row_sides[@]}"; do line[$side]=; done
    unit[$workload]=ms
    for ((i = 0; i < reps; ++i)); do
      for side in "${row_sides[@]}"; do
        if [[ $workload == DoubleSelect ]]; then
          line[$side]+=$(timeout 200 "${go_tests[$side]}" --gtest_filter=GoSelect.DoubleSelect 2>&1 |
            sed -n 's/.*OK \] GoSelect.DoubleSelect (\([0-9]*\) ms).*/ \1/p' | tr -d '\n' ||
            echo ' timeout')
        else
          local result
          result=$(timeout 120 "${compare[$side]}" "$workload" "$iterations" 2>&1 |
            awk '/^RESULT/ && !seen++') || true
          if [[ -z $result ]]; then
            line[$side]+=' timeout'
            continue
          fi
          line[$side]+=$(awk '{printf($4 < 10 ? " %.3f" : " %.0f", $4)}' <<<"$result")
          unit[$workload]=$(awk '{print $5}' <<<"$result")
        fi
      done
    done
    for side in "${row_sides[@]}"; do
      printf '%-7s %-4s %-18s %-12s%s\n' "$label" "$side" "$workload" "${unit[$workload]}:" \
        "${line[$side]}"
    done
  done
}

for side in "${sides[@]}"; do
  echo "== $side: ${compare[$side]} and ${go_tests[$side]}"
done
echo "== $(nproc) CPUs; $reps runs of each"
iterations=2000
((${#goroutine_rows[@]})) && iterations=$("${compare[new]}" calibrate | tail -1)
measure quiet
for ((h = 0; h < hogs; ++h)); do
  yes >/dev/null &
  pids+=($!)
done
measure "${hogs} hogs"
