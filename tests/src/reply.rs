//! How the OTLP receiver answers: a programmable script of replies, consumed one per export request,
//! falling back to healthy `200` when it runs out ("503 for the next 3 requests, then healthy").

use std::collections::VecDeque;
use std::time::Duration;

/// One scripted answer to an export request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `200` with an empty `ExportTraceServiceResponse`.
    Ok,
    /// `200` with `partial_success.rejected_spans` set.
    PartialSuccess {
        /// Spans the receiver says it rejected.
        rejected: i64,
        /// `partial_success.error_message`.
        message: String,
    },
    /// Any status, with an optional `Retry-After` value (seconds or an HTTP date, sent as given).
    Status {
        /// Status code.
        code: u16,
        /// `Retry-After` header value.
        retry_after: Option<String>,
    },
    /// Close the connection without answering.
    Close,
}

impl Reply {
    /// A bare status.
    pub fn status(code: u16) -> Reply {
        Reply::Status {
            code,
            retry_after: None,
        }
    }

    /// Whether the receiver accepted the request's spans with this reply.
    pub fn accepts(&self) -> bool {
        matches!(self, Reply::Ok | Reply::PartialSuccess { .. })
    }
}

/// A reply with a delay before it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// What to answer.
    pub reply: Reply,
    /// How long to wait before answering (bounded by the caller).
    pub delay: Duration,
}

/// The queue of scripted steps.
#[derive(Debug, Default)]
pub struct Script {
    steps: VecDeque<Step>,
}

impl Script {
    /// Appends `count` copies of `reply`, each sent after `delay`.
    pub fn push(&mut self, count: usize, reply: Reply, delay: Duration) {
        for _ in 0..count {
            self.steps.push_back(Step {
                reply: reply.clone(),
                delay,
            });
        }
    }

    /// The next step; healthy `200` at once when the script is exhausted.
    pub fn next_step(&mut self) -> Step {
        self.steps.pop_front().unwrap_or(Step {
            reply: Reply::Ok,
            delay: Duration::ZERO,
        })
    }

    /// Steps not yet used.
    pub fn remaining(&self) -> usize {
        self.steps.len()
    }

    /// Drops every remaining step.
    pub fn clear(&mut self) {
        self.steps.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_runs_out_into_healthy() {
        let mut script = Script::default();
        script.push(2, Reply::status(503), Duration::ZERO);
        assert_eq!(script.next_step().reply, Reply::status(503));
        assert_eq!(script.next_step().reply, Reply::status(503));
        assert_eq!(script.next_step().reply, Reply::Ok);
        assert_eq!(script.remaining(), 0);
    }
}
