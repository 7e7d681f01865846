//! The subset of CEL (Common Expression Language) that Envoy's `expr_create` / `expr_evaluate`
//! foreign functions answer for hoptrace: parse ([`parse`]), evaluate over the host's properties
//! ([`evaluate`]) and serialize the value the way Envoy's `serializeValue` does
//! ([`Value::serialize`]).
//!
//! Supported: list literals, attribute paths (`request.time`, dotted selects), `has(path)`, the
//! conditional `c ? a : b`, parentheses, and string, int and bool literals. That is every
//! production of the stream-end lists hoptrace compiles; anything else is refused when the
//! expression is created, as Envoy refuses an expression its parser rejects, so a guest that
//! starts using more of CEL fails loudly here instead of being answered wrongly.
//!
//! Hand-written rather than a crate: the CEL crates parse with a generated ANTLR parser, about
//! thirty more dependencies and half a minute more of CPU in a cold build on a two-core CI, for
//! five productions. They would also not save the two parts that carry the behaviour: the shim's
//! properties are untyped bytes already in Envoy's encoding (a crate's typed values would have to
//! be invented and converted back), and Envoy's serialization of a list as header pairs is
//! Envoy's, not CEL's.

mod eval;
mod parse;
mod value;

pub use eval::{evaluate, EvalError};
pub use parse::{parse, Expr, ParseError};
pub use value::Value;
