//! Stream control and HTTP callout host calls: `proxy_continue_stream`, `proxy_close_stream`,
//! `proxy_send_local_response`, `proxy_http_call`, `proxy_get_status`.

use std::time::Duration;

use wasmtime::Caller;

use crate::abi::{Status, StreamType};
use crate::headers::HeaderMap;
use crate::memory::{hand_over, read, write_u32, Fault};
use crate::pairs;
use crate::runtime::StoreData;
use crate::state::callouts::{Callout, Pending};
use crate::state::stream::LocalResponse;

/// A host call's outcome.
type Outcome = Result<(), Fault>;

/// `proxy_continue_stream(stream_type)`: a paused direction goes on; its maps become unreachable.
pub fn continue_stream(caller: &mut Caller<'_, StoreData>, stream: u32) -> Outcome {
    let kind = StreamType::try_from(stream)?;
    let vm = &mut caller.data_mut().vm;
    match kind {
        StreamType::HttpRequest | StreamType::HttpResponse => {
            if let Some(s) = vm.effective_stream_mut() {
                s.after_request_callback(crate::abi::Action::Continue);
                if kind == StreamType::HttpResponse {
                    s.after_response_callback(crate::abi::Action::Continue);
                }
            }
            Ok(())
        }
        StreamType::Downstream => Ok(()),
        StreamType::Upstream => Err(Status::Unimplemented.into()),
    }
}

/// `proxy_close_stream(stream_type)`: recorded on the stream.
pub fn close_stream(caller: &mut Caller<'_, StoreData>, stream: u32) -> Outcome {
    StreamType::try_from(stream)?;
    if let Some(s) = caller.data_mut().vm.effective_stream_mut() {
        s.closed = true;
    }
    Ok(())
}

/// `proxy_send_local_response(...)`: recorded on the effective stream (ignored for the root
/// context, which has no stream to answer, as in Envoy).
#[allow(clippy::too_many_arguments)] // The ABI's signature.
pub fn send_local_response(
    caller: &mut Caller<'_, StoreData>,
    status: u32,
    dp: u32,
    dl: u32,
    bp: u32,
    bl: u32,
    hp: u32,
    hl: u32,
    grpc: i32,
) -> Outcome {
    let details = read(caller, dp, dl)?;
    let body = read(caller, bp, bl)?;
    let headers = read(caller, hp, hl)?;
    let headers: HeaderMap = pairs::decode(&headers)
        .unwrap_or_default()
        .into_iter()
        .collect();
    if let Some(stream) = caller.data_mut().vm.effective_stream_mut() {
        stream.local_response = Some(LocalResponse {
            status,
            details: String::from_utf8_lossy(&details).into_owned(),
            body,
            headers,
            grpc_status: u32::try_from(grpc).ok(),
        });
    }
    Ok(())
}

/// `proxy_http_call(upstream, headers, body, trailers, timeout, return_token)`, with Envoy's
/// checks: the cluster must be known and `:path`, `:method` and `:authority` present, else
/// `BAD_ARGUMENT`; a timeout above `i32::MAX` ms is negative in Envoy, so also `BAD_ARGUMENT`.
#[allow(clippy::too_many_arguments)] // The ABI's signature.
pub fn http_call(
    caller: &mut Caller<'_, StoreData>,
    up: u32,
    ul: u32,
    hp: u32,
    hl: u32,
    bp: u32,
    bl: u32,
    tp: u32,
    tl: u32,
    timeout: u32,
    ret: u32,
) -> Outcome {
    let cluster = String::from_utf8_lossy(&read(caller, up, ul)?).into_owned();
    let mut headers: HeaderMap = pairs::decode(&read(caller, hp, hl)?)
        .unwrap_or_default()
        .into_iter()
        .collect();
    let body = read(caller, bp, bl)?;
    let trailers: HeaderMap = pairs::decode(&read(caller, tp, tl)?)
        .unwrap_or_default()
        .into_iter()
        .collect();
    if i32::try_from(timeout).is_err() {
        return Err(Status::BadArgument.into());
    }
    let vm = &caller.data().vm;
    if !vm.clusters.contains(&cluster) {
        return Err(Status::BadArgument.into());
    }
    if [":path", ":method", ":authority"]
        .iter()
        .any(|h| headers.get(h).is_none())
    {
        return Err(Status::BadArgument.into());
    }
    if !body.is_empty() {
        headers.replace("content-length", body.len().to_string());
    }
    // The token is written first: a guest that cannot receive it has no callout in flight.
    let id = vm.callouts.dispatched + 1;
    write_u32(caller, ret, id)?;
    let vm = &mut caller.data_mut().vm;
    vm.callouts.dispatched = id;
    let timeout = (timeout > 0).then(|| Duration::from_millis(u64::from(timeout)));
    let callout = Callout {
        id,
        context_id: vm.effective_context,
        cluster,
        headers,
        body,
        trailers,
        timeout,
        dispatched_at: vm.elapsed(),
    };
    let deadline_ns = timeout.map(|t| vm.now_ns + u64::try_from(t.as_nanos()).unwrap_or(u64::MAX));
    vm.callouts.pending.insert(
        id,
        Pending {
            callout,
            deadline_ns,
            scheduled: None,
        },
    );
    Ok(())
}

/// `proxy_get_status(return_code, return_message)`: the delivered callout's status.
pub fn get_status(caller: &mut Caller<'_, StoreData>, rc: u32, rp: u32, rs: u32) -> Outcome {
    let (code, message) = caller
        .data()
        .vm
        .call_response
        .as_ref()
        .map(|r| r.status.clone())
        .unwrap_or_default();
    write_u32(caller, rc, code)?;
    hand_over(caller, message.as_bytes(), rp, rs)
}
