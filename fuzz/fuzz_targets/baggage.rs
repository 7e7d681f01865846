//! Fuzz `parse_baggage`: it never panics, respects its limits, and what it accepts re-encodes to a
//! header that parses back the same (when the re-encoded header still fits the size limit).
#![no_main]

use hoptrace_core::propagation::parse_baggage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let lines: Vec<&[u8]> = data.split(|&c| c == b'\n').collect();
    if let Ok(b) = parse_baggage(&lines) {
        assert!(b.len() <= 64);
        if let Some(h) = b.to_header() {
            if h.len() <= 8192 {
                assert_eq!(parse_baggage(&[h.as_bytes()]).unwrap(), b);
            }
        }
    }
});
