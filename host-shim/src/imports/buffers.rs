//! Buffer host calls (`proxy_get_buffer_bytes`, `proxy_get_buffer_status`, `proxy_set_buffer_bytes`).

use wasmtime::Caller;

use crate::abi::{BufferType, Status};
use crate::memory::{hand_over, read, write_u32, Fault};
use crate::runtime::StoreData;

/// A host call's outcome.
type Outcome = Result<(), Fault>;

/// `proxy_get_buffer_bytes(buffer, start, max_size, return_data)`, as cpp-host: a range past the
/// end is cut to the end, an empty result writes nothing and is `OK`, overflow is `BAD_ARGUMENT`.
pub fn get_bytes(
    caller: &mut Caller<'_, StoreData>,
    buf: u32,
    start: u32,
    max: u32,
    rp: u32,
    rs: u32,
) -> Outcome {
    let buffer = BufferType::try_from(buf)?;
    if start.checked_add(max).is_none() {
        return Err(Status::BadArgument.into());
    }
    let bytes = caller.data().vm.readable_buffer(buffer)?;
    let from = usize::try_from(start)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    let to = from
        .saturating_add(usize::try_from(max).unwrap_or(usize::MAX))
        .min(bytes.len());
    let slice = bytes.get(from..to).unwrap_or_default().to_vec();
    if slice.is_empty() {
        return Ok(());
    }
    hand_over(caller, &slice, rp, rs)
}

/// `proxy_get_buffer_status(buffer, return_size, return_flags)`.
pub fn get_status(caller: &mut Caller<'_, StoreData>, buf: u32, rs: u32, rf: u32) -> Outcome {
    let buffer = BufferType::try_from(buf)?;
    let len = caller.data().vm.readable_buffer(buffer)?.len();
    write_u32(caller, rs, u32::try_from(len).unwrap_or(u32::MAX))?;
    Ok(write_u32(caller, rf, 0)?)
}

/// `proxy_set_buffer_bytes(buffer, start, size, data)`, with Envoy's body semantics: `start = 0`
/// drops `size` bytes and prepends, `start ≥ length` appends, anything else is `BAD_ARGUMENT`.
pub fn set_bytes(
    caller: &mut Caller<'_, StoreData>,
    buf: u32,
    start: u32,
    size: u32,
    p: u32,
    l: u32,
) -> Outcome {
    let buffer = BufferType::try_from(buf)?;
    let data = read(caller, p, l)?;
    let target = caller.data_mut().vm.writable_buffer(buffer)?;
    let start = usize::try_from(start).unwrap_or(usize::MAX);
    if start == 0 {
        let drop = usize::try_from(size)
            .unwrap_or(usize::MAX)
            .min(target.len());
        target.splice(..drop, data);
    } else if start >= target.len() {
        target.extend_from_slice(&data);
    } else {
        return Err(Status::BadArgument.into());
    }
    Ok(())
}
