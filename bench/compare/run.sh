#!/usr/bin/env bash
# run.sh: csp against Go, Boost.Fiber, Rust std, oneTBB, moodycamel and a mutex queue on the same
# workloads (see bench/compare/README.md).
#
# Installs what is missing with apt-get, builds csp (release preset, build/compare) and every
# peer's program in release mode, runs every workload 5 times per peer, interleaved (csp, go,
# boost, ..., csp, go, boost, ...), prints the tables of medians with min-max and the ratios,
# writes every run to bench/results/compare-<date>.json and draws bench/results/compare.svg
# (and .png) with gnuplot.
#
# Usage: bench/compare/run.sh [workload | group | glob ...]     (default: all of them)
#   groups: legacy, channels, oversub, idle; a shape alone (spsc) means all its capacities.
# Environment:
#   CMP_REPS             runs per peer and workload (default 5)
#   CMP_PEERS            comma-separated peers (default: csp,csp-threads,go,boost,rust,tbb,
#                        moodycamel,mutex)
#   CMP_MESSAGES         most messages one channel-workload run moves (default 5000000,
#                        crossbeam-channel's benchmark count)
#   CMP_TARGET_MS        about how long one channel-workload run lasts (default 250)
#   CMP_WORK_ITERATIONS  the workerpool's loop count per job (default: calibrated here to 20 us)
#   CMP_TIMEOUT          seconds before one run counts as timed out (default 60; parked: 4x)
#   CMP_OUT              the JSON file (default bench/results/compare-<date>.json)
#   CMP_WARMUP           0: no unmeasured warm-up run before the measured one (csp, Go, Boost.Fiber)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
build=$root/build/compare

# --- tools -------------------------------------------------------------------------------------
missing=()
command -v go >/dev/null 2>&1 || missing+=(golang-go)
command -v rustc >/dev/null 2>&1 || missing+=(rustc)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v gnuplot >/dev/null 2>&1 || missing+=(gnuplot-nox)
command -v taskset >/dev/null 2>&1 || missing+=(util-linux)
for package in libboost-fiber-dev libtbb-dev libconcurrentqueue-dev; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "== installing ${missing[*]}"
  sudo=""
  [[ $(id -u) == 0 ]] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- build -------------------------------------------------------------------------------------
echo "== building csp (release preset) into build/compare"
cmake --preset release -B "$build" -DCSP_BUILD_TESTS=OFF -DCSP_BUILD_EXAMPLES=OFF \
  -DCSP_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$build" --target csp
echo "== building the peers"
cxxflags=(-O2 -std=c++20 -Wall -Wextra -pthread)
src=bench/compare
g++ "${cxxflags[@]}" -I"$root/include" $src/csp/compare.cpp "$build/libcsp.a" \
  -o "$build/compare_csp"
g++ "${cxxflags[@]}" $src/boost/compare.cpp -lboost_fiber -lboost_context \
  -o "$build/compare_boost"
g++ "${cxxflags[@]}" $src/tbb/compare.cpp -ltbb -o "$build/compare_tbb"
g++ "${cxxflags[@]}" $src/moodycamel/compare.cpp -o "$build/compare_moodycamel"
g++ "${cxxflags[@]}" $src/mutex/compare.cpp -o "$build/compare_mutex"
for probe in line_handoff page_fault; do
  g++ "${cxxflags[@]}" $src/probe/$probe.cpp -o "$build/$probe"
done
GOCACHE="$build/go-cache" go build -o "$build/compare_go" $src/go/main.go

# std::sync::mpsc became crossbeam-channel's algorithm in Rust 1.67; Debian 12's rustc is 1.63.
rust_version=$(rustc --version | awk '{print $2}')
if [[ "$(printf '%s\n' 1.67.0 "$rust_version" | sort -V | head -1)" == 1.67.0 ]]; then
  export CMP_RUST_MPSC="crossbeam-channel's algorithm (rustc $rust_version >= 1.67)"
else
  export CMP_RUST_MPSC="the OLD pre-1.67 implementation, not crossbeam's (rustc $rust_version)"
  echo "== note: rustc $rust_version < 1.67: std::sync::mpsc is not crossbeam's algorithm"
fi
# mpmc needs std::sync::mpmc (unstable, the same crossbeam code): RUSTC_BOOTSTRAP=1 lets a stable
# rustc accept #![feature(mpmc_channel)]. Without it the mpmc rows say n/a.
if RUSTC_BOOTSTRAP=1 rustc -O --edition 2021 --cfg has_mpmc $src/rust/main.rs \
  -o "$build/compare_rust" 2>"$build/rustc-mpmc.log"; then
  CMP_RUST_MPSC+="; mpmc: std::sync::mpmc"
else
  echo "== note: this rustc has no std::sync::mpmc ($build/rustc-mpmc.log): rust mpmc is n/a"
  rustc -O --edition 2021 $src/rust/main.rs -o "$build/compare_rust"
  CMP_RUST_MPSC+="; mpmc: n/a"
fi

# --- run ---------------------------------------------------------------------------------------
mkdir -p bench/results
out=${CMP_OUT:-bench/results/compare-$(date +%Y-%m-%d).json}
exec python3 $src/runner.py "$build" "$out" "$@"
