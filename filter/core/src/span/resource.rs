//! The OTLP resource: who produced the spans (service, SDK, Kubernetes placement).
//!
//! Built once per configuration, encoded once, and framed around every batch. Precedence for
//! `service.name`: the `service_name` setting, then a `service.name` in `resource_attributes`, then
//! Istio's `WORKLOAD_NAME` node metadata, then `unknown_service:envoy` (the OpenTelemetry fallback
//! form `unknown_service:<process>`). Other `resource_attributes` override what we detect.

use super::record::Attribute;
use std::collections::BTreeMap;

/// `service.name`.
pub const SERVICE_NAME: &str = "service.name";
/// The `service.name` when nothing names the service.
pub const UNKNOWN_SERVICE: &str = "unknown_service:envoy";
/// `telemetry.sdk.name` value.
pub const SDK_NAME: &str = "hoptrace";
/// `telemetry.sdk.language` value: the language hoptrace is written in.
pub const SDK_LANGUAGE: &str = "rust";
/// `telemetry.sdk.version` value: this crate's version.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Istio node metadata key → resource attribute. `WORKLOAD_NAME` becomes `k8s.deployment.name` only
/// when `OWNER` does not name the workload kind (see [`owner_attribute`]).
const ISTIO_METADATA: [(&str, &str); 3] = [
    ("NAMESPACE", "k8s.namespace.name"),
    ("NAME", "k8s.pod.name"),
    ("CLUSTER_ID", "k8s.cluster.name"),
];

/// Resource attributes, sorted by key (stable bytes across VMs and restarts).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourceInfo {
    /// The attributes, one per key.
    pub attributes: Vec<Attribute<'static>>,
}

impl ResourceInfo {
    /// The string value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.key == key)
            .and_then(|a| match &a.value {
                super::AttrValue::Str(s) => Some(s.as_ref()),
                super::AttrValue::Int(_) => None,
            })
    }
}

/// Build the resource from the `service_name` and `resource_attributes` settings and the proxy's node
/// metadata (`xds.node.metadata.*` pairs; Istio puts `NAME`, `NAMESPACE`, `WORKLOAD_NAME`,
/// `CLUSTER_ID`, `OWNER` there; pass what is present).
pub fn resource_from(
    service_name: Option<&str>,
    resource_attributes: &BTreeMap<String, String>,
    node_metadata: &[(String, String)],
) -> ResourceInfo {
    let md = |key: &str| {
        node_metadata
            .iter()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    };
    let mut attrs: BTreeMap<String, String> = BTreeMap::new();
    attrs.insert("telemetry.sdk.name".into(), SDK_NAME.into());
    attrs.insert("telemetry.sdk.language".into(), SDK_LANGUAGE.into());
    attrs.insert("telemetry.sdk.version".into(), SDK_VERSION.into());
    for (key, attr) in ISTIO_METADATA {
        if let Some(v) = md(key) {
            attrs.insert(attr.into(), v.into());
        }
    }
    let workload = md("WORKLOAD_NAME");
    match md("OWNER").and_then(owner_attribute) {
        Some((attr, name)) => {
            attrs.insert(attr.into(), name.into());
        }
        None => {
            if let Some(w) = workload {
                attrs.insert("k8s.deployment.name".into(), w.into());
            }
        }
    }
    for (k, v) in resource_attributes {
        attrs.insert(k.clone(), v.clone());
    }
    let service = service_name
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .or_else(|| resource_attributes.get(SERVICE_NAME).cloned())
        .or_else(|| workload.map(str::to_owned))
        .unwrap_or_else(|| UNKNOWN_SERVICE.to_owned());
    attrs.insert(SERVICE_NAME.into(), service);
    ResourceInfo {
        attributes: attrs
            .into_iter()
            .map(|(k, v)| Attribute::str(k, v))
            .collect(),
    }
}

/// Istio's `OWNER` (`kubernetes://apis/apps/v1/namespaces/<ns>/deployments/<name>`) → the k8s
/// attribute for that workload kind and its name.
pub fn owner_attribute(owner: &str) -> Option<(&'static str, &str)> {
    let mut parts = owner.rsplit('/');
    let name = parts.next().filter(|n| !n.is_empty())?;
    let attr = match parts.next()? {
        "deployments" => "k8s.deployment.name",
        "statefulsets" => "k8s.statefulset.name",
        "daemonsets" => "k8s.daemonset.name",
        "replicasets" => "k8s.replicaset.name",
        "jobs" => "k8s.job.name",
        "cronjobs" => "k8s.cronjob.name",
        _ => return None,
    };
    Some((attr, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn plain_envoy_is_unknown_service() {
        let r = resource_from(None, &BTreeMap::new(), &[]);
        assert_eq!(r.get("service.name"), Some("unknown_service:envoy"));
        assert_eq!(r.get("telemetry.sdk.name"), Some("hoptrace"));
        assert_eq!(r.get("telemetry.sdk.language"), Some("rust"));
        assert_eq!(r.get("telemetry.sdk.version"), Some(SDK_VERSION));
        assert_eq!(r.attributes.len(), 4);
        let keys: Vec<_> = r.attributes.iter().map(|a| a.key.to_string()).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }

    #[test]
    fn istio_metadata() {
        let m = md(&[
            ("NAME", "productpage-v1-abc"),
            ("NAMESPACE", "bookinfo"),
            ("WORKLOAD_NAME", "productpage-v1"),
            ("CLUSTER_ID", "Kubernetes"),
        ]);
        let r = resource_from(None, &BTreeMap::new(), &m);
        assert_eq!(r.get("service.name"), Some("productpage-v1"));
        assert_eq!(r.get("k8s.pod.name"), Some("productpage-v1-abc"));
        assert_eq!(r.get("k8s.namespace.name"), Some("bookinfo"));
        assert_eq!(r.get("k8s.cluster.name"), Some("Kubernetes"));
        assert_eq!(r.get("k8s.deployment.name"), Some("productpage-v1"));
    }

    #[test]
    fn owner_names_the_workload_kind() {
        let m = md(&[
            ("WORKLOAD_NAME", "db"),
            (
                "OWNER",
                "kubernetes://apis/apps/v1/namespaces/data/statefulsets/db",
            ),
        ]);
        let r = resource_from(None, &BTreeMap::new(), &m);
        assert_eq!(r.get("k8s.statefulset.name"), Some("db"));
        assert_eq!(r.get("k8s.deployment.name"), None);
        assert_eq!(owner_attribute("kubernetes://x/pods/p"), None);
        assert_eq!(owner_attribute(""), None);
    }

    #[test]
    fn service_name_precedence() {
        let m = md(&[("WORKLOAD_NAME", "wl")]);
        let mut ra = BTreeMap::new();
        ra.insert("service.name".to_string(), "from-attrs".to_string());
        ra.insert(
            "deployment.environment.name".to_string(),
            "prod".to_string(),
        );
        ra.insert("k8s.deployment.name".to_string(), "override".to_string());
        assert_eq!(
            resource_from(Some("cfg"), &ra, &m).get("service.name"),
            Some("cfg")
        );
        let r = resource_from(None, &ra, &m);
        assert_eq!(r.get("service.name"), Some("from-attrs"));
        assert_eq!(r.get("deployment.environment.name"), Some("prod"));
        assert_eq!(r.get("k8s.deployment.name"), Some("override"));
        assert_eq!(
            resource_from(None, &BTreeMap::new(), &m).get("service.name"),
            Some("wl")
        );
        assert_eq!(
            resource_from(Some(""), &BTreeMap::new(), &[]).get("service.name"),
            Some(UNKNOWN_SERVICE)
        );
    }
}
