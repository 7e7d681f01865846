//! The stream-end facts of a sampled request as one CEL list, so the host answers them in a single
//! call instead of one property read each.
//!
//! Every host answer that carries data costs the proxy a call back into the VM (its allocator), and
//! in Envoy's V8 that trip is most of a property read's price. Envoy evaluates CEL expressions for
//! filters (`expr_create` / `expr_evaluate` foreign functions) and serializes a list the way it
//! serializes header maps: one entry per element, each element in its property encoding (strings as
//! bytes, ints and timestamps as 8 little-endian bytes). Measured under callgrind in Envoy 1.40, the
//! list costs the proxy about half of the eight property reads it replaces (`bench/instructions.py --probe`).
//!
//! The plugin compiles [`StreamEndQuery::expression`] once per VM, splits each answer into its
//! elements and hands them to [`StreamEndQuery::apply`]. A host without CEL, or an answer that does
//! not have the expected shape, makes the plugin read the same properties one by one.

use crate::span::{ListenerDirection, RequestFacts, ResponseFacts};

/// One element of the list: an attribute and how it is read.
struct Element {
    /// The attribute's CEL path.
    attribute: &'static str,
    /// What the guarded list answers when the attribute is absent; `None` for one that is always
    /// there.
    absent: Option<&'static str>,
    kind: Kind,
}

#[derive(Clone, Copy)]
enum Kind {
    /// `request.time`: a timestamp, serialized as int64 ns since the epoch.
    StartTime,
    Protocol,
    ClientAddress,
    StatusCode,
    ResponseFlags,
    UpstreamCluster,
    UpstreamAddress,
    RouteName,
    ListenerDirection,
}

/// The facts `on_log` needs (the property reads of the plugin's `facts.rs`), in list order.
const ELEMENTS: [Element; 8] = [
    Element {
        attribute: "request.time",
        absent: None,
        kind: Kind::StartTime,
    },
    Element {
        attribute: "request.protocol",
        absent: Some("''"),
        kind: Kind::Protocol,
    },
    Element {
        attribute: "source.address",
        absent: Some("''"),
        kind: Kind::ClientAddress,
    },
    Element {
        attribute: "response.code",
        absent: Some("0"),
        kind: Kind::StatusCode,
    },
    Element {
        attribute: "response.flags",
        absent: Some("0"),
        kind: Kind::ResponseFlags,
    },
    Element {
        attribute: "xds.cluster_name",
        absent: Some("''"),
        kind: Kind::UpstreamCluster,
    },
    Element {
        attribute: "upstream.address",
        absent: Some("''"),
        kind: Kind::UpstreamAddress,
    },
    Element {
        attribute: "xds.route_name",
        absent: Some("''"),
        kind: Kind::RouteName,
    },
];

/// Only `span_kind: auto` needs the listener direction; the others skip its cost.
const DIRECTION: Element = Element {
    attribute: "xds.listener_direction",
    absent: Some("0"),
    kind: Kind::ListenerDirection,
};

/// The two forms of the list.
///
/// A guard (`has(a) ? a : default`) makes Envoy resolve the attribute twice. The bare list costs
/// the proxy about a quarter less under callgrind (`docs/ARCHITECTURE.md`), but a single
/// absent attribute (no upstream address on a local reply, no cluster on an unrouted request)
/// makes its whole evaluation fail; the guarded list always evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListForm {
    /// Attributes as they are.
    Bare,
    /// Attributes that may be absent guarded with `has()`.
    Guarded,
}

/// Requests that go straight to the guarded list after the bare one failed.
const GUARDED_AFTER_FAILURE: u32 = 32;

/// Which form to evaluate first, per VM: the bare list, until it fails; then the guarded list for
/// the next `GUARDED_AFTER_FAILURE` requests before the bare one is tried again. Traffic where
/// attributes are often absent thus pays one failed evaluation per 33 requests, not one each.
#[derive(Debug, Clone, Default)]
pub struct ListFormChoice {
    guarded_left: u32,
}

impl ListFormChoice {
    /// The form to evaluate first for this request.
    pub fn first(&self) -> ListForm {
        if self.guarded_left == 0 {
            ListForm::Bare
        } else {
            ListForm::Guarded
        }
    }

    /// Record how this request went: whether the bare list was tried and failed.
    pub fn observe(&mut self, bare_failed: bool) {
        self.guarded_left = if bare_failed {
            GUARDED_AFTER_FAILURE
        } else {
            self.guarded_left.saturating_sub(1)
        };
    }
}

/// Why an answer was not used (the plugin then reads the properties one by one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEndError {
    /// The answer has `got` elements where the expression has `want`.
    Count {
        /// Elements in the expression.
        want: usize,
        /// Elements in the answer.
        got: usize,
    },
    /// An integer element is not 8 bytes.
    NotAnInteger {
        /// The element's attribute.
        element: &'static str,
        /// Its length in the answer.
        len: usize,
    },
}

impl std::fmt::Display for StreamEndError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamEndError::Count { want, got } => {
                write!(f, "the answer has {got} elements, the expression {want}")
            }
            StreamEndError::NotAnInteger { element, len } => {
                write!(
                    f,
                    "`{element}` came back as {len} bytes, not an 8-byte integer"
                )
            }
        }
    }
}

/// The stream-end CEL list for one configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamEndQuery {
    with_direction: bool,
}

impl StreamEndQuery {
    /// The query; `with_direction` adds `xds.listener_direction` (needed by `span_kind: auto`).
    pub fn new(with_direction: bool) -> Self {
        StreamEndQuery { with_direction }
    }

    /// Whether the list reads the listener direction.
    pub fn with_direction(&self) -> bool {
        self.with_direction
    }

    fn elements(&self) -> impl Iterator<Item = &'static Element> {
        ELEMENTS
            .iter()
            .chain(self.with_direction.then_some(&DIRECTION))
    }

    /// The CEL expression in `form`: a list of the facts, in the order [`StreamEndQuery::apply`]
    /// reads them. Either form answers in the same shape.
    pub fn expression(&self, form: ListForm) -> String {
        let parts: Vec<String> = self
            .elements()
            .map(|e| match (form, e.absent) {
                (ListForm::Guarded, Some(absent)) => {
                    format!("has({a}) ? {a} : {absent}", a = e.attribute)
                }
                _ => e.attribute.to_string(),
            })
            .collect();
        format!("[{}]", parts.join(", "))
    }

    /// Fill the facts from the answer's elements (each element's bytes, in list order); the
    /// listener direction is `Unspecified` unless the query asked for it. Nothing is written
    /// unless the whole answer has the expected shape.
    pub fn apply(
        &self,
        elements: &[&[u8]],
        request: &mut RequestFacts,
        response: &mut ResponseFacts,
    ) -> Result<ListenerDirection, StreamEndError> {
        let want = self.elements().count();
        if elements.len() != want {
            return Err(StreamEndError::Count {
                want,
                got: elements.len(),
            });
        }
        for (element, bytes) in self.elements().zip(elements) {
            if element.kind.is_integer() && bytes.len() != 8 {
                return Err(StreamEndError::NotAnInteger {
                    element: element.attribute,
                    len: bytes.len(),
                });
            }
        }
        let mut direction = ListenerDirection::Unspecified;
        for (element, bytes) in self.elements().zip(elements) {
            let int = || int64(bytes);
            let text = || String::from_utf8(bytes.to_vec()).unwrap_or_default();
            match element.kind {
                Kind::StartTime => request.start_unix_nano = u64::try_from(int()).unwrap_or(0),
                Kind::Protocol => request.protocol = text(),
                Kind::ClientAddress => request.client_address = text(),
                Kind::StatusCode => response.status_code = u16::try_from(int()).unwrap_or(0),
                Kind::ResponseFlags => response.response_flags = u64::try_from(int()).unwrap_or(0),
                Kind::UpstreamCluster => response.upstream_cluster = text(),
                Kind::UpstreamAddress => response.upstream_address = text(),
                Kind::RouteName => response.route_name = text(),
                Kind::ListenerDirection => direction = ListenerDirection::from_raw(int()),
            }
        }
        Ok(direction)
    }

    /// Fill the same facts one property at a time, for hosts without CEL: `read` gets each
    /// attribute's property path (`["request", "time"]`) and answers its bytes, encoded as in the
    /// list. An absent property, or an integer that is not 8 bytes, counts as empty / zero.
    pub fn apply_each(
        &self,
        mut read: impl FnMut(&[&str]) -> Option<Vec<u8>>,
        request: &mut RequestFacts,
        response: &mut ResponseFacts,
    ) -> ListenerDirection {
        let answers: Vec<Vec<u8>> = self
            .elements()
            .map(|e| {
                let path: Vec<&str> = e.attribute.split('.').collect();
                let bytes = read(&path).unwrap_or_default();
                if e.kind.is_integer() && bytes.len() != 8 {
                    0_i64.to_le_bytes().to_vec()
                } else {
                    bytes
                }
            })
            .collect();
        let slices: Vec<&[u8]> = answers.iter().map(Vec::as_slice).collect();
        // Every answer has the list's shape by now, so this cannot fail; if it did, the facts
        // stay as they were and the direction unspecified.
        self.apply(&slices, request, response)
            .unwrap_or(ListenerDirection::Unspecified)
    }
}

impl Kind {
    fn is_integer(self) -> bool {
        matches!(
            self,
            Kind::StartTime | Kind::StatusCode | Kind::ResponseFlags | Kind::ListenerDirection
        )
    }
}

/// An 8-byte little-endian int64 (length checked by the caller).
fn int64(bytes: &[u8]) -> i64 {
    bytes
        .get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, i64::from_le_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(with_direction: bool) -> Vec<Vec<u8>> {
        let mut out = vec![
            1_700_000_000_123_456_789_i64.to_le_bytes().to_vec(),
            b"HTTP/1.1".to_vec(),
            b"10.0.0.7:51234".to_vec(),
            503_i64.to_le_bytes().to_vec(),
            0x10_i64.to_le_bytes().to_vec(),
            b"backend".to_vec(),
            b"10.0.0.9:8080".to_vec(),
            b"".to_vec(),
        ];
        if with_direction {
            out.push(1_i64.to_le_bytes().to_vec());
        }
        out
    }

    fn apply(
        query: StreamEndQuery,
        elements: &[Vec<u8>],
    ) -> (
        Result<ListenerDirection, StreamEndError>,
        RequestFacts,
        ResponseFacts,
    ) {
        let slices: Vec<&[u8]> = elements.iter().map(Vec::as_slice).collect();
        let (mut req, mut resp) = (RequestFacts::default(), ResponseFacts::default());
        let result = query.apply(&slices, &mut req, &mut resp);
        (result, req, resp)
    }

    #[test]
    fn the_expression_lists_every_fact_in_order() {
        let e = StreamEndQuery::new(false).expression(ListForm::Guarded);
        assert!(e.starts_with("[request.time, has(request.protocol)"), "{e}");
        assert!(
            e.ends_with("has(xds.route_name) ? xds.route_name : '']"),
            "{e}"
        );
        assert!(!e.contains("listener_direction"));
        let with = StreamEndQuery::new(true).expression(ListForm::Guarded);
        assert!(with.ends_with("xds.listener_direction : 0]"), "{with}");
        assert_eq!(
            StreamEndQuery::new(true).expression(ListForm::Bare),
            "[request.time, request.protocol, source.address, response.code, response.flags, \
             xds.cluster_name, upstream.address, xds.route_name, xds.listener_direction]"
        );
    }

    #[test]
    fn a_failed_bare_list_sends_the_next_requests_to_the_guarded_one() {
        let mut choice = ListFormChoice::default();
        assert_eq!(choice.first(), ListForm::Bare);
        choice.observe(false);
        assert_eq!(choice.first(), ListForm::Bare);
        choice.observe(true);
        for _ in 0..GUARDED_AFTER_FAILURE {
            assert_eq!(choice.first(), ListForm::Guarded);
            choice.observe(false);
        }
        assert_eq!(choice.first(), ListForm::Bare, "tried again");
    }

    #[test]
    fn an_answer_fills_the_facts() {
        let (result, req, resp) = apply(StreamEndQuery::new(false), &answer(false));
        assert_eq!(result, Ok(ListenerDirection::Unspecified));
        assert_eq!(req.start_unix_nano, 1_700_000_000_123_456_789);
        assert_eq!(req.protocol, "HTTP/1.1");
        assert_eq!(req.client_address, "10.0.0.7:51234");
        assert_eq!(resp.status_code, 503);
        assert_eq!(resp.response_flags, 0x10);
        assert_eq!(resp.upstream_cluster, "backend");
        assert_eq!(resp.upstream_address, "10.0.0.9:8080");
        assert_eq!(resp.route_name, "");
    }

    #[test]
    fn the_direction_is_read_only_when_asked_for() {
        let (result, ..) = apply(StreamEndQuery::new(true), &answer(true));
        assert_eq!(result, Ok(ListenerDirection::Inbound));
    }

    #[test]
    fn a_misshapen_answer_writes_nothing() {
        let (result, req, resp) = apply(StreamEndQuery::new(true), &answer(false));
        assert_eq!(result, Err(StreamEndError::Count { want: 9, got: 8 }));
        assert_eq!(
            (req, resp),
            (RequestFacts::default(), ResponseFacts::default())
        );

        let mut short_int = answer(false);
        short_int[3] = b"503".to_vec();
        let (result, req, _) = apply(StreamEndQuery::new(false), &short_int);
        assert_eq!(
            result,
            Err(StreamEndError::NotAnInteger {
                element: "response.code",
                len: 3
            })
        );
        assert_eq!(req, RequestFacts::default());
    }

    #[test]
    fn out_of_range_numbers_read_as_unknown() {
        let mut odd = answer(false);
        odd[0] = (-5_i64).to_le_bytes().to_vec();
        odd[3] = 70_000_i64.to_le_bytes().to_vec();
        odd[1] = vec![0xff, 0xfe];
        let (result, req, resp) = apply(StreamEndQuery::new(false), &odd);
        assert!(result.is_ok());
        assert_eq!(req.start_unix_nano, 0);
        assert_eq!(resp.status_code, 0);
        assert_eq!(req.protocol, "");
    }

    #[test]
    fn apply_each_reads_every_attribute_by_its_property_path() {
        let mut asked = Vec::new();
        let (mut req, mut resp) = (RequestFacts::default(), ResponseFacts::default());
        let direction = StreamEndQuery::new(true).apply_each(
            |path| {
                asked.push(path.join("."));
                match path {
                    ["response", "code"] => Some(200_i64.to_le_bytes().to_vec()),
                    ["upstream", "address"] => Some(b"10.0.0.9:8080".to_vec()),
                    // Not an 8-byte integer: read as zero, and the rest is still used.
                    ["response", "flags"] => Some(vec![1, 2, 3]),
                    ["xds", "listener_direction"] => Some(2_i64.to_le_bytes().to_vec()),
                    _ => None,
                }
            },
            &mut req,
            &mut resp,
        );
        assert_eq!(
            asked,
            [
                "request.time",
                "request.protocol",
                "source.address",
                "response.code",
                "response.flags",
                "xds.cluster_name",
                "upstream.address",
                "xds.route_name",
                "xds.listener_direction"
            ]
        );
        assert_eq!(resp.status_code, 200);
        assert_eq!(resp.response_flags, 0);
        assert_eq!(resp.upstream_address, "10.0.0.9:8080");
        assert_eq!(resp.upstream_cluster, "");
        assert_eq!(req.start_unix_nano, 0);
        assert_eq!(direction, ListenerDirection::Outbound);
    }
}
