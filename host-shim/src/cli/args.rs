//! Hand-rolled option parsing (the options are few; clap would double the CLI's build time).

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};

use super::spec::RequestSpec;

/// `replay`'s options.
pub struct ReplayArgs {
    pub wasm: PathBuf,
    pub config: String,
    pub requests: Vec<RequestSpec>,
    pub properties: Vec<(String, Vec<u8>)>,
    pub clusters: Vec<String>,
    pub collector_status: u16,
    pub flush_secs: u64,
    pub seed: u64,
    pub foreign_functions: bool,
}

/// `bench`'s options.
pub struct BenchArgs {
    pub wasm: PathBuf,
    pub baseline: Option<PathBuf>,
    pub config: String,
    pub requests: usize,
    pub foreign_functions: bool,
}

/// Walks `args`, handing each option and its value to `take`.
fn each_option(
    args: &[String],
    command: &str,
    mut take: impl FnMut(&str, &mut dyn FnMut() -> Result<String>) -> Result<bool>,
) -> Result<()> {
    let mut iter = args.iter();
    while let Some(flag) = iter.next() {
        let mut value = || {
            iter.next()
                .cloned()
                .ok_or_else(|| anyhow!("{flag} needs a value"))
        };
        if !take(flag, &mut value)? {
            bail!("unknown option `{flag}` for {command}; try `hoptrace-shim help {command}`");
        }
    }
    Ok(())
}

/// `JSON` as given, or the contents of `FILE` for `@FILE`.
fn config_value(value: String) -> Result<String> {
    match value.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {path}")),
        None => Ok(value),
    }
}

/// `PATH=VALUE`, VALUE a string or `int:N`.
fn property(value: &str) -> Result<(String, Vec<u8>)> {
    let (path, raw) = value
        .split_once('=')
        .ok_or_else(|| anyhow!("--property wants PATH=VALUE, got `{value}`"))?;
    let bytes = match raw.strip_prefix("int:") {
        Some(n) => n
            .parse::<i64>()
            .with_context(|| format!("--property {path}: `{n}` is not an int64"))?
            .to_le_bytes()
            .to_vec(),
        None => raw.as_bytes().to_vec(),
    };
    Ok((path.to_string(), bytes))
}

impl ReplayArgs {
    pub fn parse(args: &[String]) -> Result<Self> {
        let mut wasm = None;
        let mut out = Self {
            wasm: PathBuf::new(),
            config: String::new(),
            requests: Vec::new(),
            properties: Vec::new(),
            clusters: Vec::new(),
            collector_status: 200,
            flush_secs: 30,
            seed: 0,
            foreign_functions: true,
        };
        each_option(args, "replay", |flag, value| {
            match flag {
                "--wasm" => wasm = Some(PathBuf::from(value()?)),
                "--config" => out.config = config_value(value()?)?,
                "--request" => out.requests.push(RequestSpec::parse(&value()?)?),
                "--requests-file" => {
                    let path = value()?;
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {path}"))?;
                    for (n, line) in text.lines().enumerate() {
                        let line = line.trim();
                        if line.is_empty() || line.starts_with('#') {
                            continue;
                        }
                        let spec = RequestSpec::parse(line)
                            .with_context(|| format!("{path} line {}", n + 1))?;
                        out.requests.push(spec);
                    }
                }
                "--property" => out.properties.push(property(&value()?)?),
                "--cluster" => out.clusters.push(value()?),
                "--collector-status" => {
                    out.collector_status = value()?.parse().context("--collector-status")?
                }
                "--flush" => out.flush_secs = value()?.parse().context("--flush")?,
                "--seed" => out.seed = value()?.parse().context("--seed")?,
                "--no-cel" => out.foreign_functions = false,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        out.wasm = wasm.ok_or_else(|| anyhow!("replay needs --wasm PATH"))?;
        if out.requests.is_empty() {
            out.requests.push(RequestSpec::parse("GET /")?);
        }
        Ok(out)
    }
}

impl BenchArgs {
    pub fn parse(args: &[String]) -> Result<Self> {
        let mut wasm = None;
        let mut out = Self {
            wasm: PathBuf::new(),
            baseline: None,
            config: String::new(),
            requests: 10_000,
            foreign_functions: true,
        };
        each_option(args, "bench", |flag, value| {
            match flag {
                "--wasm" => wasm = Some(PathBuf::from(value()?)),
                "--baseline" => out.baseline = Some(PathBuf::from(value()?)),
                "--config" => out.config = config_value(value()?)?,
                "-n" => out.requests = value()?.parse().context("-n")?,
                "--no-cel" => out.foreign_functions = false,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        out.wasm = wasm.ok_or_else(|| anyhow!("bench needs --wasm PATH"))?;
        if out.requests == 0 {
            bail!("-n must be at least 1");
        }
        Ok(out)
    }
}
