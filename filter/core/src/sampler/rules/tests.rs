use super::*;
use crate::config::{parse_config, Settings, Threshold};
use crate::hop::Tracer;
use crate::ids::IdGenerator;

fn rules(json: &str) -> Rules {
    let settings =
        parse_config(format!(r#"{{"sampling":{{"rules":{json}}}}}"#).as_bytes()).unwrap();
    Rules::new(&settings.sampling)
}

fn lines<'a>(headers: &'a [(&'a str, &'a str)]) -> Vec<(&'a str, &'a [u8])> {
    headers.iter().map(|(k, v)| (*k, v.as_bytes())).collect()
}

const GET_SHOP: &[(&str, &str)] = &[
    (":method", "GET"),
    (":path", "/checkout/cart?item=1"),
    (":authority", "Shop.Example.com:8443"),
    ("x-tenant", "blue"),
    ("x-tenant", "green"),
];

#[rustfmt::skip]
#[test]
fn each_condition_matches_as_documented() {
    for (case, matcher, headers, want) in [
        ("path exact, query ignored",          r#"{"path":"/checkout/cart"}"#,      GET_SHOP, true),
        ("path exact is not a prefix",         r#"{"path":"/checkout"}"#,           GET_SHOP, false),
        ("path_prefix",                        r#"{"path_prefix":"/checkout"}"#,    GET_SHOP, true),
        ("path_prefix is byte-wise",           r#"{"path_prefix":"/check"}"#,       GET_SHOP, true),
        ("path_prefix does not see the query", r#"{"path_prefix":"/checkout/cart/"}"#, GET_SHOP, false),
        ("host exact, case and port ignored",  r#"{"host":"shop.example.com"}"#,    GET_SHOP, true),
        ("host suffix",                        r#"{"host":"*.example.com"}"#,       GET_SHOP, true),
        ("host suffix needs a label before it",r#"{"host":"*.shop.example.com"}"#,  GET_SHOP, false),
        ("host other",                         r#"{"host":"api.example.com"}"#,     GET_SHOP, false),
        ("method exact",                       r#"{"method":"GET"}"#,               GET_SHOP, true),
        ("method is case-sensitive",           r#"{"method":"get"}"#,               GET_SHOP, false),
        ("header present",                     r#"{"header":{"name":"X-Tenant"}}"#, GET_SHOP, true),
        ("header absent",                      r#"{"header":{"name":"x-user"}}"#,   GET_SHOP, false),
        ("header value on a later line",       r#"{"header":{"name":"x-tenant","value":"green"}}"#, GET_SHOP, true),
        ("header value differs",               r#"{"header":{"name":"x-tenant","value":"red"}}"#, GET_SHOP, false),
        ("all conditions hold",                r#"{"path_prefix":"/checkout","method":"GET","host":"*.example.com","header":{"name":"x-tenant","value":"blue"}}"#, GET_SHOP, true),
        ("one condition fails",                r#"{"path_prefix":"/checkout","method":"POST"}"#, GET_SHOP, false),
        ("host header when no :authority",     r#"{"host":"legacy.example"}"#,      &[("host", "legacy.example:80")][..], true),
        ("no path: a path rule cannot match",  r#"{"path_prefix":"/"}"#,            &[(":method", "GET")][..], false),
        ("IPv6 authority keeps its brackets",  r#"{"method":"GET"}"#,               &[(":method", "GET"), (":authority", "[::1]:80")][..], true),
    ] {
        let r = rules(&format!(r#"[{{"match":{matcher},"sampler":"always_on"}}]"#));
        let l = lines(headers);
        assert_eq!(r.first_match(&HeaderLines::new(&l)).is_some(), want, "{case}");
    }
}

#[test]
fn request_keys_strip_the_port_and_the_query() {
    for (authority, host) in [
        ("a.example:8080", "a.example"),
        ("a.example", "a.example"),
        ("[::1]:8080", "[::1]"),
        ("[::1]", "[::1]"),
        ("::1", "::1"),
        ("a.example:", "a.example"),
    ] {
        let h = [(":authority", authority), (":path", "/a?b#c")];
        let l = lines(&h);
        let keys = RequestKeys::from_headers(&HeaderLines::new(&l));
        assert_eq!(keys.host, Some(host.as_bytes()), "{authority}");
        assert_eq!(keys.path, Some(&b"/a"[..]));
    }
}

#[test]
fn the_first_matching_rule_decides_and_no_match_falls_back() {
    let r = rules(
        r#"[{"match":{"path":"/healthz"},"sampler":"always_off","name":"health"},
            {"match":{"path_prefix":"/"},"sampler":"always_on"},
            {"match":{"path":"/healthz"},"sampler":"always_on"}]"#,
    );
    let at = |path: &str| {
        let h = [(":path", path)];
        let l = lines(&h);
        r.first_match(&HeaderLines::new(&l))
    };
    assert_eq!(at("/healthz"), Some(0), "the earlier rule wins");
    assert_eq!(at("/search"), Some(1));
    assert_eq!(
        at("relative"),
        None,
        "nothing matches: the top-level sampler"
    );
    assert_eq!(r.label(0).map(|l| &**l), Some("health"));
    assert_eq!(r.label(1).map(|l| &**l), Some("1"), "unnamed: the index");
}

fn tracer(config: &str) -> Tracer {
    let settings: Settings = parse_config(config.as_bytes()).unwrap();
    Tracer::new(settings, IdGenerator::seeded(9))
}

/// (path, traceparent) through a tracer: sampled flag, `ot` member of the tracestate sent on, rule.
fn decide(
    t: &mut Tracer,
    path: &str,
    traceparent: Option<&str>,
    tracestate: Option<&str>,
) -> (bool, Option<String>, Option<usize>) {
    let mut h = vec![(":path", path)];
    h.extend(traceparent.map(|v| ("traceparent", v)));
    h.extend(tracestate.map(|v| ("tracestate", v)));
    let l = lines(&h);
    let hop = t.start(&HeaderLines::new(&l), 0);
    (
        hop.context.sampled(),
        hop.context.tracestate.clone(),
        hop.context.sampling_rule,
    )
}

const PER_RULE: &str = r#"{"sampler":"always_on","sampling":{"rules":[
    {"match":{"path":"/half"},"sampler":"traceidratio","sampler_arg":0.5},
    {"match":{"path":"/child"},"sampler":"parentbased_always_off"},
    {"match":{"path":"/healthz"},"sampler":"always_off"},
    {"match":{"path":"/pb"},"sampler":"parentbased_traceidratio","sampler_arg":0.25}]}}"#;

/// Trace id low 56 bits 0x90…: above the 0.5 threshold (0x80…), below the 0.25 one (0xc0…).
const TP_HIGH_UNSAMPLED: &str = "00-00000000000000000090000000000000-00f067aa0ba902b7-00";
const TP_HIGH_SAMPLED: &str = "00-00000000000000000090000000000000-00f067aa0ba902b7-01";
const TP_LOW_SAMPLED: &str = "00-00000000000000000010000000000000-00f067aa0ba902b7-01";

#[rustfmt::skip]
#[test]
fn consistency_holds_per_rule() {
    let mut t = tracer(PER_RULE);
    for (case, path, tp, ts, want) in [
        ("a ratio rule writes its own th",            "/half", Some(TP_HIGH_UNSAMPLED), None,            (true,  Some("ot=th:8".to_owned()), Some(0))),
        ("a ratio rule drops R < T, and writes no th", "/half", Some(TP_LOW_SAMPLED),   None,            (false, None, Some(0))),
        ("a ratio rule replaces the parent's th",     "/half", Some(TP_HIGH_SAMPLED),  Some("ot=th:c"),  (true,  Some("ot=th:8".to_owned()), Some(0))),
        ("parent-based follows a sampled parent",     "/child", Some(TP_HIGH_SAMPLED), Some("ot=th:8"),  (true,  Some("ot=th:8".to_owned()), Some(1))),
        ("parent-based follows an unsampled parent",  "/child", Some(TP_HIGH_UNSAMPLED), None,           (false, None, Some(1))),
        ("parent-based root: always_off",             "/child", None, None,                              (false, None, Some(1))),
        ("always_off ignores a sampled parent",       "/healthz", Some(TP_HIGH_SAMPLED), Some("ot=th:0"), (false, None, Some(2))),
        ("parent-based ratio: the parent's th travels","/pb", Some(TP_LOW_SAMPLED), Some("ot=th:0"),     (true,  Some("ot=th:0".to_owned()), Some(3))),
        ("parent-based ratio root: its own ratio",    "/pb", None, Some("ot=rv:d0000000000000"),         (false, None, Some(3))),
        ("no rule: the top-level sampler, th:0",      "/other", Some(TP_LOW_SAMPLED), None,              (true,  Some("ot=th:0".to_owned()), None)),
    ] {
        let (sampled, ts_out, rule) = decide(&mut t, path, tp, ts);
        let ot = ts_out.filter(|s| s.contains("th:"));
        assert_eq!((sampled, ot, rule), want, "{case}");
    }
}

#[test]
fn a_ratio_rule_samples_its_share_and_nests_with_the_top_level() {
    let mut t = tracer(
        r#"{"sampler":"traceidratio","sampler_arg":0.01,"sampling":{"rules":[
            {"match":{"path":"/search"},"sampler":"traceidratio","sampler_arg":0.25}]}}"#,
    );
    let quarter = Threshold::from_ratio(0.25).unwrap();
    let (mut search, mut other) = (0, 0);
    for _ in 0..4000 {
        search += u32::from(decide(&mut t, "/search", None, None).0);
        other += u32::from(decide(&mut t, "/other", None, None).0);
    }
    // 5 sigma of a binomial(4000, p).
    assert!((1000 - 137..=1000 + 137).contains(&search), "{search}");
    assert!(other <= 40 + 32, "{other}");
    assert_eq!(quarter.0, 0xc0000000000000);
}
