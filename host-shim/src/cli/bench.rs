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
    export_us: f64,
    export_calls: f64,
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

/// Runs `count` requests, flushing every [`FLUSH_EVERY`]; returns (request time, request host
/// calls, flush time, flush host calls).
fn drive(
    host: &mut Host,
    count: usize,
    offset: usize,
    sampled: bool,
) -> Result<(Duration, u64, Duration, u64)> {
    let (mut request_time, mut request_calls) = (Duration::ZERO, 0);
    let (mut flush_time, mut flush_calls) = (Duration::ZERO, 0);
    for i in 0..count {
        let tp = traceparent(offset + i, sampled);
        let headers = [
            (":method", "GET"),
            (":path", "/bench"),
            (":authority", "example.com"),
            (":scheme", "http"),
            ("traceparent", tp.as_str()),
        ];
        let started = Instant::now();
        let mut req = host.request(headers)?;
        req.respond(200, [("content-length", "0")])?;
        let report = req.end()?;
        request_time += started.elapsed();
        request_calls += report.total_host_calls();
        if (i + 1) % FLUSH_EVERY == 0 || i + 1 == count {
            let before = host.host_calls().total;
            let started = Instant::now();
            host.advance(FLUSH_STEP)?;
            for callout in host.callouts() {
                host.answer(callout.id, CalloutResponse::new(200))?;
            }
            flush_time += started.elapsed();
            flush_calls += host.host_calls().total - before;
        }
    }
    Ok((request_time, request_calls, flush_time, flush_calls))
}

fn measure(path: &Path, config: &str, n: usize) -> Result<Vec<Row>> {
    let options = HostOptions {
        clusters: CLUSTERS.iter().map(|c| c.to_string()).collect(),
        ..Default::default()
    };
    let mut host = Host::load_with(path, config, options)
        .with_context(|| format!("loading {}", path.display()))?;
    let mut rows = Vec::new();
    let warmup = (n / 10).max(1);
    for (kind, sampled) in [("unsampled", false), ("sampled", true)] {
        drive(&mut host, warmup, 0, sampled)?;
        let (rt, rc, ft, fc) = drive(&mut host, n, warmup, sampled)?;
        let per = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
        rows.push(Row {
            module: name(path),
            kind,
            request_us: per(rt),
            request_calls: rc as f64 / n as f64,
            export_us: per(ft),
            export_calls: fc as f64 / n as f64,
        });
    }
    Ok(rows)
}

pub fn run(args: &BenchArgs) -> Result<()> {
    let baseline: PathBuf = match &args.baseline {
        Some(path) => path.clone(),
        None => args.wasm.with_file_name("floor_noop.wasm"),
    };
    let mut rows = measure(&baseline, "", args.requests).with_context(|| {
        "the baseline (build it: cargo build --release --target wasm32-wasip1 -p floor-noop)"
    })?;
    rows.extend(measure(&args.wasm, &args.config, args.requests)?);

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
        "{:<24} {:<10} {:>11} {:>15} {:>13} {:>17}",
        "module", "requests", "µs/request", "host calls/req", "export µs/req", "export calls/req"
    );
    for r in &rows {
        println!(
            "{:<24} {:<10} {:>11.2} {:>15.2} {:>13.2} {:>17.2}",
            r.module, r.kind, r.request_us, r.request_calls, r.export_us, r.export_calls
        );
    }
    if let [base_u, base_s, u, s] = rows.as_slice() {
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
