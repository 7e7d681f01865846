//! Logging, time, timers, contexts, properties, shared data and metrics host calls.

use wasmtime::Caller;

use crate::abi::{LogLevel, MetricType, Status};
use crate::memory::{hand_over, read, write_u32, write_u64, Fault};
use crate::runtime::StoreData;
use crate::state::metrics::MetricKind;

/// A host call's outcome.
type Outcome = Result<(), Fault>;

/// `proxy_log(level, message)`.
pub fn log(caller: &mut Caller<'_, StoreData>, level: u32, ptr: u32, len: u32) -> Outcome {
    let level = LogLevel::try_from(level)?;
    let message = read(caller, ptr, len)?;
    caller.data_mut().vm.log(level, &message);
    Ok(())
}

/// `proxy_get_log_level(return_level)`.
pub fn get_log_level(caller: &mut Caller<'_, StoreData>, ret: u32) -> Outcome {
    let level = caller.data().vm.log_level as u32;
    Ok(write_u32(caller, ret, level)?)
}

/// `proxy_get_current_time_nanoseconds(return_time)`: the virtual clock.
pub fn get_time(caller: &mut Caller<'_, StoreData>, ret: u32) -> Outcome {
    let now = caller.data().vm.now_ns;
    Ok(write_u64(caller, ret, now)?)
}

/// `proxy_set_tick_period_milliseconds(period)`.
pub fn set_tick_period(caller: &mut Caller<'_, StoreData>, ms: u32) -> Outcome {
    caller.data_mut().vm.set_tick_period(ms);
    Ok(())
}

/// `proxy_set_effective_context(context_id)`.
pub fn set_effective_context(caller: &mut Caller<'_, StoreData>, id: u32) -> Outcome {
    let vm = &mut caller.data_mut().vm;
    if !vm.is_live(id) {
        return Err(Status::BadArgument.into());
    }
    vm.effective_context = id;
    Ok(())
}

/// `proxy_done()`: the effective context finishes what `proxy_on_done` left open. A root is
/// deleted once the current callback returns, as Envoy defers it; a root that was not told it
/// is done is `NOT_FOUND`, as in proxy-wasm-cpp-host.
pub fn done(caller: &mut Caller<'_, StoreData>) -> Outcome {
    let vm = &mut caller.data_mut().vm;
    let id = vm.effective_context;
    if let Some(root) = vm.roots.get_mut(&id) {
        if !root.awaiting_done {
            return Err(Status::NotFound.into());
        }
        root.awaiting_done = false;
        root.done_called = true;
        return Ok(());
    }
    match vm.effective_stream_mut() {
        Some(stream) if stream.awaiting_done => {
            stream.awaiting_done = false;
            Ok(())
        }
        _ => Err(Status::NotFound.into()),
    }
}

/// `proxy_get_property(path, return_value)`; the path is NUL-separated segments.
pub fn get_property(
    caller: &mut Caller<'_, StoreData>,
    p: u32,
    l: u32,
    rp: u32,
    rs: u32,
) -> Outcome {
    let path = read(caller, p, l)?;
    let value = caller.data().vm.property(&path).ok_or(Status::NotFound)?;
    hand_over(caller, &value, rp, rs)
}

/// `proxy_set_property(path, value)`: kept on the effective stream (or the host for the root).
pub fn set_property(
    caller: &mut Caller<'_, StoreData>,
    p: u32,
    l: u32,
    v: u32,
    vl: u32,
) -> Outcome {
    let path = read(caller, p, l)?;
    let value = read(caller, v, vl)?;
    let vm = &mut caller.data_mut().vm;
    match vm.effective_stream_mut() {
        Some(stream) => stream.properties.set(path, value),
        None => vm.properties.set(path, value),
    }
    Ok(())
}

/// `proxy_get_shared_data(key, return_value, return_cas)`.
pub fn get_shared_data(
    caller: &mut Caller<'_, StoreData>,
    k: u32,
    kl: u32,
    rp: u32,
    rs: u32,
    rc: u32,
) -> Outcome {
    let key = read(caller, k, kl)?;
    let (value, cas) = caller
        .data()
        .vm
        .shared_data
        .get(&key)
        .cloned()
        .ok_or(Status::NotFound)?;
    hand_over(caller, &value, rp, rs)?;
    Ok(write_u32(caller, rc, cas)?)
}

/// `proxy_set_shared_data(key, value, cas)`: a non-zero `cas` must match the stored one.
pub fn set_shared_data(
    caller: &mut Caller<'_, StoreData>,
    k: u32,
    kl: u32,
    v: u32,
    vl: u32,
    cas: u32,
) -> Outcome {
    let key = read(caller, k, kl)?;
    let value = read(caller, v, vl)?;
    let data = &mut caller.data_mut().vm.shared_data;
    let current = data.get(&key).map_or(0, |(_, c)| *c);
    if cas != 0 && cas != current {
        return Err(Status::CasMismatch.into());
    }
    data.insert(key, (value, current.wrapping_add(1).max(1)));
    Ok(())
}

/// `proxy_define_metric(type, name, return_id)`.
pub fn define_metric(
    caller: &mut Caller<'_, StoreData>,
    kind: u32,
    p: u32,
    l: u32,
    ret: u32,
) -> Outcome {
    let kind = MetricKind::from(MetricType::try_from(kind)?);
    let name = read(caller, p, l)?;
    let name = String::from_utf8_lossy(&name);
    let id = caller.data_mut().vm.metrics.define(kind, &name);
    Ok(write_u32(caller, ret, id)?)
}

/// `proxy_increment_metric(id, delta)`.
pub fn increment_metric(caller: &mut Caller<'_, StoreData>, id: u32, delta: i64) -> Outcome {
    Ok(caller.data_mut().vm.metrics.increment(id, delta)?)
}

/// `proxy_record_metric(id, value)`.
pub fn record_metric(caller: &mut Caller<'_, StoreData>, id: u32, value: u64) -> Outcome {
    Ok(caller.data_mut().vm.metrics.record(id, value)?)
}

/// `proxy_get_metric(id, return_value)`.
pub fn get_metric(caller: &mut Caller<'_, StoreData>, id: u32, ret: u32) -> Outcome {
    let value = caller.data().vm.metrics.get_by_id(id)?;
    Ok(write_u64(caller, ret, value)?)
}
