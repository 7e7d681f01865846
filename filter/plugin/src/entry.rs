//! The proxy-wasm entry points the module exports, and the table of live contexts behind them.
//!
//! The SDK's dispatcher exports every callback of the ABI and keeps each stream until
//! `proxy_on_delete`. Each callback a module exports is a trip into V8 that Envoy makes for every
//! stream (~4k instructions of the proxy's), so hoptrace defines its own entry points and exports
//! only those it needs (`exports.json`): a stream is forgotten at `proxy_on_log`, Envoy's last
//! call that can see its facts, and `proxy_on_delete` is not exported at all.
//!
//! Envoy calls `proxy_on_log` once for every stream context it created, also for local replies
//! and resets. Should a stream never be logged, the table still stays bounded: past
//! [`MAX_STREAMS`] the oldest stream is forgotten, and the next tick says so in the log.
//!
//! Without `proxy_on_delete` a root context is not told when its plugin goes away (a configuration
//! change can replace it in a VM that lives on). Every root ticks every 100 ms while its plugin
//! lives, so a root that has missed [`STALE_ROOT_TICKS`] of the other roots' ticks (five minutes
//! of them) is dropped. Counting ticks rather than reading the clock keeps a stalled worker, whose
//! roots all miss their ticks alike, from dropping a live one.

use crate::abi::LogLevel;
use crate::host;
use crate::root::HoptraceRoot;
use crate::stream::HoptraceStream;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::mem::MaybeUninit;

// Streams one VM keeps at most between `proxy_on_context_create` and `proxy_on_log`: the core's
// memory bound counts on it.
use hoptrace_core::memory::MAX_STREAMS;

/// Ticks of other roots after which a root that has not ticked itself belongs to a removed plugin.
const STALE_ROOT_TICKS: u32 = 3000;

/// `proxy_on_request_headers` / `proxy_on_response_headers` answer: let the stream continue.
const CONTINUE: u32 = 0;

/// A root context, and how many ticks of the other roots it has missed.
struct RootSlot {
    id: u32,
    root: HoptraceRoot,
    missed_ticks: u32,
}

/// Every context of this VM the host has created and not yet finished with.
#[derive(Default)]
struct Contexts {
    /// Root contexts (one per plugin configuration sharing this VM).
    roots: Vec<RootSlot>,
    /// Stream contexts by id; ids grow, so the first entry is the oldest.
    streams: BTreeMap<u32, HoptraceStream>,
    /// Streams forgotten because the table was full, not yet reported.
    evicted: u64,
}

impl Contexts {
    fn root(&mut self, id: u32) -> Option<&mut HoptraceRoot> {
        self.roots
            .iter_mut()
            .find(|slot| slot.id == id)
            .map(|slot| &mut slot.root)
    }

    /// Note that root `id` ticked, and drop the roots whose plugin is gone.
    fn ticked(&mut self, id: u32) {
        self.roots.retain_mut(|slot| {
            slot.missed_ticks = if slot.id == id {
                0
            } else {
                slot.missed_ticks.saturating_add(1)
            };
            slot.missed_ticks < STALE_ROOT_TICKS
        });
    }
}

thread_local! {
    static CONTEXTS: RefCell<Contexts> = RefCell::new(Contexts::default());
}

/// Run `f` on the context table. Callbacks never nest, so the table is always free; if it ever
/// were not, the callback does nothing rather than trap the VM.
fn with_contexts<R: Default>(f: impl FnOnce(&mut Contexts) -> R) -> R {
    CONTEXTS.with(|c| match c.try_borrow_mut() {
        Ok(mut contexts) => f(&mut contexts),
        Err(_) => R::default(),
    })
}

/// Run `f` on stream `context_id`, if the table knows it (an unknown id is ignored, never a trap).
fn with_stream(context_id: u32, f: impl FnOnce(&mut HoptraceStream)) {
    with_contexts(|c| {
        if let Some(stream) = c.streams.get_mut(&context_id) {
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
        if root_context_id == 0 {
            if c.root(context_id).is_none() {
                c.roots.push(RootSlot {
                    id: context_id,
                    root: HoptraceRoot::default(),
                    missed_ticks: 0,
                });
            }
            return;
        }
        let Some(root) = c.root(root_context_id) else {
            return;
        };
        let stream = root.new_stream();
        if c.streams.len() >= MAX_STREAMS && c.streams.pop_first().is_some() {
            c.evicted += 1;
        }
        c.streams.insert(context_id, stream);
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
        if c.evicted > 0 {
            host::log(
                LogLevel::Warn,
                &format!(
                    "hoptrace: {} streams were never logged by the host and were forgotten unrecorded",
                    c.evicted
                ),
            );
            c.evicted = 0;
        }
        c.ticked(context_id);
        if let Some(root) = c.root(context_id) {
            root.on_tick();
        }
    });
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
    let stream = with_contexts(|c| c.streams.remove(&context_id));
    if let Some(mut stream) = stream {
        stream.on_log();
    }
}
