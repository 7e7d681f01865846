//! Span building: plans, parents and flags, attributes, status rules, timing.

use super::*;
use crate::span::envoy_flags::{
    DOWNSTREAM_CONNECTION_TERMINATION, NO_ROUTE_FOUND, UPSTREAM_CONNECTION_FAILURE,
    UPSTREAM_REMOTE_RESET, UPSTREAM_REQUEST_TIMEOUT, UPSTREAM_RETRY_LIMIT_EXCEEDED,
};
use crate::span::AttrValue;

const T0: u64 = 1_700_000_000_000_000_000;

fn ids() -> SpanContextIds {
    SpanContextIds {
        trace_id: TraceId::from_hex(b"4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        parent_span_id: Some(SpanId::from_hex(b"00f067aa0ba902b7").unwrap()),
        server_span_id: SpanId::from_hex(b"1111111111111111").unwrap(),
        client_span_id: SpanId::from_hex(b"2222222222222222").unwrap(),
        flags: TraceFlags(0x03),
        trace_state: "ot=th:0,vendor=x".into(),
        linked: None,
        kept: None,
        sampling_rule: None,
    }
}

fn req() -> RequestFacts {
    RequestFacts {
        method: "GET".into(),
        path: "/api/items?id=42&debug".into(),
        scheme: "https".into(),
        authority: "shop.example.com".into(),
        user_agent: "curl/8.5".into(),
        protocol: "HTTP/1.1".into(),
        client_address: "10.1.2.3:51234".into(),
        captured_headers: vec![("app.tenant".into(), "acme".into())],
        start_unix_nano: T0,
    }
}

fn resp(code: u16, flags: u64) -> ResponseFacts {
    ResponseFacts {
        status_code: code,
        response_flags: flags,
        response_code_details: if flags == 0 {
            "via_upstream".into()
        } else {
            "upstream_reset_before_response_started{connection_failure}".into()
        },
        upstream_cluster: "outbound|80||items".into(),
        upstream_address: "10.9.9.9:8080".into(),
        route_name: "items".into(),
        captured_headers: vec![],
        upstream_start_unix_nano: Some(T0 + 1_000),
        first_upstream_byte_unix_nano: Some(T0 + 5_000),
        end_unix_nano: T0 + 9_000,
    }
}

fn str_attr<'a>(s: &'a SpanRecord, key: &str) -> Option<&'a str> {
    match s.attribute(key) {
        Some(AttrValue::Str(v)) => Some(v),
        _ => None,
    }
}

fn int_attr(s: &SpanRecord, key: &str) -> Option<i64> {
    match s.attribute(key) {
        Some(AttrValue::Int(v)) => Some(*v),
        _ => None,
    }
}

/// `build_spans`, the spans kept past the facts they borrow.
fn build_owned(
    ctx: &SpanContextIds,
    plan: SpanPlan,
    req: &RequestFacts,
    end: &ResponseFacts,
    settings: &SpanSettings,
) -> Vec<SpanRecord<'static>> {
    build_spans(ctx, plan, req, end, settings)
        .into_iter()
        .map(SpanRecord::into_owned)
        .collect()
}

fn build(plan: SpanPlan, end: &ResponseFacts) -> Vec<SpanRecord<'static>> {
    build_owned(&ids(), plan, &req(), end, &SpanSettings::default())
}

#[test]
fn gateway_makes_server_with_child_client() {
    let spans = build(SpanPlan::ServerAndClient, &resp(200, 0));
    let (server, client) = (&spans[0], &spans[1]);
    assert_eq!(server.kind, SpanKind::Server);
    assert_eq!(client.kind, SpanKind::Client);
    assert_eq!(server.parent_span_id, ids().parent_span_id);
    assert_eq!(client.parent_span_id, Some(server.span_id));
    assert_eq!(
        client.span_id,
        ids().upstream_span_id(SpanPlan::ServerAndClient)
    );
    // W3C flags in bits 0-7; the SERVER's parent is remote, the CLIENT's is local.
    assert_eq!(server.flags, 0x03 | 0x100 | 0x200);
    assert_eq!(client.flags, 0x03 | 0x100);
    assert_eq!(server.trace_state, "ot=th:0,vendor=x");
    assert_eq!(client.trace_id, server.trace_id);
}

#[test]
fn inbound_server_only_stands_for_the_upstream_call() {
    let spans = build(SpanPlan::Server, &resp(200, 0));
    assert_eq!(spans.len(), 1);
    let s = &spans[0];
    assert_eq!(s.kind, SpanKind::Server);
    assert_eq!(s.span_id, ids().upstream_span_id(SpanPlan::Server));
    assert_eq!(
        str_attr(s, "envoy.upstream.cluster"),
        Some("outbound|80||items")
    );
    assert_eq!(str_attr(s, "envoy.upstream.address"), Some("10.9.9.9:8080"));
    assert_eq!(s.attribute("network.peer.address"), None);
}

#[test]
fn outbound_client_only_has_the_remote_parent() {
    let spans = build(SpanPlan::Client, &resp(200, 0));
    assert_eq!(spans.len(), 1);
    let c = &spans[0];
    assert_eq!(c.kind, SpanKind::Client);
    assert_eq!(c.parent_span_id, ids().parent_span_id);
    assert_eq!(c.flags, 0x03 | 0x100 | 0x200);
    assert_eq!(c.span_id, ids().upstream_span_id(SpanPlan::Client));
}

#[test]
fn root_span_has_known_local_parent_bits() {
    let mut ctx = ids();
    ctx.parent_span_id = None;
    ctx.flags = TraceFlags(0x01);
    let spans = build_owned(
        &ctx,
        SpanPlan::Server,
        &req(),
        &resp(200, 0),
        &SpanSettings::default(),
    );
    assert_eq!(spans[0].parent_span_id, None);
    assert_eq!(spans[0].flags, 0x01 | 0x100);
}

#[test]
fn untrusted_context_becomes_a_link_on_the_top_span() {
    let mut ctx = ids();
    ctx.parent_span_id = None;
    let linked = LinkedContext {
        trace_id: TraceId::from_hex(b"0af7651916cd43dd8448eb211c80319c").unwrap(),
        span_id: SpanId::from_hex(b"b7ad6b7169203331").unwrap(),
        flags: TraceFlags(0x01),
    };
    ctx.linked = Some(linked);
    let spans = build_owned(
        &ctx,
        SpanPlan::ServerAndClient,
        &req(),
        &resp(200, 0),
        &SpanSettings::default(),
    );
    assert_eq!(
        spans[0].links,
        vec![SpanLink {
            trace_id: linked.trace_id,
            span_id: linked.span_id,
            flags: 0x301
        }]
    );
    assert!(spans[1].links.is_empty());
    let spans = build_owned(
        &ctx,
        SpanPlan::Client,
        &req(),
        &resp(200, 0),
        &SpanSettings::default(),
    );
    assert_eq!(spans[0].links.len(), 1);
}

#[test]
fn server_attributes_follow_http_semconv() {
    let spans = build(SpanPlan::ServerAndClient, &resp(200, 0));
    let s = &spans[0];
    assert_eq!(s.name, "GET items");
    assert_eq!(str_attr(s, "http.request.method"), Some("GET"));
    assert_eq!(s.attribute("http.request.method_original"), None);
    assert_eq!(str_attr(s, "url.path"), Some("/api/items"));
    assert_eq!(str_attr(s, "url.query"), Some("id=REDACTED&REDACTED"));
    assert_eq!(str_attr(s, "url.scheme"), Some("https"));
    assert_eq!(str_attr(s, "server.address"), Some("shop.example.com"));
    assert_eq!(int_attr(s, "server.port"), Some(443));
    assert_eq!(str_attr(s, "client.address"), Some("10.1.2.3"));
    assert_eq!(int_attr(s, "client.port"), Some(51234));
    assert_eq!(str_attr(s, "user_agent.original"), Some("curl/8.5"));
    assert_eq!(str_attr(s, "network.protocol.version"), Some("1.1"));
    assert_eq!(int_attr(s, "http.response.status_code"), Some(200));
    assert_eq!(s.attribute("error.type"), None);
    assert_eq!(str_attr(s, "envoy.route.name"), Some("items"));
    assert_eq!(str_attr(s, "app.tenant"), Some("acme"));
    // In SERVER + CLIENT mode the upstream facts belong to the CLIENT span.
    assert_eq!(s.attribute("envoy.upstream.cluster"), None);
}

#[test]
fn client_attributes_name_the_upstream() {
    let spans = build(SpanPlan::ServerAndClient, &resp(200, 0));
    let c = &spans[1];
    assert_eq!(c.name, "GET items");
    assert_eq!(
        str_attr(c, "url.full"),
        Some("https://shop.example.com/api/items?id=REDACTED&REDACTED")
    );
    assert_eq!(str_attr(c, "server.address"), Some("shop.example.com"));
    assert_eq!(int_attr(c, "server.port"), Some(443));
    assert_eq!(str_attr(c, "network.peer.address"), Some("10.9.9.9"));
    assert_eq!(int_attr(c, "network.peer.port"), Some(8080));
    assert_eq!(
        str_attr(c, "envoy.upstream.cluster"),
        Some("outbound|80||items")
    );
    assert_eq!(str_attr(c, "app.tenant"), Some("acme"));
}

#[test]
fn settings_and_unusual_requests() {
    let mut r = req();
    r.method = "purge".into();
    r.authority = "api.internal:8443".into();
    r.path = "/x?token=secret".into();
    let settings = SpanSettings {
        redact_query: false,
        static_attributes: vec![("deployment.environment.name".into(), "prod".into())],
        ..SpanSettings::default()
    };
    let mut end = resp(200, 0);
    end.route_name.clear();
    end.captured_headers = vec![("app.cache".into(), "HIT".into())];
    let spans = build_owned(&ids(), SpanPlan::Server, &r, &end, &settings);
    let s = &spans[0];
    assert_eq!(s.name, "HTTP");
    assert_eq!(str_attr(s, "http.request.method"), Some("_OTHER"));
    assert_eq!(str_attr(s, "http.request.method_original"), Some("purge"));
    assert_eq!(str_attr(s, "url.query"), Some("token=secret"));
    assert_eq!(str_attr(s, "server.address"), Some("api.internal"));
    assert_eq!(int_attr(s, "server.port"), Some(8443));
    assert_eq!(str_attr(s, "deployment.environment.name"), Some("prod"));
    assert_eq!(str_attr(s, "app.cache"), Some("HIT"));
    assert_eq!(s.attribute("envoy.route.name"), None);
}

#[test]
fn timing() {
    let spans = build(SpanPlan::ServerAndClient, &resp(200, 0));
    let (s, c) = (&spans[0], &spans[1]);
    assert_eq!(
        (s.start_time_unix_nano, s.end_time_unix_nano),
        (T0, T0 + 9_000)
    );
    assert_eq!(
        (c.start_time_unix_nano, c.end_time_unix_nano),
        (T0 + 1_000, T0 + 9_000)
    );
    assert!(s.events.is_empty());
    assert_eq!(
        c.events,
        vec![SpanEvent {
            time_unix_nano: T0 + 5_000,
            name: "first_response_byte"
        }]
    );

    // No hand-over time, no first byte, an end before the start: still a well-formed span.
    let mut end = resp(0, DOWNSTREAM_CONNECTION_TERMINATION);
    end.upstream_start_unix_nano = None;
    end.first_upstream_byte_unix_nano = None;
    end.end_unix_nano = T0 - 1;
    let spans = build(SpanPlan::ServerAndClient, &end);
    for sp in &spans {
        assert_eq!(sp.start_time_unix_nano, T0);
        assert_eq!(sp.end_time_unix_nano, T0);
        assert!(sp.events.is_empty());
    }
}

#[test]
fn without_envoys_start_time_the_server_span_starts_when_hoptrace_saw_the_request() {
    // `attributes.stream_info: on_error` leaves `request.time` unread on successful requests.
    let request = RequestFacts {
        start_unix_nano: 0,
        ..req()
    };
    let build = |plan, end: &ResponseFacts| {
        build_owned(&ids(), plan, &request, end, &SpanSettings::default())
    };
    let end = resp(200, 0);
    let spans = build(SpanPlan::ServerAndClient, &end);
    assert_eq!(spans[0].start_time_unix_nano, T0 + 1_000);
    assert_eq!(spans[1].start_time_unix_nano, T0 + 1_000);

    let no_hand_over = ResponseFacts {
        upstream_start_unix_nano: None,
        ..end
    };
    let spans = build(SpanPlan::Server, &no_hand_over);
    assert_eq!(
        spans[0].start_time_unix_nano,
        T0 + 9_000,
        "the end, not the epoch"
    );
}

/// (case, status code, Envoy flags, SERVER error.type, CLIENT error.type); `None` = status Unset.
type StatusCase = (
    &'static str,
    u16,
    u64,
    Option<&'static str>,
    Option<&'static str>,
);

#[rustfmt::skip]
const STATUS_CASES: &[StatusCase] = &[
    ("200 ok is unset on both",                  200, 0,                                   None,                           None),
    ("304 not modified is unset",                304, 0,                                   None,                           None),
    ("404 is error on CLIENT only",              404, 0,                                   None,                           Some("404")),
    ("404 no route found: flag only explains",   404, NO_ROUTE_FOUND,                      None,                           Some("404")),
    ("429 too many requests: CLIENT only",       429, 0,                                   None,                           Some("429")),
    ("503 from the upstream is error on both",   503, 0,                                   Some("503"),                    Some("503")),
    ("500 is error on both",                     500, 0,                                   Some("500"),                    Some("500")),
    ("UT upstream timeout 504",                  504, UPSTREAM_REQUEST_TIMEOUT,            Some("timeout"),                Some("timeout")),
    ("UF connect failure 503",                   503, UPSTREAM_CONNECTION_FAILURE,         Some("connection_failure"),     Some("connection_failure")),
    ("UF+URX names the cause",                   503, UPSTREAM_CONNECTION_FAILURE | UPSTREAM_RETRY_LIMIT_EXCEEDED, Some("connection_failure"), Some("connection_failure")),
    ("UR reset after 200 headers",               200, UPSTREAM_REMOTE_RESET,               Some("upstream_reset"),         Some("upstream_reset")),
    ("DC client went away, no response",         0,   DOWNSTREAM_CONNECTION_TERMINATION,   Some("downstream_connection_termination"), Some("downstream_connection_termination")),
    ("no response, no flag",                     0,   0,                                   Some("_OTHER"),                 Some("_OTHER")),
];

#[test]
fn status_table() {
    for (name, code, flags, want_server, want_client) in STATUS_CASES {
        let spans = build(SpanPlan::ServerAndClient, &resp(*code, *flags));
        for (span, want) in [(&spans[0], want_server), (&spans[1], want_client)] {
            let kind = span.kind;
            assert_eq!(
                str_attr(span, "error.type"),
                *want,
                "{name} ({kind:?}) error.type"
            );
            let is_error = matches!(span.status, SpanStatus::Error(_));
            assert_eq!(is_error, want.is_some(), "{name} ({kind:?}) status");
            assert_eq!(
                span.attribute("http.response.status_code").is_some(),
                *code > 0,
                "{name}"
            );
            if *flags != 0 {
                assert!(span.attribute("envoy.response_flags").is_some(), "{name}");
            }
        }
    }
}

#[test]
fn flag_errors_carry_the_envoy_details_as_message() {
    let spans = build(SpanPlan::Server, &resp(503, UPSTREAM_CONNECTION_FAILURE));
    assert_eq!(
        spans[0].status.message(),
        "upstream_reset_before_response_started{connection_failure}"
    );
    assert_eq!(str_attr(&spans[0], "envoy.response_flags"), Some("UF"));
    let spans = build(SpanPlan::Server, &resp(503, 0));
    assert_eq!(spans[0].status, SpanStatus::Error(String::new()));
}

/// Every string attribute of every span, as (key, value).
fn strings<'s>(spans: &'s [SpanRecord<'s>]) -> Vec<(&'s str, &'s str)> {
    spans
        .iter()
        .flat_map(|s| s.attributes.iter())
        .filter_map(|a| match &a.value {
            AttrValue::Str(v) => Some((a.key.as_ref(), v.as_ref())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_hostile_request_cannot_grow_attributes_past_the_limit() {
    let mut r = req();
    // 16 KB of `=&`: each component would become `=REDACTED`, five times its size.
    r.path = format!("/search?{}", "=&".repeat(8 * 1024));
    r.user_agent = "é".repeat(3000);
    r.captured_headers = vec![("app.blob".into(), "x".repeat(5000))];
    let settings = SpanSettings::default();
    let limit = settings.attribute_value_length;
    let ctx = ids();
    let end = resp(200, 0);
    let mut sink = RecordSink::default();
    let truncated = build_spans_into(
        &ctx,
        SpanPlan::ServerAndClient,
        &r,
        &end,
        &settings,
        &mut sink,
    );
    let all = strings(&sink.spans);
    for (k, v) in &all {
        assert!(v.len() <= limit, "{k}: {} bytes", v.len());
    }
    let get = |key: &str| {
        all.iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
            .unwrap()
    };
    assert!(get("url.query").starts_with("=REDACTED&=REDACTED"));
    assert!(get("url.full").starts_with("https://"));
    // 1024 is not a multiple of the two bytes of `é`: the cut falls before a whole character.
    assert_eq!(get("user_agent.original").len(), 1024);
    // url.query, user_agent.original and app.blob on the SERVER span; url.full and app.blob on
    // the CLIENT span.
    assert_eq!(truncated, 5);
}

#[test]
fn a_query_without_equals_is_redacted_whole() {
    let mut r = req();
    r.path = "/cb?eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl".into();
    let spans = build_owned(
        &ids(),
        SpanPlan::ServerAndClient,
        &r,
        &resp(200, 0),
        &SpanSettings::default(),
    );
    assert_eq!(str_attr(&spans[0], "url.query"), Some("REDACTED"));
    let full = str_attr(&spans[1], "url.full").unwrap();
    assert!(full.ends_with("/cb?REDACTED"), "{full}");
}
