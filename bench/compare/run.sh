#!/usr/bin/env bash
# run.sh: csp against Go and Boost.Fiber on the same workloads (see bench/compare/README.md).
#
# Installs what is missing (golang-go, libboost-fiber-dev, libbenchmark-dev), builds csp (release
# preset, build/compare) and the three peers' programs, runs every workload 5 times per peer,
# interleaved (csp, go, boost, csp, go, boost, ...), prints a table of medians with min-max and
# the ratios, and writes every run to bench/results/compare-<date>.json.
#
# Usage: bench/compare/run.sh [workload ...]      (default: all of them)
# Environment:
#   CMP_REPS             runs per peer and workload (default 5)
#   CMP_WORK_ITERATIONS  the workerpool's loop count per job (default: calibrated here to 20 us)
#   CMP_TIMEOUT          seconds before one run counts as timed out (default 60; parked: 4x)
#   CMP_OUT              the JSON file (default bench/results/compare-<date>.json)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
build=$root/build/compare

# --- tools -------------------------------------------------------------------------------------
missing=()
command -v go >/dev/null 2>&1 || missing+=(golang-go)
dpkg -s libboost-fiber-dev >/dev/null 2>&1 || missing+=(libboost-fiber-dev)
dpkg -s libbenchmark-dev >/dev/null 2>&1 || missing+=(libbenchmark-dev)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
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
g++ "${cxxflags[@]}" -I"$root/include" bench/compare/csp/compare.cpp "$build/libcsp.a" \
  -o "$build/compare_csp"
g++ "${cxxflags[@]}" bench/compare/boost/compare.cpp -lboost_fiber -lboost_context \
  -o "$build/compare_boost"
GOCACHE="$build/go-cache" go build -o "$build/compare_go" bench/compare/go/main.go

# --- run ---------------------------------------------------------------------------------------
mkdir -p bench/results
out=${CMP_OUT:-bench/results/compare-$(date +%Y-%m-%d).json}
exec python3 - "$build" "$out" "$@" <<'EOF'
import datetime, json, os, platform, re, signal, statistics, subprocess, sys, time

build, out, selected = sys.argv[1], sys.argv[2], sys.argv[3:]
reps = int(os.environ.get("CMP_REPS", "5"))
timeout = float(os.environ.get("CMP_TIMEOUT", "60"))
binary = {p: os.path.join(build, "compare_" + p) for p in ("csp", "go", "boost")}

# (workload, invocations as (peer label, program, argument)); runs are interleaved across them.
def plain(w):
    return (w, [("csp", "csp", w), ("go", "go", w), ("boost", "boost", w)])
def selects(w):  # Boost.Fiber has no select
    return (w, [("csp", "csp", w), ("csp", "csp", w + "/threads"), ("go", "go", w)])
workloads = [plain("pingpong"), plain("sieve"), plain("skynet"), plain("spawn"),
             plain("workerpool"), plain("parked"),
             selects("SelectUncontended"), selects("SelectSyncContended"),
             selects("SelectAsyncContended"), selects("SelectNonblock"),
             selects("SelectNonblockReady"),
             ("fanin", [("csp", "csp", "fanin"), ("go", "go", "fanin")])]
if selected:
    unknown = set(selected) - {w for w, _ in workloads}
    if unknown:
        sys.exit(f"unknown workload(s): {' '.join(sorted(unknown))}")
    workloads = [x for x in workloads if x[0] in selected]

def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except Exception:
        return ""

def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[:3]

cpu = "unknown"
with open("/proc/cpuinfo") as f:
    for line in f:
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
machine = {
    "host": platform.node(), "cpu_model": cpu, "cores": os.cpu_count(),
    "mem_total": sh("grep MemTotal /proc/meminfo | awk '{print $2\" kB\"}'"),
    "kernel": platform.release(), "gxx": sh("g++ --version | head -1"),
    "go": sh("go version"),
    "boost": sh("dpkg -s libboost-fiber-dev | awk '/^Version/{print $2}'"),
    "vm_max_map_count": sh("cat /proc/sys/vm/max_map_count"),
    "loadavg_start": loadavg(),
    "csp_commit": sh("git rev-parse --short HEAD") + (
        " (+ uncommitted changes in include/ or src/, sha1 of the diff: " +
        sh("{ git diff HEAD -- include src; git ls-files -o --exclude-standard -- include src"
           " | xargs -r cat; } | sha1sum | cut -c1-12") + ")"
        if sh("git status --porcelain -- include src") else ""),
}

iterations = os.environ.get("CMP_WORK_ITERATIONS")
calibration = {}
if iterations is None:
    trials = sorted(int(subprocess.run([binary["csp"], "calibrate"], capture_output=True,
                                       text=True, check=True).stdout) for _ in range(3))
    iterations = str(trials[1])
    calibration["csp"] = trials
    calibration["go"] = [int(subprocess.run([binary["go"], "calibrate"], capture_output=True,
                                            text=True).stdout or 0)]
print(f"== workerpool: {iterations} xorshift iterations per job (~20 us; calibration "
      f"{calibration or 'from CMP_WORK_ITERATIONS'})", flush=True)

result_re = re.compile(r"^RESULT (\S+) (\S+) (\S+) (.+)$")
runs = []
total = sum(len(inv) for _, inv in workloads) * reps
done = 0
started = time.time()
for workload, invocations in workloads:
    limit = timeout * (4 if workload == "parked" else 1)
    for rep in range(reps):
        for label, program, argument in invocations:
            done += 1
            cmd = [binary[program], argument]
            if workload == "workerpool":
                cmd.append(iterations)
            t0 = time.time()
            record = {"workload": workload, "invocation": argument, "peer": label,
                      "rep": rep + 1, "command": " ".join(os.path.basename(c) for c in cmd),
                      "loadavg_1min_before": float(loadavg()[0])}
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=limit,
                                      start_new_session=True)
                rc, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
                status = "ok" if rc == 0 else ("WRONG RESULT" if "WRONG RESULT" in stderr
                                               else f"FAILED rc={rc}" if rc > 0
                                               else f"CRASHED {signal.Signals(-rc).name}")
            except subprocess.TimeoutExpired as e:
                rc, status = None, f"TIMEOUT >{limit:.0f}s"
                stdout = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
                stderr = (e.stderr or b"").decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
            record["wall_s"] = round(time.time() - t0, 3)
            record["status"] = status
            record["rc"] = rc
            metrics = {}
            for line in stdout.splitlines():
                m = result_re.match(line)
                if m:
                    metrics[m.group(1)] = {"value": float(m.group(3)), "unit": m.group(4)}
            record["results"] = metrics
            record["info"] = [l for l in stdout.splitlines() if l.startswith("INFO")]
            if status != "ok":
                record["results"] = {}  # a failed run's numbers do not count
                record["stdout_tail"] = stdout[-2000:]
                record["stderr_tail"] = stderr[-2000:]
            runs.append(record)
            shown = ", ".join(f"{k} {v['value']:.4g} {v['unit']}" for k, v in metrics.items())
            print(f"[{done:3}/{total}] {argument:<28} {label:<6} rep {rep + 1}: "
                  f"{shown if status == 'ok' else status + ' ' + (stderr.strip().splitlines() or [''])[-1][:120]}",
                  flush=True)
machine["loadavg_end"] = loadavg()

# --- summary -------------------------------------------------------------------------------
higher_is_better = {"efficiency"}
summary = {}  # metric -> label -> stats
order = []
for workload, invocations in workloads:
    for r in runs:
        if r["workload"] != workload:
            continue
        for metric in r["results"]:
            if metric not in order:
                order.append(metric)
for r in runs:
    # One row per metric; a csp /threads run shows as peer "csp" of its own metric.
    for metric, v in r["results"].items():
        summary.setdefault(metric, {}).setdefault(r["peer"], {"values": [], "unit": v["unit"]})
        summary[metric][r["peer"]]["values"].append(v["value"])
failures = {}
for r in runs:
    if r["status"] != "ok":
        failures.setdefault((r["invocation"], r["peer"]), []).append(r["status"])
invocation_of = {m: r["invocation"] for r in runs for m in r["results"]}
for metric, peers in summary.items():
    for stats in peers.values():
        vals = stats["values"]
        stats.update(median=statistics.median(vals), min=min(vals), max=max(vals), n=len(vals))

def fmt(v):
    a = abs(v)
    return f"{v:.0f}" if a >= 1000 else f"{v:.1f}" if a >= 100 else f"{v:.2f}" if a >= 1 else f"{v:.3f}"

def cell(metric, peer):
    s = summary.get(metric, {}).get(peer)
    failed = failures.get((invocation_of.get(metric, metric), peer), [])
    if s is None:
        return f"{'FAILED ' + str(len(failed)) + '/' + str(reps) if failed else '-'}"
    text = f"{fmt(s['median'])} [{fmt(s['min'])}-{fmt(s['max'])}]"
    if failed:
        text += f" ({len(failed)} failed)"
    return text

def comparator(metric, peer):
    # csp's plain-thread select variants compare with Go's goroutine numbers.
    base = metric.split("/")[0]
    return summary.get(base, {}).get(peer)

rows = []
for metric in order:
    peers = summary[metric]
    unit = next(iter(peers.values()))["unit"]
    csp = peers.get("csp")
    row = [metric, unit, cell(metric, "csp"),
           cell(metric.split("/")[0], "go"), cell(metric.split("/")[0], "boost")]
    for peer in ("go", "boost"):
        other = comparator(metric, peer)
        if csp is None or other is None or csp["median"] == 0:
            row += ["-", "-"]
            continue
        ratio = other["median"] / csp["median"]
        speedup = 1 / ratio if unit in higher_is_better else ratio
        row += [f"{ratio:.2f}", f"{speedup:.2f}x"]
    rows.append(row)
header = ["metric", "unit", "csp median [min-max]", "go median [min-max]",
          "boost median [min-max]", "go/csp", "csp vs go", "boost/csp", "csp vs boost"]
widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
def line(cells):
    return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
print()
print(f"Medians of {reps} interleaved runs on {machine['host']} ({cpu}, {machine['cores']} cores); "
      f"load average {' '.join(machine['loadavg_start'])} at start, "
      f"{' '.join(machine['loadavg_end'])} at end.")
print("peer/csp: the raw ratio of medians. 'csp vs peer': how many times better csp is "
      "(peer/csp for times and bytes, csp/peer for efficiency); > 1 means csp wins.")
print("Rows '<Select...>/threads': csp from plain std::threads, compared with Go's goroutines.")
print(line(header))
print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
for r in rows:
    print(line(r))
if failures:
    print("\nFailed runs:")
    for (invocation, peer), statuses in failures.items():
        print(f"  {invocation} {peer}: {len(statuses)}/{reps}: {'; '.join(sorted(set(statuses)))}")
        for r in runs:
            if r["invocation"] == invocation and r["peer"] == peer and r["status"] != "ok":
                tail = (r["stderr_tail"].strip().splitlines() or [""])[-3:]
                print("    " + "\n    ".join(tail))
                break

document = {
    "date": datetime.datetime.now().isoformat(timespec="seconds"),
    "machine": machine,
    "config": {"reps": reps, "timeout_s": timeout, "work_iterations": int(iterations),
               "calibration": calibration, "order": "per workload: rep 1 of every peer, rep 2, ..."},
    "summary": summary,
    "runs": runs,
    "elapsed_s": round(time.time() - started, 1),
}
with open(out, "w") as f:
    json.dump(document, f, indent=1)
print(f"\nRaw results: {out} ({document['elapsed_s']:.0f} s of runs)")
sys.exit(1 if failures else 0)
EOF
