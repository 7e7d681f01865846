//! The demo's second act: the same mesh at 1 % head sampling with `keep` on. Fast requests the head
//! sampler dropped send nothing; the failed and the slow one it dropped still arrive whole from all
//! three proxies, marked as kept.

use std::time::{Duration, Instant};

use anyhow::Result;

use crate::demo_traffic::{
    self, check_chain, Check, Outcome, Planned, Purpose, Sent, CHAIN, SLOW_MS,
};
use crate::mesh::{Mesh, MeshPlugins};
use crate::otlp::{of_trace, ReceivedSpan};
use crate::waterfall::{self, Style};

/// The head sampler's ratio in this act.
pub const RATIO: f64 = 0.01;
/// Requests at least this slow are kept (below the demo's slow request).
pub const SLOWER_THAN_MS: u64 = SLOW_MS / 2;

/// Every proxy of the mesh at [`RATIO`], errors and slow requests kept.
pub fn plugins(schedule_delay_ms: u64) -> MeshPlugins {
    let common = format!(
        r#""sampler_arg":{RATIO},"keep":{{"slower_than_ms":{SLOWER_THAN_MS}}},"batch":{{"schedule_delay_ms":{schedule_delay_ms}}}"#
    );
    MeshPlugins {
        gateway: format!(r#"{{"service_name":"edge-gateway","trust_incoming":false,{common}}}"#),
        sidecar_a: format!(r#"{{"service_name":"svc-a",{common}}}"#),
        sidecar_b: format!(r#"{{"service_name":"svc-b",{common}}}"#),
    }
}

/// The act's traffic: three fast requests, a 503 and a slow one.
pub fn plan() -> Vec<Planned> {
    demo_traffic::plan()
        .into_iter()
        .filter(|p| p.purpose != Purpose::ClientContext)
        .collect()
}

fn is_kept_purpose(p: Purpose) -> bool {
    matches!(p, Purpose::UpstreamError | Purpose::Slow)
}

/// Sends the plan through `mesh` (started with [`plugins`]), waits for the kept traces, checks.
pub fn run(mesh: &Mesh, stop: &dyn Fn() -> bool, wait: Duration) -> Result<Outcome> {
    let mut sent = Vec::new();
    for planned in plan() {
        if stop() {
            break;
        }
        sent.push(demo_traffic::send(mesh, &planned)?);
    }
    // Requests the head sampler dropped but that failed or were slow: their whole chain must come.
    let want: Vec<&Sent> = sent
        .iter()
        .filter(|s| !s.sampled() && is_kept_purpose(s.planned.purpose))
        .collect();
    let deadline = Instant::now() + wait;
    let mut spans = mesh.receiver.spans();
    while !stop()
        && Instant::now() < deadline
        && want
            .iter()
            .any(|s| of_trace(&spans, s.trace_id().unwrap_or_default()).len() < CHAIN.len())
    {
        std::thread::sleep(Duration::from_millis(100));
        spans = mesh.receiver.spans();
    }
    // Past two batch delays, what fast requests would have sent has come.
    std::thread::sleep(Duration::from_millis(700));
    let spans = mesh.receiver.spans();
    let checks = checks(&sent, &spans);
    let access_logs = crate::demo_traffic::access_logs(mesh, &sent, stop);
    Ok(Outcome {
        sent,
        spans,
        checks,
        access_logs,
    })
}

fn checks(sent: &[Sent], spans: &[ReceivedSpan]) -> Vec<Check> {
    let mut whole = 0;
    let mut problems = Vec::new();
    let dropped_kept: Vec<&Sent> = sent
        .iter()
        .filter(|s| !s.sampled() && is_kept_purpose(s.planned.purpose))
        .collect();
    for s in &dropped_kept {
        let trace = of_trace(spans, s.trace_id().unwrap_or_default());
        let reason = match s.planned.purpose {
            Purpose::Slow => "slow",
            _ => "error",
        };
        match check_chain(&trace) {
            Ok(())
                if trace
                    .iter()
                    .all(|x| x.attr_str("hoptrace.kept") == Some(reason)) =>
            {
                whole += 1;
            }
            Ok(()) => problems.push(format!(
                "{}: spans not marked hoptrace.kept={reason}",
                s.target
            )),
            Err(e) => problems.push(format!("{}: {e}", s.target)),
        }
    }
    let fast: Vec<&Sent> = sent
        .iter()
        .filter(|s| !s.sampled() && !is_kept_purpose(s.planned.purpose))
        .collect();
    let leaked = fast
        .iter()
        .filter(|s| !of_trace(spans, s.trace_id().unwrap_or_default()).is_empty())
        .count();
    vec![
        Check {
            ok: problems.is_empty(),
            text: if problems.is_empty() {
                format!(
                    "every failed or slow request the head sampler dropped arrived whole from 3 proxies, marked hoptrace.kept ({whole} of {})",
                    dropped_kept.len()
                )
            } else {
                format!("kept traces incomplete: {}", problems.join("; "))
            },
        },
        Check {
            ok: leaked == 0,
            text: format!(
                "the {} fast requests the head sampler dropped sent nothing ({leaked} did)",
                fast.len()
            ),
        },
    ]
}

/// The act's report: a line per request, the kept traces' waterfalls, the checks.
pub fn render(outcome: &Outcome, style: &Style) -> String {
    let mut out = format!(
        "\n{}\n",
        waterfall::paint(
            style,
            "\x1b[1m",
            &format!(
                "The same traffic at {} % head sampling, keep.errors on and keep.slower_than_ms {SLOWER_THAN_MS}:",
                RATIO * 100.0
            )
        )
    );
    for (n, s) in outcome.sent.iter().enumerate() {
        let id = s.trace_id().unwrap_or_default();
        let trace = outcome.trace(id);
        let verdict = match (
            s.sampled(),
            trace.first().and_then(|x| x.attr_str("hoptrace.kept")),
        ) {
            (true, _) => "sampled at the head".to_string(),
            (false, Some(reason)) => format!("the head sampler dropped it; kept ({reason})"),
            (false, None) => {
                "the head sampler dropped it; nothing sent (it ended well)".to_string()
            }
        };
        out.push_str(&format!(
            "{} {} GET {} → {} · {verdict}\n",
            waterfall::paint(style, "\x1b[1m", &format!("#{} {}", n + 1, s.planned.label)),
            waterfall::dim(style, "·"),
            s.target,
            s.status
        ));
        if !trace.is_empty() {
            out.push_str(&format!("   trace {id}\n"));
            out.push_str(&waterfall::render(&trace, style));
        }
    }
    out.push_str(&demo_traffic::render_checks(&outcome.checks, style));
    out
}

/// Starts the act's mesh.
pub fn start(schedule_delay_ms: u64) -> Result<Mesh> {
    Mesh::start(&plugins(schedule_delay_ms))
}
