#![allow(clippy::unwrap_used)] // a test that cannot parse its own fixture should fail loudly
//! The hop as a whole: extract → sample → inject, over header lines as Envoy hands them over.

use hoptrace_core::config::parse_config;
use hoptrace_core::hop::{ContextSource, Hop, Tracer};
use hoptrace_core::ids::IdGenerator;
use hoptrace_core::propagation::HeaderLines;

fn tracer(config: &str) -> Tracer {
    Tracer::new(
        parse_config(config.as_bytes()).unwrap(),
        IdGenerator::seeded(42),
    )
}

fn hop(t: &mut Tracer, headers: &[(&str, &str)]) -> Hop {
    let lines: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
    t.start(&HeaderLines::new(&lines), 0)
}

fn set<'a>(h: &'a Hop, name: &str) -> Option<&'a str> {
    h.edits.sets().find(|(k, _)| *k == name).map(|(_, v)| v)
}

const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[test]
fn no_context_starts_a_sampled_root_with_random_flag_and_th_zero() {
    let mut t = tracer("");
    let h = hop(&mut t, &[]);
    assert_eq!(h.context.source, ContextSource::Root);
    let tp = set(&h, "traceparent").unwrap();
    assert_eq!(tp.len(), 55);
    assert!(tp.starts_with("00-"));
    assert!(tp.ends_with("-03"), "sampled + random: {tp}");
    assert_eq!(set(&h, "tracestate"), Some("ot=th:0"));
}

#[test]
fn valid_context_keeps_trace_id_with_new_parent_and_untouched_tracestate() {
    let mut t = tracer("");
    let h = hop(
        &mut t,
        &[("traceparent", TP), ("tracestate", "congo=t61rcWkgMzE")],
    );
    let tp = set(&h, "traceparent").unwrap();
    assert!(tp.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
    assert!(!tp.contains("00f067aa0ba902b7"));
    assert!(tp.ends_with("-01"));
    assert_eq!(
        h.context.remote_parent.unwrap().to_hex(),
        "00f067aa0ba902b7"
    );
    // Unchanged single line: no write needed.
    assert_eq!(set(&h, "tracestate"), None);
    assert!(h.edits.remove.is_empty());
    assert_eq!(h.context.tracestate.as_deref(), Some("congo=t61rcWkgMzE"));
}

#[test]
fn every_upstream_request_gets_a_new_span_id() {
    let mut t = tracer("");
    let a = hop(&mut t, &[("traceparent", TP)]);
    let b = hop(&mut t, &[("traceparent", TP)]);
    assert_ne!(a.context.upstream_span, b.context.upstream_span);
}

#[rustfmt::skip]
#[test]
fn invalid_contexts_restart_the_trace_and_drop_tracestate() {
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("two traceparent lines", &[("traceparent", TP), ("traceparent", TP), ("tracestate", "a=b")]),
        ("version ff", &[("traceparent", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), ("tracestate", "a=b")]),
        ("zero trace id", &[("traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"), ("tracestate", "a=b")]),
        ("upper-case hex", &[("traceparent", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"), ("tracestate", "a=b")]),
    ];
    for (name, headers) in cases {
        let mut t = tracer("");
        let h = hop(&mut t, headers);
        assert_eq!(h.context.source, ContextSource::Root, "{name}");
        let tp = set(&h, "traceparent").unwrap();
        assert!(!tp.contains("4bf92f3577b34da6a3ce929d0e0e4736"), "{name}");
        // The old tracestate belongs to another trace: replaced by ours (root decision writes th).
        assert_eq!(set(&h, "tracestate"), Some("ot=th:0"), "{name}");
    }
}

#[test]
fn ratio_root_decision_follows_the_trace_id_and_writes_th() {
    let cfg = r#"{"sampler":"traceidratio","sampler_arg":0.01}"#;
    // low 56 bits ff...: above T = 0xfd70a3d70a3d71 → sampled.
    let keep = "00-0000000000000000ffffffffffffffff-00f067aa0ba902b7-00";
    let h = hop(&mut tracer(cfg), &[("traceparent", keep)]);
    assert!(h.context.sampled());
    assert_eq!(set(&h, "tracestate"), Some("ot=th:fd70a3d70a3d71"));
    // Exactly T keeps, T-1 drops.
    let at_t = "00-00000000000000000ffd70a3d70a3d71-00f067aa0ba902b7-01";
    let below = "00-00000000000000000ffd70a3d70a3d70-00f067aa0ba902b7-01";
    assert!(hop(&mut tracer(cfg), &[("traceparent", at_t)])
        .context
        .sampled());
    let h = hop(
        &mut tracer(cfg),
        &[("traceparent", below), ("tracestate", "ot=th:0,x=y")],
    );
    assert!(!h.context.sampled());
    assert!(set(&h, "traceparent").unwrap().ends_with("-00"));
    assert_eq!(set(&h, "tracestate"), Some("x=y"));
}

#[test]
fn parent_based_child_follows_parent_and_keeps_consistent_th() {
    let h = hop(
        &mut tracer(r#"{"sampler_arg":0.01}"#),
        &[("traceparent", TP), ("tracestate", "vendor=1,ot=th:8")],
    );
    // R = 0xce929d0e0e4736 >= 0x80000000000000: consistent, propagated unchanged and in place.
    assert!(h.context.sampled());
    assert_eq!(h.context.tracestate.as_deref(), Some("vendor=1,ot=th:8"));
    assert_eq!(set(&h, "tracestate"), None);
    let h = hop(
        &mut tracer(""),
        &[
            ("traceparent", TP),
            ("tracestate", "vendor=1,ot=th:f;rv:00000000000001"),
        ],
    );
    // rv = 1 < th: inconsistent, th erased, rv kept, ot moved first.
    assert!(h.context.sampled());
    assert_eq!(set(&h, "tracestate"), Some("ot=rv:00000000000001,vendor=1"));
}

#[test]
fn untrusted_edge_ignores_the_incoming_decision_and_links_it() {
    let mut t = tracer(r#"{"trust_incoming":false,"sampler":"parentbased_always_off"}"#);
    let h = hop(&mut t, &[("traceparent", TP), ("tracestate", "ot=th:0")]);
    assert_eq!(h.context.source, ContextSource::Untrusted);
    assert!(!h.context.sampled(), "a client cannot force sampling");
    assert_ne!(
        h.context.trace_id.to_hex(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    let linked = h.context.linked.unwrap();
    assert_eq!(linked.trace_id.to_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert!(h.edits.remove.iter().any(|r| r == "tracestate"));
}

#[test]
fn b3_is_extracted_when_configured_and_injected_on_request() {
    let cfg = r#"{"propagation":{"extract":["tracecontext","b3","b3multi"],"inject":["tracecontext","b3"]}}"#;
    let mut t = tracer(cfg);
    let h = hop(
        &mut t,
        &[
            ("x-b3-traceid", "463ac35c9f6413ad"),
            ("x-b3-spanid", "a2fb4a1d1a96d312"),
            ("x-b3-sampled", "1"),
        ],
    );
    assert_eq!(h.context.source, ContextSource::B3);
    assert_eq!(
        h.context.trace_id.to_hex(),
        "0000000000000000463ac35c9f6413ad"
    );
    assert!(h.context.sampled());
    let b3 = set(&h, "b3").unwrap();
    assert!(b3.starts_with("0000000000000000463ac35c9f6413ad-"));
    assert!(b3.ends_with("-1"));
    // Not configured: B3 ignored.
    let h = hop(
        &mut tracer(""),
        &[("b3", "463ac35c9f6413ad-a2fb4a1d1a96d312-1")],
    );
    assert_eq!(h.context.source, ContextSource::Root);
}
