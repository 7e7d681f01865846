//! The echo upstream: an HTTP/1.1 service on 127.0.0.1 that records every request exactly as it arrived
//! (all header lines, in order, raw bytes), so a test can assert what Envoy forwarded. Behaviour by path:
//!
//! | path | answer |
//! |---|---|
//! | `/status/NNN` | status NNN |
//! | `/slow/MS` | 200 after MS milliseconds (at most 30 s) |
//! | `/reset` | closes the connection without answering |
//! | `/call?to=PORT&path=/p` | calls `127.0.0.1:PORT/p`, copying the trace headers it received, and answers with that call's status and body (a service calling another through its sidecar) |
//! | `/own-trace-headers` | 200 with a `server-timing` of its own (two lines, one malformed) and its own `x-trace-id` |
//! | anything else | 200 with a short body |

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::client::Request;
use crate::server::{Answer, ServedRequest, Server};

/// Longest wait `/slow/MS` honours, so a typo cannot hang a test.
pub const MAX_SLOW: Duration = Duration::from_secs(30);
/// Header names a service copies from its incoming request to its outgoing call, like an app
/// instrumented with any tracing library (or none, passing the headers on as Istio asks).
pub const TRACE_HEADERS: &[&str] = &[
    "traceparent",
    "tracestate",
    "baggage",
    "b3",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
    "uber-trace-id",
    "x-request-id",
];

#[derive(Default)]
struct Recorded {
    requests: Mutex<Vec<ServedRequest>>,
    arrived: Condvar,
}

/// A running echo upstream; dropping it stops it.
pub struct Upstream {
    name: String,
    recorded: Arc<Recorded>,
    server: Server,
}

impl Upstream {
    /// Starts on a free port; `name` shows in the `x-upstream` response header and the body.
    pub fn start(name: &str) -> Result<Upstream> {
        Upstream::start_on("127.0.0.1:0", name)
    }

    /// Starts on a given loopback address (the demo uses fixed ports).
    pub fn start_on(addr: &str, name: &str) -> Result<Upstream> {
        let recorded = Arc::new(Recorded::default());
        let server = {
            let recorded = Arc::clone(&recorded);
            let name = name.to_string();
            Server::start_on(addr, &format!("upstream-{name}"), move |request| {
                let answer = behave(&name, &request);
                let mut guard = recorded
                    .requests
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                guard.push(request);
                recorded.arrived.notify_all();
                answer
            })?
        };
        Ok(Upstream {
            name: name.to_string(),
            recorded,
            server,
        })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<ServedRequest> {
        self.recorded
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The most recent request, if any.
    pub fn last(&self) -> Option<ServedRequest> {
        self.requests().pop()
    }

    /// Forgets what was recorded.
    pub fn clear(&self) {
        self.recorded
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Waits until at least `n` requests arrived or `timeout` passed; returns what arrived.
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<ServedRequest> {
        let deadline = Instant::now() + timeout;
        let mut guard = self
            .recorded
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while guard.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            guard = self
                .recorded
                .arrived
                .wait_timeout(guard, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        guard.clone()
    }
}

/// What `/own-trace-headers` answers with: a service's own `server-timing` (a well-formed metric
/// and a hostile one: an unterminated quoted string) and its own value of a trace-id header.
pub const OWN_TRACE_HEADERS: &[(&str, &str)] = &[
    ("server-timing", "db;dur=53, app;desc=\"x\\\"y"),
    ("server-timing", "trace;desc=\"unterminated"),
    ("x-trace-id", "not-hoptraces-own"),
];

fn behave(name: &str, request: &ServedRequest) -> Answer {
    let path = request.path();
    let mut segments = path.trim_start_matches('/').split('/');
    let first = segments.next().unwrap_or("");
    let arg = segments.next().unwrap_or("");
    let answer = match first {
        "status" => match arg.parse::<u16>() {
            Ok(status) if (200..=599).contains(&status) => {
                Answer::text(status, &format!("{name}: status {status}\n"))
            }
            _ => Answer::text(400, "bad status\n"),
        },
        "slow" => match arg.parse::<u64>() {
            Ok(ms) => {
                std::thread::sleep(Duration::from_millis(ms).min(MAX_SLOW));
                Answer::text(200, &format!("{name}: slow {ms} ms\n"))
            }
            Err(_) => Answer::text(400, "bad delay\n"),
        },
        "reset" => Answer::Close,
        "call" => call_onward(name, request),
        "own-trace-headers" => Answer::Respond {
            status: 200,
            headers: OWN_TRACE_HEADERS
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
            body: format!("{name}: own trace headers\n").into_bytes(),
        },
        _ => Answer::text(200, &format!("{name}: {path}\n")),
    };
    with_name(answer, name)
}

fn with_name(answer: Answer, name: &str) -> Answer {
    match answer {
        Answer::Respond {
            status,
            mut headers,
            body,
        } => {
            headers.push(("x-upstream".into(), name.to_string()));
            Answer::Respond {
                status,
                headers,
                body,
            }
        }
        Answer::Close => Answer::Close,
    }
}

/// `/call?to=PORT&path=/p`: the service calls another one and passes the trace headers on.
fn call_onward(name: &str, request: &ServedRequest) -> Answer {
    let Some(port) = request.query("to").and_then(|p| p.parse::<u16>().ok()) else {
        return Answer::text(400, "call needs to=PORT\n");
    };
    let target = request.query("path").unwrap_or("/");
    let mut onward = Request::get(target).timeout(Duration::from_secs(20));
    for (header, value) in &request.head.headers {
        if TRACE_HEADERS.contains(&header.as_str()) {
            onward = onward.header(header, value);
        }
    }
    match onward.send(port) {
        Ok(response) => {
            let mut body = format!("{name} -> ").into_bytes();
            body.extend_from_slice(&response.body);
            Answer::Respond {
                status: response.status,
                headers: vec![("content-type".into(), "text/plain".into())],
                body,
            }
        }
        Err(e) => Answer::text(502, &format!("{name}: call to {port} failed: {e:#}\n")),
    }
}
