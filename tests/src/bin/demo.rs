//! `demo` (`make demo`): starts the demo mesh on 127.0.0.1 (an OTLP/HTTP receiver, two services, an
//! edge gateway Envoy and a sidecar Envoy per service, all with hoptrace), sends a mix of requests,
//! prints each trace as a waterfall with a verdict, and writes every span as one OTLP/JSON document
//! for Jaeger's UI. Exits on its own (non-zero if a check failed); `DEMO_KEEP=1` keeps the mesh up
//! for the user's own requests until Ctrl-C. Every process it started is stopped on the way out, on
//! Ctrl-C (SIGINT) and SIGTERM too: the mesh's handles kill and reap their children by pid.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use hoptrace_e2e::demo_keep;
use hoptrace_e2e::demo_traffic::{self, Outcome};
use hoptrace_e2e::mesh::{Mesh, MeshPlugins};
use hoptrace_e2e::otlp::of_trace;
use hoptrace_e2e::paths;
use hoptrace_e2e::waterfall::{self, Style};

/// Export batching delay of every proxy: short, so the run is quick and a kept mesh shows new traces
/// about a second after the request.
const SCHEDULE_DELAY_MS: u64 = 300;
/// The OTLP/JSON file, relative to the workspace root.
const TRACES_FILE: &str = "target/demo/traces.json";
/// In keep mode, a trace is printed once no new span of it arrived for this long.
const SETTLE: Duration = Duration::from_millis(1500);
/// Exit status after an interrupt before the checks ran (128 + SIGINT, as shells report it).
const INTERRUPTED: u8 = 130;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_signal: libc::c_int) {
    // Only an atomic store: async-signal-safe. The main thread polls the flag and drops the mesh.
    STOP.store(true, Ordering::SeqCst);
}

/// Routes SIGINT and SIGTERM to [`STOP`] instead of killing the process, so the mesh's `Drop` runs.
fn install_signal_handlers() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: `on_signal` is an `extern "C"` fn that only stores to a static atomic.
        unsafe {
            libc::signal(signal, handler);
        }
    }
}

fn stopped() -> bool {
    STOP.load(Ordering::SeqCst)
}

fn keep_requested() -> bool {
    std::env::var("DEMO_KEEP").is_ok_and(|v| !v.is_empty() && v != "0")
}

fn main() -> ExitCode {
    install_signal_handlers();
    match run() {
        Ok(code) => code,
        Err(_) if stopped() => {
            println!("\ninterrupted: every process the demo started is stopped");
            ExitCode::from(INTERRUPTED)
        }
        Err(e) => {
            eprintln!("demo failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<ExitCode> {
    let started = Instant::now();
    let style = Style::for_stdout();
    let keep = keep_requested();
    println!(
        "hoptrace demo: an OTLP receiver, two services and three Envoys with hoptrace.wasm on 127.0.0.1"
    );
    let mesh = Mesh::start(&MeshPlugins::demo(SCHEDULE_DELAY_MS))?;
    if stopped() {
        return Ok(interrupted());
    }
    print!("{}", topology(&mesh, &style));

    let outcome = demo_traffic::run(&mesh, &stopped)?;
    if stopped() {
        return Ok(interrupted());
    }
    print!("{}", demo_traffic::render_report(&outcome, &style));
    let file = write_traces(&mesh)?;
    println!(
        "wrote {} spans as OTLP/JSON (one ExportTraceServiceRequest) to {}\n  \
         open it in Jaeger's UI (1.54 or later): Search → Upload → choose the file",
        outcome.spans.len(),
        file.display()
    );

    // The second act: the same traffic at 1 % with keep on, in a mesh of its own.
    let keep_mesh = demo_keep::start(SCHEDULE_DELAY_MS)?;
    let kept = demo_keep::run(&keep_mesh, &stopped, demo_traffic::SPAN_WAIT)?;
    drop(keep_mesh);
    if stopped() {
        return Ok(interrupted());
    }
    print!("{}", demo_keep::render(&kept, &style));
    println!("done in {:.1} s", started.elapsed().as_secs_f64());

    if keep {
        keep_up(&mesh, &outcome, &style)?;
    }
    drop(mesh);
    Ok(if outcome.ok() && kept.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn interrupted() -> ExitCode {
    println!("\ninterrupted: every process the demo started is stopped");
    ExitCode::from(INTERRUPTED)
}

/// Who listens where, with the pid of every process.
fn topology(mesh: &Mesh, style: &Style) -> String {
    let d = |t: &str| waterfall::dim(style, t);
    let envoy = |name: &str, e: &hoptrace_e2e::Envoy, listeners: &str| {
        format!(
            "  {name:<10} Envoy pid {:<8} {listeners}  {}\n",
            e.pid(),
            d(&format!("admin :{}", e.admin_port()))
        )
    };
    let mut out = String::new();
    out.push_str(&envoy(
        "gateway",
        &mesh.gateway,
        &format!(
            ":{} (edge, SERVER + CLIENT spans, trust_incoming false)",
            mesh.entry_port()
        ),
    ));
    out.push_str(&envoy(
        "sidecar-a",
        &mesh.sidecar_a,
        &format!(
            "inbound :{} → svc-a :{}, outbound :{} → sidecar-b",
            mesh.sidecar_a.port("inbound"),
            mesh.app_a.port(),
            mesh.sidecar_a.port("outbound")
        ),
    ));
    out.push_str(&envoy(
        "sidecar-b",
        &mesh.sidecar_b,
        &format!(
            "inbound :{} → svc-b :{}",
            mesh.sidecar_b.port("inbound"),
            mesh.app_b.port()
        ),
    ));
    out.push_str(&format!(
        "  {:<10} OTLP/HTTP :{}/v1/traces (decoded with the opentelemetry-proto schema)\n",
        "receiver",
        mesh.receiver.port()
    ));
    out.push_str(&d(
        "  client → gateway → sidecar-a → svc-a → sidecar-a (outbound) → sidecar-b → svc-b\n",
    ));
    out
}

/// Writes every span received so far to [`TRACES_FILE`]; returns the path as the user should type it.
fn write_traces(mesh: &Mesh) -> Result<PathBuf> {
    let path = paths::workspace_root().join(TRACES_FILE);
    demo_traffic::write_json(&path, &demo_traffic::merged_export(&mesh.receiver))?;
    Ok(shown(&path))
}

/// `path` relative to the current directory when it is under it.
fn shown(path: &Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
}

/// `DEMO_KEEP=1`: print the URLs and example requests, then show each new trace as it settles until
/// Ctrl-C; rewrite the traces file on the way out.
fn keep_up(mesh: &Mesh, outcome: &Outcome, style: &Style) -> Result<()> {
    let gw = mesh.entry_port();
    let via_b = |leaf: &str| format!("http://127.0.0.1:{gw}{}", mesh.path_via_b(leaf));
    println!("\nDEMO_KEEP: the mesh stays up until Ctrl-C.");
    println!("  gateway   http://127.0.0.1:{gw}/");
    for (name, envoy) in mesh.envoys() {
        println!(
            "  {name:<9} admin http://127.0.0.1:{}/stats?filter=hoptrace",
            envoy.admin_port()
        );
    }
    println!(
        "  receiver  http://127.0.0.1:{}/v1/traces (POST, OTLP/HTTP)",
        mesh.receiver.port()
    );
    println!("try:");
    println!("  curl -i '{}'", via_b("/hello"));
    println!("  curl -i '{}'", via_b("/status/503"));
    println!("  curl -i '{}'", via_b("/slow/700"));
    println!("  curl -i http://127.0.0.1:{gw}/only-svc-a");
    println!(
        "  curl -i -H 'traceparent: 00-{}-{}-01' http://127.0.0.1:{gw}/",
        demo_traffic::CLIENT_TRACE_ID,
        demo_traffic::CLIENT_SPAN_ID
    );
    println!("new traces show up here about a second after the request; Ctrl-C stops everything.");

    let mut shown_traces: BTreeSet<String> = outcome
        .spans
        .iter()
        .map(hoptrace_e2e::ReceivedSpan::trace_id)
        .collect();
    while !stopped() {
        std::thread::sleep(Duration::from_millis(200));
        for trace_id in settled_traces(mesh, &shown_traces) {
            let spans = mesh.receiver.spans();
            let trace = of_trace(&spans, &trace_id);
            println!("\ntrace {trace_id}");
            print!("{}", waterfall::render(&trace, style));
            shown_traces.insert(trace_id);
        }
    }
    let file = write_traces(mesh)?;
    println!(
        "\nstopping; wrote {} spans to {}",
        mesh.receiver.spans().len(),
        file.display()
    );
    Ok(())
}

/// Traces not yet shown whose latest span arrived at least [`SETTLE`] ago, oldest first.
fn settled_traces(mesh: &Mesh, shown_traces: &BTreeSet<String>) -> Vec<String> {
    let mut last_seen: BTreeMap<String, Instant> = BTreeMap::new();
    for request in mesh.receiver.requests().iter().filter(|r| r.accepted) {
        let Ok(decoded) = &request.decoded else {
            continue;
        };
        for span in hoptrace_e2e::otlp::flatten(decoded) {
            let at = last_seen
                .entry(span.trace_id())
                .or_insert(request.received_at);
            *at = (*at).max(request.received_at);
        }
    }
    let mut ready: Vec<(Instant, String)> = last_seen
        .into_iter()
        .filter(|(id, at)| !shown_traces.contains(id) && at.elapsed() >= SETTLE)
        .map(|(id, at)| (at, id))
        .collect();
    ready.sort();
    ready.into_iter().map(|(_, id)| id).collect()
}
