//! hoptrace.wasm reading a sampled request's stream-end facts through Envoy's CEL foreign
//! functions (`expr_evaluate` of one list), and through property reads on a host without them:
//! the fast path, its fallback to the guarded list when an attribute is absent, and the same
//! spans either way.

use std::time::Duration;

use hoptrace_shim::{CalloutResponse, Host, HostCalls, HostOptions};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::Span;

use crate::common;
use crate::hoptrace_support::{incoming, one_callout, spans, tick, COLLECTOR, ROUTED};

/// A local reply (no healthy upstream): routed, but no upstream host, so no `upstream.address`.
fn local_reply() -> Vec<(&'static str, &'static str)> {
    ROUTED
        .into_iter()
        .filter(|(k, _)| *k != "upstream.address")
        .collect()
}

/// Requests after a failed bare list that go to the guarded list first (the plugin's
/// `ListFormChoice`).
const GUARDED_AFTER_FAILURE: usize = 32;

/// hoptrace.wasm on an inbound listener, exporting every `batch` spans, with or without Envoy's
/// foreign functions.
fn load(foreign_functions: bool, batch: usize) -> Host {
    let options = HostOptions {
        clusters: vec![COLLECTOR.into()],
        foreign_functions,
        ..HostOptions::default()
    };
    let config = format!(r#"{{"batch":{{"max_export_batch_size":{batch}}}}}"#);
    let mut host = Host::load_with(common::hoptrace(), &config, options).unwrap();
    host.set_property_i64("xds.listener_direction", 1);
    host
}

/// One request with a sampled parent, `attributes` set for it, answered `status` after 20 ms;
/// the host calls it made.
fn sampled(host: &mut Host, attributes: &[(&str, &str)], status: u16) -> HostCalls {
    host.reset_host_calls();
    let mut req = host
        .request(common::get("/items", &[("traceparent", &incoming())]))
        .unwrap();
    for (path, value) in attributes {
        req.set_property_str(path, value).unwrap();
    }
    req.respond(status, [("content-length", "0")]).unwrap();
    req.end_after(Duration::from_millis(20)).unwrap();
    host.host_calls().clone()
}

/// The spans of the next export, answered 200.
fn exported(host: &mut Host, step: &str) -> Vec<Span> {
    tick(host, step);
    let callout = one_callout(host, step);
    host.answer(callout.id, CalloutResponse::new(200)).unwrap();
    spans(&callout)
}

/// A span attribute as text (strings as they are, ints in decimal).
fn attr(span: &Span, key: &str) -> Option<String> {
    let kv = span.attributes.iter().find(|kv| kv.key == key)?;
    match kv.value.as_ref()?.value.as_ref()? {
        Value::StringValue(s) => Some(s.clone()),
        Value::IntValue(i) => Some(i.to_string()),
        other => Some(format!("{other:?}")),
    }
}

#[test]
fn a_sampled_requests_stream_end_facts_come_from_one_cel_evaluation() {
    let mut host = load(true, 1);
    assert_eq!(
        host.host_calls().of_foreign_function("expr_create"),
        2,
        "the guarded and the bare list, compiled once at configure"
    );
    let started = host.now();
    let calls = sampled(&mut host, &ROUTED, 200);
    assert_eq!(calls.of_foreign_function("expr_evaluate"), 1, "{calls:?}");
    assert_eq!(
        calls.of_function("proxy_get_property"),
        0,
        "no fact is read as a property: {calls:?}"
    );

    let got = exported(&mut host, "one span");
    let span = &got[0];
    assert_eq!(
        span.kind,
        SpanKind::Server as i32,
        "direction from the list"
    );
    let start = started.duration_since(std::time::UNIX_EPOCH).unwrap();
    assert_eq!(
        span.start_time_unix_nano,
        u64::try_from(start.as_nanos()).unwrap(),
        "request.time from the list"
    );
    #[rustfmt::skip]
    let want = [
        ("client.address",            "10.1.2.3"),
        ("client.port",               "51234"),
        ("network.protocol.version",  "1.1"),
        ("envoy.upstream.cluster",    "outbound|80||items"),
        ("envoy.upstream.address",    "10.9.9.9:8080"),
        ("envoy.route.name",          "items"),
        ("http.response.status_code", "200"),
    ];
    for (key, value) in want {
        assert_eq!(attr(span, key).as_deref(), Some(value), "{key}: {span:?}");
    }
}

#[test]
fn an_absent_attribute_fails_the_bare_list_and_the_next_requests_start_guarded() {
    let mut host = load(true, 1);
    let calls = sampled(&mut host, &local_reply(), 503);
    assert_eq!(
        calls.of_foreign_function("expr_evaluate"),
        2,
        "the bare list fails on upstream.address, the guarded list answers: {calls:?}"
    );
    assert_eq!(
        calls.of_function("proxy_get_property"),
        1,
        "only response.code_details, read for an error: {calls:?}"
    );
    let got = exported(&mut host, "local reply");
    let span = &got[0];
    assert_eq!(attr(span, "envoy.upstream.address"), None, "{span:?}");
    assert_eq!(
        attr(span, "envoy.upstream.cluster").as_deref(),
        Some("outbound|80||items")
    );
    assert_eq!(attr(span, "client.address").as_deref(), Some("10.1.2.3"));
    assert_eq!(
        attr(span, "http.response.status_code").as_deref(),
        Some("503")
    );

    // Local replies keep coming: the guarded list goes first, one evaluation each (a bare list
    // first would fail again and cost two) ...
    for i in 0..GUARDED_AFTER_FAILURE {
        let calls = sampled(&mut host, &local_reply(), 503);
        assert_eq!(
            calls.of_foreign_function("expr_evaluate"),
            1,
            "request {i} after the failure: {calls:?}"
        );
    }
    // ... until the bare list is tried again.
    let calls = sampled(&mut host, &local_reply(), 503);
    assert_eq!(calls.of_foreign_function("expr_evaluate"), 2, "{calls:?}");
}

#[test]
fn without_foreign_functions_the_facts_come_from_property_reads_and_the_spans_are_the_same() {
    let mut with = load(true, 2);
    let mut without = load(false, 2);
    assert_eq!(
        without.host_calls().of_foreign_function("expr_create"),
        1,
        "NOT_FOUND for the first list: the second is not tried"
    );
    assert!(
        without
            .logs()
            .any(|l| l.message.contains("no CEL expressions")),
        "the filter says it reads properties one at a time"
    );

    let cel = sampled(&mut with, &ROUTED, 200);
    let reads = sampled(&mut without, &ROUTED, 200);
    assert_eq!(cel.of_function("proxy_get_property"), 0, "{cel:?}");
    assert_eq!(reads.of_foreign_function("expr_evaluate"), 0, "{reads:?}");
    assert_eq!(
        reads.of_function("proxy_get_property"),
        9,
        "one read per fact, the listener direction included: {reads:?}"
    );
    sampled(&mut with, &local_reply(), 503);
    sampled(&mut without, &local_reply(), 503);

    let from_cel = exported(&mut with, "with CEL");
    let from_reads = exported(&mut without, "without CEL");
    assert_eq!(from_cel.len(), 2);
    assert_eq!(
        from_cel, from_reads,
        "same seed, same clock, same facts: the same spans"
    );
}
