//! Realistic spans and a resource for the encoding tests.

use crate::ids::{SpanId, TraceFlags, TraceId};
use crate::span::envoy_flags::UPSTREAM_CONNECTION_FAILURE;
use crate::span::{
    build_spans, resource_from, LinkedContext, RequestFacts, ResourceInfo, ResponseFacts,
    SpanContextIds, SpanPlan, SpanRecord, SpanSettings,
};
use std::collections::BTreeMap;

/// A gateway's SERVER + CLIENT pair for a failed request with a link, a quote and non-ASCII in it.
pub fn spans() -> Vec<SpanRecord<'static>> {
    let ctx = SpanContextIds {
        trace_id: TraceId::from_hex(b"4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        parent_span_id: Some(SpanId::from_hex(b"00f067aa0ba902b7").unwrap()),
        server_span_id: SpanId::from_hex(b"1111111111111111").unwrap(),
        client_span_id: SpanId::from_hex(b"2222222222222222").unwrap(),
        flags: TraceFlags(0x03),
        trace_state: "ot=th:0;rv:ab,vendor=x".into(),
        linked: Some(LinkedContext {
            trace_id: TraceId::from_hex(b"0af7651916cd43dd8448eb211c80319c").unwrap(),
            span_id: SpanId::from_hex(b"b7ad6b7169203331").unwrap(),
            flags: TraceFlags(0x01),
        }),
        kept: None,
        sampling_rule: None,
    };
    let req = RequestFacts {
        method: "POST".into(),
        path: "/caf\u{e9}/\"quoted\"?q=1".into(),
        scheme: "http".into(),
        authority: "svc:8080".into(),
        user_agent: "agent\twith\ncontrol\u{1}chars".into(),
        protocol: "2".into(),
        client_address: "[2001:db8::1]:4444".into(),
        captured_headers: vec![("app.tenant".into(), "\u{1F600}".into())],
        start_unix_nano: 1_700_000_000_123_456_789,
    };
    let end = ResponseFacts {
        status_code: 503,
        response_flags: UPSTREAM_CONNECTION_FAILURE,
        response_code_details: "upstream_reset_before_response_started{connection_failure}".into(),
        upstream_cluster: "svc".into(),
        upstream_address: "10.0.0.7:8080".into(),
        route_name: "r1".into(),
        captured_headers: vec![],
        upstream_start_unix_nano: Some(1_700_000_000_123_556_789),
        first_upstream_byte_unix_nano: Some(1_700_000_000_124_000_000),
        end_unix_nano: 1_700_000_000_125_000_000,
    };
    build_spans(
        &ctx,
        SpanPlan::ServerAndClient,
        &req,
        &end,
        &SpanSettings::default(),
    )
    .into_iter()
    .map(SpanRecord::into_owned)
    .collect()
}

/// A resource with Istio metadata.
pub fn resource() -> ResourceInfo {
    let md = vec![
        ("NAMESPACE".to_string(), "shop".to_string()),
        ("WORKLOAD_NAME".to_string(), "gateway".to_string()),
    ];
    resource_from(None, &BTreeMap::new(), &md)
}
