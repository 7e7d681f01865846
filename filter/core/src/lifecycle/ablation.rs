//! Benchmark-only builds that take one part of a sampled request away (`make bench-ablate` prices
//! each part by the time its absence saves). Compiled only with an `ablate-*` feature, never in
//! the shipped module; they are features rather than source patches so that a change which breaks
//! one fails the build of `make lint`, not a benchmark run.
//!
//! The facts an ablated build does not read are replaced by constants of the same size, so its
//! spans (and their export) cost what the full build's do.

use super::reads::{int64, HostReads, Read};
use crate::span::{ListenerDirection, RequestFacts, ResponseFacts};

/// The stream-end facts without Envoy's stream info: constants, and with
/// `ablate-stream-end-reads-but-three` the status, flags and upstream address as three property
/// reads; with `ablate-status-only` the status already read from `:status` is kept.
pub(super) fn stream_end_facts(
    host: &mut impl HostReads,
    req: &mut RequestFacts,
    resp: &mut ResponseFacts,
) -> ListenerDirection {
    req.start_unix_nano = resp
        .upstream_start_unix_nano
        .unwrap_or(0)
        .saturating_sub(20_000);
    req.protocol = "HTTP/1.1".to_string();
    req.client_address = "127.0.0.1:54321".to_string();
    resp.upstream_cluster = "upstream".to_string();
    if cfg!(feature = "ablate-stream-end-reads-but-three") {
        let mut int = |path: &[&str]| host.read(Read::Property(path)).and_then(|b| int64(&b));
        resp.status_code = u16::try_from(int(&["response", "code"]).unwrap_or(0)).unwrap_or(0);
        resp.response_flags = u64::try_from(int(&["response", "flags"]).unwrap_or(0)).unwrap_or(0);
        resp.upstream_address = host
            .read(Read::Property(&["upstream", "address"]))
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default();
    } else {
        if !cfg!(feature = "ablate-status-only") {
            resp.status_code = 200;
        }
        resp.upstream_address = "127.0.0.1:18081".to_string();
    }
    ListenerDirection::Unspecified
}

/// Whether stream-end facts are replaced by [`stream_end_facts`].
pub(super) const STREAM_END_READS: bool = cfg!(any(
    feature = "ablate-stream-end-reads",
    feature = "ablate-stream-end-reads-but-three",
    feature = "ablate-status-only"
));
/// Whether the status comes from `:status` at the first byte (`ablate-status-only`).
pub(super) const STATUS_FROM_HEADER: bool = cfg!(feature = "ablate-status-only");
/// Whether a recording stream's end does nothing past the clock (`ablate-stream-end`).
pub(super) const STREAM_END: bool = cfg!(feature = "ablate-stream-end");
/// Whether sampled requests record nothing (`ablate-recording`).
pub(super) const RECORDING: bool = cfg!(feature = "ablate-recording");

/// `on`, hidden from the optimiser, so the code behind an ablation's early return stays compiled
/// and only its host calls and their use go.
pub(super) fn taken_away(on: bool) -> bool {
    on && std::hint::black_box(true)
}
