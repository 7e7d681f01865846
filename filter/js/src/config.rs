//! The package's configuration: the filter's JSON document, plus `collector.endpoint`.
//!
//! A JavaScript hop has no Envoy cluster to send exports through, so it needs a URL. Rather than give
//! the shared core configuration a key that every Envoy filter would have to ignore, this crate takes
//! `collector.endpoint` out of the document, checks it, and hands the rest to
//! [`hoptrace_core::config::parse_config`] unchanged: the same keys, defaults and field-naming errors
//! as the filter, and one configuration file can serve both (the Envoy-only `collector.cluster` and
//! `collector.authority` are accepted and have no effect here; `collector.path` is replaced by the
//! endpoint's path).

use hoptrace_core::config::{parse_config, ConfigError, Settings};
use serde_json::Value;

/// The `collector.endpoint` key, as errors name it.
pub const ENDPOINT_FIELD: &str = "collector.endpoint";

/// `collector.endpoint` when none is set: the OTLP/HTTP traces endpoint of a local collector, as
/// OpenTelemetry SDKs default `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`.
pub const DEFAULT_ENDPOINT: &str = "http://localhost:4318/v1/traces";

/// A validated configuration for the JavaScript package.
#[derive(Debug, Clone, PartialEq)]
pub struct JsSettings {
    /// Everything the core uses, exactly as the filter would parse it.
    pub core: Settings,
    /// Where export requests are POSTed (`collector.endpoint`).
    pub endpoint: String,
}

/// Parse the configuration. `default_service` is the `service.name` used when neither
/// `service_name` nor `resource_attributes."service.name"` sets one (the filter falls back to
/// Istio's workload name, which a JavaScript runtime does not have).
pub fn parse(json: &str, default_service: &str) -> Result<JsSettings, ConfigError> {
    let blank = json.bytes().all(|b| b.is_ascii_whitespace());
    let mut doc = if blank {
        Value::Object(serde_json::Map::new())
    } else {
        match serde_json::from_str::<Value>(json) {
            Ok(doc) if doc.is_object() => doc,
            // Not a JSON object: the core words the error exactly as the filter logs it.
            _ => return parse_config(json.as_bytes()).and_then(|_| not_an_object()),
        }
    };
    let endpoint = take_endpoint(&mut doc)?;
    let text =
        serde_json::to_vec(&doc).map_err(|e| ConfigError::new("configuration", e.to_string()))?;
    let mut core = parse_config(&text)?;
    if core.service_name.is_none() && !core.resource_attributes.contains_key("service.name") {
        core.service_name = Some(default_service.to_owned());
    }
    Ok(JsSettings { core, endpoint })
}

/// Unreachable in practice (the core refuses what serde_json could not read as an object), but a
/// refusal rather than a panic if the two ever disagree.
fn not_an_object() -> Result<JsSettings, ConfigError> {
    Err(ConfigError::new("configuration", "expected a JSON object"))
}

/// Remove `collector.endpoint` from `doc` and check it. A `collector` that is not an object is left
/// for the core to refuse with its own message.
fn take_endpoint(doc: &mut Value) -> Result<String, ConfigError> {
    let found = doc
        .get_mut("collector")
        .and_then(Value::as_object_mut)
        .and_then(|c| c.remove("endpoint"));
    match found {
        None => Ok(DEFAULT_ENDPOINT.to_owned()),
        Some(Value::String(url)) if is_http_url(&url) => Ok(url),
        Some(other) => Err(ConfigError::new(
            ENDPOINT_FIELD,
            format!("must be an http:// or https:// URL, got {other}"),
        )),
    }
}

/// `http://` or `https://` followed by a host: enough to catch a cluster name or a typo here, while
/// the runtime's `fetch` does the full URL parsing.
fn is_http_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or("");
        !host.is_empty() && !url.chars().any(char::is_whitespace)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn err(json: &str) -> String {
        parse(json, "svc").unwrap_err().to_string()
    }

    #[test]
    fn defaults_and_the_default_endpoint() {
        for json in ["", "  ", "{}", r#"{"collector":{}}"#] {
            let s = parse(json, "unknown_service:node").unwrap();
            assert_eq!(s.endpoint, DEFAULT_ENDPOINT);
            assert_eq!(s.core.service_name.as_deref(), Some("unknown_service:node"));
        }
    }

    #[test]
    fn the_endpoint_is_taken_out_and_the_rest_parsed_by_the_core() {
        let s = parse(
            r#"{"service_name":"bff","sampler_arg":0.25,
                "collector":{"endpoint":"http://127.0.0.1:4318/v1/traces","encoding":"json"}}"#,
            "svc",
        )
        .unwrap();
        assert_eq!(s.endpoint, "http://127.0.0.1:4318/v1/traces");
        assert_eq!(s.core.service_name.as_deref(), Some("bff"));
        let core = parse_config(
            br#"{"service_name":"bff","sampler_arg":0.25,"collector":{"encoding":"json"}}"#,
        )
        .unwrap();
        assert_eq!(s.core, core);
    }

    #[test]
    fn a_service_name_resource_attribute_is_kept() {
        let s = parse(r#"{"resource_attributes":{"service.name":"x"}}"#, "svc").unwrap();
        assert_eq!(s.core.service_name, None);
    }

    #[rustfmt::skip]
    #[test]
    fn errors_name_the_field_as_the_filter_does() {
        let cases: &[(&str, &str)] = &[
            (r#"{"collector":{"endpoint":"otlp_collector"}}"#, "collector.endpoint: must be an http:// or https:// URL, got \"otlp_collector\""),
            (r#"{"collector":{"endpoint":42}}"#,               "collector.endpoint: must be an http:// or https:// URL, got 42"),
            (r#"{"collector":{"endpoint":"http://"}}"#,        "collector.endpoint: must be an http:// or https:// URL, got \"http://\""),
        ];
        for (json, want) in cases {
            assert_eq!(err(json), *want, "{json}");
        }
        // Everything else is the core's own wording.
        for json in [
            "[1]",
            "{",
            r#"{"batch":{"max_export_batch_size":0}}"#,
            r#"{"collector":{"endpointz":"http://x"}}"#,
            r#"{"collector":"http://x"}"#,
            r#"{"sampler":"nope"}"#,
        ] {
            assert_eq!(err(json), parse_config(json.as_bytes()).unwrap_err().to_string(), "{json}");
        }
    }
}
