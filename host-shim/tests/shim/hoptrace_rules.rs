//! Sampling rules and configuration changes through hoptrace.wasm: the rule that matches a
//! request decides it and names itself on its spans and in its counters; a new plugin
//! configuration gets a new root, and the old root, told it is done, exports or counts every span
//! it holds before it calls `proxy_done`, with the metrics summed over both roots adding up.

use std::time::Duration;

use hoptrace_shim::{CalloutResponse, Host};

use crate::common;
use crate::hoptrace_support::{load, metric, spans, tick, Accounting, COLLECTOR};

const RULES: &str = r#"{"sampler":"always_off","keep":{"errors":false},
    "batch":{"schedule_delay_ms":100},
    "sampling":{"rules":[
        {"name":"health","match":{"path":"/healthz"},"sampler":"always_off"},
        {"name":"checkout","match":{"path_prefix":"/checkout","method":"GET"},"sampler":"always_on"},
        {"match":{"header":{"name":"x-debug","value":"1"}},"sampler":"always_on"}]}}"#;

fn send(host: &mut Host, path: &str, extra: &[(&str, &str)]) {
    let mut req = host.request(common::get(path, extra)).unwrap();
    req.respond(200, [("content-length", "0")]).unwrap();
    req.end().unwrap();
}

fn rule_of(span: &opentelemetry_proto::tonic::trace::v1::Span) -> Option<String> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    span.attributes
        .iter()
        .find(|a| a.key == "hoptrace.sampling.rule")
        .and_then(|a| match a.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.clone()),
            _ => None,
        })
}

#[test]
fn the_matching_rule_decides_and_is_named_on_spans_and_counters() {
    let mut host = load(RULES);
    for _ in 0..3 {
        send(&mut host, "/healthz", &[("x-debug", "1")]);
        send(&mut host, "/checkout/cart?id=1", &[]);
        send(&mut host, "/search", &[("x-debug", "1")]);
        send(&mut host, "/search", &[]);
    }
    let a = tick(&mut host, "rules");
    assert_eq!(a.requests, 12);
    assert_eq!(a.sampled, 6, "checkout and debugged search, one span each");
    let mut rules: Vec<String> = host
        .callouts()
        .iter()
        .flat_map(spans)
        .map(|s| rule_of(&s).unwrap_or_default())
        .collect();
    rules.sort();
    let mut want = vec!["2"; 3];
    want.extend(["checkout"; 3]);
    assert_eq!(rules, want);
    for (name, want) in [
        ("hoptrace.requests.matched.health", 3),
        ("hoptrace.requests.sampled.health", 0),
        ("hoptrace.requests.matched.checkout", 3),
        ("hoptrace.requests.sampled.checkout", 3),
    ] {
        assert_eq!(metric(&host, name), want, "{name}");
    }
    assert!(
        host.metrics().iter().all(|(n, _, _)| !n.ends_with(".2")),
        "unnamed rules have no counters"
    );
}

/// Sampled, batches of four, one export at a time, a delay no test waits for.
const BEFORE: &str = r#"{"sampler":"always_on","collector":{"timeout_ms":2000},
    "batch":{"max_export_batch_size":4,"schedule_delay_ms":60000}}"#;
const AFTER: &str = r#"{"sampler":"always_on","collector":{"timeout_ms":2000},
    "batch":{"max_export_batch_size":4,"schedule_delay_ms":60000},
    "sampling":{"rules":[{"name":"health","match":{"path":"/healthz"},"sampler":"always_off"}]}}"#;

#[test]
fn a_replaced_root_exports_what_it_holds_then_calls_done_and_nothing_is_lost() {
    let mut host = load(BEFORE);
    host.add_cluster(COLLECTOR);
    let old = host.root_context();
    for _ in 0..9 {
        send(&mut host, "/checkout", &[]);
    }
    tick(&mut host, "a full batch leaves");
    let in_flight = host.callouts();
    assert_eq!(in_flight.len(), 1);
    assert_eq!(spans(&in_flight[0]).len(), 4);

    // The new configuration: a new root; the old one holds 5 queued spans and a callout.
    assert!(host.reconfigure(AFTER).unwrap());
    let new = host.root_context();
    assert_ne!(new, old);
    assert_eq!(
        host.roots_awaiting_done(),
        [old],
        "it asked to be waited for"
    );
    send(&mut host, "/checkout", &[]);
    send(&mut host, "/healthz", &[]);

    // The old root keeps its callout's answer and sends the rest at once, one at a time.
    let mut sent = 0;
    while let Some(callout) = host.callouts().into_iter().find(|c| c.context_id == old) {
        sent += spans(&callout).len();
        host.answer(callout.id, CalloutResponse::new(200)).unwrap();
    }
    assert_eq!(sent, 9, "every span the old root held went out");
    assert!(
        host.roots_awaiting_done().is_empty(),
        "it called proxy_done"
    );
    assert_eq!(host.roots(), [new], "and was deleted");

    let a = tick(&mut host, "after the change");
    assert_eq!(a.requests, 11);
    assert_eq!(a.recorded(), 10);
    assert_eq!(a.exported, 9);
    assert_eq!(a.shutdown, 0);
    assert_eq!(a.queue_spans, 1, "the gauge is what the new root holds");
    assert_eq!(metric(&host, "hoptrace.requests.matched.health"), 1);
}

#[test]
fn what_a_replaced_root_cannot_send_in_time_is_counted_and_the_gauges_return() {
    let mut host = load(BEFORE);
    host.add_cluster(COLLECTOR);
    let old = host.root_context();
    for _ in 0..6 {
        send(&mut host, "/checkout", &[]);
    }
    tick(&mut host, "a full batch leaves");
    assert!(host.reconfigure(AFTER).unwrap());
    assert_eq!(host.roots_awaiting_done(), [old]);
    // The collector never answers: the callout times out (a local 504, retryable) after 2 s,
    // and a retry cannot be waited for past the drain deadline.
    host.advance(Duration::from_secs(5)).unwrap();
    assert_eq!(host.roots(), [host.root_context()], "the old root is gone");
    let a = Accounting::check(&host, "after the deadline");
    assert_eq!(a.recorded(), 6);
    assert_eq!(a.exported, 0);
    assert_eq!(a.shutdown, 6, "every held span counted as shutdown");
    assert_eq!((a.queue_spans, a.queue_bytes), (0, 0), "no drift");
}

#[test]
fn a_root_holding_nothing_is_deleted_at_once() {
    let mut host = load(BEFORE);
    let old = host.root_context();
    assert!(host.reconfigure(AFTER).unwrap());
    assert!(host.roots_awaiting_done().is_empty());
    assert!(!host.roots().contains(&old));
    assert!(
        !host.reconfigure(r#"{"sampler":"sometimes"}"#).unwrap(),
        "a refused configuration keeps the one in force"
    );
    assert_eq!(host.roots().len(), 1);
}
