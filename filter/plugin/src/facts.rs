//! Reading the host properties a sampled request's spans need (never read for unsampled ones).
//!
//! Property names and encodings as Envoy 1.40 serves them (DESIGN.md "Envoy facts"). At stream end
//! they are read with one CEL evaluation where the host offers it ([`StreamEndReader`]), else one
//! property read each.

use crate::abi::LogLevel;
use crate::host;
use crate::pairs;
use hoptrace_core::span::{
    ListForm, ListFormChoice, ListenerDirection, RequestFacts, ResponseFacts, StreamEndQuery,
};

/// Reads the stream-end facts of a sampled request: one `expr_evaluate` of a CEL list while the host
/// answers it as expected, the property reads otherwise.
pub struct StreamEndReader {
    query: StreamEndQuery,
    /// The compiled bare list (see [`ListForm`]); `None` without CEL.
    bare: Option<u32>,
    /// The compiled guarded list; `None` without CEL, or after an answer we could not use.
    guarded: Option<u32>,
    choice: ListFormChoice,
}

impl StreamEndReader {
    /// Compile both forms of the list for this VM (`with_direction`: `span_kind: auto` needs the
    /// listener direction). Called from `on_configure`.
    pub fn new(with_direction: bool) -> Self {
        let query = StreamEndQuery::new(with_direction);
        let guarded = host::cel_compile(&query.expression(ListForm::Guarded));
        let bare = guarded.and_then(|_| host::cel_compile(&query.expression(ListForm::Bare)));
        if guarded.is_none() {
            host::log(
                LogLevel::Warn,
                "hoptrace: the host has no CEL expressions; stream-end facts are read one property at a time",
            );
        }
        StreamEndReader {
            query,
            bare,
            guarded,
            choice: ListFormChoice::default(),
        }
    }

    /// Fill the stream-end facts; the listener direction when it was asked for, else unspecified.
    pub fn read(&mut self, req: &mut RequestFacts, resp: &mut ResponseFacts) -> ListenerDirection {
        if let Some(direction) = self.read_cel(req, resp) {
            code_details_if_error(resp);
            return direction;
        }
        let direction = self.query.apply_each(host::property, req, resp);
        code_details_if_error(resp);
        direction
    }

    /// The facts from one CEL evaluation (two when the bare list fails), `None` without CEL.
    fn read_cel(
        &mut self,
        req: &mut RequestFacts,
        resp: &mut ResponseFacts,
    ) -> Option<ListenerDirection> {
        let guarded = self.guarded?;
        match (self.choice.first(), self.bare) {
            (ListForm::Bare, Some(bare)) => {
                // An absent attribute fails the bare list as a whole: expected, not worth a warning.
                let answered = self.evaluate(bare, req, resp).ok();
                self.choice.observe(answered.is_none());
                if answered.is_some() {
                    return answered;
                }
            }
            _ => self.choice.observe(false),
        }
        match self.evaluate(guarded, req, resp) {
            Ok(direction) => Some(direction),
            Err(why) => {
                // The same expression fails the same way every time: stop paying for it.
                self.guarded = None;
                self.bare = None;
                host::log(
                    LogLevel::Warn,
                    &format!("hoptrace: stream-end CEL list unusable ({why}); reading properties one at a time"),
                );
                None
            }
        }
    }

    /// Evaluate one compiled form of the list and fill the facts from its answer.
    fn evaluate(
        &self,
        token: u32,
        req: &mut RequestFacts,
        resp: &mut ResponseFacts,
    ) -> Result<ListenerDirection, String> {
        let answer = host::cel_evaluate(token).ok_or("the host did not evaluate it")?;
        self.query
            .apply(&pairs::list_elements(&answer), req, resp)
            .map_err(|e| e.to_string())
    }

    /// Only the listener direction (when it was asked for, else unspecified): what a hop whose spans
    /// will be dropped still needs, to count them.
    pub fn direction_only(&self) -> ListenerDirection {
        if self.query.with_direction() {
            direction()
        } else {
            ListenerDirection::Unspecified
        }
    }
}

/// `response.code_details`, only worth a host call when it explains an error.
fn code_details_if_error(resp: &mut ResponseFacts) {
    if resp.status_code == 0 || resp.status_code >= 500 || resp.response_flags != 0 {
        resp.response_code_details =
            host::property_string(&["response", "code_details"]).unwrap_or_default();
    }
}

/// The listener's direction (`xds.listener_direction`, int64: 0 unspecified, 1 inbound, 2 outbound).
fn direction() -> ListenerDirection {
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
