//! Fuzz the host header-pairs decoder with malformed host buffers: decoding never panics, never
//! yields more entries than the buffer could describe, and every entry it yields round-trips
//! through the encoder to the same lines.
#![no_main]

use hoptrace_core::host_pairs::{decode, encode, list_elements};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let lines = decode(data);
    assert!(lines.len() <= data.len() / 8);
    assert!(list_elements(data).len() <= data.len() / 8);
    let encoded = encode(&lines);
    assert_eq!(decode(&encoded), lines);
});
