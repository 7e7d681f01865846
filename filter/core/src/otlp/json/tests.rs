//! OTLP/JSON: the spec's rules checked on parsed output, and a decode with the official serde mapping.

use super::*;
use crate::otlp::proto;
use crate::otlp::testdata;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;
use serde_json::Value;

fn batch() -> (Vec<SpanRecord<'static>>, Vec<u8>) {
    let spans = testdata::spans();
    let frags: Vec<String> = spans.iter().map(encode_span_json).collect();
    let refs: Vec<&[u8]> = frags.iter().map(|f| f.as_bytes()).collect();
    let body = frame_request_json(
        encode_resource_json(&testdata::resource()).as_bytes(),
        encode_scope_json().as_bytes(),
        &refs,
    );
    (spans, body)
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Every object key in `v`, recursively.
fn keys(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                out.push(k.clone());
                keys(v, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| keys(v, out)),
        _ => {}
    }
}

#[test]
fn follows_the_otlp_json_rules() {
    let (spans, body) = batch();
    let v: Value = serde_json::from_slice(&body).unwrap();
    let ss = &v["resourceSpans"][0]["scopeSpans"][0];
    assert_eq!(ss["scope"]["name"], "hoptrace");
    let out = ss["spans"].as_array().unwrap();
    assert_eq!(out.len(), spans.len());
    for (j, s) in out.iter().zip(&spans) {
        assert!(is_lower_hex(j["traceId"].as_str().unwrap(), 32));
        assert!(is_lower_hex(j["spanId"].as_str().unwrap(), 16));
        assert!(is_lower_hex(j["parentSpanId"].as_str().unwrap(), 16));
        assert_eq!(j["spanId"], s.span_id.to_hex());
        assert!(j["kind"].is_u64(), "enums are integers");
        assert_eq!(j["kind"], s.kind as i32);
        assert_eq!(j["status"]["code"], 2);
        assert!(j["flags"].is_u64(), "fixed32 is a number");
        assert_eq!(
            j["startTimeUnixNano"],
            s.start_time_unix_nano.to_string(),
            "fixed64 is a string"
        );
        assert_eq!(j["endTimeUnixNano"], s.end_time_unix_nano.to_string());
        assert_eq!(j["name"], s.name.as_ref());
        for a in j["attributes"].as_array().unwrap() {
            let val = a["value"].as_object().unwrap();
            assert_eq!(val.len(), 1);
            if let Some(i) = val.get("intValue") {
                assert!(i.is_string(), "int64 is a string: {a}");
            } else {
                assert!(val["stringValue"].is_string());
            }
        }
    }
    assert_eq!(
        out[0]["links"][0]["traceId"],
        "0af7651916cd43dd8448eb211c80319c"
    );
    assert_eq!(out[1]["events"][0]["name"], "first_response_byte");
    assert!(out[1]["events"][0]["timeUnixNano"].is_string());
    let mut all = Vec::new();
    keys(&v, &mut all);
    // Attribute names are values of "key", so every object key here is a field name.
    for k in all {
        assert!(
            !k.contains('_') && k.chars().next().unwrap().is_ascii_lowercase(),
            "{k}"
        );
    }
}

#[test]
fn escapes_strings() {
    let (spans, body) = batch();
    let v: Value = serde_json::from_slice(&body).unwrap();
    let server = &v["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    let find = |key: &str| {
        server["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == key)
            .map(|a| a["value"]["stringValue"].as_str().unwrap().to_owned())
    };
    assert_eq!(
        find("user_agent.original").unwrap(),
        "agent\twith\ncontrol\u{1}chars"
    );
    assert_eq!(find("url.path").unwrap(), "/caf\u{e9}/\"quoted\"");
    assert_eq!(find("app.tenant").unwrap(), "\u{1F600}");
    assert_eq!(server["traceState"], spans[0].trace_state.as_ref());
}

#[test]
fn decodes_with_the_official_serde_mapping() {
    let (spans, body) = batch();
    let req: ExportTraceServiceRequest = serde_json::from_slice(&body).unwrap();
    let rs = &req.resource_spans[0];
    let want_resource = opentelemetry_proto::tonic::resource::v1::Resource::decode(
        proto::encode_resource(&testdata::resource()).as_slice(),
    )
    .unwrap();
    assert_eq!(rs.resource.as_ref().unwrap(), &want_resource);
    let got = &rs.scope_spans[0].spans;
    assert_eq!(got.len(), spans.len());
    for (g, s) in got.iter().zip(&spans) {
        assert_eq!(g, &proto::to_proto(s));
    }
}
