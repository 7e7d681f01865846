//! `otlp-receiver`: the tests' OTLP/HTTP trace receiver as a program, for `make demo` and for people.
//! Listens on 127.0.0.1, decodes every export with the official schema, appends each accepted request
//! as one OTLP/JSON line to `--out` (the OTLP file format, loadable into Jaeger), prints a line per
//! request and a summary at the end. Stops after `--max-seconds`, on stdin EOF
//! with `--until-stdin-eof`, or when the file named by `--stop-file` appears.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use hoptrace_e2e::otlp;
use hoptrace_e2e::Receiver;

const USAGE: &str = "usage: otlp-receiver [--listen 127.0.0.1:4318] [--out spans.jsonl] \
[--max-seconds 600] [--until-stdin-eof] [--stop-file PATH] [--quiet]";

struct Options {
    listen: String,
    out: Option<String>,
    max_seconds: u64,
    until_stdin_eof: bool,
    stop_file: Option<String>,
    quiet: bool,
}

fn parse_args() -> Result<Options> {
    let mut options = Options {
        listen: "127.0.0.1:4318".to_string(),
        out: None,
        max_seconds: 600,
        until_stdin_eof: false,
        stop_file: None,
        quiet: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .with_context(|| format!("{arg} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--listen" => options.listen = value()?,
            "--out" => options.out = Some(value()?),
            "--max-seconds" => options.max_seconds = value()?.parse().context("--max-seconds")?,
            "--until-stdin-eof" => options.until_stdin_eof = true,
            "--stop-file" => options.stop_file = Some(value()?),
            "--quiet" => options.quiet = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    let host = options
        .listen
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or("");
    if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
        bail!(
            "--listen must be a loopback address, got {}",
            options.listen
        );
    }
    Ok(options)
}

fn main() -> Result<()> {
    let options = parse_args()?;
    let receiver = Receiver::start_on(&options.listen)?;
    println!("otlp-receiver listening on 127.0.0.1:{}", receiver.port());
    std::io::stdout().flush()?;

    let stdin_closed = Arc::new(AtomicBool::new(false));
    if options.until_stdin_eof {
        let flag = Arc::clone(&stdin_closed);
        std::thread::spawn(move || {
            let mut sink = [0u8; 256];
            let mut stdin = std::io::stdin();
            while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
            flag.store(true, Ordering::SeqCst);
        });
    }

    let mut out = match &options.out {
        Some(path) => Some(BufWriter::new(
            File::create(path).with_context(|| format!("create {path}"))?,
        )),
        None => None,
    };
    let deadline = Instant::now() + Duration::from_secs(options.max_seconds);
    let mut seen = 0;
    loop {
        let requests = receiver.requests();
        for request in requests.iter().skip(seen) {
            if !options.quiet {
                println!(
                    "{} {} spans, {} bytes ({}{})",
                    match &request.decoded {
                        Ok(_) => "received",
                        Err(_) => "undecodable",
                    },
                    request.span_count,
                    request.wire_bytes,
                    request.header("content-type").unwrap_or("no content-type"),
                    request
                        .header("content-encoding")
                        .map(|e| format!(", {e}"))
                        .unwrap_or_default(),
                );
            }
            if let (Some(out), Ok(decoded), true) =
                (out.as_mut(), &request.decoded, request.accepted)
            {
                writeln!(out, "{}", otlp::to_json(decoded)?)?;
                out.flush()?;
            }
        }
        seen = requests.len();
        let stop_file = options
            .stop_file
            .as_ref()
            .is_some_and(|p| std::path::Path::new(p).exists());
        if Instant::now() > deadline || stdin_closed.load(Ordering::SeqCst) || stop_file {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    let spans = receiver.spans();
    let traces: BTreeSet<String> = spans.iter().map(|s| s.trace_id()).collect();
    println!(
        "otlp-receiver: {} requests, {} spans, {} traces",
        receiver.requests().len(),
        spans.len(),
        traces.len()
    );
    Ok(())
}
