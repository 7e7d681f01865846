//! How a sampled request's stream-end facts are read: one CEL list while the host answers it, one
//! property read each otherwise, and `response.code_details` only when it explains an error.
//!
//! The list's two forms and the choice between them are in [`crate::span::stream_end`]; this is the
//! per-VM policy that drives them through [`HostReads`].

use super::ablation;
use super::reads::{int64, HostReads, Read};
use crate::host_pairs;
use crate::span::{
    ListForm, ListFormChoice, ListenerDirection, RequestFacts, ResponseFacts, StreamEndQuery,
};

/// Said once per VM when the host cannot compile the list.
pub const NO_CEL_WARNING: &str =
    "hoptrace: the host has no CEL expressions; stream-end facts are read one property at a time";

/// Per-VM state of the stream-end reads.
#[derive(Debug)]
pub struct StreamEndReader {
    query: StreamEndQuery,
    /// The compiled bare list; `None` without CEL.
    bare: Option<u32>,
    /// The compiled guarded list; `None` without CEL, or after an answer we could not use.
    guarded: Option<u32>,
    choice: ListFormChoice,
}

impl StreamEndReader {
    /// Compile both forms of the list with the host (`with_direction`: `span_kind: auto` needs the
    /// listener direction). A host without CEL leaves a warning in `logs`.
    pub fn compile(
        with_direction: bool,
        host: &mut impl HostReads,
        logs: &mut Vec<String>,
    ) -> Self {
        let query = StreamEndQuery::new(with_direction);
        let guarded = compile(host, &query.expression(ListForm::Guarded));
        let bare = guarded.and_then(|_| compile(host, &query.expression(ListForm::Bare)));
        if guarded.is_none() {
            logs.push(NO_CEL_WARNING.to_owned());
        }
        StreamEndReader {
            query,
            bare,
            guarded,
            choice: ListFormChoice::default(),
        }
    }

    /// Fill the stream-end facts; the listener direction when it was asked for, else unspecified.
    /// A list the host cannot use leaves a warning in `logs` and is not tried again.
    pub fn read(
        &mut self,
        host: &mut impl HostReads,
        req: &mut RequestFacts,
        resp: &mut ResponseFacts,
        logs: &mut Vec<String>,
    ) -> ListenerDirection {
        if ablation::taken_away(ablation::STREAM_END_READS) {
            return ablation::stream_end_facts(host, req, resp);
        }
        let direction = match self.read_cel(host, req, resp, logs) {
            Some(direction) => direction,
            None => self
                .query
                .apply_each(|path| host.read(Read::Property(path)), req, resp),
        };
        if explains_error(resp) {
            resp.response_code_details = host
                .read(Read::Property(&["response", "code_details"]))
                .and_then(|b| String::from_utf8(b).ok())
                .unwrap_or_default();
        }
        direction
    }

    /// The facts from one CEL evaluation (two when the bare list fails), `None` without CEL.
    fn read_cel(
        &mut self,
        host: &mut impl HostReads,
        req: &mut RequestFacts,
        resp: &mut ResponseFacts,
        logs: &mut Vec<String>,
    ) -> Option<ListenerDirection> {
        let guarded = self.guarded?;
        match (self.choice.first(), self.bare) {
            (ListForm::Bare, Some(bare)) => {
                // An absent attribute fails the bare list as a whole: expected, not worth a warning.
                let answered = self.evaluate(host, bare, req, resp).ok();
                self.choice.observe(answered.is_none());
                if answered.is_some() {
                    return answered;
                }
            }
            _ => self.choice.observe(false),
        }
        match self.evaluate(host, guarded, req, resp) {
            Ok(direction) => Some(direction),
            Err(why) => {
                // The same expression fails the same way every time: stop paying for it.
                self.guarded = None;
                self.bare = None;
                logs.push(format!(
                    "hoptrace: stream-end CEL list unusable ({why}); reading properties one at a time"
                ));
                None
            }
        }
    }

    /// Evaluate one compiled form of the list and fill the facts from its answer.
    fn evaluate(
        &self,
        host: &mut impl HostReads,
        token: u32,
        req: &mut RequestFacts,
        resp: &mut ResponseFacts,
    ) -> Result<ListenerDirection, String> {
        let answer = host
            .read(Read::EvaluateExpression(token))
            .ok_or("the host did not evaluate it")?;
        self.query
            .apply(&host_pairs::list_elements(&answer), req, resp)
            .map_err(|e| e.to_string())
    }

    /// Only the listener direction (when it was asked for, else unspecified): what a hop whose
    /// spans are not built still needs, to count them.
    pub fn direction_only(&self, host: &mut impl HostReads) -> ListenerDirection {
        if self.query.with_direction() {
            let raw = host
                .read(Read::Property(&["xds", "listener_direction"]))
                .and_then(|b| int64(&b))
                .unwrap_or(0);
            ListenerDirection::from_raw(raw)
        } else {
            ListenerDirection::Unspecified
        }
    }
}

/// Whether `response.code_details` is worth a host call: only when it explains an error.
pub fn explains_error(resp: &ResponseFacts) -> bool {
    resp.status_code == 0 || resp.status_code >= 500 || resp.response_flags != 0
}

fn compile(host: &mut impl HostReads, expression: &str) -> Option<u32> {
    let token = host.read(Read::CompileExpression(expression))?;
    Some(u32::from_le_bytes(token.get(..4)?.try_into().ok()?))
}
