//! Why a propagation header was rejected: the header's name plus the rule it broke.
//!
//! A rejected header is never fatal to a request; the hop code starts a new trace (or drops the
//! header) and may log the message, so the message says which header and which rule in words a
//! person can check against the spec.

use std::fmt;

/// A propagation header that broke a rule of its format. Each variant names the header; the text is
/// the rule (e.g. `trace-id is all zeros`), so `Display` reads `traceparent: trace-id is all zeros`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// W3C `traceparent`.
    Traceparent(&'static str),
    /// W3C `tracestate`.
    Tracestate(&'static str),
    /// W3C `baggage`.
    Baggage(&'static str),
    /// B3 single header `b3`.
    B3(&'static str),
    /// B3 multi headers `x-b3-*`.
    B3Multi(&'static str),
    /// Jaeger `uber-trace-id`.
    Jaeger(&'static str),
}

impl ParseError {
    /// The header (or header family) this error is about.
    pub fn header(&self) -> &'static str {
        match self {
            ParseError::Traceparent(_) => "traceparent",
            ParseError::Tracestate(_) => "tracestate",
            ParseError::Baggage(_) => "baggage",
            ParseError::B3(_) => "b3",
            ParseError::B3Multi(_) => "x-b3-*",
            ParseError::Jaeger(_) => "uber-trace-id",
        }
    }

    /// The rule that was broken.
    pub fn rule(&self) -> &'static str {
        match self {
            ParseError::Traceparent(r)
            | ParseError::Tracestate(r)
            | ParseError::Baggage(r)
            | ParseError::B3(r)
            | ParseError::B3Multi(r)
            | ParseError::Jaeger(r) => r,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.header(), self.rule())
    }
}

impl std::error::Error for ParseError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_header_and_rule() {
        assert_eq!(
            ParseError::Traceparent("trace-id is all zeros").to_string(),
            "traceparent: trace-id is all zeros"
        );
        assert_eq!(ParseError::B3Multi("x").to_string(), "x-b3-*: x");
        assert_eq!(ParseError::Jaeger("x").header(), "uber-trace-id");
        assert_eq!(ParseError::Baggage("too long").rule(), "too long");
    }
}
