//! `proxy_call_foreign_function`: marshalling only; the functions themselves are in
//! [`crate::state::foreign`].

use wasmtime::Caller;

use crate::memory::{hand_over, read, write_u32, Fault};
use crate::runtime::StoreData;

/// `proxy_call_foreign_function(name, arguments, return_results)`.
///
/// As cpp-host's `call_foreign_function`: an unknown name returns before the result pointers are
/// touched; otherwise the result pointer and size are written, null and 0 when the function
/// failed, and a null pointer slot means the guest does not want the result.
pub fn call_foreign_function(
    caller: &mut Caller<'_, StoreData>,
    np: u32,
    nl: u32,
    ap: u32,
    al: u32,
    rp: u32,
    rs: u32,
) -> Result<(), Fault> {
    let name = read(caller, np, nl)?;
    let arguments = read(caller, ap, al)?;
    let vm = &mut caller.data_mut().vm;
    vm.accounting.foreign_call(&name);
    let known = vm.foreign.knows(&name);
    match vm.call_foreign_function(&name, &arguments) {
        Ok(answer) if rp != 0 && rs != 0 => hand_over(caller, &answer, rp, rs),
        Ok(answer) => write_optional(caller, (rp, 0), (rs, answer.len())),
        Err(status) if known => {
            write_optional(caller, (rp, 0), (rs, 0))?;
            Err(status.into())
        }
        Err(status) => Err(status.into()),
    }
}

/// Writes each `(slot, value)` whose slot is not null.
fn write_optional(
    caller: &mut Caller<'_, StoreData>,
    pointer: (u32, u32),
    size: (u32, usize),
) -> Result<(), Fault> {
    if pointer.0 != 0 {
        write_u32(caller, pointer.0, pointer.1)?;
    }
    if size.0 != 0 {
        let len = u32::try_from(size.1).unwrap_or(u32::MAX);
        write_u32(caller, size.0, len)?;
    }
    Ok(())
}
