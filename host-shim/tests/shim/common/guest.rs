//! Tiny test guests written in WAT, compiled by wasmtime when a test loads them.
//!
//! A guest built here imports the whole ABI 0.2.1 `env` set (as a Rust SDK module does), exports
//! memory, a bump allocator and the ABI marker, and gets helpers to log text lines:
//! `(call $line_start PTR LEN)`, `(call $line_num N)`, `(call $line_bytes PTR LEN)`,
//! `(call $line_end)`. Fixed scratch words receive host outputs: `$RET_PTR` 1024, `$RET_SIZE`
//! 1028, `$RET_U64` 1032, `$RET_U32` 1040. Strings go in a data segment via [`Guest::s`], which
//! returns the `(i32.const ptr) (i32.const len)` pair to splice into WAT.

/// Every `env` import of ABI 0.2.1 with its wasm32 signature.
const IMPORTS: &str = r#"
  (import "env" "proxy_log" (func $proxy_log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_log_level" (func $proxy_get_log_level (param i32) (result i32)))
  (import "env" "proxy_get_current_time_nanoseconds" (func $proxy_get_current_time_nanoseconds (param i32) (result i32)))
  (import "env" "proxy_set_tick_period_milliseconds" (func $proxy_set_tick_period_milliseconds (param i32) (result i32)))
  (import "env" "proxy_set_effective_context" (func $proxy_set_effective_context (param i32) (result i32)))
  (import "env" "proxy_done" (func $proxy_done (result i32)))
  (import "env" "proxy_get_property" (func $proxy_get_property (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_property" (func $proxy_set_property (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_define_metric" (func $proxy_define_metric (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_increment_metric" (func $proxy_increment_metric (param i32 i64) (result i32)))
  (import "env" "proxy_record_metric" (func $proxy_record_metric (param i32 i64) (result i32)))
  (import "env" "proxy_get_metric" (func $proxy_get_metric (param i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_pairs" (func $proxy_get_header_map_pairs (param i32 i32 i32) (result i32)))
  (import "env" "proxy_set_header_map_pairs" (func $proxy_set_header_map_pairs (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_size" (func $proxy_get_header_map_size (param i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $proxy_get_header_map_value (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $proxy_add_header_map_value (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_replace_header_map_value" (func $proxy_replace_header_map_value (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_remove_header_map_value" (func $proxy_remove_header_map_value (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_buffer_bytes" (func $proxy_get_buffer_bytes (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_buffer_status" (func $proxy_get_buffer_status (param i32 i32 i32) (result i32)))
  (import "env" "proxy_set_buffer_bytes" (func $proxy_set_buffer_bytes (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_continue_stream" (func $proxy_continue_stream (param i32) (result i32)))
  (import "env" "proxy_close_stream" (func $proxy_close_stream (param i32) (result i32)))
  (import "env" "proxy_send_local_response" (func $proxy_send_local_response (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_http_call" (func $proxy_http_call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_status" (func $proxy_get_status (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_shared_data" (func $proxy_get_shared_data (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_shared_data" (func $proxy_set_shared_data (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_register_shared_queue" (func $proxy_register_shared_queue (param i32 i32 i32) (result i32)))
  (import "env" "proxy_resolve_shared_queue" (func $proxy_resolve_shared_queue (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_enqueue_shared_queue" (func $proxy_enqueue_shared_queue (param i32 i32 i32) (result i32)))
  (import "env" "proxy_dequeue_shared_queue" (func $proxy_dequeue_shared_queue (param i32 i32 i32) (result i32)))
  (import "env" "proxy_grpc_call" (func $proxy_grpc_call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_grpc_stream" (func $proxy_grpc_stream (param i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_grpc_send" (func $proxy_grpc_send (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_grpc_cancel" (func $proxy_grpc_cancel (param i32) (result i32)))
  (import "env" "proxy_grpc_close" (func $proxy_grpc_close (param i32) (result i32)))
  (import "env" "proxy_call_foreign_function" (func $proxy_call_foreign_function (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
"#;

/// Memory, allocator, marker and the line-logging helpers.
const RUNTIME: &str = r#"
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 65536))
  (global $cur (mut i32) (i32.const 4096))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $n i32) (result i32)
    (local $p i32) (local $end i32)
    (local.set $p (global.get $heap))
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then (drop (memory.grow
        (i32.add (i32.div_u (i32.sub (local.get $end) (i32.mul (memory.size) (i32.const 65536))) (i32.const 65536)) (i32.const 1))))))
    (global.set $heap (local.get $end))
    (local.get $p))
  (func $push (param $b i32)
    (i32.store8 (global.get $cur) (local.get $b))
    (global.set $cur (i32.add (global.get $cur) (i32.const 1))))
  (func $line_start (param $p i32) (param $l i32)
    (global.set $cur (i32.const 4096))
    (call $append (local.get $p) (local.get $l)))
  (func $append (param $p i32) (param $l i32)
    (memory.copy (global.get $cur) (local.get $p) (local.get $l))
    (global.set $cur (i32.add (global.get $cur) (local.get $l))))
  (func $line_bytes (param $p i32) (param $l i32)
    (call $push (i32.const 32))
    (call $append (local.get $p) (local.get $l)))
  (func $line_num (param $n i32)
    (local $len i32)
    (call $push (i32.const 32))
    (if (i32.eqz (local.get $n)) (then (call $push (i32.const 48)) (return)))
    (block $done (loop $digits
      (br_if $done (i32.eqz (local.get $n)))
      (i32.store8 (i32.add (i32.const 8192) (local.get $len))
        (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
      (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
      (local.set $len (i32.add (local.get $len) (i32.const 1)))
      (br $digits)))
    (block $out (loop $emit
      (br_if $out (i32.eqz (local.get $len)))
      (local.set $len (i32.sub (local.get $len) (i32.const 1)))
      (call $push (i32.load8_u (i32.add (i32.const 8192) (local.get $len))))
      (br $emit))))
  (func $line_end
    (drop (call $proxy_log (i32.const 2) (i32.const 4096) (i32.sub (global.get $cur) (i32.const 4096)))))
"#;

/// Where the first string goes; strings fill up to the end of the first page.
const STRINGS_START: u32 = 16384;

/// A WAT guest under construction.
pub struct Guest {
    strings: Vec<(u32, Vec<u8>)>,
    next: u32,
    funcs: Vec<String>,
    abi_marker: bool,
}

impl Default for Guest {
    fn default() -> Self {
        Self::new()
    }
}

impl Guest {
    /// An empty guest (only the runtime).
    pub fn new() -> Self {
        Self {
            strings: Vec::new(),
            next: STRINGS_START,
            funcs: Vec::new(),
            abi_marker: true,
        }
    }

    /// Places `bytes` in memory; returns `(i32.const ptr) (i32.const len)`.
    pub fn s(&mut self, bytes: impl AsRef<[u8]>) -> String {
        let bytes = bytes.as_ref().to_vec();
        let ptr = self.next;
        let len = bytes.len() as u32;
        self.next += len + 1;
        self.strings.push((ptr, bytes));
        format!("(i32.const {ptr}) (i32.const {len})")
    }

    /// Adds WAT functions (exports or helpers).
    pub fn func(&mut self, wat: &str) -> &mut Self {
        self.funcs.push(wat.to_string());
        self
    }

    /// Leaves out the `proxy_abi_version_0_2_1` marker.
    pub fn without_abi_marker(&mut self) -> &mut Self {
        self.abi_marker = false;
        self
    }

    /// The module text.
    pub fn wat(&self) -> String {
        let mut out = String::from("(module\n");
        out.push_str(IMPORTS);
        let runtime = if self.abi_marker {
            RUNTIME.to_string()
        } else {
            RUNTIME.replace(r#"(func (export "proxy_abi_version_0_2_1"))"#, "")
        };
        out.push_str(&runtime);
        for (ptr, bytes) in &self.strings {
            let escaped: String = bytes.iter().map(|b| format!("\\{b:02x}")).collect();
            out.push_str(&format!("  (data (i32.const {ptr}) \"{escaped}\")\n"));
        }
        for f in &self.funcs {
            out.push_str(f);
            out.push('\n');
        }
        out.push(')');
        out
    }

    /// The module text as bytes, ready for `Host::load`.
    pub fn bytes(&self) -> Vec<u8> {
        self.wat().into_bytes()
    }
}

/// A guest that logs every lifecycle callback with its arguments, e.g. `request_headers 2 5 1`
/// (context id, then the callback's other arguments). Header/body callbacks return `action`.
pub fn recorder(action: u32) -> Guest {
    let mut g = Guest::new();
    let cb = |g: &mut Guest, name: &str, params: &[&str], result: Option<&str>| {
        let label = g.s(name);
        let decl: String = params
            .iter()
            .map(|p| format!("(param ${p} i32) "))
            .collect();
        let nums: String = params
            .iter()
            .map(|p| format!("(call $line_num (local.get ${p})) "))
            .collect();
        let result_decl = result.map(|_| "(result i32)").unwrap_or("");
        let result_value = result.unwrap_or("");
        g.func(&format!(
            r#"(func (export "proxy_on_{name}") {decl}{result_decl}
                 (call $line_start {label}) {nums}(call $line_end) {result_value})"#
        ));
    };
    let action = format!("(i32.const {action})");
    cb(&mut g, "context_create", &["ctx", "parent"], None);
    cb(&mut g, "vm_start", &["ctx", "size"], Some("(i32.const 1)"));
    cb(&mut g, "configure", &["ctx", "size"], Some("(i32.const 1)"));
    cb(
        &mut g,
        "request_headers",
        &["ctx", "n", "eos"],
        Some(&action),
    );
    cb(&mut g, "request_body", &["ctx", "n", "eos"], Some(&action));
    cb(&mut g, "request_trailers", &["ctx", "n"], Some(&action));
    cb(
        &mut g,
        "response_headers",
        &["ctx", "n", "eos"],
        Some(&action),
    );
    cb(&mut g, "response_body", &["ctx", "n", "eos"], Some(&action));
    cb(&mut g, "response_trailers", &["ctx", "n"], Some(&action));
    cb(&mut g, "log", &["ctx"], None);
    cb(&mut g, "done", &["ctx"], Some("(i32.const 1)"));
    cb(&mut g, "delete", &["ctx"], None);
    cb(&mut g, "tick", &["ctx"], None);
    g
}
