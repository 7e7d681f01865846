//! What the exporter asks the plugin to send, and what the plugin reports back.

/// One export callout to dispatch with `dispatch_http_call`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRequest {
    /// This attempt's id: the plugin maps the callout token to it and passes it to `on_response`.
    /// A retry of the same batch gets a new id, so a late answer to an old attempt is ignored.
    pub id: u64,
    /// The body: an `ExportTraceServiceRequest`, gzipped when configured.
    pub body: Vec<u8>,
    /// `:method POST`, `:path`, `:authority`, `content-type`, `content-encoding` when gzip, then the
    /// configured `collector.headers`.
    pub headers: Vec<(String, String)>,
    /// Callout timeout (`collector.timeout_ms`).
    pub timeout_ms: u64,
    /// Spans in the body.
    pub span_count: usize,
}

/// How an export callout ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportOutcome {
    /// A response arrived (Envoy also reports a refused connection as a local 503 and a callout past
    /// its timeout as a local 504; both are retried).
    Status {
        /// `:status`.
        code: u16,
        /// The `retry-after` header, if any (seconds or an HTTP-date).
        retry_after: Option<String>,
        /// The response body (an `ExportTraceServiceResponse`, possibly empty).
        body: Vec<u8>,
    },
    /// The callout timed out without a response.
    Timeout,
    /// The callout could not be dispatched or was reset.
    Failed,
}

impl ExportOutcome {
    /// A response with `code` and no header or body (tests, and the plugin when it has none).
    pub fn status(code: u16) -> Self {
        ExportOutcome::Status {
            code,
            retry_after: None,
            body: Vec::new(),
        }
    }

    /// Whether the failure is worth retrying: 429, 502, 503, 504, a timeout, or a failed dispatch.
    pub fn is_retryable(&self) -> bool {
        match self {
            ExportOutcome::Status { code, .. } => matches!(code, 429 | 502 | 503 | 504),
            ExportOutcome::Timeout | ExportOutcome::Failed => true,
        }
    }

    /// A short description for logs.
    pub fn describe(&self) -> String {
        match self {
            ExportOutcome::Status { code, .. } => format!("status {code}"),
            ExportOutcome::Timeout => "timeout".to_owned(),
            ExportOutcome::Failed => "dispatch failed".to_owned(),
        }
    }
}
