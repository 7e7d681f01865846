#!/usr/bin/env python3
"""`make profile-time`: where each variant's proxy spends its time under load, by code region.

The instruction counts (bench/instructions.py) say how much work a request is; this says how long
that work takes on this machine. Each variant's Envoy is loaded with wrk as in the benchmark while
`perf record -e cpu-clock` samples it (a timer event, which works where this machine has no hardware
counters), and the samples are split by what perf calls the DSO: Envoy's own text (with V8, the CEL
evaluator and tcmalloc linked in), V8's JIT code for the module (`[JIT]`), libc, the kernel. Each
share times the proxy's CPU per request gives µs per request per region; against the baseline, the
regions' part of each variant's overhead. Sampling slows the proxy a little, so compare variants,
not these totals with the benchmark's.

    .venv/bin/python bench/timeprof.py                       # 5 variants, 2 rounds, ~2 minutes
    .venv/bin/python bench/timeprof.py --variants hoptrace100 --rounds 3 --out /tmp/t.md

Writes bench/time-profile.md (or --out). Needs perf (`make profile-time` installs linux-perf).
"""

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import run  # noqa: E402
from procs import cpu_times  # noqa: E402
from variants import BY_NAME, candidates_from_specs  # noqa: E402

DEFAULT_VARIANTS = "native100_upstream,floor_rewrite,hoptrace100,hoptrace1"
# Seconds of load before sampling starts, of sampling, and of load after it.
LEAD, SAMPLE, TAIL = 1, 5, 1


def region(dso):
    """The report's name for a perf DSO: one `[JIT]` for every thread's JIT code."""
    return "[JIT]" if dso.startswith("[JIT]") else dso


def parse_report(text):
    """{region: percent of samples} from `perf report --sort dso --stdio -q`."""
    shares = {}
    for line in text.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(.+?)\s*$", line)
        if m:
            name = region(m.group(2))
            shares[name] = shares.get(name, 0.0) + float(m.group(1))
    return shares


def per_request(shares, cpu_us):
    """µs per request in each region, from its share of the samples and the CPU per request."""
    return {name: pct * cpu_us / 100 for name, pct in shares.items()}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variants", default=DEFAULT_VARIANTS,
                   help="comma-separated (baseline is always added)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--out", default=str(BENCH / "time-profile.md"))
    p.add_argument("--envoy")
    p.add_argument("--candidate", action="append", default=[], metavar="LABEL=WASM",
                   help="also profile hoptrace100 from another .wasm build, as hoptrace100@LABEL")
    return p.parse_args()


def sample(bench, name, out_dir, rnd):
    """Load `name` and sample it; returns (µs of CPU per request, {region: µs per request})."""
    port, pid = bench.proxies[name][0], bench.procs.pid(name)
    result = {}
    load = threading.Thread(target=lambda: result.update(bench.load(port, LEAD + SAMPLE + TAIL)))
    load.start()
    time.sleep(LEAD)
    before = cpu_times(pid)
    data = out_dir / f"{name}.{rnd}.perf"
    subprocess.run(["taskset", "-c", str(bench.args.load_core), "perf", "record", "-q",
                    "-e", "cpu-clock", "-F", "4999", "-p", str(pid), "-o", str(data),
                    "--", "sleep", str(SAMPLE)], capture_output=True, check=True)
    after = cpu_times(pid)
    load.join()
    requests = result["rps"] * SAMPLE
    cpu_seconds = sum(after) - sum(before)
    cpu_us = cpu_seconds / requests * 1e6 if requests else 0.0
    report = subprocess.run(["perf", "report", "-i", str(data), "--sort", "dso", "--stdio", "-q"],
                            capture_output=True, text=True, check=True).stdout
    return cpu_us, per_request(parse_report(report), cpu_us)


def table(results):
    """The markdown table: each region's µs per request, and each variant's overhead by region."""
    regions = sorted({r for rows in results.values() for _, by in rows for r in by},
                     key=lambda r: -statistics.mean(
                         by.get(r, 0.0) for rows in results.values() for _, by in rows))
    regions = [r for r in regions
               if max(statistics.mean(by.get(r, 0.0) for _, by in rows)
                      for rows in results.values()) >= 0.5]

    def mean_of(name, r):
        return statistics.mean(by.get(r, 0.0) for _, by in results[name])

    out = ["| variant | CPU µs/req | " + " | ".join(regions) + " |",
           "|---|---:|" + "---:|" * len(regions)]
    base = {r: mean_of("baseline", r) for r in regions}
    for name in results:
        cpu = statistics.mean(c for c, _ in results[name])
        cells = []
        for r in regions:
            v = mean_of(name, r)
            cells.append(f"{v:.1f}" if name == "baseline" else f"{v:.1f} ({v - base[r]:+.1f})")
        out.append(f"| {name} | {cpu:.1f} | " + " | ".join(cells) + " |")
    return out


def main():
    args = parse_args()
    if shutil.which("perf") is None:
        raise SystemExit("timeprof: perf is missing; `make profile-time` installs it (linux-perf)")
    candidates = candidates_from_specs(args.candidate, ["hoptrace100"], tool="timeprof")
    BY_NAME.update({v.name: v for v in candidates})
    names = ["baseline"] + [n for n in args.variants.split(",") if n and n != "baseline"]
    names += [v.name for v in candidates]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise SystemExit(f"timeprof: unknown variants {unknown}")
    sys.argv = ["run.py"] + (["--envoy", args.envoy] if args.envoy else [])
    bench_args = run.parse_args()
    envoy = run.locate_envoy(bench_args.envoy)
    out_dir = BENCH / ".run" / time.strftime("timeprof-%Y%m%d-%H%M%S")
    out_dir.mkdir(parents=True, exist_ok=True)
    bench = run.Bench(bench_args, envoy, run.wrk.locate(), out_dir)
    variants = [BY_NAME[n] for n in names]
    results = {n: [] for n in names}
    try:
        bench.start_sink(variants)
        bench.start_upstream()
        for v in variants:
            bench.start_variant(v)
        live = [n for n in names if n in bench.proxies]
        for n in live:
            bench.load(bench.proxies[n][0], 2)
        for rnd in range(args.rounds):
            for n in run.round_order(live, rnd):
                cpu_us, by_region = sample(bench, n, out_dir, rnd)
                results[n].append((cpu_us, by_region))
                print(f"timeprof: round {rnd} {n:<19} {cpu_us:6.1f} µs/req  " + "  ".join(
                    f"{r} {v:.1f}" for r, v in sorted(by_region.items(), key=lambda x: -x[1])
                    if v >= 0.5))
    finally:
        bench.procs.stop_all()
    results = {n: rows for n, rows in results.items() if rows}
    lines = ["# Where the proxies' time goes, by code region (perf cpu-clock samples)", "",
             f"Written by `bench/timeprof.py`, not by hand. Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
             f"{run.envoy_version(envoy)}; {args.rounds} round(s) of {SAMPLE} s sampled per variant "
             "under `wrk -t1 -c32` (as the benchmark loads them).", "",
             "µs of CPU per request in each region, the change against the baseline in brackets. "
             "`envoy` is Envoy's own text (V8's runtime and builtins, the CEL evaluator, tcmalloc "
             "linked in); `[JIT]` is V8's code compiled from the module; `[kernel.kallsyms]` the "
             "kernel's work for the process.", "", *table(results), ""]
    Path(args.out).write_text("\n".join(lines))
    print(f"timeprof: wrote {args.out}")


if __name__ == "__main__":
    main()
