//! Envoy bootstrap configs for the tests: listeners in the gateway and sidecar shapes (direction as
//! Istio sets it with `traffic_direction`), each with the hoptrace `envoy.filters.http.wasm` filter
//! before the router, a named route to an upstream cluster, the `otlp_collector` cluster and an admin
//! listener. Written as JSON, which is YAML too, so the plugin config needs no YAML quoting.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use crate::paths;

/// The collector cluster name hoptrace uses by default (`collector.cluster`).
pub const COLLECTOR_CLUSTER: &str = "otlp_collector";
/// The `root_id` and `vm_id` the filter runs under.
pub const ROOT_ID: &str = "hoptrace";
/// Every listener answers this path itself (a `direct_response` route): no cluster, no upstream.
pub const LOCAL_REPLY_PATH: &str = "/local-reply";
/// The status of that local reply.
pub const LOCAL_REPLY_STATUS: u16 = 418;

/// A listener's `traffic_direction`, which the filter reads as `xds.listener_direction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// No `traffic_direction` (an edge gateway): SERVER + CLIENT spans.
    Gateway,
    /// `INBOUND` (a sidecar in front of its app): SERVER span.
    Inbound,
    /// `OUTBOUND` (a sidecar for its app's calls): CLIENT span.
    Outbound,
}

/// One listener with its route and upstream cluster.
#[derive(Debug, Clone)]
pub struct Listener {
    name: String,
    direction: Direction,
    port: u16,
    upstream_port: u16,
    plugin: Option<String>,
    module: String,
    route_timeout: Duration,
    fail_open: bool,
    access_log: Option<(PathBuf, String)>,
}

impl Listener {
    /// A listener named `name` routing everything to `127.0.0.1:upstream_port`.
    pub fn new(name: &str, direction: Direction, upstream_port: u16) -> Listener {
        Listener {
            name: name.to_string(),
            direction,
            port: 0,
            upstream_port,
            plugin: None,
            module: paths::HOPTRACE_WASM.to_string(),
            route_timeout: Duration::from_secs(15),
            fail_open: false,
            access_log: None,
        }
    }

    /// Write an access log line per request to `path`, in Envoy's text `format`.
    pub fn access_log(mut self, path: &std::path::Path, format: &str) -> Listener {
        self.access_log = Some((path.to_path_buf(), format.to_string()));
        self
    }

    /// A gateway listener (no direction).
    pub fn gateway(name: &str, upstream_port: u16) -> Listener {
        Listener::new(name, Direction::Gateway, upstream_port)
    }

    /// A sidecar inbound listener.
    pub fn inbound(name: &str, upstream_port: u16) -> Listener {
        Listener::new(name, Direction::Inbound, upstream_port)
    }

    /// A sidecar outbound listener.
    pub fn outbound(name: &str, upstream_port: u16) -> Listener {
        Listener::new(name, Direction::Outbound, upstream_port)
    }

    /// Adds the hoptrace filter with this plugin configuration (JSON text, passed as it is).
    pub fn plugin(mut self, config_json: &str) -> Listener {
        self.plugin = Some(config_json.to_string());
        self
    }

    /// Uses another module from the wasm directory (a benchmark floor filter).
    pub fn module(mut self, file_name: &str) -> Listener {
        self.module = file_name.to_string();
        self
    }

    /// Listens on a fixed port (from [`crate::ports::free_port`]) instead of one Envoy picks; needed
    /// when another cluster must point at this listener before Envoy starts.
    pub fn port(mut self, port: u16) -> Listener {
        self.port = port;
        self
    }

    /// The route's upstream timeout (Envoy's default is 15 s).
    pub fn route_timeout(mut self, timeout: Duration) -> Listener {
        self.route_timeout = timeout;
        self
    }

    /// Sets the plugin's `failure_policy: FAIL_OPEN` (as the Istio and gateway examples do) instead of
    /// Envoy's default fail-closed.
    pub fn fail_open(mut self) -> Listener {
        self.fail_open = true;
        self
    }

    /// The listener's name (key for [`crate::Envoy::port`]).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The route name the filter sees as `xds.route_name`.
    pub fn route_name(&self) -> String {
        format!("{}_route", self.name)
    }

    /// The upstream cluster name (`xds.cluster_name`).
    pub fn cluster_name(&self) -> String {
        format!("{}_upstream", self.name)
    }

    fn to_json(&self) -> Result<Value> {
        let mut http_filters = Vec::new();
        if let Some(plugin) = &self.plugin {
            let module = paths::wasm_module(&self.module)?;
            http_filters.push(wasm_filter(&module, plugin, self.fail_open));
        }
        http_filters.push(json!({
            "name": "envoy.filters.http.router",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}
        }));
        let mut listener = json!({
            "name": self.name,
            "address": socket(self.port),
            "filter_chains": [{"filters": [{
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    "stat_prefix": self.name,
                    "route_config": {
                        "name": format!("{}_routes", self.name),
                        "virtual_hosts": [{
                            "name": format!("{}_vhost", self.name),
                            "domains": ["*"],
                            "routes": [{
                                // A local reply: no cluster, no upstream host, attributes absent.
                                "name": format!("{}_local", self.route_name()),
                                "match": {"path": LOCAL_REPLY_PATH},
                                "direct_response": {"status": LOCAL_REPLY_STATUS},
                            }, {
                                "name": self.route_name(),
                                "match": {"prefix": "/"},
                                "route": {
                                    "cluster": self.cluster_name(),
                                    "timeout": duration(self.route_timeout),
                                }
                            }]
                        }]
                    },
                    "http_filters": http_filters,
                }
            }]}]
        });
        if let Some((path, format)) = &self.access_log {
            if let Some(hcm) = listener.pointer_mut("/filter_chains/0/filters/0/typed_config") {
                hcm["access_log"] = json!([{
                    "name": "envoy.access_loggers.file",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                        "path": path.display().to_string(),
                        "log_format": {"text_format_source": {"inline_string": format}},
                    }
                }]);
            }
        }
        let direction = match self.direction {
            Direction::Gateway => None,
            Direction::Inbound => Some("INBOUND"),
            Direction::Outbound => Some("OUTBOUND"),
        };
        if let (Some(direction), Some(obj)) = (direction, listener.as_object_mut()) {
            obj.insert("traffic_direction".into(), json!(direction));
        }
        Ok(listener)
    }
}

fn wasm_filter(module: &std::path::Path, plugin: &str, fail_open: bool) -> Value {
    let mut filter = json!({
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": ROOT_ID,
                "root_id": ROOT_ID,
                "configuration": {
                    "@type": "type.googleapis.com/google.protobuf.StringValue",
                    "value": plugin,
                },
                "vm_config": {
                    "vm_id": ROOT_ID,
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": {"local": {"filename": module.display().to_string()}},
                }
            }
        }
    });
    if fail_open {
        if let Some(config) = filter
            .pointer_mut("/typed_config/config")
            .and_then(Value::as_object_mut)
        {
            config.insert("failure_policy".into(), json!("FAIL_OPEN"));
        }
    }
    filter
}

fn socket(port: u16) -> Value {
    json!({"socket_address": {"address": "127.0.0.1", "port_value": port}})
}

fn duration(d: Duration) -> String {
    format!("{}.{:03}s", d.as_secs(), d.subsec_millis())
}

fn static_cluster(name: &str, port: u16) -> Value {
    json!({
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": socket(port)}}]}]
        }
    })
}

/// A whole Envoy: listeners, clusters, admin, node, worker count.
#[derive(Debug, Clone)]
pub struct EnvoyConfig {
    listeners: Vec<Listener>,
    collector_port: Option<u16>,
    collector_cluster: String,
    concurrency: u32,
    node_id: String,
    node_metadata: Value,
    /// Listeners served from a watched file (LDS over `path_config_source`) instead of the
    /// bootstrap, so that a test can change them while Envoy runs.
    dynamic_listeners: bool,
}

/// Where a config with dynamic listeners keeps them, relative to the bootstrap's directory: the
/// watched directory and the file Envoy reads.
pub const LDS_DIR: &str = "lds";
/// The listener file inside [`LDS_DIR`].
pub const LDS_FILE: &str = "listeners.json";

impl Default for EnvoyConfig {
    fn default() -> Self {
        EnvoyConfig::new()
    }
}

impl EnvoyConfig {
    /// No listeners yet, one worker, node id `hoptrace-e2e`.
    pub fn new() -> EnvoyConfig {
        EnvoyConfig {
            listeners: Vec::new(),
            collector_port: None,
            collector_cluster: COLLECTOR_CLUSTER.to_string(),
            concurrency: 1,
            node_id: "hoptrace-e2e".to_string(),
            node_metadata: json!({}),
            dynamic_listeners: false,
        }
    }

    /// Serve the listeners from a watched file (`dynamic_resources.lds_config.path_config_source`)
    /// that [`crate::Envoy::update_listeners`] replaces by an atomic rename, as a control plane
    /// would push a change.
    pub fn dynamic_listeners(mut self) -> EnvoyConfig {
        self.dynamic_listeners = true;
        self
    }

    /// Whether the listeners come from a watched file.
    pub fn has_dynamic_listeners(&self) -> bool {
        self.dynamic_listeners
    }

    /// The listeners as an LDS discovery response (what the watched file holds).
    pub fn lds_document(&self) -> Result<String> {
        let resources = self
            .listeners
            .iter()
            .map(|l| {
                let mut v = l.to_json()?;
                if let Some(obj) = v.as_object_mut() {
                    obj.insert(
                        "@type".into(),
                        json!("type.googleapis.com/envoy.config.listener.v3.Listener"),
                    );
                }
                Ok(v)
            })
            .collect::<Result<Vec<_>>>()?;
        serde_json::to_string_pretty(&json!({ "resources": resources })).context("serialise LDS")
    }

    /// Adds a listener.
    pub fn listener(mut self, listener: Listener) -> EnvoyConfig {
        self.listeners.push(listener);
        self
    }

    /// Adds the collector cluster pointing at `127.0.0.1:port`.
    pub fn collector(mut self, port: u16) -> EnvoyConfig {
        self.collector_port = Some(port);
        self
    }

    /// Names the collector cluster (default `otlp_collector`).
    pub fn collector_cluster(mut self, name: &str) -> EnvoyConfig {
        self.collector_cluster = name.to_string();
        self
    }

    /// Worker threads (`--concurrency`); Envoy runs one VM per worker plus one on the main thread.
    pub fn concurrency(mut self, workers: u32) -> EnvoyConfig {
        self.concurrency = workers;
        self
    }

    /// Node id and metadata (Istio puts `NAME`, `NAMESPACE`, `WORKLOAD_NAME`, `CLUSTER_ID` there).
    pub fn node(mut self, id: &str, metadata: Value) -> EnvoyConfig {
        self.node_id = id.to_string();
        self.node_metadata = metadata;
        self
    }

    /// The worker count.
    pub fn workers(&self) -> u32 {
        self.concurrency
    }

    /// The listeners.
    pub fn listeners(&self) -> &[Listener] {
        &self.listeners
    }

    /// The bootstrap as a value; fails naming `make wasm` when a module is missing.
    pub fn to_value(&self) -> Result<Value> {
        let listeners = self
            .listeners
            .iter()
            .map(Listener::to_json)
            .collect::<Result<Vec<_>>>()?;
        let mut clusters: Vec<Value> = self
            .listeners
            .iter()
            .map(|l| static_cluster(&l.cluster_name(), l.upstream_port))
            .collect();
        if let Some(port) = self.collector_port {
            clusters.push(static_cluster(&self.collector_cluster, port));
        }
        Ok(json!({
            "node": {"id": self.node_id, "cluster": "hoptrace-e2e", "metadata": self.node_metadata},
            "admin": {"address": socket(0)},
            "static_resources": {"listeners": listeners, "clusters": clusters},
        }))
    }

    /// The bootstrap of a config with dynamic listeners whose LDS directory is `lds_dir`.
    fn to_value_dynamic(&self, lds_dir: &std::path::Path) -> Result<Value> {
        let mut v = self.to_value()?;
        if let Some(statics) = v
            .pointer_mut("/static_resources")
            .and_then(Value::as_object_mut)
        {
            statics.remove("listeners");
        }
        if let Some(obj) = v.as_object_mut() {
            obj.insert(
                "dynamic_resources".into(),
                json!({"lds_config": {
                    "resource_api_version": "V3",
                    "path_config_source": {
                        "path": lds_dir.join(LDS_FILE).display().to_string(),
                        "watched_directory": {"path": lds_dir.display().to_string()},
                    }
                }}),
            );
        }
        Ok(v)
    }

    /// The bootstrap as YAML text (JSON, a subset of YAML).
    pub fn to_yaml(&self) -> Result<String> {
        serde_json::to_string_pretty(&self.to_value()?).context("serialise bootstrap")
    }

    /// Writes the bootstrap to `path` (and, with dynamic listeners, their file in [`LDS_DIR`]
    /// next to it).
    pub fn write(&self, path: &std::path::Path) -> Result<PathBuf> {
        let text = if self.dynamic_listeners {
            let dir = path
                .parent()
                .unwrap_or(std::path::Path::new("."))
                .join(LDS_DIR);
            std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
            let lds = dir.join(LDS_FILE);
            std::fs::write(&lds, self.lds_document()?)
                .with_context(|| format!("write {}", lds.display()))?;
            serde_json::to_string_pretty(&self.to_value_dynamic(&dir)?)
                .context("serialise bootstrap")?
        } else {
            self.to_yaml()?
        };
        std::fs::write(path, text).with_context(|| format!("write {}", path.display()))?;
        Ok(path.to_path_buf())
    }
}
