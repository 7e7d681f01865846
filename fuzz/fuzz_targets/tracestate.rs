//! Fuzz `parse_tracestate` and the list edits the hop makes: anything accepted formats to a header
//! that parses back to the same list, and stays valid after our `ot` member is put first.
#![no_main]

use hoptrace_core::propagation::{parse_tracestate, TraceState};
use libfuzzer_sys::fuzz_target;

fn round_trip(ts: &TraceState) {
    match ts.to_header() {
        None => assert!(ts.is_empty()),
        Some(h) => assert_eq!(&parse_tracestate(&[h.as_bytes()]).unwrap(), ts),
    }
}

fuzz_target!(|data: &[u8]| {
    let lines: Vec<&[u8]> = data.split(|&c| c == b'\n').collect();
    if let Ok(mut ts) = parse_tracestate(&lines) {
        assert!(ts.len() <= 32);
        round_trip(&ts);
        ts.upsert_first("ot", "th:8").unwrap();
        assert!(ts.len() <= 32);
        assert_eq!(ts.members().next(), Some(("ot", "th:8")));
        round_trip(&ts);
        ts.remove("ot");
        round_trip(&ts);
    }
});
