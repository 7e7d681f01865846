//! Thin, panic-free wrappers over the host calls the filter makes.
//!
//! The SDK's trait methods unwrap host errors (a panic kills the VM in Envoy); these return `Option`
//! and let the caller carry on without tracing rather than fail the request.

use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, LogLevel, MapType, Status};
use std::ptr::null_mut;
use std::time::Duration;

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_get_current_time_nanoseconds(return_time: *mut u64) -> Status;
    fn proxy_get_header_map_pairs(
        map_type: MapType,
        return_map_data: *mut *mut u8,
        return_map_size: *mut usize,
    ) -> Status;
}

/// The serialized request header map (all lines, in order), or an empty buffer.
pub fn request_header_map() -> Vec<u8> {
    header_map(MapType::HttpRequestHeaders)
}

/// The serialized response header map (all lines, in order), or an empty buffer.
pub fn response_header_map() -> Vec<u8> {
    header_map(MapType::HttpResponseHeaders)
}

fn header_map(map: MapType) -> Vec<u8> {
    let mut data: *mut u8 = null_mut();
    let mut size: usize = 0;
    // SAFETY: the host writes a pointer to a buffer it allocated through this module's
    // `proxy_on_memory_allocate` (a boxed slice of exactly `size` bytes) and its size; we take
    // ownership of it exactly once, as the SDK does.
    unsafe {
        match proxy_get_header_map_pairs(map, &mut data, &mut size) {
            Status::Ok if !data.is_null() => Vec::from_raw_parts(data, size, size),
            _ => Vec::new(),
        }
    }
}

/// The first line of one request header, or `None` when it is absent. An absent header costs the
/// host no call back into the module, unlike any answer with data.
pub fn request_header(name: &str) -> Option<Vec<u8>> {
    hostcalls::get_map_value_bytes(MapType::HttpRequestHeaders, name)
        .ok()
        .flatten()
}

/// Replace every line of a request header with one value.
pub fn set_request_header(name: &str, value: &str) {
    let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, name, Some(value));
}

/// Remove every line of a request header.
pub fn remove_request_header(name: &str) {
    let _ = hostcalls::remove_map_value(MapType::HttpRequestHeaders, name);
}

/// One header of an export callout's answer.
pub fn call_response_header(name: &str) -> Option<Vec<u8>> {
    hostcalls::get_map_value_bytes(MapType::HttpCallResponseHeaders, name)
        .ok()
        .flatten()
}

/// The body of an export callout's answer.
pub fn call_response_body(size: usize) -> Vec<u8> {
    hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, size)
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// The plugin configuration bytes (empty when none is set).
pub fn plugin_configuration() -> Vec<u8> {
    hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX)
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Host clock, nanoseconds since the epoch (0 if the host cannot tell).
pub fn now_ns() -> u64 {
    // The SDK's `get_current_time` wraps the nanoseconds in a `SystemTime` (and panics on an
    // unexpected status); taken back apart that is 128-bit arithmetic, three times a request.
    let mut now: u64 = 0;
    // SAFETY: the host writes one u64 through the pointer, which is valid for the call.
    match unsafe { proxy_get_current_time_nanoseconds(&mut now) } {
        Status::Ok => now,
        _ => 0,
    }
}

/// A property value, raw.
pub fn property(path: &[&str]) -> Option<Vec<u8>> {
    hostcalls::get_property(path.to_vec()).ok().flatten()
}

/// A property holding an int64 (Envoy encodes it little-endian, 8 bytes).
pub fn property_i64(path: &[&str]) -> Option<i64> {
    let b = property(path)?;
    let arr: [u8; 8] = b.get(..8)?.try_into().ok()?;
    Some(i64::from_le_bytes(arr))
}

/// A property holding a string.
pub fn property_string(path: &[&str]) -> Option<String> {
    property(path).and_then(|b| String::from_utf8(b).ok())
}

/// Compile a CEL expression with the host (Envoy's `expr_create` foreign function): its token, or
/// `None` when the host has no CEL or refuses the expression.
pub fn cel_compile(expression: &str) -> Option<u32> {
    let token = hostcalls::call_foreign_function("expr_create", Some(expression.as_bytes()))
        .ok()
        .flatten()?;
    Some(u32::from_le_bytes(token.get(..4)?.try_into().ok()?))
}

/// Evaluate a compiled expression against the current stream (`expr_evaluate`): the serialized
/// value, or `None` if the host could not evaluate it.
pub fn cel_evaluate(token: u32) -> Option<Vec<u8>> {
    hostcalls::call_foreign_function("expr_evaluate", Some(&token.to_le_bytes()))
        .ok()
        .flatten()
}

/// Start an export callout; the token the answer will carry, or `None` if the host refused it
/// (e.g. an unknown cluster: `BadArgument`).
pub fn dispatch(
    cluster: &str,
    headers: &[(String, String)],
    body: &[u8],
    timeout: Duration,
) -> Option<u32> {
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    hostcalls::dispatch_http_call(cluster, headers, Some(body), Vec::new(), timeout).ok()
}

/// Ask for `on_tick` every `period`.
pub fn set_tick_period(period: Duration) {
    let _ = hostcalls::set_tick_period(period);
}

/// Log at `level`; failures to log are ignored.
pub fn log(level: LogLevel, message: &str) {
    let _ = hostcalls::log(level, message);
}
