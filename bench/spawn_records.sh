#!/usr/bin/env bash
# spawn_records.sh: what the goroutine records cost go() — the spawn site, the name and the
# registry slot that diagnostics read (issue 5: "at no measurable cost"). Builds
# bench/spawn_bench.cpp twice, with and without the records (CMake option
# CSP_GOROUTINE_RECORDS), runs the two alternately (A B A B ...), and prints the median ns per
# go() of each and their ratio.
#
# Usage: bench/spawn_records.sh            Environment: SPAWN_REPS (default 7)
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${SPAWN_REPS:-7}

for variant in on off; do
  upper=$(tr a-z A-Z <<<"$variant")
  cmake --preset release -B "build/records-$variant" -DCSP_GOROUTINE_RECORDS="$upper" \
    -DCSP_BUILD_TESTS=OFF -DCSP_BUILD_EXAMPLES=OFF -DCSP_BUILD_BENCHMARKS=ON >/dev/null
  if ! cmake --build "build/records-$variant" --target csp_spawn_bench >"build/records-$variant.log" 2>&1; then
    tail -20 "build/records-$variant.log"
    echo "spawn_records.sh: the build with CSP_GOROUTINE_RECORDS=$upper failed" >&2
    exit 1
  fi
done

results=$(mktemp)
trap 'rm -f "$results"' EXIT
for ((i = 1; i <= reps; ++i)); do
  for variant in on off; do
    "build/records-$variant/bench/csp_spawn_bench" --benchmark_min_time=0.2 \
      --benchmark_format=csv 2>/dev/null | sed -n 's/^"\(BM_Go[^"]*\)".*,\([0-9.e+-]*\)$/\1 \2/p' |
      while read -r name ns; do echo "$variant $name $ns"; done >>"$results"
  done
done

python3 - "$results" "$reps" <<'PY'
import statistics, sys, platform, subprocess
rows = [line.split() for line in open(sys.argv[1])]
names = sorted({r[1] for r in rows})
cpu = subprocess.run("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2", shell=True,
                     capture_output=True, text=True).stdout.strip()
print(f"go() cost with and without goroutine records; {sys.argv[2]} runs each, alternated; "
      f"median ns per go() (min-max); {cpu}, {subprocess.os.cpu_count()} cores")
print(f"{'benchmark':32} {'records on':>22} {'records off':>22} {'on/off':>7}")
for name in names:
    on = [float(r[2]) * 1e9 for r in rows if r[0] == 'on' and r[1] == name]
    off = [float(r[2]) * 1e9 for r in rows if r[0] == 'off' and r[1] == name]
    m_on, m_off = statistics.median(on), statistics.median(off)
    print(f"{name:32} {m_on:8.0f} ({min(on):4.0f}-{max(on):4.0f}) "
          f"{m_off:8.0f} ({min(off):4.0f}-{max(off):4.0f}) {m_on / m_off:7.2f}")
PY
