#!/usr/bin/env python3
"""`make bench-ablate`: what each part of a sampled request costs Envoy, in time, by taking it away.

Instruction counts (`bench/instructions.py`) weigh every instruction alike; on this machine Envoy's
code that answers a wasm filter takes about twice the time per instruction of its own paths, so the
counts cannot say which feature the clock pays for. This tool builds hoptrace from the committed
source (a temporary git worktree) once as it is and once per ablation below, each with one part
removed, and runs them side by side in one interleaved `bench/run.py` run at 100 % sampling. A
part's price is the median over rounds of (full build − ablated build) in the same round.

An ablated build is not a product: it exports spans without the removed facts, or none. Each
ablation is a cargo feature of the plugin (the code is in filter/core/src/lifecycle/ablation.rs and
`make lint` compiles it), plus, for the export list, an exact text edit that the tool checks.

    .venv/bin/python bench/ablate.py                 # ~10 minutes; writes bench/ablation.md
    .venv/bin/python bench/ablate.py --rounds 3 --out /tmp/a.md
"""

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

import report  # noqa: E402
from variants import BY_NAME  # noqa: E402

# The variant the timed target compares hoptrace100 with.
TARGET = "native100_upstream"
EXPORTS = "filter/plugin/exports.json"
PLUGIN_MANIFEST = "filter/plugin/Cargo.toml"

RESPONSE_HEADERS_EXPORT = ('  {"name": "response_headers", "root": true, '
                           '"export": "proxy_on_response_headers"},\n')

# name -> (what is taken away, cargo features of the plugin, [(file, exact text, replacement)]).
# The code of each feature is in filter/core/src/lifecycle/ablation.rs and compiles with every
# `make lint`; only the export list, which is not code, is edited as text.
ABLATIONS = {
    "stream_end_reads": (
        "the stream-end facts read from Envoy (one CEL list: start time, protocol, client "
        "address, status, flags, cluster, upstream address, route), replaced by constants of "
        "the same size",
        ["ablate-stream-end-reads"], []),
    "stream_end_reads_but_three": (
        "five of the eight stream-end facts: only status, flags and upstream address are read, "
        "as three property reads; protocol, client address, cluster, route and start time "
        "become constants",
        ["ablate-stream-end-reads-but-three"], []),
    "status_only": (
        "every stream-end fact but the status, which comes from the response's `:status` header "
        "at the first byte instead (one header read): spans keep the request's facts, the "
        "status and the timing, and lose `error.type` for resets and timeouts, the upstream "
        "host and cluster, the route, the protocol and the client address",
        ["ablate-status-only"], []),
    "stream_end": (
        "all of `on_log`'s work but the clock: the facts, building and encoding both spans, "
        "queueing, export",
        ["ablate-stream-end"], []),
    "response_headers_callback": (
        "the `proxy_on_response_headers` callback (one trip into V8 a stream; the CLIENT span's "
        "first-byte event)",
        [], [(EXPORTS, RESPONSE_HEADERS_EXPORT, "")]),
    "fidelity_trades": (
        "the three fidelity trades together: only status, flags and upstream address read (as "
        "in `stream_end_reads_but_three`) and no `proxy_on_response_headers` callback (as in "
        "`response_headers_callback`)",
        [], []),  # composed below, so it stays equal to its parts
    "recording": (
        "everything after the decision and the header rewrite: the request facts, the "
        "timestamps and all of `on_log`'s work",
        ["ablate-recording"], []),
}

ABLATIONS["fidelity_trades"] = (ABLATIONS["fidelity_trades"][0],
                                ABLATIONS["stream_end_reads_but_three"][1]
                                + ABLATIONS["response_headers_callback"][1],
                                ABLATIONS["stream_end_reads_but_three"][2]
                                + ABLATIONS["response_headers_callback"][2])


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--out", default=str(BENCH / "ablation.md"))
    p.add_argument("--only", help="comma-separated subset of: " + ",".join(ABLATIONS))
    p.add_argument("--with", dest="others", default=f"{TARGET},floor_noop,hoptrace1",
                   help="the other variants run beside the builds, for scale; with "
                        f"{TARGET} among them each build's ratio to it is shown")
    return p.parse_args()


def run(cmd, cwd, env=None):
    shown = " ".join(str(c) for c in cmd)
    print(f"ablate: {shown}", flush=True)
    subprocess.run(cmd, cwd=cwd, env=env, check=True)


def wasm_features():
    """The wasm-opt feature flags `make wasm` uses, so every build here matches the product's."""
    text = (REPO / "Makefile").read_text()
    m = re.search(r"^WASM_FEATURES\s*:?=\s*(.+)$", text, re.M)
    if not m:
        raise SystemExit("ablate: no WASM_FEATURES line in the Makefile")
    return m.group(1).split()


def apply_edits(tree, name, edits):
    for rel, old, new in edits:
        path = tree / rel
        text = path.read_text()
        if text.count(old) != 1:
            raise SystemExit(f"ablate: ablation {name!r} no longer applies: {rel} has "
                             f"{text.count(old)} copies of {old.strip()!r} (expected 1); "
                             "update ABLATIONS in bench/ablate.py")
        path.write_text(text.replace(old, new))


def build(tree, target_dir, out, features=()):
    """`make wasm`'s steps for hoptrace alone: cargo (with `features`), the export list, wasm-opt."""
    env = {**os.environ, "CARGO_TARGET_DIR": str(target_dir)}
    cmd = ["cargo", "build", "-q", "--release", "--target", "wasm32-wasip1", "-p", "hoptrace"]
    if features:
        cmd += ["--features", ",".join(features)]
    run(cmd, tree, env)
    raw = target_dir / "wasm32-wasip1/release/hoptrace.wasm"
    feats = wasm_features()
    run(["wasm-metadce", *feats, "--graph-file", str(tree / EXPORTS), str(raw), "-o", str(out)],
        tree)
    run(["wasm-opt", "-O3", *feats, str(out), "-o", str(out)], tree)


def build_all(names, scratch):
    """The full build and one per ablation, from HEAD, in a worktree that is removed after."""
    tree = scratch / "src"
    target_dir = REPO / "target" / "ablate"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, check=True,
                            capture_output=True, text=True).stdout.strip()
    run(["git", "worktree", "add", "--detach", "--force", str(tree), "HEAD"], REPO)
    wasms = {}
    try:
        for name in ["full", *names]:
            run(["git", "checkout", "--quiet", "--", "."], tree)
            features = []
            if name != "full":
                _, features, edits = ABLATIONS[name]
                apply_edits(tree, name, edits)
            wasms[name] = scratch / f"{name}.wasm"
            build(tree, target_dir, wasms[name], features)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO, check=False)
    return commit, wasms


def price_rows(runs, names):
    """Per ablation: its overhead over the baseline, what it saves against the full build and,
    when the native tracer ran beside it, its overhead as a share of the native tracer's (the
    timed target's ratio), each the median (and range) over rounds of same-round values."""
    base = report._per_round(runs, "baseline")
    full = report._per_round(runs, "hoptrace100@full")
    native = report._per_round(runs, TARGET)
    rows = []
    for name in ["full", *names]:
        mine = report._per_round(runs, f"hoptrace100@{name}")
        over = [mine[r]["cpu_us"] - base[r]["cpu_us"] for r in mine if r in base]
        saved = [full[r]["cpu_us"] - mine[r]["cpu_us"] for r in mine if r in full]
        ratio = [(mine[r]["cpu_us"] - base[r]["cpu_us"]) / (native[r]["cpu_us"] - base[r]["cpu_us"])
                 for r in mine if r in base and r in native
                 and native[r]["cpu_us"] > base[r]["cpu_us"]]
        rows.append((name, report._median(over), report._range(over),
                     report._median(saved) if name != "full" else None, report._range(saved),
                     report._median(ratio) if ratio else None))
    return rows


def markdown(meta, rows, summary):
    def rng(r):
        return f"{r[0]:+.1f}…{r[1]:+.1f}" if r and r[0] is not None else "–"

    lines = [
        "# Where a sampled request's time goes: hoptrace without each part",
        "",
        f"Written by `bench/ablate.py`, not by hand. Command: `{meta['command']}`  ",
        f"Date: {meta['date']}; source: commit `{meta['commit']}` (its own build is `full`)  ",
        f"Run: {meta['rounds']} interleaved rounds of `bench/run.py` (hoptrace always_on on the "
        "gateway listener, SERVER + CLIENT spans), proxy CPU per request against the same "
        "round's no-tracing baseline; the raw rounds are in `" + meta["raw"] + "`.",
        "",
        "Each ablated build removes one part of the sampled path (cargo features listed in "
        "`bench/ablate.py`, code in `filter/core/src/lifecycle/ablation.rs`). `saved` is the median over rounds of the full build's CPU per request "
        "minus the ablated build's, in the same round: the time that part costs Envoy.",
        "",
        f"`× {TARGET}` is the build's overhead over the native tracer's in the same round (the "
        "timed target is ≤ 0.6×), when the native tracer ran beside the builds (`--with`).",
        "",
        "| build | what is taken away | Δ CPU µs/req vs baseline (range) | saved µs/req (range) "
        f"| × {TARGET} |",
        "|---|---|---:|---:|---:|",
    ]
    for name, over, over_r, saved, saved_r, ratio in rows:
        what = "nothing (hoptrace as committed)" if name == "full" else ABLATIONS[name][0]
        saved_text = "–" if saved is None else f"{saved:+.1f} ({rng(saved_r)})"
        ratio_text = "–" if ratio is None else f"{ratio:.2f}×"
        lines.append(f"| `{name}` | {what} | {over:+.1f} ({rng(over_r)}) | {saved_text} "
                     f"| {ratio_text} |")
    lines += ["", "For scale, in the same rounds:", ""]
    for s in summary:
        if "@" not in s["variant"] and s["variant"] != "baseline":
            lines.append(f"- `{s['variant']}` ({meta['what'].get(s['variant'], '')}): "
                         f"{s['cpu_diff_us']:+.1f} µs/req over the baseline")
    return "\n".join(lines) + "\n"


def main():
    args = parse_args()
    names = list(ABLATIONS) if not args.only else [n.strip() for n in args.only.split(",")]
    unknown = [n for n in names if n not in ABLATIONS]
    if unknown:
        raise SystemExit(f"ablate: unknown ablation(s) {unknown}; known: {list(ABLATIONS)}")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    scratch = BENCH / ".run" / f"ablate-{stamp}"
    scratch.mkdir(parents=True, exist_ok=True)
    commit, wasms = build_all(names, scratch)
    raw_md, raw_json = scratch / "run.md", scratch / "run.json"
    cmd = [sys.executable, str(BENCH / "run.py"), "--variants", args.others,
           "--candidate-of", "hoptrace100", "--rounds", str(args.rounds),
           "--out", str(raw_md), "--readme", str(scratch / "README.md"), "--json", str(raw_json)]
    for name, path in wasms.items():
        cmd += ["--candidate", f"{name}={path}"]
    # run.py exits non-zero when a variant was skipped; the table then says what is missing.
    subprocess.run(cmd, cwd=REPO, check=False)
    data = json.loads(raw_json.read_text())
    meta = {
        "command": " ".join([os.path.relpath(sys.executable, REPO)
                             if sys.executable.startswith(str(REPO)) else sys.executable,
                             os.path.relpath(__file__, REPO), *sys.argv[1:]]),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit,
        "rounds": args.rounds,
        "raw": os.path.relpath(raw_md, REPO),
        "what": {n: v.what for n, v in BY_NAME.items()},
    }
    missing = [f"hoptrace100@{n}" for n in ["full", *names]
               if f"hoptrace100@{n}" in data["skipped"]]
    if missing:
        raise SystemExit(f"ablate: not measured (failed their propagation check): {missing}")
    text = markdown(meta, price_rows(data["runs"], names), data["summary"])
    Path(args.out).write_text(text)
    print(text)
    print(f"ablate: wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
