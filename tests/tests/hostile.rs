//! Hostile input in a real Envoy: oversized `traceparent` / `tracestate` / `baggage` near
//! Envoy's 60 KiB header limit, a thousand `tracestate` lines, non-UTF-8 and control bytes, duplicate
//! and conflicting W3C / B3 / Jaeger headers, header maps at Envoy's 100-header limit.
//!
//! Each case is sent as raw bytes and lands in one of two places:
//! - served: 200 from the upstream, which sees exactly one valid version-00 `traceparent` — the
//!   incoming trace when it was valid (by the configured extract order), a new trace id when it was
//!   not — and at most one valid `tracestate` (32 members at most); `baggage` passes untouched;
//! - rejected by Envoy's own HTTP/1 codec (431 too large / too many headers, 400 bad bytes) before
//!   any filter runs: not our doing, and told apart by the upstream seeing nothing and the filter's
//!   `hoptrace.requests` counter not moving.
//!
//! After the barrage the VMs are the ones Envoy started (`wasm.envoy.wasm.runtime.v8.created` and
//! `.active` unchanged, `wasm.hoptrace.vm_reload*` zero, no VM failure in the log), a plain request
//! is still traced and exported, every span is accounted for, and the filter logged almost nothing.
//!
//! At an internet-facing edge (`trust_incoming: false`) a client must find no lever: its context
//! headers of every format are removed, a query built to grow when redacted or to leak a token
//! does neither, long headers are cut to the attribute limit, a flood of slow requests with large
//! headers is served and counted, and configurations that would export credentials, hammer a
//! collector or outgrow a VM are refused with the field named.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hoptrace_e2e::accounting::{self, Accounting};
use hoptrace_e2e::client::send_raw;
use hoptrace_e2e::envoy::validate_config;
use hoptrace_e2e::otlp::of_trace;
use hoptrace_e2e::server::ServedRequest;
use hoptrace_e2e::traceparent::{self, TraceParent};
use hoptrace_e2e::{Envoy, EnvoyConfig, Listener, Receiver, Upstream};

const TID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TID2: &str = "0af7651916cd43dd8448eb211c80319c";
const TP2: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const B3_TID: &str = "80f198ee56343ba864fe8b2a57d3eff7";
const B3: &str = "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1";
const B3_OTHER: &str = "463ac35c9f6413ad48485a3953bb6124-0020000000000001-1";
const UBER: &str = "9a1bf3d5f1e2c4b6a7d8e9f0a1b2c3d4:e457b5a2e4d86bd1:0:1";
const UBER_OTHER: &str = "1a2b3c4d5e6f70819a1bf3d5f1e2c4b6:0020000000000001:0:1";

/// Envoy's default `max_request_headers_kb`.
const ENVOY_HEADERS_KIB: usize = 60;
/// Envoy's default `max_request_headers_count`.
const ENVOY_HEADERS_COUNT: usize = 100;
/// Envoy's counters of VMs that failed and were reloaded (`wasm.<vm_id>.vm_reload*`).
const VM_RELOAD_STATS: &[&str] = &[
    "wasm.hoptrace.vm_reload",
    "wasm.hoptrace.vm_reload_failure",
    "wasm.hoptrace.vm_reload_success",
    "wasm.hoptrace.vm_reload_backoff",
];
/// Most `hoptrace` log lines the barrage may cause: the filter does not log per request.
const LOG_LINES_BOUND: usize = 5;
const PLUGIN: &str = r#"{"service_name":"hostile","batch":{"schedule_delay_ms":200},
"propagation":{"extract":["tracecontext","b3","jaeger","baggage"],"inject":["tracecontext","baggage"]}}"#;

/// What must happen to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Served, with a new trace id upstream.
    Restart,
    /// Served, continuing this trace.
    Continue(&'static str),
    /// Refused by Envoy's codec with this status; the filter never sees it.
    Rejected(u16),
}

/// What must happen to `tracestate` / `baggage` of a served request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Extra {
    /// Nothing beyond the general checks.
    None,
    /// `tracestate` dropped.
    NoTracestate,
    /// `baggage` forwarded byte for byte.
    BaggageUntouched,
    /// `tracestate` forwarded as this one line.
    Tracestate(&'static str),
}

struct Case {
    name: &'static str,
    lines: Vec<(&'static str, Vec<u8>)>,
    expect: Expect,
    extra: Extra,
}

fn case(name: &'static str, lines: Vec<(&'static str, Vec<u8>)>, expect: Expect) -> Case {
    Case {
        name,
        lines,
        expect,
        extra: Extra::None,
    }
}

fn with(mut c: Case, extra: Extra) -> Case {
    c.extra = extra;
    c
}

fn line(name: &'static str, value: &str) -> (&'static str, Vec<u8>) {
    (name, value.as_bytes().to_vec())
}

fn raw(name: &'static str, value: &[u8]) -> (&'static str, Vec<u8>) {
    (name, value.to_vec())
}

fn kib(n: usize) -> usize {
    n * 1024
}

/// `n` tracestate members `k<i>=v<i>`, joined with commas.
fn members(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("k{i}=v{i}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn cases() -> Vec<Case> {
    use Expect::{Continue, Rejected, Restart};
    let filler = |n: usize, size: usize| -> Vec<(&'static str, Vec<u8>)> {
        // Leaked names: a test process's few hundred bytes, so the table can hold &'static str.
        (0..n)
            .map(|i| {
                let name: &'static str = Box::leak(format!("x-filler-{i:03}").into_boxed_str());
                (name, vec![b'f'; size])
            })
            .collect()
    };
    let mut many_headers = filler(ENVOY_HEADERS_COUNT - 4, 550);
    many_headers.push(line("traceparent", TP));
    let too_many_headers = filler(ENVOY_HEADERS_COUNT + 1, 10);
    let thousand_tracestate_lines: Vec<_> = (0..1000)
        .map(|i| ("tracestate", format!("k{i}=v{i}").into_bytes()))
        .chain([line("traceparent", TP)])
        .collect();
    // 90 lines of 12 members: 1,080 members under Envoy's header-count limit.
    let many_members: Vec<_> = [line("traceparent", TP)]
        .into_iter()
        .chain((0..90).map(|i| ("tracestate", members(i * 12, 12).into_bytes())))
        .collect();
    let big = |n: usize| "a".repeat(n);
    let baggage_big = (0..kib(50) / 12)
        .map(|i| format!("k{i:05}=v{i:03}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut tp_bytes = TP.as_bytes().to_vec();
    tp_bytes[10] = 0xff;
    tp_bytes[11] = 0xfe;
    let mut tp_nul = TP.as_bytes().to_vec();
    tp_nul[10] = 0x00;
    let mut tp_ctl = TP.as_bytes().to_vec();
    tp_ctl[10] = 0x01;

    #[rustfmt::skip]
    let table = vec![
        case("no context", vec![], Restart),
        case("valid traceparent", vec![line("traceparent", TP)], Continue(TID)),
        case("traceparent of 50 KiB", vec![line("traceparent", &format!("00-{}", big(kib(50))))], Restart),
        case("traceparent of 61 KiB: over Envoy's 60 KiB header limit",
            vec![line("traceparent", &format!("00-{}", big(kib(ENVOY_HEADERS_KIB + 1))))], Rejected(431)),
        case("two identical traceparent lines", vec![line("traceparent", TP), line("traceparent", TP)], Restart),
        case("two conflicting traceparent lines", vec![line("traceparent", TP), line("traceparent", TP2)], Restart),
        case("traceparent with non-UTF-8 bytes", vec![raw("traceparent", &tp_bytes)], Restart),
        case("traceparent with a NUL byte", vec![raw("traceparent", &tp_nul)], Rejected(400)),
        case("traceparent with a control byte", vec![raw("traceparent", &tp_ctl)], Rejected(400)),
        case("traceparent in upper-case hex", vec![line("traceparent", &TP.to_uppercase())], Restart),
        case("traceparent version ff", vec![line("traceparent", &TP.replacen("00", "ff", 1))], Restart),
        case("traceparent version 01 with more fields",
            vec![line("traceparent", &format!("{}-later-fields", TP.replacen("00", "01", 1)))], Continue(TID)),
        case("traceparent padded with whitespace", vec![line("traceparent", &format!("  {TP} \t"))], Continue(TID)),
        case("empty traceparent", vec![line("traceparent", "")], Restart),
        case("traceparent of commas", vec![line("traceparent", &",".repeat(kib(8)))], Restart),
        with(case("tracestate of 50 KiB",
            vec![line("traceparent", TP), line("tracestate", &format!("k={}", big(kib(50))))], Continue(TID)),
            Extra::NoTracestate),
        case("tracestate in 1,000 lines: over Envoy's 100-header limit", thousand_tracestate_lines, Rejected(431)),
        with(case("tracestate of 1,080 members in 90 lines", many_members, Continue(TID)), Extra::NoTracestate),
        with(case("tracestate with non-UTF-8 bytes",
            vec![line("traceparent", TP), raw("tracestate", b"k=\xff\xfe,a=b")], Continue(TID)),
            Extra::NoTracestate),
        with(case("tracestate of 33 members",
            vec![line("traceparent", TP), line("tracestate", &members(0, 33))], Continue(TID)),
            Extra::NoTracestate),
        with(case("tracestate keys with '@' anywhere after the first character: kept",
            vec![line("traceparent", TP), line("tracestate", "a@b@c=1,vendor@=2")], Continue(TID)),
            Extra::Tracestate("a@b@c=1,vendor@=2")),
        with(case("tracestate with a duplicated key: the sender's list kept",
            vec![line("traceparent", TP), line("tracestate", "congo=1,rojo=2,congo=3")], Continue(TID)),
            Extra::Tracestate("congo=1,rojo=2,congo=3")),
        with(case("baggage of 50 KiB", vec![line("traceparent", TP), line("baggage", &baggage_big)], Continue(TID)),
            Extra::BaggageUntouched),
        with(case("baggage with non-UTF-8 bytes",
            vec![line("traceparent", TP), raw("baggage", b"k=\xc3\x28,\xff=\xfe")], Continue(TID)),
            Extra::BaggageUntouched),
        case("valid traceparent and a conflicting b3", vec![line("traceparent", TP), line("b3", B3)], Continue(TID)),
        case("invalid traceparent falls back to a valid b3 (extract order)",
            vec![line("traceparent", "00-garbage"), line("b3", B3)], Continue(B3_TID)),
        case("two conflicting b3 lines", vec![line("b3", B3), line("b3", B3_OTHER)], Restart),
        case("b3 single wins over conflicting x-b3 headers",
            vec![line("b3", B3), line("x-b3-traceid", "463ac35c9f6413ad48485a3953bb6124"),
                 line("x-b3-spanid", "0020000000000001"), line("x-b3-sampled", "1")], Continue(B3_TID)),
        case("two conflicting x-b3-traceid lines",
            vec![line("x-b3-traceid", B3_TID), line("x-b3-traceid", "463ac35c9f6413ad48485a3953bb6124"),
                 line("x-b3-spanid", "0020000000000001")], Restart),
        case("b3 with non-UTF-8 bytes", vec![raw("b3", b"80f198ee\xff\xfe343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1")], Restart),
        case("two conflicting uber-trace-id lines", vec![line("uber-trace-id", UBER), line("uber-trace-id", UBER_OTHER)], Restart),
        case("traceparent, b3 and uber-trace-id all different",
            vec![line("uber-trace-id", UBER), line("b3", B3), line("traceparent", TP)], Continue(TID)),
        case("96 headers of 550 bytes and a traceparent", many_headers, Continue(TID)),
        case("101 headers: over Envoy's 100-header limit", too_many_headers, Rejected(431)),
        case("user-agent of 50 KiB", vec![line("traceparent", TP), line("user-agent", &big(kib(50)))], Continue(TID)),
    ];
    table
}

/// The request's bytes: the case's lines as given, between a host line and `connection: close`.
fn request_bytes(target: &str, lines: &[(&'static str, Vec<u8>)]) -> Vec<u8> {
    let mut out = format!("GET {target} HTTP/1.1\r\nhost: hostile.test\r\n").into_bytes();
    for (name, value) in lines {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"connection: close\r\n\r\n");
    out
}

struct Rig {
    receiver: Receiver,
    upstream: Upstream,
    envoy: Envoy,
}

fn rig() -> Rig {
    let receiver = Receiver::start().unwrap();
    let upstream = Upstream::start("echo").unwrap();
    let config = EnvoyConfig::new()
        .concurrency(1)
        .collector(receiver.port())
        .listener(Listener::gateway("gw", upstream.port()).plugin(PLUGIN));
    let envoy = Envoy::start(&config).unwrap_or_else(|e| panic!("{e}"));
    Rig {
        receiver,
        upstream,
        envoy,
    }
}

/// Envoy's own wasm stats (`wasm.*`, `wasm_vm.*`), which count VMs created and failed.
fn wasm_stats(envoy: &Envoy) -> BTreeMap<String, u64> {
    let mut stats = envoy.stats("wasm.").unwrap();
    stats.extend(envoy.stats("wasm_vm.").unwrap());
    stats
}

/// Waits until the filter's `requests` counter reaches `n` (the root pushes counters every tick).
fn wait_requests(envoy: &Envoy, n: u64) -> Accounting {
    accounting::wait_for(envoy, Duration::from_secs(3), |a| a.requests >= n).unwrap()
}

/// The general checks on what the upstream received; returns its traceparent.
fn check_forwarded(case: &Case, seen: &ServedRequest) -> TraceParent {
    let name = case.name;
    let tps = seen.head.headers.iter().filter(|(n, _)| n == "traceparent");
    let tps: Vec<&str> = tps.map(|(_, v)| v.as_str()).collect();
    assert_eq!(
        tps.len(),
        1,
        "{name}: exactly one traceparent upstream: {tps:?}"
    );
    let tp = traceparent::parse(tps[0]).unwrap_or_else(|e| panic!("{name}: {e:#}"));
    let sent: Vec<u8> = case.lines.iter().flat_map(|(_, v)| v.clone()).collect();
    let sent = String::from_utf8_lossy(&sent).to_ascii_lowercase();
    assert!(
        !sent.contains(&tp.parent_id),
        "{name}: a new span id upstream, not the caller's ({})",
        tp.parent_id
    );
    match case.expect {
        Expect::Restart => assert!(
            !sent.contains(&tp.trace_id),
            "{name}: a new trace, got incoming {}",
            tp.trace_id
        ),
        Expect::Continue(trace_id) => assert_eq!(tp.trace_id, trace_id, "{name}"),
        Expect::Rejected(_) => unreachable!(),
    }
    assert!(tp.sampled(), "{name}: 100 % sampling");
    let ts: Vec<&str> = seen
        .head
        .headers
        .iter()
        .filter(|(n, _)| n == "tracestate")
        .map(|(_, v)| v.as_str())
        .collect();
    assert!(
        ts.len() <= 1,
        "{name}: tracestate joined into one line: {} lines",
        ts.len()
    );
    if let Some(ts) = ts.first() {
        let members: Vec<&str> = ts.split(',').map(str::trim).collect();
        assert!(
            members.len() <= 32,
            "{name}: {} tracestate members",
            members.len()
        );
        assert!(
            members.iter().all(|m| m
                .split_once('=')
                .is_some_and(|(k, v)| !k.is_empty() && !v.is_empty())),
            "{name}: tracestate {ts:?}"
        );
        assert!(ts.is_ascii(), "{name}: tracestate {ts:?}");
    }
    match case.extra {
        Extra::None => {}
        Extra::NoTracestate => assert!(ts.is_empty(), "{name}: invalid tracestate dropped: {ts:?}"),
        Extra::Tracestate(want) => assert_eq!(ts, [want], "{name}: tracestate kept as sent"),
        Extra::BaggageUntouched => {
            let sent: Vec<String> = case
                .lines
                .iter()
                .filter(|(n, _)| *n == "baggage")
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
                .collect();
            let got: Vec<String> = seen
                .head
                .headers
                .iter()
                .filter(|(n, _)| n == "baggage")
                .map(|(_, v)| v.clone())
                .collect();
            assert_eq!(got, sent, "{name}: baggage passes untouched");
        }
    }
    tp
}

#[test]
fn hostile_headers_are_served_or_refused_by_envoy_and_never_hurt_the_vm() {
    let rig = rig();
    let port = rig.envoy.port("gw");
    let wasm_before = wasm_stats(&rig.envoy);
    println!("Envoy wasm stats before: {wasm_before:?}");
    let mut served = 0u64;
    for (i, case) in cases().iter().enumerate() {
        rig.upstream.clear();
        let bytes = request_bytes(&format!("/hostile/{i}"), &case.lines);
        let response = send_raw(port, &bytes, "GET", Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("{}: no response: {e:#}", case.name));
        match case.expect {
            Expect::Rejected(status) => {
                assert_eq!(
                    response.status,
                    status,
                    "{}: {}",
                    case.name,
                    response.text()
                );
                assert_eq!(
                    response.header("x-upstream"),
                    None,
                    "{}: Envoy's own reply",
                    case.name
                );
                std::thread::sleep(Duration::from_millis(150));
                assert!(
                    rig.upstream.requests().is_empty(),
                    "{}: nothing forwarded",
                    case.name
                );
                let a = Accounting::read(&rig.envoy).unwrap();
                assert_eq!(a.requests, served, "{}: the filter never saw it", case.name);
            }
            Expect::Restart | Expect::Continue(_) => {
                assert_eq!(response.status, 200, "{}: {}", case.name, response.text());
                assert_eq!(response.header("x-upstream"), Some("echo"), "{}", case.name);
                served += 1;
                let seen = rig.upstream.last().unwrap();
                check_forwarded(case, &seen);
                let a = wait_requests(&rig.envoy, served);
                assert_eq!(a.requests, served, "{}: the filter ran once", case.name);
            }
        }
    }

    // The filter still works: a plain request continues its trace and its spans are exported.
    rig.upstream.clear();
    let after = Case {
        name: "plain request after the barrage",
        lines: vec![line("traceparent", TP2)],
        expect: Expect::Continue(TID2),
        extra: Extra::None,
    };
    let response = send_raw(
        port,
        &request_bytes("/after", &after.lines),
        "GET",
        Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!(response.status, 200);
    served += 1;
    check_forwarded(&after, &rig.upstream.last().unwrap());
    let deadline = Instant::now() + Duration::from_secs(15);
    while of_trace(&rig.receiver.spans(), TID2).len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        of_trace(&rig.receiver.spans(), TID2).len(),
        2,
        "SERVER + CLIENT exported after the barrage"
    );

    // Every span accounted for: 2 per served request, all exported (the receiver is healthy).
    let a = accounting::wait_for(&rig.envoy, Duration::from_secs(15), |a| {
        a.settled() && a.exported == 2 * served
    })
    .unwrap();
    assert_eq!(a.requests, served, "{a:?}");
    assert_eq!(a.sampled, 2 * served, "{a:?}");
    assert_eq!(a.exported, 2 * served, "{a:?}");
    assert!(a.settled(), "{a:?}");
    assert_eq!(rig.receiver.spans().len() as u64, 2 * served);

    // The VMs are the ones Envoy started: none failed or was replaced.
    let wasm_after = wasm_stats(&rig.envoy);
    println!("Envoy wasm stats after: {wasm_after:?}");
    for (name, before) in &wasm_before {
        if name.ends_with(".created") || name.ends_with(".active") {
            assert_eq!(wasm_after.get(name), Some(before), "{name}");
        }
    }
    // Envoy 1.40 counts a failed VM's replacement under `wasm.<plugin>.vm_reload*`.
    for name in VM_RELOAD_STATS {
        assert_eq!(wasm_after.get(*name), Some(&0), "{name} in {wasm_after:?}");
    }
    for (name, value) in &wasm_after {
        if name.contains("fail") || name.contains("crash") {
            assert_eq!(*value, 0, "{name}");
        }
    }
    let log = rig.envoy.log();
    for sign in [
        "panic",
        "Uncaught",
        "Wasm VM failed",
        "failed: ",
        "unreachable",
    ] {
        let hits: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("wasm") && l.contains(sign))
            .collect();
        assert!(hits.is_empty(), "VM failure in the log ({sign}): {hits:#?}");
    }
    let ours = log.lines().filter(|l| l.contains("wasm log")).count();
    assert!(
        ours <= LOG_LINES_BOUND,
        "{ours} hoptrace log lines, bound {LOG_LINES_BOUND}"
    );
    println!(
        "hostile: {served} requests served, {} cases, {ours} log lines",
        cases().len()
    );
}

/// An internet-facing gateway as the README's "Running at the edge" sets it up, injecting B3 for
/// the services behind it and capturing one request header.
const EDGE_PLUGIN: &str = r#"{"service_name":"edge","trust_incoming":false,
"propagation":{"inject":["tracecontext","b3multi"]},
"attributes":{"request_headers":{"x-blob":"app.blob"}},"batch":{"schedule_delay_ms":200}}"#;
/// `limits.attribute_value_length` by default.
const ATTRIBUTE_LIMIT: usize = 1024;
/// Slow requests in flight at once in the flood row.
const FLOOD: usize = 48;

/// The header lines the upstream received under `name`.
fn upstream_lines(seen: &ServedRequest, name: &str) -> Vec<String> {
    seen.head
        .headers
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
        .collect()
}

/// Sends `target` with `lines` through the edge; 200 from the upstream and its traceparent.
fn through_edge(
    rig: &Rig,
    target: &str,
    lines: &[(&'static str, Vec<u8>)],
) -> (ServedRequest, TraceParent) {
    rig.upstream.clear();
    let port = rig.envoy.port("edge");
    let response = send_raw(
        port,
        &request_bytes(target, lines),
        "GET",
        Duration::from_secs(10),
    )
    .unwrap_or_else(|e| panic!("{target}: {e:#}"));
    assert_eq!(response.status, 200, "{target}: {}", response.text());
    let seen = rig.upstream.last().unwrap();
    let tp = upstream_lines(&seen, "traceparent");
    assert_eq!(tp.len(), 1, "{target}: {tp:?}");
    let tp = traceparent::parse(&tp[0]).unwrap();
    (seen, tp)
}

/// The exported spans of `trace_id`, once both (SERVER + CLIENT) arrived.
fn edge_spans(rig: &Rig, trace_id: &str) -> Vec<hoptrace_e2e::ReceivedSpan> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let all = rig.receiver.spans();
        let spans: Vec<_> = of_trace(&all, trace_id).into_iter().cloned().collect();
        if spans.len() >= 2 || Instant::now() > deadline {
            assert_eq!(spans.len(), 2, "SERVER + CLIENT of {trace_id}");
            return spans;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every string attribute of `spans` within the limit.
fn within_limit(spans: &[hoptrace_e2e::ReceivedSpan], row: &str) {
    for s in spans {
        for a in &s.span.attributes {
            if let Some(v) = s.attr_str(&a.key) {
                assert!(
                    v.len() <= ATTRIBUTE_LIMIT,
                    "{row}: {} is {} bytes",
                    a.key,
                    v.len()
                );
            }
        }
    }
}

#[test]
fn an_untrusting_edge_gives_a_client_no_lever() {
    let receiver = Receiver::start().unwrap();
    let upstream = Upstream::start("echo").unwrap();
    let config = EnvoyConfig::new()
        .concurrency(1)
        .collector(receiver.port())
        .listener(Listener::gateway("edge", upstream.port()).plugin(EDGE_PLUGIN));
    let envoy = Envoy::start(&config).unwrap_or_else(|e| panic!("{e}"));
    let rig = Rig {
        receiver,
        upstream,
        envoy,
    };

    // Steer: every context header of every format the client sends is gone; the B3 headers the
    // services see are ours, naming the same span as the traceparent.
    let steer = [
        line("traceparent", TP),
        line("tracestate", "congo=t61rcWkgMzE"),
        line("b3", &format!("{B3_TID}-e457b5a2e4d86bd1-d")),
        line("x-b3-traceid", B3_TID),
        line("x-b3-spanid", "e457b5a2e4d86bd1"),
        line("x-b3-parentspanid", "0020000000000001"),
        line("x-b3-sampled", "1"),
        line("x-b3-flags", "1"),
        line("uber-trace-id", UBER),
        line("uberctx-role", "admin"),
        line("baggage", "role=admin"),
    ];
    let (seen, tp) = through_edge(&rig, "/steer", &steer);
    assert_ne!(tp.trace_id, TID, "steer: a new trace");
    for name in [
        "b3",
        "x-b3-parentspanid",
        "x-b3-flags",
        "uber-trace-id",
        "uberctx-role",
        "baggage",
    ] {
        assert!(
            upstream_lines(&seen, name).is_empty(),
            "steer: {name} reached the upstream"
        );
    }
    assert_eq!(
        upstream_lines(&seen, "x-b3-traceid"),
        std::slice::from_ref(&tp.trace_id),
        "steer"
    );
    assert_eq!(
        upstream_lines(&seen, "x-b3-spanid"),
        std::slice::from_ref(&tp.parent_id),
        "steer"
    );
    assert_eq!(upstream_lines(&seen, "x-b3-sampled"), ["1"], "steer");
    assert_eq!(upstream_lines(&seen, "tracestate"), ["ot=th:0"], "steer");
    let spans = edge_spans(&rig, &tp.trace_id);
    assert!(
        spans.iter().any(|s| s
            .span
            .links
            .iter()
            .any(|l| hoptrace_e2e::otlp::hex(&l.trace_id) == TID)),
        "steer: the client's context is kept as a link"
    );

    // Flood: a query whose redaction would grow it fivefold stays within the limit, and the span
    // is exported, not dropped as too large.
    let (_, tp) = through_edge(&rig, &format!("/flood?{}", "=&".repeat(kib(8))), &[]);
    let spans = edge_spans(&rig, &tp.trace_id);
    within_limit(&spans, "flood");
    let query = spans.iter().find_map(|s| s.attr_str("url.query")).unwrap();
    assert!(
        query.starts_with("=REDACTED&=REDACTED"),
        "flood: {query:.40}"
    );

    // Leak: a query without '=' (a bearer token) is redacted whole, in url.query and url.full.
    let token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl";
    let (_, tp) = through_edge(&rig, &format!("/callback?{token}"), &[]);
    let spans = edge_spans(&rig, &tp.trace_id);
    assert_eq!(
        spans.iter().find_map(|s| s.attr_str("url.query")),
        Some("REDACTED"),
        "leak"
    );
    let full = spans.iter().find_map(|s| s.attr_str("url.full")).unwrap();
    assert!(full.ends_with("/callback?REDACTED"), "leak: {full}");

    // Limit: long headers are cut to the attribute limit on a character boundary.
    let (_, tp) = through_edge(
        &rig,
        "/limit",
        &[
            line("user-agent", &"é".repeat(kib(12))),
            line("x-blob", &"b".repeat(kib(20))),
        ],
    );
    let spans = edge_spans(&rig, &tp.trace_id);
    within_limit(&spans, "limit");
    let ua = spans
        .iter()
        .find_map(|s| s.attr_str("user_agent.original"))
        .unwrap();
    assert_eq!(
        ua.len(),
        ATTRIBUTE_LIMIT,
        "limit: whole characters up to the limit"
    );
    assert_eq!(
        spans
            .iter()
            .find_map(|s| s.attr_str("app.blob"))
            .map(str::len),
        Some(ATTRIBUTE_LIMIT)
    );

    // Memory: slow requests with large headers, all in flight at once, are served and counted.
    let port = rig.envoy.port("edge");
    let heavy = [
        line("user-agent", &"u".repeat(kib(20))),
        line("x-blob", &"b".repeat(kib(20))),
    ];
    let bytes = request_bytes(&format!("/slow/1500?{}", "=&".repeat(kib(4))), &heavy);
    let workers: Vec<_> = (0..FLOOD)
        .map(|_| {
            let bytes = bytes.clone();
            std::thread::spawn(move || {
                send_raw(port, &bytes, "GET", Duration::from_secs(20)).map(|r| r.status)
            })
        })
        .collect();
    for w in workers {
        assert_eq!(
            w.join().unwrap().unwrap(),
            200,
            "memory: a slow request served"
        );
    }

    // Every span of the rows is exported: none dropped, too large or otherwise.
    let served = 4 + FLOOD as u64;
    let a = accounting::wait_for(&rig.envoy, Duration::from_secs(15), |a| {
        a.settled() && a.exported == 2 * served
    })
    .unwrap();
    assert_eq!(
        (a.requests, a.sampled, a.dropped_total()),
        (served, 2 * served, 0),
        "{a:?}"
    );
    let stats = rig.envoy.hoptrace_stats().unwrap();
    let truncated = stats.get("attributes.truncated").copied().unwrap_or(0);
    assert!(truncated >= 4, "attributes.truncated: {stats:?}");
    println!(
        "edge: {served} requests, {} spans exported, {truncated} values truncated",
        a.exported
    );
}

#[test]
fn configurations_that_would_leak_hammer_or_outgrow_are_refused() {
    #[rustfmt::skip]
    let rows: &[(&str, &str, &str)] = &[
        // (case, plugin configuration, the field Envoy's log must name)
        ("credentials captured",       r#"{"attributes":{"request_headers":{"authorization":"app.auth"}}}"#, "attributes.request_headers"),
        ("cookies captured",           r#"{"attributes":{"response_headers":{"set-cookie":"app.cookie"}}}"#, "attributes.response_headers"),
        ("retry backoff of 1 ms",      r#"{"retry":{"initial_backoff_ms":1,"max_backoff_ms":1}}"#,         "retry.initial_backoff_ms"),
        ("queue past the VM ceiling",  r#"{"batch":{"max_queue_bytes":67108864}}"#,                         "batch.max_queue_bytes"),
        ("exports past the ceiling",   r#"{"batch":{"max_queue_bytes":16777216,"max_concurrent_exports":4}}"#, "batch.max_concurrent_exports"),
        ("attribute limit too large",  r#"{"limits":{"attribute_value_length":1048576}}"#,                  "limits.attribute_value_length"),
    ];
    for (case, plugin, field) in rows {
        let config = EnvoyConfig::new().listener(Listener::gateway("gw", 9).plugin(plugin));
        let (status, log) = validate_config(&config).unwrap();
        assert!(!status.success(), "{case}: validated:\n{log}");
        assert!(log.contains(field), "{case}: {field} not named:\n{log}");
    }
    let allowed =
        r#"{"attributes":{"request_headers":{"authorization":"app.auth"},"allow_sensitive":true}}"#;
    let config = EnvoyConfig::new().listener(Listener::gateway("gw", 9).plugin(allowed));
    let (status, log) = validate_config(&config).unwrap();
    assert!(status.success(), "allow_sensitive: true accepts it:\n{log}");
}
