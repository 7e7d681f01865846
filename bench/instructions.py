#!/usr/bin/env python3
"""Proxy instructions per request under callgrind: the benchmark's noise-free companion.

On a shared 2-core machine a proxy's CPU time per request moves by ±25 % from one run to the next,
so differences of a few µs between variants drown. The instructions a proxy executes per request do
not: this runs each variant's Envoy (the same bootstrap `bench/run.py` uses) under
`valgrind --tool=callgrind` with instrumentation off, warms it up, switches counting on for a fixed
number of sequential requests over one keep-alive connection (and the ticks and export callouts that
fall in that window), and divides. Counted are the proxy's user-space instructions: Envoy's C++, V8's
runtime and the JIT-compiled wasm alike; kernel work (sockets, the exporters' POSTs) is not, so this
complements the CPU-time tables rather than replacing them.

    .venv/bin/python bench/instructions.py                        # the benchmark's main variants
    .venv/bin/python bench/instructions.py --probe                # host-call prices in instructions
    .venv/bin/python bench/instructions.py --candidate lean=/tmp/hoptrace.wasm

Writes bench/instructions.md (or --out). Needs valgrind (`make bench` installs it).
"""

import argparse
import datetime
import glob
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

import run  # noqa: E402
from procs import Processes, free_port  # noqa: E402
from variants import BY_NAME, candidate_variants, probe_variants  # noqa: E402

MAIN_VARIANTS = ("baseline", "native100_upstream", "native1", "floor_noop", "floor_rewrite", "floor_rewrite_trimmed",
                 "hoptrace100", "hoptrace1")
PROBE_OPS = ("clock", "header_absent", "header_set", "header_present", "header_pairs", "property")
PROBE_CALLS = 10


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variants", help="comma-separated subset of the main variants")
    p.add_argument("--candidate", action="append", default=[], metavar="LABEL=WASM",
                   help="also count hoptrace100 and hoptrace1 from another .wasm build")
    p.add_argument("--probe", action="store_true",
                   help=f"price host calls instead: the probe filter making {PROBE_CALLS} calls of "
                        "each kind per request, against its no-call build")
    p.add_argument("--requests", type=int, default=2000, help="counted requests per variant")
    p.add_argument("--warmup", type=int, default=200, help="uncounted requests before counting")
    p.add_argument("--connections", type=int, default=1,
                   help="keep-alive connections sending in parallel (default 1: sequential)")
    p.add_argument("--cache-sim", action="store_true",
                   help="also simulate the caches (callgrind --cache-sim=yes, ~2x slower) and report "
                   "L1 and last-level misses per request: what instruction counts cannot see")
    p.add_argument("--branch-sim", action="store_true",
                   help="also simulate branch prediction (callgrind --branch-sim=yes) and report "
                   "mispredicted conditional and indirect branches per request (with --cache-sim they "
                   "enter the cycle estimate)")
    p.add_argument("--envoy")
    p.add_argument("--wasm-dir", default=os.environ.get(
        "HOPTRACE_WASM_DIR", str(REPO / "target" / "wasm32-wasip1" / "release")))
    p.add_argument("--out", help="default bench/instructions.md (bench/hostcall-instructions.md "
                                 "with --probe)")
    return p.parse_args()


def send(port, n):
    """`n` sequential GETs on one keep-alive connection; every answer must be a 200."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        for _ in range(n):
            conn.request("GET", "/")
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                raise RuntimeError(f"status {resp.status}")
    finally:
        conn.close()


# Seconds of no traffic counted first, to price what time alone costs each proxy: Envoy's stats
# flush every 5 s, so a shorter window would catch one flush or none and over- or under-price it.
IDLE_SECONDS = 5.0


def send_concurrently(port, n, connections):
    """`n` GETs spread over `connections` keep-alive connections in parallel (as wrk keeps several
    requests in the proxy at once, which changes how its work is batched)."""
    if connections <= 1:
        send(port, n)
        return
    errors = []

    def worker(count):
        try:
            send(port, count)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    share = [n // connections + (1 if i < n % connections else 0) for i in range(connections)]
    threads = [threading.Thread(target=worker, args=(c,)) for c in share]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} connection(s) failed: {errors[0]}")


def events_of(path):
    """Event totals (Ir, and with --cache-sim the simulated misses) of one callgrind dump."""
    names, totals = ["Ir"], {"Ir": 0}
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("events:"):
                names = line.split()[1:]
            elif line.startswith(("summary:", "totals:")):
                totals = dict(zip(names, map(int, line.split()[1:])))
    return totals


def callgrind_dumps(prefix):
    """The numbered dumps `callgrind_control -d` wrote for `prefix`, in order (prefix.1, .2, …)."""
    numbered = []
    for path in glob.glob(f"{prefix}.*"):
        suffix = path.rsplit(".", 1)[1]
        if suffix.isdigit():
            numbered.append((int(suffix), path))
    return [path for _, path in sorted(numbered)]


def net_of_idle(window, window_s, idle, idle_s):
    """The counted window's events minus what the idle window says time alone costs (timers,
    ticks, stats flushes) over the same seconds: work that runs per second, not per request, and
    that callgrind's slowness would otherwise charge to ~50× fewer requests than a real proxy."""
    rate = {k: n / idle_s for k, n in idle.items()} if idle_s > 0 else {}
    return {k: n - rate.get(k, 0) * window_s for k, n in window.items()}


class Counter:
    """The sink, the upstream, and the variants under callgrind: started together, counted one at
    a time."""

    def __init__(self, args, envoy, run_dir):
        self.args = args
        self.envoy = envoy
        self.run_dir = run_dir
        self.bench = run.Bench(argparse.Namespace(load_core=1, proxy_core=0, wasm_dir=args.wasm_dir),
                               envoy, None, run_dir)
        self.procs = self.bench.procs
        self.misses = {}  # variant -> {event: per request}, with --cache-sim
        self.spans = {}  # variant -> spans the sink received for the counted requests
        self.time_driven = {}  # variant -> per-request share of the idle rate, subtracted

    def start(self, v):
        """Starts `v`'s Envoy under callgrind with counting off. Start-up under valgrind is most of
        a variant's time, so all variants start together; counting waits for a quiet machine."""
        port, admin = free_port(), free_port()
        bootstrap = v.bootstrap(port, admin, self.bench.upstream_port, self.bench.sinks[v.name],
                                self.args.wasm_dir)
        cfg = self.run_dir / f"{v.name}.yaml"
        cfg.write_text(json.dumps(bootstrap, indent=1))
        prefix = self.run_dir / f"{v.name}.callgrind"
        self.procs.start(v.name, ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                                  "--smc-check=all", f"--callgrind-out-file={prefix}",
                                  *(["--cache-sim=yes"] if self.args.cache_sim else []),
                                  *(["--branch-sim=yes"] if self.args.branch_sim else []), self.envoy,
                                  "-c", str(cfg), "--concurrency", "1", "--disable-hot-restart",
                                  "--log-level", "warn"], "0,1")
        return {"port": port, "admin": admin, "prefix": prefix}

    def wait_ready(self, v, started):
        """Waits until `v` is ready, then pins all its threads to the proxy core, as in the timed
        run (start-up used both cores)."""
        self.procs.wait_http(v.name, f"http://127.0.0.1:{started['admin']}/ready", timeout=900)
        subprocess.run(["taskset", "-a", "-p", "-c", "0", str(self.procs.pid(v.name))], check=True,
                       capture_output=True)

    def count(self, v, started):
        """Counts `v` (already ready), then stops it."""
        port, prefix = started["port"], started["prefix"]
        began = time.monotonic()
        try:
            pid = str(self.procs.pid(v.name))
            # Before any traffic: the idle window must not catch the warm-up's leftovers (delayed
            # exports, V8 compiling what the warm-up made hot), which are not per-second work.
            idle_s = self.window(pid, lambda: time.sleep(0.5), lambda: time.sleep(IDLE_SECONDS))
            spans_before = {}

            def warm_up():
                send_concurrently(port, self.args.warmup, self.args.connections)
                # Past the first ticks and exports: count steady state.
                time.sleep(1.0)
                spans_before["n"] = self.bench.sink_stats(v.name)["spans"]

            # The batches those requests fill leave on the next ticks; count them too.
            window_s = self.window(pid, warm_up, lambda: (
                send_concurrently(port, self.args.requests, self.args.connections),
                time.sleep(1.5)))
            sink = self.bench.sink_stats(v.name)
            self.spans[v.name] = sink["spans"] - spans_before["n"]
        finally:
            self.procs.stop(v.name)
        dumps = callgrind_dumps(prefix)
        if len(dumps) != 2:
            raise RuntimeError(f"{v.name}: expected 2 callgrind dumps, found {dumps}")
        idle, window = events_of(dumps[0]), events_of(dumps[1])
        events = net_of_idle(window, window_s, idle, idle_s)
        self.time_driven[v.name] = (window["Ir"] - events["Ir"]) / self.args.requests
        per_request = events["Ir"] / self.args.requests
        if self.args.cache_sim or self.args.branch_sim:
            self.misses[v.name] = {k: n / self.args.requests for k, n in events.items() if k != "Ir"}
            print(f"instructions: {v.name:<24} misses per request: " + ", ".join(
                f"{k} {n:,.0f}" for k, n in self.misses[v.name].items()), flush=True)
        seconds = time.monotonic() - began
        print(f"instructions: {v.name:<24} {per_request:>10,.0f} per request "
              f"(+{self.time_driven[v.name]:,.0f} time-driven, subtracted; "
              f"{self.spans.get(v.name, 0)} spans from the counted requests; {seconds:.0f} s)",
              flush=True)
        return per_request

    @staticmethod
    def window(pid, prime, work):
        """Counts while `work` runs and dumps; returns its seconds. `prime` runs first with
        instrumentation on but its counts zeroed: with it off, callgrind's simulated caches stand
        still, and a window would start on caches that are empty or stale."""
        subprocess.run(["callgrind_control", "-i", "on", pid], check=True, capture_output=True)
        prime()
        subprocess.run(["callgrind_control", "-z", pid], check=True, capture_output=True)
        began = time.monotonic()
        work()
        subprocess.run(["callgrind_control", "-i", "off", pid], check=True, capture_output=True)
        seconds = time.monotonic() - began
        subprocess.run(["callgrind_control", "-d", pid], check=True, capture_output=True)
        return seconds


def table(counts, baseline, what, time_driven=None):
    time_driven = time_driven or {}
    out = ["| variant | what | instructions per request | Δ vs baseline | time-driven, subtracted |",
           "|---|---|---:|---:|---:|"]
    for name, n in counts.items():
        td = time_driven.get(name)
        out.append(f"| {name} | {what.get(name, '')} | {n:,.0f} | {n - baseline:+,.0f} "
                   f"| {'–' if td is None else format(td, ',.0f')} |")
    return out


def connections_text(n):
    return ("sequential, on one keep-alive connection" if n <= 1
            else f"on {n} keep-alive connections in parallel")


def cycle_estimate(instructions, misses):
    """KCachegrind's cycle estimate: Ir + 10 × mispredicted branches (when simulated) + 10 × L1
    misses + 100 × last-level misses."""
    branches = sum(misses.get(k, 0) for k in ("Bcm", "Bim"))
    l1 = sum(misses.get(k, 0) for k in ("I1mr", "D1mr", "D1mw"))
    ll = sum(misses.get(k, 0) for k in ("ILmr", "DLmr", "DLmw"))
    return instructions + 10 * branches + 10 * l1 + 100 * ll


def misses_table(misses, counts):
    """Simulated cache misses per request (--cache-sim) and the cycle estimate, each against the
    baseline's, and the CPU targets in estimated cycles."""
    if not misses or "baseline" not in misses:
        return []
    events = [k for k in misses["baseline"] if k.endswith(("mr", "mw")) or k in ("Bcm", "Bim")]
    cest = {name: cycle_estimate(counts[name], row) for name, row in misses.items()}
    branches = "Bcm" in misses["baseline"]
    out = ["", "Simulated cache misses per request (`--cache-sim=yes`; I1/D1 = level 1, LL = last "
           "level)" + (", mispredicted branches (`--branch-sim=yes`; Bcm conditional, Bim indirect)"
                       if branches else "") +
           " and the cycle estimate CEst = Ir + " + ("10 × mispredicted branches + " if branches else "") +
           "10 × L1 misses + 100 × LL misses, which weighs what instruction counts cannot see; "
           "Δ against the baseline:", "",
           "| variant | " + " | ".join(events) + " | CEst |", "|---|" + "---:|" * (len(events) + 1)]
    for name, row in misses.items():
        if name == "baseline":
            cells = [f"{row.get(k, 0):,.0f}" for k in events] + [f"{cest[name]:,.0f}"]
        else:
            cells = [f"{row.get(k, 0) - misses['baseline'].get(k, 0):+,.0f}" for k in events]
            cells.append(f"{cest[name] - cest['baseline']:+,.0f}")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    d = {name: c - cest["baseline"] for name, c in cest.items()}
    if "hoptrace100" in d and d.get("native100_upstream"):
        out += ["", f"- hoptrace100 / native100_upstream in estimated cycles: "
                    f"{d['hoptrace100'] / d['native100_upstream']:.2f}× (target ≤ 0.6×)"]
    if "hoptrace1" in d and "floor_rewrite" in d:
        out += [f"- hoptrace1 against floor_rewrite in estimated cycles: "
                f"{d['hoptrace1'] - d['floor_rewrite']:+,.0f} per request"]
    return out


def at_exact_ratio(counts, spans, requests, ratio=0.01):
    """hoptrace1's count as if exactly `ratio` of the counted requests had been sampled.

    Which requests hoptrace1 samples follows its random trace ids, so a run samples a few more or
    fewer than 1 %, and each sampled request costs as much as ~3 unsampled ones. hoptrace100 gives
    the price of sampling (its spans per request, and its count against hoptrace1's):
    (extra instructions per sampled request) = (c100 − c1) / (1 − f1), f1 the fraction sampled.
    Returns (sampled requests, adjusted count), or None without the two variants' spans."""
    if "hoptrace1" not in counts or "hoptrace100" not in counts or not spans.get("hoptrace100"):
        return None
    spans_per_sampled = spans["hoptrace100"] / requests
    sampled = spans.get("hoptrace1", 0) / spans_per_sampled
    f1 = sampled / requests
    if f1 >= 1:
        return None
    extra = (counts["hoptrace100"] - counts["hoptrace1"]) / (1 - f1)
    return sampled, counts["hoptrace1"] + (ratio - f1) * extra


def main_md(meta, counts, what, misses=None, spans=None, time_driven=None):
    base = counts["baseline"]

    def delta(name):
        return counts[name] - base if name in counts else None

    out = header(meta) + [
        "Each variant's Envoy runs under `valgrind --tool=callgrind` (one at a time, same bootstrap "
        f"as the timed run); after {meta['warmup']} uncounted requests, counting covers "
        f"{meta['requests']} GETs ({connections_text(meta['connections'])}) plus the ticks and export "
        "callouts of the next 1.5 s, less what time alone costs the proxy over as many seconds "
        f"(timers, ticks, stats flushes; counted in {IDLE_SECONDS:g} s before any traffic): "
        "under callgrind a proxy serves ~50× fewer requests per second than on its own, and "
        "without that correction each request would carry ~50× its share of the per-second work. "
        "User-space instructions of the whole proxy process (Envoy, V8, "
        "the JIT-compiled wasm); kernel work is not counted. A variant that always or never samples "
        "counts the same to within a few hundred instructions run after run. hoptrace1 does not: "
        "which requests its random trace ids sample varies, and each sampled one costs ~80k more "
        f"than an unsampled one, so its count moves by about "
        f"±{80_000 * (0.01 * meta['requests']) ** 0.5 / meta['requests']:,.0f} (one standard "
        "deviation). The sink's span count says how many it sampled; the line 'at exactly 1 %' "
        "below corrects for the difference with hoptrace100's price of a sampled request.", "",
        *table(counts, base, what, time_driven), *misses_table(misses, counts), ""]
    lines = []
    h100, nat = delta("hoptrace100"), delta("native100_upstream")
    if h100 is not None and nat:
        lines.append(f"- hoptrace100 / native100_upstream overhead: {h100:+,.0f} / {nat:+,.0f} = "
                     f"**{h100 / nat:.2f}×** (CPU-time target: ≤ 0.6×)")
    h1, rw = delta("hoptrace1"), delta("floor_rewrite")
    if h1 is not None and rw is not None:
        lines.append(f"- hoptrace1 overhead {h1:+,.0f} against floor_rewrite {rw:+,.0f}: "
                     f"{h1 - rw:+,.0f} instructions per request")
    exact = at_exact_ratio(counts, spans or {}, meta["requests"])
    if exact is not None and rw is not None:
        sampled, adjusted = exact
        lines.append(f"- hoptrace1 sampled {sampled:.0f} of the {meta['requests']} counted requests "
                     f"(1 % is {meta['requests'] / 100:.0f}); at exactly 1 % its overhead would be "
                     f"{adjusted - base:+,.0f}: {adjusted - base - rw:+,.0f} against floor_rewrite")
    trimmed = delta("floor_rewrite_trimmed")
    if h1 is not None and trimmed is not None:
        lines.append(f"- hoptrace1 against floor_rewrite with its exports trimmed like hoptrace's "
                     f"({trimmed:+,.0f}): {h1 - trimmed:+,.0f} instructions per request")
    for name in counts:
        if "@" in name:
            base_name = name.split("@")[0]
            if base_name in counts:
                lines.append(f"- {name}: {counts[name] - counts[base_name]:+,.0f} against {base_name}")
    return "\n".join(out + lines) + "\n"


def probe_md(meta, counts):
    noop = counts["probe_noop"]
    out = header(meta) + [
        f"The probe filter (`filter/probe`) makes {PROBE_CALLS} calls of one kind per request; each "
        "kind is its own Envoy under callgrind. A call's price is the proxy's instructions per "
        f"request minus those of the probe making no call, divided by {PROBE_CALLS}.", "",
        "| call | instructions per call |", "|---|---:|"]
    for name, n in counts.items():
        if name not in ("baseline", "probe_noop"):
            out.append(f"| {name.removeprefix('probe_')} | {(n - noop) / PROBE_CALLS:,.0f} |")
    out += ["", f"The probe making no call: {noop - counts['baseline']:+,.0f} instructions per request "
            "over no filter (the callbacks every SDK-built module receives)."]
    return "\n".join(out) + "\n"


def header(meta):
    title = "Host call prices in instructions" if meta["probe"] else "Proxy instructions per request"
    return [f"# {title} (callgrind)", "",
            f"Written by `bench/instructions.py`, not by hand. Command: `{meta['command']}`  ",
            f"Date: {meta['date']}  ", f"Envoy: {meta['envoy_version']}  ",
            f"valgrind: {meta['valgrind']}", ""]


def main():
    args = parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("instructions: needs valgrind (apt-get install -y valgrind)")
    if args.probe:
        variants = [BY_NAME["baseline"], *probe_variants(PROBE_CALLS, {f"probe_{op}" for op in PROBE_OPS})]
    else:
        names = MAIN_VARIANTS if not args.variants else ["baseline", *args.variants.split(",")]
        variants = [BY_NAME[n] for n in dict.fromkeys(names)]
        for spec in args.candidate:
            label, _, path = spec.partition("=")
            variants += candidate_variants(label, path)
    envoy = run.locate_envoy(args.envoy)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = BENCH / ".run" / f"instructions-{stamp}"
    run_dir.mkdir(parents=True, exist_ok=True)
    out = Path(args.out) if args.out else BENCH / (
        "hostcall-instructions.md" if args.probe else "instructions.md")

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, on_signal)

    counter = Counter(args, envoy, run_dir)
    counts = {}
    started = time.monotonic()
    try:
        counter.bench.start_sink(variants)
        counter.bench.start_upstream()
        started_at = {}
        for v in variants:
            if v.wasm and v.wasm_path(args.wasm_dir) is None:
                print(f"instructions: SKIP {v.name}: no {v.wasm[0]} in {args.wasm_dir}")
                continue
            started_at[v.name] = counter.start(v)
        for v in variants:
            if v.name in started_at:
                counter.wait_ready(v, started_at[v.name])
        print(f"instructions: {len(started_at)} proxies ready under callgrind "
              f"({time.monotonic() - started:.0f} s)", flush=True)
        # Let V8's background compilation finish before anything is counted.
        time.sleep(3.0)
        for v in variants:
            if v.name in started_at:
                counts[v.name] = counter.count(v, started_at[v.name])
    finally:
        counter.procs.stop_all()
    meta = {
        "command": " ".join([os.path.relpath(sys.executable, REPO) if sys.executable.startswith(str(REPO))
                             else sys.executable, os.path.relpath(__file__, REPO), *sys.argv[1:]]),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "envoy_version": run.envoy_version(envoy),
        "valgrind": run.version_of(["valgrind", "--version"]),
        "requests": args.requests, "warmup": args.warmup, "probe": args.probe,
        "connections": args.connections,
    }
    what = {v.name: v.what for v in variants}
    out.write_text(probe_md(meta, counts) if args.probe else main_md(meta, counts, what, counter.misses, counter.spans, counter.time_driven))
    print(f"instructions: wrote {out} ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
