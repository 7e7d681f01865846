//! The host functions a guest imports: `env.proxy_*` (ABI 0.2.1) and the WASI functions the shim
//! serves itself, registered on a wasmtime [`Linker`].
//!
//! This layer only marshals: it turns guest pointers into bytes and values, asks the state in
//! [`crate::state`] and writes the answer back through [`crate::memory`]. Every call is counted
//! for [`crate::HostCalls`] before anything else happens, so a failing call is counted too.
//!
//! The whole ABI 0.2.1 `env` set is served; a module importing anything else fails to load with a
//! message naming the imports (`Error::UnsupportedImports`), never a silent stub.

mod buffers;
mod calls;
mod foreign;
mod grpc;
mod headers;
mod misc;
mod wasi;

pub use wasi::GuestExit;

use wasmtime::{Caller, Linker};

use crate::memory::finish;
use crate::runtime::StoreData;

/// Registers `$name` under module `$module` with the given wasm parameters, counting each call.
macro_rules! host_fn {
    ($linker:ident, $module:literal, $path:path, $name:ident ( $($arg:ident : $ty:ty),* )) => {
        $linker.func_wrap(
            $module,
            stringify!($name),
            |mut caller: Caller<'_, StoreData>, $($arg: $ty),*| -> wasmtime::Result<i32> {
                caller.data_mut().vm.accounting.host_call(stringify!($name));
                finish($path(&mut caller, $($arg),*))
            },
        )?;
    };
}

/// Registers a WASI function whose implementation already returns an errno (or a trap), counted as
/// a host call; `uncounted` registers one of the guest libc's start-up plumbing, which is not.
macro_rules! wasi_fn {
    (uncounted $linker:ident, $path:path, $name:ident ( $($arg:ident : $ty:ty),* )) => {
        $linker.func_wrap(
            "wasi_snapshot_preview1",
            stringify!($name),
            |mut caller: Caller<'_, StoreData>, $($arg: $ty),*| $path(&mut caller, $($arg),*),
        )?;
    };
    ($linker:ident, $path:path, $name:ident ( $($arg:ident : $ty:ty),* )) => {
        $linker.func_wrap(
            "wasi_snapshot_preview1",
            stringify!($name),
            |mut caller: Caller<'_, StoreData>, $($arg: $ty),*| -> wasmtime::Result<i32> {
                caller.data_mut().vm.accounting.host_call(stringify!($name));
                $path(&mut caller, $($arg),*)
            },
        )?;
    };
}

/// Adds every `env.proxy_*` function the shim implements.
pub fn add_env(linker: &mut Linker<StoreData>) -> wasmtime::Result<()> {
    use self::{buffers as b, calls as c, foreign as f, grpc as g, headers as h, misc as m};
    host_fn!(linker, "env", m::log, proxy_log(level: u32, ptr: u32, len: u32));
    host_fn!(linker, "env", m::get_log_level, proxy_get_log_level(ret: u32));
    host_fn!(linker, "env", m::get_time, proxy_get_current_time_nanoseconds(ret: u32));
    host_fn!(linker, "env", m::set_tick_period, proxy_set_tick_period_milliseconds(ms: u32));
    host_fn!(linker, "env", m::set_effective_context, proxy_set_effective_context(id: u32));
    host_fn!(linker, "env", m::done, proxy_done());
    host_fn!(linker, "env", m::get_property, proxy_get_property(p: u32, l: u32, rp: u32, rs: u32));
    host_fn!(linker, "env", m::set_property, proxy_set_property(p: u32, l: u32, v: u32, vl: u32));
    host_fn!(linker, "env", m::get_shared_data,
        proxy_get_shared_data(k: u32, kl: u32, rp: u32, rs: u32, rc: u32));
    host_fn!(linker, "env", m::set_shared_data,
        proxy_set_shared_data(k: u32, kl: u32, v: u32, vl: u32, cas: u32));
    host_fn!(linker, "env", m::define_metric,
        proxy_define_metric(kind: u32, p: u32, l: u32, ret: u32));
    host_fn!(linker, "env", m::increment_metric, proxy_increment_metric(id: u32, delta: i64));
    host_fn!(linker, "env", m::record_metric, proxy_record_metric(id: u32, value: u64));
    host_fn!(linker, "env", m::get_metric, proxy_get_metric(id: u32, ret: u32));
    host_fn!(linker, "env", h::get_pairs, proxy_get_header_map_pairs(map: u32, rp: u32, rs: u32));
    host_fn!(linker, "env", h::set_pairs, proxy_set_header_map_pairs(map: u32, p: u32, l: u32));
    host_fn!(linker, "env", h::get_size, proxy_get_header_map_size(map: u32, ret: u32));
    host_fn!(linker, "env", h::get_value,
        proxy_get_header_map_value(map: u32, k: u32, kl: u32, rp: u32, rs: u32));
    host_fn!(linker, "env", h::add_value,
        proxy_add_header_map_value(map: u32, k: u32, kl: u32, v: u32, vl: u32));
    host_fn!(linker, "env", h::replace_value,
        proxy_replace_header_map_value(map: u32, k: u32, kl: u32, v: u32, vl: u32));
    host_fn!(linker, "env", h::remove_value,
        proxy_remove_header_map_value(map: u32, k: u32, kl: u32));
    host_fn!(linker, "env", b::get_bytes,
        proxy_get_buffer_bytes(buf: u32, start: u32, max: u32, rp: u32, rs: u32));
    host_fn!(linker, "env", b::get_status,
        proxy_get_buffer_status(buf: u32, rs: u32, rf: u32));
    host_fn!(linker, "env", b::set_bytes,
        proxy_set_buffer_bytes(buf: u32, start: u32, size: u32, p: u32, l: u32));
    host_fn!(linker, "env", c::continue_stream, proxy_continue_stream(stream: u32));
    host_fn!(linker, "env", c::close_stream, proxy_close_stream(stream: u32));
    host_fn!(linker, "env", c::send_local_response,
        proxy_send_local_response(status: u32, dp: u32, dl: u32, bp: u32, bl: u32, hp: u32,
            hl: u32, grpc: i32));
    host_fn!(linker, "env", c::http_call,
        proxy_http_call(up: u32, ul: u32, hp: u32, hl: u32, bp: u32, bl: u32, tp: u32, tl: u32,
            timeout: u32, ret: u32));
    host_fn!(linker, "env", c::get_status, proxy_get_status(rc: u32, rp: u32, rs: u32));
    host_fn!(linker, "env", g::call,
        proxy_grpc_call(up: u32, ul: u32, sp: u32, sl: u32, mp: u32, ml: u32, hp: u32, hl: u32,
            bp: u32, bl: u32, timeout: u32, ret: u32));
    host_fn!(linker, "env", g::stream,
        proxy_grpc_stream(up: u32, ul: u32, sp: u32, sl: u32, mp: u32, ml: u32, hp: u32, hl: u32,
            ret: u32));
    host_fn!(linker, "env", g::send, proxy_grpc_send(id: u32, p: u32, l: u32, end: u32));
    host_fn!(linker, "env", g::cancel, proxy_grpc_cancel(id: u32));
    host_fn!(linker, "env", g::close, proxy_grpc_close(id: u32));
    host_fn!(linker, "env", g::register_queue, proxy_register_shared_queue(p: u32, l: u32, ret: u32));
    host_fn!(linker, "env", g::resolve_queue,
        proxy_resolve_shared_queue(vp: u32, vl: u32, np: u32, nl: u32, ret: u32));
    host_fn!(linker, "env", g::enqueue, proxy_enqueue_shared_queue(id: u32, p: u32, l: u32));
    host_fn!(linker, "env", g::dequeue, proxy_dequeue_shared_queue(id: u32, rp: u32, rs: u32));
    host_fn!(linker, "env", f::call_foreign_function,
        proxy_call_foreign_function(np: u32, nl: u32, ap: u32, al: u32, rp: u32, rs: u32));
    Ok(())
}

/// Adds the WASI functions the shim serves (see [`wasi`]). The clock, randomness and `fd_write` are
/// counted as host calls; the environment, arguments, `sched_yield` and `proc_exit` are start-up
/// plumbing of the guest's libc and are not.
pub fn add_wasi(linker: &mut Linker<StoreData>) -> wasmtime::Result<()> {
    wasi_fn!(linker, wasi::random_get, random_get(buf: u32, len: u32));
    wasi_fn!(linker, wasi::clock_time_get, clock_time_get(clock: u32, precision: u64, ret: u32));
    wasi_fn!(linker, wasi::fd_write, fd_write(fd: u32, iovs: u32, iovs_len: u32, ret: u32));
    wasi_fn!(uncounted linker, wasi::no_entries, environ_sizes_get(count: u32, size: u32));
    wasi_fn!(uncounted linker, wasi::nothing_to_list, environ_get(pointers: u32, buf: u32));
    wasi_fn!(uncounted linker, wasi::no_entries, args_sizes_get(count: u32, size: u32));
    wasi_fn!(uncounted linker, wasi::nothing_to_list, args_get(pointers: u32, buf: u32));
    wasi_fn!(uncounted linker, wasi::sched_yield, sched_yield());
    wasi_fn!(uncounted linker, wasi::proc_exit, proc_exit(code: i32));
    Ok(())
}
