//! Every read policy of the hop, as tables: a scripted host answers from its state and records each
//! read, and each row names the reads a phase must make, in order.

use super::*;
use crate::host_pairs;
use std::collections::BTreeMap;

const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const TRACEPARENT_UNSAMPLED: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";
const GUARDED: u32 = 1;
const BARE: u32 = 2;

/// A host with request and response headers, properties and (optionally) CEL, recording reads.
struct ScriptedHost {
    config: String,
    request: Vec<(String, String)>,
    response: Vec<(String, String)>,
    properties: BTreeMap<String, Vec<u8>>,
    cel: bool,
    /// Answer every evaluation with this many elements (a host that misreads the list).
    misshapen_cel: bool,
    expressions: BTreeMap<u32, String>,
    call_response: Vec<(String, String)>,
    clock: u64,
    reads: Vec<String>,
}

impl ScriptedHost {
    fn new(config: &str) -> Self {
        ScriptedHost {
            config: config.to_owned(),
            request: vec![
                (":method".into(), "GET".into()),
                (":path".into(), "/checkout?id=1".into()),
                (":authority".into(), "shop.example:8080".into()),
            ],
            response: vec![(":status".into(), "200".into())],
            properties: stream_properties(200),
            cel: true,
            misshapen_cel: false,
            expressions: BTreeMap::new(),
            call_response: Vec::new(),
            clock: 1_700_000_000_000_000_000,
            reads: Vec::new(),
        }
    }

    fn with_header(mut self, name: &str, value: &str) -> Self {
        self.request.push((name.into(), value.into()));
        self
    }

    /// The reads recorded since the last call.
    fn take_reads(&mut self) -> Vec<String> {
        std::mem::take(&mut self.reads)
    }

    fn evaluate(&self, token: u32) -> Option<Vec<u8>> {
        let expression = self.expressions.get(&token)?;
        let inner = expression.strip_prefix('[')?.strip_suffix(']')?;
        let mut elements = Vec::new();
        for part in inner.split(", ") {
            let value = match part.strip_prefix("has(") {
                Some(rest) => {
                    let (attr, rest) = rest.split_once(") ? ")?;
                    let default = rest.rsplit_once(" : ")?.1;
                    self.properties.get(attr).cloned().unwrap_or_else(|| {
                        if default == "''" {
                            Vec::new()
                        } else {
                            default.parse::<i64>().unwrap().to_le_bytes().to_vec()
                        }
                    })
                }
                // An absent attribute fails the whole bare list, as in Envoy.
                None => self.properties.get(part)?.clone(),
            };
            elements.push((value, Vec::new()));
        }
        if self.misshapen_cel {
            elements.pop();
        }
        Some(host_pairs::encode(&elements))
    }
}

fn stream_properties(status: i64) -> BTreeMap<String, Vec<u8>> {
    let mut p = BTreeMap::new();
    p.insert(
        "request.time".into(),
        1_699_999_999_000_000_000_i64.to_le_bytes().to_vec(),
    );
    p.insert("request.protocol".into(), b"HTTP/1.1".to_vec());
    p.insert("source.address".into(), b"10.0.0.7:51234".to_vec());
    p.insert("response.code".into(), status.to_le_bytes().to_vec());
    p.insert("response.flags".into(), 0_i64.to_le_bytes().to_vec());
    p.insert("xds.cluster_name".into(), b"backend".to_vec());
    p.insert("upstream.address".into(), b"10.0.0.9:8080".to_vec());
    p.insert("xds.route_name".into(), b"checkout".to_vec());
    p.insert(
        "xds.listener_direction".into(),
        0_i64.to_le_bytes().to_vec(),
    );
    p.insert("response.code_details".into(), b"via_upstream".to_vec());
    p
}

fn first_line(lines: &[(String, String)], name: &str) -> Option<Vec<u8>> {
    lines
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_bytes().to_vec())
}

impl HostReads for ScriptedHost {
    fn read(&mut self, read: Read<'_>) -> Option<Vec<u8>> {
        let (label, answer) = match read {
            Read::RequestHeader(name) => {
                (format!("request {name}"), first_line(&self.request, name))
            }
            Read::RequestHeaderMap => (
                "request map".into(),
                Some(host_pairs::encode(&self.request)),
            ),
            Read::ResponseHeader(name) => {
                (format!("response {name}"), first_line(&self.response, name))
            }
            Read::ResponseHeaderMap => (
                "response map".into(),
                Some(host_pairs::encode(&self.response)),
            ),
            Read::Property(path) => {
                let key = path.join(".");
                (
                    format!("property {key}"),
                    self.properties.get(&key).cloned(),
                )
            }
            Read::CompileExpression(text) => {
                let token = if text.contains("has(") { GUARDED } else { BARE };
                if self.cel {
                    self.expressions.insert(token, text.to_owned());
                }
                (
                    "compile".into(),
                    self.cel.then(|| token.to_le_bytes().to_vec()),
                )
            }
            Read::EvaluateExpression(token) => {
                let name = if token == GUARDED { "guarded" } else { "bare" };
                (format!("evaluate {name}"), self.evaluate(token))
            }
            Read::CallResponseHeader(name) => (
                format!("call {name}"),
                first_line(&self.call_response, name),
            ),
            Read::CallResponseBody(_) => ("call body".into(), Some(Vec::new())),
            Read::PluginConfiguration => (
                "configuration".into(),
                Some(self.config.as_bytes().to_vec()),
            ),
        };
        self.reads.push(label);
        answer
    }

    fn now_ns(&mut self) -> u64 {
        self.reads.push("clock".into());
        self.clock += 1_000_000;
        self.clock
    }
}

fn vm(host: &mut ScriptedHost) -> Vm {
    let vm = Vm::configure(host, [7; 32]).unwrap();
    host.take_reads();
    vm
}

fn metric(vm: &Vm, name: &str) -> u64 {
    vm.pipeline
        .metric_values()
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, _, v)| *v)
        .unwrap()
}

/// One request through every phase; the reads of each phase.
fn request(vm: &mut Vm, host: &mut ScriptedHost) -> [Vec<String>; 3] {
    let mut stream = HopStream::default();
    vm.request_headers(&mut stream, host);
    let at_request = host.take_reads();
    vm.response_headers(&mut stream, host);
    let at_response = host.take_reads();
    vm.stream_end(stream, host);
    [at_request, at_response, host.take_reads()]
}

/// Unsampled, nothing kept: what an unsampled request cost before `keep` existed.
const OFF: &str = r#"{"sampler":"always_off","keep":{"errors":false}}"#;
/// Unsampled with the default `keep` (errors kept).
const KEEP: &str = r#"{"sampler":"always_off"}"#;
/// Unsampled, errors and requests of 100 ms or more kept.
const SLOW: &str = r#"{"sampler":"always_off","keep":{"slower_than_ms":100}}"#;
const ON: &str = r#"{"sampler":"always_on"}"#;
/// Rules that match the scripted request (`GET /checkout?id=1`): never, and sampling it.
const RULES_OFF: &str = r#"{"sampler":"always_off","keep":{"errors":false},
    "sampling":{"rules":[{"match":{"path":"/healthz"},"sampler":"always_off"},
                         {"match":{"path_prefix":"/check"},"sampler":"always_off"}]}}"#;
const RULES_ON: &str = r#"{"sampler":"always_off","keep":{"errors":false},
    "sampling":{"rules":[{"match":{"path":"/healthz"},"sampler":"always_off"},
                         {"match":{"path":"/checkout","method":"GET"},"sampler":"always_on"}]}}"#;

const DIRECTION: &str = "property xds.listener_direction";

/// (case, config, request headers, reads at the request headers)
type RequestHeaderCase = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static [&'static str],
);

#[rustfmt::skip]
const REQUEST_HEADER_READS: &[RequestHeaderCase] = &[
    ("no context, unsampled: two empty lookups settle it",
        OFF, &[], &["request traceparent", "request tracestate"]),
    ("a traceparent: the map for every line",
        OFF, &[("traceparent", TRACEPARENT_UNSAMPLED)], &["request traceparent", "request map"]),
    ("a lone tracestate: the map, to remove it",
        OFF, &[("tracestate", "a=b")], &["request traceparent", "request tracestate", "request map"]),
    ("no context, sampled: the map for the span, then the clock",
        ON, &[], &["request traceparent", "request tracestate", "request map", "clock"]),
    ("a sampled parent: one map read serves the decision and the span",
        r#"{}"#, &[("traceparent", TRACEPARENT)], &["request traceparent", "request map", "clock"]),
    ("sampled, the access log on: the same",
        r#"{"sampler":"always_on","expose":{"access_log":true}}"#, &[], &["request traceparent", "request tracestate", "request map", "clock"]),
    ("sampled, an explicit span kind: the SERVER span is named without a read",
        r#"{"sampler":"always_on","span_kind":"server_and_client","expose":{"access_log":true}}"#, &[], &["request traceparent", "request tracestate", "request map", "clock"]),
    ("sampled, server-timing: the direction says whether the hop answers the client",
        r#"{"sampler":"always_on","expose":{"server_timing":true}}"#, &[], &["request traceparent", "request tracestate", DIRECTION, "request map", "clock"]),
    ("unsampled, server-timing: the direction says whether the hop answers the client",
        r#"{"sampler":"always_off","keep":{"errors":false},"expose":{"server_timing":true}}"#, &[], &["request traceparent", "request tracestate", DIRECTION]),
    ("unsampled, trace-id header, explicit span kind: no read",
        r#"{"sampler":"always_off","span_kind":"server","expose":{"trace_id_header":"x-trace-id"}}"#, &[], &["request traceparent", "request tracestate"]),
    ("b3 extraction cannot use the shortcut",
        r#"{"sampler":"always_off","keep":{"errors":false},"propagation":{"extract":["tracecontext","b3"]}}"#, &[], &["request map"]),
    ("keep errors, unsampled: the decision's reads and nothing more",
        KEEP, &[], &["request traceparent", "request tracestate"]),
    ("keep slowness too: the start time",
        SLOW, &[], &["request traceparent", "request tracestate", "clock"]),
    ("rules, unsampled: one map read answers every rule",
        RULES_OFF, &[], &["request map"]),
    ("rules, a context: still the one map read",
        RULES_OFF, &[("traceparent", TRACEPARENT_UNSAMPLED)], &["request map"]),
    ("rules, sampled by a rule: the span reuses the map",
        RULES_ON, &[], &["request map", "clock"]),
];

#[test]
fn request_header_reads() {
    for (case, config, headers, want) in REQUEST_HEADER_READS {
        let mut host = ScriptedHost::new(config);
        for (name, value) in *headers {
            host = host.with_header(name, value);
        }
        let mut vm = vm(&mut host);
        let [at_request, ..] = request(&mut vm, &mut host);
        assert_eq!(at_request, *want, "{case}");
    }
}

#[test]
fn the_rule_that_decided_reaches_the_spans_and_its_counters() {
    let config = r#"{"sampler":"always_off","collector":{"encoding":"json"},
        "batch":{"schedule_delay_ms":1},"sampling":{"rules":[{"match":{"path":"/healthz"},"sampler":"always_off","name":"health"},
                             {"match":{"path_prefix":"/check"},"sampler":"always_on","name":"checkout"},
                             {"match":{"method":"GET"},"sampler":"always_on"}]}}"#;
    let mut host = ScriptedHost::new(config);
    let mut vm = vm(&mut host);
    request(&mut vm, &mut host);
    host.request[1].1 = "/healthz".into();
    request(&mut vm, &mut host);
    host.request[1].1 = "/other".into();
    request(&mut vm, &mut host);
    let spans = exported_json(&mut vm, &host);
    let rules: Vec<_> = spans
        .iter()
        .map(|s| attribute(s, "hoptrace.sampling.rule").cloned())
        .collect();
    let label = |v: &str| Some(serde_json::json!({ "stringValue": v }));
    assert_eq!(
        rules,
        [label("checkout"), label("checkout"), label("2"), label("2")],
        "SERVER and CLIENT of each sampled request; an unnamed rule by its index"
    );
    let counters: Vec<(String, u64)> = vm
        .pipeline
        .rule_metric_values()
        .iter()
        .map(|(n, _, v)| (n.to_string(), *v))
        .collect();
    assert_eq!(
        counters,
        [
            ("hoptrace.requests.matched.health".to_owned(), 1),
            ("hoptrace.requests.sampled.health".to_owned(), 0),
            ("hoptrace.requests.matched.checkout".to_owned(), 1),
            ("hoptrace.requests.sampled.checkout".to_owned(), 1),
        ],
        "named rules only"
    );
}

#[test]
fn a_mesh_of_contexts_switches_to_the_map_first_and_back() {
    let mut host = ScriptedHost::new(OFF).with_header("traceparent", TRACEPARENT_UNSAMPLED);
    let mut vm = vm(&mut host);
    for _ in 0..100 {
        request(&mut vm, &mut host);
    }
    assert_eq!(
        request(&mut vm, &mut host)[0],
        ["request map"],
        "map first in a mesh"
    );
    host.request.retain(|(n, _)| n != "traceparent");
    for _ in 0..100 {
        request(&mut vm, &mut host);
    }
    assert_eq!(
        request(&mut vm, &mut host)[0],
        ["request traceparent", "request tracestate"],
        "lookups first again at the edge"
    );
}

#[test]
fn the_edits_rewrite_the_context_whatever_the_reads() {
    let mut host = ScriptedHost::new(KEEP).with_header("tracestate", "a=b");
    let mut vm = vm(&mut host);
    let mut stream = HopStream::default();
    let edits = vm.request_headers(&mut stream, &mut host);
    assert!(!stream.recording());
    assert_eq!(
        edits.upstream.remove,
        ["tracestate"],
        "a lone tracestate is removed"
    );
    assert_eq!(edits.upstream.sets().count(), 1, "one traceparent");
}

#[rustfmt::skip]
const RESPONSE_HEADER_READS: &[(&str, &str, &[&str])] = &[
    ("unsampled: nothing",                      OFF, &[]),
    ("keep errors, unsampled: the status",      KEEP, &["response :status"]),
    ("keep slowness too: the first byte and the status", SLOW, &["clock", "response :status"]),
    ("sampled: the first byte's time",          ON,  &["clock"]),
    ("on_error: and :status, to decide the end",
        r#"{"sampler":"always_on","attributes":{"stream_info":"on_error"}}"#, &["clock", "response :status"]),
    ("captured response headers: the map",
        r#"{"sampler":"always_on","attributes":{"response_headers":{"x-cache":"app.cache"}}}"#, &["clock", "response map"]),
];

#[test]
fn response_header_reads() {
    for (case, config, want) in RESPONSE_HEADER_READS {
        let mut host = ScriptedHost::new(config);
        let mut vm = vm(&mut host);
        let [_, at_response, _] = request(&mut vm, &mut host);
        assert_eq!(at_response, *want, "{case}");
    }
}

const EIGHT_PROPERTIES: [&str; 8] = [
    "property request.time",
    "property request.protocol",
    "property source.address",
    "property response.code",
    "property response.flags",
    "property xds.cluster_name",
    "property upstream.address",
    "property xds.route_name",
];

/// (case, config, CEL on, response status, absent property, reads at stream end)
type StreamEndCase = (
    &'static str,
    &'static str,
    bool,
    i64,
    Option<&'static str>,
    &'static [&'static str],
);

#[rustfmt::skip]
const STREAM_END_READS: &[StreamEndCase] = &[
    ("unsampled: nothing",                          OFF, true, 200, None, &[]),
    ("keep errors, unsampled 200: nothing read, nothing built", KEEP, true, 200, None, &[]),
    ("keep slowness too, unsampled fast 200: the clock", SLOW, true, 200, None, &["clock"]),
    ("sampled 200: one bare list",                  r#"{"sampler":"always_on","span_kind":"server"}"#, true, 200, None, &["clock", "evaluate bare"]),
    ("503: the list, then code_details",            r#"{"sampler":"always_on","span_kind":"server"}"#, true, 503, None, &["clock", "evaluate bare", "property response.code_details"]),
    ("no response: code_details too",               r#"{"sampler":"always_on","span_kind":"server"}"#, true, 0, None, &["clock", "evaluate bare", "property response.code_details"]),
    ("404: no code_details",                        r#"{"sampler":"always_on","span_kind":"server"}"#, true, 404, None, &["clock", "evaluate bare"]),
    ("an absent attribute: bare fails, guarded answers",
                                                    r#"{"sampler":"always_on","span_kind":"server"}"#, true, 503, Some("upstream.address"),
                                                    &["clock", "evaluate bare", "evaluate guarded", "property response.code_details"]),
    ("auto span kind: the direction is in the list", ON, true, 200, None, &["clock", "evaluate bare"]),
    ("on_error, 200: no stream info, only the direction span_kind auto needs",
                                                    r#"{"sampler":"always_on","attributes":{"stream_info":"on_error"}}"#, true, 200, None,
                                                    &["clock", "property xds.listener_direction"]),
    ("on_error, 200, explicit span kind: no read at all",
                                                    r#"{"sampler":"always_on","span_kind":"server","attributes":{"stream_info":"on_error"}}"#, true, 200, None, &["clock"]),
];

fn stream_end_case(
    config: &str,
    cel: bool,
    status: i64,
    absent: Option<&str>,
) -> (Vec<String>, Vm, ScriptedHost) {
    let mut host = ScriptedHost::new(config);
    host.cel = cel;
    host.properties = stream_properties(status);
    host.response = vec![(":status".into(), status.to_string())];
    if let Some(name) = absent {
        host.properties.remove(name);
    }
    let mut vm = vm(&mut host);
    let [.., at_end] = request(&mut vm, &mut host);
    (at_end, vm, host)
}

#[test]
fn stream_end_reads() {
    for (case, config, cel, status, absent, want) in STREAM_END_READS {
        let (at_end, vm, _) = stream_end_case(config, *cel, *status, *absent);
        assert_eq!(at_end, *want, "{case}");
        let sampled = config.contains("always_on");
        assert_eq!(
            metric(&vm, "hoptrace.spans.sampled") > 0,
            sampled,
            "{case}: spans queued"
        );
    }
}

#[test]
fn without_cel_each_fact_is_one_property_read() {
    let (at_end, _, _) = stream_end_case(
        r#"{"sampler":"always_on","span_kind":"server"}"#,
        false,
        200,
        None,
    );
    let mut want = vec!["clock"];
    want.extend(EIGHT_PROPERTIES);
    assert_eq!(at_end, want);
    let (at_end, _, _) = stream_end_case(ON, false, 503, None);
    want.extend([
        "property xds.listener_direction",
        "property response.code_details",
    ]);
    assert_eq!(
        at_end, want,
        "with the direction, and code_details for a 503"
    );
}

#[test]
fn after_a_failed_bare_list_the_next_requests_go_to_the_guarded_one() {
    let config = r#"{"sampler":"always_on","span_kind":"server"}"#;
    let (_, mut vm, mut host) = stream_end_case(config, true, 200, Some("upstream.address"));
    let [.., at_end] = request(&mut vm, &mut host);
    assert_eq!(at_end, ["clock", "evaluate guarded"]);
}

#[test]
fn an_unusable_list_falls_back_to_properties_for_good_with_one_warning() {
    let mut host = ScriptedHost::new(r#"{"sampler":"always_on","span_kind":"server"}"#);
    host.misshapen_cel = true;
    let mut vm = vm(&mut host);
    let [.., at_end] = request(&mut vm, &mut host);
    let mut want = vec!["clock", "evaluate bare", "evaluate guarded"];
    want.extend(EIGHT_PROPERTIES);
    assert_eq!(at_end, want);
    let [.., next] = request(&mut vm, &mut host);
    assert_eq!(
        next.len(),
        1 + EIGHT_PROPERTIES.len(),
        "no more evaluations: {next:?}"
    );
    let logs = vm.tick(host.clock).logs;
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert!(logs[0].contains("stream-end CEL list unusable"), "{logs:?}");
}

#[test]
fn a_full_queue_counts_spans_without_reading_or_building_them() {
    let mut host = ScriptedHost::new(
        r#"{"sampler":"always_on","batch":{"max_queue_size":2,"max_export_batch_size":2}}"#,
    );
    let mut vm = vm(&mut host);
    request(&mut vm, &mut host);
    let [.., at_end] = request(&mut vm, &mut host);
    assert_eq!(at_end, ["clock", "property xds.listener_direction"]);
    assert_eq!(metric(&vm, "hoptrace.spans.dropped.queue_full"), 2);
    assert_eq!(metric(&vm, "hoptrace.queue.spans"), 2);
}

#[test]
fn the_stream_end_facts_reach_the_spans() {
    let mut host = ScriptedHost::new(
        r#"{"sampler":"always_on","span_kind":"server","collector":{"encoding":"json"},"batch":{"max_export_batch_size":1}}"#,
    );
    let mut vm = vm(&mut host);
    request(&mut vm, &mut host);
    let exports = vm.tick(host.clock).exports;
    let body = String::from_utf8(exports[0].body.clone()).unwrap();
    for fact in ["GET checkout", "10.0.0.9", "backend", "10.0.0.7", "\"1.1\""] {
        assert!(body.contains(fact), "{fact} in {body}");
    }
}

#[test]
fn configure_reads_the_configuration_node_metadata_and_compiles_both_lists() {
    let mut host = ScriptedHost::new("{}");
    host.properties.insert(
        "xds.node.metadata.WORKLOAD_NAME".into(),
        b"reviews-v1".to_vec(),
    );
    let mut vm = Vm::configure(&mut host, [1; 32]).unwrap();
    assert_eq!(
        host.take_reads(),
        [
            "configuration",
            "property xds.node.metadata.WORKLOAD_NAME",
            "property xds.node.metadata.NAME",
            "property xds.node.metadata.NAMESPACE",
            "property xds.node.metadata.CLUSTER_ID",
            "property xds.node.metadata.OWNER",
            "compile",
            "compile",
            "clock",
        ]
    );
    assert!(vm.drain_logs().is_empty());
    assert_eq!(vm.collector_cluster(), "otlp_collector");
}

#[test]
fn configure_without_cel_says_so_once() {
    let mut host = ScriptedHost::new("{}");
    host.cel = false;
    let mut vm = Vm::configure(&mut host, [1; 32]).unwrap();
    assert_eq!(vm.drain_logs(), [NO_CEL_WARNING]);
}

#[test]
fn a_bad_configuration_is_refused_with_the_field_named() {
    let mut host = ScriptedHost::new(r#"{"batch":{"max_export_batch_size":0}}"#);
    let err = Vm::configure(&mut host, [1; 32]).err().unwrap();
    assert!(
        err.to_string().contains("batch.max_export_batch_size"),
        "{err}"
    );
}

#[test]
fn callout_answers_are_read_only_for_a_token_in_flight() {
    let mut host =
        ScriptedHost::new(r#"{"sampler":"always_on","batch":{"max_export_batch_size":2}}"#);
    let mut vm = vm(&mut host);
    request(&mut vm, &mut host);
    let export = vm.tick(host.clock).exports.remove(0);
    vm.dispatched(export.id, Some(9), host.clock);
    host.take_reads();
    assert!(vm.callout_answered(3, 0, &mut host).is_empty());
    assert!(
        host.take_reads().is_empty(),
        "an unknown token reads nothing"
    );

    host.call_response = vec![
        (":status".into(), "503".into()),
        ("retry-after".into(), "1".into()),
    ];
    vm.callout_answered(9, 10, &mut host);
    assert_eq!(
        host.take_reads(),
        ["call :status", "call retry-after", "call body", "clock"]
    );
    assert_eq!(metric(&vm, "hoptrace.exports.retried"), 1);
    assert_eq!(vm.pipeline.tokens_in_flight(), 0);
}

#[test]
fn a_refused_dispatch_is_retried_later() {
    let mut host =
        ScriptedHost::new(r#"{"sampler":"always_on","batch":{"max_export_batch_size":2}}"#);
    let mut vm = vm(&mut host);
    request(&mut vm, &mut host);
    let export = vm.tick(host.clock).exports.remove(0);
    vm.dispatched(export.id, None, host.clock);
    assert_eq!(metric(&vm, "hoptrace.exports.retried"), 1);
    assert_eq!(metric(&vm, "hoptrace.queue.spans"), 2, "kept for the retry");
}

/// A gateway with the default keep rules (errors kept) at a ratio that samples nothing; JSON so
/// the spans can be read back.
const KEEP_JSON: &str = r#"{"sampler":"always_off","collector":{"encoding":"json"},
    "batch":{"max_export_batch_size":2,"schedule_delay_ms":1}}"#;

fn exported_json(vm: &mut Vm, host: &ScriptedHost) -> Vec<serde_json::Value> {
    vm.tick(host.clock + 1_000_000_000)
        .exports
        .iter()
        .flat_map(|e| {
            let doc: serde_json::Value = serde_json::from_slice(&e.body).unwrap();
            doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
                .as_array()
                .unwrap()
                .clone()
        })
        .collect()
}

fn attribute<'a>(span: &'a serde_json::Value, key: &str) -> Option<&'a serde_json::Value> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| &a["value"])
}

#[test]
fn an_unsampled_503_keeps_this_hops_spans_with_full_attributes() {
    let mut host = ScriptedHost::new(KEEP_JSON).with_header("traceparent", TRACEPARENT_UNSAMPLED);
    host.response = vec![(":status".into(), "503".into())];
    host.properties = stream_properties(503);
    let mut vm = vm(&mut host);
    let mut stream = HopStream::default();
    let edits = vm.request_headers(&mut stream, &mut host);
    vm.response_headers(&mut stream, &mut host);
    host.take_reads();
    vm.stream_end(stream, &mut host);
    assert_eq!(
        host.take_reads(),
        [
            "clock",
            "request map",
            "evaluate bare",
            "property response.code_details"
        ]
    );
    assert_eq!(metric(&vm, "hoptrace.spans.kept.error"), 2);
    assert_eq!(metric(&vm, "hoptrace.spans.sampled"), 0);

    let spans = exported_json(&mut vm, &host);
    assert_eq!(spans.len(), 2, "SERVER and CLIENT on a gateway");
    let upstream_parent = &edits.upstream.traceparent.as_str()[36..52];
    let client = spans.iter().find(|s| s["kind"] == 3).unwrap();
    let server = spans.iter().find(|s| s["kind"] == 2).unwrap();
    assert_eq!(
        client["spanId"], upstream_parent,
        "the id sent upstream is the kept CLIENT span"
    );
    assert_eq!(client["parentSpanId"], server["spanId"]);
    assert_eq!(
        server["parentSpanId"], "b7ad6b7169203331",
        "parented on the caller"
    );
    assert_eq!(server["traceId"], "0af7651916cd43dd8448eb211c80319c");
    for span in [client, server] {
        assert_eq!(
            attribute(span, "sampling.priority").unwrap()["intValue"],
            "1"
        );
        assert_eq!(
            attribute(span, "hoptrace.kept").unwrap()["stringValue"],
            "error"
        );
        assert_eq!(
            attribute(span, "http.response.status_code").unwrap()["intValue"],
            "503"
        );
        assert!(
            attribute(span, "envoy.route.name").is_some(),
            "full attributes"
        );
        assert_eq!(
            span["flags"].as_u64().unwrap() & 1,
            0,
            "the sampled bit as decided"
        );
    }
}

#[test]
fn a_reset_before_any_response_is_kept_as_an_error() {
    let mut host = ScriptedHost::new(KEEP_JSON);
    host.properties = stream_properties(0);
    let mut vm = vm(&mut host);
    let mut stream = HopStream::default();
    vm.request_headers(&mut stream, &mut host);
    vm.stream_end(stream, &mut host);
    assert_eq!(metric(&vm, "hoptrace.spans.kept.error"), 2);
    let spans = exported_json(&mut vm, &host);
    assert!(spans.iter().all(|s| attribute(s, "error.type").is_some()));
}

#[test]
fn a_slow_request_is_kept_when_slowness_is_on() {
    let config = r#"{"sampler":"always_off","keep":{"slower_than_ms":100},"collector":{"encoding":"json"},
        "batch":{"max_export_batch_size":1}}"#;
    for (case, delay_ms, kept) in [("fast", 5, 0), ("slow", 150, 2)] {
        let mut host = ScriptedHost::new(config);
        let mut vm = vm(&mut host);
        let mut stream = HopStream::default();
        vm.request_headers(&mut stream, &mut host);
        vm.response_headers(&mut stream, &mut host);
        host.clock += delay_ms * 1_000_000;
        vm.stream_end(stream, &mut host);
        assert_eq!(metric(&vm, "hoptrace.spans.kept.slow"), kept, "{case}");
        if kept > 0 {
            let spans = exported_json(&mut vm, &host);
            assert_eq!(
                attribute(&spans[0], "hoptrace.kept").unwrap()["stringValue"],
                "slow"
            );
        }
    }
}

#[test]
fn kept_spans_carry_no_threshold() {
    let mut host = ScriptedHost::new(KEEP_JSON)
        .with_header("traceparent", TRACEPARENT_UNSAMPLED)
        .with_header("tracestate", "ot=th:8;rv:00000000000001,vendor=x");
    host.response = vec![(":status".into(), "500".into())];
    let mut vm = vm(&mut host);
    request(&mut vm, &mut host);
    let spans = exported_json(&mut vm, &host);
    for span in &spans {
        let state = span["traceState"].as_str().unwrap_or("");
        assert!(!state.contains("th:"), "{state}");
        assert!(
            state.contains("rv:00000000000001") && state.contains("vendor=x"),
            "{state}"
        );
    }
}

#[test]
fn a_storm_of_503s_is_capped_by_the_keep_budget_and_every_span_counted() {
    let config = r#"{"sampler":"always_off","span_kind":"server","keep":{"max_per_second":3}}"#;
    let mut host = ScriptedHost::new(config);
    host.response = vec![(":status".into(), "503".into())];
    let mut vm = vm(&mut host);
    for _ in 0..20 {
        request(&mut vm, &mut host);
    }
    assert_eq!(metric(&vm, "hoptrace.spans.kept.error"), 20);
    assert_eq!(metric(&vm, "hoptrace.spans.dropped.keep_limit"), 17);
    assert_eq!(metric(&vm, "hoptrace.queue.spans"), 3);
    let [.., at_end] = request(&mut vm, &mut host);
    assert_eq!(
        at_end,
        ["clock"],
        "over the budget nothing is read (explicit span kind)"
    );
}

#[test]
fn a_kept_request_that_ends_well_builds_nothing_and_keep_off_watches_nothing() {
    let mut host = ScriptedHost::new(KEEP);
    let mut vm = vm(&mut host);
    let mut stream = HopStream::default();
    vm.request_headers(&mut stream, &mut host);
    assert!(stream.active() && !stream.recording());
    let mut host = ScriptedHost::new(OFF);
    let mut off = self::vm(&mut host);
    let mut stream = HopStream::default();
    off.request_headers(&mut stream, &mut host);
    assert!(!stream.active());
}

/// Recorded spans are all exported, dropped or still queued.
fn accounted(vm: &Vm) -> bool {
    let dropped: u64 = [
        "queue_full",
        "too_large",
        "export_failed",
        "rejected",
        "keep_limit",
        "shutdown",
    ]
    .iter()
    .map(|r| metric(vm, &format!("hoptrace.spans.dropped.{r}")))
    .sum();
    let recorded = metric(vm, "hoptrace.spans.sampled")
        + metric(vm, "hoptrace.spans.kept.error")
        + metric(vm, "hoptrace.spans.kept.slow");
    recorded == metric(vm, "hoptrace.spans.exported") + dropped + metric(vm, "hoptrace.queue.spans")
}

/// Sampled, one batch at a time, a delay no test reaches: spans wait in the queue until drained.
const DRAIN: &str = r#"{"sampler":"always_on","collector":{"timeout_ms":2000},
    "batch":{"max_export_batch_size":4,"schedule_delay_ms":60000}}"#;

const MS: u64 = 1_000_000;

#[test]
fn a_root_told_it_is_done_with_nothing_held_is_drained_at_once() {
    let mut host = ScriptedHost::new(DRAIN);
    let mut vm = vm(&mut host);
    let work = vm.done(host.clock);
    assert!(work.drained && work.exports.is_empty());
}

#[test]
fn a_done_root_sends_everything_at_once_and_then_says_so() {
    let mut host = ScriptedHost::new(DRAIN);
    let mut vm = vm(&mut host);
    request(&mut vm, &mut host);
    assert!(
        vm.tick(host.clock).exports.is_empty(),
        "the batch delay holds"
    );
    for _ in 0..4 {
        request(&mut vm, &mut host);
    }
    let mut due = vm.done(host.clock).exports;
    let mut sizes = Vec::new();
    host.call_response = vec![(":status".into(), "200".into())];
    for token in 1.. {
        assert!(due.len() <= 1, "one export in flight at a time");
        let Some(export) = due.pop() else { break };
        assert!(!vm.drained());
        sizes.push(export.span_count);
        vm.dispatched(export.id, Some(token), host.clock);
        // The freed slot takes the next batch at once, without waiting for a tick.
        due = vm.callout_answered(token, 0, &mut host);
    }
    assert_eq!(sizes, [4, 4, 2], "no batch delay");
    let work = vm.tick(host.clock);
    assert!(work.drained);
    assert_eq!(metric(&vm, "hoptrace.spans.exported"), 10);
    assert_eq!(metric(&vm, "hoptrace.queue.spans"), 0);
    assert_eq!(metric(&vm, "hoptrace.queue.bytes"), 0);
    assert!(accounted(&vm));
}

#[test]
fn what_a_done_root_cannot_send_by_its_deadline_is_counted_as_shutdown() {
    // A retry due after the deadline is not waited for.
    let mut host = ScriptedHost::new(DRAIN);
    let mut vm = vm(&mut host);
    for _ in 0..3 {
        request(&mut vm, &mut host);
    }
    let work = vm.done(host.clock);
    vm.dispatched(work.exports[0].id, Some(1), host.clock);
    host.call_response = vec![
        (":status".into(), "503".into()),
        ("retry-after".into(), "30".into()),
    ];
    let next = vm.callout_answered(1, 0, &mut host);
    assert_eq!(metric(&vm, "hoptrace.spans.dropped.shutdown"), 4);
    assert_eq!(next.len(), 1, "the rest goes in the freed slot");
    vm.dispatched(next[0].id, Some(2), host.clock);
    host.call_response = vec![(":status".into(), "200".into())];
    assert!(vm.callout_answered(2, 0, &mut host).is_empty());
    assert!(vm.drained());
    assert_eq!(metric(&vm, "hoptrace.spans.exported"), 2);
    assert!(accounted(&vm));

    // A callout still unanswered at the deadline.
    let mut host = ScriptedHost::new(DRAIN);
    let mut late = super::tests::vm(&mut host);
    request(&mut late, &mut host);
    let start = host.clock;
    let work = late.done(start);
    late.dispatched(work.exports[0].id, Some(1), start);
    assert!(
        !late.tick(start + 1_999 * MS).drained,
        "before the deadline"
    );
    let work = late.tick(start + 2_000 * MS);
    assert!(work.drained && work.exports.is_empty());
    assert_eq!(metric(&late, "hoptrace.spans.dropped.shutdown"), 2);
    assert_eq!(metric(&late, "hoptrace.queue.spans"), 0);
    assert!(accounted(&late));
    assert!(
        late.callout_answered(1, 0, &mut host).is_empty(),
        "a late answer finds nothing"
    );
    assert_eq!(metric(&late, "hoptrace.spans.exported"), 0);
}

#[test]
fn a_kept_error_wins_over_a_rule_that_said_no() {
    let config = r#"{"sampler":"always_on","collector":{"encoding":"json"},
        "batch":{"max_export_batch_size":2,"schedule_delay_ms":1},
        "sampling":{"rules":[{"name":"checkout","match":{"path_prefix":"/checkout"},"sampler":"always_off"}]}}"#;
    let mut host = ScriptedHost::new(config);
    host.response = vec![(":status".into(), "503".into())];
    host.properties = stream_properties(503);
    let mut vm = vm(&mut host);
    request(&mut vm, &mut host);
    assert_eq!(metric(&vm, "hoptrace.spans.sampled"), 0, "the rule said no");
    assert_eq!(metric(&vm, "hoptrace.spans.kept.error"), 2);
    let spans = exported_json(&mut vm, &host);
    for span in &spans {
        assert_eq!(
            attribute(span, "hoptrace.kept"),
            Some(&serde_json::json!({"stringValue": "error"}))
        );
        assert_eq!(
            attribute(span, "hoptrace.sampling.rule"),
            Some(&serde_json::json!({"stringValue": "checkout"})),
            "the rule that decided is still named"
        );
    }
}

/// (case, config, listener direction, `:status`, `server-timing` flags wanted or none, `recorded`).
/// Every request starts a trace, so the random flag is set.
type ExposeCase = (
    &'static str,
    &'static str,
    i64,
    &'static str,
    Option<&'static str>,
    &'static str,
);

#[rustfmt::skip]
const EXPOSE_CASES: &[ExposeCase] = &[
    ("gateway, sampled",            r#"{"sampler":"always_on"}"#,  0, "200", Some("03"), "1"),
    ("gateway, unsampled, kept off",r#"{"sampler":"always_off","keep":{"errors":false}}"#, 0, "200", Some("02"), "0"),
    ("gateway, unsampled 503 kept", r#"{"sampler":"always_off"}"#, 0, "503", Some("03"), "0"),
    ("gateway, unsampled 404",      r#"{"sampler":"always_off"}"#, 0, "404", Some("02"), "0"),
    ("inbound sidecar, sampled",    r#"{"sampler":"always_on"}"#,  1, "200", Some("03"), "1"),
    ("outbound sidecar: no client", r#"{"sampler":"always_on"}"#,  2, "200", None,       "1"),
];

/// A host answering `status` on a listener of `direction` (0 gateway, 1 inbound, 2 outbound).
fn host_answering(config: &str, status: &str, direction: i64) -> ScriptedHost {
    let mut host = ScriptedHost::new(config);
    host.response = vec![(":status".into(), status.into())];
    host.properties = stream_properties(status.parse().unwrap());
    host.properties.insert(
        "xds.listener_direction".into(),
        direction.to_le_bytes().to_vec(),
    );
    host
}

#[test]
fn exposed_ids_match_the_upstream_context_and_the_spans() {
    for (case, config, direction, status, flags, recorded) in EXPOSE_CASES {
        let config = format!(
            r#"{},"expose":{{"server_timing":true,"trace_id_header":"x-trace-id","access_log":true}},"collector":{{"encoding":"json"}},"batch":{{"max_export_batch_size":2,"schedule_delay_ms":1}}}}"#,
            &config[..config.len() - 1]
        );
        let mut host = host_answering(&config, status, *direction);
        let mut vm = vm(&mut host);
        let mut stream = HopStream::default();
        let actions = vm.request_headers(&mut stream, &mut host);
        let sent = actions.upstream.traceparent.as_str().to_owned();
        let (trace, span) = (&sent[3..35], &sent[36..52]);
        let log = actions.access_log.unwrap();
        assert!(
            log.starts_with(&format!("trace_id={trace} span_id={span} server_span_id=")),
            "{case}: {log}"
        );
        assert!(
            log.ends_with(&format!(" recorded={recorded}")),
            "{case}: {log}"
        );
        let edits = vm.response_headers(&mut stream, &mut host);
        vm.stream_end(stream, &mut host);
        let spans = exported_json(&mut vm, &host);
        match flags {
            None => assert!(edits.is_empty(), "{case}: {edits:?}"),
            Some(flags) => {
                let (name, metric) = &edits.add[0];
                assert_eq!(*name, "server-timing", "{case}");
                let server = &metric["trace;desc=00-".len() + 33..][..16];
                assert_eq!(
                    metric,
                    &format!("trace;desc=00-{trace}-{server}-{flags}"),
                    "{case}"
                );
                assert_eq!(
                    edits.replace,
                    [("x-trace-id".to_owned(), trace.to_owned())],
                    "{case}"
                );
                if *direction == 1 {
                    assert_eq!(
                        server, span,
                        "{case}: the one SERVER span is the one sent upstream"
                    );
                }
                if *recorded == "1" {
                    assert!(
                        log.contains(&format!("server_span_id={server} ")),
                        "{case}: {log}"
                    );
                }
                // The SERVER span exported, when there is one, has the id the client was shown.
                let kept_or_sampled = u8::from_str_radix(flags, 16).unwrap() & 1 == 1;
                let server_spans: Vec<_> = spans.iter().filter(|s| s["kind"] == 2).collect();
                if kept_or_sampled {
                    assert_eq!(server_spans.len(), 1, "{case}");
                    assert_eq!(server_spans[0]["spanId"], server, "{case}");
                    assert_eq!(server_spans[0]["traceId"], trace, "{case}");
                } else {
                    assert!(server_spans.is_empty(), "{case}");
                }
            }
        }
    }
}

/// (case, config, listener direction, `:status`, `recorded` at the request headers, whether the
/// stream's end writes the value again)
type AccessLogCase = (
    &'static str,
    &'static str,
    i64,
    &'static str,
    &'static str,
    bool,
);

#[rustfmt::skip]
const ACCESS_LOG_CASES: &[AccessLogCase] = &[
    ("sampled, auto: the SERVER span is named at the end", r#"{"sampler":"always_on"}"#, 0, "200", "1", true),
    ("sampled, explicit kind: named at once",               r#"{"sampler":"always_on","span_kind":"server_and_client"}"#, 0, "200", "1", false),
    ("sampled inbound, auto",                               r#"{"sampler":"always_on"}"#, 1, "200", "1", true),
    ("unsampled, kept 503: recorded after all",             r#"{"sampler":"always_off"}"#, 0, "503", "0", true),
    ("unsampled 200: nothing more",                         r#"{"sampler":"always_off"}"#, 0, "200", "0", false),
    ("access log off",                                      r#"{"sampler":"always_on","expose":{"access_log":false}}"#, 0, "200", "", false),
];

#[test]
fn the_access_log_value_names_the_spans_exported() {
    for (case, config, direction, status, recorded, again) in ACCESS_LOG_CASES {
        // On unless the row turns it off (the later key wins in the shape).
        let config = config.replacen('{', r#"{"expose":{"access_log":true},"#, 1);
        let config = format!(
            r#"{},"collector":{{"encoding":"json"}},"batch":{{"max_export_batch_size":2,"schedule_delay_ms":1}}}}"#,
            &config[..config.len() - 1]
        );
        let mut host = host_answering(&config, status, *direction);
        let mut vm = vm(&mut host);
        let mut stream = HopStream::default();
        let actions = vm.request_headers(&mut stream, &mut host);
        let sent = actions.upstream.traceparent.as_str().to_owned();
        let (trace, span) = (&sent[3..35], &sent[36..52]);
        if recorded.is_empty() {
            assert_eq!(actions.access_log, None, "{case}");
        } else {
            let log = actions.access_log.clone().unwrap();
            assert!(
                log.starts_with(&format!("trace_id={trace} span_id={span} ")),
                "{case}: {log}"
            );
            assert!(
                log.ends_with(&format!(" recorded={recorded}")),
                "{case}: {log}"
            );
        }
        vm.response_headers(&mut stream, &mut host);
        let at_end = vm.stream_end(stream, &mut host);
        assert_eq!(at_end.is_some(), *again, "{case}: {at_end:?}");
        let last = at_end.or(actions.access_log);
        let spans = exported_json(&mut vm, &host);
        if let Some(last) = last.filter(|l| l.ends_with("recorded=1")) {
            let server = spans.iter().find(|s| s["kind"] == 2).unwrap();
            let want = format!(
                "trace_id={trace} span_id={span} server_span_id={} recorded=1",
                server["spanId"].as_str().unwrap()
            );
            assert_eq!(last, want, "{case}");
        }
    }
}
