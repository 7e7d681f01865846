//! An independent reading of what the upstream received, for assertions: a strict `traceparent`
//! version-00 parser and the ProbabilitySampler decision, written from the specs here rather than taken
//! from `hoptrace-core`, so the code under test is not its own oracle.

use anyhow::{bail, ensure, Result};

/// A parsed version-00 `traceparent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent {
    /// 32 lower-hex chars.
    pub trace_id: String,
    /// 16 lower-hex chars.
    pub parent_id: String,
    /// The flags byte.
    pub flags: u8,
}

impl TraceParent {
    /// Whether the sampled bit (0x01) is set.
    pub fn sampled(&self) -> bool {
        self.flags & 0x01 != 0
    }

    /// Whether the random bit (0x02, Level 2) is set.
    pub fn random(&self) -> bool {
        self.flags & 0x02 != 0
    }
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Parses a `traceparent` as a hop must send it: exactly 55 chars, version `00`, lower-hex, non-zero ids.
pub fn parse(value: &str) -> Result<TraceParent> {
    ensure!(value.len() == 55, "traceparent {value:?} is not 55 chars");
    let parts: Vec<&str> = value.split('-').collect();
    let [version, trace_id, parent_id, flags] = parts.as_slice() else {
        bail!("traceparent {value:?} does not have 4 fields");
    };
    ensure!(*version == "00", "traceparent {value:?}: version is not 00");
    ensure!(
        trace_id.len() == 32 && is_lower_hex(trace_id),
        "traceparent {value:?}: bad trace id"
    );
    ensure!(
        parent_id.len() == 16 && is_lower_hex(parent_id),
        "traceparent {value:?}: bad parent id"
    );
    ensure!(
        flags.len() == 2 && is_lower_hex(flags),
        "traceparent {value:?}: bad flags"
    );
    ensure!(
        trace_id.bytes().any(|b| b != b'0'),
        "traceparent {value:?}: zero trace id"
    );
    ensure!(
        parent_id.bytes().any(|b| b != b'0'),
        "traceparent {value:?}: zero parent id"
    );
    Ok(TraceParent {
        trace_id: trace_id.to_string(),
        parent_id: parent_id.to_string(),
        flags: u8::from_str_radix(flags, 16)?,
    })
}

/// The randomness R of a trace id: its low 56 bits (hex chars 18..32).
pub fn randomness(trace_id: &str) -> Result<u64> {
    let low = trace_id
        .get(18..32)
        .ok_or_else(|| anyhow::anyhow!("trace id {trace_id:?} too short"))?;
    Ok(u64::from_str_radix(low, 16)?)
}

/// ProbabilitySampler threshold T = 2^56 - round(p * 2^56) (OTEP 235).
pub fn threshold(ratio: f64) -> u64 {
    const MAX: f64 = (1u64 << 56) as f64;
    (1u64 << 56) - (ratio * MAX).round() as u64
}

/// The `th` value for a threshold: 14 lower-hex digits without trailing zeros, `0` for zero.
pub fn th_value(threshold: u64) -> String {
    if threshold == 0 {
        return "0".to_string();
    }
    let full = format!("{threshold:014x}");
    full.trim_end_matches('0').to_string()
}

/// The `ot` sub-key `key` of a `tracestate` value, if present.
pub fn ot_subkey(tracestate: &str, key: &str) -> Option<String> {
    tracestate
        .split(',')
        .map(str::trim)
        .find_map(|member| member.strip_prefix("ot="))?
        .split(';')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix(':'))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rustfmt::skip]
    const TH_TABLE: &[(&str, f64, &str)] = &[
        ("ratio 1",     1.0,   "0"),
        ("ratio 0.5",   0.5,   "8"),
        ("ratio 0.25",  0.25,  "c"),
        ("ratio 0.1",   0.1,   "e6666666666666"),
        ("ratio 0.01",  0.01,  "fd70a3d70a3d71"),
        ("ratio 0.001", 0.001, "ffbe76c8b43958"),
    ];

    #[test]
    fn th_matches_design_table() {
        for (case, ratio, th) in TH_TABLE {
            assert_eq!(th_value(threshold(*ratio)), *th, "{case}");
        }
    }

    #[test]
    fn parse_rejects_what_a_hop_must_not_send() {
        assert!(parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").is_ok());
        assert!(parse("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").is_err());
        assert!(parse("00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01").is_err());
        assert!(parse("00-00000000000000000000000000000000-b7ad6b7169203331-01").is_err());
    }

    #[test]
    fn ot_subkeys() {
        assert_eq!(
            ot_subkey("a=b, ot=th:8;rv:1234", "th").as_deref(),
            Some("8")
        );
        assert_eq!(ot_subkey("ot=rv:1234", "th"), None);
    }
}
