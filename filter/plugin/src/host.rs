//! Thin, panic-free wrappers over the host calls the filter makes.
//!
//! Every host error becomes `None` (or is ignored, for calls whose failure only costs tracing), so
//! the caller carries on without tracing rather than fail the request: a panic kills the VM in Envoy.

use crate::abi::{self, BufferType, HeaderMap, LogLevel, MetricType, OK};
use hoptrace_core::export::MetricKind;
use hoptrace_core::lifecycle::{HostReads, MetricHost, Read};
use std::ptr::null_mut;
use std::time::Duration;

/// The host as the core's phases see it: each [`Read`] is one host call.
pub struct HostCalls;

impl HostReads for HostCalls {
    fn read(&mut self, read: Read<'_>) -> Option<Vec<u8>> {
        match read {
            Read::RequestHeader(name) => header_value(HeaderMap::Request, name),
            Read::RequestHeaderMap => header_map(HeaderMap::Request),
            Read::ResponseHeader(name) => header_value(HeaderMap::Response, name),
            Read::ResponseHeaderMap => header_map(HeaderMap::Response),
            Read::Property(path) => property(path),
            Read::CompileExpression(expression) => {
                foreign_function("expr_create", expression.as_bytes())
            }
            Read::EvaluateExpression(token) => {
                foreign_function("expr_evaluate", &token.to_le_bytes())
            }
            Read::CallResponseHeader(name) => header_value(HeaderMap::CallResponse, name),
            Read::CallResponseBody(max) => buffer(BufferType::HttpCallResponseBody, max),
            Read::PluginConfiguration => buffer(BufferType::PluginConfiguration, usize::MAX),
        }
    }

    fn now_ns(&mut self) -> u64 {
        now_ns()
    }
}

impl MetricHost for HostCalls {
    fn define_metric(&mut self, kind: MetricKind, name: &str) -> Option<u32> {
        let kind = match kind {
            MetricKind::Counter => MetricType::Counter,
            MetricKind::Gauge => MetricType::Gauge,
        };
        let mut id = 0u32;
        // SAFETY: `name` and the out-pointer are valid for the call.
        let status = unsafe { abi::proxy_define_metric(kind, name.as_ptr(), name.len(), &mut id) };
        (status == OK).then_some(id)
    }

    fn increment_metric(&mut self, id: u32, delta: i64) -> bool {
        // SAFETY: plain value call.
        unsafe { abi::proxy_increment_metric(id, delta) == OK }
    }
}

/// A serialized header map (all lines, in order).
fn header_map(map: HeaderMap) -> Option<Vec<u8>> {
    // SAFETY: the out-pointers `answer` passes are valid for the call.
    answer(|data, size| unsafe { abi::proxy_get_header_map_pairs(map, data, size) })
}

/// The data of a host call that answers through a (pointer, size) out-pair, or `None` when the
/// call failed or had nothing to answer. `call` makes the host call with those out-pointers.
fn answer(call: impl FnOnce(*mut *mut u8, *mut usize) -> u32) -> Option<Vec<u8>> {
    let (mut data, mut size) = (null_mut(), 0usize);
    let status = call(&mut data, &mut size);
    // SAFETY: status, data and size are what that one host call wrote; the answer is taken once.
    unsafe { abi::take_buffer(status, data, size) }
}

fn header_value(map: HeaderMap, name: &str) -> Option<Vec<u8>> {
    // SAFETY: `name` and the out-pointers are valid for the call.
    answer(|data, size| unsafe {
        abi::proxy_get_header_map_value(map, name.as_ptr(), name.len(), data, size)
    })
}

/// Replace every line of header `name` in `map` with one value.
pub fn replace_header(map: HeaderMap, name: &str, value: &str) {
    // SAFETY: both slices are valid for the call; the host copies them.
    let _ = unsafe {
        abi::proxy_replace_header_map_value(
            map,
            name.as_ptr(),
            name.len(),
            value.as_ptr(),
            value.len(),
        )
    };
}

/// Add a response header line after those already there.
pub fn add_response_header(name: &str, value: &str) {
    // SAFETY: both slices are valid for the call; the host copies them.
    let _ = unsafe {
        abi::proxy_add_header_map_value(
            HeaderMap::Response,
            name.as_ptr(),
            name.len(),
            value.as_ptr(),
            value.len(),
        )
    };
}

/// Set a stream property (a one-segment path); failures only cost the access log its ids.
pub fn set_property(name: &str, value: &str) {
    // SAFETY: both slices are valid for the call; the host copies them.
    let _ =
        unsafe { abi::proxy_set_property(name.as_ptr(), name.len(), value.as_ptr(), value.len()) };
}

/// Remove every line of a request header.
pub fn remove_request_header(name: &str) {
    // SAFETY: `name` is valid for the call.
    let _ = unsafe {
        abi::proxy_remove_header_map_value(HeaderMap::Request, name.as_ptr(), name.len())
    };
}

fn buffer(kind: BufferType, max_size: usize) -> Option<Vec<u8>> {
    // SAFETY: the out-pointers are valid for the call.
    answer(|data, size| unsafe { abi::proxy_get_buffer_bytes(kind, 0, max_size, data, size) })
}

/// Host clock, nanoseconds since the epoch (0 if the host cannot tell).
pub fn now_ns() -> u64 {
    let mut now: u64 = 0;
    // SAFETY: the host writes one u64 through the pointer, which is valid for the call.
    match unsafe { abi::proxy_get_current_time_nanoseconds(&mut now) } {
        OK => now,
        _ => 0,
    }
}

/// A property value, raw.
fn property(path: &[&str]) -> Option<Vec<u8>> {
    // The ABI's path: the segments separated by NULs (none after the last).
    let mut serialized = Vec::with_capacity(path.iter().map(|p| p.len() + 1).sum());
    for (i, segment) in path.iter().enumerate() {
        if i > 0 {
            serialized.push(0);
        }
        serialized.extend_from_slice(segment.as_bytes());
    }
    // SAFETY: the path and the out-pointers are valid for the call.
    answer(|data, size| unsafe {
        abi::proxy_get_property(serialized.as_ptr(), serialized.len(), data, size)
    })
}

/// Call one of the host's foreign functions: its answer, or `None` if it has none or failed.
fn foreign_function(name: &str, arguments: &[u8]) -> Option<Vec<u8>> {
    // SAFETY: name, arguments and the out-pointers are valid for the call.
    answer(|data, size| unsafe {
        abi::proxy_call_foreign_function(
            name.as_ptr(),
            name.len(),
            arguments.as_ptr(),
            arguments.len(),
            data,
            size,
        )
    })
}

/// Start an export callout; the token the answer will carry, or `None` if the host refused it
/// (e.g. an unknown cluster: `BadArgument`).
pub fn dispatch(
    cluster: &str,
    headers: &[(String, String)],
    body: &[u8],
    timeout: Duration,
) -> Option<u32> {
    let headers = hoptrace_core::host_pairs::encode(headers);
    let trailers = hoptrace_core::host_pairs::encode::<&str, &str>(&[]);
    let timeout_ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
    let mut token = 0u32;
    // SAFETY: every slice and the out-pointer are valid for the call; the host copies the data.
    let status = unsafe {
        abi::proxy_http_call(
            cluster.as_ptr(),
            cluster.len(),
            headers.as_ptr(),
            headers.len(),
            body.as_ptr(),
            body.len(),
            trailers.as_ptr(),
            trailers.len(),
            timeout_ms,
            &mut token,
        )
    };
    (status == OK).then_some(token)
}

/// Ask for `on_tick` every `period`.
pub fn set_tick_period(period: Duration) {
    let ms = u32::try_from(period.as_millis()).unwrap_or(u32::MAX);
    // SAFETY: plain value call.
    let _ = unsafe { abi::proxy_set_tick_period_milliseconds(ms) };
}

/// Tell the host that the current root context, told it is done, has finished: it may delete it.
pub fn done() {
    // SAFETY: plain call, no arguments.
    let _ = unsafe { abi::proxy_done() };
}

/// Log at `level`; failures to log are ignored.
pub fn log(level: LogLevel, message: &str) {
    // SAFETY: `message` is valid for the call; the host copies it.
    let _ = unsafe { abi::proxy_log(level, message.as_ptr(), message.len()) };
}
