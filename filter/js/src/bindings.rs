//! The `wasm-bindgen` surface: a thin translation of [`Engine`] calls into JavaScript types. Numbers
//! cross as `f64` (JavaScript's number) and header sets as text; nothing here decides anything.

use hoptrace_core::export::{ExportOutcome, ExportRequest};
use wasm_bindgen::prelude::*;

use crate::engine::{self, Engine, HopEnd, HopError, HopKind, PendingHop};

/// One tracer: the core pipeline with its settings, ids and export queue.
#[wasm_bindgen]
pub struct Core {
    engine: Engine,
    last: Option<PendingHop>,
}

/// A sampled hop, held by JavaScript until `Core.end`.
#[wasm_bindgen]
pub struct SampledHop(PendingHop);

/// One export request for `fetch`.
#[wasm_bindgen]
pub struct ExportBatch(ExportRequest);

#[wasm_bindgen]
impl ExportBatch {
    /// The attempt id to report the outcome under.
    #[wasm_bindgen(getter)]
    pub fn id(&self) -> f64 {
        // Attempt ids count up from 1: far below 2^53.
        self.0.id as f64
    }

    /// The OTLP `ExportTraceServiceRequest` body (protobuf or JSON, gzipped when configured).
    #[wasm_bindgen(getter)]
    pub fn body(&self) -> Vec<u8> {
        self.0.body.clone()
    }

    /// The request headers as `name\tvalue\n` lines (content type, encoding, `collector.headers`).
    #[wasm_bindgen(getter)]
    pub fn headers(&self) -> String {
        engine::fetch_headers(&self.0)
    }

    /// `collector.timeout_ms`.
    #[wasm_bindgen(getter, js_name = timeoutMs)]
    pub fn timeout_ms(&self) -> f64 {
        self.0.timeout_ms as f64
    }

    /// Spans in the body.
    #[wasm_bindgen(getter)]
    pub fn spans(&self) -> u32 {
        u32::try_from(self.0.span_count).unwrap_or(u32::MAX)
    }
}

#[wasm_bindgen]
impl Core {
    /// A tracer for `config` (JSON text). `seed` must be 32 random bytes. Throws an `Error` whose
    /// message names the field, as the filter's log line does.
    #[wasm_bindgen(constructor)]
    pub fn new(config: &str, seed: &[u8], default_service: &str) -> Result<Core, JsError> {
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| JsError::new("seed: must be 32 bytes"))?;
        let engine =
            Engine::new(config, seed, default_service).map_err(|e| JsError::new(&e.to_string()))?;
        Ok(Core { engine, last: None })
    }

    /// `collector.endpoint`.
    #[wasm_bindgen(getter)]
    pub fn endpoint(&self) -> String {
        self.engine.endpoint().to_owned()
    }

    /// `batch.schedule_delay_ms`.
    #[wasm_bindgen(getter, js_name = scheduleDelayMs)]
    pub fn schedule_delay_ms(&self) -> f64 {
        self.engine.schedule_delay_ms() as f64
    }

    /// Decide a hop: `headers` as `name\tvalue\n` lines, `kind` 0 server and client, 1 server,
    /// 2 client; `now_ms` epoch milliseconds. Returns the header edits as text; when the hop is
    /// sampled, `takeHop` then returns it.
    pub fn start(
        &mut self,
        headers: &str,
        kind: u8,
        protocol: &str,
        client_address: &str,
        now_ms: f64,
    ) -> String {
        let (edits, pending) = self.engine.start(
            headers,
            HopKind::from_code(kind),
            protocol,
            client_address,
            engine::ms_to_ns(now_ms),
        );
        self.last = pending;
        edits
    }

    /// The sampled hop of the last `start`, once.
    #[wasm_bindgen(js_name = takeHop)]
    pub fn take_hop(&mut self) -> Option<SampledHop> {
        self.last.take().map(SampledHop)
    }

    /// End a sampled hop: its spans are built, encoded and queued. `error` 0 none, 1 timeout,
    /// 2 connection failure, 3 other; times in epoch ms, NaN when unknown. Returns spans queued.
    #[allow(clippy::too_many_arguments)]
    pub fn end(
        &mut self,
        hop: SampledHop,
        status: u16,
        error: u8,
        message: &str,
        route: &str,
        upstream_start_ms: f64,
        first_byte_ms: f64,
        now_ms: f64,
    ) -> u32 {
        let known = |ms: f64| (ms.is_finite() && ms > 0.0).then(|| engine::ms_to_ns(ms));
        let end = HopEnd {
            status,
            error: Some(HopError::from_code(error)),
            message,
            route,
            upstream_start_ns: known(upstream_start_ms),
            first_byte_ns: known(first_byte_ms),
            end_ns: engine::ms_to_ns(now_ms),
        };
        u32::try_from(self.engine.end(hop.0, &end)).unwrap_or(u32::MAX)
    }

    /// Queue the export requests due now (all queued spans with `flush`); returns how many
    /// `nextExport` will hand out.
    pub fn poll(&mut self, now_ms: f64, flush: bool) -> u32 {
        let n = self.engine.poll(engine::ms_to_ns(now_ms), flush);
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// The next export request to send.
    #[wasm_bindgen(js_name = nextExport)]
    pub fn next_export(&mut self) -> Option<ExportBatch> {
        self.engine.next_export().map(ExportBatch)
    }

    /// Report a response to export attempt `id`.
    #[wasm_bindgen(js_name = onResponse)]
    pub fn on_response(
        &mut self,
        id: f64,
        status: u16,
        retry_after: Option<String>,
        body: &[u8],
        now_ms: f64,
    ) {
        let outcome = ExportOutcome::Status {
            code: status,
            retry_after,
            body: body.to_vec(),
        };
        self.engine
            .on_response(id as u64, outcome, engine::ms_to_ns(now_ms));
    }

    /// Report that export attempt `id` got no response (`timeout`, or a network failure).
    #[wasm_bindgen(js_name = onFailure)]
    pub fn on_failure(&mut self, id: f64, timeout: bool, now_ms: f64) {
        let outcome = if timeout {
            ExportOutcome::Timeout
        } else {
            ExportOutcome::Failed
        };
        self.engine
            .on_response(id as u64, outcome, engine::ms_to_ns(now_ms));
    }

    /// The counters and gauges as a JSON object (the filter's metric names).
    pub fn metrics(&self) -> String {
        self.engine.metrics_json()
    }

    /// Rate-limited log lines to write, newline-separated (empty when none).
    #[wasm_bindgen(js_name = drainLogs)]
    pub fn drain_logs(&mut self) -> String {
        self.engine.drain_logs()
    }
}
