//! What `make demo` does once the mesh is up, as a library so a test runs the same flow: send a planned
//! mix of requests into the edge gateway (normal ones, a 503 and a slow answer at service B, one with a
//! client-supplied sampled `traceparent`), wait (bounded) for their spans, check the traces (parenting
//! across the three proxies, the untrusted client context, errors, the slow hop), render them as
//! waterfalls, and merge every received span into one OTLP/JSON document that Jaeger's UI can load.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

use crate::mesh::Mesh;
use crate::otlp::{self, of_trace, ReceivedSpan, KIND_CLIENT, KIND_SERVER};
use crate::traceparent::{self, TraceParent};
use crate::waterfall::{self, format_duration, is_error, kind_name, service, Style};
use crate::{Receiver, Request};

/// How long the slow request waits at service B.
pub const SLOW_MS: u64 = 500;
/// Trace id of the context the demo's client sends (and the edge must not adopt).
pub const CLIENT_TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
/// Span id of that context.
pub const CLIENT_SPAN_ID: &str = "b7ad6b7169203331";
/// How long to wait for every span of the demo's traces.
pub const SPAN_WAIT: Duration = Duration::from_secs(20);
/// Bound on one request through the whole mesh.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// The path of one request through the mesh, as (service name, span kind) in parent-to-child order:
/// the gateway's SERVER and CLIENT spans, then SERVER (inbound) and CLIENT (outbound) at sidecar A,
/// then SERVER (inbound) at sidecar B.
pub const CHAIN: [(&str, i32); 5] = [
    ("edge-gateway", KIND_SERVER),
    ("edge-gateway", KIND_CLIENT),
    ("svc-a", KIND_SERVER),
    ("svc-a", KIND_CLIENT),
    ("svc-b", KIND_SERVER),
];

/// Why a request is in the plan (what its trace should show).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// 200 through the whole chain.
    Normal,
    /// Service B answers 503: every span is an Error.
    UpstreamError,
    /// Service B takes [`SLOW_MS`].
    Slow,
    /// The client sends a sampled `traceparent`; the untrusting edge starts its own trace and links.
    ClientContext,
}

/// One request of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// What it shows.
    pub purpose: Purpose,
    /// Short label for the report.
    pub label: String,
    /// The path service A asks service B for.
    pub leaf: String,
    /// A `traceparent` the client sends, if any.
    pub traceparent: Option<String>,
}

impl Planned {
    fn new(purpose: Purpose, label: &str, leaf: &str) -> Planned {
        Planned {
            purpose,
            label: label.to_string(),
            leaf: leaf.to_string(),
            traceparent: None,
        }
    }
}

/// The demo's traffic: three normal requests, two 503s, one slow one, one with a client context.
pub fn plan() -> Vec<Planned> {
    let mut client = Planned::new(
        Purpose::ClientContext,
        "client sends a sampled traceparent",
        "/orders/1004",
    );
    client.traceparent = Some(format!("00-{CLIENT_TRACE_ID}-{CLIENT_SPAN_ID}-01"));
    vec![
        Planned::new(Purpose::Normal, "normal request", "/orders/1001"),
        Planned::new(Purpose::Normal, "normal request", "/orders/1002"),
        Planned::new(Purpose::UpstreamError, "svc-b answers 503", "/status/503"),
        Planned::new(
            Purpose::Slow,
            &format!("svc-b is slow ({SLOW_MS} ms)"),
            &format!("/slow/{SLOW_MS}"),
        ),
        Planned::new(Purpose::Normal, "normal request", "/orders/1003"),
        Planned::new(Purpose::UpstreamError, "svc-b answers 503", "/status/503"),
        client,
    ]
}

/// One request as sent, with the context service A received (which names the trace).
#[derive(Debug, Clone)]
pub struct Sent {
    /// The plan entry.
    pub planned: Planned,
    /// The request target sent to the gateway.
    pub target: String,
    /// The status the client got.
    pub status: u16,
    /// How long the client waited.
    pub elapsed: Duration,
    /// The `traceparent` service A received (the gateway's decision), if it got one.
    pub at_app_a: Option<TraceParent>,
}

impl Sent {
    /// The trace this request started, as service A saw it.
    pub fn trace_id(&self) -> Option<&str> {
        self.at_app_a.as_ref().map(|t| t.trace_id.as_str())
    }

    /// Whether the gateway sampled it (so its spans should arrive).
    pub fn sampled(&self) -> bool {
        self.at_app_a.as_ref().is_some_and(TraceParent::sampled)
    }

    /// The status the plan expects from the gateway.
    pub fn expected_status(&self) -> u16 {
        match self.planned.purpose {
            Purpose::UpstreamError => 503,
            _ => 200,
        }
    }
}

/// Sends one planned request into the gateway and reads what service A received.
pub fn send(mesh: &Mesh, planned: &Planned) -> Result<Sent> {
    let target = mesh.path_via_b(&planned.leaf);
    let before = mesh.app_a.requests().len();
    let mut request = Request::get(&target)
        .header("user-agent", "hoptrace-demo")
        .timeout(REQUEST_TIMEOUT);
    if let Some(tp) = &planned.traceparent {
        request = request.header("traceparent", tp);
    }
    let started = Instant::now();
    let response = request.send(mesh.entry_port())?;
    let elapsed = started.elapsed();
    let at_app_a = mesh
        .app_a
        .requests()
        .get(before..)
        .and_then(|new| new.first().cloned())
        .and_then(|r| r.header("traceparent").map(str::to_string))
        .and_then(|tp| traceparent::parse(&tp).ok());
    Ok(Sent {
        planned: planned.clone(),
        target,
        status: response.status,
        elapsed,
        at_app_a,
    })
}

/// Everything a run produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The requests, in order.
    pub sent: Vec<Sent>,
    /// Every span received by the end of the wait.
    pub spans: Vec<ReceivedSpan>,
    /// The checks, in report order.
    pub checks: Vec<Check>,
    /// Each request's access-log lines, by trace id: (`proxy listener`, line).
    pub access_logs: std::collections::BTreeMap<String, Vec<(String, String)>>,
}

impl Outcome {
    /// Whether every check passed.
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }

    /// The spans of one trace, in arrival order.
    pub fn trace(&self, trace_id: &str) -> Vec<&ReceivedSpan> {
        of_trace(&self.spans, trace_id)
    }
}

/// Sends the plan, waits for the spans (stopping early when `stop()` says so), and checks them.
pub fn run(mesh: &Mesh, stop: &dyn Fn() -> bool) -> Result<Outcome> {
    let mut sent = Vec::new();
    for planned in plan() {
        if stop() {
            break;
        }
        sent.push(send(mesh, &planned).with_context(|| planned.label.clone())?);
    }
    let spans = wait_for_spans(&mesh.receiver, &sent, SPAN_WAIT, stop);
    let checks = checks(&sent, &spans);
    let access_logs = access_logs(mesh, &sent, stop);
    Ok(Outcome {
        sent,
        spans,
        checks,
        access_logs,
    })
}

/// Every proxy's access-log lines of each request's trace. Envoy writes its files on a timer, so
/// this waits (bounded) until each trace has one line per listener it crossed.
pub fn access_logs(
    mesh: &Mesh,
    sent: &[Sent],
    stop: &dyn Fn() -> bool,
) -> std::collections::BTreeMap<String, Vec<(String, String)>> {
    // Gateway, both of A's listeners and B's inbound one.
    const LISTENERS_CROSSED: usize = 4;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let found: std::collections::BTreeMap<String, Vec<(String, String)>> = sent
            .iter()
            .filter_map(|s| s.trace_id())
            .map(|id| (id.to_string(), mesh.access_log_lines(id)))
            .collect();
        let whole = found.values().all(|l| l.len() >= LISTENERS_CROSSED);
        if whole || Instant::now() > deadline || stop() {
            return found;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until every sampled request's trace has all [`CHAIN`] spans, `timeout` passed, or `stop()`.
pub fn wait_for_spans(
    receiver: &Receiver,
    sent: &[Sent],
    timeout: Duration,
    stop: &dyn Fn() -> bool,
) -> Vec<ReceivedSpan> {
    let deadline = Instant::now() + timeout;
    loop {
        let spans = receiver.spans();
        let complete = sent
            .iter()
            .filter(|s| s.sampled())
            .filter_map(Sent::trace_id)
            .all(|id| of_trace(&spans, id).len() >= CHAIN.len());
        if complete || Instant::now() > deadline || stop() {
            return spans;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The one span of `trace` with this service and kind.
fn hop<'a>(trace: &[&'a ReceivedSpan], svc: &str, kind: i32) -> Result<&'a ReceivedSpan, String> {
    let found: Vec<&&ReceivedSpan> = trace
        .iter()
        .filter(|s| service(s) == svc && s.kind() == kind)
        .collect();
    match found.as_slice() {
        [one] => Ok(one),
        other => Err(format!(
            "{} {svc} {} spans, want 1",
            other.len(),
            kind_name(kind)
        )),
    }
}

/// Checks that `trace` is exactly the [`CHAIN`]: one span per hop, the first a root, each next one a
/// child of the one before and within its time.
pub fn check_chain(trace: &[&ReceivedSpan]) -> Result<(), String> {
    if trace.len() != CHAIN.len() {
        return Err(format!("{} spans, want {}", trace.len(), CHAIN.len()));
    }
    let hops = CHAIN
        .iter()
        .map(|(svc, kind)| hop(trace, svc, *kind))
        .collect::<Result<Vec<_>, String>>()?;
    if let Some(root) = hops.first() {
        if !root.parent_id().is_empty() {
            return Err(format!(
                "the edge's SERVER span has parent {}, want none",
                root.parent_id()
            ));
        }
    }
    for pair in hops.windows(2) {
        let [outer, inner] = pair else { continue };
        let name = |s: &ReceivedSpan| format!("{} {}", service(s), kind_name(s.kind()));
        if inner.parent_id() != outer.span_id() {
            return Err(format!(
                "{} has parent {}, want {} ({})",
                name(inner),
                inner.parent_id(),
                outer.span_id(),
                name(outer)
            ));
        }
        let (o, i) = (&outer.span, &inner.span);
        if i.start_time_unix_nano < o.start_time_unix_nano
            || i.end_time_unix_nano > o.end_time_unix_nano
        {
            return Err(format!(
                "{} is not within {} in time",
                name(inner),
                name(outer)
            ));
        }
    }
    Ok(())
}

/// One line of the verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Passed.
    pub ok: bool,
    /// What was checked, or what went wrong.
    pub text: String,
}

impl Check {
    fn new(ok: bool, pass: String, fail: String) -> Check {
        Check {
            ok,
            text: if ok { pass } else { fail },
        }
    }
}

/// The checks of a run.
pub fn checks(sent: &[Sent], spans: &[ReceivedSpan]) -> Vec<Check> {
    vec![
        check_parenting(sent, spans),
        check_client_context(sent, spans),
        check_errors(sent, spans),
        check_slow(sent, spans),
    ]
}

fn by_purpose(sent: &[Sent], purpose: Purpose) -> impl Iterator<Item = &Sent> {
    sent.iter().filter(move |s| s.planned.purpose == purpose)
}

fn check_parenting(sent: &[Sent], spans: &[ReceivedSpan]) -> Check {
    let mut problems = Vec::new();
    for s in sent {
        if s.status != s.expected_status() {
            problems.push(format!(
                "{}: status {}, want {}",
                s.target,
                s.status,
                s.expected_status()
            ));
            continue;
        }
        let Some(id) = s.trace_id().filter(|_| s.sampled()) else {
            problems.push(format!(
                "{}: service A got no sampled traceparent",
                s.target
            ));
            continue;
        };
        if let Err(e) = check_chain(&of_trace(spans, id)) {
            problems.push(format!("trace {id}: {e}"));
        }
    }
    Check::new(
        problems.is_empty() && !sent.is_empty(),
        format!(
            "one trace crosses 3 proxies with correct parenting ({n} of {n} traces)",
            n = sent.len()
        ),
        format!(
            "parenting across the 3 proxies is wrong: {}",
            problems.join("; ")
        ),
    )
}

fn check_client_context(sent: &[Sent], spans: &[ReceivedSpan]) -> Check {
    let Some(s) = by_purpose(sent, Purpose::ClientContext).next() else {
        return Check::new(
            false,
            String::new(),
            "no request with a client context".into(),
        );
    };
    let Some(id) = s.trace_id() else {
        return Check::new(false, String::new(), "service A got no traceparent".into());
    };
    let trace = of_trace(spans, id);
    let linked = hop(&trace, "edge-gateway", KIND_SERVER).is_ok_and(|root| {
        root.span.links.iter().any(|l| {
            otlp::hex(&l.trace_id) == CLIENT_TRACE_ID && otlp::hex(&l.span_id) == CLIENT_SPAN_ID
        })
    });
    let adopted = id == CLIENT_TRACE_ID || !of_trace(spans, CLIENT_TRACE_ID).is_empty();
    Check::new(
        linked && !adopted,
        "the client's sampled traceparent did not steer the edge: new trace, linked to the client's"
            .to_string(),
        format!(
            "client context: trace {id} (client's adopted: {adopted}), link to the client's \
             context on the edge SERVER span: {linked}"
        ),
    )
}

fn check_errors(sent: &[Sent], spans: &[ReceivedSpan]) -> Check {
    let errors: Vec<&Sent> = by_purpose(sent, Purpose::UpstreamError).collect();
    let all_error = |s: &&Sent| {
        s.trace_id().is_some_and(|id| {
            let t = of_trace(spans, id);
            t.len() == CHAIN.len() && t.iter().all(|x| is_error(x))
        })
    };
    let none_error = |s: &Sent| {
        s.trace_id()
            .is_some_and(|id| !of_trace(spans, id).iter().any(|x| is_error(x)))
    };
    let ok_traces_clean = sent
        .iter()
        .filter(|s| s.planned.purpose != Purpose::UpstreamError)
        .all(none_error);
    Check::new(
        !errors.is_empty() && errors.iter().all(all_error) && ok_traces_clean,
        format!(
            "a 503 at svc-b marks all {} spans ERROR ({} traces); the 200s have none",
            CHAIN.len(),
            errors.len()
        ),
        "error marking: want every span of a 503 trace ERROR and none in a 200 trace".into(),
    )
}

fn check_slow(sent: &[Sent], spans: &[ReceivedSpan]) -> Check {
    let want = Duration::from_millis(SLOW_MS);
    let Some(id) = by_purpose(sent, Purpose::Slow).find_map(Sent::trace_id) else {
        return Check::new(false, String::new(), "no slow request".into());
    };
    let trace = of_trace(spans, id);
    let leaf = hop(&trace, "svc-b", KIND_SERVER).map(ReceivedSpan::duration);
    let root = hop(&trace, "edge-gateway", KIND_SERVER).map(ReceivedSpan::duration);
    match (leaf, root) {
        (Ok(leaf), Ok(root)) if leaf >= want && root >= leaf => Check::new(
            true,
            format!(
                "the slow trace shows where the time went: {} at svc-b of {} at the edge",
                format_duration(leaf),
                format_duration(root)
            ),
            String::new(),
        ),
        (leaf, root) => Check::new(
            false,
            String::new(),
            format!(
                "slow trace {id}: svc-b SERVER {leaf:?}, edge SERVER {root:?}, want ≥ {want:?}"
            ),
        ),
    }
}

/// Counts for the summary line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Distinct traces among the spans.
    pub traces: usize,
    /// Spans received.
    pub spans: usize,
    /// Distinct `service.name`s (one per proxy).
    pub proxies: usize,
    /// Spans with status ERROR.
    pub error_spans: usize,
    /// Traces with at least one ERROR span.
    pub error_traces: usize,
}

/// Counts traces, spans, proxies and errors.
pub fn summarize(spans: &[ReceivedSpan]) -> Summary {
    let traces: BTreeSet<String> = spans.iter().map(ReceivedSpan::trace_id).collect();
    let proxies: BTreeSet<&str> = spans.iter().map(service).collect();
    let errors: Vec<&ReceivedSpan> = spans.iter().filter(|s| is_error(s)).collect();
    let error_traces: BTreeSet<String> = errors.iter().map(|s| s.trace_id()).collect();
    Summary {
        traces: traces.len(),
        spans: spans.len(),
        proxies: proxies.len(),
        error_spans: errors.len(),
        error_traces: error_traces.len(),
    }
}

/// The report: per request a heading and its trace's waterfall, then the summary and the checks.
pub fn render_report(outcome: &Outcome, style: &Style) -> String {
    let mut out = String::new();
    for (n, s) in outcome.sent.iter().enumerate() {
        let status = if s.status >= 500 {
            waterfall::paint(style, "\x1b[31m", &s.status.to_string())
        } else {
            s.status.to_string()
        };
        out.push_str(&format!(
            "\n{} {} GET {} → {status}\n",
            waterfall::paint(style, "\x1b[1m", &format!("#{} {}", n + 1, s.planned.label)),
            waterfall::dim(style, "·"),
            s.target,
        ));
        if let Some(tp) = &s.planned.traceparent {
            out.push_str(&format!(
                "   client sent traceparent: {tp}\n   the edge ignored it for sampling and parenting and linked its root span to it\n"
            ));
        }
        match s.trace_id() {
            Some(id) => {
                out.push_str(&format!("   trace {id}\n"));
                out.push_str(&waterfall::render(&outcome.trace(id), style));
                let lines = outcome
                    .access_logs
                    .get(id)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                out.push_str(&format!(
                    "   {}\n",
                    waterfall::dim(style, "access log (each proxy's line for this trace):")
                ));
                for (listener, line) in lines {
                    out.push_str(&format!(
                        "   {} {line}\n",
                        waterfall::dim(style, &format!("{listener:<18}"))
                    ));
                }
            }
            None => out.push_str("   (no trace context reached service A)\n"),
        }
    }
    let sum = summarize(&outcome.spans);
    out.push_str(&format!(
        "\n{} traces, {} spans from {} proxies; {} ERROR spans in {} traces\n",
        sum.traces, sum.spans, sum.proxies, sum.error_spans, sum.error_traces
    ));
    out.push_str(&render_checks(&outcome.checks, style));
    out
}

/// One line per check, marked ✓ or ✗.
pub fn render_checks(checks: &[Check], style: &Style) -> String {
    let mut out = String::new();
    for check in checks {
        let mark = if check.ok {
            waterfall::paint(style, "\x1b[32m", "✓")
        } else {
            waterfall::paint(style, "\x1b[1m\x1b[31m", "✗")
        };
        out.push_str(&format!("{mark} {}\n", check.text));
    }
    out
}

/// Every accepted export request the receiver decoded, merged into one `ExportTraceServiceRequest`
/// (the shape Jaeger's UI upload expects: one JSON document with `resourceSpans`).
pub fn merged_export(receiver: &Receiver) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: receiver
            .requests()
            .into_iter()
            .filter(|r| r.accepted)
            .filter_map(|r| r.decoded.ok())
            .flat_map(|r| r.resource_spans)
            .collect(),
    }
}

/// Writes `request` as one OTLP/JSON document (hex ids, camelCase fields, 64-bit integers as strings,
/// the OTLP/HTTP JSON encoding) to `path`, creating its directory.
pub fn write_json(path: &Path, request: &ExportTraceServiceRequest) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    let mut text = otlp::to_json(request)?;
    text.push('\n');
    std::fs::write(path, text).with_context(|| format!("write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn span(svc: &str, kind: i32, id: u8, parent: Option<u8>, from: u64, to: u64) -> ReceivedSpan {
        ReceivedSpan::fixture(svc, kind, id, parent, from * MS, to * MS)
    }

    fn chain() -> Vec<ReceivedSpan> {
        vec![
            span("svc-b", KIND_SERVER, 5, Some(4), 40, 90),
            span("svc-a", KIND_CLIENT, 4, Some(3), 30, 95),
            span("svc-a", KIND_SERVER, 3, Some(2), 20, 98),
            span("edge-gateway", KIND_CLIENT, 2, Some(1), 10, 99),
            span("edge-gateway", KIND_SERVER, 1, None, 0, 100),
        ]
    }

    #[test]
    fn the_demo_chain_passes() {
        let spans = chain();
        assert_eq!(check_chain(&spans.iter().collect::<Vec<_>>()), Ok(()));
    }

    #[rustfmt::skip]
    #[test]
    fn a_broken_chain_is_named() {
        // (case, change, words the error must contain)
        type Break = fn(&mut Vec<ReceivedSpan>);
        let cases: &[(&str, Break, &str)] = &[
            ("span missing",          |v| { v.remove(0); },                                   "4 spans"),
            ("root has a parent",     |v| v[4].span.parent_span_id = vec![9; 8],              "has parent"),
            ("wrong parent at B",     |v| v[0].span.parent_span_id = vec![3; 8],              "svc-b SERVER has parent"),
            ("kind swapped",          |v| v[1].span.kind = KIND_SERVER,                       "2 svc-a SERVER"),
            ("child outlives parent", |v| v[0].span.end_time_unix_nano = 200 * MS,            "not within"),
        ];
        for (name, change, words) in cases {
            let mut spans = chain();
            change(&mut spans);
            let err = check_chain(&spans.iter().collect::<Vec<_>>()).unwrap_err();
            assert!(err.contains(words), "{name}: {err}");
        }
    }

    #[test]
    fn the_plan_has_each_purpose() {
        let plan = plan();
        for purpose in [
            Purpose::Normal,
            Purpose::UpstreamError,
            Purpose::Slow,
            Purpose::ClientContext,
        ] {
            assert!(plan.iter().any(|p| p.purpose == purpose), "{purpose:?}");
        }
        let with_context: Vec<_> = plan.iter().filter(|p| p.traceparent.is_some()).collect();
        assert_eq!(with_context.len(), 1);
        let tp = traceparent::parse(with_context[0].traceparent.as_deref().unwrap()).unwrap();
        assert!(tp.sampled(), "the client asks for sampling");
    }

    #[test]
    fn summary_counts_traces_proxies_and_errors() {
        let mut spans = chain();
        let mut other = chain();
        for s in &mut other {
            s.span.trace_id = vec![0xcd; 16];
            s.span.status = Some(opentelemetry_proto::tonic::trace::v1::Status {
                code: crate::otlp::STATUS_ERROR,
                message: String::new(),
            });
        }
        spans.extend(other);
        assert_eq!(
            summarize(&spans),
            Summary {
                traces: 2,
                spans: 10,
                proxies: 3,
                error_spans: 5,
                error_traces: 1
            }
        );
    }
}
