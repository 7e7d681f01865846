//! Fuzz the `ot` tracestate member: parsing never fails, the formatted value is a valid tracestate
//! value of at most 256 characters, and formatting is stable (format ∘ parse ∘ format = format).
#![no_main]

use hoptrace_core::propagation::{threshold_from_hex, threshold_to_hex, OtState};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(t) = threshold_from_hex(s) {
        assert_eq!(threshold_from_hex(&threshold_to_hex(t)), Some(t));
    }
    let st = OtState::parse(s);
    if let Some(f) = st.format() {
        assert!(!f.is_empty() && f.len() <= 256);
        assert!(f
            .bytes()
            .all(|c| (0x21..=0x7e).contains(&c) && c != b',' && c != b'='));
        assert_eq!(OtState::parse(&f).format().as_deref(), Some(f.as_str()));
    }
});
