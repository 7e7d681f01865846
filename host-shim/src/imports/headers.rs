//! Header-map host calls (`proxy_*_header_map_*`), with Envoy's reachability rules.

use wasmtime::Caller;

use crate::abi::MapType;
use crate::memory::{hand_over, read, write_u32, Fault};
use crate::pairs;
use crate::runtime::StoreData;

/// A host call's outcome.
type Outcome = Result<(), Fault>;

/// `proxy_get_header_map_pairs(map, return_data)`: every line, repeated names kept. An
/// unreachable map reads as empty, as in Envoy.
pub fn get_pairs(caller: &mut Caller<'_, StoreData>, map: u32, rp: u32, rs: u32) -> Outcome {
    let map = MapType::try_from(map)?;
    let bytes = match caller.data().vm.readable_map(map) {
        Some(m) if !m.is_empty() => pairs::encode(&m.as_pairs()),
        _ => Vec::new(),
    };
    hand_over(caller, &bytes, rp, rs)
}

/// `proxy_set_header_map_pairs(map, data)`: replaces the whole map. A malformed buffer decodes
/// as no pairs (cpp-host `toPairs`), which empties the map, as in Envoy.
pub fn set_pairs(caller: &mut Caller<'_, StoreData>, map: u32, p: u32, l: u32) -> Outcome {
    let map = MapType::try_from(map)?;
    let bytes = read(caller, p, l)?;
    let lines = pairs::decode(&bytes).unwrap_or_default();
    let target = caller.data_mut().vm.writable_map(map)?;
    *target = lines.into_iter().collect();
    Ok(())
}

/// `proxy_get_header_map_size(map, return_size)`: Envoy's `byteSize()`.
pub fn get_size(caller: &mut Caller<'_, StoreData>, map: u32, ret: u32) -> Outcome {
    let map = MapType::try_from(map)?;
    let size = caller.data_mut().vm.writable_map(map)?.byte_size();
    Ok(write_u32(
        caller,
        ret,
        u32::try_from(size).unwrap_or(u32::MAX),
    )?)
}

/// `proxy_get_header_map_value(map, key, return_value)`: the first line only.
pub fn get_value(
    caller: &mut Caller<'_, StoreData>,
    map: u32,
    k: u32,
    kl: u32,
    rp: u32,
    rs: u32,
) -> Outcome {
    let map = MapType::try_from(map)?;
    let key = read(caller, k, kl)?;
    let key = String::from_utf8_lossy(&key);
    let vm = &caller.data().vm;
    let value = match vm.readable_map(map) {
        Some(m) => m
            .get(&key)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| vm.missing_value_status(true)),
        None => Err(vm.missing_value_status(false)),
    }?;
    hand_over(caller, &value, rp, rs)
}

/// Reads a key and a value, then applies `edit` to the writable map.
fn edit(
    caller: &mut Caller<'_, StoreData>,
    map: u32,
    key: (u32, u32),
    value: Option<(u32, u32)>,
    edit: impl FnOnce(&mut crate::headers::HeaderMap, &[u8], &[u8]),
) -> Outcome {
    let map = MapType::try_from(map)?;
    let key = read(caller, key.0, key.1)?;
    let value = match value {
        Some((p, l)) => read(caller, p, l)?,
        None => Vec::new(),
    };
    let target = caller.data_mut().vm.writable_map(map)?;
    edit(target, &key, &value);
    Ok(())
}

/// `proxy_add_header_map_value(map, key, value)`: appends a line.
pub fn add_value(
    caller: &mut Caller<'_, StoreData>,
    map: u32,
    k: u32,
    kl: u32,
    v: u32,
    vl: u32,
) -> Outcome {
    edit(caller, map, (k, kl), Some((v, vl)), |m, k, v| m.add(k, v))
}

/// `proxy_replace_header_map_value(map, key, value)`: one line with this value.
pub fn replace_value(
    caller: &mut Caller<'_, StoreData>,
    map: u32,
    k: u32,
    kl: u32,
    v: u32,
    vl: u32,
) -> Outcome {
    edit(caller, map, (k, kl), Some((v, vl)), |m, k, v| {
        m.replace(k, v)
    })
}

/// `proxy_remove_header_map_value(map, key)`: drops every line (OK when there was none).
pub fn remove_value(caller: &mut Caller<'_, StoreData>, map: u32, k: u32, kl: u32) -> Outcome {
    edit(caller, map, (k, kl), None, |m, k, _| m.remove(k))
}
