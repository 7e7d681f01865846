//! W3C Baggage: `key=value;property` list members, parsed within the spec's limits.
//!
//! The filter passes `baggage` through untouched by default; this parser is for when baggage is
//! configured to be read. It never panics and never allocates more than the limits allow: a header
//! over 8192 bytes or 64 members, or with any bad member, is rejected whole (the caller then passes
//! it on unread, so the request never fails because of it).
//!
//! Grammar (W3C Baggage): `list-member = key OWS "=" OWS value *( OWS ";" OWS property )`,
//! `property = key OWS "=" OWS value / key OWS`, `key = token` (RFC 9110), `value = *baggage-octet`
//! where a baggage-octet is printable ASCII except space, `"`, `,`, `;` and `\`. Values are
//! percent-decoded; a decoded byte sequence that is not UTF-8 becomes U+FFFD.

use super::error::ParseError;
use super::headers::trim_ows;

/// Most list members accepted.
pub const MAX_MEMBERS: usize = 64;
/// Most bytes accepted for the whole header (all lines joined with `,`).
pub const MAX_BYTES: usize = 8192;

/// One list member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaggageMember {
    /// The key (a token, case-sensitive).
    pub key: String,
    /// The percent-decoded value.
    pub value: String,
    /// The properties as written (`key` or `key=value`, whitespace around them removed).
    pub properties: Vec<String>,
}

/// A parsed `baggage` header: its members in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Baggage {
    members: Vec<BaggageMember>,
}

impl Baggage {
    /// The decoded value of `key`; when a key appears more than once the last one wins.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.members
            .iter()
            .rev()
            .find(|m| m.key == key)
            .map(|m| m.value.as_str())
    }

    /// Number of members (repeated keys counted each time).
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// No members.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The members, in order.
    pub fn members(&self) -> impl Iterator<Item = &BaggageMember> + '_ {
        self.members.iter()
    }

    /// The header value (values percent-encoded as needed), or `None` when empty.
    pub fn to_header(&self) -> Option<String> {
        if self.members.is_empty() {
            return None;
        }
        let mut s = String::new();
        for (i, m) in self.members.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(&m.key);
            s.push('=');
            percent_encode_into(&m.value, &mut s);
            for p in &m.properties {
                s.push(';');
                s.push_str(p);
            }
        }
        Some(s)
    }
}

fn err(rule: &'static str) -> ParseError {
    ParseError::Baggage(rule)
}

/// Parse all `baggage` header lines (joined with `,` in order; empty members skipped).
///
/// No line gives an empty baggage. More than 8192 bytes, more than 64 members, or any invalid
/// member is an error.
pub fn parse_baggage(lines: &[&[u8]]) -> Result<Baggage, ParseError> {
    let total = lines.iter().map(|l| l.len()).sum::<usize>() + lines.len().saturating_sub(1);
    if total > MAX_BYTES {
        return Err(err("larger than 8192 bytes"));
    }
    let mut members = Vec::new();
    for raw in lines.iter().flat_map(|line| line.split(|&c| c == b',')) {
        let m = trim_ows(raw);
        if m.is_empty() {
            continue;
        }
        if members.len() == MAX_MEMBERS {
            return Err(err("more than 64 members"));
        }
        members.push(parse_member(m)?);
    }
    Ok(Baggage { members })
}

fn parse_member(m: &[u8]) -> Result<BaggageMember, ParseError> {
    let mut parts = m.split(|&c| c == b';');
    let kv = parts.next().unwrap_or_default();
    let eq = kv
        .iter()
        .position(|&c| c == b'=')
        .ok_or(err("member has no '='"))?;
    let key = trim_ows(kv.get(..eq).unwrap_or_default());
    let value = trim_ows(kv.get(eq + 1..).unwrap_or_default());
    if !is_token(key) {
        return Err(err("invalid key"));
    }
    if !value.iter().all(|&c| is_baggage_octet(c)) {
        return Err(err("invalid value"));
    }
    let mut properties = Vec::new();
    for p in parts {
        let p = trim_ows(p);
        let valid = match p.iter().position(|&c| c == b'=') {
            None => is_token(p),
            Some(eq) => {
                is_token(trim_ows(p.get(..eq).unwrap_or_default()))
                    && trim_ows(p.get(eq + 1..).unwrap_or_default())
                        .iter()
                        .all(|&c| is_baggage_octet(c))
            }
        };
        if !valid {
            return Err(err("invalid property"));
        }
        properties.push(ascii_string(p));
    }
    Ok(BaggageMember {
        key: ascii_string(key),
        value: percent_decode(value),
        properties,
    })
}

/// Bytes already checked to be ASCII as a `String`.
fn ascii_string(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// RFC 9110 `token`: one or more tchar.
fn is_token(s: &[u8]) -> bool {
    !s.is_empty()
        && s.iter().all(|&c| {
            c.is_ascii_alphanumeric()
                || matches!(
                    c,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// `baggage-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E`.
fn is_baggage_octet(c: u8) -> bool {
    matches!(c, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decode `%XX` sequences; a `%` not followed by two hex digits stays as it is.
fn percent_decode(v: &[u8]) -> String {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while let Some(&c) = v.get(i) {
        if c == b'%' {
            let hi = v.get(i + 1).copied().and_then(hex_value);
            let lo = v.get(i + 2).copied().and_then(hex_value);
            if let (Some(hi), Some(lo)) = (hi, lo) {
                out.push((hi << 4) | lo);
                i += 3;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Append `v` with every byte that is not a baggage-octet, and `%` itself, percent-encoded.
fn percent_encode_into(v: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in v.as_bytes() {
        if is_baggage_octet(b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push('%');
            for nibble in [b >> 4, b & 0x0f] {
                if let Some(&h) = HEX.get(usize::from(nibble)) {
                    out.push(char::from(h));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(lines: &[&str]) -> Result<Baggage, ParseError> {
        let lines: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
        parse_baggage(&lines)
    }

    #[rustfmt::skip]
    #[test]
    fn valid_headers() {
        for (case, lines, key, want) in [
            ("single member",               vec!["userId=alice"],                    "userId",  Some("alice")),
            ("OWS around = and members",    vec![" a \t= 1 , b=2"],                  "a",       Some("1")),
            ("lines joined",                vec!["a=1", "b=2"],                      "b",       Some("2")),
            ("percent-decoded value",       vec!["a=Hello%2C%20World%21"],           "a",       Some("Hello, World!")),
            ("UTF-8 percent-decoded",       vec!["a=%C3%A9"],                        "a",       Some("é")),
            ("bad UTF-8 replaced",          vec!["a=%FF"],                           "a",       Some("\u{FFFD}")),
            ("lone percent kept",           vec!["a=50%"],                           "a",       Some("50%")),
            ("empty value",                 vec!["a="],                              "a",       Some("")),
            ("properties",                  vec!["a=1;p1;p2=v2 ; p3 = x"],           "a",       Some("1")),
            ("empty members skipped",       vec![",a=1,,"],                          "a",       Some("1")),
            ("last duplicate wins",         vec!["a=1,a=2"],                         "a",       Some("2")),
            ("token key chars",             vec!["!#$%&'*+-.^_`|~Az9=1"],            "!#$%&'*+-.^_`|~Az9", Some("1")),
            ("absent key",                  vec!["a=1"],                             "b",       None),
        ] {
            let b = parse(&lines).unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_eq!(b.get(key), want, "{case}");
        }
        let b = parse(&["a=1;p1;p2=v2 ; p3 = x"]).unwrap();
        assert_eq!(b.members().next().unwrap().properties, vec!["p1", "p2=v2", "p3 = x"]);
        assert_eq!(parse(&[]).unwrap().len(), 0);
    }

    #[rustfmt::skip]
    #[test]
    fn invalid_headers() {
        let big = format!("a={}", "x".repeat(8191));
        let m65 = (0..65).map(|i| format!("k{i}=v")).collect::<Vec<_>>().join(",");
        for (case, lines, rule) in [
            ("more than 8192 bytes",     vec![big.as_str()],              "larger than 8192 bytes"),
            ("8192 bytes across lines",  vec![&big[..4096], &big[4096..]], "larger than 8192 bytes"),
            ("65 members",               vec![m65.as_str()],              "more than 64 members"),
            ("no =",                     vec!["a"],                       "member has no '='"),
            ("empty key",                vec!["=1"],                      "invalid key"),
            ("key with space",           vec!["a b=1"],                   "invalid key"),
            ("key with slash",           vec!["a/b=1"],                   "invalid key"),
            ("value with space",         vec!["a=b c"],                   "invalid value"),
            ("value with quote",         vec!["a=\"b\""],                 "invalid value"),
            ("value with backslash",     vec!["a=b\\c"],                  "invalid value"),
            ("value non-ASCII",          vec!["a=é"],                     "invalid value"),
            ("bad property key",         vec!["a=1;p q"],                 "invalid property"),
            ("empty property",           vec!["a=1;"],                    "invalid property"),
        ] {
            assert_eq!(parse(&lines), Err(ParseError::Baggage(rule)), "{case}");
        }
        let m64 = (0..64).map(|i| format!("k{i}=v")).collect::<Vec<_>>().join(",");
        assert_eq!(parse(&[&m64]).unwrap().len(), 64);
        assert!(parse(&[&big[..8192]]).is_ok(), "exactly 8192 bytes is fine");
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(a in proptest::collection::vec(any::<u8>(), 0..400),
                                    b in proptest::collection::vec(any::<u8>(), 0..50)) {
            let _ = parse_baggage(&[&a, &b]);
        }

        #[test]
        fn format_then_parse(members in proptest::collection::vec(("[A-Za-z0-9!#$&*+.^_|~-]{1,8}", "\\PC{0,10}"), 1..10)) {
            let b = Baggage {
                members: members
                    .into_iter()
                    .map(|(key, value)| BaggageMember { key, value, properties: vec![] })
                    .collect(),
            };
            let h = b.to_header().unwrap();
            prop_assert_eq!(parse_baggage(&[h.as_bytes()]), Ok(b));
        }
    }
}
