//! gRPC calls and streams a guest opens (`proxy_grpc_call`, `proxy_grpc_stream`, ...).
//!
//! The shim records them so a test can see them ([`crate::Host::grpc_calls`]); it never answers
//! one (no test needs it yet), like a cluster that stays silent. Envoy's checks are kept: an
//! unknown cluster is `PARSE_FAILURE`; `send` on a call id is `BAD_ARGUMENT`, on an unknown id
//! `NOT_FOUND`; `cancel`/`close` of an unknown id is `NOT_FOUND`.

use std::collections::BTreeMap;

use crate::abi::Status;
use crate::headers::HeaderMap;

/// A gRPC call or stream the guest opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrpcCall {
    /// Its token.
    pub id: u32,
    /// The context that opened it.
    pub context_id: u32,
    /// Envoy cluster (or serialized `GrpcService`).
    pub cluster: String,
    /// gRPC service name.
    pub service: String,
    /// gRPC method name.
    pub method: String,
    /// Initial metadata.
    pub metadata: HeaderMap,
    /// Messages sent: the request of a unary call, or each `proxy_grpc_send` of a stream.
    pub messages: Vec<Vec<u8>>,
    /// True for a stream (`proxy_grpc_stream`), false for a unary call.
    pub is_stream: bool,
    /// The guest closed its side (`end_stream` or `proxy_grpc_close` on a stream).
    pub closed: bool,
}

/// Open gRPC calls and streams by token.
#[derive(Clone, Debug, Default)]
pub struct Grpc {
    /// Open calls and streams.
    pub open: BTreeMap<u32, GrpcCall>,
    issued: u32,
}

impl Grpc {
    /// Records a new call or stream and returns its token.
    pub fn open(&mut self, mut call: GrpcCall) -> u32 {
        self.issued += 1;
        call.id = self.issued;
        self.open.insert(call.id, call);
        self.issued
    }

    /// `proxy_grpc_send`.
    pub fn send(&mut self, id: u32, message: Vec<u8>, end_stream: bool) -> Result<(), Status> {
        let call = self.open.get_mut(&id).ok_or(Status::NotFound)?;
        if !call.is_stream {
            return Err(Status::BadArgument);
        }
        call.messages.push(message);
        call.closed |= end_stream;
        Ok(())
    }

    /// `proxy_grpc_cancel`: forgets the call or stream.
    pub fn cancel(&mut self, id: u32) -> Result<(), Status> {
        self.open.remove(&id).map(|_| ()).ok_or(Status::NotFound)
    }

    /// `proxy_grpc_close`: a call is cancelled, a stream half-closed.
    pub fn close(&mut self, id: u32) -> Result<(), Status> {
        let call = self.open.get_mut(&id).ok_or(Status::NotFound)?;
        if call.is_stream {
            call.closed = true;
            Ok(())
        } else {
            self.cancel(id)
        }
    }
}
