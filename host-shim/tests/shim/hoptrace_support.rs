//! Shared by the behaviour tests of the real hoptrace.wasm: loading it next to a collector
//! cluster, sending traffic, reading its metrics as one accounting snapshot, and decoding the
//! spans of an export callout with the official OTLP schema.

#![allow(dead_code)] // Each test module uses part of this.

use std::time::Duration;

use hoptrace_shim::otlp;
use hoptrace_shim::{Callout, Host, HostOptions};
use opentelemetry_proto::tonic::trace::v1::Span;

use crate::common;

/// The collector cluster the filter exports to by default.
pub const COLLECTOR: &str = "otlp_collector";

/// The filter's tick period (filter/plugin/src/root.rs): batches leave on ticks.
pub const TICK: Duration = Duration::from_millis(100);

/// A valid incoming context whose parent id the spans must point at.
pub const PARENT_TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
/// The caller's span id in [`incoming`].
pub const PARENT_SPAN_ID: &str = "00f067aa0ba902b7";

/// A sampled incoming `traceparent`.
pub fn incoming() -> String {
    format!("00-{PARENT_TRACE_ID}-{PARENT_SPAN_ID}-01")
}

/// What Envoy knows at stream end about a request it routed upstream: with all of them present
/// the filter's bare CEL list answers, so each sampled request costs one evaluation.
pub const ROUTED: [(&str, &str); 5] = [
    ("request.protocol", "HTTP/1.1"),
    ("source.address", "10.1.2.3:51234"),
    ("xds.cluster_name", "outbound|80||items"),
    ("upstream.address", "10.9.9.9:8080"),
    ("xds.route_name", "items"),
];

/// hoptrace.wasm with `config`, the collector cluster known, on an inbound listener (one SERVER
/// span per sampled request, so span counts equal request counts), every request routed
/// ([`ROUTED`] set host-wide), on a host with Envoy's CEL foreign functions.
pub fn load(config: &str) -> Host {
    load_with(config, HostOptions::default())
}

/// [`load`] on a host without foreign functions: stream-end facts are read one property each.
pub fn load_without_cel(config: &str) -> Host {
    let options = HostOptions {
        foreign_functions: false,
        ..HostOptions::default()
    };
    load_with(config, options)
}

fn load_with(config: &str, options: HostOptions) -> Host {
    let options = HostOptions {
        clusters: vec![COLLECTOR.into()],
        ..options
    };
    let mut host = Host::load_with(common::hoptrace(), config, options)
        .unwrap_or_else(|e| panic!("hoptrace.wasm with {config}: {e}"));
    host.set_property_i64("xds.listener_direction", 1);
    for (path, value) in ROUTED {
        host.set_property_str(path, value);
    }
    host
}

/// One request with `extra` header lines, answered 200 and ended after `took`; returns the
/// `traceparent` the upstream received.
pub fn request_with(host: &mut Host, extra: &[(&str, &str)], took: Duration) -> String {
    let mut req = host.request(common::get("/checkout", extra)).unwrap();
    let sent = req
        .upstream_headers()
        .get_str("traceparent")
        .expect("a traceparent upstream")
        .to_owned();
    req.respond(200, [("content-length", "0")]).unwrap();
    req.end_after(took).unwrap();
    sent
}

/// `n` requests without incoming context, each taking no virtual time.
pub fn traffic(host: &mut Host, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| request_with(host, &[], Duration::ZERO))
        .collect()
}

/// A metric's value, 0 before the filter first pushed it.
pub fn metric(host: &Host, name: &str) -> u64 {
    host.metric(name).unwrap_or(0)
}

/// The filter's counters and gauges as last pushed (on its latest tick).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Accounting {
    pub requests: u64,
    pub sampled: u64,
    pub kept_error: u64,
    pub kept_slow: u64,
    pub exported: u64,
    pub queue_full: u64,
    pub too_large: u64,
    pub export_failed: u64,
    pub rejected: u64,
    pub keep_limit: u64,
    pub shutdown: u64,
    pub exports_ok: u64,
    pub exports_failed: u64,
    pub exports_retried: u64,
    pub queue_spans: u64,
    pub queue_bytes: u64,
}

impl Accounting {
    /// Reads every metric.
    pub fn read(host: &Host) -> Self {
        let m = |name: &str| metric(host, name);
        Self {
            requests: m("hoptrace.requests"),
            sampled: m("hoptrace.spans.sampled"),
            kept_error: m("hoptrace.spans.kept.error"),
            kept_slow: m("hoptrace.spans.kept.slow"),
            exported: m("hoptrace.spans.exported"),
            queue_full: m("hoptrace.spans.dropped.queue_full"),
            too_large: m("hoptrace.spans.dropped.too_large"),
            export_failed: m("hoptrace.spans.dropped.export_failed"),
            rejected: m("hoptrace.spans.dropped.rejected"),
            keep_limit: m("hoptrace.spans.dropped.keep_limit"),
            shutdown: m("hoptrace.spans.dropped.shutdown"),
            exports_ok: m("hoptrace.exports.ok"),
            exports_failed: m("hoptrace.exports.failed"),
            exports_retried: m("hoptrace.exports.retried"),
            queue_spans: m("hoptrace.queue.spans"),
            queue_bytes: m("hoptrace.queue.bytes"),
        }
    }

    /// All dropped spans.
    pub fn dropped(&self) -> u64 {
        self.queue_full
            + self.too_large
            + self.export_failed
            + self.rejected
            + self.keep_limit
            + self.shutdown
    }

    /// Spans recorded: head-sampled and kept.
    pub fn recorded(&self) -> u64 {
        self.sampled + self.kept_error + self.kept_slow
    }

    /// Reads the metrics and checks that every recorded span is accounted for:
    /// recorded = exported + dropped (every reason) + still queued.
    pub fn check(host: &Host, step: &str) -> Self {
        let a = Self::read(host);
        assert_eq!(
            a.recorded(),
            a.exported + a.dropped() + a.queue_spans,
            "{step}: every span accounted for: {a:?}"
        );
        assert_eq!(
            a.queue_spans == 0,
            a.queue_bytes == 0,
            "{step}: queue gauges agree: {a:?}"
        );
        a
    }
}

/// Advances one tick (the filter pushes its metrics and sends due batches) and checks accounting.
pub fn tick(host: &mut Host, step: &str) -> Accounting {
    host.advance(TICK).unwrap();
    Accounting::check(host, step)
}

/// The spans in an export callout, decoded with the official schema.
pub fn spans(callout: &Callout) -> Vec<Span> {
    let request = otlp::decode_callout(callout)
        .unwrap_or_else(|e| panic!("callout {} is not OTLP: {e}", callout.id));
    otlp::spans(&request).into_iter().cloned().collect()
}

/// Lower-case hex of an id.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `(trace id, parent id, flags)` of a `traceparent` the filter sent.
pub fn parts(traceparent: &str) -> (String, String, u8) {
    let f: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(f.len(), 4, "{traceparent}");
    (
        f[1].to_owned(),
        f[2].to_owned(),
        u8::from_str_radix(f[3], 16).unwrap(),
    )
}

/// The one pending callout, or a failure listing what is pending.
pub fn one_callout(host: &Host, step: &str) -> Callout {
    let pending = host.callouts();
    assert_eq!(pending.len(), 1, "{step}: one export pending: {pending:?}");
    pending.into_iter().next().unwrap()
}
