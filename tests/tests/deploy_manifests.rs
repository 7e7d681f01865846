//! The Kubernetes deploy manifests under `envoy/istio` and `envoy/envoy-gateway` are tested
//! artefacts, like the plain Envoy configs: the plugin configuration embedded in each is pulled out
//! and must be accepted by the filter's own parser (as Istio hands it over too, numbers turned into
//! doubles), the collector cluster it names must be the one its companion manifest creates, and a
//! gateway must ask for the spans a gateway hop needs. The OCI layout that `make oci` writes must
//! be deterministic and pass a real OCI tool (skopeo) when one is installed.
//!
//! Loading each embedded configuration into a real Envoy is the e2e harness's job; it gets them
//! from [`embedded_plugin_configs`].

// Clippy exempts only `#[test]` functions from these lints, not the helpers of an integration
// test; here every helper is test code, and a failing helper should fail its test loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use hoptrace_core::config::{parse_config, Settings, SpanKindSetting};
use serde::Deserialize;
use serde_json::Value as Json;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Directories whose `*.yaml` manifests carry hoptrace configurations.
const MANIFEST_DIRS: [&str; 2] = ["envoy/istio", "envoy/envoy-gateway"];

/// The module's root id: manifests that name a root id must name this one.
const ROOT_ID: &str = "hoptrace";

/// Eight bytes that are a valid, empty Wasm module: enough for the OCI tools, which never run it.
const TINY_WASM: &[u8] = b"\0asm\x01\0\0\0";

/// The repository root: the tests crate sits one level below it.
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository root")
        .to_path_buf()
}

/// Every YAML document of every manifest in [`MANIFEST_DIRS`], labelled
/// `<path>#<kind>/<name>`, in a stable order.
fn manifest_documents() -> Vec<(String, Json)> {
    let root = repo_root();
    let mut files: Vec<PathBuf> = MANIFEST_DIRS
        .iter()
        .flat_map(|dir| fs::read_dir(root.join(dir)).unwrap_or_else(|e| panic!("{dir}: {e}")))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    let mut docs = Vec::new();
    for file in files {
        let rel = file.strip_prefix(&root).unwrap().display().to_string();
        let text = fs::read_to_string(&file).unwrap();
        for de in serde_norway::Deserializer::from_str(&text) {
            let doc = Json::deserialize(de).unwrap_or_else(|e| panic!("{rel}: bad YAML: {e}"));
            if doc.is_null() {
                continue; // an empty document, e.g. after a trailing `---`
            }
            let label = format!(
                "{rel}#{}/{}",
                doc["kind"].as_str().unwrap_or("?"),
                name_of(&doc)
            );
            docs.push((label, doc));
        }
    }
    docs
}

/// `metadata.name` of a Kubernetes resource, `?` when absent.
fn name_of(doc: &Json) -> &str {
    doc["metadata"]["name"].as_str().unwrap_or("?")
}

/// The hoptrace configurations a manifest carries, with a label suffix for each: where each
/// kind keeps it. `None` for kinds that carry no plugin configuration.
fn plugin_configs_of(label: &str, doc: &Json) -> Option<Vec<(String, Json)>> {
    let spec = &doc["spec"];
    let found = match doc["kind"].as_str()? {
        "WasmPlugin" => {
            assert_eq!(spec["pluginName"], ROOT_ID, "{label}: pluginName");
            vec![(String::new(), spec["pluginConfig"].clone())]
        }
        "TrafficExtension" => {
            assert_eq!(
                spec["wasm"]["pluginName"], ROOT_ID,
                "{label}: wasm.pluginName"
            );
            vec![(String::new(), spec["wasm"]["pluginConfig"].clone())]
        }
        "EnvoyExtensionPolicy" => spec["wasm"]
            .as_array()
            .unwrap_or_else(|| panic!("{label}: spec.wasm is not a list"))
            .iter()
            .enumerate()
            .filter(|(_, wasm)| wasm["rootID"] == ROOT_ID)
            .map(|(i, wasm)| (format!("/wasm[{i}]"), wasm["config"].clone()))
            .collect(),
        _ => return None,
    };
    for (suffix, config) in &found {
        assert!(
            config.is_object(),
            "{label}{suffix}: no plugin configuration object"
        );
    }
    Some(found)
}

/// Every hoptrace plugin configuration embedded in the Istio and Envoy Gateway manifests, as the
/// JSON the filter receives: `(label, json)`, where the label names the file and the resource,
/// e.g. `envoy/istio/wasmplugin.yaml#WasmPlugin/hoptrace-sidecars` or
/// `envoy/envoy-gateway/extension-policy.yaml#EnvoyExtensionPolicy/hoptrace/wasm[0]`.
/// Numbers are as written in the YAML; Istio's conversion to doubles is [`as_protobuf_struct`].
pub fn embedded_plugin_configs() -> Vec<(String, String)> {
    manifest_documents()
        .iter()
        .filter_map(|(label, doc)| {
            plugin_configs_of(label, doc).map(|configs| {
                configs
                    .into_iter()
                    .map(|(suffix, config)| (format!("{label}{suffix}"), config.to_string()))
                    .collect::<Vec<_>>()
            })
        })
        .flatten()
        .collect()
}

/// The configuration as Istio delivers `pluginConfig`: a protobuf `Struct`, whose numbers are all
/// doubles, so `512` arrives as `512.0`.
pub fn as_protobuf_struct(value: &Json) -> Json {
    match value {
        Json::Number(n) => Json::from(n.as_f64().expect("a JSON number fits a double")),
        Json::Array(items) => Json::Array(items.iter().map(as_protobuf_struct).collect()),
        Json::Object(map) => Json::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), as_protobuf_struct(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The filter's verdict on `json`; a refusal fails the test with the field the filter names.
fn parse(label: &str, json: &str) -> Settings {
    parse_config(json.as_bytes())
        .unwrap_or_else(|e| panic!("{label}: hoptrace refuses its configuration: {e}\n{json}"))
}

/// The parsed settings of every embedded configuration whose label starts with `prefix`.
fn configs_under(prefix: &str) -> Vec<(String, Settings)> {
    let found: Vec<_> = embedded_plugin_configs()
        .into_iter()
        .filter(|(label, _)| label.starts_with(prefix))
        .map(|(label, json)| {
            let settings = parse(&label, &json);
            (label, settings)
        })
        .collect();
    assert!(
        !found.is_empty(),
        "no plugin configuration found under {prefix}"
    );
    found
}

/// The one document of `kind` in `file`.
fn document(file: &str, kind: &str) -> Json {
    let mut found: Vec<Json> = manifest_documents()
        .into_iter()
        .filter(|(label, doc)| label.starts_with(&format!("{file}#")) && doc["kind"] == kind)
        .map(|(_, doc)| doc)
        .collect();
    assert_eq!(found.len(), 1, "{file}: expected one {kind}");
    found.pop().unwrap()
}

#[test]
fn every_manifest_we_ship_carries_a_config() {
    let labels: Vec<String> = embedded_plugin_configs()
        .into_iter()
        .map(|(l, _)| l)
        .collect();
    #[rustfmt::skip]
    let expected = [
        "envoy/envoy-gateway/extension-policy.yaml#EnvoyExtensionPolicy/hoptrace/wasm[0]",
        "envoy/istio/trafficextension.yaml#TrafficExtension/hoptrace-ingressgateway",
        "envoy/istio/trafficextension.yaml#TrafficExtension/hoptrace-sidecars",
        "envoy/istio/wasmplugin.yaml#WasmPlugin/hoptrace-ingressgateway",
        "envoy/istio/wasmplugin.yaml#WasmPlugin/hoptrace-sidecars",
    ];
    for want in expected {
        assert!(
            labels.iter().any(|l| l == want),
            "{want} not found in {labels:#?}"
        );
    }
}

#[test]
fn every_embedded_config_is_accepted_by_the_filter() {
    for (label, json) in embedded_plugin_configs() {
        parse(&label, &json);
        if label.starts_with("envoy/istio/") {
            let doubles = as_protobuf_struct(&serde_json::from_str(&json).unwrap()).to_string();
            parse(
                &format!("{label} (numbers as doubles, as Istio sends them)"),
                &doubles,
            );
        }
    }
}

#[test]
fn istio_configs_export_to_the_cluster_istio_builds_for_the_serviceentry() {
    let se = document("envoy/istio/serviceentry.yaml", "ServiceEntry");
    let host = se["spec"]["hosts"][0].as_str().unwrap();
    let port = se["spec"]["ports"][0]["number"].as_u64().unwrap();
    for (label, settings) in configs_under("envoy/istio/") {
        assert_eq!(
            settings.collector.cluster,
            format!("outbound|{port}||{host}"),
            "{label}"
        );
        assert_eq!(
            settings.collector.authority,
            format!("{host}:{port}"),
            "{label}"
        );
    }
}

#[test]
fn envoy_gateway_config_exports_to_the_cluster_the_patch_policy_adds() {
    let policy = document(
        "envoy/envoy-gateway/collector-backend.yaml",
        "EnvoyPatchPolicy",
    );
    let patch = &policy["spec"]["jsonPatches"][0];
    assert_eq!(
        patch["type"],
        "type.googleapis.com/envoy.config.cluster.v3.Cluster"
    );
    assert_eq!(patch["operation"]["op"], "add");
    assert_eq!(
        patch["operation"]["path"], "",
        "an empty path adds a whole resource"
    );
    let cluster = &patch["operation"]["value"];
    assert_eq!(cluster["name"], cluster["load_assignment"]["cluster_name"]);
    for (label, settings) in configs_under("envoy/envoy-gateway/") {
        assert_eq!(
            settings.collector.cluster,
            cluster["name"].as_str().unwrap(),
            "{label}"
        );
    }
}

#[test]
fn gateway_configs_make_server_and_client_spans_and_distrust_the_client() {
    // Istio marks gateway listeners OUTBOUND, so `auto` would give a gateway only a CLIENT span.
    let gateways: Vec<_> = embedded_plugin_configs()
        .into_iter()
        .filter(|(label, _)| label.contains("ingressgateway") || label.contains("envoy-gateway/"))
        .collect();
    assert_eq!(gateways.len(), 3, "{gateways:#?}");
    for (label, json) in gateways {
        let settings = parse(&label, &json);
        assert_eq!(
            settings.span_kind,
            SpanKindSetting::ServerAndClient,
            "{label}"
        );
        assert!(
            !settings.trust_incoming,
            "{label}: an edge must not trust the client"
        );
    }
}

/// A scratch directory of our own under the system temp dir, emptied first.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hoptrace-deploy-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Run a tool from `tools/` with python3; returns stdout, fails the test with its output.
fn run_tool(tool: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg(repo_root().join("tools").join(tool))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("python3 tools/{tool}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "tools/{tool} {args:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The value of a `key: value` line of oci-layout.py's report.
fn reported(report: &str, key: &str) -> String {
    report
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no `{key}:` line in\n{report}"))
        .trim()
        .to_owned()
}

/// The real module when it has been built, else a tiny stand-in (the OCI checks never run it).
fn module_for_oci(dir: &Path) -> PathBuf {
    let built = std::env::var_os("HOPTRACE_WASM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/wasm32-wasip1/release"))
        .join("hoptrace.wasm");
    if built.is_file() {
        return built;
    }
    let tiny = dir.join("tiny.wasm");
    fs::write(&tiny, TINY_WASM).unwrap();
    tiny
}

#[test]
fn oci_layout_is_deterministic() {
    let dir = scratch("oci-determinism");
    let wasm = dir.join("tiny.wasm");
    fs::write(&wasm, TINY_WASM).unwrap();
    let wasm_digest = format!("sha256:{}", sha256_hex_via_python(&wasm));
    for variant in ["artifact", "compat"] {
        let layout = |n: &str| dir.join(format!("{variant}-{n}")).display().to_string();
        let (a, b) = (layout("a"), layout("b"));
        let write = |out: &str| {
            let wasm = wasm.to_str().unwrap();
            run_tool(
                "oci-layout.py",
                &[
                    "--wasm",
                    wasm,
                    "--out",
                    out,
                    "--tag",
                    "t",
                    "--variant",
                    variant,
                ],
            )
        };
        let (first, second) = (write(&a), write(&b));
        assert_eq!(
            reported(&first, "manifest"),
            reported(&second, "manifest"),
            "{variant}"
        );
        assert_eq!(
            fs::read(Path::new(&a).join("index.json")).unwrap(),
            fs::read(Path::new(&b).join("index.json")).unwrap(),
            "{variant}"
        );
        assert!(
            reported(&first, "wasm").starts_with(&wasm_digest),
            "{first}"
        );
        if variant == "artifact" {
            // The point of the artifact variant: its layer digest is the module's own sha256.
            assert!(
                reported(&first, "layer").starts_with(&wasm_digest),
                "{first}"
            );
        }
    }
    let _ = fs::remove_dir_all(&dir);
}

/// sha256 of a file, hex; python3 is needed by the tools anyway, a hash crate is not.
fn sha256_hex_via_python(file: &Path) -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            "import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())",
        ])
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Whether `program` is an executable name found on PATH.
fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

#[test]
fn oci_layout_passes_skopeo() {
    if !on_path("skopeo") {
        assert!(
            std::env::var_os("HOPTRACE_REQUIRE_SKOPEO").is_none(),
            "skopeo not found and HOPTRACE_REQUIRE_SKOPEO is set: run `make oci-check` (installs it)"
        );
        eprintln!("skipped: skopeo not found (apt-get install skopeo, or `make oci-check`)");
        return;
    }
    let dir = scratch("oci-skopeo");
    let wasm = module_for_oci(&dir);
    for variant in ["artifact", "compat"] {
        let layout = dir.join(variant).display().to_string();
        let wasm = wasm.to_str().unwrap();
        run_tool(
            "oci-layout.py",
            &["--wasm", wasm, "--out", &layout, "--variant", variant],
        );
        let report = run_tool("check-oci.py", &["--layout", &layout, "--wasm", wasm]);
        assert_eq!(
            report.lines().filter(|l| l.starts_with("ok: ")).count(),
            3,
            "{report}"
        );
    }
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn envoy_accepts_the_cluster_the_patch_policy_adds() {
    let envoy = hoptrace_e2e::paths::envoy_binary().unwrap();
    let policy = document(
        "envoy/envoy-gateway/collector-backend.yaml",
        "EnvoyPatchPolicy",
    );
    let cluster = policy["spec"]["jsonPatches"][0]["operation"]["value"].clone();
    // Envoy Gateway adds the value as a Cluster resource; a static cluster in a bootstrap goes
    // through the same proto validation.
    let bootstrap = serde_json::json!({ "static_resources": { "clusters": [cluster] } });
    let dir = scratch("envoy-cluster");
    let config = dir.join("bootstrap.json");
    fs::write(&config, bootstrap.to_string()).unwrap();
    let out = Command::new(&envoy)
        .args(["--mode", "validate", "--log-level", "error", "-c"])
        .arg(&config)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", envoy.display()));
    assert!(
        out.status.success(),
        "Envoy refuses the otlp_collector cluster:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = fs::remove_dir_all(&dir);
}

/// The examples cannot drift from what the filter accepts: each embedded plugin config (and, for
/// Istio, the same config with every number a double, as Istio delivers it) is loaded by the real
/// filter in a real Envoy (`--mode validate` runs `on_configure`).
#[test]
fn every_embedded_config_loads_in_a_real_envoy() {
    use hoptrace_e2e::config::{EnvoyConfig, Listener};
    use hoptrace_e2e::envoy::validate_config;
    let configs = embedded_plugin_configs();
    assert!(!configs.is_empty());
    for (label, json) in configs {
        let cluster = parse(&label, &json).collector.cluster;
        let mut forms = vec![json.clone()];
        if label.contains("istio") {
            let value: Json = serde_json::from_str(&json).unwrap();
            forms.push(as_protobuf_struct(&value).to_string());
        }
        for form in forms {
            let envoy = EnvoyConfig::new()
                .collector(4318)
                .collector_cluster(&cluster)
                .listener(Listener::gateway("gw", 8000).plugin(&form));
            let (status, log) = validate_config(&envoy).unwrap();
            assert!(
                status.success(),
                "{label}: Envoy refused the embedded plugin config {form}:\n{log}"
            );
        }
    }
}
