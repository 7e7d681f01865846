//! Bounded local load and what it costs: a `wrk` run against a 127.0.0.1 port with its `--latency`
//! report parsed (percentiles, non-2xx responses, socket errors), and a sampler of a process's
//! resident memory (`VmRSS` in `/proc/<pid>/status`) that keeps the peak while a run goes on.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

/// How long past its own duration a wrk run may take before it is killed.
pub const WRK_GRACE: Duration = Duration::from_secs(15);

/// A wrk run: `wrk -t<threads> -c<connections> -d<duration> --timeout <timeout> --latency`.
#[derive(Debug, Clone)]
pub struct Wrk {
    /// Length of the run.
    pub duration: Duration,
    /// Open connections (kept alive).
    pub connections: u32,
    /// wrk threads.
    pub threads: u32,
    /// A request slower than this counts as a socket timeout error.
    pub timeout: Duration,
    /// Request path.
    pub path: String,
    /// Extra request headers (`name: value`).
    pub headers: Vec<String>,
}

impl Wrk {
    /// One thread, `connections` connections, `duration`, 2 s request timeout, path `/`.
    pub fn new(duration: Duration, connections: u32) -> Wrk {
        Wrk {
            duration,
            connections,
            threads: 1,
            timeout: Duration::from_secs(2),
            path: "/".into(),
            headers: Vec::new(),
        }
    }

    /// Runs against `127.0.0.1:port` and parses the report.
    pub fn run(&self, port: u16) -> Result<LoadResult> {
        let wrk = wrk_binary()?;
        let secs = |d: Duration| format!("{}s", d.as_secs_f64().max(1.0).round() as u64);
        let mut cmd = Command::new(&wrk);
        cmd.arg(format!("-t{}", self.threads))
            .arg(format!("-c{}", self.connections))
            .arg(format!("-d{}", secs(self.duration)))
            .arg("--timeout")
            .arg(secs(self.timeout))
            .arg("--latency");
        for header in &self.headers {
            cmd.arg("-H").arg(header);
        }
        cmd.arg(format!("http://127.0.0.1:{port}{}", self.path))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .with_context(|| format!("spawn {}", wrk.display()))?;
        let deadline = Instant::now() + self.duration + WRK_GRACE;
        loop {
            if child.try_wait()?.is_some() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("wrk did not finish within {:?}", self.duration + WRK_GRACE);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            bail!(
                "wrk failed ({}): {text}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        parse_wrk(&text).with_context(|| format!("wrk report:\n{text}"))
    }
}

/// Several back-to-back wrk runs of one phase. On a shared machine a burst of someone else's work
/// lands in one window; the median window's p99 is what the phase itself costs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Windows {
    /// Each window's result, in order.
    pub runs: Vec<LoadResult>,
}

impl Windows {
    /// Runs `wrk` `n` times back to back (each `wrk.duration` long) against `127.0.0.1:port`.
    pub fn run(wrk: &Wrk, port: u16, n: u32) -> Result<Windows> {
        let runs = (0..n.max(1))
            .map(|_| wrk.run(port))
            .collect::<Result<Vec<_>>>()?;
        Ok(Windows { runs })
    }

    /// Requests completed in all windows.
    pub fn requests(&self) -> u64 {
        self.runs.iter().map(|r| r.requests).sum()
    }

    /// Non-2xx responses and socket errors in all windows.
    pub fn failed(&self) -> u64 {
        self.runs.iter().map(LoadResult::failed).sum()
    }

    /// Non-2xx responses in all windows.
    pub fn non_2xx(&self) -> u64 {
        self.runs.iter().map(|r| r.non_2xx).sum()
    }

    /// Socket errors in all windows.
    pub fn socket_errors(&self) -> u64 {
        self.runs.iter().map(|r| r.errors.total()).sum()
    }

    /// The median of the windows' p99 (the lower middle one for an even count).
    pub fn p99(&self) -> Duration {
        let mut p99s: Vec<Duration> = self.runs.iter().map(|r| r.p99).collect();
        p99s.sort();
        p99s.get(p99s.len().saturating_sub(1) / 2)
            .copied()
            .unwrap_or_default()
    }

    /// The worst window's p99.
    pub fn p99_max(&self) -> Duration {
        self.runs.iter().map(|r| r.p99).max().unwrap_or_default()
    }

    /// Mean requests per second over the windows.
    pub fn rps(&self) -> f64 {
        if self.runs.is_empty() {
            return 0.0;
        }
        self.runs.iter().map(|r| r.rps).sum::<f64>() / self.runs.len() as f64
    }
}

/// wrk's socket error counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SocketErrors {
    /// Failed connects.
    pub connect: u64,
    /// Failed reads (includes connections the server closed).
    pub read: u64,
    /// Failed writes.
    pub write: u64,
    /// Requests slower than the timeout.
    pub timeout: u64,
}

impl SocketErrors {
    /// All of them.
    pub fn total(&self) -> u64 {
        self.connect + self.read + self.write + self.timeout
    }
}

/// What one wrk run measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadResult {
    /// Requests completed.
    pub requests: u64,
    /// Requests per second.
    pub rps: f64,
    /// Latency percentiles.
    pub p50: Duration,
    /// 75th percentile.
    pub p75: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// The slowest request.
    pub max: Duration,
    /// Responses that were not 2xx or 3xx.
    pub non_2xx: u64,
    /// Socket errors.
    pub errors: SocketErrors,
}

impl LoadResult {
    /// Requests that failed in any way wrk can see.
    pub fn failed(&self) -> u64 {
        self.non_2xx + self.errors.total()
    }
}

/// Parses wrk's `--latency` report.
pub fn parse_wrk(text: &str) -> Result<LoadResult> {
    let mut r = LoadResult::default();
    let mut seen_distribution = false;
    let mut seen_requests = false;
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Latency", _avg, _stdev, max, ..] => r.max = parse_duration(max)?,
            ["Latency", "Distribution"] => seen_distribution = true,
            [pct, value] if seen_distribution && pct.ends_with('%') => {
                let d = parse_duration(value)?;
                match *pct {
                    "50%" => r.p50 = d,
                    "75%" => r.p75 = d,
                    "90%" => r.p90 = d,
                    "99%" => r.p99 = d,
                    _ => {}
                }
            }
            [n, "requests", "in", ..] => {
                r.requests = n.parse().context("request count")?;
                seen_requests = true;
            }
            ["Socket", "errors:", rest @ ..] => r.errors = parse_socket_errors(rest)?,
            ["Non-2xx", "or", "3xx", "responses:", n] => r.non_2xx = n.parse()?,
            ["Requests/sec:", n] => r.rps = n.parse()?,
            _ => {}
        }
    }
    if !seen_distribution || !seen_requests {
        bail!("not a wrk --latency report");
    }
    Ok(r)
}

/// `connect 0, read 1, write 0, timeout 2`.
fn parse_socket_errors(words: &[&str]) -> Result<SocketErrors> {
    let mut e = SocketErrors::default();
    for pair in words.chunks(2) {
        let [name, n] = pair else {
            bail!("socket errors: {words:?}");
        };
        let n: u64 = n.trim_end_matches(',').parse()?;
        match *name {
            "connect" => e.connect = n,
            "read" => e.read = n,
            "write" => e.write = n,
            "timeout" => e.timeout = n,
            other => bail!("socket errors: unknown {other:?}"),
        }
    }
    Ok(e)
}

/// wrk's durations: `812.00us`, `1.23ms`, `2.00s`, `1.50m`.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .ok_or_else(|| anyhow!("duration {text:?} has no unit"))?;
    let (number, unit) = text.split_at(split);
    let n: f64 = number
        .parse()
        .with_context(|| format!("duration {text:?}"))?;
    let secs = match unit {
        "us" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => bail!("duration {text:?}: unknown unit"),
    };
    Ok(Duration::from_secs_f64(secs))
}

/// The wrk binary on `PATH`; installs Debian's `wrk` with apt-get when it is missing.
pub fn wrk_binary() -> Result<PathBuf> {
    if let Some(path) = find_on_path("wrk") {
        return Ok(path);
    }
    let status = Command::new("apt-get")
        .args(["install", "-y", "-qq", "wrk"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .context("wrk is missing and apt-get could not run: install wrk")?;
    if !status.success() {
        bail!("wrk is missing and `apt-get install -y wrk` failed ({status}): install wrk");
    }
    find_on_path("wrk").ok_or_else(|| anyhow!("wrk still not on PATH after apt-get install"))
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A process's resident memory in KiB (`VmRSS`), or `None` when it has exited.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Samples a process's RSS on a thread until stopped; keeps the peak (and the peak since the last
/// [`RssSampler::reset_peak`]).
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    window_peak: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
    pid: u32,
}

impl RssSampler {
    /// Starts sampling `pid` every `every`.
    pub fn start(pid: u32, every: Duration) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(rss_kib(pid).unwrap_or(0)));
        let window_peak = Arc::new(AtomicU64::new(peak.load(Ordering::SeqCst)));
        let thread = {
            let (stop, peak, window_peak) = (
                Arc::clone(&stop),
                Arc::clone(&peak),
                Arc::clone(&window_peak),
            );
            std::thread::Builder::new()
                .name("rss-sampler".into())
                .spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        if let Some(kib) = rss_kib(pid) {
                            peak.fetch_max(kib, Ordering::SeqCst);
                            window_peak.fetch_max(kib, Ordering::SeqCst);
                        }
                        std::thread::sleep(every);
                    }
                })
                .ok()
        };
        RssSampler {
            stop,
            peak,
            window_peak,
            thread,
            pid,
        }
    }

    /// The highest RSS seen since the start, KiB.
    pub fn peak_kib(&self) -> u64 {
        self.peak
            .load(Ordering::SeqCst)
            .max(rss_kib(self.pid).unwrap_or(0))
    }

    /// The highest RSS seen since the last call (or the start), KiB; starts a new window.
    pub fn reset_peak(&self) -> u64 {
        let now = rss_kib(self.pid).unwrap_or(0);
        self.window_peak.swap(now, Ordering::SeqCst).max(now)
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "Running 3s test @ http://127.0.0.1:10000/
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.10ms    1.05ms  31.52ms   93.10%
    Req/Sec     3.90k   210.33     4.20k    70.00%
  Latency Distribution
     50%    1.90ms
     75%    2.31ms
     90%    2.90ms
     99%  812.00us
  11653 requests in 3.00s, 1.64MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 5
Requests/sec:   3883.21
Transfer/sec:    559.94KB
";

    #[test]
    fn parses_a_latency_report() {
        let r = parse_wrk(REPORT).unwrap();
        assert_eq!(r.requests, 11653);
        assert_eq!(r.p50, Duration::from_micros(1900));
        assert_eq!(r.p99, Duration::from_micros(812));
        assert_eq!(r.max, Duration::from_micros(31520));
        assert_eq!(r.non_2xx, 5);
        assert_eq!(
            r.errors,
            SocketErrors {
                connect: 0,
                read: 2,
                write: 0,
                timeout: 1
            }
        );
        assert_eq!(r.failed(), 8);
        assert!((r.rps - 3883.21).abs() < 1e-6);
    }

    #[test]
    fn a_clean_report_has_no_errors() {
        let clean = REPORT
            .replace(
                "  Socket errors: connect 0, read 2, write 0, timeout 1\n",
                "",
            )
            .replace("  Non-2xx or 3xx responses: 5\n", "");
        assert_eq!(parse_wrk(&clean).unwrap().failed(), 0);
    }

    #[test]
    fn windows_take_the_median_p99() {
        let window = |ms: u64| LoadResult {
            requests: 10,
            p99: Duration::from_millis(ms),
            non_2xx: 1,
            ..LoadResult::default()
        };
        let w = Windows {
            runs: vec![window(30), window(2), window(3)],
        };
        assert_eq!(w.p99(), Duration::from_millis(3));
        assert_eq!(w.p99_max(), Duration::from_millis(30));
        assert_eq!((w.requests(), w.failed()), (30, 3));
    }

    #[test]
    fn durations_in_every_unit() {
        assert_eq!(
            parse_duration("812.00us").unwrap(),
            Duration::from_micros(812)
        );
        assert_eq!(parse_duration("2.00s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1.50m").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("12").is_err());
    }

    #[test]
    fn rss_of_this_process() {
        assert!(rss_kib(std::process::id()).unwrap() > 0);
    }
}
