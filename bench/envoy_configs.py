"""Envoy bootstrap configs for the benchmark: the upstream and one proxy per variant.

Written as JSON (a subset of YAML, so Envoy reads it from a .yaml file) to need no YAML library.
Everything listens on 127.0.0.1 only.
"""

# The upstream answers /echo with the traceparent it received, so the propagation check can see
# what the proxy sent; every other path gets a fixed tiny body.
ECHO_PATH = "/echo"
ECHO_HEADER = "x-echo-traceparent"

ROUTER = {
    "name": "envoy.filters.http.router",
    "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
    },
}
HCM_TYPE = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
    "HttpConnectionManager"
)


def _addr(port):
    return {"socket_address": {"address": "127.0.0.1", "port_value": port}}


def _admin(port):
    return {"address": _addr(port)}


def _listener(name, port, hcm):
    return {
        "name": name,
        "address": _addr(port),
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": {"@type": HCM_TYPE, **hcm},
                    }
                ]
            }
        ],
    }


def _cluster(name, port):
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _addr(port)}}]}],
        },
    }


def upstream(port, admin_port):
    """A fast HTTP/1.1 responder: direct_response, no cluster, no filters but the router."""
    echo = {
        "match": {"prefix": ECHO_PATH},
        "direct_response": {"status": 200, "body": {"inline_string": "echo"}},
        "response_headers_to_add": [
            {"header": {"key": ECHO_HEADER, "value": "%REQ(traceparent)%"}}
        ],
    }
    ok = {
        "match": {"prefix": "/"},
        "direct_response": {"status": 200, "body": {"inline_string": "ok"}},
    }
    hcm = {
        "stat_prefix": "upstream",
        "route_config": {
            "name": "upstream",
            "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [echo, ok]}],
        },
        "http_filters": [ROUTER],
    }
    return {
        "admin": _admin(admin_port),
        "static_resources": {"listeners": [_listener("upstream", port, hcm)]},
    }


def native_tracing(sampling, spawn_upstream_span, collector_port):
    """HCM `tracing` for Envoy's own OpenTelemetry tracer exporting OTLP/HTTP to the sink.

    Flush settings stay at Envoy's defaults (the `tracing.opentelemetry.*` runtime keys), as a
    user would run it.
    """
    tracing = {
        "random_sampling": {"value": sampling},
        "provider": {
            "name": "envoy.tracers.opentelemetry",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig",
                "service_name": "bench-native",
                "http_service": {
                    "http_uri": {
                        "uri": f"http://127.0.0.1:{collector_port}/v1/traces",
                        "cluster": "otlp_collector",
                        "timeout": "1s",
                    }
                },
            },
        },
    }
    if spawn_upstream_span:
        tracing["spawn_upstream_span"] = True
    return tracing


def wasm_filter(name, root_id, path, configuration):
    """An `envoy.filters.http.wasm` filter on V8 with a StringValue configuration."""
    return {
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": name,
                "root_id": root_id,
                "vm_config": {
                    "vm_id": name,
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": {"local": {"filename": str(path)}},
                },
                "configuration": {
                    "@type": "type.googleapis.com/google.protobuf.StringValue",
                    "value": configuration,
                },
            },
        },
    }


def proxy(port, admin_port, upstream_port, collector_port, tracing=None, filters=()):
    """The proxy under test: a gateway listener (no traffic_direction) routing to the upstream."""
    hcm = {
        "stat_prefix": "bench",
        "route_config": {
            "name": "bench",
            "virtual_hosts": [
                {
                    "name": "all",
                    "domains": ["*"],
                    "routes": [
                        {
                            "name": "backend",
                            "match": {"prefix": "/"},
                            "route": {"cluster": "backend", "timeout": "15s"},
                        }
                    ],
                }
            ],
        },
        "http_filters": [*filters, ROUTER],
    }
    if tracing is not None:
        hcm["tracing"] = tracing
    return {
        "admin": _admin(admin_port),
        "static_resources": {
            "listeners": [_listener("gateway", port, hcm)],
            "clusters": [
                _cluster("backend", upstream_port),
                _cluster("otlp_collector", collector_port),
            ],
        },
    }
