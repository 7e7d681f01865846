//! The collector's answer: an `ExportTraceServiceResponse`, whose `partial_success` says how many
//! spans it rejected. An empty or unreadable body on a 2xx means full success (the OTLP spec: a
//! receiver that accepted everything may send an empty response).

use crate::config::Encoding;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;

/// A partial success: some spans were rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialSuccess {
    /// Spans the collector rejected (never negative).
    pub rejected_spans: u64,
    /// The collector's explanation ("" when none).
    pub error_message: String,
}

/// Read a 2xx response body. `None` means everything was accepted (empty body, no
/// `partial_success`, zero rejected with no message, or a body we cannot read). A JSON exporter may
/// still get a protobuf answer and vice versa, so the other encoding is tried as a fallback.
pub fn parse_response(encoding: Encoding, body: &[u8]) -> Option<PartialSuccess> {
    if body.is_empty() {
        return None;
    }
    let parsed = match encoding {
        Encoding::Protobuf => parse_proto(body).or_else(|| parse_json(body)),
        Encoding::Json => parse_json(body).or_else(|| parse_proto(body)),
    };
    parsed.filter(|p| p.rejected_spans > 0 || !p.error_message.is_empty())
}

fn parse_proto(body: &[u8]) -> Option<PartialSuccess> {
    let resp = ExportTraceServiceResponse::decode(body).ok()?;
    let p = resp.partial_success?;
    Some(PartialSuccess {
        rejected_spans: u64::try_from(p.rejected_spans).unwrap_or(0),
        error_message: p.error_message,
    })
}

fn parse_json(body: &[u8]) -> Option<PartialSuccess> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let p = v.get("partialSuccess")?;
    // int64 is a string in OTLP/JSON, but receivers are told to accept numbers too; so are we.
    let rejected = match p.get("rejectedSpans") {
        Some(serde_json::Value::String(s)) => s.parse::<i64>().ok(),
        Some(serde_json::Value::Number(n)) => n.as_i64(),
        _ => Some(0),
    }
    .and_then(|r| u64::try_from(r).ok())
    .unwrap_or(0);
    let message = p
        .get("errorMessage")
        .and_then(|m| m.as_str())
        .unwrap_or("")
        .to_owned();
    Some(PartialSuccess {
        rejected_spans: rejected,
        error_message: message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTracePartialSuccess;

    fn proto_body(rejected: i64, msg: &str) -> Vec<u8> {
        ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: rejected,
                error_message: msg.into(),
            }),
        }
        .encode_to_vec()
    }

    #[test]
    fn protobuf_answers() {
        assert_eq!(parse_response(Encoding::Protobuf, b""), None);
        assert_eq!(
            parse_response(
                Encoding::Protobuf,
                &ExportTraceServiceResponse::default().encode_to_vec()
            ),
            None
        );
        assert_eq!(
            parse_response(Encoding::Protobuf, &proto_body(3, "too old")),
            Some(PartialSuccess {
                rejected_spans: 3,
                error_message: "too old".into()
            })
        );
        assert_eq!(parse_response(Encoding::Protobuf, &proto_body(0, "")), None);
        // A negative count is nonsense: nothing rejected, but the message is kept.
        assert_eq!(
            parse_response(Encoding::Protobuf, &proto_body(-2, "odd")),
            Some(PartialSuccess {
                rejected_spans: 0,
                error_message: "odd".into()
            })
        );
    }

    #[test]
    fn json_answers() {
        let j = |s: &str| parse_response(Encoding::Json, s.as_bytes());
        assert_eq!(j("{}"), None);
        assert_eq!(j(r#"{"partialSuccess":{}}"#), None);
        assert_eq!(
            j(r#"{"partialSuccess":{"rejectedSpans":"2","errorMessage":"bad"}}"#),
            Some(PartialSuccess {
                rejected_spans: 2,
                error_message: "bad".into()
            })
        );
        assert_eq!(
            j(r#"{"partialSuccess":{"rejectedSpans":5}}"#),
            Some(PartialSuccess {
                rejected_spans: 5,
                error_message: String::new()
            })
        );
        // A protobuf answer to a JSON request is still understood.
        assert_eq!(
            parse_response(Encoding::Json, &proto_body(1, "x")),
            Some(PartialSuccess {
                rejected_spans: 1,
                error_message: "x".into()
            })
        );
    }
}
