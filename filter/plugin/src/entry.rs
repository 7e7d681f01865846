//! The proxy-wasm entry points the module exports, over the core's table of live contexts.
//!
//! The SDK's dispatcher exports every callback of the ABI. Each callback a module exports is a trip
//! into V8 that Envoy makes for every stream, so hoptrace defines its own entry points and exports
//! only those it needs (`exports.json`); when a stream is forgotten, and what bounds the table, is
//! the core's [`Contexts`].

use crate::abi::LogLevel;
use crate::host;
use crate::root::HoptraceRoot;
use crate::stream::HoptraceStream;
use hoptrace_core::lifecycle::Contexts;
use std::cell::RefCell;
use std::mem::MaybeUninit;

/// `proxy_on_request_headers` / `proxy_on_response_headers` answer: let the stream continue.
const CONTINUE: u32 = 0;

thread_local! {
    static CONTEXTS: RefCell<Contexts<HoptraceRoot, HoptraceStream>> =
        RefCell::new(Contexts::default());
}

/// Run `f` on the context table. Callbacks never nest, so the table is always free; if it ever
/// were not, the callback does nothing rather than trap the VM.
fn with_contexts<R: Default>(
    f: impl FnOnce(&mut Contexts<HoptraceRoot, HoptraceStream>) -> R,
) -> R {
    CONTEXTS.with(|c| match c.try_borrow_mut() {
        Ok(mut contexts) => f(&mut contexts),
        Err(_) => R::default(),
    })
}

/// Run `f` on stream `context_id`, if the table knows it (an unknown id is ignored, never a trap).
fn with_stream(context_id: u32, f: impl FnOnce(&mut HoptraceStream)) {
    with_contexts(|c| {
        if let Some(stream) = c.stream(context_id) {
            f(stream);
        }
    });
}

#[cfg(target_os = "wasi")]
extern "C" {
    fn __wasm_call_ctors();
}

/// Module start: static constructors, then the panic hook.
#[no_mangle]
pub extern "C" fn _initialize() {
    #[cfg(target_os = "wasi")]
    // SAFETY: called once, by the host, before any other export; this is what wasi-libc's reactor
    // start-up would do.
    unsafe {
        __wasm_call_ctors();
    }
    // A panic traps the VM and Envoy then fails every request through it: say why before that happens.
    std::panic::set_hook(Box::new(|info| {
        host::log(LogLevel::Critical, &format!("hoptrace: panic: {info}"));
    }));
}

/// The ABI version this module speaks.
#[no_mangle]
pub extern "C" fn proxy_abi_version_0_2_1() {}

/// The host's allocation in this module, for every answer that carries data.
#[no_mangle]
pub extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut u8 {
    // A boxed slice of exactly `size` bytes: `abi::take_buffer` takes it back as a Vec of that
    // capacity.
    let mut block: Vec<MaybeUninit<u8>> = Vec::with_capacity(size);
    // SAFETY: the capacity is `size`, and MaybeUninit bytes need no initialization.
    unsafe { block.set_len(size) };
    Box::into_raw(block.into_boxed_slice()).cast::<u8>()
}

/// A new context: a root (`root_context_id` 0) or a stream of one.
#[no_mangle]
pub extern "C" fn proxy_on_context_create(context_id: u32, root_context_id: u32) {
    with_contexts(|c| {
        c.create(
            context_id,
            root_context_id,
            HoptraceRoot::default,
            HoptraceRoot::new_stream,
        );
    });
}

/// VM start: nothing to do before the configuration arrives.
#[no_mangle]
pub extern "C" fn proxy_on_vm_start(_context_id: u32, _vm_configuration_size: usize) -> bool {
    true
}

/// The plugin configuration: `false` refuses it (Envoy then fails the filter's load).
#[no_mangle]
pub extern "C" fn proxy_on_configure(context_id: u32, _configuration_size: usize) -> bool {
    with_contexts(|c| c.root(context_id).is_some_and(|r| r.on_configure()))
}

/// The root's timer.
#[no_mangle]
pub extern "C" fn proxy_on_tick(context_id: u32) {
    with_contexts(|c| {
        if let Some(line) = c.ticked(context_id) {
            host::log(LogLevel::Warn, &line);
        }
        if let Some(root) = c.root(context_id) {
            root.on_tick();
        }
        forget_finished(c, context_id);
    });
}

/// The host is done with a context. A root (its plugin configuration replaced or removed) sends
/// or counts every span it holds first: `false` asks the host to wait for `proxy_done`. A stream
/// was already forgotten at `proxy_on_log`.
#[no_mangle]
pub extern "C" fn proxy_on_done(context_id: u32) -> bool {
    with_contexts(|c| {
        let done = c.root(context_id).is_none_or(HoptraceRoot::on_done);
        forget_finished(c, context_id);
        done
    })
}

/// Forget root `context_id` once it has finished after being told it is done.
fn forget_finished(c: &mut Contexts<HoptraceRoot, HoptraceStream>, context_id: u32) {
    if c.root(context_id).is_some_and(|r| r.finished()) {
        c.remove_root(context_id);
    }
}

/// The answer (or failure) of an export callout the root started.
#[no_mangle]
pub extern "C" fn proxy_on_http_call_response(
    context_id: u32,
    token: u32,
    _num_headers: usize,
    body_size: usize,
    _num_trailers: usize,
) {
    with_contexts(|c| {
        if let Some(root) = c.root(context_id) {
            root.on_http_call_response(token, body_size);
        }
        forget_finished(c, context_id);
    });
}

/// A stream's request headers.
#[no_mangle]
pub extern "C" fn proxy_on_request_headers(
    context_id: u32,
    _num_headers: usize,
    _end_of_stream: bool,
) -> u32 {
    with_stream(context_id, HoptraceStream::on_request_headers);
    CONTINUE
}

/// A stream's response headers.
#[no_mangle]
pub extern "C" fn proxy_on_response_headers(
    context_id: u32,
    _num_headers: usize,
    _end_of_stream: bool,
) -> u32 {
    with_stream(context_id, HoptraceStream::on_response_headers);
    CONTINUE
}

/// A stream's end: its spans are finished and the stream is forgotten.
#[no_mangle]
pub extern "C" fn proxy_on_log(context_id: u32) {
    let stream = with_contexts(|c| c.finish_stream(context_id));
    if let Some(stream) = stream {
        stream.on_log();
    }
}
