//! A JavaScript hop between two Envoys: gateway (hoptrace.wasm) -> the example Node proxy (the
//! hoptrace npm package) -> sidecar (hoptrace.wasm) -> a service, all exporting to one receiver.
//! One request gives one trace whose five spans are parented across the three owners; and with
//! every hop sampling on its own at ratio 0.25 (`traceidratio`, no parent-based shortcut), each
//! trace is recorded by every hop or by none, because the package and the filter decide alike.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use hoptrace_e2e::node_proxy::NodeProxy;
use hoptrace_e2e::otlp::{ReceivedSpan, KIND_CLIENT, KIND_SERVER};
use hoptrace_e2e::traceparent;
use hoptrace_e2e::{Envoy, EnvoyConfig, Listener, Receiver, Request, Upstream};

/// Requests sent for the sampling check: a few hundred, bounded.
const REQUESTS: usize = 300;

struct Chain {
    receiver: Receiver,
    service: Upstream,
    // Kept for their lifetime: dropping one stops it.
    _sidecar: Envoy,
    node: NodeProxy,
    gateway: Envoy,
}

fn plugin(service: &str, sampler: &str) -> String {
    format!(r#"{{"service_name":"{service}",{sampler},"batch":{{"schedule_delay_ms":200}}}}"#)
}

/// Starts the chain from the back, each hop pointing at a port already bound.
fn chain(sampler: &str) -> Chain {
    let receiver = Receiver::start().unwrap();
    let service = Upstream::start("service").unwrap();
    let sidecar = Envoy::start(&EnvoyConfig::new().collector(receiver.port()).listener(
        Listener::inbound("inbound", service.port()).plugin(&plugin("sidecar", sampler)),
    ))
    .unwrap();
    let node_config = format!(
        r#"{{"service_name":"node-proxy",{sampler},"batch":{{"schedule_delay_ms":200}},
            "collector":{{"endpoint":"http://127.0.0.1:{}/v1/traces"}}}}"#,
        receiver.port()
    );
    let node = NodeProxy::start(
        &format!("http://127.0.0.1:{}", sidecar.port("inbound")),
        &node_config,
    )
    .unwrap();
    let gateway = Envoy::start(
        &EnvoyConfig::new()
            .collector(receiver.port())
            .listener(Listener::gateway("gw", node.port()).plugin(&plugin("gateway", sampler))),
    )
    .unwrap();
    Chain {
        receiver,
        service,
        _sidecar: sidecar,
        node,
        gateway,
    }
}

fn service_name(s: &ReceivedSpan) -> &str {
    s.resource_str("service.name").unwrap_or("?")
}

/// Spans grouped by trace, waiting until `want` spans arrived or the bounded wait ends.
fn traces(rx: &Receiver, want: usize) -> BTreeMap<String, Vec<ReceivedSpan>> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut spans = rx.spans();
    while spans.len() < want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        spans = rx.spans();
    }
    let mut by_trace: BTreeMap<String, Vec<ReceivedSpan>> = BTreeMap::new();
    for s in spans {
        by_trace.entry(s.trace_id()).or_default().push(s);
    }
    by_trace
}

fn one<'a>(spans: &'a [ReceivedSpan], service: &str, kind: i32) -> &'a ReceivedSpan {
    let found: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|s| service_name(s) == service && s.kind() == kind)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{service} kind {kind}: {:#?}",
        spans.iter().map(|s| s.summary()).collect::<Vec<_>>()
    );
    found[0]
}

/// The five spans of one trace, parented gateway -> node proxy -> sidecar, each inside its parent;
/// returns the sidecar SERVER span's id.
fn check_parenting(spans: &[ReceivedSpan]) -> String {
    assert_eq!(
        spans.len(),
        5,
        "{:#?}",
        spans.iter().map(|s| s.summary()).collect::<Vec<_>>()
    );
    let gw_server = one(spans, "gateway", KIND_SERVER);
    let gw_client = one(spans, "gateway", KIND_CLIENT);
    let node_server = one(spans, "node-proxy", KIND_SERVER);
    let node_client = one(spans, "node-proxy", KIND_CLIENT);
    let sidecar = one(spans, "sidecar", KIND_SERVER);
    assert!(
        gw_server.parent_id().is_empty(),
        "the gateway starts the trace"
    );
    for (parent, child) in [
        (gw_server, gw_client),
        (gw_client, node_server),
        (node_server, node_client),
        (node_client, sidecar),
    ] {
        assert_eq!(
            child.parent_id(),
            parent.span_id(),
            "{} under {}",
            child.summary(),
            parent.summary()
        );
        assert!(child.span.start_time_unix_nano >= parent.span.start_time_unix_nano);
    }
    // The package's spans carry the same HTTP attributes as the filter's.
    assert_eq!(node_server.attr_str("http.request.method"), Some("GET"));
    assert_eq!(node_server.attr_int("http.response.status_code"), Some(200));
    sidecar.span_id()
}

#[test]
fn one_trace_through_gateway_node_proxy_and_sidecar() {
    let mut c = chain(r#""sampler":"always_on""#);
    let response = Request::get("/hello")
        .timeout(Duration::from_secs(20))
        .send(c.gateway.port("gw"))
        .unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    let seen = c.service.last().unwrap();
    let tp = traceparent::parse(seen.header("traceparent").unwrap()).unwrap();
    c.node.stop(Duration::from_secs(5));
    let by_trace = traces(&c.receiver, 5);
    assert_eq!(by_trace.len(), 1, "{:?}", by_trace.keys());
    let spans = &by_trace[&tp.trace_id];
    let sidecar_span = check_parenting(spans);
    assert_eq!(
        tp.parent_id, sidecar_span,
        "the service's parent is the sidecar's span"
    );
}

#[test]
fn every_hop_samples_the_same_traces_at_ratio_one_quarter() {
    let mut c = chain(r#""sampler":"traceidratio","sampler_arg":0.25"#);
    let mut sent = BTreeMap::new();
    for i in 0..REQUESTS {
        let response = Request::get(&format!("/r/{i}"))
            .timeout(Duration::from_secs(20))
            .send(c.gateway.port("gw"))
            .unwrap();
        assert_eq!(response.status, 200, "request {i}: {}", response.text());
        let seen = c.service.last().unwrap();
        let tp = traceparent::parse(seen.header("traceparent").unwrap()).unwrap();
        sent.insert(tp.trace_id.clone(), tp.sampled());
    }
    assert_eq!(sent.len(), REQUESTS, "a new trace per request");
    c.node.stop(Duration::from_secs(5));

    // The decision the service saw is the spec's rule on the trace id: R >= 2^56 * 0.75.
    for (id, sampled) in &sent {
        let r = u64::from_str_radix(&id[18..], 16).unwrap();
        assert_eq!(*sampled, r >= 0xc0_0000_0000_0000, "{id}");
    }
    let kept: BTreeSet<&String> = sent.iter().filter(|(_, s)| **s).map(|(id, _)| id).collect();
    assert!(
        (40..=115).contains(&kept.len()),
        "{} of {REQUESTS} sampled at 0.25",
        kept.len()
    );

    let by_trace = traces(&c.receiver, kept.len() * 5);
    let recorded: BTreeSet<&String> = by_trace.keys().collect();
    assert_eq!(recorded, kept, "traces recorded = traces sampled");
    for (id, spans) in &by_trace {
        assert_eq!(spans.len(), 5, "trace {id} is incomplete");
        check_parenting(spans);
        for s in spans {
            assert_eq!(s.span.trace_state, "ot=th:c", "{}", s.summary());
        }
    }
}
