//! Two plugin configurations in one VM: Envoy gives each its own root context, and every stream
//! belongs to the root of the listener it came through. hoptrace keeps its own context table
//! (`filter/plugin/src/entry.rs`), so this checks that each stream finds its root's configuration.

// Test helpers fail the test by panicking, like the #[test] fns clippy.toml already allows.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use hoptrace_e2e::otlp::of_trace;
use hoptrace_e2e::{Envoy, EnvoyConfig, Listener, Receiver, Request, Upstream};

#[test]
fn each_listener_traces_with_its_own_configuration_in_a_shared_vm() {
    const PER_LISTENER: usize = 4;
    let receiver = Receiver::start().unwrap();
    let upstream = Upstream::start("echo").unwrap();
    // The same vm_id and root_id on both listeners (as the harness writes them), different
    // configurations: one VM per worker, two root contexts in it.
    let config = EnvoyConfig::new()
        .concurrency(1)
        .collector(receiver.port())
        .listener(
            Listener::gateway("a", upstream.port())
                .plugin(r#"{"service_name":"svc-a","batch":{"schedule_delay_ms":200}}"#),
        )
        .listener(
            Listener::gateway("b", upstream.port())
                .plugin(r#"{"service_name":"svc-b","batch":{"schedule_delay_ms":200}}"#),
        );
    let envoy = Envoy::start(&config).unwrap_or_else(|e| panic!("{e}"));
    let mut sent = Vec::new();
    for i in 0..PER_LISTENER {
        for (listener, service) in [("a", "svc-a"), ("b", "svc-b")] {
            let trace_id = format!(
                "5bf92f3577b34da6a3ce929d{:04x}{i:04x}",
                listener.as_bytes()[0]
            );
            let response = Request::get("/shared")
                .header("traceparent", &format!("00-{trace_id}-00f067aa0ba902b7-01"))
                .send(envoy.port(listener))
                .unwrap();
            assert_eq!(response.status, 200);
            sent.push((trace_id, service));
        }
    }
    // SERVER + CLIENT per request.
    let spans = receiver.wait_for_spans(2 * sent.len(), Duration::from_secs(15));
    for (trace_id, service) in &sent {
        let trace = of_trace(&spans, trace_id);
        assert_eq!(trace.len(), 2, "two spans for {trace_id} through {service}");
        for span in trace {
            assert_eq!(
                span.resource_str("service.name"),
                Some(*service),
                "{trace_id} was traced with another listener's configuration"
            );
        }
    }
}
