"""Turning the raw runs into per-variant numbers, the target verdicts, results.md and the README table.

Every ratio is taken inside one round (variant against that round's baseline) before the median,
so drift of a shared machine between rounds cancels out.
"""

import re
import statistics
from pathlib import Path

README_START = "<!-- bench:start -->"
README_END = "<!-- bench:end -->"
# "within a few percent" for the 503-collector target, made a number.
COLLECTOR_503_TOLERANCE = 0.05
SPANS_PER_POST_TARGET = 500
NATIVE_SHARE_TARGET = 0.6


def _median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def _range(xs):
    xs = [x for x in xs if x is not None]
    return (min(xs), max(xs)) if xs else (None, None)


def _per_round(runs, name):
    return {r["round"]: r for r in runs if r["variant"] == name}


def summarize(runs, names):
    """Per-variant summary dicts, in `names` order, for the variants that have runs."""
    base = _per_round(runs, "baseline")
    out = []
    for name in names:
        mine = _per_round(runs, name)
        if not mine:
            continue
        rounds = sorted(mine)
        ratios = [mine[r]["rps"] / base[r]["rps"] for r in rounds if r in base and base[r]["rps"]]
        diffs = [mine[r]["cpu_us"] - base[r]["cpu_us"] for r in rounds if r in base]
        requests = sum(mine[r]["requests"] for r in rounds)
        posts = sum(mine[r]["sink"]["posts"] for r in rounds)
        spans = sum(mine[r]["sink"]["spans"] for r in rounds)
        wire = sum(mine[r]["sink"]["wire_bytes"] for r in rounds)
        kinds = {}
        for r in rounds:
            for k, n in mine[r]["sink"]["kinds"].items():
                kinds[k] = kinds.get(k, 0) + n
        out.append(
            {
                "variant": name,
                "rounds": len(rounds),
                "rps": _median([mine[r]["rps"] for r in rounds]),
                "ratio": _median(ratios),
                "ratio_range": _range(ratios),
                "p50_ms": _median([mine[r]["p50_ms"] for r in rounds]),
                "p99_ms": _median([mine[r]["p99_ms"] for r in rounds]),
                "cpu_us": _median([mine[r]["cpu_us"] for r in rounds]),
                "sys_us": _median([mine[r].get("sys_us") for r in rounds]),
                "cpu_diff_us": _median(diffs),
                "cpu_diff_range": _range(diffs),
                "requests": requests,
                "spans": spans,
                "posts": posts,
                "spans_per_post": spans / posts if posts else None,
                "bytes_per_span": wire / spans if spans else None,
                "spans_per_request": spans / requests if requests else None,
                "kinds": kinds,
                "sink_errors": sum(mine[r]["sink"]["errors"] for r in rounds),
                "http_errors": sum(mine[r]["non2xx"] + mine[r]["socket_errors"] for r in rounds),
            }
        )
    return out


def targets(runs, summary, exports=None):
    """(verdict, text) lines for the issue's targets; verdict is PASS, FAIL, UNRESOLVED or n/a.

    A target whose variants have a warning (errors under load, no spans where spans are due)
    fails whatever the numbers say: fast-but-broken is not a result.
    """
    by = {s["variant"]: s for s in summary}
    broken = {name for name, _ in warnings(summary, exports)} if exports is not None else set()
    lines = []

    def overhead(name):
        s = by.get(name)
        return s["cpu_diff_us"] if s else None

    base = _per_round(runs, "baseline")

    def cpu_target(what, name, other, margin, medians_text):
        """A CPU target judged on its per-round margin (mine against the limit the other variant
        sets in the same round; ≤ 0 holds). The rounds' spread decides how sure the verdict is:
        PASS or FAIL only when the mean margin is more than two standard errors from zero,
        UNRESOLVED when this run's noise is larger than the difference it is asked about."""
        mine, theirs = _per_round(runs, name), _per_round(runs, other)
        common = [r for r in sorted(mine) if r in theirs and r in base]
        m = [margin(mine[r]["cpu_us"] - base[r]["cpu_us"], theirs[r]["cpu_us"] - base[r]["cpu_us"])
             for r in common]
        held = f"holds in {sum(x <= 0 for x in m)} of {len(m)} rounds"
        if len(m) < 3:
            # Too few rounds for a spread: the medians decide, as the margin of the medians.
            verdict = "PASS" if margin(overhead(name), overhead(other)) <= 0 else "FAIL"
            return verdict, f"{what}: {medians_text}" + (f"; {held}" if m else "")
        mean = statistics.fmean(m)
        se = statistics.stdev(m) / len(m) ** 0.5
        verdict = "PASS" if mean + 2 * se <= 0 else "FAIL" if mean - 2 * se > 0 else "UNRESOLVED"
        text = (f"{what}: {medians_text} (medians); margin per round {mean:+.1f} ± {se:.1f} µs "
                f"(mean ± standard error; ≤ 0 holds); {held}")
        if verdict == "UNRESOLVED":
            text += ": this run's noise is larger than the margin, see the instruction counts"
        return verdict, text

    nup = overhead("native100_upstream")

    def native_share_target(name, qualifier=""):
        """`name`'s overhead against NATIVE_SHARE_TARGET × native100_upstream's."""
        mine = overhead(name)
        what = f"{name} CPU overhead ≤ {NATIVE_SHARE_TARGET} × native100_upstream overhead{qualifier}"
        if mine is None or nup is None:
            return "n/a", f"{what}: needs both variants"
        share = f" ({mine / nup:.2f}×)" if nup > 0 else ""
        return cpu_target(
            what, name, "native100_upstream", lambda h, n: h - NATIVE_SHARE_TARGET * n,
            f"{mine:+.1f} µs vs limit {NATIVE_SHARE_TARGET * nup:+.1f} µs{share}")

    lines.append(native_share_target("hoptrace100"))
    # The same target for the configuration that skips Envoy's stream info on successful requests:
    # not the default, so not the verdict on hoptrace, but the number the choice between the two
    # needs. Shown only when both ran.
    if overhead("hoptrace100_on_error") is not None and nup is not None:
        lines.append(native_share_target(
            "hoptrace100_on_error", " (`attributes.stream_info: on_error`, not the default)"))

    h1, rw = overhead("hoptrace1"), overhead("floor_rewrite")
    what = "hoptrace1 CPU overhead ≤ floor_rewrite overhead"
    if h1 is None or rw is None:
        lines.append(("n/a", f"{what}: needs both variants"))
    else:
        lines.append(cpu_target(what, "hoptrace1", "floor_rewrite", lambda h, f: h - f,
                                f"{h1:+.1f} µs vs {rw:+.1f} µs"))

    what = f"≥ {SPANS_PER_POST_TARGET} spans per export POST (hoptrace100)"
    s = by.get("hoptrace100")
    if s is None or s["spans_per_post"] is None:
        lines.append(("n/a" if s is None else "FAIL", f"{what}: " + ("not measured" if s is None else "no export seen")))
    else:
        spp = s["spans_per_post"]
        lines.append(("PASS" if spp >= SPANS_PER_POST_TARGET else "FAIL", f"{what}: {spp:.0f}"))

    # The point of the target is that a failing collector must not slow requests down. Faster is
    # not a failure: with the collector refusing, the queue stays full and new spans are dropped
    # (counted) instead of being queued and framed into export bodies, so the proxy does less.
    what = f"hoptrace100_503 req/s no more than {COLLECTOR_503_TOLERANCE:.0%} below hoptrace100 (same round)"
    healthy, down = _per_round(runs, "hoptrace100"), _per_round(runs, "hoptrace100_503")
    ratios = [down[r]["rps"] / healthy[r]["rps"] for r in down if r in healthy and healthy[r]["rps"]]
    if not ratios:
        lines.append(("n/a", f"{what}: needs both variants"))
    else:
        m = _median(ratios)
        ok = m >= 1.0 - COLLECTOR_503_TOLERANCE
        note = " (faster: a refusing collector leaves less export work)" if m > 1.0 + COLLECTOR_503_TOLERANCE else ""
        lines.append(("PASS" if ok else "FAIL", f"{what}: {m:.3f}×{note}"))
    involved = [
        ("hoptrace100", "native100_upstream"),
        ("hoptrace1", "floor_rewrite"),
        ("hoptrace100",),
        ("hoptrace100", "hoptrace100_503"),
    ]
    for i, names in enumerate(involved):
        bad = [n for n in names if n in broken]
        verdict, text = lines[i]
        if bad and verdict != "n/a":
            lines[i] = ("FAIL", f"{text} — not valid: {', '.join(bad)} has a warning below")
    return lines


def warnings(summary, exports):
    """(variant, why) for runs whose numbers should not be trusted as they stand."""
    out = []
    for s in summary:
        name = s["variant"]
        if s["http_errors"]:
            out.append((name, f"{s['http_errors']} non-2xx responses or socket errors under load"))
        if s["sink_errors"]:
            out.append((name, f"the sink could not decode {s['sink_errors']} export POST(s)"))
        if exports.get(name) and not s["spans"]:
            out.append((name, "should export spans, but the sink decoded none"))
        if not exports.get(name) and s["spans"]:
            out.append((name, f"should not export, but the sink decoded {s['spans']} spans"))
    return out


def _f(x, fmt):
    return "–" if x is None else format(x, fmt)


def _range_text(r, fmt):
    lo, hi = r
    return "–" if lo is None else f"{format(lo, fmt)}…{format(hi, fmt)}"


def variant_table(summary, what):
    rows = [
        "| variant | what | req/s (median) | × baseline (median, range) | p50 ms | p99 ms "
        "| CPU µs/req | of which sys | Δ CPU µs/req (range) | spans decoded | POSTs | spans/POST "
        "| bytes/span | spans/req | errors |",
        "|---|---|---:|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in summary:
        errors = s["http_errors"] + s["sink_errors"]
        rows.append(
            f"| {s['variant']} | {what.get(s['variant'], '')} | {_f(s['rps'], '.0f')} "
            f"| {_f(s['ratio'], '.3f')} ({_range_text(s['ratio_range'], '.3f')}) "
            f"| {_f(s['p50_ms'], '.3f')} | {_f(s['p99_ms'], '.3f')} | {_f(s['cpu_us'], '.1f')} "
            f"| {_f(s.get('sys_us'), '.1f')} | {_f(s['cpu_diff_us'], '+.1f')} ({_range_text(s['cpu_diff_range'], '+.1f')}) "
            f"| {s['spans']} | {s['posts']} | {_f(s['spans_per_post'], '.1f')} "
            f"| {_f(s['bytes_per_span'], '.0f')} | {_f(s['spans_per_request'], '.2f')} | {errors} |"
        )
    return "\n".join(rows)


def raw_table(runs):
    rows = [
        "| round | slot | variant | requests | s | req/s | p50 ms | p99 ms | CPU s | CPU µs/req "
        "| sys µs/req | POSTs | spans | wire bytes | span kinds | non-2xx | socket errors |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for r in runs:
        kinds = ", ".join(f"{k.removeprefix('SPAN_KIND_')}={n}" for k, n in sorted(r["sink"]["kinds"].items()))
        rows.append(
            f"| {r['round']} | {r['slot']} | {r['variant']} | {r['requests']} | {r['seconds']:.2f} "
            f"| {r['rps']:.0f} | {_f(r['p50_ms'], '.3f')} | {_f(r['p99_ms'], '.3f')} "
            f"| {r['cpu_s']:.2f} | {r['cpu_us']:.1f} | {_f(r.get('sys_us'), '.1f')} | {r['sink']['posts']} | {r['sink']['spans']} "
            f"| {r['sink']['wire_bytes']} | {kinds or '–'} | {r['non2xx']} | {r['socket_errors']} |"
        )
    return "\n".join(rows)


def _embedded(path):
    """A Markdown file's body under this page's heading (its own title dropped, sections demoted);
    anything else verbatim."""
    if Path(path).suffix != ".md":
        return _verbatim(path)
    lines = Path(path).read_text(errors="replace").rstrip("\n").splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return "\n".join("#" + line if line.startswith("#") else line for line in lines).strip("\n")


def _verbatim(path):
    text = Path(path).read_text(errors="replace").rstrip("\n")
    fence = "````" if "```" in text else "```"
    return f"{fence}text\n{text}\n{fence}"


def _schedule_text(meta):
    if meta.get("paired"):
        return (f"{meta['rounds']} round(s), every variant loaded at the same time in each: "
                f"{meta['warmup']} s warm-up, {meta['settle']} s settle, {meta['duration']} s measured, "
                f"{meta['settle']} s for the exporters to flush. CPU and sink counts cover the "
                "measured seconds and the flush wait.")
    return (f"Each variant is warmed up once ({meta['warmup']} s of load), then {meta['rounds']} "
            f"round(s) of one {meta['duration']} s slice per variant. Round r runs the variants "
            "rotated by r and, in odd rounds, in reverse order: every variant moves through the "
            "round and follows different neighbours, so the machine's drift and any carry-over "
            "from the previous slice hit every variant alike. A slice's CPU and sink counts run "
            "from the start of its load until the end of the next slice, so the exports flushed "
            "after the load count.")


def notes_section(links):
    """The results page's pointer to the hand-written pages beside it: (title, relative link)."""
    if not links:
        return []
    return ["## Notes", ""] + [f"- {title}: [{link}]({link})" for title, link in links] + [""]


def results_md(meta, runs, summary, verdicts, skipped, checks, extras, links=()):
    """The whole bench/results.md text: the generated pages in `extras` are copied in, the
    hand-written ones in `links` are linked."""
    out = [
        "# hoptrace benchmark results",
        "",
        f"Written by `bench/run.py`, not by hand. Command: `{meta['command']}`  ",
        f"Date: {meta['date']}  ",
        f"Envoy: {meta['envoy_version']}  ",
        f"wrk: {meta['wrk_version']}  ",
        f"Machine: {meta['nproc']} CPUs ({meta['cpu_model']}), Linux {meta['kernel']}, "
        f"{meta['mem']}; {meta['load']}",
        "",
        "## Method",
        "",
        f"Each variant is its own Envoy 1.40 (`--concurrency 1`) pinned to core {meta['proxy_core']}; "
        f"the upstream (an Envoy answering with `direct_response`), the OTLP/HTTP sinks (Python, "
        f"decoding every export as `ExportTraceServiceRequest`) and `{meta['wrk_cmd']}` share core "
        f"{meta['load_core']}. All on 127.0.0.1. " + _schedule_text(meta) + " Budget: "
        f"{meta['budget']}; this run took {meta['elapsed']:.0f} s.",
        "",
        "Proxy CPU is utime+stime of the Envoy process (all threads, /proc/<pid>/stat) over that "
        "interval divided by the requests wrk completed in the measured seconds; `sys` is the "
        "stime part. Δ is against the same round's baseline, then the median over rounds. Sink "
        "columns count what the sink decoded over the same interval.",
        "",
    ]
    if meta.get("wasm_sizes"):
        out += ["Release .wasm sizes: " + ", ".join(f"`{n}` {b} bytes" for n, b in meta["wasm_sizes"].items()), ""]
    out += ["## Results", "", variant_table(summary, meta["what"]), "", "## Targets", ""]
    out += [f"- **{v}** {t}" for v, t in verdicts]
    out += [""]
    warned = warnings(summary, meta["exports"])
    if warned:
        out += ["## Warnings", ""] + [f"- `{n}`: {w}" for n, w in warned] + [""]
    if skipped:
        out += ["## Variants not measured", ""]
        for name, reason in skipped.items():
            first, *rest = reason.splitlines() or [""]
            out += [f"- `{name}`: {first}"]
            if rest:
                out += ["", "  ```text", *[f"  {line}" for line in rest], "  ```"]
        out += [""]
    out += ["## Propagation check (before measuring)", ""]
    for name, lines in checks.items():
        out += [f"- `{name}`: " + "; ".join(lines)]
    out += [""]
    for title, path in extras:
        out += [f"## {title} (`{path.name}`)", "", _embedded(path), ""]
    out += notes_section(links)
    out += ["## Raw per-round numbers", "", raw_table(runs), ""]
    return "\n".join(out)


# What each variant's overhead is compared with in the README: Envoy's own tracer making the same
# spans at the same sampling.
NATIVE_COUNTERPART = {
    "hoptrace100": "native100_upstream",
    "hoptrace100_on_error": "native100_upstream",
    "hoptrace100_503": "native100_upstream",
    "hoptrace1": "native1",
}


def readme_section(meta, summary, results_link):
    """The README's cost table between the bench markers (markers not included): for a reader
    choosing a configuration, each variant's overhead against no tracing and against Envoy's own
    tracer doing the same work; the verdicts stay in results.md."""
    by_name = {s["variant"]: s for s in summary}
    rows = [
        f"Measured by `make bench` on {meta['date']} ({meta['nproc']} CPUs, {meta['cpu_model']}, "
        f"{meta['envoy_version']}; one worker, `{meta['wrk_cmd']}`, {meta['rounds']} interleaved "
        f"round(s)): the proxy CPU each request costs over the same Envoy without tracing. "
        f"Every number: [{results_link}]({results_link}).",
        "",
        "| configuration | proxy CPU over no tracing | against Envoy's own tracer | throughput vs no tracing "
        "| spans per export request |",
        "|---|---:|---|---:|---:|",
    ]
    for s in summary:
        if s["variant"] == "baseline":
            continue
        native = by_name.get(NATIVE_COUNTERPART.get(s["variant"], ""))
        against = "–"
        if native and s["cpu_diff_us"] is not None and native["cpu_diff_us"]:
            against = (f"{s['cpu_diff_us'] / native['cpu_diff_us']:.2f}× "
                       f"({meta['what'].get(native['variant'], native['variant'])})")
        rows.append(
            f"| {meta['what'].get(s['variant'], s['variant'])} | {_f(s['cpu_diff_us'], '+.1f')} µs "
            f"| {against} | {_f(s['ratio'], '.2f')}× | {_f(s['spans_per_post'], '.0f')} |"
        )
    return "\n".join(rows)


def rewrite_readme(path, section):
    """Replaces the text between the bench markers; returns False if the markers are missing."""
    path = Path(path)
    if not path.is_file():
        return False
    text = path.read_text()
    pattern = re.compile(re.escape(README_START) + r".*?" + re.escape(README_END), re.S)
    if not pattern.search(text):
        return False
    new = pattern.sub(lambda _: f"{README_START}\n{section}\n{README_END}", text, count=1)
    path.write_text(new)
    return True


def probe_table(runs, n):
    """Markdown: what one host call of each kind costs, from a `--probe N` run. Per round, a probe
    variant's CPU per request minus the no-call probe's, divided by N; then the median."""
    noop = _per_round(runs, "probe_noop")
    names = sorted({r["variant"] for r in runs if r["variant"].startswith("probe_")} - {"probe_noop"})
    lines = [f"## Host call prices in this Envoy ({n} calls per request per kind)", "",
             "| call | µs per call (median) | range over rounds |", "|---|---:|---|"]
    for name in names:
        mine = _per_round(runs, name)
        per_call = [(mine[r]["cpu_us"] - noop[r]["cpu_us"]) / n for r in sorted(mine) if r in noop]
        if per_call:
            low, high = _range(per_call)
            lines.append(f"| {name.removeprefix('probe_')} | {_median(per_call):.2f} | "
                         f"{low:.2f}…{high:.2f} |")
    return "\n".join(lines)


def probe_md(meta, runs, n):
    """The whole host-call price page (`run.py --probe N --out …`)."""
    out = [
        "# Host call prices in Envoy's V8",
        "",
        f"Written by `bench/run.py`, not by hand. Command: `{meta['command']}`  ",
        f"Date: {meta['date']}  ",
        f"Envoy: {meta['envoy_version']}  ",
        f"Machine: {meta['nproc']} CPUs ({meta['cpu_model']}), Linux {meta['kernel']}; {meta['load']}",
        "",
        f"The probe filter (`filter/probe`) makes one kind of host call {n} times per request in "
        "`on_http_request_headers`; each kind is its own Envoy (`" + meta["wrk_cmd"] + "`, "
        f"{meta['rounds']} rounds" + (", all variants loaded at the same time so the machine's "
        "noise lands on all of them alike; sharing one core, every Envoy runs with colder caches "
        "than alone, so prices read higher than in isolation" if meta.get("paired") else
        ", interleaved") + "). A call's price is the proxy's CPU per request minus that of the "
        f"probe making no call, in the same round, divided by {n}.",
        "",
        probe_table(runs, n).split("\n", 2)[2],
        "",
        "| round | variant | requests | CPU µs/req |",
        "|---:|---|---:|---:|",
    ]
    for r in runs:
        out.append(f"| {r['round']} | {r['variant']} | {r['requests']} | {r['cpu_us']:.1f} |")
    return "\n".join(out) + "\n"
