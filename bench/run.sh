#!/usr/bin/env bash
# run.sh: builds the release preset (into build/bench, so the test build keeps its examples) and runs the channel benchmarks: 5 repetitions of each,
# randomly interleaved, medians only. Writes Google Benchmark's JSON to
# bench/results/<host>-channel.json and prints a table of medians with csp/baseline ratios.
#
# Usage: bench/run.sh [extra Google Benchmark flags, e.g. --benchmark_filter=Spsc]
# Environment: CSP_BENCH_MIN_TIME  seconds per repetition (default 0.1)
#              CSP_BENCH_HOST      the name in the results file (default: hostname, else "vm")
set -euo pipefail
cd "$(dirname "$0")/.."

cmake --preset release -B build/bench -DCSP_BUILD_BENCHMARKS=ON -DCSP_BUILD_EXAMPLES=OFF \
  -DCSP_BUILD_TESTS=OFF >/dev/null
cmake --build build/bench --target csp_channel_bench

host=${CSP_BENCH_HOST:-$(hostname -s 2>/dev/null || true)}
host=${host:-vm}
mkdir -p bench/results
out=bench/results/${host}-channel.json

build/bench/bench/csp_channel_bench \
  --benchmark_repetitions=5 \
  --benchmark_report_aggregates_only=true \
  --benchmark_enable_random_interleaving=true \
  --benchmark_min_time="${CSP_BENCH_MIN_TIME:-0.1}" \
  --benchmark_out="$out" --benchmark_out_format=json \
  "$@"

echo
echo "Results: $out"
if command -v python3 >/dev/null; then
  python3 - "$out" <<'EOF'
import json, sys

with open(sys.argv[1]) as f:
    data = json.load(f)
medians = {}
for b in data["benchmarks"]:
    if b.get("aggregate_name") != "median":
        continue
    name = b["run_name"].replace("/real_time", "")
    medians[name] = b

def row(name):
    b = medians[name]
    return b["items_per_second"], b.get("cpu_util", 0.0), b.get("cpu_per_item_ns", 0.0)

print()
print(f"{'scenario (medians of 5)':<30} {'csp items/s':>12} {'cpu':>5} {'ns cpu/item':>11}"
      f" {'baseline items/s':>17} {'cpu':>5} {'ns cpu/item':>11} {'csp/base':>9}")
for name in sorted(medians):
    if "/csp" not in name:
        continue
    other = name.replace("/csp", "/mutex_condvar")
    if other not in medians:
        continue
    c, b = row(name), row(other)
    scenario = name.replace("/csp", "")
    print(f"{scenario:<30} {c[0]:>12.4g} {c[1]:>5.2f} {c[2]:>11.0f} {b[0]:>17.4g} {b[1]:>5.2f}"
          f" {b[2]:>11.0f} {c[0] / b[0]:>8.2f}x")
EOF
fi
