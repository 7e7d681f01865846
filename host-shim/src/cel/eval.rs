//! Evaluating an [`Expr`] over attributes, with CEL's semantics where the subset reaches them.
//!
//! An attribute is looked up by its NUL-joined path, the key a guest passes to
//! `proxy_get_property`, so an expression sees exactly the properties a test set (and those the
//! shim derives per request). As in Envoy, an absent attribute is an error that fails the whole
//! evaluation, a list included; `has()` is how an expression asks without failing, and only the
//! branch a conditional takes is evaluated.

use std::fmt;

use super::parse::Expr;
use super::value::Value;

/// Why an evaluation failed (Envoy's `expr_evaluate` then answers `INTERNAL_FAILURE`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EvalError {
    /// The attribute at this dotted path is not set (CEL's "no such key").
    NoSuchAttribute(String),
    /// The condition of `?:` is not a bool (CEL's "no matching overload"). An attribute counts as
    /// not a bool: the shim holds attributes as bytes and cannot know one is a bool.
    ConditionNotBool(&'static str),
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSuchAttribute(path) => write!(f, "no such attribute: {path}"),
            Self::ConditionNotBool(found) => {
                write!(f, "the condition of `?:` is a {found}, not a bool")
            }
        }
    }
}

impl std::error::Error for EvalError {}

/// The NUL-joined key of a path, as a guest names a property.
fn key(path: &[String]) -> Vec<u8> {
    path.join("\0").into_bytes()
}

/// Evaluates `expr`; `attribute` answers an attribute's bytes by its NUL-joined key, `None` when
/// it is absent. `has(path)` is true when the attribute at `path` is set.
pub fn evaluate(
    expr: &Expr,
    attribute: &impl Fn(&[u8]) -> Option<Vec<u8>>,
) -> Result<Value, EvalError> {
    match expr {
        Expr::Attribute(path) => attribute(&key(path))
            .map(Value::Property)
            .ok_or_else(|| EvalError::NoSuchAttribute(path.join("."))),
        Expr::Has(path) => Ok(Value::Bool(attribute(&key(path)).is_some())),
        Expr::String(s) => Ok(Value::String(s.clone())),
        Expr::Int(i) => Ok(Value::Int(*i)),
        Expr::Bool(b) => Ok(Value::Bool(*b)),
        Expr::List(elements) => elements
            .iter()
            .map(|e| evaluate(e, attribute))
            .collect::<Result<_, _>>()
            .map(Value::List),
        Expr::Conditional(condition, then, otherwise) => match evaluate(condition, attribute)? {
            Value::Bool(true) => evaluate(then, attribute),
            Value::Bool(false) => evaluate(otherwise, attribute),
            other => Err(EvalError::ConditionNotBool(other.type_name())),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::cel::parse;

    /// Attributes of a local reply: no upstream address.
    fn attributes() -> BTreeMap<Vec<u8>, Vec<u8>> {
        [
            (
                "request\0time",
                1_700_000_000_000_000_000_i64.to_le_bytes().to_vec(),
            ),
            ("request\0protocol", b"HTTP/2".to_vec()),
            ("response\0code", 503_i64.to_le_bytes().to_vec()),
            ("xds\0listener_direction", 1_i64.to_le_bytes().to_vec()),
        ]
        .into_iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v))
        .collect()
    }

    fn eval(text: &str) -> Result<Value, EvalError> {
        let attributes = attributes();
        let expr = parse(text.as_bytes()).unwrap();
        evaluate(&expr, &|key: &[u8]| attributes.get(key).cloned())
    }

    #[test]
    fn an_attribute_is_its_property_bytes() {
        assert_eq!(
            eval("request.protocol"),
            Ok(Value::Property(b"HTTP/2".to_vec()))
        );
        assert_eq!(
            eval("response.code").unwrap().serialize(),
            503_i64.to_le_bytes()
        );
    }

    #[test]
    fn an_absent_attribute_fails_the_whole_bare_list() {
        assert_eq!(
            eval("[request.time, upstream.address, response.code]"),
            Err(EvalError::NoSuchAttribute("upstream.address".into()))
        );
    }

    #[test]
    fn the_guarded_list_answers_with_the_defaults() {
        let value = eval(
            "[request.time, has(request.protocol) ? request.protocol : '', \
             has(upstream.address) ? upstream.address : '', \
             has(response.flags) ? response.flags : 0]",
        )
        .unwrap();
        assert_eq!(
            value,
            Value::List(vec![
                Value::Property(1_700_000_000_000_000_000_i64.to_le_bytes().to_vec()),
                Value::Property(b"HTTP/2".to_vec()),
                Value::String(String::new()),
                Value::Int(0),
            ])
        );
    }

    #[rustfmt::skip]
    #[test]
    fn has_and_the_conditional() {
        let cases: [(&str, Result<Value, EvalError>); 7] = [
            ("has(request.protocol)",          Ok(Value::Bool(true))),
            ("has(upstream.address)",          Ok(Value::Bool(false))),
            ("has(request.protocol) ? 1 : 2",  Ok(Value::Int(1))),
            ("has(upstream.port) ? 1 : 'no'",  Ok(Value::String("no".into()))),
            // Only the branch taken is evaluated: the absent attribute is never looked at.
            ("false ? upstream.address : 0",   Ok(Value::Int(0))),
            ("request.protocol ? 1 : 2",       Err(EvalError::ConditionNotBool("attribute"))),
            ("[true] ? 1 : 2",                 Err(EvalError::ConditionNotBool("list"))),
        ];
        for (text, want) in cases {
            assert_eq!(eval(text), want, "{text}");
        }
    }
}
