//! Reading the host properties a sampled request's spans need (never read for unsampled ones).
//!
//! Property names and encodings as Envoy 1.40 serves them (DESIGN.md "Envoy facts").

use crate::host;
use hoptrace_core::span::{ListenerDirection, RequestFacts, ResponseFacts};

/// Fill the request facts only the host knows, at stream end.
pub fn complete_request(req: &mut RequestFacts) {
    req.start_unix_nano = host::property_i64(&["request", "time"])
        .and_then(|t| u64::try_from(t).ok())
        .unwrap_or(0);
    req.protocol = host::property_string(&["request", "protocol"]).unwrap_or_default();
    req.client_address = host::property_string(&["source", "address"]).unwrap_or_default();
}

/// How the stream ended, read in `on_log`.
pub fn response(resp: &mut ResponseFacts) {
    resp.status_code = host::property_i64(&["response", "code"])
        .and_then(|c| u16::try_from(c).ok())
        .unwrap_or(0);
    resp.response_flags = host::property_i64(&["response", "flags"])
        .and_then(|f| u64::try_from(f).ok())
        .unwrap_or(0);
    if resp.status_code == 0 || resp.status_code >= 500 || resp.response_flags != 0 {
        // Only worth a host call when it explains an error.
        resp.response_code_details =
            host::property_string(&["response", "code_details"]).unwrap_or_default();
    }
    resp.upstream_cluster = host::property_string(&["xds", "cluster_name"]).unwrap_or_default();
    resp.upstream_address = host::property_string(&["upstream", "address"]).unwrap_or_default();
    resp.route_name = host::property_string(&["xds", "route_name"]).unwrap_or_default();
}

/// The listener's direction (`xds.listener_direction`, int64: 0 unspecified, 1 inbound, 2 outbound).
pub fn direction() -> ListenerDirection {
    ListenerDirection::from_raw(host::property_i64(&["xds", "listener_direction"]).unwrap_or(0))
}

/// Istio's node metadata keys that feed the resource, read once per VM at configure time.
pub fn node_metadata() -> Vec<(String, String)> {
    ["WORKLOAD_NAME", "NAME", "NAMESPACE", "CLUSTER_ID", "OWNER"]
        .iter()
        .filter_map(|k| {
            host::property_string(&["xds", "node", "metadata", k]).map(|v| ((*k).to_string(), v))
        })
        .collect()
}
