//! The shared propagation case table (`propagation.json` next to this file) and the one checker
//! every run uses: natively against hoptrace-core, through the shim against the built .wasm, and
//! through a real Envoy. Each run only has to produce the header lines the upstream received.
//!
//! Included with `#[path]` by each runner, so it depends on nothing but `serde_json`.

// Test support: a malformed table row must stop the run loudly, naming the row.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use serde_json::Value;

/// The table, as text (each runner passes it in with `include_str!`, so a change rebuilds it).
/// The request lines after a filter's header edits, as Envoy's header map applies the host calls:
/// a set (`proxy_replace_header_map_value`, Envoy `setCopy`) overwrites the first line of the name
/// and drops the others, or appends when absent; a remove drops every line. Names are lower-cased
/// as Envoy's codecs hand them over.
pub fn apply_edits<S: AsRef<str>, V: AsRef<str>, R: AsRef<str>>(
    request: &[(String, String)],
    sets: impl IntoIterator<Item = (S, V)>,
    removes: impl IntoIterator<Item = R>,
) -> Vec<(String, String)> {
    let mut lines: Vec<(String, String)> = request
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    for (name, value) in sets {
        let (name, value) = (name.as_ref(), value.as_ref());
        let mut seen = false;
        lines.retain_mut(|(k, v)| {
            if k != name {
                return true;
            }
            if seen {
                return false;
            }
            seen = true;
            *v = value.to_owned();
            true
        });
        if !seen {
            lines.push((name.to_owned(), value.to_owned()));
        }
    }
    for name in removes {
        lines.retain(|(k, _)| k != name.as_ref());
    }
    lines
}

pub fn load(json: &str) -> Vec<Case> {
    let table: Value = serde_json::from_str(json).expect("tests/cases/propagation.json is JSON");
    table["cases"]
        .as_array()
        .expect("a `cases` array")
        .iter()
        .map(Case::from_json)
        .collect()
}

/// One row: a plugin configuration, the request's header lines, and what the upstream must see.
#[derive(Debug, Clone)]
pub struct Case {
    /// The spec case the row is named after.
    pub name: String,
    /// The plugin configuration as JSON text.
    pub config: String,
    /// Request header lines in order (repeats kept).
    pub request: Vec<(String, String)>,
    expect: Expect,
}

#[derive(Debug, Clone)]
enum TraceIdRule {
    /// A trace id that appears nowhere in the request.
    New,
    /// Exactly this trace id.
    Kept(String),
}

#[derive(Debug, Clone)]
struct Expect {
    trace_id: TraceIdRule,
    sampled: bool,
    random: bool,
    tracestate: Option<String>,
    /// Header → exact single line, with `{trace}` / `{span}` placeholders.
    headers: Vec<(String, String)>,
    absent: Vec<String>,
    unchanged: Vec<String>,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

impl Case {
    fn from_json(row: &Value) -> Case {
        let name = row["name"].as_str().expect("a row has a name").to_owned();
        let field = |what: &str| format!("row {name:?}: {what}");
        assert!(
            row["config"].is_object(),
            "{}",
            field("config is an object")
        );
        let request = row["request"]
            .as_array()
            .unwrap_or_else(|| panic!("{}", field("request is an array")))
            .iter()
            .map(|line| {
                let pair = strings(line);
                assert_eq!(
                    pair.len(),
                    2,
                    "{}",
                    field("a request line is [name, value]")
                );
                (pair[0].clone(), pair[1].clone())
            })
            .collect();
        let e = &row["expect"];
        let trace_id = match e["trace_id"].as_str() {
            Some("new") => TraceIdRule::New,
            Some(id) if is_lower_hex(id, 32) => TraceIdRule::Kept(id.to_owned()),
            other => panic!(
                "{}: {other:?}",
                field("trace_id is \"new\" or 32 hex digits")
            ),
        };
        let flag = |k: &str| {
            e[k].as_bool()
                .unwrap_or_else(|| panic!("{}", field(&format!("expect.{k} is a bool"))))
        };
        let tracestate = match &e["tracestate"] {
            Value::Null if e.get("tracestate").is_some() => None,
            Value::String(s) => Some(s.clone()),
            _ => panic!("{}", field("expect.tracestate is a string or null")),
        };
        let headers = e["headers"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().expect("header template").to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Case {
            config: row["config"].to_string(),
            request,
            expect: Expect {
                trace_id,
                sampled: flag("sampled"),
                random: flag("random"),
                tracestate,
                headers,
                absent: strings(&e["absent"]),
                unchanged: strings(&e["unchanged"]),
            },
            name,
        }
    }

    /// Checks the header lines the upstream received; every broken expectation is listed.
    pub fn check<K: AsRef<str>, V: AsRef<[u8]>>(&self, upstream: &[(K, V)]) -> Result<(), String> {
        let mut problems = Vec::new();
        let lines = |name: &str| -> Vec<String> {
            upstream
                .iter()
                .filter(|(k, _)| k.as_ref().eq_ignore_ascii_case(name))
                .map(|(_, v)| String::from_utf8_lossy(v.as_ref()).into_owned())
                .collect()
        };
        let incoming = |name: &str| -> Vec<String> {
            self.request
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
                .collect()
        };
        let seen_in_request = |id: &str| self.request.iter().any(|(_, v)| v.contains(id));

        let tp_lines = lines("traceparent");
        let tp = match tp_lines.as_slice() {
            [one] => match parse_traceparent(one) {
                Some(tp) => tp,
                None => return Err(format!("invalid traceparent sent upstream: {one:?}")),
            },
            more => {
                return Err(format!(
                    "{} traceparent lines sent, want 1: {more:?}",
                    more.len()
                ))
            }
        };
        match &self.expect.trace_id {
            TraceIdRule::Kept(id) if tp.trace_id != *id => {
                problems.push(format!("trace id {} sent, want {id} kept", tp.trace_id));
            }
            // A 64-bit B3 id left-padded would show up as its low half.
            TraceIdRule::New
                if seen_in_request(&tp.trace_id) || seen_in_request(&tp.trace_id[16..]) =>
            {
                problems.push(format!("trace id {} is not new", tp.trace_id));
            }
            _ => {}
        }
        if seen_in_request(&tp.span_id) {
            problems.push(format!("parent id {} is not a new span id", tp.span_id));
        }
        let want_flags = u8::from(self.expect.sampled) | (u8::from(self.expect.random) << 1);
        if tp.flags != want_flags {
            problems.push(format!(
                "flags {:02x} sent, want {want_flags:02x} (sampled {}, random {})",
                tp.flags, self.expect.sampled, self.expect.random
            ));
        }

        let ts = lines("tracestate");
        let want_ts: Vec<String> = self.expect.tracestate.iter().cloned().collect();
        if ts != want_ts {
            problems.push(format!("tracestate lines {ts:?}, want {want_ts:?}"));
        }
        for (name, template) in &self.expect.headers {
            let want = template
                .replace("{trace}", &tp.trace_id)
                .replace("{span}", &tp.span_id);
            let got = lines(name);
            if got != [want.clone()] {
                problems.push(format!("{name} lines {got:?}, want [{want:?}]"));
            }
        }
        for name in &self.expect.absent {
            let got = lines(name);
            if !got.is_empty() {
                problems.push(format!("{name} must not be sent: {got:?}"));
            }
        }
        for name in &self.expect.unchanged {
            let (got, want) = (lines(name), incoming(name));
            if got != want {
                problems.push(format!(
                    "{name} lines {got:?}, want them untouched: {want:?}"
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "sent traceparent {}: {}",
                tp_lines[0],
                problems.join("; ")
            ))
        }
    }
}

/// The fields of a valid version-00 `traceparent`.
pub struct SentTraceParent {
    /// 32 lower-hex digits, not all zero.
    pub trace_id: String,
    /// 16 lower-hex digits, not all zero.
    pub span_id: String,
    /// The flags byte.
    pub flags: u8,
}

/// Parses what a hop must send: exactly `00-<32 hex>-<16 hex>-<2 hex>`, lower-case, ids not zero.
pub fn parse_traceparent(v: &str) -> Option<SentTraceParent> {
    let parts: Vec<&str> = v.split('-').collect();
    let [version, trace_id, span_id, flags] = parts.as_slice() else {
        return None;
    };
    let nonzero = |s: &str| s.bytes().any(|b| b != b'0');
    let ok = *version == "00"
        && is_lower_hex(trace_id, 32)
        && nonzero(trace_id)
        && is_lower_hex(span_id, 16)
        && nonzero(span_id)
        && is_lower_hex(flags, 2);
    ok.then(|| SentTraceParent {
        trace_id: (*trace_id).to_owned(),
        span_id: (*span_id).to_owned(),
        flags: u8::from_str_radix(flags, 16).unwrap_or(0),
    })
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Runs every row through `run` (which returns the upstream's header lines) and fails once, listing
/// every row that broke, so one run shows the whole picture.
pub fn run_all<K, V, E: std::fmt::Display>(
    cases: &[Case],
    mut run: impl FnMut(&Case) -> Result<Vec<(K, V)>, E>,
) where
    K: AsRef<str>,
    V: AsRef<[u8]>,
{
    assert!(cases.len() >= 60, "the table lost rows: {}", cases.len());
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            let result = run(case)
                .map_err(|e| format!("run failed: {e}"))
                .and_then(|up| case.check(&up));
            result.err().map(|e| format!("  {}\n    {e}", case.name))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
