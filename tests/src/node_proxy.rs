//! The example Node reverse proxy (`examples/node-proxy/server.mjs`, traced by the hoptrace npm
//! package) as a process a test starts on 127.0.0.1 and stops when the handle drops.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use crate::paths::workspace_root;

/// How long the proxy may take to print its listening line.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running `node examples/node-proxy/server.mjs`.
pub struct NodeProxy {
    child: Child,
    port: u16,
}

/// The package `make js` builds, which the example imports.
pub fn package_entry() -> PathBuf {
    workspace_root().join("target/js/hoptrace/index.mjs")
}

impl NodeProxy {
    /// Starts the proxy in front of `upstream` (a base URL) with this hoptrace configuration
    /// (JSON text, `collector.endpoint` included). `$HOPTRACE_NODE` names the node binary (default
    /// `node` on PATH).
    pub fn start(upstream: &str, config: &str) -> Result<NodeProxy> {
        if !package_entry().exists() {
            bail!(
                "{} is missing: run `make js` first",
                package_entry().display()
            );
        }
        let node = std::env::var("HOPTRACE_NODE").unwrap_or_else(|_| "node".to_owned());
        let mut child = Command::new(&node)
            .arg(workspace_root().join("examples/node-proxy/server.mjs"))
            .env("UPSTREAM", upstream)
            .env("LISTEN", "127.0.0.1:0")
            .env("HOPTRACE_CONFIG", config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {node} (Node 20 or later)"))?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let line = rx.recv_timeout(START_TIMEOUT);
        let mut proxy = NodeProxy { child, port: 0 };
        let line = match line {
            Ok(line) => line,
            Err(_) => bail!("node-proxy did not start: {}", proxy.stderr()),
        };
        // "node-proxy listening on 127.0.0.1:PORT -> ..."
        proxy.port = line
            .split_whitespace()
            .nth(3)
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| anyhow!("unexpected first line from node-proxy: {line:?}"))?;
        Ok(proxy)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops it with SIGTERM, so it flushes its queued spans, and waits up to `timeout`.
    pub fn stop(&mut self, timeout: Duration) {
        // SAFETY: kill(2) on the pid of a child this handle owns and has not reaped.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn stderr(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut text = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut text);
        }
        text
    }
}

impl Drop for NodeProxy {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- node-proxy (pid {}) stderr ----\n{}\n---- end ----",
                self.child.id(),
                self.stderr()
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
