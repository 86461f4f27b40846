#!/usr/bin/env python3
"""runner.py: runs bench/compare's programs interleaved and prints the table (see README.md).

run.sh builds the programs and then calls

    runner.py BUILD_DIR OUT_JSON [workload | group | glob ...]
    runner.py --chart JSON                 (redraws the chart of an earlier run)

Environment: CMP_REPS, CMP_TIMEOUT, CMP_PEERS, CMP_MESSAGES, CMP_TARGET_MS, CMP_WORK_ITERATIONS,
CMP_RUST_MPSC (what run.sh learnt about rustc); README.md describes them.
"""
import datetime
import fnmatch
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# --- peers -------------------------------------------------------------------------------------
# label -> (program, suffix added to the workload name). csp-threads is csp's program running the
# same workload on plain std::threads.
PEERS = {
    "csp": ("csp", ""),
    "csp-threads": ("csp", "/threads"),
    "go": ("go", ""),
    "boost": ("boost", ""),
    "rust": ("rust", ""),
    "tbb": ("tbb", ""),
    "moodycamel": ("moodycamel", ""),
    "mutex": ("mutex", ""),
}
# The two tables: runtimes that multiplex tasks on threads, compared with csp from goroutines;
# plain-thread queues, compared with csp used from plain threads.
RUNTIME_PEERS = ["csp", "go", "boost"]
THREAD_PEERS = ["csp-threads", "rust", "tbb", "moodycamel", "mutex"]
REFERENCE = {"go": "csp", "boost": "csp", "rust": "csp-threads", "tbb": "csp-threads",
             "moodycamel": "csp-threads", "mutex": "csp-threads"}

SHAPES = ["spsc", "mpsc", "mpmc", "select_rx", "select_both"]
CAPACITIES = [0, 1, 1024]
CHANNEL_WORKLOADS = ["seq"] + [f"{s}_cap{c}" for s in SHAPES for c in CAPACITIES]
OVERSUB_CAPACITIES = [1, 1024]
SELECTS = ["SelectUncontended", "SelectSyncContended", "SelectAsyncContended", "SelectNonblock",
           "SelectNonblockReady"]
LEGACY = (["pingpong", "sieve", "skynet", "skynet_live", "spawn", "workerpool", "pipeline",
           "parked"] +
          SELECTS + ["fanin", "cancel"])
GROUPS = {
    "legacy": LEGACY,
    "channels": CHANNEL_WORKLOADS,
    "oversub": [f"oversub_cap{c}" for c in OVERSUB_CAPACITIES],
    "idle": ["idle"],
}
ALL = LEGACY + CHANNEL_WORKLOADS + GROUPS["oversub"] + ["idle"]

# The pinned half of oversub: the whole process on CPU 0, every runtime told it has one core.
# Go sizes GOMAXPROCS from the CPU affinity by itself; csp and Boost are told.
PINNED_PREFIX = ["taskset", "-c", "0"]
PINNED_ENV = {"CSP_MAXPROCS": "1", "CMP_BOOST_THREADS": "1"}


class Invocation:
    """One program run per rep: which peer column it fills and how its metrics are renamed."""

    def __init__(self, label, argument, metric_suffix="", prefix=(), env=None, extra_args=()):
        self.label = label
        self.program = PEERS[label][0]
        self.argument = argument
        self.metric_suffix = metric_suffix
        self.prefix = list(prefix)
        self.env = env or {}
        self.extra_args = list(extra_args)

    def key(self):
        return (self.label, self.argument, self.metric_suffix)


def workload_invocations(workload, peers, channel_args, iterations):
    """The invocations of one workload, in the order they interleave."""
    def each(name, args=(), suffix="", prefix=(), env=None, labels=None):
        return [Invocation(p, name + PEERS[p][1], suffix, prefix, env, args)
                for p in (labels or list(PEERS)) if p in peers]

    if workload in ("pingpong", "sieve", "skynet", "spawn", "parked"):
        return each(workload, labels=RUNTIME_PEERS)
    if workload == "workerpool":
        return each(workload, [iterations], labels=RUNTIME_PEERS)
    if workload == "pipeline":
        return each(workload, [iterations], labels=["csp", "go"])  # not written for Boost.Fiber
    if workload in SELECTS:
        # csp's plain-thread rows of Go's select benchmarks are metrics of their own
        # ("<name>/threads"), compared with Go's goroutines, as before.
        out = each(workload, labels=["csp"])
        if "csp" in peers:
            out.append(Invocation("csp", workload + "/threads"))
            if workload == "SelectAsyncContended":
                # Token counters instead of channels: what this machine allows the shape at all.
                out.append(Invocation("csp", workload + "/floor"))
        return out + each(workload, labels=["go", "boost"])
    if workload == "fanin":
        return each(workload, labels=RUNTIME_PEERS)
    if workload in ("cancel", "skynet_live"):
        return each(workload, labels=["csp", "go"])  # Boost.Fiber has no context, no count
    if workload in CHANNEL_WORKLOADS:
        return each(workload, channel_args)
    if workload.startswith("oversub_cap"):
        base = "spsc_cap" + workload[len("oversub_cap"):]
        out = []
        for p in PEERS:
            if p in peers:
                name = base + PEERS[p][1]
                out.append(Invocation(p, name, "/normal", extra_args=channel_args))
                out.append(Invocation(p, name, "/pinned", PINNED_PREFIX, PINNED_ENV, channel_args))
        return out
    if workload == "idle":
        out = each("idle")
        if "boost" in peers:
            out.append(Invocation("boost", "idle_suspend"))
        return out
    raise ValueError(workload)


def select_workloads(arguments):
    if not arguments:
        return list(ALL)
    chosen = []
    for a in arguments:
        if a in GROUPS:
            matches = GROUPS[a]
        else:
            # A shape alone ("spsc") means all its capacities; globs work too ("*_cap0").
            matches = [w for w in ALL if fnmatch.fnmatchcase(w, a) or w.startswith(a + "_cap")]
        if not matches:
            sys.exit(f"unknown workload {a!r}; workloads: {' '.join(ALL)}; "
                     f"groups: {' '.join(GROUPS)}")
        chosen += [w for w in matches if w not in chosen]
    return [w for w in ALL if w in chosen]


# --- machine description -----------------------------------------------------------------------
def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except Exception:
        return ""


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[:3]


def describe_machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    dpkg = "dpkg-query -W -f='${Version}' "
    return {
        "host": platform.node(), "cpu_model": cpu, "cores": os.cpu_count(),
        "mem_total": sh("grep MemTotal /proc/meminfo | awk '{print $2\" kB\"}'"),
        "kernel": platform.release(), "gxx": sh("g++ --version | head -1"),
        "go": sh("go version"),
        "rustc": sh("rustc --version"),
        "rust_mpsc": os.environ.get("CMP_RUST_MPSC", ""),
        "boost": sh(dpkg + "libboost-fiber-dev"),
        "tbb": sh(dpkg + "libtbb-dev"),
        "concurrentqueue": sh(dpkg + "libconcurrentqueue-dev"),
        "gnuplot": sh("gnuplot --version"),
        "vm_max_map_count": sh("cat /proc/sys/vm/max_map_count"),
        "loadavg_start": loadavg(),
        "csp_commit": sh("git rev-parse --short HEAD") + (
            " (+ uncommitted changes in include/ or src/, sha1 of the diff: " +
            sh("{ git diff HEAD -- include src; git ls-files -o --exclude-standard -- include src"
               " | xargs -r cat; } | sha1sum | cut -c1-12") + ")"
            if sh("git status --porcelain -- include src") else ""),
    }


# --- running -----------------------------------------------------------------------------------
RESULT_RE = re.compile(r"^RESULT (\S+) (\S+) (\S+) (.+)$")
NA_RE = re.compile(r"^NA (\S+) (\S+) (.+)$")


def run_one(build, inv, timeout):
    cmd = inv.prefix + [os.path.join(build, "compare_" + inv.program), inv.argument] + \
        inv.extra_args
    env = dict(os.environ, **inv.env)
    started = time.time()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              start_new_session=True, env=env)
        rc, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
        status = "ok" if rc == 0 else ("WRONG RESULT" if "WRONG RESULT" in stderr
                                       else f"FAILED rc={rc}" if rc > 0
                                       else f"CRASHED {signal.Signals(-rc).name}")
    except subprocess.TimeoutExpired as e:
        rc, status = None, f"TIMEOUT >{timeout:g}s"
        decode = (lambda b: b.decode(errors="replace") if isinstance(b, bytes) else (b or ""))
        stdout, stderr = decode(e.stdout), decode(e.stderr)
    record = {"invocation": inv.argument, "peer": inv.label,
              "command": " ".join(inv.prefix + ["compare_" + inv.program, inv.argument] +
                                  inv.extra_args),
              "env": inv.env, "wall_s": round(time.time() - started, 3), "status": status,
              "rc": rc}
    results, na = {}, {}
    for line in stdout.splitlines():
        m = RESULT_RE.match(line)
        if m:
            results[m.group(1) + inv.metric_suffix] = {"value": float(m.group(3)),
                                                       "unit": m.group(4)}
        m = NA_RE.match(line)
        if m:
            na[m.group(1) + inv.metric_suffix] = m.group(3)
    if status == "ok" and not results and not na:
        # Exited 0 without reporting anything: a failure too, never a silent empty cell.
        status = record["status"] = "NO RESULT"
    record["results"] = results if status == "ok" else {}  # a failed run's numbers do not count
    record["not_available"] = na
    record["info"] = [l for l in stdout.splitlines() if l.startswith("INFO")]
    if status != "ok":
        record["stdout_tail"] = stdout[-2000:]
        record["stderr_tail"] = stderr[-2000:]
    return record, stderr


# The machine's mode, gauged just before each rep by two probes (probe/*.cpp): how long a cache
# line takes between two cores, and what the first touch of a fresh page costs. A rep where
# either reads at or above its threshold ran in the slow mode.
SLOW_NS = {"line_handoff": 100.0, "page_fault": 4000.0}


def probe_machine(build):
    """{gauge: ns} for each probe that answered (see SLOW_NS)."""
    gauges = {}
    for gauge in SLOW_NS:
        try:
            out = subprocess.run([os.path.join(build, gauge)], capture_output=True, text=True,
                                 timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        m = re.search(rf"^RESULT {gauge} \S+ (\S+)", out, re.M)
        if m:
            gauges[gauge] = float(m.group(1))
    return gauges


def machine_mode(gauges):
    """"fast", "slow", or None when a probe did not answer."""
    if set(gauges) != set(SLOW_NS):
        return None
    return "slow" if any(gauges[g] >= limit for g, limit in SLOW_NS.items()) else "fast"


def calibrate(build):
    trials = sorted(int(subprocess.run([os.path.join(build, "compare_csp"), "calibrate"],
                                       capture_output=True, text=True, check=True).stdout)
                    for _ in range(3))
    go = subprocess.run([os.path.join(build, "compare_go"), "calibrate"], capture_output=True,
                        text=True).stdout
    return str(trials[1]), {"csp": trials, "go": [int(go or 0)]}


# --- summary -----------------------------------------------------------------------------------
HIGHER_IS_BETTER = {"efficiency"}


def summarize(runs):
    summary = {}  # metric -> label -> stats
    for r in runs:
        for metric, v in r["results"].items():
            entry = summary.setdefault(metric, {}).setdefault(
                r["peer"], {"values": [], "unit": v["unit"]})
            entry["values"].append(v["value"])
    # oversub: the ratio pinned / normal of each rep's pair of runs (they ran back to back).
    pairs = {}
    for r in runs:
        for metric, v in r["results"].items():
            for half in ("/normal", "/pinned"):
                if metric.endswith(half):
                    base = metric[:-len(half)]
                    pairs.setdefault((base, r["peer"], r["rep"]), {})[half] = v["value"]
    for (base, peer, _), pair in sorted(pairs.items()):
        if len(pair) == 2 and pair["/normal"] > 0:
            metric = "oversub_cap" + base[len("spsc_cap"):]
            entry = summary.setdefault(metric, {}).setdefault(
                peer, {"values": [], "unit": "pinned/normal"})
            entry["values"].append(pair["/pinned"] / pair["/normal"])
    # workerpool_of_ceiling: each run's efficiency over the ceiling it measured right after, in
    # the same process (two plain threads splitting the jobs, no channels). The VM's two busy
    # vCPUs each run the jobs 2-9% slower than one busy vCPU, from run to run: this ratio is
    # the cost of the runtime itself, which the efficiency alone mixes with that.
    for r in runs:
        res = r["results"]
        if "workerpool" in res and res.get("workerpool_ceiling", {}).get("value", 0) > 0:
            entry = summary.setdefault("workerpool_of_ceiling", {}).setdefault(
                r["peer"], {"values": [], "unit": "efficiency"})
            entry["values"].append(res["workerpool"]["value"] /
                                   res["workerpool_ceiling"]["value"])
    for peers in summary.values():
        for stats in peers.values():
            vals = stats["values"]
            stats.update(median=statistics.median(vals), min=min(vals), max=max(vals),
                         n=len(vals))
    return summary


def fmt(v):
    a = abs(v)
    return (f"{v:.0f}" if a >= 1000 else f"{v:.1f}" if a >= 100 else f"{v:.2f}" if a >= 1
            else f"{v:.3f}" if a >= 0.01 else f"{v:.4f}")


def metric_order(runs, summary):
    order = []
    for r in runs:
        names = list(r["results"]) + list(r["not_available"])
        if r["status"] != "ok" and not names:
            names = [r["metric_hint"]]
        for name in names:
            if name.endswith("/normal") or name.endswith("/pinned"):
                base = "oversub_cap" + name.split("/")[0][len("spsc_cap"):]
                for m in (base, base + "/normal", base + "/pinned"):
                    if m not in order:
                        order.append(m)
            elif name not in order:
                order.append(name)
            if name == "workerpool_ceiling" and "workerpool_of_ceiling" not in order:
                order.append("workerpool_of_ceiling")
    return order


def build_tables(runs, summary, na, failures, reps):
    """Two tables: runtimes (csp, go, boost) and plain threads (csp-threads, rust, ...)."""
    def stats(metric, peer):
        if metric.startswith("oversub_cap") and "/" in metric:  # the raw halves
            base, half = metric.split("/")
            metric = "spsc_cap" + base[len("oversub_cap"):] + "/" + half
        return summary.get(metric, {}).get(peer), metric

    # A run reports several metrics (spawn and spawn_mem): a failure shows in each of them.
    hint_of = {(m, r["peer"]): r["metric_hint"] for r in runs for m in r["results"]}

    def cell(metric, peer):
        s, key = stats(metric, peer)
        failed = failures.get((hint_of.get((key, peer), key), peer), [])
        if metric.startswith("oversub_cap") and "/" not in metric:
            # The ratio row fails or is n/a with its halves.
            for half in ("/normal", "/pinned"):
                raw = "spsc_cap" + metric[len("oversub_cap"):] + half
                failed = failed or failures.get((raw, peer), [])
                if s is None and (raw, peer) in na:
                    return "n/a: " + na[(raw, peer)]
        if s is None:
            if (key, peer) in na:
                return "n/a: " + na[(key, peer)]
            return f"FAILED {len(failed)}/{reps}" if failed else "-"
        text = f"{fmt(s['median'])} [{fmt(s['min'])}-{fmt(s['max'])}]"
        if failed:
            text += f" ({len(failed)} failed)"
        return text

    def ratio(metric, peer, reference):
        if metric == "idle" or metric.startswith("idle") or metric.startswith("oversub"):
            return "-"  # near-zero CPU and ratios of ratios: read the values themselves
        base = metric.split("/")[0] if metric.endswith("/threads") else metric
        mine = summary.get(metric, {}).get(reference)
        other = summary.get(base, {}).get(peer)
        if mine is None or other is None or mine["median"] == 0 or other["median"] == 0:
            return "-"
        r = other["median"] / mine["median"]
        unit = mine["unit"]
        return f"{(1 / r if unit in HIGHER_IS_BETTER else r):.2f}x"

    order = metric_order(runs, summary)
    unit_of = {}
    for metric in order:
        for peer in PEERS:
            s, _ = stats(metric, peer)
            if s:
                unit_of.setdefault(metric, s["unit"])
    tables = []
    for title, peers in (("goroutines and fibers (ratios against csp from goroutines)",
                          RUNTIME_PEERS),
                         ("plain threads (ratios against csp from plain threads)", THREAD_PEERS)):
        rows = []
        for metric in order:
            base = metric.split("/")[0] if metric.endswith("/threads") else metric
            cells = {p: cell(metric if p == peers[0] else base, p) for p in peers}
            if all(c == "-" for c in cells.values()):
                continue
            # csp's own "/threads" select rows belong to the first table only.
            if peers is THREAD_PEERS and metric.endswith("/threads"):
                continue
            ratios = [ratio(metric, p, peers[0]) for p in peers[1:]]
            rows.append([metric, unit_of.get(metric, "")] + [cells[p] for p in peers] + ratios)
        if rows:
            header = (["metric", "unit"] + [f"{p} median [min-max]" for p in peers] +
                      [f"csp vs {p}" for p in peers[1:]])
            tables.append({"title": title, "header": header, "rows": rows})
    return tables


def mode_table(runs):
    """Paired ratios (each peer against its csp column, within one rep) split by the machine's
    mode at that rep, as probe_machine gauged it just before."""
    by_rep = {}
    for r in runs:
        by_rep.setdefault((r["workload"], r["rep"]), []).append(r)
    probes = [g[0].get("machine_ns", {}) for g in by_rep.values()]
    if not any(probes):
        return None
    ratios = {}  # (metric, peer) -> {"fast": [...], "slow": [...]}
    for group in by_rep.values():
        mode = machine_mode(group[0].get("machine_ns", {}))
        if mode is None:
            continue
        for other in group:
            reference = REFERENCE.get(other["peer"])
            if reference is None:
                continue
            for mine in group:
                if mine["peer"] != reference:
                    continue
                for metric, value in mine["results"].items():
                    base = metric.split("/")[0] if metric.endswith("/threads") else metric
                    theirs = other["results"].get(base)
                    if theirs is None or value["value"] == 0 or theirs["value"] == 0:
                        continue
                    r = theirs["value"] / value["value"]
                    if value["unit"] in HIGHER_IS_BETTER:
                        r = 1 / r
                    ratios.setdefault((metric, other["peer"]), {"fast": [], "slow": []})[
                        mode].append(r)
    rows = []
    for (metric, peer), split in ratios.items():
        cells = []
        for mode in ("fast", "slow"):
            vals = split[mode]
            cells.append(f"{statistics.median(vals):.2f}x [{min(vals):.2f}-{max(vals):.2f}] "
                         f"n={len(vals)}" if vals else "-")
        rows.append([metric, f"csp vs {peer}"] + cells)
    fast = sum(1 for p in probes if machine_mode(p) == "fast")
    read = []
    for gauge, limit in SLOW_NS.items():
        values = [p[gauge] for p in probes if gauge in p]
        if values:
            read.append(f"{gauge} {statistics.median(values):.0f} ns [{min(values):.0f}-"
                        f"{max(values):.0f}], slow from {limit:.0f}")
    title = (f"by the machine's mode (paired ratios within a rep; probed before each rep: "
             f"{'; '.join(read)}; {fast} of {len(probes)} reps fast)")
    header = ["metric", "pair", "fast reps: median [min-max]", "slow reps: median [min-max]"]
    return {"title": title, "header": header, "rows": rows} if rows else None


def print_table(table):
    header, rows = table["header"], table["rows"]
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]

    def line(cells):
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
    print(f"\n{table['title']}:")
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))


# --- chart -------------------------------------------------------------------------------------
CHART_SERIES = [("go", "csp"), ("boost", "csp"), ("rust", "csp-threads"), ("tbb", "csp-threads"),
                ("moodycamel", "csp-threads"), ("mutex", "csp-threads")]


def draw_chart(json_path, results_dir):
    """bench/results/compare.svg (and .png): each peer's median over csp's, channel workloads."""
    with open(json_path) as f:
        document = json.load(f)
    summary = document["summary"]
    rows = [w for w in CHANNEL_WORKLOADS if w in summary]
    if not rows:
        print("(no channel workload in this run: no chart)")
        return
    if not shutil.which("gnuplot"):
        print("(gnuplot is missing: no chart)")
        return
    data = os.path.join(tempfile.mkdtemp(prefix="compare-chart-"), "chart.dat")
    with open(data, "w") as f:
        f.write("# workload " + " ".join(p for p, _ in CHART_SERIES) + "\n")
        f.write("# peer median / csp median (goroutines for go and boost, plain threads for "
                "the others); > 1: csp is faster; NaN: n/a or failed\n")
        for w in rows:
            values = []
            for peer, reference in CHART_SERIES:
                mine = summary[w].get(reference)
                other = summary[w].get(peer)
                values.append(f"{other['median'] / mine['median']:.4g}"
                              if mine and other and mine["median"] > 0 else "NaN")
            f.write(w + " " + " ".join(values) + "\n")
    machine = document["machine"]
    subtitle = (f"{document['date']}, {machine['cpu_model']}, {machine['cores']} cores, "
                f"median of {document['config']['reps']} runs")
    script = os.path.join(HERE, "chart.gp")
    terminals = [("svg", os.path.join(results_dir, "compare.svg"))]
    if "pngcairo" in sh("gnuplot -e 'set terminal' 2>&1"):
        terminals.append(("pngcairo", os.path.join(results_dir, "compare.png")))
    for terminal, out in terminals:
        proc = subprocess.run(["gnuplot", "-e",
                               f"datafile='{data}'; outfile='{out}'; terminal='{terminal}'; "
                               f"subtitle='{subtitle}'", script],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"gnuplot failed for {out}:\n{proc.stderr[-1500:]}")
        else:
            print(f"Chart: {os.path.relpath(out)}")
    shutil.rmtree(os.path.dirname(data), ignore_errors=True)


# --- main --------------------------------------------------------------------------------------
def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--chart":
        draw_chart(sys.argv[2], os.path.dirname(os.path.abspath(sys.argv[2])))
        return 0
    build, out, selected = sys.argv[1], sys.argv[2], sys.argv[3:]
    reps = int(os.environ.get("CMP_REPS", "5"))
    timeout = float(os.environ.get("CMP_TIMEOUT", "60"))
    peers = [p.strip() for p in os.environ.get("CMP_PEERS", ",".join(PEERS)).split(",")
             if p.strip()]
    unknown = set(peers) - set(PEERS)
    if unknown:
        sys.exit(f"unknown peer(s) {' '.join(sorted(unknown))}; peers: {' '.join(PEERS)}")
    channel_args = [os.environ.get("CMP_MESSAGES", "5000000"),
                    os.environ.get("CMP_TARGET_MS", "250")]
    workloads = select_workloads(selected)
    machine = describe_machine()

    iterations, calibration = os.environ.get("CMP_WORK_ITERATIONS"), {}
    if "workerpool" in workloads or "pipeline" in workloads:
        if iterations is None:
            iterations, calibration = calibrate(build)
        print(f"== workerpool, pipeline: {iterations} xorshift iterations per job (~20 us; "
              f"calibration {calibration or 'from CMP_WORK_ITERATIONS'})", flush=True)
    plan = [(w, workload_invocations(w, peers, channel_args, iterations or "0"))
            for w in workloads]
    total = sum(len(invs) for _, invs in plan) * reps
    print(f"== {len(workloads)} workloads, peers {' '.join(peers)}, {reps} interleaved runs "
          f"each; channel workloads move up to {channel_args[0]} messages in about "
          f"{channel_args[1]} ms per run", flush=True)

    runs, na_seen = [], {}
    done, started = 0, time.time()
    for workload, invocations in plan:
        limit = timeout * (4 if workload == "parked" else 1)
        for rep in range(reps):
            gauges = probe_machine(build)
            for inv in invocations:
                done += 1
                if inv.key() in na_seen:  # the program said n/a once; it will not change
                    continue
                record, stderr = run_one(build, inv, limit)
                # The metric a failed run would have reported: csp-threads' names drop the
                # program's "/threads", csp's own Select.../threads rows keep it.
                name = inv.argument[:len(inv.argument) - len(PEERS[inv.label][1])]
                record.update(workload=workload, rep=rep + 1, machine_ns=gauges,
                              loadavg_1min_before=float(loadavg()[0]),
                              metric_hint=name + inv.metric_suffix)
                runs.append(record)
                if record["not_available"] and not record["results"] and record["status"] == "ok":
                    na_seen[inv.key()] = True
                shown = ", ".join(f"{k} {v['value']:.4g} {v['unit']}"
                                  for k, v in record["results"].items())
                shown += "".join(f"n/a: {reason}" for reason in record["not_available"].values())
                tail = (stderr.strip().splitlines() or [""])[-1][:120]
                where = " (pinned)" if inv.prefix else ""
                print(f"[{done:4}/{total}] {inv.argument + where:<32} {inv.label:<11} "
                      f"rep {rep + 1}: "
                      f"{shown if record['status'] == 'ok' else record['status'] + ' ' + tail}",
                      flush=True)
    machine["loadavg_end"] = loadavg()

    summary = summarize(runs)
    na = {(m, r["peer"]): reason for r in runs for m, reason in r["not_available"].items()}
    failures = {}
    for r in runs:
        if r["status"] != "ok":
            failures.setdefault((r["metric_hint"], r["peer"]), []).append(r["status"])
    tables = build_tables(runs, summary, na, failures, reps)

    print()
    print(f"Medians of {reps} interleaved runs on {machine['host']} ({machine['cpu_model']}, "
          f"{machine['cores']} cores); load average {' '.join(machine['loadavg_start'])} at "
          f"start, {' '.join(machine['loadavg_end'])} at end.")
    print("'csp vs peer': how many times better csp is (peer/csp for times and bytes, csp/peer "
          "for efficiency); > 1 means csp wins.")
    print("Channel workloads: ns per message. Rows '<Select...>/threads': csp from plain "
          "std::threads, compared with Go's goroutines.")
    print("oversub_capN: spsc_capN with the whole process pinned to CPU 0 (taskset -c 0; "
          "CSP_MAXPROCS=1, Boost on 1 thread, Go's GOMAXPROCS follows the affinity) over the "
          "same run unpinned, per pair of runs; /normal and /pinned rows: ns/msg.")
    print(f"rust: {machine['rustc']} — std::sync::mpsc is {machine['rust_mpsc'] or 'unknown'}. "
          "moodycamel is unbounded: its cap1024 and seq rows run without a bound.")
    for table in tables:
        print_table(table)
    modes = mode_table(runs)
    if modes:
        print_table(modes)
    if failures:
        print("\nFailed runs:")
        for (metric, peer), statuses in failures.items():
            print(f"  {metric} {peer}: {len(statuses)}/{reps}: {'; '.join(sorted(set(statuses)))}")
            for r in runs:
                if r["metric_hint"] == metric and r["peer"] == peer and r["status"] != "ok":
                    tail = (r["stderr_tail"].strip().splitlines() or [""])[-3:]
                    print("    " + "\n    ".join(tail))
                    break

    document = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": machine,
        "config": {"reps": reps, "timeout_s": timeout, "peers": peers, "workloads": workloads,
                   "work_iterations": int(iterations) if iterations else None,
                   "calibration": calibration, "max_messages": int(channel_args[0]),
                   "target_ms": float(channel_args[1]),
                   "pinned": {"prefix": PINNED_PREFIX, "env": PINNED_ENV},
                   "order": "per workload: rep 1 of every peer, rep 2, ..."},
        "summary": summary,
        "not_available": {f"{m} {p}": reason for (m, p), reason in na.items()},
        "tables": tables,
        "modes": modes,
        "runs": runs,
        "elapsed_s": round(time.time() - started, 1),
    }
    with open(out, "w") as f:
        json.dump(document, f, indent=1)
    print(f"\nRaw results: {out} ({document['elapsed_s']:.0f} s of runs)")
    draw_chart(out, os.path.dirname(os.path.abspath(out)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
