//! gRPC and shared-queue host calls.
//!
//! The Rust SDK's dispatcher references all of them, so every module built with it imports them
//! even when it never calls them; they are served for real (see [`crate::state::grpc`] and
//! [`crate::state::queues`]) rather than stubbed.

use wasmtime::Caller;

use crate::abi::Status;
use crate::headers::HeaderMap;
use crate::memory::{hand_over, read, write_u32, Fault};
use crate::pairs;
use crate::runtime::StoreData;
use crate::state::grpc::GrpcCall;

/// A host call's outcome.
type Outcome = Result<(), Fault>;

/// Reads a guest string (invalid UTF-8 replaced).
fn text(caller: &Caller<'_, StoreData>, ptr: u32, len: u32) -> Result<String, Status> {
    Ok(String::from_utf8_lossy(&read(caller, ptr, len)?).into_owned())
}

/// Opens a call or stream after Envoy's cluster check (unknown cluster: `PARSE_FAILURE`).
fn open(
    caller: &mut Caller<'_, StoreData>,
    target: [(u32, u32); 3],
    metadata: (u32, u32),
    message: Option<(u32, u32)>,
    ret: u32,
) -> Outcome {
    let [cluster, service, method] = target.map(|(p, l)| text(caller, p, l));
    let (cluster, service, method) = (cluster?, service?, method?);
    let metadata: HeaderMap = pairs::decode(&read(caller, metadata.0, metadata.1)?)
        .unwrap_or_default()
        .into_iter()
        .collect();
    let messages = match message {
        Some((p, l)) => vec![read(caller, p, l)?],
        None => Vec::new(),
    };
    let vm = &caller.data().vm;
    if !vm.clusters.contains(&cluster) {
        return Err(Status::ParseFailure.into());
    }
    let call = GrpcCall {
        id: 0,
        context_id: vm.effective_context,
        cluster,
        service,
        method,
        metadata,
        messages,
        is_stream: message.is_none(),
        closed: false,
    };
    let id = caller.data_mut().vm.grpc.open(call);
    Ok(write_u32(caller, ret, id)?)
}

/// `proxy_grpc_call(cluster, service, method, metadata, message, timeout, return_id)`.
#[allow(clippy::too_many_arguments)] // The ABI's signature.
pub fn call(
    caller: &mut Caller<'_, StoreData>,
    up: u32,
    ul: u32,
    sp: u32,
    sl: u32,
    mp: u32,
    ml: u32,
    hp: u32,
    hl: u32,
    bp: u32,
    bl: u32,
    _timeout: u32,
    ret: u32,
) -> Outcome {
    open(
        caller,
        [(up, ul), (sp, sl), (mp, ml)],
        (hp, hl),
        Some((bp, bl)),
        ret,
    )
}

/// `proxy_grpc_stream(cluster, service, method, metadata, return_id)`.
#[allow(clippy::too_many_arguments)] // The ABI's signature.
pub fn stream(
    caller: &mut Caller<'_, StoreData>,
    up: u32,
    ul: u32,
    sp: u32,
    sl: u32,
    mp: u32,
    ml: u32,
    hp: u32,
    hl: u32,
    ret: u32,
) -> Outcome {
    open(caller, [(up, ul), (sp, sl), (mp, ml)], (hp, hl), None, ret)
}

/// `proxy_grpc_send(id, message, end_stream)`.
pub fn send(caller: &mut Caller<'_, StoreData>, id: u32, p: u32, l: u32, end: u32) -> Outcome {
    let message = read(caller, p, l)?;
    Ok(caller.data_mut().vm.grpc.send(id, message, end != 0)?)
}

/// `proxy_grpc_cancel(id)`.
pub fn cancel(caller: &mut Caller<'_, StoreData>, id: u32) -> Outcome {
    Ok(caller.data_mut().vm.grpc.cancel(id)?)
}

/// `proxy_grpc_close(id)`.
pub fn close(caller: &mut Caller<'_, StoreData>, id: u32) -> Outcome {
    Ok(caller.data_mut().vm.grpc.close(id)?)
}

/// `proxy_register_shared_queue(name, return_id)`.
pub fn register_queue(caller: &mut Caller<'_, StoreData>, p: u32, l: u32, ret: u32) -> Outcome {
    let name = text(caller, p, l)?;
    let vm = &mut caller.data_mut().vm;
    let owner = vm.effective_context;
    let id = vm.queues.register(&name, owner);
    Ok(write_u32(caller, ret, id)?)
}

/// `proxy_resolve_shared_queue(vm_id, name, return_id)`.
pub fn resolve_queue(
    caller: &mut Caller<'_, StoreData>,
    vp: u32,
    vl: u32,
    np: u32,
    nl: u32,
    ret: u32,
) -> Outcome {
    let vm_id = text(caller, vp, vl)?;
    let name = text(caller, np, nl)?;
    let id = caller.data().vm.queues.resolve(&vm_id, &name)?;
    Ok(write_u32(caller, ret, id)?)
}

/// `proxy_enqueue_shared_queue(id, value)`.
pub fn enqueue(caller: &mut Caller<'_, StoreData>, id: u32, p: u32, l: u32) -> Outcome {
    let item = read(caller, p, l)?;
    Ok(caller.data_mut().vm.queues.enqueue(id, item)?)
}

/// `proxy_dequeue_shared_queue(id, return_value)`.
pub fn dequeue(caller: &mut Caller<'_, StoreData>, id: u32, rp: u32, rs: u32) -> Outcome {
    let item = caller.data_mut().vm.queues.dequeue(id)?;
    hand_over(caller, &item, rp, rs)
}
