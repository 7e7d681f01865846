//! What a hop makes visible outside its trace: the ids Envoy's access log prints, and the response
//! headers that hand the trace to the client (`expose.*`).
//!
//! Everything here is decided at the request headers, where the hop's ids are known, so the
//! unsampled path pays no read for it: the access-log value is one property write, and the
//! response headers are computed from ids the stream already holds.

use crate::ids::{push_lower_hex, SpanId, TraceFlags, TraceId};
use crate::propagation::TraceParent;
use crate::span::SpanPlan;

/// The property the access-log value is written to. Envoy keeps a property a wasm filter sets as
/// filter state under `wasm.<name>`, which the access log prints with
/// `%FILTER_STATE(wasm.hoptrace:PLAIN)%`.
pub const ACCESS_LOG_PROPERTY: &str = "hoptrace";

/// The W3C response header that carries the server's trace context as a metric.
pub const SERVER_TIMING: &str = "server-timing";

/// The longest access-log value: every field present.
const ACCESS_LOG_VALUE_LEN: usize =
    "trace_id= span_id= server_span_id= recorded=0".len() + 32 + 16 + 16;

/// The ids of one hop, as the access log and the client see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HopIds {
    /// The trace.
    pub trace_id: TraceId,
    /// The span id sent upstream as `parent-id`.
    pub span_id: SpanId,
    /// The hop's SERVER span, when it makes one (not on a CLIENT-only listener).
    pub server_span_id: Option<SpanId>,
    /// The flags sent upstream: the random bit as propagated, sampled when the hop records.
    pub flags: TraceFlags,
}

impl HopIds {
    /// The ids of a hop that sent `span_id` upstream and makes the spans of `plan`; `extra` is the
    /// id drawn for a SERVER span above the CLIENT span.
    pub fn new(
        trace_id: TraceId,
        span_id: SpanId,
        flags: TraceFlags,
        plan: SpanPlan,
        extra: SpanId,
    ) -> Self {
        let server_span_id = match plan {
            SpanPlan::ServerAndClient => Some(extra),
            // The one SERVER span also stands for the upstream call, so it has the id sent upstream.
            SpanPlan::Server => Some(span_id),
            SpanPlan::Client => None,
        };
        HopIds {
            trace_id,
            span_id,
            server_span_id,
            flags,
        }
    }

    /// The access-log value: space-separated `key=value` fields, so a log line that prints it as
    /// is carries `trace_id` and `span_id` as fields of their own, lower-case hex as in
    /// `traceparent`. `server_span_id` is `-` on a hop without a SERVER span; `recorded` is 1 when
    /// this hop's spans are exported.
    pub fn access_log_value(&self, recorded: bool) -> String {
        let mut out = String::with_capacity(ACCESS_LOG_VALUE_LEN);
        out.push_str("trace_id=");
        push_lower_hex(&mut out, &self.trace_id.0);
        out.push_str(" span_id=");
        push_lower_hex(&mut out, &self.span_id.0);
        out.push_str(" server_span_id=");
        match self.server_span_id {
            Some(id) => push_lower_hex(&mut out, &id.0),
            None => out.push('-'),
        }
        out.push_str(if recorded {
            " recorded=1"
        } else {
            " recorded=0"
        });
        out
    }

    /// The response header edits for the hop that answers the client: `None` on a hop without a
    /// SERVER span (a CLIENT-only listener answers another proxy, not the client).
    ///
    /// `server-timing` gets the W3C `trace` metric as a line of its own, after any the upstream
    /// sent, so theirs reach the client byte for byte; the trace-id header replaces any the
    /// upstream sent. `recorded` sets the sampled flag; the random flag is the one propagated.
    pub fn response_edits(
        &self,
        server_timing: bool,
        trace_id_header: Option<&str>,
        recorded: bool,
    ) -> Option<ResponseHeaderEdits> {
        let server_span = self.server_span_id?;
        let mut edits = ResponseHeaderEdits::default();
        if server_timing {
            let context = TraceParent {
                trace_id: self.trace_id,
                parent_id: server_span,
                flags: self.flags.with_sampled(recorded),
            };
            let mut metric = String::with_capacity(TRACE_METRIC_PREFIX.len() + 55);
            metric.push_str(TRACE_METRIC_PREFIX);
            metric.push_str(context.to_header_value().as_str());
            edits.add.push((SERVER_TIMING, metric));
        }
        if let Some(name) = trace_id_header {
            edits
                .replace
                .push((name.to_owned(), self.trace_id.to_hex()));
        }
        Some(edits)
    }
}

/// The W3C Trace Context response metric: `trace;desc=<traceparent of the server span>`.
const TRACE_METRIC_PREFIX: &str = "trace;desc=";

/// What to change on the response to the client, carried out by the plugin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseHeaderEdits {
    /// Lines to add after those already there (list headers such as `server-timing`).
    pub add: Vec<(&'static str, String)>,
    /// Headers whose every line is replaced by this one value.
    pub replace: Vec<(String, String)>,
}

impl ResponseHeaderEdits {
    /// Whether there is nothing to change.
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.replace.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const UP: &str = "00f067aa0ba902b7";
    const EXTRA: &str = "b7ad6b7169203331";

    fn ids(plan: SpanPlan, flags: u8) -> HopIds {
        HopIds::new(
            TraceId::from_hex(TRACE.as_bytes()).unwrap(),
            SpanId::from_hex(UP.as_bytes()).unwrap(),
            TraceFlags(flags),
            plan,
            SpanId::from_hex(EXTRA.as_bytes()).unwrap(),
        )
    }

    #[rustfmt::skip]
    #[test]
    fn access_log_value_names_each_id() {
        // (case, plan, recorded, value)
        for (case, plan, recorded, want) in [
            ("gateway: SERVER above CLIENT", SpanPlan::ServerAndClient, true,
             "trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7 server_span_id=b7ad6b7169203331 recorded=1"),
            ("inbound: the SERVER span is the one sent upstream", SpanPlan::Server, false,
             "trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7 server_span_id=00f067aa0ba902b7 recorded=0"),
            ("outbound: no SERVER span", SpanPlan::Client, false,
             "trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7 server_span_id=- recorded=0"),
        ] {
            let value = ids(plan, 0x02).access_log_value(recorded);
            assert_eq!(value, want, "{case}");
            assert!(value.len() <= ACCESS_LOG_VALUE_LEN, "{case}");
        }
    }

    #[rustfmt::skip]
    #[test]
    fn response_edits_follow_the_w3c_response_metric() {
        // (case, plan, propagated flags, recorded, server_timing, trace id header, edits)
        let metric = |span: &str, flags: &str| format!("trace;desc=00-{TRACE}-{span}-{flags}");
        for (case, plan, flags, recorded, timing, header, want) in [
            ("gateway, sampled with the random bit", SpanPlan::ServerAndClient, 0x03, true, true, None,
             Some((vec![(SERVER_TIMING, metric(EXTRA, "03"))], vec![]))),
            ("inbound, unsampled, random bit kept", SpanPlan::Server, 0x02, false, true, None,
             Some((vec![(SERVER_TIMING, metric(UP, "02"))], vec![]))),
            ("kept error: recorded though sent unsampled", SpanPlan::ServerAndClient, 0x00, true, true, None,
             Some((vec![(SERVER_TIMING, metric(EXTRA, "01"))], vec![]))),
            ("trace id header alone", SpanPlan::ServerAndClient, 0x01, true, false, Some("x-trace-id"),
             Some((vec![], vec![("x-trace-id".to_owned(), TRACE.to_owned())]))),
            ("both", SpanPlan::Server, 0x00, false, true, Some("x-trace-id"),
             Some((vec![(SERVER_TIMING, metric(UP, "00"))], vec![("x-trace-id".to_owned(), TRACE.to_owned())]))),
            ("outbound answers no client", SpanPlan::Client, 0x01, true, true, Some("x-trace-id"), None),
        ] {
            let got = ids(plan, flags).response_edits(timing, header, recorded);
            let want = want.map(|(add, replace)| ResponseHeaderEdits { add, replace });
            assert_eq!(got, want, "{case}");
        }
    }
}
