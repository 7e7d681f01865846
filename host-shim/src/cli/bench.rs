//! `bench`: wall time and host calls per request, unsampled and sampled, next to a baseline.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hoptrace_shim::{CalloutResponse, Host, HostOptions};

use super::args::BenchArgs;

/// Requests between two flushes (virtual time moves, exports are answered).
const FLUSH_EVERY: usize = 256;

/// Virtual time a flush moves.
const FLUSH_STEP: Duration = Duration::from_secs(1);

/// Clusters an exporting filter may call during a bench.
const CLUSTERS: [&str; 1] = ["otlp_collector"];

/// One row of the table.
struct Row {
    module: String,
    kind: &'static str,
    request_us: f64,
    request_calls: f64,
    request_instructions: f64,
    export_us: f64,
    export_calls: f64,
}

/// What the requests of a row carry.
#[derive(Clone, Copy)]
enum Incoming {
    /// A `traceparent` whose sampled flag is as given.
    Context { sampled: bool },
    /// No context (edge traffic): the filter starts a trace and decides itself.
    Nothing,
}

/// The traceparent of request `i`: a fresh trace id, sampled flag as asked.
fn traceparent(i: usize, sampled: bool) -> String {
    let flags = if sampled { "01" } else { "00" };
    format!(
        "00-{:016x}{:016x}-00f067aa0ba902b7-{flags}",
        0x4bf9_2f35_77b3_4da6_u64,
        i as u64 + 1
    )
}

fn name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Totals over the requests of a row.
#[derive(Default)]
struct Totals {
    request_time: Duration,
    request_calls: u64,
    request_instructions: u64,
    flush_time: Duration,
    flush_calls: u64,
}

/// Runs `count` requests, flushing every [`FLUSH_EVERY`].
fn drive(host: &mut Host, count: usize, offset: usize, incoming: Incoming) -> Result<Totals> {
    let mut t = Totals::default();
    for i in 0..count {
        let mut headers = vec![
            (":method", "GET".to_string()),
            (":path", "/bench".to_string()),
            (":authority", "example.com".to_string()),
            (":scheme", "http".to_string()),
        ];
        if let Incoming::Context { sampled } = incoming {
            headers.push(("traceparent", traceparent(offset + i, sampled)));
        }
        let fuel_before = host.guest_instructions();
        let started = Instant::now();
        let mut req = host.request(headers.iter().map(|(k, v)| (*k, v.as_str())))?;
        req.respond(200, [("content-length", "0")])?;
        let report = req.end()?;
        t.request_time += started.elapsed();
        t.request_instructions += host.guest_instructions() - fuel_before;
        t.request_calls += report.total_host_calls();
        if (i + 1) % FLUSH_EVERY == 0 || i + 1 == count {
            let before = host.host_calls().total;
            let started = Instant::now();
            host.advance(FLUSH_STEP)?;
            for callout in host.callouts() {
                host.answer(callout.id, CalloutResponse::new(200))?;
            }
            t.flush_time += started.elapsed();
            t.flush_calls += host.host_calls().total - before;
        }
    }
    Ok(t)
}

fn measure(path: &Path, config: &str, n: usize, foreign_functions: bool) -> Result<Vec<Row>> {
    let options = HostOptions {
        clusters: CLUSTERS.iter().map(|c| c.to_string()).collect(),
        foreign_functions,
        ..Default::default()
    };
    let mut host = Host::load_with(path, config, options)
        .with_context(|| format!("loading {}", path.display()))?;
    let mut rows = Vec::new();
    let warmup = (n / 10).max(1);
    for (kind, incoming) in [
        ("unsampled", Incoming::Context { sampled: false }),
        ("sampled", Incoming::Context { sampled: true }),
        ("no context", Incoming::Nothing),
    ] {
        drive(&mut host, warmup, 0, incoming)?;
        let t = drive(&mut host, n, warmup, incoming)?;
        let per = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
        rows.push(Row {
            module: name(path),
            kind,
            request_us: per(t.request_time),
            request_calls: t.request_calls as f64 / n as f64,
            request_instructions: t.request_instructions as f64 / n as f64,
            export_us: per(t.flush_time),
            export_calls: t.flush_calls as f64 / n as f64,
        });
    }
    Ok(rows)
}

pub fn run(args: &BenchArgs) -> Result<()> {
    let baseline: PathBuf = match &args.baseline {
        Some(path) => path.clone(),
        None => args.wasm.with_file_name("floor_noop.wasm"),
    };
    let mut rows =
        measure(&baseline, "", args.requests, args.foreign_functions).with_context(|| {
            "the baseline (build it: cargo build --release --target wasm32-wasip1 -p floor-noop)"
        })?;
    rows.extend(measure(
        &args.wasm,
        &args.config,
        args.requests,
        args.foreign_functions,
    )?);

    println!(
        "hoptrace-shim bench: {} requests per row after {} warm-up{}",
        args.requests,
        (args.requests / 10).max(1),
        if cfg!(debug_assertions) {
            " (DEBUG BUILD: timings mean nothing, use --release)"
        } else {
            ""
        }
    );
    println!(
        "{:<24} {:<10} {:>11} {:>15} {:>16} {:>13} {:>17}",
        "module",
        "requests",
        "µs/request",
        "host calls/req",
        "wasm instr./req",
        "export µs/req",
        "export calls/req"
    );
    for r in &rows {
        println!(
            "{:<24} {:<10} {:>11.2} {:>15.2} {:>16.0} {:>13.2} {:>17.2}",
            r.module,
            r.kind,
            r.request_us,
            r.request_calls,
            r.request_instructions,
            r.export_us,
            r.export_calls
        );
    }
    if let [base_u, base_s, _, u, s, _] = rows.as_slice() {
        println!(
            "overhead vs {}: unsampled {:+.2} µs and {:+.2} host calls per request; sampled {:+.2} µs and {:+.2} host calls (+{:.2} µs, {:.2} calls exporting)",
            base_u.module,
            u.request_us - base_u.request_us,
            u.request_calls - base_u.request_calls,
            s.request_us - base_s.request_us,
            s.request_calls - base_s.request_calls,
            s.export_us,
            s.export_calls,
        );
    }
    Ok(())
}
