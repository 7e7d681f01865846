//! The proxy-wasm ABI (0.2.1) host functions the filter imports, and the enumerations they take.
//!
//! Declared here rather than taken from the SDK: the SDK also defines every `proxy_on_*` entry
//! point, and hoptrace defines its own (`entry.rs`) so that the module exports only the callbacks
//! it needs. Status codes come back as plain `u32`, so a value this list does not know is a failure,
//! never an invalid enum.

/// `WasmResult::Ok`; any other status is treated as "no answer".
pub const OK: u32 = 0;

/// Which header map a call addresses.
#[repr(u32)]
#[derive(Clone, Copy)]
pub enum HeaderMap {
    Request = 0,
    Response = 2,
    CallResponse = 6,
}

/// Which buffer a call reads.
#[repr(u32)]
#[derive(Clone, Copy)]
pub enum BufferType {
    HttpCallResponseBody = 4,
    PluginConfiguration = 7,
}

/// Log levels, as the host numbers them.
#[repr(u32)]
#[derive(Clone, Copy)]
pub enum LogLevel {
    Warn = 3,
    Critical = 5,
}

/// Host metric kinds.
#[repr(u32)]
#[derive(Clone, Copy)]
pub enum MetricType {
    Counter = 0,
    Gauge = 1,
}

#[link(wasm_import_module = "env")]
extern "C" {
    pub fn proxy_log(level: LogLevel, message_data: *const u8, message_size: usize) -> u32;
    pub fn proxy_get_current_time_nanoseconds(return_time: *mut u64) -> u32;
    pub fn proxy_set_tick_period_milliseconds(period: u32) -> u32;
    pub fn proxy_done() -> u32;
    pub fn proxy_get_buffer_bytes(
        buffer_type: BufferType,
        start: usize,
        max_size: usize,
        return_buffer_data: *mut *mut u8,
        return_buffer_size: *mut usize,
    ) -> u32;
    pub fn proxy_get_header_map_pairs(
        map_type: HeaderMap,
        return_map_data: *mut *mut u8,
        return_map_size: *mut usize,
    ) -> u32;
    pub fn proxy_get_header_map_value(
        map_type: HeaderMap,
        key_data: *const u8,
        key_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
    ) -> u32;
    pub fn proxy_replace_header_map_value(
        map_type: HeaderMap,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
    pub fn proxy_add_header_map_value(
        map_type: HeaderMap,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
    pub fn proxy_remove_header_map_value(
        map_type: HeaderMap,
        key_data: *const u8,
        key_size: usize,
    ) -> u32;
    pub fn proxy_get_property(
        path_data: *const u8,
        path_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
    ) -> u32;
    pub fn proxy_set_property(
        path_data: *const u8,
        path_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
    pub fn proxy_http_call(
        upstream_data: *const u8,
        upstream_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        body_data: *const u8,
        body_size: usize,
        trailers_data: *const u8,
        trailers_size: usize,
        timeout_ms: u32,
        return_token: *mut u32,
    ) -> u32;
    pub fn proxy_call_foreign_function(
        function_name_data: *const u8,
        function_name_size: usize,
        arguments_data: *const u8,
        arguments_size: usize,
        results_data: *mut *mut u8,
        results_size: *mut usize,
    ) -> u32;
    pub fn proxy_define_metric(
        metric_type: MetricType,
        name_data: *const u8,
        name_size: usize,
        return_id: *mut u32,
    ) -> u32;
    pub fn proxy_increment_metric(metric_id: u32, offset: i64) -> u32;
}

/// Take ownership of a buffer the host returned through an out-pointer pair.
///
/// # Safety
/// `status`, `data` and `size` must be what one host call wrote: on `OK`, `data` is null or a
/// buffer the host allocated through [`crate::entry::proxy_on_memory_allocate`] (a boxed slice of
/// exactly `size` bytes), not yet taken.
pub unsafe fn take_buffer(status: u32, data: *mut u8, size: usize) -> Option<Vec<u8>> {
    if status != OK || data.is_null() {
        return None;
    }
    // SAFETY: per this function's contract the buffer is ours, `size` long, allocated with the
    // global allocator and an alignment of 1, so a Vec of capacity `size` owns it exactly.
    Some(unsafe { Vec::from_raw_parts(data, size, size) })
}
