//! CEL text into an [`Expr`]: a lexer and a recursive-descent parser for the supported subset.
//!
//! ```text
//! expr    := primary ('?' primary ':' expr)?        right-associative, as in CEL
//! primary := '[' (expr (',' expr)* ','?)? ']' | '(' expr ')'
//!          | 'has' '(' path ')' | path | string | int | 'true' | 'false'
//! path    := ident ('.' ident)*                     has() needs at least one '.', as in CEL
//! ```
//!
//! The limits are cel-cpp's parser defaults (the parser Envoy uses), named in [`crate::limits`],
//! so a guest cannot make the host recurse or allocate without bound.

use std::fmt;

use crate::limits::{CEL_MAX_EXPRESSION_CHARS, CEL_MAX_RECURSION_DEPTH};

/// A parsed expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// An attribute path, `request.time`: its segments.
    Attribute(Vec<String>),
    /// `has(path)`: whether the attribute at the path is present.
    Has(Vec<String>),
    /// A string literal.
    String(String),
    /// An int literal.
    Int(i64),
    /// `true` or `false`.
    Bool(bool),
    /// A list literal.
    List(Vec<Expr>),
    /// `condition ? then : otherwise`.
    Conditional(Box<Expr>, Box<Expr>, Box<Expr>),
}

/// Why an expression was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Longer than [`CEL_MAX_EXPRESSION_CHARS`] characters.
    TooLong(usize),
    /// Nested deeper than [`CEL_MAX_RECURSION_DEPTH`].
    TooDeep,
    /// The expression is not UTF-8.
    NotUtf8,
    /// A character no token starts with (operators, for instance, are not supported).
    UnexpectedChar {
        /// Byte offset.
        at: usize,
        /// The character.
        found: char,
    },
    /// A string literal without its closing quote.
    UnterminatedString {
        /// Byte offset of the opening quote.
        at: usize,
    },
    /// An escape other than `\\ \' \" \n \r \t`.
    UnsupportedEscape {
        /// Byte offset of the backslash.
        at: usize,
    },
    /// An int literal outside int64.
    IntOutOfRange {
        /// Byte offset.
        at: usize,
    },
    /// A token where the grammar wants something else.
    Unexpected {
        /// Byte offset.
        at: usize,
        /// What was found.
        found: String,
        /// What the grammar allows there.
        expected: &'static str,
    },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong(n) => write!(
                f,
                "CEL expression of {n} characters, limit {CEL_MAX_EXPRESSION_CHARS}"
            ),
            Self::TooDeep => write!(
                f,
                "CEL expression nested deeper than {CEL_MAX_RECURSION_DEPTH}"
            ),
            Self::NotUtf8 => f.write_str("CEL expression is not UTF-8"),
            Self::UnexpectedChar { at, found } => {
                write!(f, "CEL: unsupported character {found:?} at {at}")
            }
            Self::UnterminatedString { at } => {
                write!(f, "CEL: string literal at {at} has no closing quote")
            }
            Self::UnsupportedEscape { at } => write!(f, "CEL: unsupported escape at {at}"),
            Self::IntOutOfRange { at } => write!(f, "CEL: int literal at {at} is out of range"),
            Self::Unexpected {
                at,
                found,
                expected,
            } => write!(f, "CEL: found {found} at {at}, expected {expected}"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Parses `text` (the bytes a guest passed to `expr_create`).
pub fn parse(text: &[u8]) -> Result<Expr, ParseError> {
    let text = std::str::from_utf8(text).map_err(|_| ParseError::NotUtf8)?;
    let chars = text.chars().count();
    if chars > CEL_MAX_EXPRESSION_CHARS {
        return Err(ParseError::TooLong(chars));
    }
    let tokens = lex(text)?;
    let mut parser = Parser {
        tokens,
        pos: 0,
        depth: 0,
    };
    let expr = parser.expr()?;
    parser.expect(&Token::End, "the end of the expression")?;
    Ok(expr)
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Ident(String),
    String(String),
    Int(i64),
    LBracket,
    RBracket,
    LParen,
    RParen,
    Comma,
    Dot,
    Question,
    Colon,
    End,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ident(name) => write!(f, "`{name}`"),
            Self::String(s) => write!(f, "string {s:?}"),
            Self::Int(i) => write!(f, "int {i}"),
            Self::LBracket => f.write_str("`[`"),
            Self::RBracket => f.write_str("`]`"),
            Self::LParen => f.write_str("`(`"),
            Self::RParen => f.write_str("`)`"),
            Self::Comma => f.write_str("`,`"),
            Self::Dot => f.write_str("`.`"),
            Self::Question => f.write_str("`?`"),
            Self::Colon => f.write_str("`:`"),
            Self::End => f.write_str("the end"),
        }
    }
}

/// Tokens with their byte offsets, ending with [`Token::End`].
fn lex(text: &str) -> Result<Vec<(usize, Token)>, ParseError> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        let single = match c {
            '[' => Some(Token::LBracket),
            ']' => Some(Token::RBracket),
            '(' => Some(Token::LParen),
            ')' => Some(Token::RParen),
            ',' => Some(Token::Comma),
            '.' => Some(Token::Dot),
            '?' => Some(Token::Question),
            ':' => Some(Token::Colon),
            _ => None,
        };
        if let Some(token) = single {
            chars.next();
            tokens.push((at, token));
        } else if c.is_whitespace() {
            chars.next();
        } else if c == '\'' || c == '"' {
            chars.next();
            tokens.push((at, Token::String(string(at, c, &mut chars)?)));
        } else if c.is_ascii_digit() || c == '-' {
            chars.next();
            let mut digits = String::from(c);
            while let Some(&(_, d)) = chars.peek().filter(|(_, d)| d.is_ascii_digit()) {
                digits.push(d);
                chars.next();
            }
            if digits == "-" {
                return Err(ParseError::UnexpectedChar { at, found: '-' });
            }
            let value = digits
                .parse()
                .map_err(|_| ParseError::IntOutOfRange { at })?;
            tokens.push((at, Token::Int(value)));
        } else if c == '_' || c.is_ascii_alphabetic() {
            let mut name = String::new();
            while let Some(&(_, d)) = chars
                .peek()
                .filter(|(_, d)| *d == '_' || d.is_ascii_alphanumeric())
            {
                name.push(d);
                chars.next();
            }
            tokens.push((at, Token::Ident(name)));
        } else {
            return Err(ParseError::UnexpectedChar { at, found: c });
        }
    }
    tokens.push((text.len(), Token::End));
    Ok(tokens)
}

/// The rest of a string literal opened by `quote` at `at`.
fn string(
    at: usize,
    quote: char,
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
) -> Result<String, ParseError> {
    let mut out = String::new();
    loop {
        match chars.next() {
            None => return Err(ParseError::UnterminatedString { at }),
            Some((_, c)) if c == quote => return Ok(out),
            Some((_, '\n')) => return Err(ParseError::UnterminatedString { at }),
            Some((escape, '\\')) => {
                let unescaped = match chars.next().map(|(_, c)| c) {
                    Some('\\') => '\\',
                    Some('\'') => '\'',
                    Some('"') => '"',
                    Some('n') => '\n',
                    Some('r') => '\r',
                    Some('t') => '\t',
                    _ => return Err(ParseError::UnsupportedEscape { at: escape }),
                };
                out.push(unescaped);
            }
            Some((_, c)) => out.push(c),
        }
    }
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        self.tokens.get(self.pos).map_or(&Token::End, |(_, t)| t)
    }

    fn at(&self) -> usize {
        self.tokens.get(self.pos).map_or(0, |(at, _)| *at)
    }

    fn next(&mut self) -> Token {
        let token = self.peek().clone();
        self.pos += 1;
        token
    }

    fn unexpected(&self, expected: &'static str) -> ParseError {
        ParseError::Unexpected {
            at: self.at(),
            found: self.peek().to_string(),
            expected,
        }
    }

    fn expect(&mut self, token: &Token, expected: &'static str) -> Result<(), ParseError> {
        if self.peek() == token {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.unexpected(expected))
        }
    }

    /// Counts nesting so a hostile expression cannot overflow the host's stack.
    fn nested<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, ParseError>,
    ) -> Result<T, ParseError> {
        self.depth += 1;
        if self.depth > CEL_MAX_RECURSION_DEPTH {
            return Err(ParseError::TooDeep);
        }
        let result = f(self);
        self.depth -= 1;
        result
    }

    fn expr(&mut self) -> Result<Expr, ParseError> {
        self.nested(|p| {
            let condition = p.primary()?;
            if p.peek() != &Token::Question {
                return Ok(condition);
            }
            p.pos += 1;
            let then = p.primary()?;
            p.expect(&Token::Colon, "`:` of the conditional")?;
            let otherwise = p.expr()?;
            Ok(Expr::Conditional(
                Box::new(condition),
                Box::new(then),
                Box::new(otherwise),
            ))
        })
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        const PRIMARY: &str = "a list, a literal, an attribute, has() or `(`";
        match self.peek().clone() {
            Token::LBracket => {
                self.pos += 1;
                self.list()
            }
            Token::LParen => {
                self.pos += 1;
                let inner = self.expr()?;
                self.expect(&Token::RParen, "`)`")?;
                Ok(inner)
            }
            Token::String(s) => {
                self.pos += 1;
                Ok(Expr::String(s))
            }
            Token::Int(i) => {
                self.pos += 1;
                Ok(Expr::Int(i))
            }
            Token::Ident(name) => match name.as_str() {
                "true" | "false" => {
                    self.pos += 1;
                    Ok(Expr::Bool(name == "true"))
                }
                "has" if self.tokens.get(self.pos + 1).map(|(_, t)| t) == Some(&Token::LParen) => {
                    self.pos += 2;
                    let start = self.at();
                    let path = self.path()?;
                    if path.len() < 2 {
                        return Err(ParseError::Unexpected {
                            at: start,
                            found: format!("`{}`", path.join(".")),
                            expected: "a field selection such as `request.protocol` in has()",
                        });
                    }
                    self.expect(&Token::RParen, "`)` closing has()")?;
                    Ok(Expr::Has(path))
                }
                _ => {
                    let path = self.path()?;
                    if self.peek() == &Token::LParen {
                        return Err(
                            self.unexpected("no call: has() is the only function supported")
                        );
                    }
                    Ok(Expr::Attribute(path))
                }
            },
            _ => Err(self.unexpected(PRIMARY)),
        }
    }

    fn list(&mut self) -> Result<Expr, ParseError> {
        let mut elements = Vec::new();
        loop {
            if self.peek() == &Token::RBracket {
                self.pos += 1;
                return Ok(Expr::List(elements));
            }
            elements.push(self.expr()?);
            match self.next() {
                Token::Comma => {}
                Token::RBracket => return Ok(Expr::List(elements)),
                _ => {
                    self.pos -= 1;
                    return Err(self.unexpected("`,` or `]` in the list"));
                }
            }
        }
    }

    fn path(&mut self) -> Result<Vec<String>, ParseError> {
        let mut segments = Vec::new();
        loop {
            match self.next() {
                Token::Ident(name) if !RESERVED.contains(&name.as_str()) => segments.push(name),
                _ => {
                    self.pos -= 1;
                    return Err(self.unexpected("an identifier"));
                }
            }
            if self.peek() != &Token::Dot {
                return Ok(segments);
            }
            self.pos += 1;
        }
    }
}

/// Words CEL reserves, which cannot name an attribute (`null` among them: the shim has no null).
const RESERVED: [&str; 22] = [
    "true",
    "false",
    "null",
    "in",
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
    "has",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(path: &str) -> Expr {
        Expr::Attribute(path.split('.').map(str::to_owned).collect())
    }

    fn has(path: &str) -> Expr {
        Expr::Has(path.split('.').map(str::to_owned).collect())
    }

    #[test]
    fn the_guarded_list_hoptrace_compiles_parses() {
        let text = "[request.time, has(request.protocol) ? request.protocol : '', \
                    has(xds.listener_direction) ? xds.listener_direction : 0]";
        let want = Expr::List(vec![
            attr("request.time"),
            Expr::Conditional(
                Box::new(has("request.protocol")),
                Box::new(attr("request.protocol")),
                Box::new(Expr::String(String::new())),
            ),
            Expr::Conditional(
                Box::new(has("xds.listener_direction")),
                Box::new(attr("xds.listener_direction")),
                Box::new(Expr::Int(0)),
            ),
        ]);
        assert_eq!(parse(text.as_bytes()), Ok(want));
    }

    #[rustfmt::skip]
    #[test]
    fn literals_nesting_and_the_conditional() {
        let cases: [(&str, Expr); 8] = [
            ("\"a\\\"b\\n\"",          Expr::String("a\"b\n".into())),
            ("-42",                    Expr::Int(-42)),
            ("9223372036854775807",    Expr::Int(i64::MAX)),
            ("true",                   Expr::Bool(true)),
            ("[]",                     Expr::List(vec![])),
            ("[1, [2],]",              Expr::List(vec![Expr::Int(1), Expr::List(vec![Expr::Int(2)])])),
            ("(a.b)",                  attr("a.b")),
            ("true ? 1 : false ? 2 : 3", Expr::Conditional(
                Box::new(Expr::Bool(true)),
                Box::new(Expr::Int(1)),
                Box::new(Expr::Conditional(
                    Box::new(Expr::Bool(false)), Box::new(Expr::Int(2)), Box::new(Expr::Int(3)),
                )),
            )),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text.as_bytes()), Ok(want), "{text}");
        }
    }

    #[rustfmt::skip]
    #[test]
    fn syntax_outside_the_subset_is_refused() {
        let cases: [(&str, &str); 16] = [
            ("",                           "found the end at 0, expected a list"),
            ("request.code + 1",           "unsupported character '+' at 13"),
            ("size(request.headers)",      "expected no call"),
            ("request.headers['a']",       "expected the end of the expression"),
            ("has(request)",               "expected a field selection"),
            ("has(request.b",              "expected `)` closing has()"),
            ("[1, 2",                      "expected `,` or `]`"),
            ("[1 2]",                      "expected `,` or `]`"),
            ("a ? b",                      "expected `:` of the conditional"),
            ("1.5",                        "expected the end of the expression"),
            ("'open",                      "has no closing quote"),
            ("'\\x41'",                    "unsupported escape at 1"),
            ("null",                       "expected an identifier"),
            ("99999999999999999999",       "out of range"),
            ("request.time)",              "found `)` at 12, expected the end"),
            ("a ? b ? c : d : e",          "expected `:` of the conditional"),
        ];
        for (text, want) in cases {
            let got = parse(text.as_bytes()).expect_err(text).to_string();
            assert!(got.contains(want), "{text}: {got}");
        }
        assert_eq!(parse(&[0xff]), Err(ParseError::NotUtf8));
    }

    #[test]
    fn limits_bound_length_and_nesting() {
        let deep = format!(
            "{}1{}",
            "[".repeat(CEL_MAX_RECURSION_DEPTH),
            "]".repeat(CEL_MAX_RECURSION_DEPTH)
        );
        assert_eq!(parse(deep.as_bytes()), Err(ParseError::TooDeep));
        let fits = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        assert!(parse(fits.as_bytes()).is_ok());
        let long = "1".repeat(CEL_MAX_EXPRESSION_CHARS + 1);
        assert_eq!(
            parse(long.as_bytes()),
            Err(ParseError::TooLong(CEL_MAX_EXPRESSION_CHARS + 1))
        );
    }
}
