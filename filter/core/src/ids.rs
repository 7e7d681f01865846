//! Trace and span identifiers, W3C trace flags, and the random source that makes new ids.
//!
//! Ids are fixed-size byte arrays so they cost nothing to copy; hex parsing is strict (lower-case only,
//! as W3C Trace Context requires) and never panics on odd input.

use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::fmt;

/// A 128-bit W3C trace id. The all-zero value is invalid on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct TraceId(pub [u8; 16]);

/// A 64-bit W3C span id (the `parent-id` field of `traceparent`). The all-zero value is invalid.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct SpanId(pub [u8; 8]);

/// The W3C `trace-flags` byte.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TraceFlags(pub u8);

impl TraceFlags {
    /// Bit 0: the caller may have recorded this trace.
    pub const SAMPLED: u8 = 0x01;
    /// Bit 1 (Level 2): the low 56 bits of the trace id are random.
    pub const RANDOM: u8 = 0x02;

    /// Whether the sampled bit is set.
    pub fn sampled(self) -> bool {
        self.0 & Self::SAMPLED != 0
    }
    /// Whether the random bit is set.
    pub fn random(self) -> bool {
        self.0 & Self::RANDOM != 0
    }
    /// These flags with the sampled bit set to `on`.
    pub fn with_sampled(self, on: bool) -> Self {
        if on {
            TraceFlags(self.0 | Self::SAMPLED)
        } else {
            TraceFlags(self.0 & !Self::SAMPLED)
        }
    }
    /// These flags with the random bit set to `on`.
    pub fn with_random(self, on: bool) -> Self {
        if on {
            TraceFlags(self.0 | Self::RANDOM)
        } else {
            TraceFlags(self.0 & !Self::RANDOM)
        }
    }
    /// Parse two lower-case hex digits.
    pub fn from_hex(s: &[u8]) -> Option<Self> {
        let mut out = [0u8; 1];
        decode_lower_hex(s, &mut out).then_some(TraceFlags(out[0]))
    }
}

impl TraceId {
    /// Parse 32 lower-case hex digits. Does not check validity (see [`TraceId::is_valid`]).
    pub fn from_hex(s: &[u8]) -> Option<Self> {
        let mut out = [0u8; 16];
        decode_lower_hex(s, &mut out).then_some(TraceId(out))
    }
    /// Build from a 64-bit id (B3/Jaeger), left-padded with zeros to 128 bits.
    pub fn from_u64(v: u64) -> Self {
        let mut out = [0u8; 16];
        out[8..].copy_from_slice(&v.to_be_bytes());
        TraceId(out)
    }
    /// Not all zero.
    pub fn is_valid(&self) -> bool {
        self.0 != [0u8; 16]
    }
    /// The low 56 bits (hex chars 18..32): the randomness the ProbabilitySampler uses when no `rv`.
    pub fn low56(&self) -> u64 {
        let mut b = [0u8; 8];
        b[1..].copy_from_slice(&self.0[9..]);
        u64::from_be_bytes(b)
    }
    /// 32 lower-case hex digits.
    pub fn to_hex(&self) -> String {
        encode_lower_hex(&self.0)
    }
}

impl SpanId {
    /// Parse 16 lower-case hex digits. Does not check validity (see [`SpanId::is_valid`]).
    pub fn from_hex(s: &[u8]) -> Option<Self> {
        let mut out = [0u8; 8];
        decode_lower_hex(s, &mut out).then_some(SpanId(out))
    }
    /// Build from a 64-bit value (B3/Jaeger).
    pub fn from_u64(v: u64) -> Self {
        SpanId(v.to_be_bytes())
    }
    /// Not all zero.
    pub fn is_valid(&self) -> bool {
        self.0 != [0u8; 8]
    }
    /// 16 lower-case hex digits.
    pub fn to_hex(&self) -> String {
        encode_lower_hex(&self.0)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({})", self.to_hex())
    }
}
impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}
impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({})", self.to_hex())
    }
}
impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}
impl fmt::Debug for TraceFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceFlags({:02x})", self.0)
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Lower-case hex of `bytes`.
pub fn encode_lower_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    push_lower_hex(&mut out, bytes);
    out
}

/// Append the lower-case hex of `bytes` to `out`.
///
/// Digits go into a byte buffer first: `String::push` per digit costs a capacity check and a UTF-8
/// encoding each, which was a fifth of an unsampled request's decision (perf).
pub fn push_lower_hex(out: &mut String, bytes: &[u8]) {
    let mut buf = [0u8; 64];
    for chunk in bytes.chunks(buf.len() / 2) {
        write_lower_hex(&mut buf, chunk);
        // Only ASCII digits were written, so this never fails.
        if let Some(Ok(text)) = buf.get(..2 * chunk.len()).map(std::str::from_utf8) {
            out.push_str(text);
        }
    }
}

/// Write the lower-case hex of `bytes` into the start of `out`, two digits per byte (as many bytes
/// as fit).
pub fn write_lower_hex(out: &mut [u8], bytes: &[u8]) {
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        if let [hi, lo] = pair {
            *hi = hex_digit(b >> 4);
            *lo = hex_digit(b & 0x0f);
        }
    }
}

/// The lower-case hex digit of a nibble (`0..16`).
fn hex_digit(nibble: u8) -> u8 {
    HEX.get(usize::from(nibble & 0x0f)).copied().unwrap_or(b'0')
}

/// The value of one lower-case hex digit; upper-case is rejected, as W3C requires.
pub fn lower_hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Decode exactly `2 * out.len()` lower-case hex digits into `out`.
pub fn decode_lower_hex(s: &[u8], out: &mut [u8]) -> bool {
    if s.len() != out.len() * 2 {
        return false;
    }
    for (pair, o) in s.chunks_exact(2).zip(out.iter_mut()) {
        match (pair.first().copied(), pair.get(1).copied()) {
            (Some(h), Some(l)) => match (lower_hex_value(h), lower_hex_value(l)) {
                (Some(h), Some(l)) => *o = (h << 4) | l,
                _ => return false,
            },
            _ => return false,
        }
    }
    true
}

/// Makes new trace and span ids: a xoshiro256++ generator seeded once (from the host's randomness
/// in the plugin, from a fixed seed in tests). Never returns an all-zero id.
///
/// Trace ids need statistical quality, not secrecy: the W3C random flag and the ProbabilitySampler
/// only ask that the low 56 bits be uniformly distributed, and OpenTelemetry SDKs draw them from
/// non-cryptographic generators too. xoshiro256++ costs a few adds, shifts and rotates per 64 bits;
/// ChaCha without SIMD (wasm32) costs far more per id (`docs/ARCHITECTURE.md`).
pub struct IdGenerator {
    rng: Xoshiro256PlusPlus,
}

impl IdGenerator {
    /// A generator from a 32-byte seed (the plugin passes bytes from `getrandom`).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        IdGenerator {
            rng: Xoshiro256PlusPlus::from_seed(seed),
        }
    }
    /// A reproducible generator for tests.
    pub fn seeded(seed: u64) -> Self {
        IdGenerator {
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
        }
    }
    /// A new random, valid trace id (all 128 bits random, so the W3C random flag may be set).
    pub fn trace_id(&mut self) -> TraceId {
        loop {
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&self.rng.next_u64().to_be_bytes());
            b[8..].copy_from_slice(&self.rng.next_u64().to_be_bytes());
            let id = TraceId(b);
            if id.is_valid() {
                return id;
            }
        }
    }
    /// A new random, valid span id.
    pub fn span_id(&mut self) -> SpanId {
        loop {
            let id = SpanId(self.rng.next_u64().to_be_bytes());
            if id.is_valid() {
                return id;
            }
        }
    }
    /// A uniformly random u64 (retry jitter).
    pub fn next_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let t = TraceId::from_hex(b"4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
        assert_eq!(t.to_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(t.low56(), 0xce929d0e0e4736);
        assert!(TraceId::from_hex(b"4BF92F3577B34DA6A3CE929D0E0E4736").is_none());
        assert!(!TraceId::from_hex(&[b'0'; 32]).unwrap().is_valid());
        let s = SpanId::from_hex(b"00f067aa0ba902b7").unwrap();
        assert_eq!(s.to_hex(), "00f067aa0ba902b7");
        assert!(SpanId::from_hex(b"00f067aa0ba902b").is_none());
    }

    #[test]
    fn padded_64_bit_ids() {
        assert_eq!(
            TraceId::from_u64(1).to_hex(),
            "00000000000000000000000000000001"
        );
    }

    #[test]
    fn the_generator_is_xoshiro256_plus_plus() {
        // State {1, 2, 3, 4}: the first outputs of the authors' xoshiro256plusplus.c.
        let mut seed = [0u8; 32];
        for (i, chunk) in seed.chunks_exact_mut(8).enumerate() {
            chunk.copy_from_slice(&(i as u64 + 1).to_le_bytes());
        }
        let mut ids = IdGenerator::from_seed(seed);
        let first: Vec<u64> = (0..3).map(|_| ids.next_u64()).collect();
        assert_eq!(first, [41943041, 58720359, 3588806011781223]);
    }

    #[test]
    fn a_zero_seed_still_produces_randomness() {
        let mut ids = IdGenerator::from_seed([0; 32]);
        assert_ne!(ids.next_u64(), 0);
        assert_ne!(ids.next_u64(), ids.next_u64());
    }

    #[test]
    fn low_56_bits_are_uniform_enough_for_one_percent_sampling() {
        // The ProbabilitySampler compares the low 56 bits with a threshold: 1 % of 100 000 draws
        // should land within a few standard deviations (σ ≈ 31) of 1 000.
        let mut ids = IdGenerator::seeded(42);
        let threshold = (1u64 << 56) / 100;
        let hits = (0..100_000)
            .filter(|_| ids.next_u64() & ((1 << 56) - 1) < threshold)
            .count();
        assert!((850..1150).contains(&hits), "{hits} of 100000 under 1 %");
    }

    #[test]
    fn generator_is_reproducible_and_valid() {
        let mut a = IdGenerator::seeded(7);
        let mut b = IdGenerator::seeded(7);
        for _ in 0..100 {
            let t = a.trace_id();
            assert!(t.is_valid());
            assert_eq!(t, b.trace_id());
            assert!(a.span_id().is_valid());
            b.span_id();
        }
    }
}
