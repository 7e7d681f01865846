//! HTTP callouts (`proxy_http_call`) waiting for the test to answer them, and the answers.
//!
//! What Envoy delivers for each outcome (checked with a probe filter in Envoy 1.40):
//! an answer is a normal response; a timeout is a local `504` with body `upstream request timeout`;
//! a refused connection is a local `503` with body `upstream connect error or disconnect/reset
//! before headers. reset reason: connection failure`; a reset is `proxy_on_http_call_response` with
//! no headers and `proxy_get_status` = (`BROKEN_CONNECTION`, `reset`).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::headers::HeaderMap;

/// Body of the local reply Envoy's async client produces when a callout times out.
pub const TIMEOUT_BODY: &str = "upstream request timeout";

/// Body of the local reply Envoy produces when the cluster refuses the connection.
pub const CONNECTION_FAILURE_BODY: &str =
    "upstream connect error or disconnect/reset before headers. reset reason: connection failure";

/// A request the guest sent with `proxy_http_call`, as the upstream would receive it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Callout {
    /// The token the guest got back (its `call_id`).
    pub id: u32,
    /// The context that dispatched it; the answer is delivered there.
    pub context_id: u32,
    /// The Envoy cluster it was sent to.
    pub cluster: String,
    /// Request headers (with `content-length` added for a body, as Envoy does).
    pub headers: HeaderMap,
    /// Request body.
    pub body: Vec<u8>,
    /// Request trailers.
    pub trailers: HeaderMap,
    /// The guest's timeout; `None` for 0 (no timeout, as in Envoy).
    pub timeout: Option<Duration>,
    /// Virtual time since the host started when it was dispatched.
    pub dispatched_at: Duration,
}

impl Callout {
    /// A request header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get_str(name)
    }
}

/// A response a test gives to a callout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CalloutResponse {
    /// HTTP status, delivered as the `:status` header.
    pub status: u16,
    /// Response headers after `:status`.
    pub headers: HeaderMap,
    /// Response body.
    pub body: Vec<u8>,
    /// Response trailers.
    pub trailers: HeaderMap,
    /// Virtual time until it arrives (zero: at once).
    pub delay: Duration,
}

impl CalloutResponse {
    /// A response with this status, no headers, no body, arriving at once.
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: HeaderMap::new(),
            body: Vec::new(),
            trailers: HeaderMap::new(),
            delay: Duration::ZERO,
        }
    }

    /// Adds a response header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.add(name, value);
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Adds a trailer.
    pub fn trailer(mut self, name: &str, value: &str) -> Self {
        self.trailers.add(name, value);
        self
    }

    /// Makes it arrive after `delay` of virtual time (a timeout may come first).
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// The local reply Envoy's async client makes up: `:status`, `content-length`, `content-type`.
    pub fn local_reply(status: u16, body: &str) -> Self {
        Self::new(status)
            .header("content-length", &body.len().to_string())
            .header("content-type", "text/plain")
            .body(body)
    }
}

/// How a callout fails instead of being answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The callout's timeout: a local `504`.
    Timeout,
    /// The collector refuses connections: a local `503` "connection failure".
    ConnectionRefused,
    /// The stream is reset: no headers, status `BROKEN_CONNECTION` / `reset`.
    Reset,
}

/// What reaches the guest's `proxy_on_http_call_response`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// A response (real or a local reply).
    Response(CalloutResponse),
    /// A reset: zero headers.
    Reset,
}

impl From<Failure> for Delivery {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Timeout => Self::Response(CalloutResponse::local_reply(504, TIMEOUT_BODY)),
            Failure::ConnectionRefused => {
                Self::Response(CalloutResponse::local_reply(503, CONNECTION_FAILURE_BODY))
            }
            Failure::Reset => Self::Reset,
        }
    }
}

/// A callout not yet delivered.
#[derive(Clone, Debug)]
pub struct Pending {
    /// The request.
    pub callout: Callout,
    /// Virtual ns at which its timeout fires.
    pub deadline_ns: Option<u64>,
    /// An answer given with a delay: when it arrives and what it is.
    pub scheduled: Option<(u64, Delivery)>,
}

/// Callouts in flight and the counter for tokens.
#[derive(Clone, Debug, Default)]
pub struct Callouts {
    /// Pending callouts by token.
    pub pending: BTreeMap<u32, Pending>,
    /// Tokens handed out so far (the next token is this + 1).
    pub dispatched: u32,
}

impl Callouts {
    /// The earliest virtual time at which some callout times out or a delayed answer arrives.
    pub fn next_event_ns(&self) -> Option<u64> {
        self.pending
            .values()
            .flat_map(|p| [p.deadline_ns, p.scheduled.as_ref().map(|(at, _)| *at)])
            .flatten()
            .min()
    }

    /// The callout whose event is due at or before `now_ns`, earliest first, and what to deliver.
    pub fn take_due(&mut self, now_ns: u64) -> Option<(Callout, Delivery)> {
        let (id, at) = self
            .pending
            .iter()
            .filter_map(|(id, p)| {
                let answer_at = p.scheduled.as_ref().map(|(at, _)| *at);
                // An answer due no later than the deadline wins over the timeout.
                let at = match (answer_at, p.deadline_ns) {
                    (Some(a), Some(d)) => a.min(d),
                    (a, d) => a.or(d)?,
                };
                (at <= now_ns).then_some((*id, at))
            })
            .min_by_key(|(id, at)| (*at, *id))?;
        let pending = self.pending.remove(&id)?;
        let delivery = match pending.scheduled {
            Some((answer_at, delivery)) if answer_at <= at => delivery,
            _ => Failure::Timeout.into(),
        };
        Some((pending.callout, delivery))
    }
}
