//! Bounds-checked access to the guest's linear memory, and host-to-guest copies through the
//! guest's allocator (`proxy_on_memory_allocate`, or `malloc`).
//!
//! Every pointer a guest hands over is checked against the memory's current size; a bad one is an
//! `INVALID_MEMORY_ACCESS` result for that host call, never a host panic. A trap inside the guest's
//! allocator is different: the guest is broken, so it travels up as a trap.

use wasmtime::Caller;

use crate::abi::Status;
use crate::runtime::StoreData;

/// Why a host call did not succeed.
pub enum Fault {
    /// A status for the guest (the host call returns normally).
    Status(Status),
    /// The guest trapped while the host called back into it: the host call traps too.
    Trap(wasmtime::Error),
}

impl From<Status> for Fault {
    fn from(status: Status) -> Self {
        Self::Status(status)
    }
}

/// What a host call hands back to wasmtime: a status code, or a trap.
pub fn finish(result: Result<(), Fault>) -> wasmtime::Result<i32> {
    match result {
        Ok(()) => Ok(Status::Ok.code()),
        Err(Fault::Status(status)) => Ok(status.code()),
        Err(Fault::Trap(error)) => Err(error),
    }
}

/// The byte range `ptr..ptr + len` as host indices, if it does not overflow.
fn range(ptr: u32, len: u32) -> Option<std::ops::Range<usize>> {
    let start = usize::try_from(ptr).ok()?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    Some(start..end)
}

/// Copies `len` bytes at `ptr` out of the guest.
pub fn read(caller: &Caller<'_, StoreData>, ptr: u32, len: u32) -> Result<Vec<u8>, Status> {
    let memory = caller
        .data()
        .guest
        .memory
        .ok_or(Status::InvalidMemoryAccess)?;
    let range = range(ptr, len).ok_or(Status::InvalidMemoryAccess)?;
    memory
        .data(caller)
        .get(range)
        .map(<[u8]>::to_vec)
        .ok_or(Status::InvalidMemoryAccess)
}

/// Writes `bytes` at `ptr` in the guest.
pub fn write(caller: &mut Caller<'_, StoreData>, ptr: u32, bytes: &[u8]) -> Result<(), Status> {
    let memory = caller
        .data()
        .guest
        .memory
        .ok_or(Status::InvalidMemoryAccess)?;
    let len = u32::try_from(bytes.len()).map_err(|_| Status::InvalidMemoryAccess)?;
    let range = range(ptr, len).ok_or(Status::InvalidMemoryAccess)?;
    let target = memory
        .data_mut(caller)
        .get_mut(range)
        .ok_or(Status::InvalidMemoryAccess)?;
    target.copy_from_slice(bytes);
    Ok(())
}

/// Writes a little-endian `u32` (a wasm32 `size_t`, pointer or id) at `ptr`.
pub fn write_u32(caller: &mut Caller<'_, StoreData>, ptr: u32, value: u32) -> Result<(), Status> {
    write(caller, ptr, &value.to_le_bytes())
}

/// Writes a little-endian `u64` at `ptr`.
pub fn write_u64(caller: &mut Caller<'_, StoreData>, ptr: u32, value: u64) -> Result<(), Status> {
    write(caller, ptr, &value.to_le_bytes())
}

/// Hands `bytes` to the guest: allocates in the guest, copies, and writes the pointer and size at
/// `ptr_ptr` / `size_ptr` (cpp-host `copyToPointerSize`). Nothing is allocated for empty bytes:
/// the guest gets a null pointer and size 0, which the SDKs read as "empty".
pub fn hand_over(
    caller: &mut Caller<'_, StoreData>,
    bytes: &[u8],
    ptr_ptr: u32,
    size_ptr: u32,
) -> Result<(), Fault> {
    let len = u32::try_from(bytes.len()).map_err(|_| Status::InvalidMemoryAccess)?;
    let ptr = if bytes.is_empty() {
        0
    } else {
        let ptr = allocate(caller, len)?;
        write(caller, ptr, bytes)?;
        ptr
    };
    write_u32(caller, ptr_ptr, ptr)?;
    write_u32(caller, size_ptr, len)?;
    Ok(())
}

/// Calls the guest's allocator for `len` bytes; a null result is `INVALID_MEMORY_ACCESS`.
fn allocate(caller: &mut Caller<'_, StoreData>, len: u32) -> Result<u32, Fault> {
    let alloc = caller
        .data()
        .guest
        .alloc
        .clone()
        .ok_or(Status::InvalidMemoryAccess)?;
    match alloc.call(&mut *caller, len) {
        Ok(0) => Err(Status::InvalidMemoryAccess.into()),
        Ok(ptr) => Ok(ptr),
        Err(trap) => Err(Fault::Trap(trap)),
    }
}
