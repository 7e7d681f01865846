//! wasmtime plumbing: the engine, compiled-module cache, the store's data, linking and the typed
//! exports the host calls, and calling them with a fuel budget so a runaway guest becomes an error.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Mutex, OnceLock};

use rand_chacha::ChaCha8Rng;
use wasmtime::{
    Config, Engine, Instance, Linker, Memory, Module, Store, StoreLimits, StoreLimitsBuilder, Trap,
    TypedFunc, WasmParams, WasmResults,
};

use crate::error::Error;
use crate::imports;
use crate::limits::MAX_WASM_MEMORY_BYTES;
use crate::state::VmState;

/// What a [`Store`] carries: limits, the fake proxy and handles into the guest.
pub struct StoreData {
    /// Memory limits.
    pub limits: StoreLimits,
    /// The fake proxy.
    pub vm: VmState,
    /// Handles the host functions need.
    pub guest: GuestHandles,
    /// Randomness for `random_get`, seeded so runs repeat.
    pub rng: ChaCha8Rng,
}

/// Handles into the instance, set once it exists.
#[derive(Default)]
pub struct GuestHandles {
    /// The guest's linear memory.
    pub memory: Option<Memory>,
    /// `proxy_on_memory_allocate` (or `malloc`).
    pub alloc: Option<TypedFunc<u32, u32>>,
}

/// Whether callbacks run under a fuel budget: always, except in a `perfmap` build profiling JIT
/// code, where the fuel checks would be part of what is measured.
pub fn fuel_enabled() -> bool {
    #[cfg(feature = "perfmap")]
    if perfmap_requested() {
        return false;
    }
    true
}

#[cfg(feature = "perfmap")]
fn perfmap_requested() -> bool {
    std::env::var_os("HOPTRACE_SHIM_PERFMAP").is_some()
}

/// One engine for the process: compiled modules are shared between hosts through it.
fn engine() -> Result<&'static Engine, Error> {
    static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let mut config = Config::new();
            config.consume_fuel(fuel_enabled());
            #[cfg(feature = "perfmap")]
            if perfmap_requested() {
                config.profiler(wasmtime::ProfilingStrategy::PerfMap);
            }
            Engine::new(&config).map_err(|e| format!("{e:?}"))
        })
        .as_ref()
        .map_err(|e| Error::Compile(e.clone()))
}

/// Compiles `bytes` (binary or WAT), once per distinct module in this process.
pub fn compile(bytes: &[u8]) -> Result<Module, Error> {
    static CACHE: OnceLock<Mutex<HashMap<(u64, usize), Module>>> = OnceLock::new();
    let mut hasher = DefaultHasher::new();
    bytes.hash(&mut hasher);
    let key = (hasher.finish(), bytes.len());
    // The lock is held while compiling so parallel tests loading one module compile it once.
    let mut cache = CACHE
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(module) = cache.get(&key) {
        return Ok(module.clone());
    }
    let module = Module::new(engine()?, bytes).map_err(|e| Error::Compile(format!("{e:?}")))?;
    cache.insert(key, module.clone());
    Ok(module)
}

/// A new store for `module`'s engine.
pub fn store(vm: VmState, seed: u64) -> Result<Store<StoreData>, Error> {
    use rand_core::SeedableRng;
    let data = StoreData {
        limits: StoreLimitsBuilder::new()
            .memory_size(MAX_WASM_MEMORY_BYTES)
            .build(),
        vm,
        guest: GuestHandles::default(),
        rng: ChaCha8Rng::seed_from_u64(seed),
    };
    let mut store = Store::new(engine()?, data);
    store.limiter(|data| &mut data.limits);
    Ok(store)
}

/// Links the host functions and instantiates `module`, refusing imports the shim cannot serve.
pub fn instantiate(store: &mut Store<StoreData>, module: &Module) -> Result<Instance, Error> {
    let mut linker: Linker<StoreData> = Linker::new(store.engine());
    let link_error = |e: wasmtime::Error| Error::Instantiate(format!("{e:?}"));
    imports::add_env(&mut linker).map_err(link_error)?;
    imports::add_wasi(&mut linker).map_err(link_error)?;
    let missing: Vec<String> = module
        .imports()
        .filter(|import| linker.get_by_import(&mut *store, import).is_none())
        .map(|import| format!("{}.{}", import.module(), import.name()))
        .collect();
    if !missing.is_empty() {
        return Err(Error::UnsupportedImports(missing));
    }
    linker
        .instantiate(&mut *store, module)
        .map_err(|e| Error::Instantiate(describe(&e)))
}

/// Looks up an optional export with the ABI's signature.
fn optional<P: WasmParams, R: WasmResults>(
    store: &mut Store<StoreData>,
    instance: &Instance,
    name: &'static str,
) -> Result<Option<TypedFunc<P, R>>, Error> {
    if instance.get_func(&mut *store, name).is_none() {
        return Ok(None);
    }
    instance
        .get_typed_func::<P, R>(&mut *store, name)
        .map(Some)
        .map_err(|e| Error::BadExport {
            name,
            reason: format!("{e}"),
        })
}

/// `proxy_on_http_call_response(context_id, token, num_headers, body_size, num_trailers)`.
pub type HttpCallResponseFn = TypedFunc<(u32, u32, u32, u32, u32), ()>;

/// The guest's exports the host calls (each optional, as the ABI says callbacks are).
#[derive(Clone)]
pub struct Exports {
    /// `_initialize`
    pub initialize: Option<TypedFunc<(), ()>>,
    /// `_start` (only called without `_initialize`)
    pub start: Option<TypedFunc<(), ()>>,
    /// `proxy_on_context_create(context_id, parent_context_id)`
    pub context_create: Option<TypedFunc<(u32, u32), ()>>,
    /// `proxy_on_vm_start(root_id, vm_configuration_size) -> bool`
    pub vm_start: Option<TypedFunc<(u32, u32), u32>>,
    /// `proxy_on_configure(root_id, plugin_configuration_size) -> bool`
    pub configure: Option<TypedFunc<(u32, u32), u32>>,
    /// `proxy_on_tick(root_id)`
    pub tick: Option<TypedFunc<u32, ()>>,
    /// `proxy_on_request_headers(context_id, num_headers, end_of_stream) -> action`
    pub request_headers: Option<TypedFunc<(u32, u32, u32), u32>>,
    /// `proxy_on_request_body(context_id, body_size, end_of_stream) -> action`
    pub request_body: Option<TypedFunc<(u32, u32, u32), u32>>,
    /// `proxy_on_request_trailers(context_id, num_trailers) -> action`
    pub request_trailers: Option<TypedFunc<(u32, u32), u32>>,
    /// `proxy_on_response_headers(context_id, num_headers, end_of_stream) -> action`
    pub response_headers: Option<TypedFunc<(u32, u32, u32), u32>>,
    /// `proxy_on_response_body(context_id, body_size, end_of_stream) -> action`
    pub response_body: Option<TypedFunc<(u32, u32, u32), u32>>,
    /// `proxy_on_response_trailers(context_id, num_trailers) -> action`
    pub response_trailers: Option<TypedFunc<(u32, u32), u32>>,
    /// `proxy_on_log(context_id)`
    pub log: Option<TypedFunc<u32, ()>>,
    /// `proxy_on_done(context_id) -> bool`
    pub done: Option<TypedFunc<u32, u32>>,
    /// `proxy_on_delete(context_id)`
    pub delete: Option<TypedFunc<u32, ()>>,
    /// `proxy_on_http_call_response(context_id, token, num_headers, body_size, num_trailers)`
    pub http_call_response: Option<HttpCallResponseFn>,
    /// `proxy_on_queue_ready(context_id, queue_id)`
    pub queue_ready: Option<TypedFunc<(u32, u32), ()>>,
}

impl Exports {
    /// Finds the exports, checks the ABI marker, and hands memory and allocator to the store.
    pub fn bind(store: &mut Store<StoreData>, instance: &Instance) -> Result<Self, Error> {
        let marker = ["proxy_abi_version_0_2_1", "proxy_abi_version_0_2_0"]
            .iter()
            .any(|name| instance.get_func(&mut *store, name).is_some());
        if !marker {
            return Err(Error::NotProxyWasm);
        }
        let memory = instance
            .get_memory(&mut *store, "memory")
            .ok_or(Error::MissingExport("memory"))?;
        let alloc = match optional::<u32, u32>(store, instance, "proxy_on_memory_allocate")? {
            Some(f) => f,
            None => optional::<u32, u32>(store, instance, "malloc")?
                .ok_or(Error::MissingExport("proxy_on_memory_allocate"))?,
        };
        store.data_mut().guest = GuestHandles {
            memory: Some(memory),
            alloc: Some(alloc),
        };
        Ok(Self {
            initialize: optional(store, instance, "_initialize")?,
            start: optional(store, instance, "_start")?,
            context_create: optional(store, instance, "proxy_on_context_create")?,
            vm_start: optional(store, instance, "proxy_on_vm_start")?,
            configure: optional(store, instance, "proxy_on_configure")?,
            tick: optional(store, instance, "proxy_on_tick")?,
            request_headers: optional(store, instance, "proxy_on_request_headers")?,
            request_body: optional(store, instance, "proxy_on_request_body")?,
            request_trailers: optional(store, instance, "proxy_on_request_trailers")?,
            response_headers: optional(store, instance, "proxy_on_response_headers")?,
            response_body: optional(store, instance, "proxy_on_response_body")?,
            response_trailers: optional(store, instance, "proxy_on_response_trailers")?,
            log: optional(store, instance, "proxy_on_log")?,
            done: optional(store, instance, "proxy_on_done")?,
            delete: optional(store, instance, "proxy_on_delete")?,
            http_call_response: optional(store, instance, "proxy_on_http_call_response")?,
            queue_ready: optional(store, instance, "proxy_on_queue_ready")?,
        })
    }
}

/// A wasmtime error as a person reads it: the trap kind, or the whole cause chain.
pub fn describe(error: &wasmtime::Error) -> String {
    if let Some(trap) = error.downcast_ref::<Trap>() {
        return match trap {
            Trap::OutOfFuel => {
                "ran out of fuel (the callback's instruction budget): an endless loop?".to_string()
            }
            other => format!("wasm trap: {other}"),
        };
    }
    if let Some(exit) = error.downcast_ref::<imports::GuestExit>() {
        return exit.to_string();
    }
    error
        .chain()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}
