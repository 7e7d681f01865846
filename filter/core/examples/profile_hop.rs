//! A sampled request's core work in a loop, for a native profile of where it goes:
//!
//! ```text
//! CARGO_PROFILE_RELEASE_DEBUG=true CARGO_PROFILE_RELEASE_STRIP=false \
//!     cargo build --release -p hoptrace-core --example profile_hop --target-dir /tmp/prof
//! valgrind --tool=callgrind /tmp/prof/release/examples/profile_hop 20000
//! ```
//!
//! The requests look like the benchmark's (`wrk` through Envoy: no incoming context, always_on,
//! SERVER + CLIENT); exports are answered at once so the queue never fills.
#![allow(missing_docs, clippy::unwrap_used)]
use hoptrace_core::config::parse_config;
use hoptrace_core::pipeline::Pipeline;
use hoptrace_core::propagation::HeaderLines;
use hoptrace_core::span::{ListenerDirection, RequestFacts, ResponseFacts};
use std::hint::black_box;

const HEADERS: &[(&str, &str)] = &[
    (":authority", "127.0.0.1:10000"),
    (":path", "/"),
    (":method", "GET"),
    (":scheme", "http"),
    ("x-forwarded-proto", "http"),
    ("x-request-id", "0f8fad5b-d9cb-469f-a165-70867728950e"),
];

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(100_000);
    let mut p = Pipeline::new(
        parse_config(
            br#"{"service_name":"bench","sampler":"always_on","span_kind":"server_and_client"}"#,
        )
        .unwrap(),
        &[],
        [7; 32],
    );
    let lines: Vec<(&str, &[u8])> = HEADERS.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
    let mut exported = 0usize;
    for i in 0..n {
        let now = 1_700_000_000_000_000_000 + i * 100_000;
        let hop = p.start(&HeaderLines::new(black_box(&lines)), now);
        let wanted = &p.settings().attributes.request_headers;
        let mut request = RequestFacts::from_headers(&HeaderLines::new(&lines), wanted);
        request.protocol = "HTTP/1.1".into();
        request.client_address = "127.0.0.1:51234".into();
        request.start_unix_nano = now;
        let response = ResponseFacts {
            status_code: 200,
            upstream_cluster: "upstream".into(),
            upstream_address: "127.0.0.1:10001".into(),
            route_name: "".into(),
            upstream_start_unix_nano: Some(now + 10_000),
            first_upstream_byte_unix_nano: Some(now + 50_000),
            end_unix_nano: now + 60_000,
            ..ResponseFacts::default()
        };
        black_box(&hop.edits);
        black_box(p.finish(
            &hop.context,
            ListenerDirection::from_raw(0),
            &request,
            &response,
            now + 60_000,
        ));
        if i % 100 == 0 {
            for r in p.poll(now + 100_000) {
                exported += black_box(&r).body.len();
                p.on_response(
                    r.id,
                    hoptrace_core::export::ExportOutcome::Status {
                        code: 200,
                        retry_after: None,
                        body: Vec::new(),
                    },
                    now + 100_000,
                );
            }
        }
    }
    println!("{exported}");
}
