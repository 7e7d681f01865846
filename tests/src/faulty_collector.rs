//! An OTLP/HTTP collector whose failure mode a test switches at run time, for the fault tests: healthy,
//! down (its port closed: connection refused), black-holed (accepts, reads, never answers), slow, any
//! status with `Retry-After`, partial success, or flapping between up and down. Unlike the scripted
//! [`crate::Receiver`] it keeps running totals instead of every request, so a long soak stays small,
//! and it notes when spans of "marker" traces arrive, which is how a test times recovery.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message;

use crate::otlp;
use crate::server::{Answer, ServedRequest, Server};

/// Trace ids starting with this are markers: the collector notes when their spans arrive.
pub const MARKER_PREFIX: &str = "feedc0de";
/// How often a blocked answer (black hole, slow) looks whether it should give up.
const POLL: Duration = Duration::from_millis(50);

/// How the collector behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// `200` with an empty `ExportTraceServiceResponse`, at once.
    Healthy,
    /// The listening port is closed: Envoy's connect fails (connection refused).
    Down,
    /// Accepts and reads the request, then never answers (until the fault changes).
    BlackHole,
    /// `200` after this delay (a delay past `collector.timeout_ms` makes it a timeout).
    Slow(Duration),
    /// This status, with an optional `Retry-After` value.
    Status {
        /// Status code.
        code: u16,
        /// `Retry-After` header value.
        retry_after: Option<String>,
    },
    /// `200` with `partial_success.rejected_spans` = this many (at most the spans in the request).
    PartialSuccess(i64),
    /// Up (healthy) and down (port closed) in turns, each for `period`.
    Flapping(Duration),
}

impl Fault {
    /// A bare status.
    pub fn status(code: u16) -> Fault {
        Fault::Status {
            code,
            retry_after: None,
        }
    }
}

/// Running totals of what the collector received and answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Export requests whose body arrived.
    pub posts: u64,
    /// Answers by kind: `"200"`, `"200 partial"`, `"503"`, `"late 200"`, `"cut short"`,
    /// `"black-holed"`, `"undecodable"`.
    pub answers: BTreeMap<String, u64>,
    /// Spans in every decoded request.
    pub spans_received: u64,
    /// Spans the collector accepted in an answer given at once: `2xx` minus rejected ones.
    pub spans_accepted: u64,
    /// Spans reported back as rejected (partial success).
    pub spans_rejected: u64,
    /// Requests whose body the collector had seen before: retries of the same batch.
    pub retries: u64,
    /// The shortest time between two attempts of the same batch (from one's arrival to the next's).
    pub min_retry_gap: Option<Duration>,
}

struct State {
    fault: Fault,
    tally: Tally,
    /// Marker trace id → when its first span was accepted.
    markers: BTreeMap<String, Instant>,
    /// Hash of each body seen → when it last arrived (a retry sends the same bytes again).
    bodies: HashMap<u64, Instant>,
    server: Option<Server>,
}

struct Inner {
    port: u16,
    state: Mutex<State>,
    /// Bumped on every [`FaultyCollector::set`]: a flapper thread stops when it changes.
    generation: AtomicU64,
    closing: AtomicBool,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running faulty collector; dropping it stops it.
pub struct FaultyCollector {
    inner: Arc<Inner>,
    flapper: Mutex<Option<JoinHandle<()>>>,
}

impl FaultyCollector {
    /// Starts healthy on a free port of 127.0.0.1.
    pub fn start() -> Result<FaultyCollector> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let inner = Arc::new(Inner {
            port,
            state: Mutex::new(State {
                fault: Fault::Healthy,
                tally: Tally::default(),
                markers: BTreeMap::new(),
                bodies: HashMap::new(),
                server: None,
            }),
            generation: AtomicU64::new(0),
            closing: AtomicBool::new(false),
        });
        open(&inner)?;
        Ok(FaultyCollector {
            inner,
            flapper: Mutex::new(None),
        })
    }

    /// The port (stays the same while it is down).
    pub fn port(&self) -> u16 {
        self.inner.port
    }

    /// Switches to `fault` from now on. Requests already being held (black hole, slow) give up when
    /// the fault changes: they are closed unanswered.
    pub fn set(&self, fault: Fault) -> Result<()> {
        let generation = self.inner.generation.fetch_add(1, Ordering::SeqCst) + 1;
        self.join_flapper();
        match &fault {
            Fault::Down => close(&self.inner),
            Fault::Flapping(_) => {}
            _ => open(&self.inner)?,
        }
        self.inner.lock().fault = fault.clone();
        if let Fault::Flapping(period) = fault {
            let inner = Arc::clone(&self.inner);
            let handle = std::thread::Builder::new()
                .name("collector-flap".into())
                .spawn(move || flap(&inner, generation, period))?;
            *self.flapper.lock().unwrap_or_else(PoisonError::into_inner) = Some(handle);
        }
        Ok(())
    }

    /// The totals so far.
    pub fn tally(&self) -> Tally {
        self.inner.lock().tally.clone()
    }

    /// When the first span of marker trace `trace_id` was accepted, if it was.
    pub fn marker_arrival(&self, trace_id: &str) -> Option<Instant> {
        self.inner.lock().markers.get(trace_id).copied()
    }

    /// The earliest accepted marker among `trace_ids`, if any.
    pub fn first_marker(&self, trace_ids: &[String]) -> Option<(String, Instant)> {
        let state = self.inner.lock();
        trace_ids
            .iter()
            .filter_map(|t| state.markers.get(t).map(|at| (t.clone(), *at)))
            .min_by_key(|(_, at)| *at)
    }

    fn join_flapper(&self) {
        let handle = self
            .flapper
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }
}

impl Drop for FaultyCollector {
    fn drop(&mut self) {
        self.inner.closing.store(true, Ordering::SeqCst);
        self.inner.generation.fetch_add(1, Ordering::SeqCst);
        self.join_flapper();
        close(&self.inner);
    }
}

/// Binds the port again if it is closed.
fn open(inner: &Arc<Inner>) -> Result<()> {
    if inner.lock().server.is_some() {
        return Ok(());
    }
    let handler_inner = Arc::clone(inner);
    let addr = format!("127.0.0.1:{}", inner.port);
    let server = Server::start_on(&addr, "faulty-collector", move |request| {
        handle(&handler_inner, request)
    })
    .with_context(|| format!("faulty collector: reopen {addr}"))?;
    inner.lock().server = Some(server);
    Ok(())
}

/// Closes the port; connections being held give up first (they see the fault change or `closing`).
fn close(inner: &Inner) {
    let server = inner.lock().server.take();
    // Dropped outside the lock: its connection threads take the lock to finish their requests.
    drop(server);
}

fn flap(inner: &Arc<Inner>, generation: u64, period: Duration) {
    let mut up = false;
    while inner.generation.load(Ordering::SeqCst) == generation {
        if up {
            close(inner);
        } else if open(inner).is_err() {
            return;
        }
        up = !up;
        let until = Instant::now() + period;
        while Instant::now() < until && inner.generation.load(Ordering::SeqCst) == generation {
            std::thread::sleep(POLL.min(period));
        }
    }
}

/// Whether a held request should stop waiting: the fault changed, or the collector is stopping.
fn gave_up(inner: &Inner, generation: u64) -> bool {
    inner.closing.load(Ordering::SeqCst) || inner.generation.load(Ordering::SeqCst) != generation
}

fn handle(inner: &Inner, request: ServedRequest) -> Answer {
    if request.path() != crate::receiver::TRACES_PATH || request.method != "POST" {
        return Answer::text(404, "only POST /v1/traces here\n");
    }
    let decoded = otlp::decode_request(
        &request.body,
        request.header("content-type"),
        request.header("content-encoding"),
    );
    let spans = decoded.as_ref().map(otlp::flatten).unwrap_or_default();
    let body_hash = {
        let mut h = DefaultHasher::new();
        request.body.hash(&mut h);
        h.finish()
    };
    let (fault, generation) = {
        let mut state = inner.lock();
        state.tally.posts += 1;
        state.tally.spans_received += spans.len() as u64;
        let now = Instant::now();
        if let Some(before) = state.bodies.insert(body_hash, now) {
            let gap = now.duration_since(before);
            state.tally.retries += 1;
            state.tally.min_retry_gap = Some(state.tally.min_retry_gap.map_or(gap, |g| g.min(gap)));
        }
        (state.fault.clone(), inner.generation.load(Ordering::SeqCst))
    };
    if decoded.is_err() {
        note(inner, "undecodable", 0, 0, &[]);
        return Answer::text(400, "undecodable OTLP body\n");
    }
    let n = spans.len() as u64;
    match fault {
        Fault::Healthy | Fault::Flapping(_) => {
            note(inner, "200", n, 0, &spans);
            ok(None)
        }
        // A request that reached a closed port's last moments: answer it as a healthy one would.
        Fault::Down => {
            note(inner, "200", n, 0, &spans);
            ok(None)
        }
        Fault::BlackHole => {
            while !gave_up(inner, generation) {
                std::thread::sleep(POLL);
            }
            note(inner, "black-holed", 0, 0, &[]);
            Answer::Close
        }
        Fault::Slow(delay) => {
            let until = Instant::now() + delay;
            while Instant::now() < until {
                if gave_up(inner, generation) {
                    // Cut short: close rather than answer, so an answer that Envoy may still be
                    // waiting for never counts on one side only.
                    note(inner, "cut short", 0, 0, &[]);
                    return Answer::Close;
                }
                std::thread::sleep(POLL);
            }
            // Past the callout timeout Envoy no longer listens: these spans are not counted as
            // accepted here (the filter retries them).
            note(inner, "late 200", 0, 0, &[]);
            ok(None)
        }
        Fault::Status { code, retry_after } => {
            note(inner, &code.to_string(), 0, 0, &[]);
            let mut headers = vec![("content-type".to_string(), "text/plain".to_string())];
            if let Some(value) = retry_after {
                headers.push(("retry-after".into(), value));
            }
            Answer::Respond {
                status: code,
                headers,
                body: format!("faulty collector: {code}\n").into_bytes(),
            }
        }
        Fault::PartialSuccess(rejected) => {
            let rejected = rejected.clamp(0, n as i64);
            note(inner, "200 partial", n, rejected as u64, &spans);
            ok(Some(ExportTracePartialSuccess {
                rejected_spans: rejected,
                error_message: "faulty collector: partial success".into(),
            }))
        }
    }
}

/// Counts one answer; `accepted` spans (of which `rejected` were refused) and marker arrivals.
fn note(inner: &Inner, answer: &str, accepted: u64, rejected: u64, spans: &[otlp::ReceivedSpan]) {
    let now = Instant::now();
    let mut state = inner.lock();
    *state.tally.answers.entry(answer.to_string()).or_insert(0) += 1;
    state.tally.spans_accepted += accepted - rejected;
    state.tally.spans_rejected += rejected;
    for span in spans {
        let trace_id = span.trace_id();
        if trace_id.starts_with(MARKER_PREFIX) {
            state.markers.entry(trace_id).or_insert(now);
        }
    }
}

fn ok(partial_success: Option<ExportTracePartialSuccess>) -> Answer {
    Answer::Respond {
        status: 200,
        headers: vec![("content-type".into(), "application/x-protobuf".into())],
        body: ExportTraceServiceResponse { partial_success }.encode_to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Request;

    #[test]
    fn down_refuses_and_comes_back_on_the_same_port() {
        let c = FaultyCollector::start().unwrap();
        let port = c.port();
        assert_eq!(Request::get("/").send(port).unwrap().status, 404);
        c.set(Fault::Down).unwrap();
        assert!(Request::get("/").send(port).is_err(), "port closed");
        c.set(Fault::Healthy).unwrap();
        assert_eq!(Request::get("/").send(port).unwrap().status, 404);
    }

    #[test]
    fn status_and_black_hole() {
        let c = FaultyCollector::start().unwrap();
        c.set(Fault::status(503)).unwrap();
        let post = Request::new("POST", "/v1/traces")
            .header("content-type", "application/x-protobuf")
            .timeout(Duration::from_millis(500));
        assert_eq!(post.clone().send(c.port()).unwrap().status, 503);
        c.set(Fault::BlackHole).unwrap();
        assert!(post.send(c.port()).is_err(), "never answered");
        let tally = c.tally();
        assert_eq!(tally.posts, 2);
        assert_eq!(tally.answers.get("503"), Some(&1));
    }
}
