#!/usr/bin/env bash
# ab.sh: csp against csp — two builds of compare_csp run alternately (old, new, old, new, ...)
# on the same workloads, medians and ranges printed side by side. This is how every
# before/after figure in the commit messages and docs/runtime.md is measured: on a machine whose
# speed drifts (this project's 2-vCPU VM flips between two phases about 3x apart), only builds
# run interleaved in one script can be compared.
#
# Usage: bench/compare/ab.sh OLD NEW workload...
#   OLD, NEW   commits (anything git rev-parse takes), or "." for the working tree
#   workload   any compare_csp workload: pingpong, skynet, mpmc_cap1024, spsc_cap1/threads, ...
# Environment: AB_REPS (runs of each build per workload, default 7), AB_WORK_ITERATIONS (the
# worker pool's job length; default: calibrated by the NEW build).
# Example: bench/compare/ab.sh 754b6ac e48c440 pingpong sieve spsc_cap0
# Output per workload: medians and ranges of each build, the ratio of medians, the median of the
# paired ratios (new/old of back-to-back runs), and those split by the machine's mode, probed
# before each pair as run.sh does (probe/*.cpp; fast: a cache line crosses cores in under 100
# ns and a page fault costs under 4 us).
#
# Each commit is checked out in a git worktree under build/ab/ and built with the release
# preset, exactly as bench/compare/run.sh builds compare_csp.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
reps=${AB_REPS:-7}
if [[ $# -lt 3 ]]; then
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
old=$1
new=$2
shift 2

# Builds compare_csp at `rev` and prints the binary's path.
build() {
  local rev=$1 source name
  if [[ $rev == . ]]; then
    source=$root
    name=worktree
  else
    name=$(git rev-parse --short "$rev^{commit}")
    source=$root/build/ab/source-$name
    [[ -d $source ]] || git worktree add -q --detach "$source" "$name"
  fi
  local out=$root/build/ab/$name
  (cd "$source" && cmake --preset release -B "$out" -DCSP_BUILD_TESTS=OFF \
    -DCSP_BUILD_EXAMPLES=OFF -DCSP_BUILD_BENCHMARKS=OFF >/dev/null &&
    cmake --build "$out" --target csp >/dev/null) >&2
  g++ -O2 -std=c++20 -Wall -Wextra -pthread -I"$source/include" \
    "$source/bench/compare/csp/compare.cpp" "$out/libcsp.a" -o "$out/compare_csp" >&2
  echo "$out/compare_csp"
}

echo "== building $old and $new" >&2
old_binary=$(build "$old")
new_binary=$(build "$new")
iterations=${AB_WORK_ITERATIONS:-$("$new_binary" calibrate | tail -1)}
# The machine's mode before each pair of runs (probe/*.cpp).
for probe in line_handoff page_fault; do
  g++ -O2 -std=c++20 -Wall -Wextra -pthread "bench/compare/probe/$probe.cpp" \
    -o "$root/build/ab/$probe"
done

results=$(mktemp)
trap 'rm -f "$results"' EXIT
for workload in "$@"; do
  for ((i = 1; i <= reps; ++i)); do
    line_ns=$("$root/build/ab/line_handoff" | awk '/^RESULT/ {print $4; exit}')
    fault_ns=$("$root/build/ab/page_fault" | awk '/^RESULT/ {print $4; exit}')
    echo "$workload probe ${line_ns:-nan} ${fault_ns:-nan}" >>"$results"
    for side in old new; do
      binary=$old_binary
      [[ $side == new ]] && binary=$new_binary
      # The first RESULT line is the workload's main metric.
      value=$("$binary" "$workload" "$iterations" | awk '/^RESULT/ {print $4; exit}')
      echo "$workload $side ${value:-nan}" >>"$results"
    done
  done
done

python3 - "$results" "$old" "$new" "$reps" "$root/bench/compare" <<'PY'
import collections, math, statistics, subprocess, sys
path, old, new, reps, here = sys.argv[1:]
sys.path.insert(0, here)
from runner import machine_mode  # the thresholds of run.sh's mode table
runs = collections.defaultdict(list)
ordered = collections.defaultdict(list)  # every run in order, nan included, to pair them
probes = collections.defaultdict(list)
for line in open(path):
    workload, side, *values = line.split()
    if side == "probe":
        gauges = {g: float(v) for g, v in zip(("line_handoff", "page_fault"), values)
                  if not math.isnan(float(v))}
        probes[workload].append(machine_mode(gauges))
        continue
    value = values[0]
    ordered[(workload, side)].append(float(value))
    if not math.isnan(float(value)):
        runs[(workload, side)].append(float(value))
cpu = subprocess.run("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2", shell=True,
                     capture_output=True, text=True).stdout.strip()
print(f"compare_csp at {old} (old) and {new} (new), {reps} alternated runs each; "
      f"medians (min-max); paired: the median of new/old within each pair of runs, and split by "
      f"the machine's mode (probed before each pair as run.sh does); {cpu}")
for workload in dict.fromkeys(key[0] for key in runs):
    a, b = runs[(workload, "old")], runs[(workload, "new")]
    if not a or not b:
        print(f"{workload:28} no result")
        continue
    line = (f"{workload:28} old {statistics.median(a):9.2f} ({min(a):.1f}-{max(a):.1f})  "
            f"new {statistics.median(b):9.2f} ({min(b):.1f}-{max(b):.1f})  "
            f"new/old {statistics.median(b) / statistics.median(a):.3f}")
    pairs = [(p, n / o) for p, o, n in zip(probes[workload], ordered[(workload, "old")],
                                           ordered[(workload, "new")])
             if not math.isnan(o) and not math.isnan(n) and o > 0]
    if pairs:
        line += f"  paired {statistics.median(r for _, r in pairs):.3f}"
        for mode in ("fast", "slow"):
            chosen = [r for p, r in pairs if p == mode]
            if chosen:
                line += f"  {mode} {statistics.median(chosen):.3f} (n={len(chosen)})"
    print(line)
PY
