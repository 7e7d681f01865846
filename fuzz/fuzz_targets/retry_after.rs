//! Fuzz `Retry-After`: any value, at any wall-clock time, is either ignored or a wait of at most a
//! day, never a panic; delay-seconds always read, and a wait never depends on more than the value
//! and the clock (the same input gives the same answer).
#![no_main]

use hoptrace_core::export::retry_after::parse_retry_after_ms;
use libfuzzer_sys::fuzz_target;

/// The longest wait a header may ask for (a day).
const MAX_MS: u64 = 86_400_000;

fuzz_target!(|data: &[u8]| {
    let (clock, value) = data.split_at(data.len().min(8));
    let mut now = [0u8; 8];
    now[..clock.len()].copy_from_slice(clock);
    let now_unix_ns = u64::from_le_bytes(now);
    let Ok(value) = std::str::from_utf8(value) else {
        return;
    };
    let wait = parse_retry_after_ms(value, now_unix_ns);
    if let Some(ms) = wait {
        assert!(ms <= MAX_MS);
    }
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        assert!(wait.is_some());
    }
    assert_eq!(parse_retry_after_ms(value, now_unix_ns), wait);
});
