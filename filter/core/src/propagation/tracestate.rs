//! W3C Trace Context `tracestate`: an ordered list of up to 32 vendor `key=value` members.
//!
//! Parsing is all or nothing: any bad member or more than 32 members rejects the whole header and
//! the caller drops it. A duplicated key is the sender's responsibility in the current W3C text (and
//! its test suite): the list is kept as it came, and lookups see the left-most member. Updating our own member moves it to the front
//! and keeps the list at 32 by dropping from the right, as the spec asks of a vendor that mutates it.

use super::error::ParseError;
use super::headers::trim_ows;

/// Most members a `tracestate` may hold.
pub const MAX_MEMBERS: usize = 32;
/// Longest key.
pub const MAX_KEY_LEN: usize = 256;
/// Longest value.
pub const MAX_VALUE_LEN: usize = 256;

/// One `key=value` member, kept as its wire text so formatting is a join and each member costs one
/// allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Member {
    /// `key=value`.
    text: String,
    /// Length of the key (the index of `=`).
    key_len: usize,
}

impl Member {
    fn new(key: &str, value: &str) -> Self {
        let mut text = String::with_capacity(key.len() + 1 + value.len());
        text.push_str(key);
        text.push('=');
        text.push_str(value);
        Member {
            text,
            key_len: key.len(),
        }
    }
    fn key(&self) -> &str {
        self.text.get(..self.key_len).unwrap_or_default()
    }
    fn value(&self) -> &str {
        self.text.get(self.key_len + 1..).unwrap_or_default()
    }
}

/// A valid `tracestate`: at most 32 members with valid keys and values, in order (left-most
/// first). Keys are usually distinct; a sender's duplicates are kept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TraceState {
    members: Vec<Member>,
}

impl TraceState {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of `key`, if present (the left-most, should the sender have repeated it).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.members
            .iter()
            .find(|m| m.key() == key)
            .map(Member::value)
    }

    /// Set `key` to `value` as the first (left-most) member: every existing member with that key is
    /// removed first, and the list is cut to 32 members by dropping from the right.
    ///
    /// Fails, leaving the list unchanged, when the key or value is not valid on the wire (so a
    /// formatted header is always valid).
    pub fn upsert_first(&mut self, key: &str, value: &str) -> Result<(), ParseError> {
        if !is_valid_key(key.as_bytes()) {
            return Err(ParseError::Tracestate("invalid key"));
        }
        if !is_valid_value(value.as_bytes()) {
            return Err(ParseError::Tracestate("invalid value"));
        }
        self.members.retain(|m| m.key() != key);
        self.members.insert(0, Member::new(key, value));
        self.members.truncate(MAX_MEMBERS);
        Ok(())
    }

    /// The header value with `key=value` as the first member, or without any `key` member when
    /// `value` is `None` or not valid on the wire: [`TraceState::upsert_first`] (or
    /// [`TraceState::remove`]), then [`TraceState::to_header`]. An empty list (a new trace, most
    /// often) prints the one member directly instead of building a list to print it.
    pub fn into_header_with_first(mut self, key: &str, value: Option<&str>) -> Option<String> {
        let valid = value.filter(|v| is_valid_key(key.as_bytes()) && is_valid_value(v.as_bytes()));
        if self.members.is_empty() {
            return valid.map(|v| Member::new(key, v).text);
        }
        if valid.is_none_or(|v| self.upsert_first(key, v).is_err()) {
            self.remove(key);
        }
        self.to_header()
    }

    /// Remove every member with `key`; returns the left-most one's value if there was one.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let i = self.members.iter().position(|m| m.key() == key)?;
        let m = self.members.remove(i);
        self.members.retain(|m| m.key() != key);
        Some(m.value().to_string())
    }

    /// No members.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// The members as `(key, value)`, left-most first.
    pub fn members(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.members.iter().map(|m| (m.key(), m.value()))
    }

    /// The header value to send (members joined with `,`), or `None` when empty: an empty
    /// `tracestate` must never be sent.
    pub fn to_header(&self) -> Option<String> {
        if self.members.is_empty() {
            return None;
        }
        let len = self.members.iter().map(|m| m.text.len() + 1).sum::<usize>();
        let mut s = String::with_capacity(len);
        for (i, m) in self.members.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(&m.text);
        }
        Some(s)
    }
}

/// Parse all `tracestate` header lines: joined with `,` in order, empty members and the optional
/// whitespace (spaces, tabs) around members skipped.
///
/// No line gives an empty list. Any invalid member, or more than 32 members, is an error: the caller
/// drops the whole header. A repeated key is kept, in place.
// Out of line: most requests carry no tracestate, and inlined this parser would spread the
// instructions they run over more instruction-cache lines.
#[inline(never)]
pub fn parse_tracestate(lines: &[&[u8]]) -> Result<TraceState, ParseError> {
    let mut members: Vec<Member> = Vec::new();
    // Splitting each line on `,` is the same as joining the lines with `,` and splitting once.
    for raw in lines.iter().flat_map(|line| line.split(|&c| c == b',')) {
        let m = trim_ows(raw);
        if m.is_empty() {
            continue;
        }
        if members.len() == MAX_MEMBERS {
            return Err(ParseError::Tracestate("more than 32 members"));
        }
        let eq = m
            .iter()
            .position(|&c| c == b'=')
            .ok_or(ParseError::Tracestate("member has no '='"))?;
        let (key, value) = (
            m.get(..eq).unwrap_or_default(),
            m.get(eq + 1..).unwrap_or_default(),
        );
        if !is_valid_key(key) {
            return Err(ParseError::Tracestate("invalid key"));
        }
        if !is_valid_value(value) {
            return Err(ParseError::Tracestate("invalid value"));
        }
        // Both halves are ASCII now, so the conversion cannot fail.
        let (Ok(key), Ok(value)) = (std::str::from_utf8(key), std::str::from_utf8(value)) else {
            return Err(ParseError::Tracestate("not ASCII"));
        };
        members.push(Member::new(key, value));
    }
    Ok(TraceState { members })
}

/// A key: `[a-z0-9][a-z0-9_\-*/@]{0,255}` (W3C Level 2).
///
/// This accepts both Level 1 forms: a simple key (which there had to start with a letter) and the
/// multi-tenant `tenant@system` key (tenant up to 241 characters, system up to 14, so never more
/// than 256 in all). Level 2 merged them into this one rule.
pub fn is_valid_key(key: &[u8]) -> bool {
    let Some((&first, rest)) = key.split_first() else {
        return false;
    };
    key.len() <= MAX_KEY_LEN
        && (first.is_ascii_lowercase() || first.is_ascii_digit())
        && rest.iter().all(|&c| {
            c.is_ascii_lowercase()
                || c.is_ascii_digit()
                || matches!(c, b'_' | b'-' | b'*' | b'/' | b'@')
        })
}

/// A value: 1–256 printable ASCII characters (0x20–0x7e) except `,` and `=`, not ending in a space.
pub fn is_valid_value(value: &[u8]) -> bool {
    !value.is_empty()
        && value.len() <= MAX_VALUE_LEN
        && value.last() != Some(&b' ')
        && value
            .iter()
            .all(|&c| (0x20..=0x7e).contains(&c) && c != b',' && c != b'=')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(lines: &[&str]) -> Result<TraceState, ParseError> {
        let lines: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
        parse_tracestate(&lines)
    }

    fn pairs(ts: &TraceState) -> Vec<(String, String)> {
        ts.members()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn n_members(n: usize) -> String {
        (0..n)
            .map(|i| format!("k{i}=v{i}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    #[rustfmt::skip]
    #[test]
    fn valid_headers() {
        let key256 = format!("a{}", "b".repeat(255));
        let value256 = "v".repeat(256);
        let tenant = format!("t{}", "x".repeat(240));
        let m32 = n_members(32);
        type Row<'a> = (&'a str, Vec<String>, Vec<(&'a str, &'a str)>);
        let cases: Vec<Row> = vec![
            ("single member",                  vec!["a=1".into()],                          vec![("a", "1")]),
            ("no line is empty",               vec![],                                      vec![]),
            ("empty line is empty",            vec!["".into()],                             vec![]),
            ("order kept",                     vec!["b=2,a=1".into()],                      vec![("b", "2"), ("a", "1")]),
            ("lines joined in order",          vec!["b=2".into(), "a=1,c=3".into()],        vec![("b", "2"), ("a", "1"), ("c", "3")]),
            ("empty members skipped",          vec![",a=1,,, ,b=2,".into()],                vec![("a", "1"), ("b", "2")]),
            ("OWS around members",             vec![" \ta=1 \t, b=2\t".into()],             vec![("a", "1"), ("b", "2")]),
            ("trailing space is OWS",          vec!["a=b  ,c=d".into()],                    vec![("a", "b"), ("c", "d")]),
            ("leading space in value kept",    vec!["a= b".into()],                         vec![("a", " b")]),
            ("inner space in value",           vec!["a=x y".into()],                        vec![("a", "x y")]),
            ("digit-first key",                vec!["0a=1".into()],                         vec![("0a", "1")]),
            ("key special chars",              vec!["a_-*/@b=1".into()],                    vec![("a_-*/@b", "1")]),
            ("multi-tenant key",               vec!["tenant@system=1".into()],              vec![("tenant@system", "1")]),
            ("multi-tenant digit tenant",      vec!["1@vendor=1".into()],                   vec![("1@vendor", "1")]),
            ("max multi-tenant key",           vec![format!("{tenant}@s{}=1", "y".repeat(13))], vec![]),
            ("256-char key ok",                vec![format!("{key256}=1")],                 vec![]),
            ("256-char value ok",              vec![format!("a={value256}")],               vec![]),
            ("value printable chars",          vec!["a=!\"#$%&'()*+-./:;<>?[\\]^_`{|}~".into()], vec![("a", "!\"#$%&'()*+-./:;<>?[\\]^_`{|}~")]),
            ("32 members",                     vec![m32.clone()],                           vec![]),
            ("duplicate key kept in place",    vec!["a=1,b=2,a=3".into()],                  vec![("a", "1"), ("b", "2"), ("a", "3")]),
            ("duplicate key across lines",     vec!["a=1".into(), "a=1".into()],            vec![("a", "1"), ("a", "1")]),
            ("@ anywhere after the first",     vec!["a@b@c=1,x@=2,0@9=3".into()],           vec![("a@b@c", "1"), ("x@", "2"), ("0@9", "3")]),
            ("32 members over two lines",      vec![n_members(16), (16..32).map(|i| format!("x{i}=1")).collect::<Vec<_>>().join(",")], vec![]),
        ];
        for (case, lines, want) in cases {
            let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
            let ts = parse(&lines).unwrap_or_else(|e| panic!("{case}: {e}"));
            if !want.is_empty() {
                let want: Vec<(String, String)> = want.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
                assert_eq!(pairs(&ts), want, "{case}");
            }
        }
        assert_eq!(parse(&[&m32]).unwrap().len(), 32);
    }

    #[rustfmt::skip]
    #[test]
    fn invalid_headers() {
        let key257 = format!("a{}", "b".repeat(256));
        let value257 = "v".repeat(257);
        let m33 = n_members(33);
        let cases: Vec<(&str, Vec<String>, &str)> = vec![
            ("33 members",                     vec![m33],                                  "more than 32 members"),
            ("33 members over two lines",      vec![n_members(32), "z=1".into()],          "more than 32 members"),
            ("key with upper-case",            vec!["Abc=1".into()],                       "invalid key"),
            ("key with upper-case inside",     vec!["aBc=1".into()],                       "invalid key"),
            ("key starting with underscore",   vec!["_a=1".into()],                        "invalid key"),
            ("key starting with @",            vec!["@a=1".into()],                        "invalid key"),
            ("key with dot",                   vec!["a.b=1".into()],                       "invalid key"),
            ("empty key",                      vec!["=1".into()],                          "invalid key"),
            ("space before =",                 vec!["a =1".into()],                        "invalid key"),
            ("257-char key",                   vec![format!("{key257}=1")],                "invalid key"),
            ("empty value",                    vec!["a=".into()],                          "invalid value"),
            ("257-char value invalid",         vec![format!("a={value257}")],              "invalid value"),
            ("value with =",                   vec!["a=b=c".into()],                       "invalid value"),
            ("value with tab",                 vec!["a=b\tc".into()],                      "invalid value"),
            ("value with DEL",                 vec!["a=b\x7f".into()],                     "invalid value"),
            ("value non-ASCII",                vec!["a=é".into()],                         "invalid value"),
            ("member without =",               vec!["a=1,b".into()],                       "member has no '='"),
            ("bad member after good ones",     vec!["a=1,b=2".into(), "C=3".into()],       "invalid key"),
        ];
        for (case, lines, rule) in cases {
            let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
            assert_eq!(parse(&lines), Err(ParseError::Tracestate(rule)), "{case}");
        }
    }

    #[test]
    fn value_with_trailing_space_is_rejected_when_set() {
        // On the wire a trailing space is OWS and is trimmed; as a value we are asked to write, it
        // is invalid.
        assert!(!is_valid_value(b"abc "));
        let mut ts = TraceState::new();
        assert_eq!(
            ts.upsert_first("a", "abc "),
            Err(ParseError::Tracestate("invalid value"))
        );
        assert!(ts.is_empty());
        assert_eq!(
            ts.upsert_first("A", "abc"),
            Err(ParseError::Tracestate("invalid key"))
        );
    }

    #[test]
    fn upsert_first_moves_to_front_and_keeps_32() {
        let mut ts = parse(&["a=1,ot=th:8,b=2"]).unwrap();
        ts.upsert_first("ot", "th:c").unwrap();
        assert_eq!(ts.to_header().as_deref(), Some("ot=th:c,a=1,b=2"));
        ts.upsert_first("new", "x").unwrap();
        assert_eq!(ts.to_header().as_deref(), Some("new=x,ot=th:c,a=1,b=2"));

        let mut full = parse(&[&n_members(32)]).unwrap();
        full.upsert_first("ot", "th:0").unwrap();
        assert_eq!(full.len(), 32);
        assert_eq!(full.members().next(), Some(("ot", "th:0")));
        assert_eq!(full.get("k30"), Some("v30"));
        assert_eq!(full.get("k31"), None, "right-most member dropped");

        // Updating a key already present in a full list drops nothing else.
        let mut full = parse(&[&n_members(32)]).unwrap();
        full.upsert_first("k31", "new").unwrap();
        assert_eq!(full.len(), 32);
        assert_eq!(full.get("k30"), Some("v30"));
        assert_eq!(full.get("k31"), Some("new"));
    }

    #[test]
    fn remove_get_and_empty_header() {
        let mut ts = parse(&["a=1,b=2"]).unwrap();
        assert_eq!(ts.get("b"), Some("2"));
        assert_eq!(ts.remove("a").as_deref(), Some("1"));
        assert_eq!(ts.remove("a"), None);
        assert_eq!(ts.to_header().as_deref(), Some("b=2"));
        ts.remove("b");
        assert!(ts.is_empty());
        assert_eq!(ts.len(), 0);
        assert_eq!(ts.to_header(), None, "never send an empty tracestate");
    }

    fn key_strategy() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9][a-z0-9_*/@-]{0,20}",
            "[a-z0-9][a-z0-9_*/-]{0,10}@[a-z][a-z0-9_*/-]{0,13}",
        ]
    }

    fn value_strategy() -> impl Strategy<Value = String> {
        "[ -+\\--<>-~]{0,30}[!-+\\--<>-~]"
    }

    proptest! {
        #[test]
        fn format_then_parse(members in proptest::collection::vec((key_strategy(), value_strategy()), 0..40)) {
            let mut ts = TraceState::new();
            for (k, v) in members.iter().rev() {
                ts.upsert_first(k, v).unwrap();
            }
            prop_assert!(ts.len() <= MAX_MEMBERS);
            match ts.to_header() {
                None => prop_assert!(ts.is_empty()),
                Some(h) => prop_assert_eq!(parse_tracestate(&[h.as_bytes()]), Ok(ts)),
            }
        }

        /// The shortcut for an empty list prints what updating the list and printing it would.
        #[test]
        fn header_with_first_is_upsert_then_print(
            members in proptest::collection::vec((key_strategy(), value_strategy()), 0..4),
            key in prop_oneof![Just("ot".to_string()), key_strategy(), Just("Bad Key".to_string())],
            value in prop::option::of(prop_oneof![value_strategy(), Just("bad,value".to_string())]),
        ) {
            let mut ts = TraceState::new();
            for (k, v) in members.iter().rev() {
                ts.upsert_first(k, v).unwrap();
            }
            let mut by_steps = ts.clone();
            if value.as_deref().is_none_or(|v| by_steps.upsert_first(&key, v).is_err()) {
                by_steps.remove(&key);
            }
            prop_assert_eq!(ts.into_header_with_first(&key, value.as_deref()), by_steps.to_header());
        }

        #[test]
        fn random_bytes_never_panic(a in proptest::collection::vec(any::<u8>(), 0..600),
                                    b in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = parse_tracestate(&[&a]);
            let _ = parse_tracestate(&[&a, &b]);
        }

        #[test]
        fn parsed_is_always_formattable(s in "[a-z0-9=, \t@*/_-]{0,200}") {
            if let Ok(ts) = parse_tracestate(&[s.as_bytes()]) {
                if let Some(h) = ts.to_header() {
                    prop_assert_eq!(parse_tracestate(&[h.as_bytes()]), Ok(ts));
                }
            }
        }
    }
}
