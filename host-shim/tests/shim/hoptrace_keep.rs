//! Keeping what the head sampler dropped, through hoptrace.wasm: an unsampled 503, a reset and a
//! slow request export this hop's span, marked kept; a fast 200 exports nothing; a storm of 503s
//! is capped by `keep.max_per_second` and every span is still counted.

use std::time::Duration;

use hoptrace_shim::Host;

use crate::common;
use crate::hoptrace_support::{hex, load, metric, spans, tick};

/// An unsampled incoming context: the head decision is "no".
const UNSAMPLED: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";

/// How one request ends.
enum Ending {
    Status(u16),
    Reset,
}

/// One unsampled request that ends as `ending` after `took`; the parent id sent upstream.
fn unsampled(host: &mut Host, ending: Ending, took: Duration) -> String {
    let mut req = host
        .request(common::get("/checkout?id=7", &[("traceparent", UNSAMPLED)]))
        .unwrap();
    let sent = req
        .upstream_headers()
        .get_str("traceparent")
        .unwrap()
        .to_owned();
    if let Ending::Status(code) = ending {
        req.respond(code, [("content-length", "0")]).unwrap();
    }
    req.end_after(took).unwrap();
    sent[36..52].to_owned()
}

/// Ticks until the filter sends its batch; the spans in it.
fn exported(host: &mut Host) -> Vec<opentelemetry_proto::tonic::trace::v1::Span> {
    for _ in 0..100 {
        tick(host, "export");
        if let Some(callout) = host.callouts().first().cloned() {
            return spans(&callout);
        }
    }
    panic!("no export");
}

fn attr<'a>(
    span: &'a opentelemetry_proto::tonic::trace::v1::Span,
    key: &str,
) -> Option<&'a opentelemetry_proto::tonic::common::v1::any_value::Value> {
    span.attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_ref()?.value.as_ref())
}

#[test]
fn unsampled_failures_and_slow_requests_keep_their_span_and_fast_ones_nothing() {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    let config = r#"{"keep":{"slower_than_ms":200},"batch":{"schedule_delay_ms":100}}"#;
    #[rustfmt::skip]
    let cases: &[(&str, Ending, u64, Option<&str>)] = &[
        ("503",        Ending::Status(503), 1,   Some("error")),
        ("reset",      Ending::Reset,       1,   Some("error")),
        ("slow 200",   Ending::Status(200), 300, Some("slow")),
        ("fast 200",   Ending::Status(200), 1,   None),
        ("404",        Ending::Status(404), 1,   None),
    ];
    for (case, ending, took_ms, kept) in cases {
        let mut host = load(config);
        let ending = match ending {
            Ending::Status(c) => Ending::Status(*c),
            Ending::Reset => Ending::Reset,
        };
        let parent = unsampled(&mut host, ending, Duration::from_millis(*took_ms));
        let a = tick(&mut host, case);
        match kept {
            Some(reason) => {
                let got = exported(&mut host);
                assert_eq!(got.len(), 1, "{case}: the inbound hop's SERVER span");
                let span = &got[0];
                assert_eq!(hex(&span.span_id), parent, "{case}: the id sent upstream");
                assert_eq!(hex(&span.parent_span_id), "00f067aa0ba902b7", "{case}");
                assert_eq!(
                    attr(span, "hoptrace.kept"),
                    Some(&Value::StringValue((*reason).into())),
                    "{case}"
                );
                assert_eq!(
                    attr(span, "sampling.priority"),
                    Some(&Value::IntValue(1)),
                    "{case}"
                );
                assert!(
                    attr(span, "envoy.upstream.cluster").is_some(),
                    "{case}: full attributes"
                );
                assert_eq!(span.flags & 1, 0, "{case}: sampled bit as decided");
                assert_eq!(a.sampled, 0, "{case}");
                assert_eq!(a.kept_error + a.kept_slow, 1, "{case}");
            }
            None => {
                for _ in 0..20 {
                    tick(&mut host, case);
                }
                assert!(host.callouts().is_empty(), "{case}: nothing exported");
                assert_eq!(a.recorded(), 0, "{case}");
            }
        }
    }
}

#[test]
fn a_storm_of_503s_is_capped_per_second_and_every_span_counted() {
    let mut host = load(r#"{"keep":{"max_per_second":5},"batch":{"max_queue_size":2048}}"#);
    for _ in 0..200 {
        unsampled(&mut host, Ending::Status(503), Duration::ZERO);
    }
    let a = tick(&mut host, "storm");
    assert_eq!(a.kept_error, 200);
    assert_eq!(a.keep_limit, 195, "{a:?}");
    assert_eq!(metric(&host, "hoptrace.spans.dropped.keep_limit"), 195);
    // A second later the budget has refilled.
    host.advance(Duration::from_secs(1)).unwrap();
    unsampled(&mut host, Ending::Status(503), Duration::ZERO);
    let a = tick(&mut host, "after a second");
    assert_eq!((a.kept_error, a.keep_limit), (201, 195));
}
