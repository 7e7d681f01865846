//! Every command and configuration the README shows is a tested artefact: a reader copies them as
//! they stand. Each fenced block of `README.md` is checked by its language:
//!
//! - `json`: a plugin configuration the filter's own parser accepts;
//! - `yaml`: an Envoy bootstrap, or an `http_filters` entry or a connection manager's `access_log`
//!   placed into a minimal bootstrap, loaded
//!   by `envoy --mode validate` with the built module (which runs the plugin's configure); or a
//!   Kubernetes manifest that is, document for document, one of the manifests under `envoy/` that
//!   `deploy_manifests.rs` tests;
//! - `sh`: each command is run when it is cheap and local (the shim's `replay`, `node --check`, a
//!   script's `--help`) and otherwise checked against what it names (a Makefile target, a file, a variable a
//!   script reads, a local URL); a program this file does not know fails the test, so a new kind of
//!   command in the docs comes with its check;
//! - `js`: parsed by Node as an ES module, importing the package `make js` builds;
//! - `text`: pictures and sample output, not checked.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use hoptrace_core::config::parse_config;
use hoptrace_e2e::envoy::{tail, validate};
use hoptrace_e2e::paths;
use hoptrace_e2e::tempdir::TempDir;

/// The documents whose blocks are checked.
const DOCS: [&str; 1] = ["README.md"];

/// Where the examples put the module; replaced by the built one when Envoy loads them.
const EXAMPLE_WASM_PATH: &str = "/etc/envoy/hoptrace.wasm";

/// A fenced code block: its language, its text (indentation of the fence removed) and where it
/// starts.
struct Block {
    doc: &'static str,
    line: usize,
    lang: String,
    text: String,
}

impl Block {
    fn at(&self) -> String {
        format!("{}:{}", self.doc, self.line)
    }
}

fn fenced_blocks(doc: &'static str) -> Vec<Block> {
    let text = std::fs::read_to_string(paths::workspace_root().join(doc)).unwrap();
    let mut blocks = Vec::new();
    let mut open: Option<(usize, usize, String, Vec<String>)> = None;
    for (i, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim_start();
        match open.take() {
            None => {
                if let Some(lang) = trimmed.strip_prefix("```") {
                    open = Some((i + 1, indent, lang.trim().to_string(), Vec::new()));
                }
            }
            Some((start, fence_indent, lang, mut body)) => {
                if trimmed.starts_with("```") {
                    blocks.push(Block {
                        doc,
                        line: start,
                        lang,
                        text: body.join("\n") + "\n",
                    });
                } else {
                    let cut = indent.min(fence_indent);
                    body.push(line.get(cut..).unwrap_or("").to_string());
                    open = Some((start, fence_indent, lang, body));
                }
            }
        }
    }
    assert!(open.is_none(), "{doc}: a code fence is never closed");
    blocks
}

fn all_blocks() -> Vec<Block> {
    DOCS.iter().flat_map(|doc| fenced_blocks(doc)).collect()
}

fn blocks_of(lang: &str) -> Vec<Block> {
    all_blocks()
        .into_iter()
        .filter(|b| b.lang == lang)
        .collect()
}

#[test]
fn every_block_says_what_it_is() {
    let known = ["sh", "yaml", "json", "js", "text"];
    for block in all_blocks() {
        assert!(
            known.contains(&block.lang.as_str()),
            "{}: a code block tagged {:?}; tag it one of {known:?} so this test checks it",
            block.at(),
            block.lang
        );
    }
}

#[test]
fn json_blocks_are_configurations_the_filter_accepts() {
    let blocks = blocks_of("json");
    assert!(!blocks.is_empty(), "the README shows no configuration");
    for block in blocks {
        if let Err(e) = parse_config(block.text.as_bytes()) {
            panic!("{}: the filter refuses this configuration: {e}", block.at());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// YAML: Envoy configs and Kubernetes manifests.

/// A bootstrap around one `http_filters` entry, so a snippet loads as a reader would place it.
const SNIPPET_BOOTSTRAP: &str = r#"static_resources:
  listeners:
  - name: ingress
    address: {socket_address: {address: 127.0.0.1, port_value: 10000}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
ACCESS_LOG
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {prefix: "/"}
                route: {cluster: upstream}
          http_filters:
SNIPPET
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: upstream
    type: STATIC
    load_assignment:
      cluster_name: upstream
      endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 8080}}}}]}]
  - name: otlp_collector
    type: STATIC
    load_assignment:
      cluster_name: otlp_collector
      endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 4318}}}}]}]
"#;

/// A YAML snippet indented to sit at the connection manager's level in [`SNIPPET_BOOTSTRAP`].
fn indented(snippet: &str) -> String {
    let lines: Vec<String> = snippet
        .lines()
        .map(|l| {
            if l.is_empty() {
                String::new()
            } else {
                format!("          {l}")
            }
        })
        .collect();
    lines.join("\n")
}

/// An `http_filters` entry in [`SNIPPET_BOOTSTRAP`].
fn embed_filter(snippet: &str) -> String {
    SNIPPET_BOOTSTRAP
        .replace("SNIPPET", &indented(snippet))
        .replace("ACCESS_LOG\n", "")
}

/// A connection manager's `access_log` in [`SNIPPET_BOOTSTRAP`]: Envoy checks its format string
/// at load, whatever the filter state it prints will hold.
fn embed_access_log(snippet: &str) -> String {
    SNIPPET_BOOTSTRAP
        .replace("SNIPPET\n", "")
        .replace("ACCESS_LOG", &indented(snippet))
}

/// The YAML documents of every manifest under `envoy/`'s Kubernetes directories, normalised.
fn tested_manifest_documents() -> BTreeSet<String> {
    let mut docs = BTreeSet::new();
    for dir in ["envoy/istio", "envoy/envoy-gateway"] {
        for entry in std::fs::read_dir(paths::workspace_root().join(dir)).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            docs.extend(yaml_documents(&text));
        }
    }
    docs
}

/// The documents of a YAML stream, each without comments (whole-line or trailing), blank lines or
/// its `---` line, so a README may show a manifest without the file's explanations.
fn yaml_documents(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    for line in text.lines() {
        if line.trim_end() == "---" {
            out.push(std::mem::take(&mut current));
            continue;
        }
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        current.push(strip_comment(line).trim_end().to_string());
    }
    out.push(current);
    out.into_iter()
        .filter(|d| !d.is_empty())
        .map(|d| d.join("\n"))
        .collect()
}

fn envoy_validates(block: &Block, bootstrap: &str, dir: &TempDir, wasm: &Path) {
    let file = dir.path().join(format!(
        "{}-{}.yaml",
        block.doc.replace('/', "_"),
        block.line
    ));
    std::fs::write(
        &file,
        bootstrap.replace(EXAMPLE_WASM_PATH, &wasm.display().to_string()),
    )
    .unwrap();
    let (status, log) = validate(&file).unwrap();
    assert!(
        status.success(),
        "{}: Envoy does not load this config ({status}):\n{}",
        block.at(),
        tail(&log, 30)
    );
}

#[test]
fn yaml_blocks_load_in_envoy_or_are_the_tested_manifests() {
    let wasm = paths::hoptrace_wasm().unwrap();
    let dir = TempDir::new("readme-yaml").unwrap();
    let manifests = tested_manifest_documents();
    for block in blocks_of("yaml") {
        let text = &block.text;
        if text.contains("static_resources:") {
            envoy_validates(&block, text, &dir, &wasm);
        } else if text
            .trim_start()
            .starts_with("- name: envoy.filters.http.wasm")
        {
            assert!(
                text.contains(EXAMPLE_WASM_PATH),
                "{}: the snippet should load {EXAMPLE_WASM_PATH}",
                block.at()
            );
            envoy_validates(&block, &embed_filter(text), &dir, &wasm);
        } else if text.trim_start().starts_with("access_log:") {
            envoy_validates(&block, &embed_access_log(text), &dir, &wasm);
        } else if text.contains("apiVersion:") {
            for doc in yaml_documents(text) {
                assert!(
                    manifests.contains(&doc),
                    "{}: this manifest is not one of the tested manifests under envoy/istio or \
                     envoy/envoy-gateway; show one of them as it stands:\n{doc}",
                    block.at()
                );
            }
        } else {
            panic!(
                "{}: a YAML block that is neither an Envoy bootstrap, an http_filters entry \
                 (`- name: envoy.filters.http.wasm`), an `access_log` nor a Kubernetes manifest",
                block.at()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Commands.

/// The commands of a `sh` block: continuation lines joined, comments dropped, split at `&&`, `;`
/// and `|`.
fn commands(block: &Block) -> Vec<String> {
    let mut joined = Vec::new();
    let mut current = String::new();
    for line in block.text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let code = strip_comment(line);
        match code.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(code);
                joined.push(std::mem::take(&mut current));
            }
        }
    }
    assert!(current.is_empty(), "{}: a `\\` ends the block", block.at());
    joined
        .iter()
        .flat_map(|c| c.split("&&").flat_map(|c| c.split(';')))
        .flat_map(|c| c.split(" | "))
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect()
}

/// A line without its trailing `# comment` (outside quotes).
fn strip_comment(line: &str) -> &str {
    let (mut single, mut double) = (false, false);
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && prev.is_whitespace() => {
                return line.get(..i).unwrap_or(line).trim_end()
            }
            _ => {}
        }
        prev = c;
    }
    line
}

/// A command's environment assignments and its words.
fn words(command: &str, at: &str) -> (Vec<(String, String)>, Vec<String>) {
    // `<admin>`-style placeholders are the reader's to fill in; lex them as words.
    let words = shlex::split(command).unwrap_or_else(|| panic!("{at}: cannot lex `{command}`"));
    let mut env = Vec::new();
    let mut rest = words.into_iter().peekable();
    while let Some(w) = rest.peek() {
        match w.split_once('=') {
            Some((name, value))
                if !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c == '_') =>
            {
                env.push((name.to_string(), value.to_string()));
                rest.next();
            }
            _ => break,
        }
    }
    (env, rest.collect())
}

fn makefile() -> String {
    std::fs::read_to_string(paths::workspace_root().join("Makefile")).unwrap()
}

fn make_targets() -> BTreeSet<String> {
    makefile()
        .lines()
        .filter_map(|l| l.split_once(':').map(|(t, _)| t))
        .filter(|t| {
            !t.is_empty()
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .map(str::to_string)
        .collect()
}

/// Whether something in the repository reads environment or make variable `name`.
fn variable_is_read(name: &str) -> bool {
    let root = paths::workspace_root();
    let mut places = vec![root.join("Makefile")];
    for dir in [
        "tests/src",
        "tests/src/bin",
        "tools",
        "bench",
        "filter/js/examples/node-proxy",
    ] {
        if let Ok(entries) = std::fs::read_dir(root.join(dir)) {
            places.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_file()));
        }
    }
    places.iter().any(|p| {
        std::fs::read_to_string(p).is_ok_and(|text| {
            text.contains(&format!("\"{name}\""))
                || text.contains(&format!("$({name})"))
                || text.contains(&format!("env.{name}"))
                || text.contains(&format!("${{{name}}}"))
        })
    })
}

fn run_ok(mut cmd: Command, at: &str, what: &str) -> String {
    let out = cmd
        .current_dir(paths::workspace_root())
        .output()
        .unwrap_or_else(|e| panic!("{at}: cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{at}: `{what}` fails ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The shim CLI, built as `cargo run -p hoptrace-shim` would.
fn shim_binary() -> PathBuf {
    let root = paths::workspace_root();
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "-q",
            "-p",
            "hoptrace-shim",
            "--bin",
            "hoptrace-shim",
        ])
        .current_dir(&root)
        .status()
        .unwrap();
    assert!(status.success(), "cannot build hoptrace-shim");
    root.join("target/debug/hoptrace-shim")
}

/// Local URLs only: a command in the docs never reaches past the machine it runs on.
fn local_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or(url);
    ["localhost", "127.0.0.1", "[::1]"]
        .iter()
        .any(|h| rest.starts_with(h))
}

fn file_in_repo(path: &str) -> bool {
    paths::workspace_root().join(path).exists()
}

/// The npm package's name, as `make js` writes it.
fn js_package_name() -> String {
    let cargo = std::fs::read_to_string(paths::workspace_root().join("filter/js/Cargo.toml"))
        .unwrap_or_default();
    let makefile = makefile();
    if makefile.contains("target/js/hoptrace") || cargo.contains("name = \"hoptrace") {
        "hoptrace".to_string()
    } else {
        panic!("cannot tell the npm package's name")
    }
}

fn check_command(command: &str, at: &str, targets: &BTreeSet<String>) {
    let (env, words) = words(command, at);
    for (name, _) in &env {
        assert!(
            variable_is_read(name),
            "{at}: `{command}` sets {name}, which nothing in the repository reads"
        );
    }
    let Some(program) = words.first() else {
        return;
    };
    let args = &words[1..];
    match program.as_str() {
        "make" => {
            for arg in args {
                match arg.split_once('=') {
                    Some((var, _)) => assert!(
                        variable_is_read(var),
                        "{at}: `make {arg}`: nothing reads {var}"
                    ),
                    None => assert!(
                        targets.contains(arg),
                        "{at}: `make {arg}`: the Makefile has no target `{arg}`"
                    ),
                }
            }
        }
        "cargo" => {
            let sep = args.iter().position(|a| a == "--");
            let (cargo_args, cli_args) = match sep {
                Some(i) => (&args[..i], &args[i + 1..]),
                None => (args, &[][..]),
            };
            assert!(
                cargo_args.first().is_some_and(|a| a == "run")
                    && cargo_args
                        .windows(2)
                        .any(|w| w[0] == "-p" && w[1] == "hoptrace-shim"),
                "{at}: `{command}`: only `cargo run -p hoptrace-shim -- …` is known here"
            );
            let shim = shim_binary();
            match cli_args.first().map(String::as_str) {
                // A measurement: its options are checked against its help, its files must exist
                // (a debug build would take half a minute to time nothing).
                Some("bench") => {
                    let mut help = Command::new(&shim);
                    help.args(["help", "bench"]);
                    let help = run_ok(help, at, "hoptrace-shim help bench");
                    for (i, arg) in cli_args.iter().enumerate().skip(1) {
                        if arg.starts_with('-') {
                            assert!(
                                help.contains(&format!("  {arg} ")),
                                "{at}: `{command}`: bench has no option {arg}"
                            );
                        } else if cli_args[i - 1] == "--wasm" || cli_args[i - 1] == "--baseline" {
                            assert!(file_in_repo(arg), "{at}: `{command}`: no file {arg}");
                        }
                    }
                }
                _ => {
                    let mut cmd = Command::new(&shim);
                    cmd.args(cli_args);
                    run_ok(cmd, at, command);
                }
            }
        }
        "node" => {
            let file = args.last().expect("node runs a file");
            let path = if file_in_repo(file) {
                file.clone()
            } else {
                format!("filter/js/{file}")
            };
            assert!(file_in_repo(&path), "{at}: `{command}`: no file {file}");
            let mut cmd = Command::new("node");
            cmd.args(["--check", &path]);
            run_ok(cmd, at, &format!("node --check {path}"));
        }
        "python3" => {
            let script = args.first().expect("python3 runs a script");
            assert!(
                file_in_repo(script),
                "{at}: `{command}`: no script {script}"
            );
            let mut cmd = Command::new("python3");
            cmd.args([script.as_str(), "--help"]);
            let help = run_ok(cmd, at, &format!("python3 {script} --help"));
            for option in args.iter().filter(|a| a.starts_with("--")) {
                assert!(
                    help.contains(option.as_str()),
                    "{at}: `{command}`: {script} has no option {option}"
                );
            }
        }
        "skopeo" => {
            let source = args
                .iter()
                .find_map(|a| a.strip_prefix("oci:"))
                .unwrap_or_else(|| panic!("{at}: `{command}` copies no oci: layout"));
            let (layout, _tag) = source.split_once(':').unwrap_or((source, ""));
            assert!(
                makefile().contains(layout),
                "{at}: `{command}`: `make oci` does not write {layout}"
            );
        }
        "curl" => {
            let url = args
                .iter()
                .find(|a| !a.starts_with('-'))
                .unwrap_or_else(|| panic!("{at}: `{command}` has no URL"));
            assert!(local_url(url), "{at}: `{command}` leaves this machine");
        }
        "grep" => {}
        "kubectl" => {
            let files: Vec<&String> = args
                .windows(2)
                .filter(|w| w[0] == "-f")
                .map(|w| &w[1])
                .collect();
            assert!(
                args.first().is_some_and(|a| a == "apply") && !files.is_empty(),
                "{at}: `{command}`: only `kubectl apply -f FILE…` is known here"
            );
            for file in files {
                assert!(
                    file.starts_with("envoy/") && file_in_repo(file),
                    "{at}: `{command}`: {file} is not one of the tested manifests under envoy/"
                );
            }
        }
        "envoy" => {
            let config = args
                .windows(2)
                .find(|w| w[0] == "-c")
                .map(|w| w[1].clone())
                .unwrap_or_else(|| panic!("{at}: `{command}`: only `envoy -c FILE`"));
            assert!(
                config.starts_with("envoy/") && file_in_repo(&config),
                "{at}: `{command}`: not one of the configs in envoy/ that Envoy validates"
            );
        }
        "npm" => {
            let name = js_package_name();
            assert!(
                args.iter()
                    .any(|a| a == &name || a.ends_with(&format!("target/js/{name}"))),
                "{at}: `{command}`: the package is `{name}` (target/js/{name})"
            );
        }
        other => panic!(
            "{at}: `{command}`: tests/tests/readme.rs does not know how to check `{other}`; \
             teach it, so the docs' commands stay tested"
        ),
    }
}

#[test]
fn commands_run_or_name_what_exists() {
    let targets = make_targets();
    let mut checked = 0;
    for block in blocks_of("sh") {
        for command in commands(&block) {
            check_command(&command, &block.at(), &targets);
            checked += 1;
        }
    }
    assert!(checked > 0, "no commands found");
    // The README starts with the two commands that do everything.
    let first = &fenced_blocks("README.md")[0];
    let first_commands = commands(first);
    assert_eq!(
        first_commands,
        ["make demo", "make test"],
        "{}: the README's first block is the two commands",
        first.at()
    );
}

#[test]
fn js_blocks_are_modules_node_parses() {
    let dir = TempDir::new("readme-js").unwrap();
    for block in blocks_of("js") {
        assert!(
            block
                .text
                .contains(&format!("from '{}'", js_package_name())),
            "{}: the example should import the package",
            block.at()
        );
        let file = dir.path().join(format!("readme-{}.mjs", block.line));
        std::fs::write(&file, &block.text).unwrap();
        let mut cmd = Command::new("node");
        cmd.arg("--check").arg(&file);
        run_ok(cmd, &block.at(), "node --check");
    }
}

#[test]
fn the_block_parser_reads_indented_fences_and_commands() {
    let block = Block {
        doc: "test",
        line: 1,
        lang: "sh".into(),
        text: "make wasm   # builds\nFOO=1 make \\\n  demo && curl -s 'localhost:9/x#y' | grep a\n"
            .into(),
    };
    assert_eq!(
        commands(&block),
        [
            "make wasm",
            "FOO=1 make  demo",
            "curl -s 'localhost:9/x#y'",
            "grep a"
        ]
    );
    let (env, w) = words("FOO=1 BAR=x make demo", "t");
    assert_eq!(env.len(), 2);
    assert_eq!(w, ["make", "demo"]);
}
