//! Config tests: the error-case table, defaults, a full config, and a no-panic property.

use super::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

/// (case, configuration, field named, start of the message).
#[rustfmt::skip]
const ERROR_CASES: &[(&str, &str, &str, &str)] = &[
    // The document itself.
    ("bad JSON",                      r#"{"sampler": }"#,                          "configuration", "invalid JSON: expected value at line 1"),
    ("trailing garbage",              r#"{} x"#,                                   "configuration", "invalid JSON: trailing characters"),
    ("not UTF-8",                     "{\"sampler\": \"\u{FFFD}\"}\u{0}",           "configuration", "invalid JSON"),
    ("array document",                r#"[]"#,                                     "configuration", "invalid type: sequence, expected a JSON object"),
    ("string document",               r#""always_on""#,                            "configuration", "invalid type: string \"always_on\", expected a JSON object"),
    ("null document",                 r#"null"#,                                   "configuration", "invalid type: null, expected a JSON object"),
    ("unknown top-level key",         r#"{"sampling_rate": "always_on"}"#,         "configuration", "unknown field \"sampling_rate\", expected one of \"service_name\""),
    // Types, named by path.
    ("sampler not a string",          r#"{"sampler": 1}"#,                         "sampler",       "invalid type: integer \"1\", expected a string"),
    ("sampler an array",              r#"{"sampler": ["always_on"]}"#,             "sampler",       "invalid type: sequence, expected a string"),
    ("sampler an object",             r#"{"sampler": {"a": 1}}"#,                  "sampler",       "invalid type: map, expected a string"),
    ("sampler_arg a string",          r#"{"sampler_arg": "0.5"}"#,                 "sampler_arg",   "invalid type: string \"0.5\", expected f64"),
    ("trust_incoming a string",       r#"{"trust_incoming": "false"}"#,            "trust_incoming","invalid type: string \"false\", expected a boolean"),
    ("service_name a number",         r#"{"service_name": 5}"#,                    "service_name",  "invalid type: integer \"5\""),
    ("resource attribute not string", r#"{"resource_attributes": {"a": "x", "b": 2}}"#, "resource_attributes.b", "invalid type: integer \"2\", expected a string"),
    ("batch not an object",           r#"{"batch": 5}"#,                           "batch",         "invalid type: integer \"5\", expected a JSON object"),
    ("batch an array by position",    r#"{"batch": [1, 2, 3, 4, 5]}"#,             "batch",         "invalid type: sequence, expected a JSON object"),
    ("collector null",                r#"{"collector": null}"#,                    "collector",     "invalid type: null, expected a JSON object"),
    ("unknown key beside valid ones", r#"{"sampler": "always_on", "batch": {"max_queue_size": 10, "max_queue_sise": 1}}"#, "batch", "unknown field \"max_queue_sise\""),
    ("unknown batch key",             r#"{"batch": {"max_queue": 1}}"#,            "batch",         "unknown field \"max_queue\", expected one of \"max_queue_size\""),
    ("unknown keep key",              r#"{"keep": {"error": true}}"#,              "keep",          "unknown field \"error\", expected one of \"errors\""),
    ("keep not an object",            r#"{"keep": true}"#,                         "keep",          "invalid type: boolean \"true\", expected a JSON object"),
    ("keep.errors a string",          r#"{"keep": {"errors": "yes"}}"#,            "keep.errors",   "invalid type: string \"yes\", expected a boolean"),
    ("keep.slower_than_ms negative",  r#"{"keep": {"slower_than_ms": -5}}"#,       "keep.slower_than_ms", "invalid value: integer \"-5\", expected a non-negative whole number"),
    ("keep.slower_than_ms fractional",r#"{"keep": {"slower_than_ms": 2.5}}"#,      "keep.slower_than_ms", "invalid value: floating point \"2.5\", expected a non-negative whole number"),
    ("keep.max_per_second zero",      r#"{"keep": {"max_per_second": 0}}"#,        "keep.max_per_second", "must be > 0, got 0"),
    ("keep.max_per_second too high",  r#"{"keep": {"max_per_second": 1000000}}"#,  "keep.max_per_second", "must be at most 100000"),
    ("unknown collector key",         r#"{"collector": {"cluster": "c", "url": "x"}}"#, "collector", "unknown field \"url\""),
    ("unknown propagation key",       r#"{"propagation": {"extrakt": []}}"#,       "propagation",   "unknown field \"extrakt\""),
    ("unknown attributes key",        r#"{"attributes": {"headers": {}}}"#,        "attributes",    "unknown field \"headers\""),
    ("unknown retry key",             r#"{"retry": {"max_retries": 3}}"#,          "retry",         "unknown field \"max_retries\""),
    ("negative size",                 r#"{"batch": {"max_queue_size": -1}}"#,      "batch.max_queue_size", "invalid value: integer \"-1\", expected a non-negative whole number"),
    ("fractional size",               r#"{"batch": {"max_queue_size": 1.5}}"#,     "batch.max_queue_size", "invalid value: floating point \"1.5\", expected a non-negative whole number"),
    ("size as string",                r#"{"batch": {"max_queue_size": "10"}}"#,    "batch.max_queue_size", "invalid type: string \"10\", expected a non-negative whole number"),
    ("timeout too large",             r#"{"collector": {"timeout_ms": 1e30}}"#,    "collector.timeout_ms", "invalid value: floating point"),
    ("propagator not a string",       r#"{"propagation": {"extract": ["b3", 5]}}"#,"propagation.extract[1]", "invalid type: integer \"5\", expected a string"),
    ("propagators not a list",        r#"{"propagation": {"inject": "b3"}}"#,      "propagation.inject", "invalid type: string \"b3\", expected a sequence"),
    ("collector header not string",   r#"{"collector": {"headers": {"x-a": true}}}"#, "collector.headers.x-a", "invalid type: boolean \"true\", expected a string"),
    // Values.
    ("unknown sampler",               r#"{"sampler": "foo"}"#,                     "sampler",       "unknown sampler \"foo\", expected one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio, parentbased_ratelimited"),
    ("ratio above 1",                 r#"{"sampler": "traceidratio", "sampler_arg": 1.5}"#, "sampler_arg", "must be within [0, 1] for traceidratio, got 1.5"),
    ("ratio below 0",                 r#"{"sampler_arg": -0.1}"#,                  "sampler_arg",   "must be within [0, 1] for parentbased_traceidratio, got -0.1"),
    ("ratio below 2^-56",             r#"{"sampler_arg": 1e-20}"#,                 "sampler_arg",   "must be 0 or at least 2^-56 for parentbased_traceidratio"),
    ("rate 0",                        r#"{"sampler": "parentbased_ratelimited", "sampler_arg": 0}"#, "sampler_arg", "must be > 0 for parentbased_ratelimited"),
    ("negative rate",                 r#"{"sampler": "parentbased_ratelimited", "sampler_arg": -5}"#, "sampler_arg", "must be > 0 for parentbased_ratelimited"),
    ("empty service_name",            r#"{"service_name": ""}"#,                   "service_name",  "must not be empty"),
    ("empty resource attribute key",  r#"{"resource_attributes": {"": "x"}}"#,     "resource_attributes", "must not be empty"),
    ("unknown span_kind",             r#"{"span_kind": "producer"}"#,              "span_kind",     "unknown span kind \"producer\", expected one of auto, server, client, server_and_client"),
    ("unknown stream_info",           r#"{"attributes": {"stream_info": "never"}}"#, "attributes.stream_info", "unknown value \"never\", expected one of always, on_error"),
    ("unknown extract propagator",    r#"{"propagation": {"extract": ["w3c"]}}"#,  "propagation.extract", "unknown propagator \"w3c\", expected one of tracecontext, baggage, b3, b3multi, jaeger"),
    ("unknown inject propagator",     r#"{"propagation": {"inject": ["xray"]}}"#,  "propagation.inject", "unknown propagator \"xray\""),
    ("empty extract",                 r#"{"propagation": {"extract": []}}"#,       "propagation.extract", "must name at least one propagator"),
    ("request header with space",     r#"{"attributes": {"request_headers": {"x a": "a"}}}"#, "attributes.request_headers", "invalid header name \"x a\""),
    ("empty request header",          r#"{"attributes": {"request_headers": {"": "a"}}}"#, "attributes.request_headers", "invalid header name \"\""),
    ("bare colon header",             r#"{"attributes": {"request_headers": {":": "a"}}}"#, "attributes.request_headers", "invalid header name \":\""),
    ("empty attribute name",          r#"{"attributes": {"response_headers": {"x-a": ""}}}"#, "attributes.response_headers", "attribute name for header \"x-a\" must not be empty"),
    ("header listed in two cases",    r#"{"attributes": {"request_headers": {"X-A": "a", "x-a": "b"}}}"#, "attributes.request_headers", "header \"x-a\" is listed twice"),
    ("empty static attribute",        r#"{"attributes": {"static": {"": "v"}}}"#,  "attributes.static", "must not be empty"),
    ("empty cluster",                 r#"{"collector": {"cluster": ""}}"#,         "collector.cluster", "must not be empty"),
    ("empty authority",               r#"{"collector": {"authority": ""}}"#,       "collector.authority", "must not be empty"),
    ("authority with space",          r#"{"collector": {"authority": "a b"}}"#,    "collector.authority", "must not contain spaces"),
    ("relative path",                 r#"{"collector": {"path": "v1/traces"}}"#,   "collector.path", "must start with \"/\", got \"v1/traces\""),
    ("path with newline",             r#"{"collector": {"path": "/v1\ntraces"}}"#, "collector.path", "must not contain spaces or control characters"),
    ("zero timeout",                  r#"{"collector": {"timeout_ms": 0}}"#,       "collector.timeout_ms", "must be > 0, got 0"),
    ("unknown encoding",              r#"{"collector": {"encoding": "thrift"}}"#,  "collector.encoding", "unknown encoding \"thrift\", expected one of protobuf, json"),
    ("unknown compression",           r#"{"collector": {"compression": "zstd"}}"#, "collector.compression", "unknown compression \"zstd\", expected one of none, gzip"),
    ("pseudo-header",                 r#"{"collector": {"headers": {":path": "/x"}}}"#, "collector.headers", "pseudo-header \":path\" cannot be set"),
    ("header name not a token",       r#"{"collector": {"headers": {"a(b)": "x"}}}"#, "collector.headers", "invalid header name \"a(b)\""),
    ("reserved header",               r#"{"collector": {"headers": {"Content-Type": "x"}}}"#, "collector.headers", "\"Content-Type\" is set by the exporter"),
    ("header value with CRLF",        r#"{"collector": {"headers": {"x-a": "1\r\nx-b: 2"}}}"#, "collector.headers", "value of \"x-a\" must not contain control characters"),
    ("collector header twice",        r#"{"collector": {"headers": {"X-Key": "1", "x-key": "2"}}}"#, "collector.headers", "header \"x-key\" is listed twice"),
    ("zero queue size",               r#"{"batch": {"max_queue_size": 0}}"#,       "batch.max_queue_size", "must be > 0, got 0"),
    ("queue bytes too small",         r#"{"batch": {"max_queue_bytes": 1023}}"#,   "batch.max_queue_bytes", "must be >= 1024, got 1023"),
    ("zero batch size",               r#"{"batch": {"max_export_batch_size": 0}}"#, "batch.max_export_batch_size", "must be > 0, got 0"),
    ("batch larger than queue",       r#"{"batch": {"max_queue_size": 100, "max_export_batch_size": 101}}"#, "batch.max_export_batch_size", "must be <= batch.max_queue_size (100), got 101"),
    ("zero schedule delay",           r#"{"batch": {"schedule_delay_ms": 0}}"#,    "batch.schedule_delay_ms", "must be > 0, got 0"),
    ("zero concurrent exports",       r#"{"batch": {"max_concurrent_exports": 0}}"#, "batch.max_concurrent_exports", "must be within [1, 64], got 0"),
    ("too many concurrent exports",   r#"{"batch": {"max_concurrent_exports": 65}}"#, "batch.max_concurrent_exports", "must be within [1, 64], got 65"),
    ("zero initial backoff",          r#"{"retry": {"initial_backoff_ms": 0}}"#,   "retry.initial_backoff_ms", "must be >= 100, got 0"),
    ("backoff below the floor",       r#"{"retry": {"initial_backoff_ms": 1, "max_backoff_ms": 1}}"#, "retry.initial_backoff_ms", "must be >= 100, got 1"),
    ("queue over the VM ceiling",     r#"{"batch": {"max_queue_bytes": 33554432}}"#, "batch.max_queue_bytes", "the worst case per VM is 84.0 MiB (queue 32.0 MiB + in-flight export bodies 32.0 MiB + stream table 20.0 MiB), over the 64 MiB ceiling"),
    ("exports in flight over it",     r#"{"batch": {"max_queue_bytes": 16777216, "max_concurrent_exports": 4}}"#, "batch.max_concurrent_exports", "the worst case per VM is 100.0 MiB"),
    ("authorization captured",        r#"{"attributes": {"request_headers": {"Authorization": "a"}}}"#, "attributes.request_headers", "\"authorization\" carries credentials"),
    ("proxy-authorization captured",  r#"{"attributes": {"request_headers": {"proxy-authorization": "a"}}}"#, "attributes.request_headers", "\"proxy-authorization\" carries credentials"),
    ("cookie captured",               r#"{"attributes": {"request_headers": {"cookie": "a"}}}"#, "attributes.request_headers", "\"cookie\" carries credentials"),
    ("set-cookie captured",           r#"{"attributes": {"response_headers": {"Set-Cookie": "a"}}}"#, "attributes.response_headers", "\"set-cookie\" carries credentials"),
    ("allow_sensitive not a bool",    r#"{"attributes": {"allow_sensitive": 1}}"#, "attributes.allow_sensitive", "invalid type: integer \"1\", expected a boolean"),
    ("trusted_baggage not a bool",    r#"{"propagation": {"trusted_baggage": "yes"}}"#, "propagation.trusted_baggage", "invalid type: string \"yes\", expected a boolean"),
    ("attribute limit too small",     r#"{"limits": {"attribute_value_length": 8}}"#, "limits.attribute_value_length", "must be within [32, 65536] bytes, got 8"),
    ("attribute limit too large",     r#"{"limits": {"attribute_value_length": 1048576}}"#, "limits.attribute_value_length", "must be within [32, 65536] bytes, got 1048576"),
    ("limit too large for a span",    r#"{"limits": {"attribute_value_length": 65536}}"#, "limits.attribute_value_length", "65536 bytes for each of up to 16 string attributes could make a span of"),
    ("unknown limits key",            r#"{"limits": {"attribute_count": 128}}"#,   "limits",        "unknown field \"attribute_count\""),
    ("limits not an object",          r#"{"limits": 1024}"#,                       "limits",        "invalid type: integer \"1024\", expected a JSON object"),
    ("rule path without /", r#"{"sampling": {"rules": [{"match": {"path": "x"}, "sampler": "always_on"}]}}"#, "sampling.rules[0].match.path", "must start with \"/\", got \"x\""),
    ("third rule's prefix without /", r#"{"sampling": {"rules": [{"match": {"path": "/a"}, "sampler": "always_on"}, {"match": {"method": "GET"}, "sampler": "always_off"}, {"match": {"path_prefix": "api"}, "sampler": "always_on"}]}}"#, "sampling.rules[2].match.path_prefix", "must start with \"/\""),
    ("rule path with a query", r#"{"sampling": {"rules": [{"match": {"path": "/a?b=1"}, "sampler": "always_on"}]}}"#, "sampling.rules[0].match.path", "the path is matched without its query"),
    ("rule path and prefix", r#"{"sampling": {"rules": [{"match": {"path": "/a", "path_prefix": "/a"}, "sampler": "always_on"}]}}"#, "sampling.rules[0].match.path_prefix", "give either path or path_prefix, not both"),
    ("rule with an empty match", r#"{"sampling": {"rules": [{"match": {}, "sampler": "always_on"}]}}"#, "sampling.rules[0].match", "must hold at least one of host, path, path_prefix, method, header"),
    ("rule without a match", r#"{"sampling": {"rules": [{"sampler": "always_on"}]}}"#, "sampling.rules[0].match", "must hold at least one of"),
    ("rule without a sampler", r#"{"sampling": {"rules": [{"match": {"method": "GET"}}]}}"#, "sampling.rules[0].sampler", "must be set: one of always_on"),
    ("rule with an unknown sampler", r#"{"sampling": {"rules": [{"match": {"method": "GET"}, "sampler": "sometimes"}]}}"#, "sampling.rules[0].sampler", "unknown sampler \"sometimes\""),
    ("rule ratio out of range", r#"{"sampling": {"rules": [{"match": {"method": "GET"}, "sampler": "traceidratio", "sampler_arg": 2}]}}"#, "sampling.rules[0].sampler_arg", "must be within [0, 1] for traceidratio, got 2.0"),
    ("rule rate not positive", r#"{"sampling": {"rules": [{"match": {"method": "GET"}, "sampler": "parentbased_ratelimited", "sampler_arg": 0}]}}"#, "sampling.rules[0].sampler_arg", "must be > 0 for parentbased_ratelimited"),
    ("rule unknown key", r#"{"sampling": {"rules": [{"match": {"method": "GET"}, "sampler": "always_on", "ratio": 1}]}}"#, "sampling.rules[0]", "unknown field \"ratio\""),
    ("rule unknown match key", r#"{"sampling": {"rules": [{"match": {"route": "x"}, "sampler": "always_on"}]}}"#, "sampling.rules[0].match", "unknown field \"route\""),
    ("rule match not an object", r#"{"sampling": {"rules": [{"match": "/a", "sampler": "always_on"}]}}"#, "sampling.rules[0].match", "invalid type: string"),
    ("rule path not a string", r#"{"sampling": {"rules": [{"match": {"path": 1}, "sampler": "always_on"}]}}"#, "sampling.rules[0].match.path", "invalid type: integer"),
    ("rule host with a port", r#"{"sampling": {"rules": [{"match": {"host": "a.example:80"}, "sampler": "always_on"}]}}"#, "sampling.rules[0].match.host", "\"a.example:80\" must be a host name"),
    ("rule host bare wildcard", r#"{"sampling": {"rules": [{"match": {"host": "*"}, "sampler": "always_on"}]}}"#, "sampling.rules[0].match.host", "\"*\" must be a host name"),
    ("rule host too long", r#"{"sampling": {"rules": [{"match": {"host": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}, "sampler": "always_on"}]}}"#, "sampling.rules[0].match.host", "at most 253 bytes, got 254"),
    ("rule method invalid", r#"{"sampling": {"rules": [{"match": {"method": "GE T"}, "sampler": "always_on"}]}}"#, "sampling.rules[0].match.method", "invalid method \"GE T\""),
    ("rule header pseudo", r#"{"sampling": {"rules": [{"match": {"header": {"name": ":path"}}, "sampler": "always_on"}]}}"#, "sampling.rules[0].match.header.name", "pseudo-header \":path\" cannot be set (use host, path or method"),
    ("rule header name empty", r#"{"sampling": {"rules": [{"match": {"header": {"value": "x"}}, "sampler": "always_on"}]}}"#, "sampling.rules[0].match.header.name", "invalid header name \"\""),
    ("rule header value too long", r#"{"sampling": {"rules": [{"match": {"header": {"name": "x", "value": "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"}}, "sampler": "always_on"}]}}"#, "sampling.rules[0].match.header.value", "at most 1024 bytes, got 1025"),
    ("rule name not metric-safe", r#"{"sampling": {"rules": [{"name": "Check Out", "match": {"method": "GET"}, "sampler": "always_on"}]}}"#, "sampling.rules[0].name", "\"Check Out\" must be 1 to 64 of a-z, 0-9 and _"),
    ("rule name repeated", r#"{"sampling": {"rules": [{"name": "a", "match": {"method": "GET"}, "sampler": "always_on"}, {"name": "a", "match": {"method": "PUT"}, "sampler": "always_on"}]}}"#, "sampling.rules[1].name", "\"a\" names an earlier rule too"),
    ("rules not a list", r#"{"sampling": {"rules": {}}}"#, "sampling.rules", "invalid type: map"),
    ("unknown expose key",            r#"{"expose": {"traceparent": true}}"#,      "expose",        "unknown field \"traceparent\", expected one of \"server_timing\""),
    ("expose not an object",          r#"{"expose": true}"#,                       "expose",        "invalid type: boolean \"true\", expected a JSON object"),
    ("server_timing a string",        r#"{"expose": {"server_timing": "on"}}"#,    "expose.server_timing", "invalid type: string \"on\", expected a boolean"),
    ("access_log a number",           r#"{"expose": {"access_log": 1}}"#,          "expose.access_log", "invalid type: integer \"1\", expected a boolean"),
    ("trace_id_header a bool",        r#"{"expose": {"trace_id_header": true}}"#,  "expose.trace_id_header", "invalid type: boolean \"true\", expected a string"),
    ("trace_id_header empty",         r#"{"expose": {"trace_id_header": ""}}"#,    "expose.trace_id_header", "invalid header name \"\""),
    ("trace_id_header with space",    r#"{"expose": {"trace_id_header": "x trace"}}"#, "expose.trace_id_header", "invalid header name \"x trace\""),
    ("trace_id_header with CRLF",     r#"{"expose": {"trace_id_header": "x-a\r\nx-b"}}"#, "expose.trace_id_header", "invalid header name"),
    ("trace_id_header pseudo",        r#"{"expose": {"trace_id_header": ":status"}}"#, "expose.trace_id_header", "pseudo-header \":status\" cannot be set"),
    ("trace_id_header server-timing", r#"{"expose": {"trace_id_header": "Server-Timing"}}"#, "expose.trace_id_header", "\"Server-Timing\" cannot carry the trace id"),
    ("trace_id_header framing",       r#"{"expose": {"trace_id_header": "content-length"}}"#, "expose.trace_id_header", "\"content-length\" cannot carry the trace id"),
    ("request_id a string",           r#"{"attributes": {"request_id": "yes"}}"#, "attributes.request_id", "invalid type: string \"yes\", expected a boolean"),
    ("max backoff below initial",     r#"{"retry": {"initial_backoff_ms": 2000, "max_backoff_ms": 1000}}"#, "retry.max_backoff_ms", "must be >= retry.initial_backoff_ms (2000), got 1000"),
];

#[test]
fn error_cases_name_the_field() {
    for &(case, json, field, message) in ERROR_CASES {
        let err = parse_config(json.as_bytes()).expect_err(case);
        assert_eq!(err.field, field, "{case}: {err}");
        assert!(
            err.message.starts_with(message),
            "{case}: message {:?} does not start with {message:?}",
            err.message
        );
        assert_eq!(err.to_string(), format!("{}: {}", err.field, err.message));
    }
}

#[test]
fn at_most_64_rules() {
    let rule = r#"{"match": {"method": "GET"}, "sampler": "always_on"}"#;
    let doc = |n: usize| {
        format!(
            r#"{{"sampling": {{"rules": [{}]}}}}"#,
            vec![rule; n].join(",")
        )
    };
    assert_eq!(
        parse_config(doc(64).as_bytes())
            .unwrap()
            .sampling
            .rules
            .len(),
        64
    );
    let err = parse_config(doc(65).as_bytes()).unwrap_err();
    assert_eq!(err.to_string(), "sampling.rules: at most 64 rules, got 65");
}

#[test]
fn a_rule_is_validated_into_its_matcher_and_sampler() {
    let s = parse_config(
        br#"{"sampling": {"rules": [{"name": "api", "match": {"host": "*.Example.COM",
            "path_prefix": "/api", "method": "POST", "header": {"name": "X-Tenant", "value": "blue"}},
            "sampler": "parentbased_traceidratio", "sampler_arg": 0.5}]}}"#,
    )
    .unwrap();
    assert_eq!(
        s.sampling.rules,
        [RuleSettings {
            name: Some("api".into()),
            matcher: RuleMatch {
                host: Some(HostMatch::Suffix(".example.com".into())),
                path: Some(PathMatch::Prefix("/api".into())),
                method: Some("POST".into()),
                header: Some(HeaderMatch {
                    name: "x-tenant".into(),
                    value: Some("blue".into()),
                }),
            },
            sampler: SamplerSettings::ParentBasedTraceIdRatio(Threshold(0x80000000000000)),
        }]
    );
}

#[test]
fn invalid_utf8_names_the_document() {
    let err = parse_config(b"{\"sampler\": \"\xff\"}").unwrap_err();
    assert_eq!(err.field, "configuration");
    assert!(
        err.message.starts_with("invalid JSON: invalid unicode"),
        "{err}"
    );
}

#[test]
fn brief_examples_display_exactly() {
    let show = |json: &str| parse_config(json.as_bytes()).unwrap_err().to_string();
    assert_eq!(
        show(r#"{"sampler": "traceidratio", "sampler_arg": 1.5}"#),
        "sampler_arg: must be within [0, 1] for traceidratio, got 1.5"
    );
    assert_eq!(
        show(r#"{"batch": {"max_export_batch_size": 0}}"#),
        "batch.max_export_batch_size: must be > 0, got 0"
    );
    assert!(show(r#"{"batch":{"max_queue":1}}"#)
        .starts_with("batch: unknown field \"max_queue\", expected one of \"max_queue_size\", "));
}

#[test]
fn empty_input_gives_defaults() {
    for input in ["", "   ", "\n\t \r\n", "{}"] {
        assert_eq!(
            parse_config(input.as_bytes()).unwrap(),
            Settings::default(),
            "{input:?}"
        );
    }
}

#[test]
fn defaults_match_the_design_table() {
    let s = Settings::default();
    assert_eq!(s.service_name, None);
    assert!(s.resource_attributes.is_empty());
    assert_eq!(
        s.sampler,
        SamplerSettings::ParentBasedTraceIdRatio(Threshold::ALWAYS)
    );
    assert!(s.trust_incoming);
    assert_eq!(s.span_kind, SpanKindSetting::Auto);
    let w3c = vec![Propagator::TraceContext, Propagator::Baggage];
    assert_eq!(s.propagation.extract, w3c);
    assert_eq!(s.propagation.inject, w3c);
    assert_eq!(s.attributes, AttributeSettings::default());
    assert_eq!(s.attributes.stream_info, StreamInfoReads::Always);
    assert!(s.redact_query);
    assert_eq!(
        s.collector,
        CollectorSettings {
            cluster: "otlp_collector".into(),
            authority: "otlp_collector".into(),
            path: "/v1/traces".into(),
            headers: vec![],
            timeout_ms: 10_000,
            encoding: Encoding::Protobuf,
            compression: Compression::None,
        }
    );
    assert_eq!(
        s.batch,
        BatchSettings {
            max_queue_size: 2048,
            max_queue_bytes: 4_194_304,
            max_export_batch_size: 512,
            schedule_delay_ms: 5000,
            max_concurrent_exports: 1,
        }
    );
    assert_eq!(
        s.retry,
        RetrySettings {
            initial_backoff_ms: 1000,
            max_backoff_ms: 30_000,
            max_elapsed_ms: 60_000,
        }
    );
    assert!(!s.propagation.trusted_baggage);
    assert!(!s.attributes.allow_sensitive);
    assert_eq!(s.limits.attribute_value_length, 1024);
    assert_eq!(
        s.expose,
        ExposeSettings {
            server_timing: false,
            trace_id_header: None,
            access_log: false,
        }
    );
    assert!(!s.attributes.request_headers.contains_key("x-request-id"));
    // The shape's defaults validate into exactly the same settings.
    assert_eq!(Settings::try_from(ConfigShape::default()).unwrap(), s);
}

#[test]
fn authority_defaults_to_the_configured_cluster() {
    let s = parse_config(br#"{"collector": {"cluster": "otel"}}"#).unwrap();
    assert_eq!(s.collector.cluster, "otel");
    assert_eq!(s.collector.authority, "otel");
}

#[test]
fn full_config_round_trips() {
    let json = r#"{
        "service_name": "checkout-gateway",
        "resource_attributes": {"deployment.environment": "prod"},
        "sampler": "parentbased_traceidratio",
        "sampler_arg": 0.25,
        "trust_incoming": false,
        "span_kind": "server_and_client",
        "propagation": {"extract": ["b3", "tracecontext", "b3", "jaeger"], "inject": ["tracecontext", "b3multi"],
                        "trusted_baggage": true},
        "attributes": {
            "request_headers": {"X-Tenant": "app.tenant", ":authority": "app.authority", "Cookie": "app.cookie"},
            "response_headers": {"x-cache": "app.cache"},
            "static": {"team": "payments"},
            "stream_info": "on_error",
            "allow_sensitive": true
        },
        "limits": {"attribute_value_length": 256.0},
        "redact_query": false,
        "collector": {
            "cluster": "otel_collector",
            "authority": "otel.example.com",
            "path": "/otlp/v1/traces",
            "headers": {"Authorization": "Bearer t0k\ten", "x-scope-orgid": "42"},
            "timeout_ms": 2500.0,
            "encoding": "json",
            "compression": "gzip"
        },
        "batch": {
            "max_queue_size": 4096,
            "max_queue_bytes": 1048576,
            "max_export_batch_size": 256,
            "schedule_delay_ms": 1000,
            "max_concurrent_exports": 4
        },
        "retry": {"initial_backoff_ms": 500, "max_backoff_ms": 500, "max_elapsed_ms": 0},
        "keep": {"errors": false, "slower_than_ms": 250, "max_per_second": 10.0},
        "expose": {"server_timing": true, "trace_id_header": "X-Trace-Id", "access_log": true}
    }"#;
    let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    let want = Settings {
        service_name: Some("checkout-gateway".into()),
        resource_attributes: map(&[("deployment.environment", "prod")]),
        sampler: SamplerSettings::ParentBasedTraceIdRatio(Threshold(0xc0000000000000)),
        trust_incoming: false,
        span_kind: SpanKindSetting::ServerAndClient,
        propagation: PropagationSettings {
            extract: vec![Propagator::B3, Propagator::TraceContext, Propagator::Jaeger],
            inject: vec![Propagator::TraceContext, Propagator::B3Multi],
            trusted_baggage: true,
        },
        attributes: AttributeSettings {
            request_headers: map(&[
                ("x-tenant", "app.tenant"),
                (":authority", "app.authority"),
                ("cookie", "app.cookie"),
            ]),
            response_headers: map(&[("x-cache", "app.cache")]),
            r#static: map(&[("team", "payments")]),
            stream_info: StreamInfoReads::OnError,
            allow_sensitive: true,
        },
        redact_query: false,
        collector: CollectorSettings {
            cluster: "otel_collector".into(),
            authority: "otel.example.com".into(),
            path: "/otlp/v1/traces".into(),
            headers: vec![
                ("authorization".into(), "Bearer t0k\ten".into()),
                ("x-scope-orgid".into(), "42".into()),
            ],
            timeout_ms: 2500,
            encoding: Encoding::Json,
            compression: Compression::Gzip,
        },
        batch: BatchSettings {
            max_queue_size: 4096,
            max_queue_bytes: 1_048_576,
            max_export_batch_size: 256,
            schedule_delay_ms: 1000,
            max_concurrent_exports: 4,
        },
        retry: RetrySettings {
            initial_backoff_ms: 500,
            max_backoff_ms: 500,
            max_elapsed_ms: 0,
        },
        limits: LimitSettings {
            attribute_value_length: 256,
        },
        keep: KeepSettings {
            errors: false,
            slower_than_ms: 250,
            max_per_second: 10,
        },
        sampling: SamplingSettings::default(),
        expose: ExposeSettings {
            server_timing: true,
            trace_id_header: Some("x-trace-id".into()),
            access_log: true,
        },
    };
    assert_eq!(parse_config(json.as_bytes()).unwrap(), want);
}

#[rustfmt::skip]
#[test]
fn every_sampler_name() {
    let half = Threshold(0x80000000000000);
    for (name, arg, want) in [
        ("always_on",                0.5, SamplerSettings::AlwaysOn),
        ("always_off",               0.5, SamplerSettings::AlwaysOff),
        ("traceidratio",             0.5, SamplerSettings::TraceIdRatio(half)),
        ("traceidratio",             0.0, SamplerSettings::TraceIdRatio(Threshold::NEVER)),
        ("parentbased_always_on",    0.5, SamplerSettings::ParentBasedAlwaysOn),
        ("parentbased_always_off",   0.5, SamplerSettings::ParentBasedAlwaysOff),
        ("parentbased_traceidratio", 0.5, SamplerSettings::ParentBasedTraceIdRatio(half)),
        ("parentbased_ratelimited",  0.5, SamplerSettings::ParentBasedRateLimited { per_second: 0.5 }),
        ("parentbased_ratelimited",  250.0, SamplerSettings::ParentBasedRateLimited { per_second: 250.0 }),
    ] {
        let json = format!(r#"{{"sampler": "{name}", "sampler_arg": {arg:?}}}"#);
        assert_eq!(parse_config(json.as_bytes()).unwrap().sampler, want, "{json}");
    }
    // A ratio argument is ignored by the samplers that take none, even when out of range.
    assert_eq!(parse_config(br#"{"sampler": "always_on", "sampler_arg": 7}"#).unwrap().sampler, SamplerSettings::AlwaysOn);
    // Integers are ratios too.
    assert_eq!(parse_config(br#"{"sampler_arg": 1}"#).unwrap().sampler, SamplerSettings::ParentBasedTraceIdRatio(Threshold::ALWAYS));
}

#[test]
fn whole_floats_are_accepted_for_counts() {
    // Istio's pluginConfig is a protobuf Struct: every number arrives as a double.
    let s = parse_config(br#"{"batch": {"max_queue_size": 4096.0, "max_export_batch_size": 1e2}}"#)
        .unwrap();
    assert_eq!(s.batch.max_queue_size, 4096);
    assert_eq!(s.batch.max_export_batch_size, 100);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Arbitrary bytes never panic: they parse or give an error naming a field.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Err(e) = parse_config(&bytes) {
            prop_assert!(!e.field.is_empty());
        }
    }

    /// JSON-looking input built from the real keys (so it gets past the parser) never panics either.
    #[test]
    fn structured_json_never_panics(doc in json_doc()) {
        let text = doc.to_string();
        if let Err(e) = parse_config(text.as_bytes()) {
            prop_assert!(!e.field.is_empty());
        }
    }
}

/// Random JSON trees whose keys come from the real configuration, to reach every check.
fn json_doc() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    const KEYS: &[&str] = &[
        "service_name",
        "sampling",
        "rules",
        "match",
        "host",
        "path_prefix",
        "method",
        "header",
        "name",
        "value",
        "resource_attributes",
        "sampler",
        "sampler_arg",
        "trust_incoming",
        "span_kind",
        "propagation",
        "extract",
        "inject",
        "attributes",
        "request_headers",
        "response_headers",
        "static",
        "stream_info",
        "redact_query",
        "collector",
        "cluster",
        "authority",
        "path",
        "headers",
        "timeout_ms",
        "encoding",
        "compression",
        "keep",
        "errors",
        "slower_than_ms",
        "max_per_second",
        "batch",
        "max_queue_size",
        "max_queue_bytes",
        "max_export_batch_size",
        "schedule_delay_ms",
        "max_concurrent_exports",
        "retry",
        "initial_backoff_ms",
        "max_backoff_ms",
        "max_elapsed_ms",
        "X-Odd",
        ":path",
        "",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-2.0f64..2.0).prop_map(Value::from),
        prop::sample::select(vec![
            "always_on",
            "traceidratio",
            "parentbased_ratelimited",
            "b3",
            "gzip",
            "json",
            "/x",
            "",
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

#[test]
fn on_error_reads_the_stream_info_only_for_errors_and_missing_responses() {
    let on_error = StreamInfoReads::OnError;
    for status in [0, 400, 404, 499, 500, 503, 599] {
        assert!(on_error.needed(status), "{status}");
    }
    for status in [100, 200, 204, 301, 304, 399] {
        assert!(!on_error.needed(status), "{status}");
    }
    assert!((0..=999).all(|s| StreamInfoReads::Always.needed(s)));
    assert!(on_error.status_from_response_headers());
    assert!(!StreamInfoReads::Always.status_from_response_headers());
}

#[rustfmt::skip]
#[test]
fn request_id_captures_envoys_request_id_under_its_semconv_name() {
    // (case, attributes, attribute the x-request-id header becomes)
    for (case, attributes, want) in [
        ("off by default",          r#"{}"#,                                                None),
        ("on",                      r#"{"request_id": true}"#,                              Some("http.request.header.x-request-id")),
        ("a name the user chose",   r#"{"request_id": true, "request_headers": {"X-Request-Id": "app.rid"}}"#, Some("app.rid")),
        ("listed without the flag", r#"{"request_headers": {"x-request-id": "app.rid"}}"#,  Some("app.rid")),
    ] {
        let s = parse_config(format!(r#"{{"attributes": {attributes}}}"#).as_bytes()).unwrap();
        let got = s.attributes.request_headers.get("x-request-id").map(String::as_str);
        assert_eq!(got, want, "{case}");
    }
}
