//! What the core asks of the host, as values: the plugin answers each [`Read`] with one host call.

/// One thing the core needs from the host. Each variant is one proxy-wasm call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read<'a> {
    /// The first line of one request header (`proxy_get_header_map_value`); absent is `None`.
    RequestHeader(&'static str),
    /// Every request header line, in the pairs format (`proxy_get_header_map_pairs`).
    RequestHeaderMap,
    /// The first line of one response header.
    ResponseHeader(&'static str),
    /// Every response header line, in the pairs format.
    ResponseHeaderMap,
    /// One stream property (`proxy_get_property`), by its path segments.
    Property(&'a [&'a str]),
    /// Compile a CEL expression (Envoy's `expr_create` foreign function): a 4-byte LE token.
    CompileExpression(&'a str),
    /// Evaluate a compiled expression against the current stream (`expr_evaluate`).
    EvaluateExpression(u32),
    /// One header of the export callout's answer being handled.
    CallResponseHeader(&'static str),
    /// The export callout answer's body, at most this many bytes.
    CallResponseBody(usize),
    /// The plugin configuration buffer.
    PluginConfiguration,
}

/// The host as the core sees it: answers to reads, and the clock.
///
/// Every proxy-wasm callback is synchronous and each host call answers at once, so the core asks
/// for one value at a time through this trait and decides the next read from the answer: the
/// read policies live in the core and are tested against a scripted host, while the plugin's
/// implementation only turns each [`Read`] into its host call.
pub trait HostReads {
    /// The answer to `read`: its bytes, or `None` when the value is absent or the call failed.
    fn read(&mut self, read: Read<'_>) -> Option<Vec<u8>>;
    /// The host clock, ns since the Unix epoch (0 when the host cannot tell).
    fn now_ns(&mut self) -> u64;
}

/// An 8-byte little-endian int64, as Envoy encodes integer properties.
pub fn int64(bytes: &[u8]) -> Option<i64> {
    let arr: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    Some(i64::from_le_bytes(arr))
}
