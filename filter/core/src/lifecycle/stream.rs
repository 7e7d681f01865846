//! One HTTP stream through the hop: decide from the request headers, rewrite the context upstream,
//! and for a sampled request time the hop and finish its spans at stream end.
//!
//! Each phase is a method of [`Vm`] taking the stream's [`HopStream`]; the host answers the reads
//! each phase asks for, in the order asked. An unsampled request keeps nothing between phases.

use super::ablation;
use super::reads::{HostReads, Read};
use super::vm::Vm;
use crate::config::SpanKindSetting;
use crate::export::Origin;
use crate::expose::{HopIds, ResponseHeaderEdits};
use crate::hop::{HeaderEdits, HopContext};
use crate::host_pairs;
use crate::keep::KeptReason;
use crate::memory::RecordingPermit;
use crate::propagation::HeaderLines;
use crate::span::{
    capture_headers, plan_spans, status_from_header, ListenerDirection, RequestFacts,
    ResponseFacts, SpanPlan,
};

/// What a sampled request carries from its headers to its end.
#[derive(Debug)]
struct Recording {
    hop: HopContext,
    request: RequestFacts,
    response: ResponseFacts,
    /// Its share of the VM's recording budget, given back when the recording is dropped.
    _permit: RecordingPermit,
    /// The spans it makes, when its response shows the client its ids (see [`HopStream`]).
    answer: Option<SpanPlan>,
    /// Whether the access-log value written at the request headers named its SERVER span already,
    /// so the stream's end need not write it again.
    logged_whole: bool,
}

/// What an unsampled request carries to its end while `keep` is on: enough to tell a failed or
/// slow ending, nothing that costs a read of its own.
#[derive(Debug)]
struct Watch {
    hop: HopContext,
    /// When the request was handed on towards the router (the CLIENT span would start here); read
    /// only when slowness is kept: a kept error's spans then start at Envoy's `request.time`.
    upstream_start_unix_nano: Option<u64>,
    first_upstream_byte_unix_nano: Option<u64>,
    /// `:status` of the response; 0 while none came.
    status_code: u16,
}

/// What an unsampled request carries past its request headers, if anything.
#[derive(Debug)]
enum Unsampled {
    /// With `keep` on: what tells a failed or slow ending, and the spans it makes when its
    /// response shows the client its ids (see [`HopStream`]).
    Watched(Watch, Option<SpanPlan>),
    /// With `keep` off: only the ids its response shows.
    Answering(HopIds),
}

/// Per-request state: a sampled request records; with `keep` on an unsampled one is watched;
/// otherwise nothing at all. On the hop that answers the client, while `expose` edits responses,
/// either also carries the ids the response shows.
#[derive(Debug, Default)]
pub struct HopStream {
    recording: Option<Box<Recording>>,
    /// Boxed, so that the stream table's entries stay small (see `crate::memory`).
    unsampled: Option<Box<Unsampled>>,
}

/// What the request headers phase asks the plugin to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestActions {
    /// What to change on the upstream request.
    pub upstream: HeaderEdits,
    /// The value to write to the [`crate::expose::ACCESS_LOG_PROPERTY`] property, for Envoy's
    /// access log (`expose.access_log`).
    pub access_log: Option<String>,
}

impl HopStream {
    /// Whether this stream records spans.
    pub fn recording(&self) -> bool {
        self.recording.is_some()
    }

    /// Whether a later phase has work: the stream records, or is watched for a failed or slow end.
    pub fn active(&self) -> bool {
        self.recording.is_some() || self.watch().is_some()
    }

    /// Whether the response headers phase has work: the stream is active, or its response shows
    /// the client the hop's ids.
    pub fn reads_response(&self) -> bool {
        self.recording.is_some() || self.unsampled.is_some()
    }

    fn watch(&self) -> Option<&Watch> {
        match self.unsampled.as_deref()? {
            Unsampled::Watched(watch, _) => Some(watch),
            Unsampled::Answering(_) => None,
        }
    }
}

impl Vm {
    /// The request headers: decide the hop and say what to change on the upstream request. A
    /// sampled request starts recording.
    ///
    /// Reads, in order: with the lookup shortcut (see [`crate::propagation::HeaderReadPlan`])
    /// `traceparent`, then `tracestate` if that was absent, then the header map only if either was
    /// present; otherwise the map at once. A sampled request that skipped the map reads it then,
    /// for its span, and reads the clock: the upstream call starts now, as the filter sits just
    /// before the router.
    ///
    /// With `expose.access_log` the hop's ids are published for the access log, with no read: an
    /// unsampled request's trace id and upstream span id are known already. A recording request
    /// also names its SERVER span, and a hop that edits its response to the client needs it too;
    /// for these the spans the hop makes are settled here (a SERVER span above a CLIENT span gets
    /// its id now), which with `span_kind: auto` reads the listener direction.
    pub fn request_headers(
        &mut self,
        stream: &mut HopStream,
        host: &mut impl HostReads,
    ) -> RequestActions {
        let map = if self.read_plan.lookup_first() {
            // A tracestate without a traceparent must be removed: the map says how many lines.
            let needed = host.read(Read::RequestHeader("traceparent")).is_some()
                || host.read(Read::RequestHeader("tracestate")).is_some();
            needed.then(|| request_header_map(host))
        } else {
            Some(request_header_map(host))
        };
        let decided_on = map.as_deref().map(host_pairs::decode).unwrap_or_default();
        let mut hop = self
            .pipeline
            .start(&HeaderLines::new(&decided_on), self.tick_ns);
        let bare = HopIds {
            trace_id: hop.context.trace_id,
            span_id: hop.context.upstream_span,
            server_span_id: None,
            flags: hop.context.flags,
        };
        let expose = &self.pipeline.settings().expose;
        // A recording hop's access-log value names its SERVER span now when that costs no read;
        // with `span_kind: auto` it is written again at the stream's end, where the direction
        // comes with the stream-end facts.
        let kind_known = self.pipeline.settings().span_kind != SpanKindSetting::Auto;
        let names_server_span =
            expose.edits_responses() || (expose.access_log && kind_known && hop.context.sampled());
        let plan = names_server_span.then(|| self.span_plan(host));
        let exposed = plan.map(|plan| {
            let server_span =
                (plan == SpanPlan::ServerAndClient).then(|| self.pipeline.new_span_id());
            hop.context.server_span = server_span;
            let c = &hop.context;
            let extra = server_span.unwrap_or(c.upstream_span);
            HopIds::new(c.trace_id, c.upstream_span, c.flags, plan, extra)
        });
        let carried_context = decided_on
            .iter()
            .any(|(name, _)| *name == "traceparent" || *name == "tracestate");
        self.read_plan
            .observe(carried_context || hop.context.sampled());
        if hop.context.sampled() && !ablation::taken_away(ablation::RECORDING) {
            // Read before the edits are applied, so the span sees the request as it arrived.
            let late_map = map.is_none().then(|| request_header_map(host));
            let lines = match &late_map {
                Some(m) => host_pairs::decode(m),
                None => decided_on,
            };
            let wanted = &self.pipeline.settings().attributes.request_headers;
            let mut request = RequestFacts::from_headers(&HeaderLines::new(&lines), wanted);
            let now = host.now_ns();
            match self.pipeline.admit(&hop.context, &mut request) {
                Some(permit) => {
                    let response = ResponseFacts {
                        upstream_start_unix_nano: Some(now),
                        ..ResponseFacts::default()
                    };
                    stream.recording = Some(Box::new(Recording {
                        hop: hop.context,
                        request,
                        response,
                        _permit: permit,
                        answer: None,
                        logged_whole: exposed.is_some(),
                    }));
                }
                None => {
                    // The VM's recordings are at their bound (see `crate::memory`): count the
                    // spans, hold nothing.
                    let direction = self.stream_end.direction_only(host);
                    self.pipeline.drop_finished(direction, now);
                }
            }
        } else if self.pipeline.keep().enabled() {
            let timed = self.pipeline.keep().times_requests();
            let watch = Watch {
                hop: hop.context,
                upstream_start_unix_nano: timed.then(|| host.now_ns()),
                first_upstream_byte_unix_nano: None,
                status_code: 0,
            };
            stream.unsampled = Some(Box::new(Unsampled::Watched(watch, None)));
        }
        let expose = &self.pipeline.settings().expose;
        let access_log = expose.access_log.then(|| {
            let recorded = stream.recording().then_some(exposed).flatten();
            // A SERVER span is named only for a hop that records it: one nobody can look up is
            // no help, and naming it would cost the unsampled request a read.
            let ids = recorded.unwrap_or(bare);
            ids.access_log_value(stream.recording())
        });
        let answer = exposed.filter(|ids| expose.edits_responses() && ids.server_span_id.is_some());
        if let Some((ids, plan)) = answer.zip(plan) {
            match (stream.recording.as_mut(), stream.unsampled.as_deref_mut()) {
                (Some(rec), _) => rec.answer = Some(plan),
                (None, Some(Unsampled::Watched(_, answer))) => *answer = Some(plan),
                (None, _) => stream.unsampled = Some(Box::new(Unsampled::Answering(ids))),
            }
        }
        RequestActions {
            upstream: hop.edits,
            access_log,
        }
    }

    /// The spans this stream's hop makes. Only `span_kind: auto` depends on the listener, whose
    /// direction is then read: one VM serves listeners of every direction (Envoy shares a root
    /// context between listeners with the same plugin configuration), so it cannot be kept.
    fn span_plan(&mut self, host: &mut impl HostReads) -> SpanPlan {
        let direction = self.stream_end.direction_only(host);
        plan_spans(self.pipeline.settings().span_kind, direction)
    }

    /// The response headers of a recording stream: the first upstream byte (clock), the status
    /// when `attributes.stream_info` decides on it (`:status`), and the configured response headers
    /// (the header map, only when some are configured). A watched stream reads its status.
    ///
    /// On the hop that answers the client, with `expose` editing responses, the edits that show it
    /// the hop's ids; they read nothing. The sampled flag they carry says whether the hop records,
    /// a failure it keeps included.
    pub fn response_headers(
        &mut self,
        stream: &mut HopStream,
        host: &mut impl HostReads,
    ) -> ResponseHeaderEdits {
        let watch = match stream.unsampled.as_deref_mut() {
            Some(Unsampled::Watched(watch, _)) => Some(watch),
            _ => None,
        };
        let recorded = if let Some(watch) = watch {
            if watch.upstream_start_unix_nano.is_some() {
                watch.first_upstream_byte_unix_nano = Some(host.now_ns());
            }
            watch.status_code = response_status(host);
            // A status of 0 here is a malformed one, not a missing response: it decides nothing yet.
            watch.status_code != 0
                && self.pipeline.keep().reason(watch.status_code, 0) == Some(KeptReason::Error)
        } else {
            self.record_response(stream, host)
        };
        let of = |hop: &HopContext, plan: SpanPlan| {
            let extra = hop.server_span.unwrap_or(hop.upstream_span);
            HopIds::new(hop.trace_id, hop.upstream_span, hop.flags, plan, extra)
        };
        let answer = match (&stream.recording, stream.unsampled.as_deref()) {
            (Some(rec), _) => rec.answer.map(|plan| of(&rec.hop, plan)),
            (None, Some(Unsampled::Watched(watch, plan))) => plan.map(|p| of(&watch.hop, p)),
            (None, Some(Unsampled::Answering(ids))) => Some(*ids),
            (None, None) => None,
        };
        let Some(ids) = answer else {
            return ResponseHeaderEdits::default();
        };
        let expose = &self.pipeline.settings().expose;
        ids.response_edits(
            expose.server_timing,
            expose.trace_id_header.as_deref(),
            recorded,
        )
        .unwrap_or_default()
    }

    /// The response headers of a recording stream; whether there was one.
    fn record_response(&mut self, stream: &mut HopStream, host: &mut impl HostReads) -> bool {
        let Some(rec) = stream.recording.as_mut() else {
            return false;
        };
        rec.response.first_upstream_byte_unix_nano = Some(host.now_ns());
        let attributes = &self.pipeline.settings().attributes;
        if attributes.stream_info.status_from_response_headers() || ablation::STATUS_FROM_HEADER {
            // Whether the stream reads Envoy's stream info at its end depends on this status.
            rec.response.status_code = response_status(host);
        }
        let wanted = &attributes.response_headers;
        if !wanted.is_empty() {
            let map = host.read(Read::ResponseHeaderMap).unwrap_or_default();
            let lines = host_pairs::decode(&map);
            let text: Vec<(&str, String)> = lines
                .iter()
                .map(|(k, v)| (*k, String::from_utf8_lossy(v).into_owned()))
                .collect();
            rec.response.captured_headers =
                capture_headers(wanted, text.iter().map(|(k, v)| (*k, v.as_str())));
        }
        true
    }

    /// The stream's end: a recording stream's spans are finished and queued. With the export queue
    /// full they are counted as dropped without reading the stream's facts or building them, so a
    /// collector that is down does not make requests dearer. Otherwise Envoy's stream info is read
    /// when `attributes.stream_info` asks for it (see [`super::StreamEndReader`]).
    ///
    /// Returns the access-log value to write again, when it changes now: a kept hop records after
    /// all, and with `span_kind: auto` a recording hop's SERVER span is named only once the
    /// listener direction is known. Envoy's access log runs after this phase.
    pub fn stream_end(&mut self, stream: HopStream, host: &mut impl HostReads) -> Option<String> {
        if let Some(unsampled) = stream.unsampled {
            return match *unsampled {
                Unsampled::Watched(watch, _) => self.watched_end(watch, host),
                Unsampled::Answering(_) => None,
            };
        }
        let mut rec = stream.recording?;
        let now = host.now_ns();
        rec.response.end_unix_nano = now;
        if ablation::taken_away(ablation::STREAM_END) {
            return None;
        }
        if self.pipeline.queue_full() {
            let direction = self.stream_end.direction_only(host);
            self.pipeline.drop_finished(direction, now);
            return None;
        }
        let reads_stream_info = self
            .pipeline
            .settings()
            .attributes
            .stream_info
            .needed(rec.response.status_code);
        let Recording {
            hop,
            request,
            response,
            logged_whole,
            ..
        } = &mut *rec;
        let direction = if reads_stream_info {
            self.stream_end
                .read(host, request, response, &mut self.logs)
        } else {
            self.stream_end.direction_only(host)
        };
        let access_log = if *logged_whole {
            None
        } else {
            self.recorded_access_log(hop, direction)
        };
        self.pipeline.finish(hop, direction, request, response, now);
        access_log
    }

    /// The access-log value of a hop whose spans are built now, naming its SERVER span; the id of
    /// a SERVER span above a CLIENT span is drawn here if it was not yet, so the spans carry it.
    fn recorded_access_log(
        &mut self,
        hop: &mut HopContext,
        direction: ListenerDirection,
    ) -> Option<String> {
        if !self.pipeline.settings().expose.access_log {
            return None;
        }
        let plan = plan_spans(self.pipeline.settings().span_kind, direction);
        if plan == SpanPlan::ServerAndClient && hop.server_span.is_none() {
            hop.server_span = Some(self.pipeline.new_span_id());
        }
        let extra = hop.server_span.unwrap_or(hop.upstream_span);
        let ids = HopIds::new(hop.trace_id, hop.upstream_span, hop.flags, plan, extra);
        Some(ids.access_log_value(true))
    }
}

impl Vm {
    /// The end of a watched (unsampled) stream: nothing more unless it failed or was slow; then,
    /// within the keep budget, its spans are built as a sampled request's would be, from the
    /// request headers (still readable at stream end) and Envoy's stream info.
    fn watched_end(&mut self, mut watch: Watch, host: &mut impl HostReads) -> Option<String> {
        // Without slowness to judge, the status alone decides, and a request that ends well reads
        // nothing more.
        let (now, duration) = match watch.upstream_start_unix_nano {
            Some(start) => {
                let now = host.now_ns();
                (Some(now), now.saturating_sub(start))
            }
            None => (None, 0),
        };
        let reason = self.pipeline.keep().reason(watch.status_code, duration)?;
        let now = now.unwrap_or_else(|| host.now_ns());
        let origin = Origin::Kept(reason);
        if self.pipeline.queue_full() {
            let direction = self.stream_end.direction_only(host);
            self.pipeline.drop_finished_as(direction, now, origin);
            return None;
        }
        // Over the budget, spans are only counted; the direction says how many (span_kind auto).
        if !self.pipeline.keep_budget_allows(now) {
            let direction = self.stream_end.direction_only(host);
            self.pipeline.drop_keep_limit(direction, reason, now);
            return None;
        }
        let map = request_header_map(host);
        let lines = host_pairs::decode(&map);
        let wanted = &self.pipeline.settings().attributes.request_headers;
        let mut request = RequestFacts::from_headers(&HeaderLines::new(&lines), wanted);
        let mut response = ResponseFacts {
            status_code: watch.status_code,
            upstream_start_unix_nano: watch.upstream_start_unix_nano,
            first_upstream_byte_unix_nano: watch.first_upstream_byte_unix_nano,
            end_unix_nano: now,
            ..ResponseFacts::default()
        };
        let direction = self
            .stream_end
            .read(host, &mut request, &mut response, &mut self.logs);
        let access_log = self.recorded_access_log(&mut watch.hop, direction);
        self.pipeline
            .finish_kept(&watch.hop, direction, &request, &response, reason, now);
        access_log
    }
}

/// The response's status from its `:status` header; 0 when absent or malformed.
fn response_status(host: &mut impl HostReads) -> u16 {
    host.read(Read::ResponseHeader(":status"))
        .map_or(0, |v| status_from_header(&v))
}

fn request_header_map(host: &mut impl HostReads) -> Vec<u8> {
    host.read(Read::RequestHeaderMap).unwrap_or_default()
}
