//! The demo topology on 127.0.0.1: an edge gateway Envoy, two services each
//! behind a sidecar Envoy with an inbound and an outbound listener (`traffic_direction` set, as Istio
//! does), where service A calls service B through its own sidecar and copies the trace headers it
//! received, and one OTLP receiver for all three proxies. Every Envoy picks its own ports; they start
//! from the back (B first) so each one's cluster can point at a port that is already bound.
//!
//! ```text
//! client -> gateway(gw) -> sidecar-a(inbound) -> app-a --/call--> sidecar-a(outbound)
//!        -> sidecar-b(inbound) -> app-b
//! ```

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::tempdir::TempDir;
use crate::{Envoy, EnvoyConfig, Listener, Receiver, Upstream};

/// The access-log format of every listener in the mesh: Envoy's usual fields, then hoptrace's
/// ids (`expose.access_log`) as `trace_id=… span_id=… server_span_id=… recorded=…`.
pub const ACCESS_LOG_FORMAT: &str =
    "[%START_TIME%] \"%REQ(:METHOD)% %REQ(:PATH)%\" %RESPONSE_CODE% %FILTER_STATE(wasm.hoptrace:PLAIN)%\n";

/// Every listener of the mesh that writes an access log: (proxy, listener).
pub const LOGGED_LISTENERS: [(&str, &str); 5] = [
    ("gateway", "gw"),
    ("sidecar-a", "inbound"),
    ("sidecar-a", "outbound"),
    ("sidecar-b", "inbound"),
    ("sidecar-b", "outbound"),
];

/// Plugin configs for the three proxies (JSON text each).
#[derive(Debug, Clone)]
pub struct MeshPlugins {
    /// The edge gateway's.
    pub gateway: String,
    /// Sidecar A's (both listeners).
    pub sidecar_a: String,
    /// Sidecar B's (both listeners).
    pub sidecar_b: String,
}

impl MeshPlugins {
    /// Service names `edge-gateway`, `svc-a`, `svc-b`; the edge does not trust incoming context; every
    /// proxy batches for `schedule_delay_ms` and publishes its ids for the access log.
    pub fn demo(schedule_delay_ms: u64) -> MeshPlugins {
        let batch = format!(
            r#""expose":{{"access_log":true}},"batch":{{"schedule_delay_ms":{schedule_delay_ms}}}"#
        );
        MeshPlugins {
            gateway: format!(r#"{{"service_name":"edge-gateway","trust_incoming":false,{batch}}}"#),
            sidecar_a: format!(r#"{{"service_name":"svc-a",{batch}}}"#),
            sidecar_b: format!(r#"{{"service_name":"svc-b",{batch}}}"#),
        }
    }
}

/// The running mesh; dropping it stops every process and thread it started.
pub struct Mesh {
    /// Entry point: the edge gateway (listener `gw`).
    pub gateway: Envoy,
    /// Service A's sidecar (listeners `inbound`, `outbound`).
    pub sidecar_a: Envoy,
    /// Service A: calls B through its sidecar on `/call`.
    pub app_a: Upstream,
    /// Service B's sidecar (listeners `inbound`, `outbound`).
    pub sidecar_b: Envoy,
    /// Service B: the leaf.
    pub app_b: Upstream,
    /// The OTLP receiver every proxy exports to.
    pub receiver: Receiver,
    /// Where every listener writes its access log.
    logs: TempDir,
}

impl Mesh {
    /// Starts the mesh with these plugin configs.
    pub fn start(plugins: &MeshPlugins) -> Result<Mesh> {
        let logs = TempDir::new("mesh-access-logs")?;
        let dir = logs.path();
        let receiver = Receiver::start()?;
        let app_b = Upstream::start("app-b")?;
        let sidecar_b = Envoy::start(&sidecar(
            dir,
            "sidecar-b",
            &plugins.sidecar_b,
            app_b.port(),
            // B calls nobody; its outbound listener exists as in any mesh and points back at B.
            app_b.port(),
            receiver.port(),
        ))?;
        let app_a = Upstream::start("app-a")?;
        let sidecar_a = Envoy::start(&sidecar(
            dir,
            "sidecar-a",
            &plugins.sidecar_a,
            app_a.port(),
            sidecar_b.port("inbound"),
            receiver.port(),
        ))?;
        let gateway = Envoy::start(
            &EnvoyConfig::new()
                .node("edge-gateway", serde_json::json!({}))
                .collector(receiver.port())
                .listener(
                    Listener::gateway("gw", sidecar_a.port("inbound"))
                        .plugin(&plugins.gateway)
                        .access_log(&log_path(dir, "gateway", "gw"), ACCESS_LOG_FORMAT),
                ),
        )?;
        Ok(Mesh {
            gateway,
            sidecar_a,
            app_a,
            sidecar_b,
            app_b,
            receiver,
            logs,
        })
    }

    /// Every access-log line written so far that carries `trace_id`, as (`proxy listener`, line),
    /// in the order of [`LOGGED_LISTENERS`].
    pub fn access_log_lines(&self, trace_id: &str) -> Vec<(String, String)> {
        let needle = format!("trace_id={trace_id} ");
        let mut out = Vec::new();
        for (proxy, listener) in LOGGED_LISTENERS {
            let text = std::fs::read_to_string(log_path(self.logs.path(), proxy, listener))
                .unwrap_or_default();
            for line in text.lines().filter(|l| l.contains(&needle)) {
                out.push((format!("{proxy} {listener}"), line.to_string()));
            }
        }
        out
    }

    /// The gateway's port, where clients send requests.
    pub fn entry_port(&self) -> u16 {
        self.gateway.port("gw")
    }

    /// The path that makes A call B's `leaf` path through A's outbound sidecar listener.
    pub fn path_via_b(&self, leaf: &str) -> String {
        format!("/call?to={}&path={leaf}", self.sidecar_a.port("outbound"))
    }

    /// Every Envoy with a name, for printing logs.
    pub fn envoys(&self) -> [(&'static str, &Envoy); 3] {
        [
            ("gateway", &self.gateway),
            ("sidecar-a", &self.sidecar_a),
            ("sidecar-b", &self.sidecar_b),
        ]
    }
}

fn log_path(dir: &Path, proxy: &str, listener: &str) -> PathBuf {
    dir.join(format!("{proxy}-{listener}.log"))
}

fn sidecar(
    dir: &Path,
    proxy: &str,
    plugin: &str,
    app_port: u16,
    next_port: u16,
    collector_port: u16,
) -> EnvoyConfig {
    EnvoyConfig::new()
        .collector(collector_port)
        .listener(
            Listener::inbound("inbound", app_port)
                .plugin(plugin)
                .access_log(&log_path(dir, proxy, "inbound"), ACCESS_LOG_FORMAT),
        )
        .listener(
            Listener::outbound("outbound", next_port)
                .plugin(plugin)
                .access_log(&log_path(dir, proxy, "outbound"), ACCESS_LOG_FORMAT),
        )
}
