//! Propagation in a real Envoy: hoptrace.wasm on a gateway listener rewrites the trace
//! context for the upstream exactly as the W3C rules say (what the echo upstream received is the
//! evidence), the ratio sampler decides as the ProbabilitySampler rule does on boundary trace ids, and a
//! bad plugin config is refused with the field named, both by `envoy --mode validate` and at start.

// Test helpers fail the test by panicking, like the #[test] fns clippy.toml already allows: a panic
// (not an Err return) is what makes a dropped Envoy print its log.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use hoptrace_e2e::envoy::validate_config;
use hoptrace_e2e::http1::header_all;
use hoptrace_e2e::server::ServedRequest;
use hoptrace_e2e::traceparent::{self, ot_subkey, randomness, th_value, threshold, TraceParent};
use hoptrace_e2e::{Envoy, EnvoyConfig, Listener, Request, Upstream};

const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const PARENT_ID: &str = "b7ad6b7169203331";
const VENDOR_STATE: &str = "congo=t61rcWkgMzE";
/// `th` for ratio 0.01 (the ProbabilitySampler threshold table).
const TH_1_PERCENT: &str = "fd70a3d70a3d71";

/// What the upstream must see for one incoming header set.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Same trace id, a new parent id, these flags, the vendor tracestate kept as it was.
    Keep { flags: u8 },
    /// A fresh trace: new trace id with the random bit, sampled (ratio 1.0), old tracestate gone.
    Restart,
}

struct Case {
    name: &'static str,
    traceparent_lines: &'static [&'static str],
    expect: Expect,
}

#[rustfmt::skip]
const CASES: &[Case] = &[
    Case { name: "missing traceparent",
           traceparent_lines: &[],
           expect: Expect::Restart },
    Case { name: "valid, sampled",
           traceparent_lines: &["00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"],
           expect: Expect::Keep { flags: 0x01 } },
    Case { name: "valid, not sampled: parent-based follows the parent",
           traceparent_lines: &["00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"],
           expect: Expect::Keep { flags: 0x00 } },
    Case { name: "valid, random bit of an inherited trace kept",
           traceparent_lines: &["00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03"],
           expect: Expect::Keep { flags: 0x03 } },
    Case { name: "higher version with a further field",
           traceparent_lines: &["cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-future"],
           expect: Expect::Keep { flags: 0x01 } },
    Case { name: "version 00 longer than 55 chars",
           traceparent_lines: &["00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra"],
           expect: Expect::Restart },
    Case { name: "version ff",
           traceparent_lines: &["ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"],
           expect: Expect::Restart },
    Case { name: "upper-case hex",
           traceparent_lines: &["00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01"],
           expect: Expect::Restart },
    Case { name: "all-zero trace id",
           traceparent_lines: &["00-00000000000000000000000000000000-b7ad6b7169203331-01"],
           expect: Expect::Restart },
    Case { name: "all-zero parent id",
           traceparent_lines: &["00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01"],
           expect: Expect::Restart },
    Case { name: "truncated",
           traceparent_lines: &["00-0af7651916cd43dd8448eb211c80319c-b7ad6b71"],
           expect: Expect::Restart },
    Case { name: "two lines, both valid",
           traceparent_lines: &["00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                                "00-11111111111111111111111111111111-2222222222222222-01"],
           expect: Expect::Restart },
    Case { name: "two identical lines",
           traceparent_lines: &["00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"],
           expect: Expect::Restart },
];

fn start_gateway(plugin: &str) -> (Upstream, Envoy) {
    let upstream = Upstream::start("echo").unwrap();
    let config =
        EnvoyConfig::new().listener(Listener::gateway("gw", upstream.port()).plugin(plugin));
    let envoy = Envoy::start(&config).unwrap_or_else(|e| panic!("{e}"));
    (upstream, envoy)
}

/// Sends one request with these header lines; returns what the upstream received.
fn through(envoy: &Envoy, upstream: &Upstream, lines: &[(&str, &str)]) -> ServedRequest {
    upstream.clear();
    let mut request = Request::get("/propagation");
    for (name, value) in lines {
        request = request.header(name, value);
    }
    let response = request.send(envoy.port("gw")).unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    upstream.last().unwrap()
}

/// The single, valid `traceparent` a hop must send; at most one non-empty `tracestate`.
fn sent_context(seen: &ServedRequest) -> (TraceParent, Option<String>) {
    let lines = header_all(&seen.head.headers, "traceparent");
    assert_eq!(
        lines.len(),
        1,
        "exactly one traceparent upstream: {lines:?}"
    );
    let parsed = traceparent::parse(lines[0]).unwrap();
    let states = header_all(&seen.head.headers, "tracestate");
    assert!(states.len() <= 1, "at most one tracestate line: {states:?}");
    let state = states.first().map(|s| s.to_string());
    assert_ne!(state.as_deref(), Some(""), "never an empty tracestate");
    (parsed, state)
}

#[test]
fn upstream_gets_one_valid_traceparent_per_w3c_rules() {
    let (upstream, envoy) = start_gateway("{}");
    for case in CASES {
        let mut lines: Vec<(&str, &str)> = case
            .traceparent_lines
            .iter()
            .map(|l| ("traceparent", *l))
            .collect();
        lines.push(("tracestate", VENDOR_STATE));
        let seen = through(&envoy, &upstream, &lines);
        let (sent, state) = sent_context(&seen);
        match case.expect {
            Expect::Keep { flags } => {
                assert_eq!(sent.trace_id, TRACE_ID, "{}: trace id kept", case.name);
                assert_ne!(sent.parent_id, PARENT_ID, "{}: new parent id", case.name);
                assert_eq!(sent.flags, flags, "{}: flags", case.name);
                assert_eq!(
                    state.as_deref(),
                    Some(VENDOR_STATE),
                    "{}: tracestate kept",
                    case.name
                );
            }
            Expect::Restart => {
                assert_ne!(sent.trace_id, TRACE_ID, "{}: new trace id", case.name);
                assert_ne!(
                    sent.trace_id, "11111111111111111111111111111111",
                    "{}",
                    case.name
                );
                assert!(
                    sent.sampled(),
                    "{}: ratio 1.0 samples a new trace",
                    case.name
                );
                assert!(
                    sent.random(),
                    "{}: random bit on a generated trace id",
                    case.name
                );
                assert!(
                    !state.as_deref().unwrap_or("").contains("congo"),
                    "{}: tracestate of an invalid context dropped: {state:?}",
                    case.name
                );
                assert_eq!(
                    state.as_deref(),
                    Some("ot=th:0"),
                    "{}: root decision at ratio 1",
                    case.name
                );
            }
        }
    }
}

#[test]
fn each_request_gets_its_own_span_id_and_trimmed_values_are_accepted() {
    let (upstream, envoy) = start_gateway("{}");
    let incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let first = sent_context(&through(&envoy, &upstream, &[("traceparent", incoming)])).0;
    let second = sent_context(&through(&envoy, &upstream, &[("traceparent", incoming)])).0;
    assert_eq!(first.trace_id, second.trace_id);
    assert_ne!(
        first.parent_id, second.parent_id,
        "a new span id per upstream request"
    );

    // Optional whitespace around the value: Envoy trims it before the filter sees it.
    let wire = format!(
        "GET /ws HTTP/1.1\r\nhost: x\r\ntraceparent: \t {incoming} \t\r\nconnection: close\r\n\r\n"
    );
    upstream.clear();
    let response = hoptrace_e2e::client::send_raw(
        envoy.port("gw"),
        wire.as_bytes(),
        "GET",
        Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!(response.status, 200);
    let (sent, _) = sent_context(&upstream.last().unwrap());
    assert_eq!(sent.trace_id, TRACE_ID);

    // Fresh trace ids differ from request to request.
    let a = sent_context(&through(&envoy, &upstream, &[])).0;
    let b = sent_context(&through(&envoy, &upstream, &[])).0;
    assert_ne!(a.trace_id, b.trace_id);
}

/// A trace id whose low 56 bits (the randomness R) are `low56`.
fn trace_id_with_randomness(low56: &str) -> String {
    format!("0af7651916cd43dd84{low56}")
}

#[test]
fn traceidratio_decides_by_the_probability_sampler_rule() {
    assert_eq!(th_value(threshold(0.01)), TH_1_PERCENT);
    let (upstream, envoy) = start_gateway(r#"{"sampler":"traceidratio","sampler_arg":0.01}"#);
    #[rustfmt::skip]
    let rows: &[(&str, &str, &str, bool)] = &[
        // (case, low 56 bits of the trace id, incoming flags, sampled?)
        ("R well above T",                    "fe000000000000", "00", true),
        ("R = T samples",                     "fd70a3d70a3d71", "00", true),
        ("R = T - 1 drops",                   "fd70a3d70a3d70", "01", false),
        ("R low: a sampled parent cannot force it", "00000000000001", "01", false),
    ];
    for (case, low, flags, sampled) in rows {
        let trace_id = trace_id_with_randomness(low);
        let incoming = format!("00-{trace_id}-{PARENT_ID}-{flags}");
        let seen = through(&envoy, &upstream, &[("traceparent", &incoming)]);
        let (sent, state) = sent_context(&seen);
        assert_eq!(sent.trace_id, trace_id, "{case}: trace id kept");
        assert_eq!(sent.sampled(), *sampled, "{case}: sampled bit");
        let th = state.as_deref().and_then(|s| ot_subkey(s, "th"));
        if *sampled {
            assert_eq!(
                th.as_deref(),
                Some(TH_1_PERCENT),
                "{case}: th written: {state:?}"
            );
            assert_eq!(
                state.as_deref().and_then(|s| s.split(',').next()),
                Some("ot=th:fd70a3d70a3d71"),
                "{case}: our member first, exactly"
            );
        } else {
            assert_eq!(th, None, "{case}: no th on a negative decision: {state:?}");
        }
    }

    // R from a valid `rv` sub-key wins over the trace id's low bits.
    let trace_id = trace_id_with_randomness("00000000000001");
    let incoming = format!("00-{trace_id}-{PARENT_ID}-00");
    let seen = through(
        &envoy,
        &upstream,
        &[
            ("traceparent", &incoming),
            ("tracestate", "ot=rv:fe000000000000"),
        ],
    );
    let (sent, state) = sent_context(&seen);
    assert!(sent.sampled(), "rv above T samples: {state:?}");
    let state = state.unwrap();
    assert_eq!(
        ot_subkey(&state, "th").as_deref(),
        Some(TH_1_PERCENT),
        "{state}"
    );
    assert_eq!(
        ot_subkey(&state, "rv").as_deref(),
        Some("fe000000000000"),
        "rv kept: {state}"
    );

    // New traces: the decision and th follow the generated trace id's randomness, every time.
    let t = threshold(0.01);
    for _ in 0..20 {
        let (sent, state) = sent_context(&through(&envoy, &upstream, &[]));
        let expected = randomness(&sent.trace_id).unwrap() >= t;
        assert_eq!(sent.sampled(), expected, "{}", sent.trace_id);
        let th = state.as_deref().and_then(|s| ot_subkey(s, "th"));
        assert_eq!(th.is_some(), expected, "{} {state:?}", sent.trace_id);
    }
}

fn bad_ratio_config(upstream_port: u16) -> EnvoyConfig {
    EnvoyConfig::new().listener(
        Listener::gateway("gw", upstream_port)
            .plugin(r#"{"sampler_arg":1.5,"sampler":"traceidratio"}"#),
    )
}

#[test]
fn validate_mode_runs_the_plugin_config_check() {
    // Envoy 1.40's `--mode validate` instantiates the wasm VM and calls on_configure, so a bad plugin
    // config fails validation with the plugin's own log line.
    let good = EnvoyConfig::new().listener(
        Listener::gateway("gw", 9).plugin(r#"{"sampler":"traceidratio","sampler_arg":0.01}"#),
    );
    let (status, log) = validate_config(&good).unwrap();
    assert!(status.success(), "good config must validate:\n{log}");
    assert!(log.contains("OK"), "{log}");

    let (status, log) = validate_config(&bad_ratio_config(9)).unwrap();
    assert!(!status.success(), "bad config must fail validation:\n{log}");
    assert!(log.contains("sampler_arg"), "the field is named:\n{log}");

    let unknown =
        EnvoyConfig::new().listener(Listener::gateway("gw", 9).plugin(r#"{"samplr":"always_on"}"#));
    let (status, log) = validate_config(&unknown).unwrap();
    assert!(!status.success(), "unknown field must fail:\n{log}");
    assert!(log.contains("samplr"), "the unknown field is named:\n{log}");
}

#[test]
fn a_bad_plugin_config_stops_envoy_at_start_with_the_field_named() {
    // What Envoy does when on_configure returns false on a static listener: the plugin is fail-closed
    // by default, so Envoy logs "Unable to create Wasm plugin" and exits with status 1.
    let upstream = Upstream::start("echo").unwrap();
    let failure = match Envoy::start(&bad_ratio_config(upstream.port())) {
        Ok(envoy) => panic!("Envoy started with a bad plugin config:\n{}", envoy.log()),
        Err(failure) => failure,
    };
    assert!(failure.status.is_some_and(|s| !s.success()), "{failure}");
    assert!(failure.log.contains("sampler_arg"), "{failure}");
    assert!(
        failure.log.contains("Unable to create Wasm plugin"),
        "{failure}"
    );
}

/// Header lines of a table row.
type HeaderLines = &'static [(&'static str, &'static str)];

#[test]
fn b3_and_jaeger_contexts_are_extracted_and_injected_on_request() {
    let (upstream, envoy) = start_gateway(
        r#"{"propagation":{"extract":["tracecontext","b3","jaeger"],"inject":["tracecontext","b3multi"]}}"#,
    );
    #[rustfmt::skip]
    let rows: &[(&str, HeaderLines, &str)] = &[
        // (case, incoming lines, trace id the upstream must see)
        ("b3 single, 64-bit trace id left-padded",
         &[("b3", "80f198ee56343ba8-e457b5a2e4d86bd1-1")],
         "000000000000000080f198ee56343ba8"),
        ("b3 multi, 128-bit trace id",
         &[("x-b3-traceid", "463ac35c9f6413ad48485a3953bb6124"),
           ("x-b3-spanid", "a2fb4a1d1a96d312"), ("x-b3-sampled", "1")],
         "463ac35c9f6413ad48485a3953bb6124"),
        ("jaeger uber-trace-id",
         &[("uber-trace-id", "463ac35c9f6413ad48485a3953bb6125:a2fb4a1d1a96d312:0:1")],
         "463ac35c9f6413ad48485a3953bb6125"),
    ];
    for (case, lines, trace_id) in rows {
        let seen = through(&envoy, &upstream, lines);
        let (sent, _) = sent_context(&seen);
        assert_eq!(sent.trace_id, *trace_id, "{case}");
        assert!(
            sent.sampled(),
            "{case}: the incoming sampled decision is followed"
        );
        assert_ne!(
            sent.parent_id, "a2fb4a1d1a96d312",
            "{case}: a new span id upstream"
        );
        // b3multi injection carries the same context as traceparent.
        assert_eq!(seen.header("x-b3-traceid"), Some(*trace_id), "{case}");
        assert_eq!(
            seen.header("x-b3-spanid"),
            Some(sent.parent_id.as_str()),
            "{case}"
        );
        assert_eq!(seen.header("x-b3-sampled"), Some("1"), "{case}");
        assert_eq!(
            header_all(&seen.head.headers, "x-b3-traceid").len(),
            1,
            "{case}"
        );
    }
}

#[test]
fn baggage_passes_through_untouched() {
    let (upstream, envoy) = start_gateway("{}");
    let baggage = "userId=alice,serverNode=DF%2028,isProduction=false;ttl=30";
    let seen = through(&envoy, &upstream, &[("baggage", baggage)]);
    assert_eq!(header_all(&seen.head.headers, "baggage"), [baggage]);
}

#[test]
fn an_untrusting_edge_ignores_the_clients_context_for_the_decision() {
    // parentbased_always_off would follow a sampled parent; with trust_incoming false the client's
    // sampled flag must not force sampling, and the trace id is the edge's own.
    let (upstream, envoy) =
        start_gateway(r#"{"trust_incoming":false,"sampler":"parentbased_always_off"}"#);
    let incoming = format!("00-{TRACE_ID}-{PARENT_ID}-01");
    let (sent, _) = sent_context(&through(&envoy, &upstream, &[("traceparent", &incoming)]));
    assert_ne!(
        sent.trace_id, TRACE_ID,
        "a new trace id at an untrusting edge"
    );
    assert!(!sent.sampled(), "a client cannot force sampling");
    drop((upstream, envoy));

    // The same sampler trusting its caller follows the sampled parent: the control case.
    let (upstream, envoy) =
        start_gateway(r#"{"trust_incoming":true,"sampler":"parentbased_always_off"}"#);
    let (sent, _) = sent_context(&through(&envoy, &upstream, &[("traceparent", &incoming)]));
    assert_eq!(sent.trace_id, TRACE_ID);
    assert!(sent.sampled());
}
