//! Foreign functions (`proxy_call_foreign_function`): the CEL ones Envoy 1.40 registers,
//! `expr_create`, `expr_evaluate` and `expr_delete` (Envoy's
//! `source/extensions/common/wasm/foreign.cc`).
//!
//! Statuses as Envoy answers them: a name the host does not register is `NOT_FOUND`; an
//! expression the parser refuses is `BAD_ARGUMENT`; an argument to `expr_evaluate` or
//! `expr_delete` that is not a 4-byte token is `BAD_ARGUMENT`, an unknown token `NOT_FOUND`; a
//! failed evaluation (an absent attribute, among others) is `INTERNAL_FAILURE`. Tokens are
//! 4-byte little-endian, counted from 0 per root context, and a refused expression takes none.
//! A host built without them ([`ForeignFunctions::disabled`]) answers `NOT_FOUND` to every name,
//! as an Envoy without the CEL parser does.

use std::collections::BTreeMap;

use crate::abi::Status;
use crate::cel::{self, Expr};

/// `expr_create(text)`: compiles a CEL expression; answers its token.
pub const EXPR_CREATE: &str = "expr_create";
/// `expr_evaluate(token)`: evaluates against the current stream; answers the serialized value.
pub const EXPR_EVALUATE: &str = "expr_evaluate";
/// `expr_delete(token)`: forgets an expression.
pub const EXPR_DELETE: &str = "expr_delete";

/// The foreign functions a host serves and the expressions compiled so far (Envoy keeps them on
/// the root context; the shim has one).
#[derive(Clone, Debug)]
pub struct ForeignFunctions {
    enabled: bool,
    next_token: u32,
    expressions: BTreeMap<u32, Expr>,
}

impl Default for ForeignFunctions {
    fn default() -> Self {
        Self {
            enabled: true,
            next_token: 0,
            expressions: BTreeMap::new(),
        }
    }
}

impl ForeignFunctions {
    /// A host without foreign functions: every name is `NOT_FOUND`.
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }

    /// Whether the CEL functions are served.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Whether `name` is a function this host registers (an unknown one is `NOT_FOUND` before
    /// anything else happens).
    pub fn knows(&self, name: &[u8]) -> bool {
        self.enabled
            && [EXPR_CREATE, EXPR_EVALUATE, EXPR_DELETE]
                .iter()
                .any(|f| f.as_bytes() == name)
    }

    /// Calls foreign function `name` with `arguments`; `attribute` answers an attribute by its
    /// NUL-joined key for `expr_evaluate`. The answer is the bytes handed to the guest.
    pub fn call(
        &mut self,
        name: &[u8],
        arguments: &[u8],
        attribute: &impl Fn(&[u8]) -> Option<Vec<u8>>,
    ) -> Result<Vec<u8>, Status> {
        if !self.enabled {
            return Err(Status::NotFound);
        }
        match std::str::from_utf8(name) {
            Ok(EXPR_CREATE) => self.create(arguments).map(|t| t.to_le_bytes().to_vec()),
            Ok(EXPR_EVALUATE) => self.evaluate(token(arguments)?, attribute),
            Ok(EXPR_DELETE) => {
                self.expressions.remove(&token(arguments)?);
                Ok(Vec::new())
            }
            _ => Err(Status::NotFound),
        }
    }

    /// `expr_create`: the new expression's token, or `BAD_ARGUMENT` when it does not parse.
    pub fn create(&mut self, text: &[u8]) -> Result<u32, Status> {
        let expr = cel::parse(text).map_err(|_| Status::BadArgument)?;
        let mut token = self.next_token;
        while self.expressions.contains_key(&token) {
            token = token.wrapping_add(1);
        }
        self.next_token = token.wrapping_add(1);
        self.expressions.insert(token, expr);
        Ok(token)
    }

    /// `expr_evaluate`: the serialized value, `NOT_FOUND` for an unknown token,
    /// `INTERNAL_FAILURE` when the evaluation fails.
    pub fn evaluate(
        &self,
        token: u32,
        attribute: &impl Fn(&[u8]) -> Option<Vec<u8>>,
    ) -> Result<Vec<u8>, Status> {
        let expr = self.expressions.get(&token).ok_or(Status::NotFound)?;
        let value = cel::evaluate(expr, attribute).map_err(|_| Status::InternalFailure)?;
        Ok(value.serialize())
    }

    /// Expressions compiled and not deleted.
    pub fn expressions(&self) -> usize {
        self.expressions.len()
    }
}

/// A token argument: exactly 4 bytes, little-endian.
fn token(arguments: &[u8]) -> Result<u32, Status> {
    <[u8; 4]>::try_from(arguments)
        .map(u32::from_le_bytes)
        .map_err(|_| Status::BadArgument)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &[u8]) -> Option<Vec<u8>> {
        None
    }

    fn code(key: &[u8]) -> Option<Vec<u8>> {
        (key == b"response\0code").then(|| 200_i64.to_le_bytes().to_vec())
    }

    #[test]
    fn tokens_count_from_zero_and_a_refused_expression_takes_none() {
        let mut f = ForeignFunctions::default();
        assert_eq!(
            f.call(b"expr_create", b"[response.code]", &none),
            Ok(vec![0, 0, 0, 0])
        );
        assert_eq!(
            f.call(b"expr_create", b"response.code +", &none),
            Err(Status::BadArgument)
        );
        assert_eq!(f.call(b"expr_create", b"1", &none), Ok(vec![1, 0, 0, 0]));
        assert_eq!(f.expressions(), 2);
    }

    #[test]
    fn evaluate_answers_the_value_or_envoys_status() {
        let mut f = ForeignFunctions::default();
        let token = f.create(b"response.code").unwrap().to_le_bytes();
        assert_eq!(
            f.call(b"expr_evaluate", &token, &code),
            Ok(200_i64.to_le_bytes().to_vec())
        );
        assert_eq!(
            f.call(b"expr_evaluate", &token, &none),
            Err(Status::InternalFailure)
        );
        assert_eq!(
            f.call(b"expr_evaluate", &[0, 0, 0], &code),
            Err(Status::BadArgument)
        );
        assert_eq!(
            f.call(b"expr_evaluate", &7u32.to_le_bytes(), &code),
            Err(Status::NotFound)
        );
        assert_eq!(f.call(b"expr_delete", &token, &none), Ok(Vec::new()));
        assert_eq!(
            f.call(b"expr_evaluate", &token, &code),
            Err(Status::NotFound)
        );
    }

    #[test]
    fn unknown_names_and_a_host_without_cel_are_not_found() {
        let mut f = ForeignFunctions::default();
        assert_eq!(f.call(b"compress", b"x", &none), Err(Status::NotFound));
        let mut off = ForeignFunctions::disabled();
        assert_eq!(off.call(b"expr_create", b"1", &none), Err(Status::NotFound));
        assert!(!off.enabled());
    }
}
