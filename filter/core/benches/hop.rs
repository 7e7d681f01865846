//! Native cost of the work hoptrace does per request, without any host: the decision an unsampled
//! request pays for, and the span building + encoding a sampled one adds.
//!
//! `make bench` runs this and copies the summary into bench/criterion.txt.
#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{criterion_group, criterion_main, Criterion};
use hoptrace_core::config::parse_config;
use hoptrace_core::pipeline::Pipeline;
use hoptrace_core::propagation::HeaderLines;
use hoptrace_core::span::{ListenerDirection, RequestFacts, ResponseFacts};
use std::hint::black_box;

const HEADERS: &[(&str, &str)] = &[
    (":authority", "shop.example.com"),
    (":path", "/api/cart?id=42"),
    (":method", "GET"),
    (":scheme", "https"),
    ("user-agent", "curl/8.5.0"),
    ("accept", "*/*"),
    (
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    ),
    ("tracestate", "congo=t61rcWkgMzE,ot=th:0"),
    ("x-request-id", "0f8fad5b-d9cb-469f-a165-70867728950e"),
];

fn pipeline(config: &str) -> Pipeline {
    Pipeline::new(parse_config(config.as_bytes()).unwrap(), &[], [7; 32])
}

fn lines() -> Vec<(&'static str, &'static [u8])> {
    HEADERS.iter().map(|(k, v)| (*k, v.as_bytes())).collect()
}

fn decide(c: &mut Criterion) {
    let lines = lines();
    let mut unsampled = pipeline(r#"{"sampler":"traceidratio","sampler_arg":0.01}"#);
    c.bench_function("decide: ratio 1 %, incoming context (unsampled)", |b| {
        b.iter(|| black_box(unsampled.start(&HeaderLines::new(black_box(&lines)), 0)))
    });
    let mut root = pipeline("");
    let no_context: Vec<(&str, &[u8])> = lines
        .iter()
        .filter(|(k, _)| !k.starts_with("trace"))
        .copied()
        .collect();
    c.bench_function("decide: new root trace, sampled", |b| {
        b.iter(|| black_box(root.start(&HeaderLines::new(black_box(&no_context)), 0)))
    });
}

fn record(c: &mut Criterion) {
    let lines = lines();
    // A huge queue so the benchmark measures building + encoding, not dropping.
    let mut p = pipeline(
        r#"{"batch":{"max_queue_size":100000000,"max_export_batch_size":512,"max_queue_bytes":4000000000}}"#,
    );
    let hop = p.start(&HeaderLines::new(&lines), 0).context;
    let request = RequestFacts {
        method: "GET".into(),
        path: "/api/cart?id=42".into(),
        scheme: "https".into(),
        authority: "shop.example.com".into(),
        user_agent: "curl/8.5.0".into(),
        protocol: "HTTP/1.1".into(),
        client_address: "10.0.0.7:51234".into(),
        start_unix_nano: 1_700_000_000_000_000_000,
        ..RequestFacts::default()
    };
    let response = ResponseFacts {
        status_code: 200,
        upstream_cluster: "backend".into(),
        upstream_address: "10.0.1.9:8080".into(),
        route_name: "cart".into(),
        upstream_start_unix_nano: Some(1_700_000_000_000_100_000),
        first_upstream_byte_unix_nano: Some(1_700_000_000_002_000_000),
        end_unix_nano: 1_700_000_000_002_500_000,
        ..ResponseFacts::default()
    };
    let mut now = 0u64;
    c.bench_function(
        "record: SERVER + CLIENT spans built, encoded, queued",
        |b| {
            b.iter(|| {
                now += 1;
                black_box(p.finish(
                    &hop,
                    ListenerDirection::from_raw(0),
                    &request,
                    &response,
                    now,
                ));
                // Drain so the queue never fills: the batch framing is part of the per-span cost.
                black_box(p.poll(now + 10_000_000_000));
            })
        },
    );
}

criterion_group!(benches, decide, record);
criterion_main!(benches);
