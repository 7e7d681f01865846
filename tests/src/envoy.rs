//! A real Envoy process for one test: started with a generated bootstrap in its own temp dir, on
//! 127.0.0.1 ports it picks itself (read back from the admin API), ready when `/ready` says so, killed
//! and reaped when dropped. A failing test gets the tail of Envoy's log on stderr. Also
//! `envoy --mode validate` for checking configs without serving.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};

use crate::admin;
use crate::config::{EnvoyConfig, LDS_DIR, LDS_FILE};
use crate::paths;
use crate::tempdir::TempDir;

/// How long Envoy may take to become ready (V8 compiles the module once per VM).
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `--mode validate` may run.
pub const VALIDATE_TIMEOUT: Duration = Duration::from_secs(60);
/// Log lines shown when a test fails.
pub const LOG_TAIL_LINES: usize = 60;

static INSTANCE: AtomicU32 = AtomicU32::new(0);

/// A unique `--base-id` per Envoy of this process, so parallel Envoys never share hot-restart memory.
fn next_base_id() -> u32 {
    let n = INSTANCE.fetch_add(1, Ordering::Relaxed);
    (std::process::id() % 400_000)
        .wrapping_mul(1000)
        .wrapping_add(n % 1000)
}

/// Why Envoy did not come up, with its log.
#[derive(Debug)]
pub struct StartFailure {
    /// What went wrong.
    pub reason: String,
    /// The exit status if Envoy exited.
    pub status: Option<ExitStatus>,
    /// Envoy's whole log.
    pub log: String,
}

impl fmt::Display for StartFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Envoy did not start: {}", self.reason)?;
        if let Some(status) = self.status {
            writeln!(f, "exit status: {status}")?;
        }
        write!(f, "log tail:\n{}", tail(&self.log, LOG_TAIL_LINES))
    }
}

impl std::error::Error for StartFailure {}

/// A running Envoy; dropping it kills it and waits for it.
pub struct Envoy {
    child: Child,
    dir: TempDir,
    admin_port: u16,
    ports: BTreeMap<String, u16>,
    log_path: PathBuf,
    workers: u32,
}

impl Envoy {
    /// Starts Envoy with `config` and waits until it is ready.
    pub fn start(config: &EnvoyConfig) -> std::result::Result<Envoy, StartFailure> {
        let fail = |reason: String| StartFailure {
            reason,
            status: None,
            log: String::new(),
        };
        let envoy = paths::envoy_binary().map_err(|e| fail(format!("{e:#}")))?;
        let dir = TempDir::new("envoy").map_err(|e| fail(format!("temp dir: {e}")))?;
        let config_path = config
            .write(&dir.path().join("envoy.yaml"))
            .map_err(|e| fail(format!("{e:#}")))?;
        let log_path = dir.path().join("envoy.log");
        let admin_path = dir.path().join("admin-address");
        let log = File::create(&log_path).map_err(|e| fail(format!("log file: {e}")))?;
        let log_err = log
            .try_clone()
            .map_err(|e| fail(format!("log file: {e}")))?;
        let child = Command::new(&envoy)
            .arg("-c")
            .arg(&config_path)
            .arg("--concurrency")
            .arg(config.workers().to_string())
            .arg("--base-id")
            .arg(next_base_id().to_string())
            .arg("--disable-hot-restart")
            // Access-log files are flushed every 10 s by default; a test reads them at once.
            .arg("--file-flush-interval-msec")
            .arg("100")
            .arg("--admin-address-path")
            .arg(&admin_path)
            .args(["-l", "info"])
            // A replaced listener's filter chains (and its plugin root) go after this drain.
            .args(if config.has_dynamic_listeners() {
                &["--drain-time-s", "1"][..]
            } else {
                &[][..]
            })
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .spawn()
            .map_err(|e| fail(format!("spawn {}: {e}", envoy.display())))?;
        let mut envoy = Envoy {
            child,
            dir,
            admin_port: 0,
            ports: BTreeMap::new(),
            log_path,
            workers: config.workers(),
        };
        match envoy.wait_ready(&admin_path) {
            Ok(()) => Ok(envoy),
            Err(e) => {
                let status = envoy.child.try_wait().ok().flatten();
                let _ = envoy.child.kill();
                let _ = envoy.child.wait();
                Err(StartFailure {
                    reason: format!("{e:#}"),
                    status,
                    log: envoy.log(),
                })
                // `envoy` drops here: the child is already reaped, so Drop's kill is a no-op.
            }
        }
    }

    fn wait_ready(&mut self, admin_path: &Path) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(anyhow!("Envoy exited with {status} before it was ready"));
            }
            if Instant::now() > deadline {
                return Err(anyhow!("not ready after {READY_TIMEOUT:?}"));
            }
            if self.admin_port == 0 {
                self.admin_port = read_admin_port(admin_path).unwrap_or(0);
            }
            if self.admin_port != 0 && admin::ready(self.admin_port) {
                self.ports = admin::listener_ports(self.admin_port)?;
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The port listener `name` bound. Panics with the known names if there is no such listener: that
    /// is a typo in a test, which should fail loudly rather than thread a `Result` through every call.
    #[allow(clippy::panic, reason = "harness misuse fails the calling test")]
    pub fn port(&self, name: &str) -> u16 {
        match self.ports.get(name) {
            Some(port) => *port,
            None => panic!("no listener {name:?}; listeners: {:?}", self.ports.keys()),
        }
    }

    /// The admin port.
    pub fn admin_port(&self) -> u16 {
        self.admin_port
    }

    /// Worker threads it runs (VMs = workers + 1).
    pub fn workers(&self) -> u32 {
        self.workers
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The scratch directory (config and log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The whole log so far.
    pub fn log(&self) -> String {
        std::fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Waits up to `timeout` for a log line containing `needle`; true if it appeared.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.log().contains(needle) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Replaces the listeners of an Envoy started with [`EnvoyConfig::dynamic_listeners`] by
    /// `config`'s, as a control plane would: the new file is written next to the watched
    /// directory and renamed into it, so Envoy never reads half a file. Returns once Envoy has
    /// applied it (`listener_manager.lds.update_success` went up).
    pub fn update_listeners(&self, config: &EnvoyConfig, timeout: Duration) -> Result<()> {
        let updates = || -> Result<u64> {
            Ok(self
                .stats("listener_manager.lds.update_success")?
                .get("listener_manager.lds.update_success")
                .copied()
                .unwrap_or(0))
        };
        let before = updates()?;
        let staged = self.dir().join("listeners.staged.json");
        std::fs::write(&staged, config.lds_document()?)?;
        let target = self.dir().join(LDS_DIR).join(LDS_FILE);
        std::fs::rename(&staged, &target)?;
        let deadline = Instant::now() + timeout;
        while updates()? <= before {
            if Instant::now() > deadline {
                return Err(anyhow!(
                    "Envoy did not apply the new listeners within {timeout:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// hoptrace's `/stats` metrics, prefix `wasmcustom.hoptrace.` removed.
    pub fn hoptrace_stats(&self) -> Result<BTreeMap<String, u64>> {
        admin::hoptrace_stats(self.admin_port)
    }

    /// Integer stats starting with `prefix`.
    pub fn stats(&self, prefix: &str) -> Result<BTreeMap<String, u64>> {
        admin::stats(self.admin_port, prefix)
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "---- Envoy (pid {}, {}) log tail ----\n{}\n---- end of Envoy log ----",
                self.child.id(),
                self.dir.path().display(),
                tail(&self.log(), LOG_TAIL_LINES)
            );
        }
    }
}

fn read_admin_port(path: &Path) -> Option<u16> {
    let text = std::fs::read_to_string(path).ok()?;
    text.trim().rsplit(':').next()?.parse().ok()
}

/// The last `n` lines of `text`, without Envoy's start-up listing of extensions and header maps
/// (indented message lines), which would otherwise fill the tail of a short run.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.contains("]   ")).collect();
    let start = lines.len().saturating_sub(n);
    lines.get(start..).unwrap_or_default().join("\n")
}

/// Runs `envoy --mode validate -c config_path`; returns the exit status and everything it printed.
pub fn validate(config_path: &Path) -> Result<(ExitStatus, String)> {
    let envoy = paths::envoy_binary()?;
    let dir = TempDir::new("validate")?;
    let out_path = dir.path().join("validate.log");
    let out = File::create(&out_path)?;
    let mut child = Command::new(&envoy)
        .args(["--mode", "validate", "-l", "info", "-c"])
        .arg(config_path)
        .arg("--base-id")
        .arg(next_base_id().to_string())
        .arg("--disable-hot-restart")
        .stdin(Stdio::null())
        .stdout(Stdio::from(out.try_clone()?))
        .stderr(Stdio::from(out))
        .spawn()
        .with_context(|| format!("spawn {}", envoy.display()))?;
    let deadline = Instant::now() + VALIDATE_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(anyhow!(
                "envoy --mode validate did not finish in {VALIDATE_TIMEOUT:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = String::from_utf8_lossy(&std::fs::read(&out_path)?).into_owned();
    Ok((status, log))
}

/// Writes `config` to a temp dir and runs [`validate`] on it.
pub fn validate_config(config: &EnvoyConfig) -> Result<(ExitStatus, String)> {
    let dir = TempDir::new("validate-config")?;
    let path = config.write(&dir.path().join("envoy.yaml"))?;
    validate(&path)
}
