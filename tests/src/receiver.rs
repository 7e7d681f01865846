//! The OTLP/HTTP trace receiver on 127.0.0.1 (`POST /v1/traces`): decodes every body with the official
//! schema, stores every request, and answers as its [`Script`] says. One receiver serves the tests and
//! the `otlp-receiver` binary the demo runs.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Result;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;

use crate::otlp::{self, ReceivedSpan};
use crate::reply::{Reply, Script};
use crate::server::{Answer, ServedRequest, Server};

/// The OTLP/HTTP traces path.
pub const TRACES_PATH: &str = "/v1/traces";
/// Longest scripted delay honoured.
pub const MAX_DELAY: Duration = Duration::from_secs(60);

/// How the receiver answered a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answered {
    /// With this status.
    Status(u16),
    /// Closed the connection without answering.
    Closed,
}

/// One export request as received.
#[derive(Debug, Clone)]
pub struct ReceivedRequest {
    /// Request path.
    pub path: String,
    /// Every header line (lower-case name, value), in order.
    pub headers: Vec<(String, String)>,
    /// Bytes on the wire (head plus body as sent, still compressed if it was).
    pub wire_bytes: usize,
    /// Body bytes as sent (compressed if it was).
    pub body_bytes: usize,
    /// The decoded body, or why it did not decode.
    pub decoded: std::result::Result<ExportTraceServiceRequest, String>,
    /// Spans in the decoded body.
    pub span_count: usize,
    /// The answer given.
    pub answered: Answered,
    /// Whether its spans count as received (answered 2xx).
    pub accepted: bool,
    /// When its body had arrived (before any scripted delay).
    pub received_at: Instant,
}

impl ReceivedRequest {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        crate::http1::header(&self.headers, name)
    }
}

#[derive(Default)]
struct State {
    requests: Vec<ReceivedRequest>,
    script: Script,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running receiver; dropping it stops it. Clone-free: share it by reference.
pub struct Receiver {
    shared: Arc<Shared>,
    server: Server,
}

impl Receiver {
    /// Starts on a free port of 127.0.0.1.
    pub fn start() -> Result<Receiver> {
        Receiver::start_on("127.0.0.1:0")
    }

    /// Starts on a given loopback address.
    pub fn start_on(addr: &str) -> Result<Receiver> {
        let shared = Arc::new(Shared::default());
        let server = {
            let shared = Arc::clone(&shared);
            Server::start_on(addr, "otlp-receiver", move |request| {
                handle(&shared, request)
            })?
        };
        Ok(Receiver { shared, server })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// Answers the next `count` requests with `reply`, then healthy again.
    pub fn script(&self, count: usize, reply: Reply) {
        self.script_delayed(count, reply, Duration::ZERO);
    }

    /// Like [`Receiver::script`], waiting `delay` (at most [`MAX_DELAY`]) before each answer.
    pub fn script_delayed(&self, count: usize, reply: Reply, delay: Duration) {
        self.shared
            .lock()
            .script
            .push(count, reply, delay.min(MAX_DELAY));
    }

    /// Scripted steps not yet used.
    pub fn script_remaining(&self) -> usize {
        self.shared.lock().script.remaining()
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Every span of every accepted (2xx) request, in arrival order.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        accepted_spans(&self.shared.lock().requests)
    }

    /// Waits until at least `n` spans were accepted or `timeout` passed; returns the accepted spans.
    pub fn wait_for_spans(&self, n: usize, timeout: Duration) -> Vec<ReceivedSpan> {
        self.wait_until(timeout, |s| span_total(&s.requests) >= n);
        self.spans()
    }

    /// Waits until at least `n` requests arrived or `timeout` passed; returns them.
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<ReceivedRequest> {
        self.wait_until(timeout, |s| s.requests.len() >= n);
        self.requests()
    }

    fn wait_until(&self, timeout: Duration, done: impl Fn(&State) -> bool) {
        let deadline = Instant::now() + timeout;
        let mut guard = self.shared.lock();
        while !done(&guard) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            guard = self
                .shared
                .changed
                .wait_timeout(guard, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

fn span_total(requests: &[ReceivedRequest]) -> usize {
    requests
        .iter()
        .filter(|r| r.accepted)
        .map(|r| r.span_count)
        .sum()
}

fn accepted_spans(requests: &[ReceivedRequest]) -> Vec<ReceivedSpan> {
    requests
        .iter()
        .filter(|r| r.accepted)
        .filter_map(|r| r.decoded.as_ref().ok())
        .flat_map(otlp::flatten)
        .collect()
}

fn handle(shared: &Shared, request: ServedRequest) -> Answer {
    if request.path() != TRACES_PATH || request.method != "POST" {
        return Answer::text(404, "only POST /v1/traces here\n");
    }
    let received_at = Instant::now();
    let content_type = request.header("content-type").map(str::to_string);
    let decoded = otlp::decode_request(
        &request.body,
        content_type.as_deref(),
        request.header("content-encoding"),
    )
    .map_err(|e| format!("{e:#}"));
    let step = shared.lock().script.next_step();
    if !step.delay.is_zero() {
        std::thread::sleep(step.delay);
    }
    let json = content_type
        .as_deref()
        .is_some_and(|t| t.trim().starts_with("application/json"));
    let (answered, answer) = match (&decoded, &step.reply) {
        (Err(e), _) => (Answered::Status(400), Answer::text(400, e)),
        (Ok(_), Reply::Close) => (Answered::Closed, Answer::Close),
        (Ok(_), Reply::Status { code, retry_after }) => {
            let mut headers = vec![("content-type".to_string(), "text/plain".to_string())];
            if let Some(value) = retry_after {
                headers.push(("retry-after".into(), value.clone()));
            }
            let body = format!("scripted {code}\n").into_bytes();
            let answer = Answer::Respond {
                status: *code,
                headers,
                body,
            };
            (Answered::Status(*code), answer)
        }
        (Ok(_), Reply::Ok) => (Answered::Status(200), success(json, None)),
        (Ok(_), Reply::PartialSuccess { rejected, message }) => {
            let partial = ExportTracePartialSuccess {
                rejected_spans: *rejected,
                error_message: message.clone(),
            };
            (Answered::Status(200), success(json, Some(partial)))
        }
    };
    let span_count = decoded
        .as_ref()
        .map(|r| otlp::flatten(r).len())
        .unwrap_or(0);
    let accepted = matches!(answered, Answered::Status(s) if (200..300).contains(&s));
    let received = ReceivedRequest {
        path: request.path().to_string(),
        headers: request.head.headers.clone(),
        wire_bytes: request.wire_bytes,
        body_bytes: request.body.len(),
        decoded,
        span_count,
        answered,
        accepted,
        received_at,
    };
    shared.lock().requests.push(received);
    shared.changed.notify_all();
    answer
}

/// A `200` in the request's own encoding, as OTLP/HTTP asks.
fn success(json: bool, partial_success: Option<ExportTracePartialSuccess>) -> Answer {
    let response = ExportTraceServiceResponse { partial_success };
    let (content_type, body) = if json {
        let body = match &response.partial_success {
            // OTLP/JSON: camelCase, int64 as a decimal string.
            Some(p) => serde_json::json!({"partialSuccess": {
                "rejectedSpans": p.rejected_spans.to_string(),
                "errorMessage": p.error_message,
            }})
            .to_string(),
            None => "{}".to_string(),
        };
        ("application/json", body.into_bytes())
    } else {
        ("application/x-protobuf", response.encode_to_vec())
    };
    Answer::Respond {
        status: 200,
        headers: vec![("content-type".into(), content_type.into())],
        body,
    }
}
