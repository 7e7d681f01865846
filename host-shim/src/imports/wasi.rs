//! The WASI preview 1 functions a proxy-wasm module built for `wasm32-wasip1` imports, served the
//! way Envoy serves them: `clock_time_get` reads the virtual clock (so guest time and test time
//! agree), `random_get` draws from the host's seeded generator (reproducible runs) with Envoy's
//! 64 KiB limit, `fd_write` to stdout/stderr becomes an info/error log line, the environment and
//! the arguments are empty, and `proc_exit` ends the VM. A module importing any other WASI function
//! is refused at load time with the function's name (a proxy offers no files, sockets or polls).

use rand_core::Rng;
use wasmtime::Caller;

use crate::abi::{errno, LogLevel};
use crate::limits::RANDOM_GET_MAX_BYTES;
use crate::memory::{read, write, write_u32, write_u64};
use crate::runtime::StoreData;

/// WASI `clockid` values.
const REALTIME: u32 = 0;
/// WASI `clockid` for monotonic time.
const MONOTONIC: u32 = 1;

/// `random_get(buf, len)`.
pub fn random_get(caller: &mut Caller<'_, StoreData>, buf: u32, len: u32) -> wasmtime::Result<i32> {
    let Ok(len_usize) = usize::try_from(len) else {
        return Ok(errno::INVAL);
    };
    if len_usize > RANDOM_GET_MAX_BYTES {
        return Ok(errno::INVAL);
    }
    let mut bytes = vec![0; len_usize];
    caller.data_mut().rng.fill_bytes(&mut bytes);
    Ok(match write(caller, buf, &bytes) {
        Ok(()) => errno::SUCCESS,
        Err(_) => errno::FAULT,
    })
}

/// `clock_time_get(clock, precision, ret)`: realtime is the virtual wall clock, monotonic the
/// virtual time since the host started.
pub fn clock_time_get(
    caller: &mut Caller<'_, StoreData>,
    clock: u32,
    _precision: u64,
    ret: u32,
) -> wasmtime::Result<i32> {
    let vm = &caller.data().vm;
    let now = match clock {
        REALTIME => vm.now_ns,
        MONOTONIC => vm.now_ns - vm.start_ns,
        _ => return Ok(errno::NOTSUP),
    };
    Ok(match write_u64(caller, ret, now) {
        Ok(()) => errno::SUCCESS,
        Err(_) => errno::FAULT,
    })
}

/// `fd_write(fd, iovs, iovs_len, ret)`: stdout (1) logs at info, stderr (2) at error.
pub fn fd_write(
    caller: &mut Caller<'_, StoreData>,
    fd: u32,
    iovs: u32,
    iovs_len: u32,
    ret: u32,
) -> wasmtime::Result<i32> {
    let level = match fd {
        1 => LogLevel::Info,
        2 => LogLevel::Error,
        _ => return Ok(errno::BADF),
    };
    let Some(table_len) = iovs_len.checked_mul(8) else {
        return Ok(errno::FAULT);
    };
    let Ok(table) = read(caller, iovs, table_len) else {
        return Ok(errno::FAULT);
    };
    let mut text = Vec::new();
    for iov in table.chunks_exact(8) {
        let (ptr, len) = iov.split_at(4);
        let word = |b: &[u8]| b.try_into().map(u32::from_le_bytes).unwrap_or(u32::MAX);
        match read(caller, word(ptr), word(len)) {
            Ok(bytes) => text.extend_from_slice(&bytes),
            Err(_) => return Ok(errno::FAULT),
        }
    }
    let written = u32::try_from(text.len()).unwrap_or(u32::MAX);
    let message = text.strip_suffix(b"\n").unwrap_or(&text);
    caller.data_mut().vm.log(level, message);
    Ok(match write_u32(caller, ret, written) {
        Ok(()) => errno::SUCCESS,
        Err(_) => errno::FAULT,
    })
}

/// `environ_sizes_get(count, size)` and `args_sizes_get(count, size)`: no variables, as Envoy
/// without `environment_variables`, and no command line.
pub fn no_entries(
    caller: &mut Caller<'_, StoreData>,
    count: u32,
    size: u32,
) -> wasmtime::Result<i32> {
    Ok(
        match write_u32(caller, count, 0).and_then(|()| write_u32(caller, size, 0)) {
            Ok(()) => errno::SUCCESS,
            Err(_) => errno::FAULT,
        },
    )
}

/// `environ_get(environ, buf)` and `args_get(argv, buf)`: nothing to write.
pub fn nothing_to_list(
    _caller: &mut Caller<'_, StoreData>,
    _pointers: u32,
    _buf: u32,
) -> wasmtime::Result<i32> {
    Ok(errno::SUCCESS)
}

/// `sched_yield()`: one thread, nothing to yield to.
pub fn sched_yield(_caller: &mut Caller<'_, StoreData>) -> wasmtime::Result<i32> {
    Ok(errno::SUCCESS)
}

/// What `proc_exit(code)` raises: it ends the VM as a trap does, and says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestExit(pub i32);

impl std::fmt::Display for GuestExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the guest called proc_exit({})", self.0)
    }
}

impl std::error::Error for GuestExit {}

/// `proc_exit(code)`: never returns to the guest.
pub fn proc_exit(_caller: &mut Caller<'_, StoreData>, code: i32) -> wasmtime::Result<()> {
    Err(wasmtime::Error::new(GuestExit(code)))
}
