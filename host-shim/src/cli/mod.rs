//! The command line: which command, its options, and the help texts.

mod args;
mod bench;
mod replay;
mod spec;

use anyhow::{bail, Result};

/// What `hoptrace-shim` and `hoptrace-shim help` print.
pub const HELP: &str = "\
hoptrace-shim: run a proxy-wasm filter (such as hoptrace.wasm) outside Envoy, inside a fake
Envoy with a virtual clock. Nothing goes over the network: the filter's exports are printed,
not delivered, and a fake collector answers them.

USAGE
  hoptrace-shim replay --wasm PATH [--config JSON|@FILE] [--request SPEC]... [--requests-file FILE]
                       [--property PATH=VALUE]... [--cluster NAME]... [--collector-status CODE]
                       [--flush SECONDS] [--seed N] [--no-cel]
  hoptrace-shim bench  --wasm PATH [--baseline PATH] [--config JSON|@FILE] [-n N] [--no-cel]
  hoptrace-shim help [replay|bench]

COMMANDS
  replay  Send requests through the filter and print, as JSON: the headers the upstream would
          receive, the host calls each request cost, the OTLP export requests the filter sent
          (decoded), its metrics and its log lines.
  bench   Time requests through the filter and count host calls per request, unsampled and
          sampled, next to a baseline module (default: floor_noop.wasm beside --wasm).

EXAMPLES
  cargo build --release --target wasm32-wasip1 -p hoptrace -p floor-noop -p floor-rewrite
  hoptrace-shim replay --wasm target/wasm32-wasip1/release/hoptrace.wasm \\
      --request 'GET /hello -H traceparent:00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
  cargo run --release -p hoptrace-shim -- bench \\
      --wasm target/wasm32-wasip1/release/hoptrace.wasm -n 20000
";

/// `hoptrace-shim help replay`.
pub const REPLAY_HELP: &str = "\
hoptrace-shim replay: send requests through a filter and print what it did, as JSON.

  --wasm PATH            the proxy-wasm module (required)
  --config JSON|@FILE    plugin configuration, inline or read from FILE (default: empty)
  --request SPEC         a request; repeat for more (default: one `GET /`)
  --requests-file FILE   requests, one SPEC per line; blank lines and # comments skipped
  --property PATH=VALUE  an Envoy property for every request, e.g.
                         --property xds.listener_direction=int:1 (int64, as Envoy encodes it)
                         --property xds.node.metadata.WORKLOAD_NAME=reviews-v1 (a string)
  --cluster NAME         a cluster the filter may call; otlp_collector and the configuration's
                         collector.cluster are always known
  --collector-status N   how the fake collector answers each export (default 200)
  --flush SECONDS        virtual time to run after the last request, so batches leave and
                         retries happen (default 30)
  --seed N               seed of the filter's randomness (default 0: runs repeat exactly)
  --no-cel               a host without Envoy's CEL foreign functions (expr_create, ...), so a
                         filter reads properties one at a time instead

SPEC is `METHOD PATH [-H NAME:VALUE]... [-s STATUS] [-t MS]`:
  -H  a request header (repeat it; repeated names stay separate lines)
  -s  the status the upstream answers with (default 200)
  -t  how long the request takes, in virtual milliseconds (default 5)
  e.g. 'POST /api/orders -H traceparent:00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 -s 503'
:authority defaults to example.com and :scheme to http.

Output: {\"requests\": [...], \"exports\": [...], \"metrics\": {...}, \"logs\": [...]}; each export
has its cluster, headers and the OTLP body decoded with the official schema (ids in hex).
";

/// `hoptrace-shim help bench`.
pub const BENCH_HELP: &str = "\
hoptrace-shim bench: cost per request of a filter next to a baseline, in one run.

  --wasm PATH          the module to measure (required)
  --baseline PATH      the module to compare with (default: floor_noop.wasm beside --wasm)
  --config JSON|@FILE  plugin configuration of the measured module (default: empty)
  -n N                 requests per row (default 10000; a tenth more run first as warm-up)
  --no-cel             a host without Envoy's CEL foreign functions (expr_create, ...)

Each request is a full stream: request headers, a 200 response, log/done/delete. Unsampled
requests carry a traceparent with the sampled flag 0, sampled ones flag 1 (a parent-based
sampler, hoptrace's default, follows it). Every 256 requests virtual time moves 1 s and the
fake collector answers the exports with 200; that time and those host calls are shown apart
(export columns), spread over the requests. Build with --release: a debug build's timings mean
nothing. Host calls are the figure that carries over to Envoy, where each costs several µs.
";

/// Runs the command named by `args[0]`.
pub fn run(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        None | Some("help" | "--help" | "-h") => {
            match args.get(1).map(String::as_str) {
                Some("replay") => print!("{REPLAY_HELP}"),
                Some("bench") => print!("{BENCH_HELP}"),
                _ => print!("{HELP}"),
            }
            Ok(())
        }
        Some("replay") if wants_help(args) => {
            print!("{REPLAY_HELP}");
            Ok(())
        }
        Some("bench") if wants_help(args) => {
            print!("{BENCH_HELP}");
            Ok(())
        }
        Some("replay") => replay::run(&args::ReplayArgs::parse(args.get(1..).unwrap_or_default())?),
        Some("bench") => bench::run(&args::BenchArgs::parse(args.get(1..).unwrap_or_default())?),
        Some(other) => bail!("unknown command `{other}`; try `hoptrace-shim help`"),
    }
}

fn wants_help(args: &[String]) -> bool {
    args.iter().any(|a| a == "--help" || a == "-h")
}
