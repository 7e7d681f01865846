//! Fuzz B3 (single and multi) and Jaeger extraction. Each input line becomes one header; its first
//! byte picks the header name, so repeated, missing and mixed headers are all reached. A context
//! that is extracted must survive our own injection unchanged.
#![no_main]

use hoptrace_core::propagation::{
    b3_multi_headers, b3_sampling, b3_single_header, extract_b3, extract_jaeger,
    uber_trace_id_header, HeaderLines,
};
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 7] = [
    "b3",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-sampled",
    "x-b3-flags",
    "x-b3-parentspanid",
    "uber-trace-id",
];

fuzz_target!(|data: &[u8]| {
    let pairs: Vec<(&str, &[u8])> = data
        .split(|&c| c == b'\n')
        .filter_map(|line| {
            let (&sel, value) = line.split_first()?;
            Some((NAMES[usize::from(sel) % NAMES.len()], value))
        })
        .collect();
    let h = HeaderLines::new(&pairs);
    let _ = b3_sampling(&h);
    if let Ok(Some(c)) = extract_b3(&h) {
        assert!(c.trace_id.is_valid() && c.parent_id.is_valid());
        let sampled = c.sampled == Some(true);
        let single = b3_single_header(c.trace_id, c.parent_id, sampled);
        let p = [("b3", single.as_bytes())];
        let again = extract_b3(&HeaderLines::new(&p)).unwrap().unwrap();
        assert_eq!(
            (again.trace_id, again.parent_id, again.sampled),
            (c.trace_id, c.parent_id, Some(sampled))
        );
        let multi = b3_multi_headers(c.trace_id, c.parent_id, sampled);
        let p: Vec<(&str, &[u8])> = multi.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
        let again = extract_b3(&HeaderLines::new(&p)).unwrap().unwrap();
        assert_eq!((again.trace_id, again.parent_id), (c.trace_id, c.parent_id));
    }
    if let Ok(Some(c)) = extract_jaeger(&h) {
        let v = uber_trace_id_header(c.trace_id, c.parent_id, c.sampled == Some(true));
        let p = [("uber-trace-id", v.as_bytes())];
        assert_eq!(extract_jaeger(&HeaderLines::new(&p)).unwrap(), Some(c));
    }
});
