//! A trace as a waterfall in the terminal, the way a tracing UI draws it: one line per span, indented
//! under its parent, with service, span kind, name, status, duration and a bar on a time axis shared by
//! every span of the trace. Colour is optional so the same text can go to a pipe, a log or a README.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::otlp::{ReceivedSpan, KIND_CLIENT, KIND_SERVER, STATUS_ERROR};

/// How to draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// ANSI colours (for a terminal; off for pipes and files).
    pub color: bool,
    /// Cells of the time axis.
    pub bar_width: usize,
}

impl Style {
    /// Plain text, 32-cell bars (a span line fits in about 100 columns).
    pub fn plain() -> Style {
        Style {
            color: false,
            bar_width: 32,
        }
    }

    /// Colour when stdout is a terminal and `NO_COLOR` is not set (<https://no-color.org>).
    pub fn for_stdout() -> Style {
        use std::io::IsTerminal;
        let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Style {
            color,
            ..Style::plain()
        }
    }
}

/// Width of the status column: `ERROR 503`.
const STATUS_W: usize = 9;

/// ANSI escape codes used here.
mod ansi {
    pub const RESET: &str = "\x1b[0m";
    pub const BOLD: &str = "\x1b[1m";
    pub const DIM: &str = "\x1b[2m";
    pub const RED: &str = "\x1b[31m";
    pub const GREEN: &str = "\x1b[32m";
    /// One colour per service, in order of first appearance in the trace.
    pub const SERVICES: [&str; 5] = ["\x1b[34m", "\x1b[35m", "\x1b[36m", "\x1b[33m", "\x1b[94m"];
}

/// Wraps `text` in `code` when colour is on.
pub fn paint(style: &Style, code: &str, text: &str) -> String {
    if style.color && !code.is_empty() {
        format!("{code}{text}{}", ansi::RESET)
    } else {
        text.to_string()
    }
}

/// `OK` or `ERROR` coloured green or red.
pub fn status_word(style: &Style, error: bool) -> String {
    if error {
        paint(style, &format!("{}{}", ansi::BOLD, ansi::RED), "ERROR")
    } else {
        paint(style, ansi::GREEN, "OK")
    }
}

/// Dimmed text (labels, axis).
pub fn dim(style: &Style, text: &str) -> String {
    paint(style, ansi::DIM, text)
}

/// `SERVER`, `CLIENT`, or the OTLP kind's number for the rest.
pub fn kind_name(kind: i32) -> String {
    match kind {
        KIND_SERVER => "SERVER".into(),
        KIND_CLIENT => "CLIENT".into(),
        1 => "INTERNAL".into(),
        4 => "PRODUCER".into(),
        5 => "CONSUMER".into(),
        other => format!("KIND({other})"),
    }
}

/// A duration as a person reads it: `0.42 ms`, `12.3 ms`, `1.25 s`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 1.0 {
        format!("{ms:.2} ms")
    } else if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}

/// The service name of a span's resource, or `?`.
pub fn service(span: &ReceivedSpan) -> &str {
    span.resource_str("service.name").unwrap_or("?")
}

/// Whether a span's status is ERROR.
pub fn is_error(span: &ReceivedSpan) -> bool {
    span.status_code() == STATUS_ERROR
}

/// One span in tree order, with what it takes to draw its line.
#[derive(Debug, Clone, PartialEq)]
pub struct Row<'a> {
    /// The span.
    pub span: &'a ReceivedSpan,
    /// Tree guides drawn before the service name (`└─ `, `│  ├─ `).
    pub prefix: String,
    /// Nesting depth (0 for a root).
    pub depth: usize,
    /// Its parent id is set but no span of the trace has that id (a span is missing).
    pub orphan: bool,
}

/// Orders a trace's spans as a tree: roots first (a span whose parent is not in the trace counts as a
/// root, marked orphan when it names a parent), children under their parent, siblings by start time.
pub fn rows<'a>(spans: &[&'a ReceivedSpan]) -> Vec<Row<'a>> {
    let ids: BTreeSet<String> = spans.iter().map(|s| s.span_id()).collect();
    let mut children: BTreeMap<String, Vec<&'a ReceivedSpan>> = BTreeMap::new();
    let mut roots: Vec<&'a ReceivedSpan> = Vec::new();
    for span in spans {
        let parent = span.parent_id();
        // A span that names itself as parent would loop; draw it as a root.
        if !parent.is_empty() && ids.contains(&parent) && parent != span.span_id() {
            children.entry(parent).or_default().push(span);
        } else {
            roots.push(span);
        }
    }
    let by_start = |v: &mut Vec<&ReceivedSpan>| {
        v.sort_by_key(|s| (s.span.start_time_unix_nano, s.span.kind, s.span_id()));
    };
    by_start(&mut roots);
    children.values_mut().for_each(by_start);

    let mut walker = Walker {
        children,
        visited: BTreeSet::new(),
        out: Vec::with_capacity(spans.len()),
    };
    for root in roots {
        let orphan = !root.parent_id().is_empty();
        walker.walk(root, "", "", 0, orphan);
    }
    walker.out
}

/// Depth-first walk state: who is under whom, what was drawn, the rows so far.
struct Walker<'a> {
    children: BTreeMap<String, Vec<&'a ReceivedSpan>>,
    visited: BTreeSet<String>,
    out: Vec<Row<'a>>,
}

impl<'a> Walker<'a> {
    /// `lead` is this row's guide, `indent` the guides its children inherit.
    fn walk(
        &mut self,
        span: &'a ReceivedSpan,
        lead: &str,
        indent: &str,
        depth: usize,
        orphan: bool,
    ) {
        // Ids repeat only in a broken export; each span is drawn once all the same.
        if !self.visited.insert(span.span_id()) {
            return;
        }
        self.out.push(Row {
            span,
            prefix: format!("{indent}{lead}"),
            depth,
            orphan,
        });
        let child_indent = match lead {
            "" => indent.to_string(),
            "├─ " => format!("{indent}│  "),
            _ => format!("{indent}   "),
        };
        let kids = self
            .children
            .get(&span.span_id())
            .cloned()
            .unwrap_or_default();
        for (i, kid) in kids.iter().enumerate() {
            let lead = if i + 1 == kids.len() {
                "└─ "
            } else {
                "├─ "
            };
            self.walk(kid, lead, &child_indent, depth + 1, false);
        }
    }
}

/// The cells `[from, to)` a span covers on a `width`-cell axis from `t0` to `t1` (at least one cell,
/// so a span too short to see still shows).
pub fn bar_cells(start: u64, end: u64, t0: u64, t1: u64, width: usize) -> (usize, usize) {
    if width == 0 {
        return (0, 0);
    }
    let total = u128::from(t1.saturating_sub(t0).max(1));
    let w = width as u128;
    let cell = |t: u64, round_up: bool| -> usize {
        let off = u128::from(t.clamp(t0, t1) - t0) * w;
        let c = if round_up {
            off.div_ceil(total)
        } else {
            off / total
        };
        usize::try_from(c).unwrap_or(width).min(width)
    };
    let from = cell(start, false).min(width - 1);
    let to = cell(end.max(start), true).max(from + 1);
    (from, to)
}

/// The bar for one span: blanks, blocks, blanks, `width` cells in all, between `│` marks.
fn bar(from: usize, to: usize, width: usize) -> String {
    format!(
        "{}{}{}",
        " ".repeat(from),
        "█".repeat(to.saturating_sub(from)),
        " ".repeat(width.saturating_sub(to))
    )
}

/// The waterfall of one trace: a column header with the time axis, then one line per span in tree
/// order. Every line ends with a newline.
pub fn render(spans: &[&ReceivedSpan], style: &Style) -> String {
    let rows = rows(spans);
    let Some(t0) = spans.iter().map(|s| s.span.start_time_unix_nano).min() else {
        return String::new();
    };
    let t1 = spans
        .iter()
        .map(|s| s.span.end_time_unix_nano.max(s.span.start_time_unix_nano))
        .max()
        .unwrap_or(t0);

    // Colours by service in order of first appearance, so the same service is one colour per trace.
    let mut palette: BTreeMap<&str, &str> = BTreeMap::new();
    for row in &rows {
        let next = ansi::SERVICES
            .get(palette.len() % ansi::SERVICES.len())
            .copied()
            .unwrap_or("");
        palette.entry(service(row.span)).or_insert(next);
    }

    let who = |r: &Row| {
        let mark = if r.orphan { "? " } else { "" };
        format!("{}{mark}{}", r.prefix, service(r.span))
    };
    let who_w = rows
        .iter()
        .map(|r| who(r).chars().count())
        .max()
        .unwrap_or(0)
        .max(7);
    let name_w = rows
        .iter()
        .map(|r| r.span.span.name.chars().count())
        .max()
        .unwrap_or(0)
        .max(4);
    let width = style.bar_width;

    let total = format_duration(Duration::from_nanos(t1 - t0));
    // " 0 … total": the 0 over the first cell, the total ending over the last one.
    let axis = format!(
        " 0{}{total}",
        " ".repeat(width.saturating_sub(1 + total.chars().count()))
    );
    let mut out = dim(
        style,
        &format!(
            "  {:<who_w$}  {:<6}  {:<name_w$}  {:<STATUS_W$} {:>9}  {axis}",
            "service", "kind", "span", "status", "duration"
        ),
    );
    out.push('\n');

    for row in &rows {
        let s = row.span;
        let error = is_error(s);
        let colour = palette.get(service(s)).copied().unwrap_or("");
        let who_text = who(row);
        let who_cell = format!(
            "{}{}",
            paint(style, colour, &who_text),
            " ".repeat(who_w - who_text.chars().count())
        );
        // Pad before painting: escape codes have no width.
        let code = s
            .attr_int("http.response.status_code")
            .map(|c| format!(" {c}"))
            .unwrap_or_default();
        let plain_len = if error { 5 } else { 2 } + code.chars().count();
        let status = format!(
            "{}{code}{}",
            status_word(style, error),
            " ".repeat(STATUS_W.saturating_sub(plain_len))
        );
        let (from, to) = bar_cells(
            s.span.start_time_unix_nano,
            s.span.end_time_unix_nano,
            t0,
            t1,
            width,
        );
        let bar_colour = if error { ansi::RED } else { colour };
        out.push_str(&format!(
            "  {who_cell}  {:<6}  {:<name_w$}  {status} {:>9}  {}{}{}\n",
            kind_name(s.kind()),
            s.span.name,
            format_duration(s.duration()),
            dim(style, "│"),
            paint(style, bar_colour, &bar(from, to, width)),
            dim(style, "│"),
        ));
    }
    out
}

/// Removes ANSI colour codes (for measuring or comparing coloured output).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ params final-byte(@..~)
            for d in chars.by_ref() {
                if ('@'..='~').contains(&d) && d != '[' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::trace::v1::{status, Status};

    const MS: u64 = 1_000_000;
    const T0: u64 = 1_700_000_000_000_000_000;

    fn span(
        service: &str,
        kind: i32,
        id: u8,
        parent: Option<u8>,
        from_ms: u64,
        to_ms: u64,
    ) -> ReceivedSpan {
        let mut s = ReceivedSpan::fixture(
            service,
            kind,
            id,
            parent,
            T0 + from_ms * MS,
            T0 + to_ms * MS,
        );
        s.span.name = "GET".into();
        s
    }

    fn failed(mut s: ReceivedSpan) -> ReceivedSpan {
        s.span.status = Some(Status {
            code: status::StatusCode::Error as i32,
            message: String::new(),
        });
        s
    }

    /// The demo's chain, handed over in arrival order (leaf first, as the proxies export).
    fn chain() -> Vec<ReceivedSpan> {
        vec![
            span("svc-b", KIND_SERVER, 5, Some(4), 40, 90),
            span("svc-a", KIND_CLIENT, 4, Some(3), 30, 95),
            span("svc-a", KIND_SERVER, 3, Some(2), 20, 98),
            span("edge-gateway", KIND_CLIENT, 2, Some(1), 10, 99),
            span("edge-gateway", KIND_SERVER, 1, None, 0, 100),
        ]
    }

    fn refs(spans: &[ReceivedSpan]) -> Vec<&ReceivedSpan> {
        spans.iter().collect()
    }

    #[test]
    fn a_chain_is_drawn_root_first_one_level_deeper_per_hop() {
        let spans = chain();
        let spans = refs(&spans);
        let rows = rows(&spans);
        let drawn: Vec<(String, usize, &str)> = rows
            .iter()
            .map(|r| (r.prefix.clone(), r.depth, service(r.span)))
            .collect();
        assert_eq!(
            drawn,
            [
                ("".to_string(), 0, "edge-gateway"),
                ("└─ ".to_string(), 1, "edge-gateway"),
                ("   └─ ".to_string(), 2, "svc-a"),
                ("      └─ ".to_string(), 3, "svc-a"),
                ("         └─ ".to_string(), 4, "svc-b"),
            ]
        );
        assert!(rows.iter().all(|r| !r.orphan));
    }

    #[test]
    fn siblings_are_ordered_by_start_and_guides_continue_past_an_open_sibling() {
        let spans = vec![
            span("gw", KIND_SERVER, 1, None, 0, 100),
            span("gw", KIND_CLIENT, 3, Some(1), 50, 90),
            span("gw", KIND_CLIENT, 2, Some(1), 10, 40),
            span("a", KIND_SERVER, 4, Some(2), 15, 35),
        ];
        let spans = refs(&spans);
        let prefixes: Vec<String> = rows(&spans).iter().map(|r| r.prefix.clone()).collect();
        assert_eq!(prefixes, ["", "├─ ", "│  └─ ", "└─ "]);
    }

    #[test]
    fn a_span_whose_parent_is_missing_is_drawn_as_an_orphan_root() {
        let spans = vec![
            span("gw", KIND_SERVER, 1, None, 0, 100),
            span("b", KIND_SERVER, 5, Some(4), 40, 90),
        ];
        let spans = refs(&spans);
        let rows = rows(&spans);
        assert_eq!(rows.len(), 2);
        assert!(!rows[0].orphan);
        assert!(rows[1].orphan, "parent 04.. is not in the trace");
        assert!(render(&spans, &Style::plain()).contains("? b"));
    }

    #[test]
    fn a_span_that_is_its_own_parent_is_drawn_once() {
        let spans = vec![span("gw", KIND_SERVER, 1, Some(1), 0, 10)];
        let spans = refs(&spans);
        assert_eq!(rows(&spans).len(), 1);
    }

    #[rustfmt::skip]
    #[test]
    fn bar_cells_share_one_axis() {
        // (name, start, end, t0, t1, width, expected)
        type Row = (&'static str, u64, u64, u64, u64, usize, (usize, usize));
        let cases: &[Row] = &[
            ("whole trace",            0, 100, 0, 100, 40, (0, 40)),
            ("second half",           50, 100, 0, 100, 40, (20, 40)),
            ("start rounds down",     49, 100, 0, 100, 40, (19, 40)),
            ("end rounds up",          0,  51, 0, 100, 40, (0, 21)),
            ("too short still shows", 30,  30, 0, 100, 40, (12, 13)),
            ("at the very end",      100, 100, 0, 100, 40, (39, 40)),
            ("zero-length trace",      5,   5, 5,   5, 40, (0, 1)),
            ("outside is clamped",     0, 200, 10, 100, 10, (0, 10)),
        ];
        for (name, start, end, t0, t1, width, expected) in cases {
            assert_eq!(bar_cells(*start, *end, *t0, *t1, *width), *expected, "{name}");
        }
    }

    #[rustfmt::skip]
    #[test]
    fn durations_read_like_a_person_writes_them() {
        let cases: &[(&str, Duration, &str)] = &[
            ("sub-millisecond", Duration::from_micros(420),   "0.42 ms"),
            ("milliseconds",    Duration::from_micros(12_345), "12.3 ms"),
            ("seconds",         Duration::from_millis(1_250), "1.25 s"),
        ];
        for (name, d, text) in cases {
            assert_eq!(format_duration(*d), *text, "{name}");
        }
    }

    #[test]
    fn plain_render_has_a_header_and_one_aligned_line_per_span() {
        let mut spans = chain();
        spans[0] = failed(spans[0].clone());
        let spans = refs(&spans);
        let wide = Style {
            bar_width: 40,
            ..Style::plain()
        };
        let text = render(&spans, &wide);
        assert!(!text.contains('\x1b'), "no colour codes in plain text");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 6, "{text}");
        assert!(lines[0].contains("service") && lines[0].contains("100.0 ms"));
        assert!(lines[1].contains("edge-gateway") && lines[1].contains("SERVER"));
        assert!(lines[1].contains("OK") && lines[1].contains("100.0 ms"));
        assert!(lines[5].contains("└─ svc-b") && lines[5].contains("ERROR"));
        assert!(lines[5].contains("50.0 ms"));
        // Every bar has the same width and lines up, so the axis is shared.
        let bar_at: Vec<usize> = lines[1..]
            .iter()
            .map(|l| l.chars().position(|c| c == '│').unwrap())
            .collect();
        assert!(bar_at.windows(2).all(|w| w[0] == w[1]), "{text}");
        for line in &lines[1..] {
            let bar: String = line.chars().skip(bar_at[0]).collect();
            assert_eq!(bar.chars().count(), 40 + 2, "{line:?}");
        }
        // The root fills the axis; the leaf (40..90 of 100 ms) fills cells 16..36.
        assert!(lines[1].ends_with(&format!("│{}│", "█".repeat(40))));
        let leaf = format!("│{}{}{}│", " ".repeat(16), "█".repeat(20), " ".repeat(4));
        assert!(lines[5].ends_with(&leaf), "{}", lines[5]);
    }

    #[test]
    fn colour_render_is_the_plain_render_plus_escape_codes() {
        let mut spans = chain();
        spans[0] = failed(spans[0].clone());
        let spans = refs(&spans);
        let colour = Style {
            color: true,
            ..Style::plain()
        };
        let painted = render(&spans, &colour);
        assert!(painted.contains("\x1b[31m"), "an error is red");
        assert!(painted.contains("\x1b[32mOK"), "OK is green");
        assert_eq!(strip_ansi(&painted), render(&spans, &Style::plain()));
    }

    #[test]
    fn kinds_have_their_otlp_names() {
        assert_eq!(kind_name(KIND_SERVER), "SERVER");
        assert_eq!(kind_name(KIND_CLIENT), "CLIENT");
        assert_eq!(kind_name(9), "KIND(9)");
    }

    #[test]
    fn an_empty_trace_renders_nothing() {
        assert_eq!(render(&[], &Style::plain()), "");
    }
}
