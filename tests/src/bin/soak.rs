//! `make soak`: the long form of the collector-fault tests. For each fault, a fresh 1-worker Envoy
//! gateway with hoptrace at 100 % runs a healthy phase and then the fault without a break under wrk
//! load (10 s windows), then recovers; the numbers go to `bench/soak-results.md` (and stdout) with the
//! command that made them. Exits non-zero when any bound is broken (the same bounds as the short
//! form in `make test`).
//!
//! ```text
//! soak [--healthy-secs 20] [--fault-secs 60] [--only <fault name prefix>] [--out bench/soak-results.md]
//! ```

use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use hoptrace_e2e::envoy::{tail, LOG_TAIL_LINES};
use hoptrace_e2e::fault_scenario::{self, Bounds, FaultRun, Phases, Row};
use hoptrace_e2e::paths;

struct Args {
    healthy: Duration,
    fault: Duration,
    only: Option<String>,
    out: std::path::PathBuf,
}

fn args() -> Result<Args> {
    let mut a = Args {
        healthy: Duration::from_secs(20),
        fault: Duration::from_secs(60),
        only: None,
        out: paths::workspace_root().join("bench/soak-results.md"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--healthy-secs" => a.healthy = Duration::from_secs(value()?.parse()?),
            "--fault-secs" => a.fault = Duration::from_secs(value()?.parse()?),
            "--only" => a.only = Some(value()?),
            "--out" => a.out = value()?.into(),
            "-h" | "--help" => {
                println!(
                    "soak [--healthy-secs 20] [--fault-secs 60] [--only <fault>] [--out <file>]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    Ok(a)
}

/// The first non-empty line a command prints, or `unknown`.
fn first_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "unknown".into())
}

fn main() -> Result<()> {
    let args = args()?;
    let phases = Phases::long(args.healthy, args.fault);
    let bounds = Bounds::short();
    let cases: Vec<_> = fault_scenario::cases()
        .into_iter()
        .filter(|c| args.only.as_ref().is_none_or(|o| c.name.starts_with(o)))
        .collect();
    if cases.is_empty() {
        bail!("no fault matches {:?}", args.only);
    }
    // `<path>  version: <sha>/1.40.0/Clean/RELEASE/BoringSSL`: keep what follows `version:`.
    let envoy_version = first_line(
        &paths::envoy_binary()?.display().to_string(),
        &["--version"],
    );
    let envoy_version = match envoy_version.split_once("version: ") {
        Some((_, v)) => format!("Envoy {}", v.split('/').nth(1).unwrap_or(v)),
        None => envoy_version,
    };
    let started = Instant::now();
    let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();

    let mut rows = Vec::new();
    let mut broken = Vec::new();
    for case in &cases {
        eprintln!(
            "soak: {} ({:?} healthy, {:?} fault)…",
            case.name, phases.healthy, phases.fault
        );
        let run = FaultRun::start(1)?;
        let row = run.measure(case, &phases)?;
        let violations = row.violations(&bounds);
        println!("{}", row.table_line());
        if !violations.is_empty() {
            eprintln!(
                "soak: {} broke its bounds:\n  {}\nEnvoy log tail:\n{}",
                case.name,
                violations.join("\n  "),
                tail(&run.envoy.log(), LOG_TAIL_LINES)
            );
            broken.push((case.name, violations));
        }
        rows.push(row);
    }

    let mut md = String::new();
    writeln!(md, "# Soak results: collector faults under load\n")?;
    writeln!(
        md,
        "Made by `make soak` (`soak --healthy-secs {} --fault-secs {}`), {} on {} ({} cores, load \
         average at start {}), {envoy_version}, in {:.0} s.\n",
        args.healthy.as_secs(),
        args.fault.as_secs(),
        first_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        first_line("uname", &["-sr"]),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_before
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        started.elapsed().as_secs_f64()
    )?;
    writeln!(
        md,
        "Each fault: a fresh 1-worker Envoy gateway (two VMs: the worker's and the main thread's), \
         hoptrace at 100 % sampling (SERVER + CLIENT span per request), `wrk -t1 -c{}` on \
         127.0.0.1 in {} s windows; {} s against a healthy collector, then {} s of the fault without \
         a break, then recovery. p99 is the median window's. Plugin configuration:\n",
        phases.connections,
        (phases.fault / phases.windows).as_secs(),
        args.healthy.as_secs(),
        args.fault.as_secs()
    )?;
    writeln!(md, "```json\n{}\n```\n", fault_scenario::plugin_config())?;
    writeln!(
        md,
        "Bounds: no failed request; fault p99 ≤ {} × healthy p99 + {} ms; RSS peak during the fault \
         ≤ healthy peak + {} MiB; the identity exact at the fault's end and after recovery; \
         exported = spans the collector accepted; recovery within the stated bound; filter log \
         lines within the rate limit.\n",
        bounds.p99_factor,
        bounds.p99_slack.as_millis(),
        bounds.rss_growth_kib / 1024
    )?;
    writeln!(md, "{}", Row::table_header())?;
    for row in &rows {
        writeln!(md, "{}", row.table_line())?;
    }
    if broken.is_empty() {
        writeln!(md, "\nEvery bound held.")?;
    } else {
        writeln!(md, "\nBroken bounds:\n")?;
        for (name, violations) in &broken {
            writeln!(md, "- {name}: {}", violations.join("; "))?;
        }
    }
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, &md).with_context(|| format!("write {}", args.out.display()))?;
    println!("\n{md}");
    eprintln!("soak: wrote {}", args.out.display());
    if !broken.is_empty() {
        bail!("{} fault(s) broke their bounds", broken.len());
    }
    Ok(())
}
