"""The benchmark's variants: what each proxy runs, which .wasm it needs, what it must propagate."""

import json
from dataclasses import dataclass
from pathlib import Path

import envoy_configs as cfg

# A gateway listener, configured as envoy/gateway.yaml is: SERVER + CLIENT spans, named explicitly so
# no request pays for reading the listener direction.
HOPTRACE_COMMON = {"collector": {"cluster": "otlp_collector"}, "batch": {"schedule_delay_ms": 1000},
                   "span_kind": "server_and_client"}


@dataclass(frozen=True)
class Variant:
    """One proxy configuration under test."""

    name: str
    what: str
    # "passthrough": the upstream sees exactly what the client sent (or nothing);
    # "tracer": the upstream sees a valid traceparent, with the client's trace id if it sent one.
    propagation: str
    # Candidate .wasm file names in the wasm dir (cargo writes `floor_noop.wasm` for crate
    # `floor-noop`); None for no wasm.
    wasm: tuple = ()
    # What the variant's own sink answers to exports: 200, or 503 for the collector-down variant.
    collector_status: int = 200
    exports: bool = False  # spans are expected at the sink under load
    native: tuple = None  # (random_sampling %, spawn_upstream_span)
    plugin_config: dict = None  # hoptrace JSON configuration
    root_id: str = ""

    def wasm_path(self, wasm_dir):
        """The first candidate file that exists, or None."""
        for name in self.wasm:
            path = Path(wasm_dir) / name
            if path.is_file():
                return path
        return None

    def bootstrap(self, port, admin_port, upstream_port, collector_port, wasm_dir):
        """The proxy's Envoy bootstrap (a dict) for this variant."""
        tracing = None
        filters = []
        if self.native is not None:
            sampling, spawn = self.native
            tracing = cfg.native_tracing(sampling, spawn, collector_port)
        if self.wasm:
            configuration = self.plugin_config or ""
            if not isinstance(configuration, str):
                configuration = json.dumps(configuration)
            filters.append(
                cfg.wasm_filter(self.name, self.root_id, self.wasm_path(wasm_dir), configuration)
            )
        return cfg.proxy(port, admin_port, upstream_port, collector_port, tracing, filters)


HOPTRACE_WASM = ("hoptrace.wasm",)

VARIANTS = [
    Variant("baseline", "no tracing", "passthrough"),
    Variant(
        "native100",
        "Envoy OTel tracer, 100 %, SERVER span",
        "tracer",
        exports=True,
        native=(100, False),
    ),
    Variant(
        "native100_upstream",
        "Envoy OTel tracer, 100 %, spawn_upstream_span (SERVER + CLIENT)",
        "tracer",
        exports=True,
        native=(100, True),
    ),
    Variant("native1", "Envoy OTel tracer, 1 %", "tracer", exports=True, native=(1, False)),
    Variant(
        "floor_noop",
        "wasm filter that returns at once",
        "passthrough",
        wasm=("floor-noop.wasm", "floor_noop.wasm"),
        root_id="floor_noop",
    ),
    Variant(
        "floor_rewrite",
        "wasm filter: read traceparent, write a new one",
        "tracer",
        wasm=("floor-rewrite.wasm", "floor_rewrite.wasm"),
        root_id="floor_rewrite",
    ),
    Variant(
        "hoptrace100",
        "hoptrace always_on, gateway (SERVER + CLIENT)",
        "tracer",
        wasm=HOPTRACE_WASM,
        exports=True,
        plugin_config={"sampler": "always_on", **HOPTRACE_COMMON},
        root_id="hoptrace",
    ),
    Variant(
        "hoptrace100_on_error",
        "hoptrace always_on, gateway, stream info only on errors",
        "tracer",
        wasm=HOPTRACE_WASM,
        exports=True,
        plugin_config={"sampler": "always_on", "attributes": {"stream_info": "on_error"},
                       **HOPTRACE_COMMON},
        root_id="hoptrace",
    ),
    Variant(
        "hoptrace1",
        "hoptrace traceidratio 0.01",
        "tracer",
        wasm=HOPTRACE_WASM,
        exports=True,
        plugin_config={"sampler": "traceidratio", "sampler_arg": 0.01, **HOPTRACE_COMMON},
        root_id="hoptrace",
    ),
    Variant(
        "hoptrace100_503",
        "hoptrace always_on, collector answers 503",
        "tracer",
        wasm=HOPTRACE_WASM,
        collector_status=503,
        exports=True,
        plugin_config={"sampler": "always_on", **HOPTRACE_COMMON},
        root_id="hoptrace",
    ),
]

# Counted by `bench/instructions.py` only (the timed run's budget has no room for it): the rewrite
# floor with its exports trimmed to the callbacks it handles, as `make wasm` trims hoptrace's. The
# SDK-built floors export every callback, and Envoy calls each one per stream.
EXTRA_VARIANTS = [
    Variant(
        "floor_rewrite_trimmed",
        "floor_rewrite with its exports trimmed like hoptrace's",
        "tracer",
        wasm=("floor_rewrite_trimmed.wasm",),
        root_id="floor_rewrite",
    ),
    # hoptrace1 as it was before `keep` existed: what watching unsampled requests to their end costs.
    Variant(
        "hoptrace1_nokeep",
        "hoptrace traceidratio 0.01, keep off",
        "tracer",
        wasm=HOPTRACE_WASM,
        exports=True,
        plugin_config={"sampler": "traceidratio", "sampler_arg": 0.01, "keep": {"errors": False},
                       **HOPTRACE_COMMON},
        root_id="hoptrace",
    ),
    # What `expose` costs: the access-log publication, and the response headers.
    Variant(
        "hoptrace1_accesslog",
        "hoptrace traceidratio 0.01, expose.access_log on",
        "tracer",
        wasm=HOPTRACE_WASM,
        exports=True,
        plugin_config={"sampler": "traceidratio", "sampler_arg": 0.01,
                       "expose": {"access_log": True}, **HOPTRACE_COMMON},
        root_id="hoptrace",
    ),
    Variant(
        "hoptrace100_accesslog",
        "hoptrace always_on, gateway, expose.access_log on",
        "tracer",
        wasm=HOPTRACE_WASM,
        exports=True,
        plugin_config={"sampler": "always_on", "expose": {"access_log": True}, **HOPTRACE_COMMON},
        root_id="hoptrace",
    ),
    Variant(
        "hoptrace1_responses",
        "hoptrace traceidratio 0.01, expose.server_timing and trace_id_header on",
        "tracer",
        wasm=HOPTRACE_WASM,
        exports=True,
        plugin_config={"sampler": "traceidratio", "sampler_arg": 0.01,
                       "expose": {"server_timing": True, "trace_id_header": "x-trace-id"},
                       **HOPTRACE_COMMON},
        root_id="hoptrace",
    ),
]



def rules16(sampler, sampler_arg=1.0, named=True):
    """Sixteen sampling rules of every kind where the benchmark's request (`GET /`, no extra
    headers) matches only the last, which samples as `sampler`: matching's worst case. Named rules
    also count their requests, pushed as metrics on each tick (see `hoptrace100_rules16_unnamed`)."""
    misses = []
    for i in range(15):
        kind = i % 5
        if kind == 0:
            match = {"path_prefix": f"/api/v{i}"}
        elif kind == 1:
            match = {"path": f"/checkout/{i}"}
        elif kind == 2:
            match = {"host": f"*.svc{i}.example.com"}
        elif kind == 3:
            match = {"method": "POST", "path_prefix": "/"}
        else:
            match = {"header": {"name": f"x-tenant-{i}", "value": "blue"}}
        misses.append({"name": f"miss{i}", "match": match, "sampler": "always_off"})
    last = {"name": "everything", "match": {"path_prefix": "/"}, "sampler": sampler,
            "sampler_arg": sampler_arg}
    rules = misses + [last]
    if not named:
        for rule in rules:
            del rule["name"]
    return {"rules": rules}


# Sampling rules (counted instructions only): each against the rule-less variant deciding the same.
EXTRA_VARIANTS += [
    Variant(
        "hoptrace100_rules16",
        "hoptrace, 16 rules, the last matches: always_on",
        "tracer",
        wasm=HOPTRACE_WASM,
        exports=True,
        plugin_config={"sampler": "always_off", "sampling": rules16("always_on"), **HOPTRACE_COMMON},
        root_id="hoptrace",
    ),
    # The same without names, so without per-rule counters: matching and the span attribute alone.
    # Under callgrind a request takes ~50× longer, so the counters' per-tick metric pushes are
    # charged to ~50× fewer requests than in a proxy at speed.
    Variant(
        "hoptrace100_rules16_unnamed",
        "hoptrace, 16 unnamed rules, the last matches: always_on",
        "tracer",
        wasm=HOPTRACE_WASM,
        exports=True,
        plugin_config={"sampler": "always_off", "sampling": rules16("always_on", named=False),
                       **HOPTRACE_COMMON},
        root_id="hoptrace",
    ),
    Variant(
        "hoptrace1_rules16",
        "hoptrace, 16 rules, the last matches: traceidratio 0.01",
        "tracer",
        wasm=HOPTRACE_WASM,
        exports=True,
        plugin_config={"sampler": "always_off", "sampling": rules16("traceidratio", 0.01),
                       **HOPTRACE_COMMON},
        root_id="hoptrace",
    ),
]

BY_NAME = {v.name: v for v in VARIANTS + EXTRA_VARIANTS}


def candidates_from_specs(specs, of, tool="bench"):
    """The candidate variants of every `--candidate LABEL=WASM` in `specs` (see
    `candidate_variants`); a malformed spec or a missing file stops the tool."""
    out = []
    for spec in specs:
        label, sep, path = spec.partition("=")
        if not sep or not label or not Path(path).is_file():
            raise SystemExit(f"{tool}: --candidate {spec!r}: want LABEL=PATH to an existing .wasm")
        out += candidate_variants(label, path, of)
    return out


def candidate_variants(label, wasm_path, of=("hoptrace100", "hoptrace1")):
    """The hoptrace variants named in `of` again, run from another build of the module
    (`--candidate`), so an optimisation is judged against the current build inside the same
    interleaved rounds."""
    path = str(Path(wasm_path).resolve())
    unknown = [n for n in of if n not in BY_NAME or not n.startswith("hoptrace")]
    if unknown:
        raise SystemExit(f"bench: --candidate-of {unknown}: not hoptrace variants")
    return [
        Variant(f"{base.name}@{label}", f"{base.what}, candidate build `{label}`", base.propagation,
                wasm=(path,), exports=base.exports, plugin_config=base.plugin_config,
                root_id=base.root_id)
        for base in (BY_NAME[n] for n in of)
    ]


PROBE_OPS = ("clock", "property", "header_absent", "header_present", "header_pairs", "header_set",
             "stream_end_facts")


def _cel_fields(*fields):
    return " + '\\x1f' + ".join(fields)


STREAM_END_LIST = (
    "has(request.protocol) ? request.protocol : ''",
    "has(source.address) ? source.address : ''",
    "has(response.code) ? response.code : 0",
    "has(response.flags) ? response.flags : 0",
    "has(response.code_details) ? response.code_details : ''",
    "has(xds.cluster_name) ? xds.cluster_name : ''",
    "has(upstream.address) ? upstream.address : ''",
    "has(xds.route_name) ? xds.route_name : ''",
    "has(xds.listener_direction) ? xds.listener_direction : 0",
)

# CEL expressions the probe prices (`expr_evaluate`), by name.
PROBE_CEL = {
    # One attribute: the foreign call's own cost against a property read of the same value.
    "cel_one": "request.protocol",
    # One timestamp printed as text (what a start time read through CEL costs).
    "cel_time": "string(request.time)",
    # hoptrace's stream-end expression (span.stream_end in hoptrace-core).
    "cel_stream_end": _cel_fields(
        "string(request.time)",
        "(has(request.duration) ? string(request.time + request.duration) : '')",
        "(has(request.protocol) ? request.protocol : '')",
        "(has(source.address) ? source.address : '')",
        "(has(response.code) ? string(response.code) : '')",
        "(has(response.flags) ? string(response.flags) : '')",
        "(has(response.code_details) ? response.code_details : '')",
        "(has(xds.cluster_name) ? xds.cluster_name : '')",
        "(has(upstream.address) ? upstream.address : '')",
        "(has(xds.route_name) ? xds.route_name : '')",
        "(has(xds.listener_direction) ? string(xds.listener_direction) : '')"),
    # The same facts without the times (taken from the module's clock instead).
    "cel_lean": _cel_fields(
        "request.protocol", "source.address",
        "(has(response.code) ? string(response.code) : '')", "string(response.flags)",
        "(has(xds.cluster_name) ? xds.cluster_name : '')",
        "(has(upstream.address) ? upstream.address : '')", "xds.route_name"),
    # The stream-end facts as a CEL list (Envoy serializes it as a protobuf ListValue), without and
    # with the start time.
    "cel_list": "[" + ", ".join(STREAM_END_LIST) + "]",
    "cel_list_time": "[request.time, " + ", ".join(STREAM_END_LIST) + "]",
    # The list hoptrace evaluates at stream end while every attribute is present (ListForm::Bare).
    "cel_bare": "[request.time, request.protocol, source.address, response.code, response.flags, "
                "xds.cluster_name, upstream.address, xds.route_name]",
}


def probe_variants(n, only=None, at_log=False):
    """The host-call probe (`filter/probe`): a variant making no call, then one per kind of call,
    each made `n` times per request (`--probe N`), in `on_log` with `at_log`."""
    wasm = ("host-call-probe.wasm", "host_call_probe.wasm")
    phase = "@log" if at_log else ""
    out = [Variant("probe_noop", "probe filter making no host call", "passthrough", wasm=wasm,
                   plugin_config="noop 0", root_id="probe")]
    out += [Variant(f"probe_{op}", f"probe filter: {n} × {op} per request", "passthrough", wasm=wasm,
                    plugin_config=f"{op}{phase} {n}", root_id="probe") for op in PROBE_OPS]
    out += [Variant(f"probe_{name}", f"probe filter: {n} × expr_evaluate({expr})", "passthrough",
                    wasm=wasm, plugin_config=f"cel{phase} {n} {expr}", root_id="probe")
            for name, expr in PROBE_CEL.items()]
    return [v for v in out if only is None or v.name == "probe_noop" or v.name in only]
