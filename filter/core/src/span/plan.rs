//! Which spans a hop makes: SERVER, CLIENT, or SERVER with a child CLIENT.
//!
//! `span_kind: auto` follows the listener direction Envoy reports (`xds.listener_direction`): an Istio
//! inbound listener is the server side of a call, an outbound listener the client side, and a listener
//! with no direction (a gateway, plain Envoy) is both: it receives a request and makes another.

use crate::config::SpanKindSetting;

/// Envoy's `xds.listener_direction` (`envoy.config.core.v3.TrafficDirection`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerDirection {
    /// 0: not set: a gateway or plain Envoy.
    Unspecified,
    /// 1: an inbound (sidecar, server side) listener.
    Inbound,
    /// 2: an outbound (sidecar, client side) listener.
    Outbound,
}

impl ListenerDirection {
    /// From the property's int64 value; unknown values count as unspecified.
    pub fn from_raw(v: i64) -> Self {
        match v {
            1 => ListenerDirection::Inbound,
            2 => ListenerDirection::Outbound,
            _ => ListenerDirection::Unspecified,
        }
    }
}

/// The spans a hop makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanPlan {
    /// One SERVER span; it also stands for the upstream call.
    Server,
    /// One CLIENT span.
    Client,
    /// A SERVER span and a child CLIENT span for the upstream call.
    ServerAndClient,
}

impl SpanPlan {
    /// Whether a SERVER span is made.
    pub fn has_server(self) -> bool {
        matches!(self, SpanPlan::Server | SpanPlan::ServerAndClient)
    }
    /// Whether a CLIENT span is made.
    pub fn has_client(self) -> bool {
        matches!(self, SpanPlan::Client | SpanPlan::ServerAndClient)
    }
    /// How many spans are made.
    pub fn span_count(self) -> usize {
        usize::from(self.has_server()) + usize::from(self.has_client())
    }
}

/// Decide the spans for `setting` on a listener with `direction`.
pub fn plan_spans(setting: SpanKindSetting, direction: ListenerDirection) -> SpanPlan {
    match setting {
        SpanKindSetting::Server => SpanPlan::Server,
        SpanKindSetting::Client => SpanPlan::Client,
        SpanKindSetting::ServerAndClient => SpanPlan::ServerAndClient,
        SpanKindSetting::Auto => match direction {
            ListenerDirection::Inbound => SpanPlan::Server,
            ListenerDirection::Outbound => SpanPlan::Client,
            ListenerDirection::Unspecified => SpanPlan::ServerAndClient,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ListenerDirection::*;
    use SpanKindSetting as K;

    #[rustfmt::skip]
    const CASES: &[(&str, K, ListenerDirection, SpanPlan)] = &[
        ("auto on a gateway: SERVER + CLIENT",  K::Auto,            Unspecified, SpanPlan::ServerAndClient),
        ("auto on an inbound sidecar: SERVER",  K::Auto,            Inbound,     SpanPlan::Server),
        ("auto on an outbound sidecar: CLIENT", K::Auto,            Outbound,    SpanPlan::Client),
        ("server forced on outbound",           K::Server,          Outbound,    SpanPlan::Server),
        ("client forced on inbound",            K::Client,          Inbound,     SpanPlan::Client),
        ("server_and_client forced on inbound", K::ServerAndClient, Inbound,     SpanPlan::ServerAndClient),
    ];

    #[test]
    fn plan_table() {
        for (name, setting, dir, want) in CASES {
            assert_eq!(plan_spans(*setting, *dir), *want, "{name}");
        }
    }

    #[test]
    fn direction_from_property() {
        assert_eq!(ListenerDirection::from_raw(0), Unspecified);
        assert_eq!(ListenerDirection::from_raw(1), Inbound);
        assert_eq!(ListenerDirection::from_raw(2), Outbound);
        assert_eq!(ListenerDirection::from_raw(7), Unspecified);
    }
}
