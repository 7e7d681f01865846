"""Unit tests for the benchmark's pure parts: wrk parsing, the traceparent check, the statistics,
the target verdicts, the README rewrite and the order of the slices. No process is started.

    .venv/bin/python -m unittest discover -s bench
"""

import gzip
import tempfile
import unittest
from pathlib import Path

import check
import report
import wrk

WRK_OUTPUT = """Running 8s test @ http://127.0.0.1:18999/
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     7.42ms    7.13ms  55.08ms   90.23%
    Req/Sec   641.80    155.45     0.86k    70.00%
  Latency Distribution
     50%  512.00us
     75%    8.48ms
     90%   13.85ms
     99%    1.02s
  5130 requests in 8.00s, 2.34MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec:    641.25
Transfer/sec:      2.33MB
"""


class WrkParse(unittest.TestCase):
    def test_summary_latency_and_errors(self):
        got = wrk.parse(WRK_OUTPUT)
        self.assertEqual(got["requests"], 5130)
        self.assertAlmostEqual(got["seconds"], 8.0)
        self.assertAlmostEqual(got["rps"], 641.25)
        self.assertAlmostEqual(got["p50_ms"], 0.512)
        self.assertAlmostEqual(got["p99_ms"], 1020.0)
        self.assertEqual(got["non2xx"], 7)
        self.assertEqual(got["socket_errors"], 3)

    def test_failed_run_is_an_error(self):
        with self.assertRaises(ValueError):
            wrk.parse("unable to connect to 127.0.0.1:1 Connection refused\n")


class Traceparent(unittest.TestCase):
    # (case, value, valid)
    ROWS = [
        ("w3c example", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", True),
        ("unsampled", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", True),
        ("all-zero trace id", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", False),
        ("all-zero parent id", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", False),
        ("upper-case hex", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", False),
        ("missing", None, False),
    ]

    def test_rows(self):
        for case, value, valid in self.ROWS:
            with self.subTest(case):
                self.assertEqual(check._valid(value) is not None, valid)


def run(rnd, variant, rps, cpu_us, posts=0, spans=0):
    return {
        "round": rnd, "slot": 0, "variant": variant, "requests": 1000, "seconds": 8.0,
        "rps": rps, "p50_ms": 1.0, "p99_ms": 2.0, "non2xx": 0, "socket_errors": 0,
        "cpu_s": cpu_us * 1000 / 1e6, "cpu_us": cpu_us,
        "sink": {"posts": posts, "spans": spans, "wire_bytes": spans * 100,
                 "decoded_bytes": spans * 100, "errors": 0, "kinds": {}},
    }


class Statistics(unittest.TestCase):
    RUNS = [
        run(0, "baseline", 10000, 50), run(0, "native100_upstream", 5000, 120),
        run(0, "hoptrace100", 8000, 80, posts=4, spans=2048),
        run(0, "hoptrace100_503", 7900, 81, posts=4, spans=2048),
        run(0, "floor_rewrite", 8000, 70), run(0, "hoptrace1", 8500, 65),
        # A slower second round: ratios stay per round.
        run(1, "baseline", 5000, 60), run(1, "native100_upstream", 2500, 130),
        run(1, "hoptrace100", 4000, 90, posts=4, spans=2048),
        run(1, "hoptrace100_503", 3900, 91, posts=4, spans=2048),
        run(1, "floor_rewrite", 4000, 80), run(1, "hoptrace1", 4250, 75),
    ]
    EXPORTS = {"hoptrace100": True, "hoptrace100_503": True}  # the synthetic runs with spans
    NAMES = ["baseline", "native100_upstream", "floor_rewrite", "hoptrace100", "hoptrace1",
             "hoptrace100_503"]

    def test_ratios_and_overheads_are_per_round(self):
        by = {s["variant"]: s for s in report.summarize(self.RUNS, self.NAMES)}
        self.assertAlmostEqual(by["native100_upstream"]["ratio"], 0.5)
        self.assertEqual(by["native100_upstream"]["ratio_range"], (0.5, 0.5))
        self.assertAlmostEqual(by["native100_upstream"]["cpu_diff_us"], 70)
        self.assertAlmostEqual(by["hoptrace100"]["spans_per_post"], 512)
        self.assertAlmostEqual(by["hoptrace100"]["bytes_per_span"], 100)

    def test_targets(self):
        summary = report.summarize(self.RUNS, self.NAMES)
        verdicts = [v for v, _ in report.targets(self.RUNS, summary, self.EXPORTS)]
        # 30 µs ≤ 0.6 × 70; 15 ≤ 20; 512 ≥ 500; 0.9875× is within 5 %.
        self.assertEqual(verdicts, ["PASS", "PASS", "PASS", "PASS"])

    def test_the_on_error_configuration_is_judged_against_the_same_limit_beside_the_target(self):
        runs = self.RUNS + [run(0, "hoptrace100_on_error", 9000, 95),  # 45 > 0.6 × 70
                            run(1, "hoptrace100_on_error", 4500, 100)]  # 40 ≤ 0.6 × 70
        names = [*self.NAMES, "hoptrace100_on_error"]
        lines = report.targets(runs, report.summarize(runs, names), self.EXPORTS)
        self.assertEqual(len(lines), 5)
        verdict, text = lines[1]
        self.assertTrue(text.startswith("hoptrace100_on_error CPU overhead ≤ 0.6 × "), text)
        self.assertIn("not the default", text)
        self.assertEqual(verdict, "FAIL")  # the medians decide with two rounds: 42.5 > 42

    def test_targets_say_in_how_many_rounds_they_hold(self):
        # Round 1's hoptrace1 is made dearer than its floor: the target holds in round 0 only.
        runs = [dict(r, cpu_us=95) if (r["round"], r["variant"]) == (1, "hoptrace1") else r
                for r in self.RUNS]
        texts = [t for _, t in report.targets(runs, report.summarize(runs, self.NAMES), self.EXPORTS)]
        self.assertTrue(texts[0].endswith("; holds in 2 of 2 rounds"), texts[0])
        self.assertTrue(texts[1].endswith("; holds in 1 of 2 rounds"), texts[1])

    def test_cpu_verdicts_weigh_the_spread_of_the_rounds(self):
        def rounds(margins):
            out = []
            for r, m in enumerate(margins):
                out += [run(r, "baseline", 10000, 100), run(r, "floor_rewrite", 9000, 120),
                        run(r, "hoptrace1", 9000, 120 + m)]
            return out

        names = ["baseline", "floor_rewrite", "hoptrace1"]
        for margins, want in [([-5, -4, -6, -5], "PASS"), ([5, 4, 6, 5], "FAIL"),
                              ([10, -10, 12, -8], "UNRESOLVED")]:
            with self.subTest(margins=margins):
                runs = rounds(margins)
                verdict, text = report.targets(runs, report.summarize(runs, names))[1]
                self.assertEqual(verdict, want, text)
                self.assertIn("± ", text)

    def test_a_silent_exporter_fails_its_targets(self):
        runs = [dict(r, sink=dict(r["sink"], spans=0, posts=0)) if r["variant"] == "hoptrace100" else r
                for r in self.RUNS]
        verdicts = report.targets(runs, report.summarize(runs, self.NAMES), self.EXPORTS)
        self.assertEqual([v for v, _ in verdicts], ["FAIL", "PASS", "FAIL", "FAIL"])
        self.assertIn("not valid: hoptrace100", verdicts[0][1])

    def test_missing_variants_are_not_applicable(self):
        runs = [r for r in self.RUNS if r["variant"] == "baseline"]
        verdicts = [v for v, _ in report.targets(runs, report.summarize(runs, ["baseline"]))]
        self.assertEqual(verdicts, ["n/a"] * 4)


class Readme(unittest.TestCase):
    def test_rewrites_between_markers_only(self):
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "README.md"
            path.write_text(f"intro\n{report.README_START}\nold\n{report.README_END}\nrest\n")
            self.assertTrue(report.rewrite_readme(path, "new table"))
            self.assertEqual(
                path.read_text(),
                f"intro\n{report.README_START}\nnew table\n{report.README_END}\nrest\n",
            )

    def test_no_markers_leaves_it_alone(self):
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "README.md"
            path.write_text("no markers\n")
            self.assertFalse(report.rewrite_readme(path, "new table"))
            self.assertEqual(path.read_text(), "no markers\n")

    def test_the_cost_table_compares_with_the_native_tracer_doing_the_same(self):
        runs = [run(0, "baseline", 10000, 50), run(0, "native100_upstream", 5000, 110),
                run(0, "hoptrace100", 6000, 80), run(0, "floor_noop", 9000, 60)]
        names = ["baseline", "native100_upstream", "hoptrace100", "floor_noop"]
        summary = report.summarize(runs, names)
        meta = {"date": "d", "nproc": 2, "cpu_model": "m", "envoy_version": "e", "wrk_cmd": "w",
                "rounds": 1, "what": {"native100_upstream": "Envoy 100 %", "hoptrace100": "hoptrace 100 %",
                                      "floor_noop": "noop"}}
        section = report.readme_section(meta, summary, "r.md")
        self.assertIn("| hoptrace 100 % | +30.0 µs | 0.50× (Envoy 100 %) |", section)
        self.assertIn("| noop | +10.0 µs | – |", section)
        self.assertNotIn("baseline", section)


class ResultsPage(unittest.TestCase):
    META = {"command": "c", "date": "d", "envoy_version": "e", "wrk_version": "w", "nproc": 2,
            "cpu_model": "m", "kernel": "k", "mem": "r", "load": "l", "proxy_core": 0,
            "load_core": 1, "wrk_cmd": "wrk", "rounds": 1, "warmup": 1, "duration": 2,
            "budget": "b", "elapsed": 1.0, "what": {}, "exports": {}}

    def test_generated_pages_are_copied_and_the_notes_only_linked(self):
        runs = [run(0, "baseline", 10000, 50)]
        summary = report.summarize(runs, ["baseline"])
        with tempfile.TemporaryDirectory() as d:
            counts = Path(d) / "instructions.md"
            counts.write_text("# Proxy instructions\n\n- hoptrace100: 0.43×\n")
            text = report.results_md(self.META, runs, summary, [], {}, {},
                                     [("Counts", counts)], [("What was tried", "notes.md")])
        self.assertIn("## Counts (`instructions.md`)\n\n- hoptrace100: 0.43×", text)
        self.assertIn("## Notes\n\n- What was tried: [notes.md](notes.md)\n", text)
        self.assertLess(text.index("## Notes"), text.index("## Raw per-round numbers"))
        self.assertNotIn("## Notes", report.results_md(self.META, runs, summary, [], {}, {}, []))


class SinkDecode(unittest.TestCase):
    def test_gzip_protobuf_and_garbage(self):
        try:
            import opentelemetry.proto  # noqa: F401
        except ImportError:
            self.skipTest("opentelemetry-proto not installed (bench/requirements.txt)")
        import sink
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        req = ExportTraceServiceRequest()
        spans = req.resource_spans.add().scope_spans.add().spans
        for kind in (2, 3, 3):  # SERVER, CLIENT, CLIENT
            spans.add(name="GET", kind=kind, trace_id=b"\x01" * 16, span_id=b"\x02" * 8)
        body = req.SerializeToString()
        decoded, size = sink.decode(gzip.compress(body), "gzip", "application/x-protobuf")
        self.assertEqual(size, len(body))
        self.assertEqual(sink.span_kinds(decoded), {"SPAN_KIND_SERVER": 1, "SPAN_KIND_CLIENT": 2})
        with self.assertRaises(ValueError):
            sink.decode(b"\xff\xff\xff", "", "application/x-protobuf")


if __name__ == "__main__":
    unittest.main()


class Probe(unittest.TestCase):
    def test_a_call_is_priced_against_the_no_call_probe_of_its_round(self):
        runs = [run(0, "probe_noop", 9000, 100.0), run(0, "probe_property", 5000, 150.0),
                run(1, "probe_noop", 9000, 120.0), run(1, "probe_property", 5000, 160.0),
                run(2, "probe_noop", 9000, 110.0), run(2, "probe_property", 5000, 154.0)]
        table = report.probe_table(runs, 20)
        # Per round: 2.5, 2.0, 2.2 µs per call; the median is 2.2.
        self.assertIn("| property | 2.20 | 2.00…2.50 |", table)

    def test_candidate_and_probe_variants(self):
        import variants
        with tempfile.NamedTemporaryFile(suffix=".wasm") as f:
            names = [v.name for v in variants.candidate_variants("o3", f.name)]
            self.assertEqual(names, ["hoptrace100@o3", "hoptrace1@o3"])
            only = [v.name for v in variants.candidate_variants("x", f.name, ["hoptrace100"])]
            self.assertEqual(only, ["hoptrace100@x"])
            with self.assertRaises(SystemExit):
                variants.candidate_variants("x", f.name, ["native100"])
            specs = variants.candidates_from_specs([f"a={f.name}", f"b={f.name}"], ["hoptrace100"])
            self.assertEqual([v.name for v in specs], ["hoptrace100@a", "hoptrace100@b"])
            for bad in ("nolabel", f"={f.name}", "a=/no/such.wasm"):
                with self.assertRaises(SystemExit):
                    variants.candidates_from_specs([bad], ["hoptrace100"])
        probes = variants.probe_variants(10, {"probe_clock", "probe_cel_list"})
        self.assertEqual([v.name for v in probes], ["probe_noop", "probe_clock", "probe_cel_list"])
        self.assertTrue(probes[2].plugin_config.startswith("cel 10 ["))
        at_log = variants.probe_variants(1, {"probe_property"}, at_log=True)
        self.assertEqual([v.plugin_config for v in at_log], ["noop 0", "property@log 1"])


class RoundOrder(unittest.TestCase):
    NAMES = ["baseline", "a", "b", "c"]

    def test_no_variant_runs_twice_in_a_row(self):
        # A slice's CPU counts on through the next slice: that must be another proxy's load.
        import run
        for n in range(2, 10):
            names = [str(i) for i in range(n)]
            flat = [v for r in range(8) for v in run.round_order(names, r)]
            self.assertFalse([a for a, b in zip(flat, flat[1:]) if a == b], n)

    def test_predecessors_vary(self):
        import run
        before = {}
        for r in range(len(self.NAMES)):
            order = run.round_order(self.NAMES, r)
            for prev, name in zip(order, order[1:]):
                before.setdefault(name, set()).add(prev)
        for name, prevs in before.items():
            self.assertGreater(len(prevs), 1, name)


class ExactRatio(unittest.TestCase):
    def test_corrects_hoptrace1_to_exactly_one_percent(self):
        import instructions
        # 1000 requests: hoptrace100 costs 100 more per request and sends 2 spans per request;
        # hoptrace1 sampled 20 (2 %), twice its share, so half its sampling cost comes off.
        counts = {"baseline": 0, "hoptrace100": 300, "hoptrace1": 202}
        spans = {"hoptrace100": 2000, "hoptrace1": 40}
        sampled, adjusted = instructions.at_exact_ratio(counts, spans, 1000)
        self.assertAlmostEqual(sampled, 20)
        self.assertAlmostEqual(adjusted, 202 - 0.01 * (300 - 202) / 0.98)

    def test_needs_both_variants(self):
        import instructions
        self.assertIsNone(instructions.at_exact_ratio({"hoptrace1": 1}, {}, 1000))


class IdleCorrection(unittest.TestCase):
    def test_time_driven_work_is_subtracted_at_the_idle_rate(self):
        import instructions
        # 1000 instructions per idle second; a 3 s window of 10,000 loses 3000.
        net = instructions.net_of_idle({"Ir": 10_000, "I1mr": 50}, 3.0, {"Ir": 2000, "I1mr": 20}, 2.0)
        self.assertEqual(net, {"Ir": 7000, "I1mr": 20})

    def test_dumps_come_in_the_order_they_were_written(self):
        import instructions
        with tempfile.TemporaryDirectory() as d:
            prefix = Path(d) / "v.callgrind"
            for name in ("v.callgrind", "v.callgrind.2", "v.callgrind.10", "v.callgrind.1"):
                (Path(d) / name).write_text("")
            self.assertEqual([Path(p).name for p in instructions.callgrind_dumps(prefix)],
                             ["v.callgrind.1", "v.callgrind.2", "v.callgrind.10"])


class TimeProfile(unittest.TestCase):
    REPORT = """
    55.10%  envoy
    20.00%  [kernel.kallsyms]
     4.00%  [JIT] tid 12263
     1.00%  [JIT] tid 12270
     3.90%  libc.so.6
"""

    def test_regions_merge_jit_threads(self):
        import timeprof

        shares = timeprof.parse_report(self.REPORT)
        self.assertEqual(set(shares), {"envoy", "[kernel.kallsyms]", "[JIT]", "libc.so.6"})
        self.assertAlmostEqual(shares["[JIT]"], 5.0)

    def test_per_request_scales_shares_by_cpu(self):
        import timeprof

        got = timeprof.per_request({"envoy": 50.0, "[JIT]": 10.0}, 120.0)
        self.assertAlmostEqual(got["envoy"], 60.0)
        self.assertAlmostEqual(got["[JIT]"], 12.0)


class Ablation(unittest.TestCase):
    def test_every_ablation_is_a_declared_feature_or_applies_exactly_once(self):
        # Fails as soon as an ablation's feature or edited text goes, not 8 minutes into
        # `make bench-ablate` (`make lint` compiles each feature).
        import ablate

        manifest = (ablate.REPO / ablate.PLUGIN_MANIFEST).read_text()
        for name, (_, features, edits) in ablate.ABLATIONS.items():
            self.assertTrue(features or edits, f"ablation {name} takes nothing away")
            for feature in features:
                self.assertRegex(manifest, rf"(?m)^{feature} = ", f"ablation {name}")
            for rel, old, _ in edits:
                text = (ablate.REPO / rel).read_text()
                self.assertEqual(text.count(old), 1, f"ablation {name}: {rel}")

    def test_an_edit_that_no_longer_matches_stops_the_tool(self):
        import ablate

        with tempfile.TemporaryDirectory() as d:
            (Path(d) / "a.rs").write_text("fn a() {}\n")
            ablate.apply_edits(Path(d), "ok", [("a.rs", "fn a() {}", "fn b() {}")])
            self.assertEqual((Path(d) / "a.rs").read_text(), "fn b() {}\n")
            with self.assertRaises(SystemExit):
                ablate.apply_edits(Path(d), "stale", [("a.rs", "fn a() {}", "")])

    def test_a_part_is_priced_inside_each_round(self):
        import ablate

        runs = [run(0, "baseline", 9000, 70.0), run(0, "hoptrace100@full", 5000, 130.0),
                run(0, "hoptrace100@stream_end", 6000, 105.0),
                run(1, "baseline", 9000, 80.0), run(1, "hoptrace100@full", 5000, 136.0),
                run(1, "hoptrace100@stream_end", 6000, 115.0)]
        rows = ablate.price_rows(runs, ["stream_end"])
        self.assertEqual(rows[0][0], "full")
        self.assertIsNone(rows[0][3])
        name, over, _, saved, saved_range, _ = rows[1]
        self.assertEqual(name, "stream_end")
        self.assertAlmostEqual(over, 35.0)
        self.assertAlmostEqual(saved, 23.0)
        self.assertEqual(saved_range, (21.0, 25.0))
        self.assertIsNone(rows[1][5])  # no native tracer in these rounds

    def test_a_build_is_compared_with_the_native_tracer_inside_each_round(self):
        import ablate

        runs = [run(0, "baseline", 9000, 70.0), run(0, "native100_upstream", 5000, 140.0),
                run(0, "hoptrace100@full", 5000, 126.0),
                run(1, "baseline", 9000, 80.0), run(1, "native100_upstream", 5000, 180.0),
                run(1, "hoptrace100@full", 5000, 140.0)]
        # 56/70 = 0.8 in round 0, 60/100 = 0.6 in round 1: the median of the two, not 58/85.
        self.assertAlmostEqual(ablate.price_rows(runs, [])[0][5], 0.7)
