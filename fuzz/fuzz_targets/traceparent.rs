//! Fuzz `parse_traceparent`: the input is the header lines, split on `\n`. Whatever it accepts must
//! format to a version-00 header that parses back to the same ids.
#![no_main]

use hoptrace_core::propagation::parse_traceparent;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let lines: Vec<&[u8]> = data.split(|&c| c == b'\n').collect();
    if let Ok(Some(tp)) = parse_traceparent(&lines) {
        let h = tp.to_header();
        assert_eq!(h.len(), 55);
        let again = parse_traceparent(&[h.as_bytes()]).unwrap().unwrap();
        assert_eq!(
            (again.trace_id, again.parent_id),
            (tp.trace_id, tp.parent_id)
        );
        assert_eq!(again.flags.0, tp.flags.0 & 0x03);
    }
});
