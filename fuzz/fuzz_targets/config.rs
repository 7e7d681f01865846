//! Fuzz the plugin configuration parser: any bytes from `on_configure` give settings or an error
//! naming the field, never a panic (a panic would kill the VM in Envoy).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = hoptrace_core::config::parse_config(data);
});
