//! hoptrace-shim: a proxy-wasm host (ABI 0.2.1) on wasmtime, for tests, benchmarks and people.
//!
//! It loads a proxy-wasm module (the built `hoptrace.wasm`, or any other) and plays Envoy around
//! it: a root context and HTTP contexts with Envoy's callback order, header maps that keep repeated
//! lines, properties with Envoy's encodings, a virtual clock and tick timer, metrics, captured logs
//! and HTTP callouts that wait until the test answers, delays or fails them. It is a stateful fake
//! you query, not a script of expected calls. Every callback runs under a fuel budget and every
//! guest pointer is bounds-checked, so a trapping, panicking or looping guest is an [`Error`], never
//! a hang or a host crash. Host calls are counted per callback and per request ([`HostCalls`]),
//! because host calls are what a request costs in Envoy.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use hoptrace_shim::{CalloutResponse, Host};
//!
//! # fn main() -> Result<(), hoptrace_shim::Error> {
//! let mut host = Host::load(
//!     "target/wasm32-wasip1/release/hoptrace.wasm",
//!     r#"{"collector": {"cluster": "otlp_collector"}}"#,
//! )?;
//! host.add_cluster("otlp_collector");
//! host.set_property_i64("xds.listener_direction", 1); // INBOUND
//!
//! let mut req = host.request([
//!     (":method", "GET"),
//!     (":path", "/hello"),
//!     (":authority", "example.com"),
//!     ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
//! ])?;
//! let sent = req.upstream_headers().get_str("traceparent").map(str::to_owned);
//! req.respond(200, [("content-type", "text/plain")])?;
//! let report = req.end()?;
//! println!("upstream got {sent:?}; the request cost {} host calls", report.total_host_calls());
//!
//! host.advance(Duration::from_secs(5))?; // ticks fire; the filter may export
//! for callout in host.callouts() {
//!     println!("{} bytes to {}", callout.body.len(), callout.cluster);
//!     host.answer(callout.id, CalloutResponse::new(200))?;
//! }
//! println!("{:?}", host.metric("hoptrace.spans.exported"));
//! # Ok(()) }
//! ```
//!
//! # Envoy behaviour reproduced
//!
//! - Start: `_initialize`, `proxy_on_context_create(root, 0)`, `proxy_on_vm_start`,
//!   `proxy_on_configure` (plugin configuration readable only there).
//! - A request: `proxy_on_context_create(id, root)`, `proxy_on_request_headers(n, eos)`, body,
//!   trailers, `proxy_on_response_headers`, body, trailers, then `proxy_on_log`, `proxy_on_done`,
//!   `proxy_on_delete` (Envoy logs before it destroys the filter).
//! - Maps are reachable in their own callback until the filter continues, and readable in
//!   `proxy_on_log`; elsewhere a read is empty and a write `BAD_ARGUMENT`
//!   ([`state::stream`] has the details). `get` sees the first of repeated lines.
//! - `request.time`, `request.duration`, `response.code`, `response.flags`,
//!   `response.code_details` are derived for each request; anything else is set by the test.
//! - Callouts: unknown cluster or missing `:path`/`:method`/`:authority` is `BAD_ARGUMENT`;
//!   timeouts are local `504`s, refused connections local `503`s, resets carry no headers.
//! - Metrics follow Envoy's rules (a counter cannot be decremented; a histogram cannot be read).
//! - A trap fails the VM: that call and every later one is an error.
//!
//! Not reproduced: a local response (`proxy_send_local_response`) is recorded
//! ([`Stream::local_response`]) but not run back through `proxy_on_response_headers` as Envoy
//! does; gRPC calls are recorded and never answered.
//!
//! Foreign functions: Envoy's CEL ones, `expr_create`, `expr_evaluate` and `expr_delete`
//! ([`state::foreign`]), evaluated over the properties a test set, for the subset of CEL in
//! [`cel`]; any other name is `NOT_FOUND`. [`HostOptions::foreign_functions`] turns them off, as
//! a host without CEL.
//! WASI: `random_get`, `clock_time_get` and `fd_write` are served and counted as host calls; the
//! environment and arguments (empty), `sched_yield` and `proc_exit` are served and not counted;
//! a module importing any other WASI function is refused at load time, naming it.

#![forbid(unsafe_code)]

pub mod abi;
pub mod cel;
mod error;
pub mod headers;
mod host;
mod imports;
pub mod limits;
mod memory;
pub mod otlp;
pub mod pairs;
mod request;
mod runtime;
pub mod state;

pub use abi::{Action, LogLevel};
pub use error::Error;
pub use headers::HeaderMap;
pub use host::{Host, HostOptions, Wasm};
pub use request::{Stream, StreamReport};
pub use state::callouts::{Callout, CalloutResponse, Failure};
pub use state::calls::{CallbackRecord, HostCalls};
pub use state::logs::LogEntry;
pub use state::metrics::{Histogram, MetricKind};
pub use state::stream::LocalResponse;
