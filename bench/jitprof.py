"""Where a request's time goes inside a wasm module, by wasm function.

Runs `hoptrace-shim replay` (built with `--features perfmap`) under callgrind, with wasmtime
writing /tmp/perf-<pid>.map (the address range of each guest function's JIT code), then charges
each instruction callgrind counted in JIT code to the function whose range holds it. Fuel is off
in that build, so the counts are the module's own code as compiled, not its fuel checks.

The shim is not Envoy: it runs the module on wasmtime (Cranelift) instead of V8, and its own CEL
subset answers the stream-end list, so the host's side differs while the module's code is the
same. (With `--no-cel` the shim has no CEL and the module reads the facts one property at a
time; jitprof does not pass it.)

Usage (see `make profile-wasm`):
  jitprof.py --shim SHIM --wasm NAMED.wasm [--requests N] [--callers FUNCTION]
"""

import argparse
import bisect
import collections
import glob
import os
import subprocess
import sys
import tempfile

CONFIG = '{"service_name":"bench","sampler":"always_on","span_kind":"server_and_client"}'


def read_perf_map(path):
    """(start, size, name) for each JIT function, sorted by start."""
    ranges = []
    with open(path) as f:
        for line in f:
            addr, size, name = line.rstrip("\n").split(" ", 2)
            ranges.append((int(addr, 16), int(size, 16), name))
    ranges.sort()
    return ranges


class Resolver:
    def __init__(self, ranges):
        self.ranges = ranges
        self.starts = [r[0] for r in ranges]

    def name(self, addr):
        i = bisect.bisect_right(self.starts, addr) - 1
        if i >= 0 and addr < self.ranges[i][0] + self.ranges[i][1]:
            return self.ranges[i][2]
        return None


def position(token, last):
    """A callgrind position: absolute, relative to the last one (+n / -n), or the same (*)."""
    if token == "*":
        return last
    if token[0] in "+-":
        step = int(token[1:], 0)
        return last + step if token[0] == "+" else last - step
    return int(token, 0)


def charge(callgrind_out, resolver):
    """Self instructions per JIT function, and per (caller, callee) the calls and inclusive cost."""
    self_cost = collections.Counter()
    calls = collections.Counter()
    call_cost = collections.Counter()
    npos = 1
    last = []
    pending = None  # (count, target address) of a `calls=` line: the next cost line is inclusive
    with open(callgrind_out) as f:
        for line in f:
            if line.startswith("positions:"):
                npos = len(line.split()) - 1
                last = [0] * npos
                continue
            if line.startswith("calls="):
                parts = line.split()
                target = position(parts[1], last[0]) if len(parts) > 1 else None
                pending = (int(parts[0][6:]), target)
                continue
            if not line or not (line[0].isdigit() or line[0] in "+-*"):
                continue
            parts = line.split()
            for k in range(npos):
                last[k] = position(parts[k], last[k])
            cost = int(parts[npos]) if len(parts) > npos else 0
            here = resolver.name(last[0])
            if pending is not None:
                count, target = pending
                pending = None
                callee = resolver.name(target) if target is not None else None
                if callee is not None:
                    calls[(here, callee)] += count
                    call_cost[(here, callee)] += cost
                continue
            if here is not None:
                self_cost[here] += cost
    return self_cost, calls, call_cost


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shim", required=True, help="hoptrace-shim built with --features perfmap")
    ap.add_argument("--wasm", required=True, help="the module, with its name section (wasm-opt -g)")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--callers", help="also list who calls functions whose name contains this")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="jitprof-")
    requests = os.path.join(work, "requests.txt")
    with open(requests, "w") as f:
        f.write("GET /hello\n" * args.requests)
    out = os.path.join(work, "callgrind.out")
    env = dict(os.environ, HOPTRACE_SHIM_PERFMAP="1")
    proc = subprocess.run(
        ["valgrind", "--tool=callgrind", "--dump-instr=yes", f"--callgrind-out-file={out}",
         args.shim, "replay", "--wasm", args.wasm, "--config", CONFIG, "--requests-file", requests],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"jitprof: the shim failed under callgrind:\n{proc.stderr[-2000:]}")
    pid = None
    for line in proc.stderr.splitlines():
        if line.startswith("==") and "==" in line[2:]:
            pid = line[2:line.index("==", 2)]
            break
    maps = glob.glob(f"/tmp/perf-{pid}.map") if pid else []
    if not maps:
        sys.exit("jitprof: no perf map was written: is the shim built with --features perfmap?")
    resolver = Resolver(read_perf_map(maps[0]))
    self_cost, calls, call_cost = charge(out, resolver)
    os.remove(maps[0])

    n = args.requests
    total = sum(self_cost.values())
    print(f"JIT code of {args.wasm}, {n} sampled requests (always_on, SERVER + CLIENT) through the shim")
    print(f"instructions per request in guest code (wasmtime, no fuel): {total / n:,.0f}\n")
    print(f"{'per request':>12}  function")
    for name, cost in self_cost.most_common(args.top):
        print(f"{cost / n:12,.0f}  {name[:150]}")
    if args.callers:
        print(f"\ncallers of *{args.callers}*: inclusive instructions and calls per request")
        rows = [(k, v) for k, v in call_cost.items() if args.callers in k[1]]
        for (caller, callee), cost in sorted(rows, key=lambda kv: -kv[1])[:args.top]:
            print(f"{cost / n:12,.0f}  {calls[(caller, callee)] / n:6.2f}  {caller[:90]} -> {callee[:50]}")


if __name__ == "__main__":
    main()
