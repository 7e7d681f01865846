//! The pseudo-random generator behind new trace and span ids: xoshiro256++, seeded once per VM from
//! the host's randomness.
//!
//! Trace ids need statistical quality, not secrecy: the W3C random flag and the ProbabilitySampler
//! only ask that the low 56 bits be uniformly distributed, and OpenTelemetry SDKs draw them from
//! non-cryptographic generators too. xoshiro256++ passes BigCrush and costs a few adds, shifts and
//! rotates per 64 bits, where ChaCha8 without SIMD (wasm32) cost a fifth of an unsampled request's
//! in-module work (bench/notes.md).

/// xoshiro256++ (Blackman and Vigna, 2019): 256 bits of state, period 2^256 − 1.
#[derive(Clone, Debug)]
pub struct Xoshiro256PlusPlus {
    s: [u64; 4],
}

impl Xoshiro256PlusPlus {
    /// A generator from 32 seed bytes. The all-zero state is the one state xoshiro never leaves, so
    /// such a seed is replaced by its splitmix64 expansion.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let mut s = [0u64; 4];
        for (word, chunk) in s.iter_mut().zip(seed.chunks_exact(8)) {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(chunk);
            *word = u64::from_le_bytes(bytes);
        }
        if s == [0; 4] {
            return Self::seed_from_u64(0);
        }
        Xoshiro256PlusPlus { s }
    }

    /// A generator whose state is the splitmix64 expansion of `seed` (as its authors recommend), so
    /// that nearby seeds give unrelated streams.
    pub fn seed_from_u64(seed: u64) -> Self {
        let mut x = seed;
        let mut s = [0u64; 4];
        for word in &mut s {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            *word = splitmix64_mix(x);
        }
        // splitmix64's output is a bijection of distinct inputs, so the four words are never all zero.
        Xoshiro256PlusPlus { s }
    }

    /// The next 64 uniformly distributed bits.
    pub fn next_u64(&mut self) -> u64 {
        let [s0, s1, s2, s3] = self.s;
        let result = s0.wrapping_add(s3).rotate_left(23).wrapping_add(s0);
        let t = s1 << 17;
        let s2 = s2 ^ s0;
        let s3 = s3 ^ s1;
        let s1 = s1 ^ s2;
        let s0 = s0 ^ s3;
        let s2 = s2 ^ t;
        let s3 = s3.rotate_left(45);
        self.s = [s0, s1, s2, s3];
        result
    }
}

/// splitmix64's output function.
fn splitmix64_mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_implementation() {
        // State {1, 2, 3, 4}: the first outputs of the authors' xoshiro256plusplus.c.
        let mut seed = [0u8; 32];
        for (i, chunk) in seed.chunks_exact_mut(8).enumerate() {
            chunk.copy_from_slice(&(i as u64 + 1).to_le_bytes());
        }
        let mut rng = Xoshiro256PlusPlus::from_seed(seed);
        let first: Vec<u64> = (0..3).map(|_| rng.next_u64()).collect();
        assert_eq!(first, [41943041, 58720359, 3588806011781223]);
    }

    #[test]
    fn zero_seed_still_produces_randomness() {
        let mut rng = Xoshiro256PlusPlus::from_seed([0; 32]);
        assert_ne!(rng.next_u64(), 0);
        assert_ne!(rng.next_u64(), rng.next_u64());
    }

    #[test]
    fn low_56_bits_are_uniform_enough_for_one_percent_sampling() {
        // The ProbabilitySampler compares the low 56 bits with a threshold: 1 % of 100 000 draws
        // should land within a few standard deviations (σ ≈ 31) of 1 000.
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(42);
        let threshold = (1u64 << 56) / 100;
        let hits = (0..100_000)
            .filter(|_| rng.next_u64() & ((1 << 56) - 1) < threshold)
            .count();
        assert!((850..1150).contains(&hits), "{hits} of 100000 under 1 %");
    }
}
