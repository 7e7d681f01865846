//! One hop: extract the incoming context, decide sampling, and say what to send upstream.
//!
//! [`Tracer::start`] is the only thing an unsampled request runs: it reads the header lines once, makes
//! the decision and returns the header edits. Span ids for the hop's own spans are drawn here too, so the
//! id sent upstream as `parent-id` is the span that will represent the upstream call (see
//! [`HopContext::span_ids`]).

use crate::config::{Propagator, Settings, Threshold};
use crate::ids::{IdGenerator, SpanId, TraceFlags, TraceId};
use crate::propagation::b3::{
    B3, X_B3_FLAGS, X_B3_PARENTSPANID, X_B3_SAMPLED, X_B3_SPANID, X_B3_TRACEID,
};
use crate::propagation::jaeger::{UBERCTX_PREFIX, UBER_TRACE_ID};
use crate::propagation::{
    b3_multi_headers, b3_single_header, extract_b3, extract_jaeger, parse_traceparent,
    parse_tracestate, ExtractedContext, HeaderLines, OtState, TraceParent, TraceState,
    TraceparentValue,
};
use crate::sampler::{ParentContext, Rules, Sampler, SamplingInput};
use crate::span::{LinkedContext, SpanContextIds, SpanPlan};
use std::borrow::Cow;

/// The tracestate key of OpenTelemetry's own member (`th`, `rv` sub-keys).
const OT_KEY: &str = "ot";

/// Every header of the B3 format, single and multi.
const B3_HEADERS: [&str; 6] = [
    B3,
    X_B3_TRACEID,
    X_B3_SPANID,
    X_B3_PARENTSPANID,
    X_B3_SAMPLED,
    X_B3_FLAGS,
];

/// The W3C baggage header.
const BAGGAGE: &str = "baggage";

/// Header edits for the upstream request: the sets (see [`HeaderEdits::sets`]), then the removals.
///
/// The `traceparent` every request sends is kept inline, so an unsampled request that only needs
/// it allocates nothing here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderEdits {
    /// The `traceparent` to send upstream: always set, before the others.
    pub traceparent: TraceparentValue,
    /// Further headers to set (replacing every existing line of each), in order.
    pub set: Vec<(&'static str, String)>,
    /// Remove every line of these headers (a client's Jaeger `uberctx-*` names are not known in
    /// advance, hence the owned form).
    pub remove: Vec<Cow<'static, str>>,
}

impl HeaderEdits {
    /// Every header to set, `traceparent` first, in the order to apply them.
    pub fn sets(&self) -> impl Iterator<Item = (&'static str, &str)> + '_ {
        std::iter::once(("traceparent", self.traceparent.as_str()))
            .chain(self.set.iter().map(|(name, value)| (*name, value.as_str())))
    }
}

/// Where the hop's trace context came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextSource {
    /// No usable incoming context: a new trace.
    Root,
    /// A valid W3C `traceparent`.
    TraceContext,
    /// B3 single or multi headers.
    B3,
    /// Jaeger `uber-trace-id`.
    Jaeger,
    /// An incoming context that `trust_incoming: false` ignored (kept as a link).
    Untrusted,
}

/// What one hop decided: its trace, the sampling decision and the ids of its spans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HopContext {
    /// The trace this hop belongs to.
    pub trace_id: TraceId,
    /// The remote parent span (the caller's span), when the context was extracted and trusted.
    pub remote_parent: Option<SpanId>,
    /// The span id sent upstream as `parent-id`: the span that represents the upstream call.
    pub upstream_span: SpanId,
    /// The W3C flags sent upstream (sampled as decided, random bit kept or set).
    pub flags: TraceFlags,
    /// The `tracestate` sent upstream, if any.
    pub tracestate: Option<String>,
    /// An incoming context that was not trusted (`trust_incoming: false`), kept for a span link.
    pub linked: Option<LinkedContext>,
    /// Where the context came from.
    pub source: ContextSource,
    /// The sampling rule that decided (its index in `sampling.rules`); `None`: the top-level
    /// sampler did.
    pub sampling_rule: Option<usize>,
    /// The id of a SERVER span above the CLIENT span, when drawn at the request headers because
    /// it was shown before the spans were built (see [`crate::expose`]); otherwise drawn then.
    pub server_span: Option<SpanId>,
}

impl HopContext {
    /// Whether this hop records spans.
    pub fn sampled(&self) -> bool {
        self.flags.sampled()
    }

    /// The ids of the hop's spans for a span plan: the span that represents the upstream call keeps the
    /// id already sent upstream; a SERVER span above a CLIENT span gets `extra` (a fresh id).
    pub fn span_ids(&self, plan: SpanPlan, extra: SpanId) -> SpanContextIds {
        let (server, client) = match plan {
            SpanPlan::ServerAndClient => (extra, self.upstream_span),
            SpanPlan::Server | SpanPlan::Client => (self.upstream_span, self.upstream_span),
        };
        SpanContextIds {
            trace_id: self.trace_id,
            parent_span_id: self.remote_parent,
            server_span_id: server,
            client_span_id: client,
            flags: self.flags,
            trace_state: self.tracestate.clone().unwrap_or_default(),
            linked: self.linked,
            kept: None,
            sampling_rule: None,
        }
    }
}

/// The result of [`Tracer::start`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    /// The decided context.
    pub context: HopContext,
    /// What to change on the upstream request.
    pub edits: HeaderEdits,
}

/// Per-VM tracing state: settings, the id source and the samplers (their rate limiters are per
/// VM): the top-level one and one per sampling rule.
pub struct Tracer {
    settings: Settings,
    ids: IdGenerator,
    sampler: Sampler,
    rules: Rules,
}

/// An incoming context from any propagation format, normalised.
struct Incoming {
    trace_id: TraceId,
    parent_id: SpanId,
    flags: TraceFlags,
    /// The sender's decision; `None` when it deferred it (B3 without a sampling state): this hop
    /// then decides as for a root, on the incoming trace id.
    sampled: Option<bool>,
    tracestate: Option<TraceState>,
    source: ContextSource,
}

impl Tracer {
    /// A tracer for validated settings, drawing ids from `ids`.
    pub fn new(settings: Settings, ids: IdGenerator) -> Self {
        let sampler = Sampler::new(settings.sampler);
        let rules = Rules::new(&settings.sampling);
        Tracer {
            settings,
            ids,
            sampler,
            rules,
        }
    }

    /// The sampling rules.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// The settings this tracer runs with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// A fresh span id (for a SERVER span above the CLIENT span on a gateway).
    pub fn new_span_id(&mut self) -> SpanId {
        self.ids.span_id()
    }

    /// A uniformly random u64 from the tracer's generator.
    pub fn next_u64(&mut self) -> u64 {
        self.ids.next_u64()
    }

    /// Decide one hop from all request header lines (names lower-case) at `now_ns`.
    pub fn start<K: AsRef<str>, V: AsRef<[u8]>>(
        &mut self,
        headers: &HeaderLines<'_, K, V>,
        now_ns: u64,
    ) -> Hop {
        let incoming = self.extract(headers);
        let upstream_span = self.ids.span_id();

        let (trace_id, remote_parent, parent, state, flags_in, source, linked) = match incoming {
            Some(inc) if self.settings.trust_incoming => {
                let state = inc.tracestate.unwrap_or_default();
                (
                    inc.trace_id,
                    Some(inc.parent_id),
                    inc.sampled,
                    state,
                    inc.flags,
                    inc.source,
                    None,
                )
            }
            other => {
                let linked = other.map(|inc| LinkedContext {
                    trace_id: inc.trace_id,
                    span_id: inc.parent_id,
                    flags: inc.flags,
                });
                let source = if linked.is_some() {
                    ContextSource::Untrusted
                } else {
                    ContextSource::Root
                };
                let flags = TraceFlags(0).with_random(true);
                (
                    self.ids.trace_id(),
                    None,
                    None,
                    TraceState::default(),
                    flags,
                    source,
                    linked,
                )
            }
        };

        let mut ot = state.get(OT_KEY).map(OtState::parse).unwrap_or_default();
        let randomness = ot.rv.unwrap_or_else(|| trace_id.low56());
        let input = SamplingInput {
            parent: parent.map(|sampled| ParentContext { sampled, th: ot.th }),
            randomness,
        };
        let sampling_rule = self.rules.first_match(headers);
        let sampler = match sampling_rule.and_then(|i| self.rules.sampler(i)) {
            Some(rule) => rule,
            None => &mut self.sampler,
        };
        let decision = sampler.decide(&input, now_ns);
        let flags = flags_in.with_sampled(decision.sampled);

        let ot_changed = ot.th != decision.th;
        let tracestate = if ot_changed {
            ot.th = decision.th.filter(|t| *t != Threshold::NEVER);
            state.into_header_with_first(OT_KEY, ot.format().as_deref())
        } else {
            state.to_header()
        };

        let context = HopContext {
            trace_id,
            remote_parent,
            upstream_span,
            flags,
            tracestate,
            linked,
            source,
            sampling_rule,
            server_span: None,
        };
        let edits = self.edits(
            headers,
            &context,
            ot_changed || source != ContextSource::TraceContext,
        );
        Hop { context, edits }
    }

    /// The first valid context among the configured extract formats.
    fn extract<K: AsRef<str>, V: AsRef<[u8]>>(
        &self,
        headers: &HeaderLines<'_, K, V>,
    ) -> Option<Incoming> {
        for p in &self.settings.propagation.extract {
            let found = match p {
                Propagator::TraceContext => Self::extract_w3c(headers),
                other => Self::extract_foreign(*other, headers),
            };
            if found.is_some() {
                return found;
            }
        }
        None
    }

    /// B3 and Jaeger, out of line: inlined, their parsers would sit between the instructions every
    /// W3C request runs and spread them over more instruction-cache lines.
    #[inline(never)]
    fn extract_foreign<K: AsRef<str>, V: AsRef<[u8]>>(
        p: Propagator,
        headers: &HeaderLines<'_, K, V>,
    ) -> Option<Incoming> {
        match p {
            Propagator::B3 | Propagator::B3Multi => extract_b3(headers)
                .ok()
                .flatten()
                .map(|c| Self::from_extracted(c, ContextSource::B3)),
            Propagator::Jaeger => extract_jaeger(headers)
                .ok()
                .flatten()
                .map(|c| Self::from_extracted(c, ContextSource::Jaeger)),
            Propagator::TraceContext | Propagator::Baggage => None,
        }
    }

    fn extract_w3c<K: AsRef<str>, V: AsRef<[u8]>>(
        headers: &HeaderLines<'_, K, V>,
    ) -> Option<Incoming> {
        let tp: TraceParent = parse_traceparent(&headers.lines("traceparent")).ok()??;
        // A bad tracestate is dropped whole; the traceparent still stands.
        let tracestate = parse_tracestate(&headers.lines("tracestate")).ok();
        Some(Incoming {
            trace_id: tp.trace_id,
            parent_id: tp.parent_id,
            flags: tp.flags,
            sampled: Some(tp.flags.sampled()),
            tracestate,
            source: ContextSource::TraceContext,
        })
    }

    fn from_extracted(c: ExtractedContext, source: ContextSource) -> Incoming {
        Incoming {
            trace_id: c.trace_id,
            parent_id: c.parent_id,
            flags: c.flags,
            sampled: c.sampled,
            tracestate: None,
            source,
        }
    }

    /// Header edits: one `traceparent` always; `tracestate` rewritten only when it must change (several
    /// lines joined, our member updated, or a new/invalid context); B3/Jaeger when configured.
    fn edits<K: AsRef<str>, V: AsRef<[u8]>>(
        &self,
        headers: &HeaderLines<'_, K, V>,
        ctx: &HopContext,
        context_changed: bool,
    ) -> HeaderEdits {
        let tp = TraceParent {
            trace_id: ctx.trace_id,
            parent_id: ctx.upstream_span,
            flags: ctx.flags,
        };
        let mut edits = HeaderEdits {
            traceparent: tp.to_header_value(),
            set: Vec::new(),
            remove: Vec::new(),
        };

        let ts_lines = headers.lines("tracestate");
        match &ctx.tracestate {
            Some(ts) => {
                let same_single_line = !context_changed
                    && ts_lines.len() == 1
                    && ts_lines.first().is_some_and(|l| *l == ts.as_bytes());
                if !same_single_line {
                    edits.set.push(("tracestate", ts.clone()));
                }
            }
            None if !ts_lines.is_empty() => edits.remove.push(Cow::Borrowed("tracestate")),
            None => {}
        }

        for p in &self.settings.propagation.inject {
            if !matches!(p, Propagator::TraceContext | Propagator::Baggage) {
                Self::inject_foreign(*p, ctx, &mut edits.set);
            }
        }
        let propagation = &self.settings.propagation;
        let cleanup = Cleanup {
            untrusted: !self.settings.trust_incoming,
            keep_baggage: self.settings.trust_incoming || propagation.trusted_baggage,
            b3_injected: propagation
                .inject
                .iter()
                .any(|p| matches!(p, Propagator::B3 | Propagator::B3Multi)),
        };
        if cleanup.needed() {
            cleanup.apply(headers, &mut edits);
        }
        edits
    }

    /// The B3 and Jaeger headers to send upstream, out of line for the reason `extract_foreign` is.
    #[inline(never)]
    fn inject_foreign(p: Propagator, ctx: &HopContext, set: &mut Vec<(&'static str, String)>) {
        let sampled = ctx.sampled();
        match p {
            Propagator::B3 => set.push((
                "b3",
                b3_single_header(ctx.trace_id, ctx.upstream_span, sampled),
            )),
            Propagator::B3Multi => {
                for (k, v) in b3_multi_headers(ctx.trace_id, ctx.upstream_span, sampled) {
                    set.push((k, v));
                }
            }
            Propagator::Jaeger => set.push((
                "uber-trace-id",
                format!(
                    "{}:{}:0:{}",
                    ctx.trace_id,
                    ctx.upstream_span,
                    u8::from(sampled)
                ),
            )),
            Propagator::TraceContext | Propagator::Baggage => {}
        }
    }
}

/// Which of a caller's foreign context headers must not reach the upstream.
///
/// An untrusting edge removes every context header of every format it knows, so that nothing a
/// client sends can steer a service behind it (a B3 reader prefers `b3` to `traceparent`, and would
/// join the client's trace with the client's sampling). A hop that injects B3 leaves none of the
/// caller's B3 forms next to its own: a `b3` single header beside fresh multi headers, or a stale
/// `x-b3-flags: 1` (debug), would contradict them.
struct Cleanup {
    untrusted: bool,
    keep_baggage: bool,
    b3_injected: bool,
}

impl Cleanup {
    /// Whether any header could need removing; the plain trusted hop skips the scan.
    fn needed(&self) -> bool {
        self.untrusted || self.b3_injected
    }

    /// Push a removal for every such header the request carries, except those being set.
    #[inline(never)]
    fn apply<K: AsRef<str>, V: AsRef<[u8]>>(
        &self,
        headers: &HeaderLines<'_, K, V>,
        edits: &mut HeaderEdits,
    ) {
        for (name, _) in headers.pairs() {
            let name = name.as_ref();
            let Some(remove) = self.removal(name) else {
                continue;
            };
            let set_here = edits.set.iter().any(|(s, _)| *s == remove);
            if !set_here && !edits.remove.contains(&remove) {
                edits.remove.push(remove);
            }
        }
    }

    /// The name to remove for request header `name`, if it must go.
    fn removal(&self, name: &str) -> Option<Cow<'static, str>> {
        let is = |known: &str| name.eq_ignore_ascii_case(known);
        if let Some(b3) = B3_HEADERS.iter().find(|h| is(h)) {
            return (self.untrusted || self.b3_injected).then_some(Cow::Borrowed(*b3));
        }
        if !self.untrusted {
            return None;
        }
        if is(UBER_TRACE_ID) {
            return Some(Cow::Borrowed(UBER_TRACE_ID));
        }
        if self.keep_baggage {
            return None;
        }
        if is(BAGGAGE) {
            return Some(Cow::Borrowed(BAGGAGE));
        }
        let prefix = name.get(..UBERCTX_PREFIX.len())?;
        prefix
            .eq_ignore_ascii_case(UBERCTX_PREFIX)
            .then(|| Cow::Owned(name.to_ascii_lowercase()))
    }
}
