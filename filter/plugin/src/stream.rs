//! One HTTP stream: decide the hop from the request headers, rewrite the context upstream, and for
//! sampled requests time the hop and hand its facts to the core at stream end.

use crate::host;
use crate::pairs;
use crate::shared::Shared;
use hoptrace_core::hop::HopContext;
use hoptrace_core::memory::RecordingPermit;
use hoptrace_core::propagation::HeaderLines;
use hoptrace_core::span::{capture_headers, status_from_header, RequestFacts, ResponseFacts};

/// What a sampled request carries from its headers to its end.
struct Recording {
    hop: HopContext,
    request: RequestFacts,
    response: ResponseFacts,
    /// Its share of the VM's recording budget, given back when the recording goes.
    _permit: RecordingPermit,
}

/// Per-request state: nothing at all for an unsampled request.
pub struct HoptraceStream {
    shared: Shared,
    recording: Option<Box<Recording>>,
}

impl HoptraceStream {
    /// A stream sharing its VM's state.
    pub fn new(shared: Shared) -> Self {
        HoptraceStream {
            shared,
            recording: None,
        }
    }

    /// Decide the hop, rewrite the context upstream, and start recording a sampled request.
    pub fn on_request_headers(&mut self) {
        let Ok(mut guard) = self.shared.try_borrow_mut() else {
            return;
        };
        let Some(state) = guard.as_mut() else {
            return;
        };
        // Every context line is needed, but when lookups find no context the map can wait until
        // a sampled request needs its other headers (see `HeaderReadPlan`).
        let map = if state.read_plan.lookup_first() {
            // A tracestate without a traceparent must be removed: the map says how many lines.
            let needed = host::request_header("traceparent").is_some()
                || host::request_header("tracestate").is_some();
            needed.then(host::request_header_map)
        } else {
            Some(host::request_header_map())
        };
        let decided_on = map.as_deref().map(pairs::decode).unwrap_or_default();
        let hop = state
            .pipeline
            .start(&HeaderLines::new(&decided_on), state.tick_ns);
        let carried_context = decided_on
            .iter()
            .any(|(name, _)| *name == "traceparent" || *name == "tracestate");
        state
            .read_plan
            .observe(carried_context || hop.context.sampled());
        if hop.context.sampled() {
            // Read before the edits below, so the span sees the request as it arrived.
            let late_map = map.is_none().then(host::request_header_map);
            let lines = match &late_map {
                Some(m) => pairs::decode(m),
                None => decided_on,
            };
            let wanted = &state.pipeline.settings().attributes.request_headers;
            let mut request = RequestFacts::from_headers(&HeaderLines::new(&lines), wanted);
            // This filter sits just before the router: now is when the upstream call begins.
            let now = host::now_ns();
            match state.pipeline.admit(&hop.context, &mut request) {
                Some(permit) => {
                    let response = ResponseFacts {
                        upstream_start_unix_nano: Some(now),
                        ..ResponseFacts::default()
                    };
                    self.recording = Some(Box::new(Recording {
                        hop: hop.context,
                        request,
                        response,
                        _permit: permit,
                    }));
                }
                None => {
                    // The VM's recordings are at their bound: count the spans, hold nothing.
                    let direction = state.stream_end.direction_only();
                    state.pipeline.drop_finished(direction, now);
                }
            }
        }
        for (name, value) in hop.edits.sets() {
            host::set_request_header(name, value);
        }
        for name in &hop.edits.remove {
            host::remove_request_header(name);
        }
    }

    /// A sampled request's first upstream byte (and the response headers it captures, and its
    /// status when `attributes.stream_info` decides on it).
    pub fn on_response_headers(&mut self) {
        let Some(rec) = self.recording.as_mut() else {
            return;
        };
        rec.response.first_upstream_byte_unix_nano = Some(host::now_ns());
        let Ok(guard) = self.shared.try_borrow() else {
            return;
        };
        let Some(state) = guard.as_ref() else {
            return;
        };
        let attributes = &state.pipeline.settings().attributes;
        if attributes.stream_info.status_from_response_headers() {
            // Whether the stream reads Envoy's stream info at its end depends on this status.
            rec.response.status_code =
                host::response_header(":status").map_or(0, |v| status_from_header(&v));
        }
        let wanted = &attributes.response_headers;
        if !wanted.is_empty() {
            let map = host::response_header_map();
            let lines = pairs::decode(&map);
            let text: Vec<(&str, String)> = lines
                .iter()
                .map(|(k, v)| (*k, String::from_utf8_lossy(v).into_owned()))
                .collect();
            rec.response.captured_headers =
                capture_headers(wanted, text.iter().map(|(k, v)| (*k, v.as_str())));
        }
    }

    /// The stream's end: a sampled request's spans are finished and queued.
    pub fn on_log(&mut self) {
        let Some(mut rec) = self.recording.take() else {
            return;
        };
        let now = host::now_ns();
        rec.response.end_unix_nano = now;
        let Ok(mut guard) = self.shared.try_borrow_mut() else {
            return;
        };
        if let Some(state) = guard.as_mut() {
            if state.pipeline.queue_full() {
                // A collector that is down must not make requests dearer: spans that can only be
                // dropped are counted, not read from the host and built.
                let direction = state.stream_end.direction_only();
                state.pipeline.drop_finished(direction, now);
                return;
            }
            let reads_stream_info = state
                .pipeline
                .settings()
                .attributes
                .stream_info
                .needed(rec.response.status_code);
            let direction = if reads_stream_info {
                state.stream_end.read(&mut rec.request, &mut rec.response)
            } else {
                state.stream_end.direction_only()
            };
            state
                .pipeline
                .finish(&rec.hop, direction, &rec.request, &rec.response, now);
        }
    }
}
