"""The benchmark's variants: what each proxy runs, which .wasm it needs, what it must propagate."""

import json
from dataclasses import dataclass
from pathlib import Path

import envoy_configs as cfg

HOPTRACE_COMMON = {"collector": {"cluster": "otlp_collector"}, "batch": {"schedule_delay_ms": 1000}}


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
            configuration = json.dumps(self.plugin_config) if self.plugin_config else ""
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

BY_NAME = {v.name: v for v in VARIANTS}
