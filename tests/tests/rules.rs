//! Sampling rules and a configuration change in a real Envoy: three paths under load at 100 %,
//! 1 % and `always_off`, sampled within binomial bounds and counted per rule; halfway through,
//! the listener (and so the plugin configuration) is replaced through a watched LDS file, and
//! every span either configuration recorded reaches the collector or is counted as dropped.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use hoptrace_e2e::accounting::{self, Accounting};
use hoptrace_e2e::otlp::{attr_str, KIND_SERVER};
use hoptrace_e2e::{Envoy, EnvoyConfig, Listener, Receiver, Request, Upstream};

/// Requests per path, each half sent under one configuration.
const CHECKOUT: u64 = 200;
const SEARCH: u64 = 3000;
const HEALTH: u64 = 200;
const SEARCH_RATIO: f64 = 0.01;

/// The rules of both configurations; only the service name and the batch delay differ. The first
/// configuration's delay is longer than the test: its spans leave only when its root drains.
fn plugin(service: &str, schedule_delay_ms: u64) -> String {
    format!(
        r#"{{"service_name":"{service}","sampler":"always_off","keep":{{"errors":false}},
            "batch":{{"schedule_delay_ms":{schedule_delay_ms}}},
            "sampling":{{"rules":[
              {{"name":"checkout","match":{{"path_prefix":"/checkout"}},"sampler":"always_on"}},
              {{"name":"search","match":{{"path":"/search"}},"sampler":"traceidratio","sampler_arg":{SEARCH_RATIO}}},
              {{"name":"health","match":{{"path":"/healthz","method":"GET"}},"sampler":"always_off"}}]}}}}"#
    )
}

fn config(receiver: &Receiver, upstream: &Upstream, port: u16, plugin: &str) -> EnvoyConfig {
    EnvoyConfig::new()
        .dynamic_listeners()
        .collector(receiver.port())
        .listener(
            Listener::inbound("in", upstream.port())
                .port(port)
                .plugin(plugin),
        )
}

/// Sends `n` requests spread over `CHECKOUT : SEARCH : HEALTH`, four at a time.
fn load(port: u16, half: u64) {
    let plan: Vec<&'static str> = (0..half)
        .flat_map(|i| {
            let mut paths = vec!["/search?q=shoes"; (SEARCH / CHECKOUT) as usize];
            if i < CHECKOUT / 2 {
                paths.push("/checkout/cart");
                paths.push("/healthz");
            }
            paths
        })
        .collect();
    std::thread::scope(|s| {
        for chunk in plan.chunks(plan.len().div_ceil(4)) {
            s.spawn(move || {
                for path in chunk {
                    let r = Request::get(path).send(port).unwrap();
                    assert_eq!(r.status, 200, "{path}");
                }
            });
        }
    });
}

/// 5 sigma of a binomial(n, p) around its mean, as a closed range of counts.
fn binomial_bounds(n: u64, p: f64) -> (u64, u64) {
    let mean = n as f64 * p;
    let sigma = (n as f64 * p * (1.0 - p)).sqrt();
    let low = (mean - 5.0 * sigma).max(0.0).floor() as u64;
    let high = (mean + 5.0 * sigma).ceil() as u64;
    (low, high)
}

#[test]
fn rules_sample_each_path_and_a_configuration_change_loses_no_span() {
    let receiver = Receiver::start().unwrap();
    let upstream = Upstream::start("app").unwrap();
    let port = hoptrace_e2e::ports::free_port().unwrap();
    let v1 = config(&receiver, &upstream, port, &plugin("rules-v1", 600_000));
    let envoy = Envoy::start(&v1).unwrap_or_else(|e| panic!("{e}"));

    load(port, CHECKOUT / 2);
    let before = Accounting::read(&envoy).unwrap();
    assert_eq!(
        before.exported, 0,
        "the first configuration holds its spans"
    );
    assert!(before.queued > 0 && before.balanced(), "{before:?}");

    let v2 = config(&receiver, &upstream, port, &plugin("rules-v2", 200));
    envoy
        .update_listeners(&v2, Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e:#}\n{}", envoy.log()));
    load(port, CHECKOUT / 2);

    let sent = CHECKOUT + SEARCH + HEALTH;
    let end = accounting::wait_for(&envoy, Duration::from_secs(30), |a| {
        a.requests == sent && a.settled() && a.exported + a.dropped_total() == a.recorded()
    })
    .unwrap();
    assert!(
        end.settled(),
        "every span exported or dropped: {end:?}\n{}",
        envoy.log()
    );
    assert_eq!(end.requests, sent);
    assert_eq!(end.dropped_total(), 0, "a healthy collector: {end:?}");

    let spans = receiver.wait_for_spans(end.exported as usize, Duration::from_secs(10));
    assert_eq!(
        spans.len() as u64,
        end.exported,
        "the receiver got every exported span"
    );
    let count = |path: &str, service: Option<&str>| {
        spans
            .iter()
            .filter(|s| s.kind() == KIND_SERVER)
            .filter(|s| s.attr_str("url.path") == Some(path))
            .filter(|s| {
                service.is_none_or(|svc| attr_str(&s.resource, "service.name") == Some(svc))
            })
            .count() as u64
    };
    assert_eq!(count("/checkout/cart", None), CHECKOUT, "100 %");
    assert_eq!(
        count("/checkout/cart", Some("rules-v1")),
        CHECKOUT / 2,
        "the replaced configuration's spans arrived: it drained"
    );
    assert_eq!(count("/healthz", None), 0, "never sampled");
    let search = count("/search", None);
    let (low, high) = binomial_bounds(SEARCH, SEARCH_RATIO);
    assert!(
        (low..=high).contains(&search),
        "{search} of {SEARCH} outside [{low}, {high}]"
    );
    assert!(
        spans.iter().all(|s| s
            .attr_str("hoptrace.sampling.rule")
            .is_some_and(|r| r == "checkout" || r == "search")),
        "each span names its rule"
    );

    let stats = envoy.hoptrace_stats().unwrap();
    let stat = |name: &str| stats.get(name).copied().unwrap_or(0);
    assert_eq!(stat("requests.matched.checkout"), CHECKOUT);
    assert_eq!(stat("requests.matched.search"), SEARCH);
    assert_eq!(stat("requests.matched.health"), HEALTH);
    assert_eq!(stat("requests.sampled.checkout"), CHECKOUT);
    assert_eq!(stat("requests.sampled.search"), search);
    assert_eq!(stat("requests.sampled.health"), 0);
    assert_eq!(
        end.sampled,
        CHECKOUT + search,
        "one SERVER span per sampled request"
    );
    assert_eq!(
        stat("queue.bytes"),
        0,
        "the gauges came back to what the live roots hold"
    );
}
