//! Sampling rules: the first rule whose match holds picks the sampler for a request.
//!
//! Matching reads only what the request headers carry (`:authority` or `host`, `:path`,
//! `:method`, one named header), so a decision needs no property read and no route lookup. The
//! request's three pseudo-headers are found in one pass over the header lines; each rule then
//! costs at most one comparison per condition, plus a scan of the lines for a header condition.

use super::Sampler;
use crate::config::{HeaderMatch, HostMatch, PathMatch, RuleMatch, SamplingSettings};
use crate::propagation::HeaderLines;
use std::rc::Rc;

/// What rules compare: the request's authority (port removed), path (query removed) and method.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestKeys<'a> {
    /// `:authority`, else `host`, without a `:port`.
    pub host: Option<&'a [u8]>,
    /// `:path` up to its `?`.
    pub path: Option<&'a [u8]>,
    /// `:method`.
    pub method: Option<&'a [u8]>,
}

impl<'a> RequestKeys<'a> {
    /// The keys of a request, from one pass over its header lines.
    pub fn from_headers<K: AsRef<str>, V: AsRef<[u8]>>(headers: &HeaderLines<'a, K, V>) -> Self {
        let mut keys = RequestKeys::default();
        let mut host_header = None;
        for (name, value) in headers.pairs() {
            let value = value.as_ref();
            match name.as_ref() {
                ":authority" if keys.host.is_none() => keys.host = Some(value),
                ":path" if keys.path.is_none() => keys.path = Some(value),
                ":method" if keys.method.is_none() => keys.method = Some(value),
                n if host_header.is_none() && n.eq_ignore_ascii_case("host") => {
                    host_header = Some(value);
                }
                _ => {}
            }
        }
        keys.host = keys.host.or(host_header).map(without_port);
        keys.path = keys.path.map(without_query);
        keys
    }
}

/// `example.com:8080` → `example.com`; a bracketed IPv6 literal keeps its brackets.
fn without_port(authority: &[u8]) -> &[u8] {
    match authority.iter().rposition(|&c| c == b':') {
        Some(i)
            if authority
                .get(i + 1..)
                .is_some_and(|p| p.iter().all(u8::is_ascii_digit))
                && !authority
                    .get(..i)
                    .is_some_and(|h| h.contains(&b':') && !h.starts_with(b"[")) =>
        {
            authority.get(..i).unwrap_or(authority)
        }
        _ => authority,
    }
}

fn without_query(path: &[u8]) -> &[u8] {
    match path.iter().position(|&c| c == b'?' || c == b'#') {
        Some(i) => path.get(..i).unwrap_or(path),
        None => path,
    }
}

impl RuleMatch {
    /// Whether every condition of this rule holds for the request.
    pub fn matches<K: AsRef<str>, V: AsRef<[u8]>>(
        &self,
        keys: &RequestKeys<'_>,
        headers: &HeaderLines<'_, K, V>,
    ) -> bool {
        if let Some(m) = &self.path {
            let Some(path) = keys.path else { return false };
            let ok = match m {
                PathMatch::Exact(p) => path == p.as_bytes(),
                PathMatch::Prefix(p) => path.starts_with(p.as_bytes()),
            };
            if !ok {
                return false;
            }
        }
        if let Some(m) = &self.host {
            let Some(host) = keys.host else { return false };
            let ok = match m {
                HostMatch::Exact(h) => host.eq_ignore_ascii_case(h.as_bytes()),
                HostMatch::Suffix(s) => {
                    host.len() > s.len()
                        && host
                            .get(host.len() - s.len()..)
                            .is_some_and(|tail| tail.eq_ignore_ascii_case(s.as_bytes()))
                }
            };
            if !ok {
                return false;
            }
        }
        if let Some(m) = &self.method {
            if keys.method != Some(m.as_bytes()) {
                return false;
            }
        }
        if let Some(HeaderMatch { name, value }) = &self.header {
            let mut lines = headers.iter(name);
            let ok = match value {
                None => lines.next().is_some(),
                Some(v) => lines.any(|line| line == v.as_bytes()),
            };
            if !ok {
                return false;
            }
        }
        true
    }
}

/// The configured rules, each with its own sampler (a rate limit per rule, a threshold per rule).
#[derive(Debug, Clone)]
pub struct Rules {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
    matcher: RuleMatch,
    sampler: Sampler,
    /// The value of the span attribute `hoptrace.sampling.rule`: the name, else the index.
    label: Rc<str>,
}

impl Rules {
    /// The rules of validated settings, in order.
    pub fn new(settings: &SamplingSettings) -> Self {
        let rules = settings
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| Rule {
                matcher: r.matcher.clone(),
                sampler: Sampler::new(r.sampler),
                label: match &r.name {
                    Some(name) => Rc::from(name.as_str()),
                    None => Rc::from(i.to_string().as_str()),
                },
            })
            .collect();
        Rules { rules }
    }

    /// Whether there are no rules (the top-level sampler decides every request).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The index of the first rule matching the request, if any.
    pub fn first_match<K: AsRef<str>, V: AsRef<[u8]>>(
        &self,
        headers: &HeaderLines<'_, K, V>,
    ) -> Option<usize> {
        if self.rules.is_empty() {
            return None;
        }
        let keys = RequestKeys::from_headers(headers);
        self.rules
            .iter()
            .position(|r| r.matcher.matches(&keys, headers))
    }

    /// The sampler of rule `index`.
    pub fn sampler(&mut self, index: usize) -> Option<&mut Sampler> {
        self.rules.get_mut(index).map(|r| &mut r.sampler)
    }

    /// The span attribute value of rule `index`: its name, else its index.
    pub fn label(&self, index: usize) -> Option<&Rc<str>> {
        self.rules.get(index).map(|r| &r.label)
    }
}

#[cfg(test)]
mod tests;
