//! `Retry-After` (RFC 9110 §10.2.3): delay-seconds, or an HTTP-date (IMF-fixdate, the form servers
//! must send). The result is a minimum wait in ms; anything unreadable is ignored.

/// Longest wait we take from a header (a day); the retry budget (`max_elapsed_ms`) decides anyway.
const MAX_MS: u64 = 86_400_000;

/// The wait a `Retry-After` value asks for, in ms. `now_unix_ns` (wall clock) resolves an HTTP-date;
/// a date in the past means no wait.
pub fn parse_retry_after_ms(value: &str, now_unix_ns: u64) -> Option<u64> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits to parse is still "a long time".
        let secs = v.parse::<u64>().unwrap_or(u64::MAX);
        return Some(secs.saturating_mul(1000).min(MAX_MS));
    }
    let at = parse_imf_fixdate(v)?;
    let now_s = now_unix_ns / 1_000_000_000;
    Some(at.saturating_sub(now_s).saturating_mul(1000).min(MAX_MS))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` → seconds since the Unix epoch.
fn parse_imf_fixdate(s: &str) -> Option<u64> {
    let mut it = s.split_ascii_whitespace();
    let _weekday = it.next().filter(|w| w.len() == 4 && w.ends_with(','))?;
    let day: u64 = it.next().filter(|d| d.len() == 2)?.parse().ok()?;
    let mon = it.next()?;
    let month = MONTHS.iter().position(|m| *m == mon)?;
    let year: u64 = it.next().filter(|y| y.len() == 4)?.parse().ok()?;
    let mut hms = it.next()?.split(':');
    let h: u64 = hms.next()?.parse().ok()?;
    let m: u64 = hms.next()?.parse().ok()?;
    let sec: u64 = hms.next()?.parse().ok()?;
    if it.next()? != "GMT" || it.next().is_some() || hms.next().is_some() {
        return None;
    }
    if !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 || year < 1970 {
        return None;
    }
    let days = days_from_civil(year, month as u64 + 1, day);
    Some(days * 86_400 + h * 3600 + m * 60 + sec)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days since 1970-01-01 of a proleptic Gregorian date (year ≥ 1970), H. Hinnant's algorithm.
fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).saturating_sub(719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1994-11-06T08:49:37Z.
    const RFC_EXAMPLE_S: u64 = 784_111_777;

    #[rustfmt::skip]
    const CASES: &[(&str, &str, u64, Option<u64>)] = &[
        ("delay-seconds",                 "120",                            0,                    Some(120_000)),
        ("zero",                          "0",                              0,                    Some(0)),
        ("whitespace trimmed",            " 5 ",                            0,                    Some(5_000)),
        ("huge seconds capped",           "99999999999999999999999",        0,                    Some(86_400_000)),
        ("negative is not delay-seconds", "-5",                             0,                    None),
        ("fraction is not delay-seconds", "1.5",                            0,                    None),
        ("empty",                         "",                               0,                    None),
        ("HTTP-date in 90 s",             "Sun, 06 Nov 1994 08:49:37 GMT",  RFC_EXAMPLE_S - 90,   Some(90_000)),
        ("HTTP-date in the past",         "Sun, 06 Nov 1994 08:49:37 GMT",  RFC_EXAMPLE_S + 10,   Some(0)),
        ("obsolete RFC 850 date ignored", "Sunday, 06-Nov-94 08:49:37 GMT", 0,                    None),
        ("not GMT",                       "Sun, 06 Nov 1994 08:49:37 PST",  0,                    None),
        ("garbage",                       "soon",                           0,                    None),
    ];

    #[test]
    fn retry_after_table() {
        for (name, v, now_s, want) in CASES {
            assert_eq!(
                parse_retry_after_ms(v, now_s * 1_000_000_000),
                *want,
                "{name}"
            );
        }
    }

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(
            parse_imf_fixdate("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(RFC_EXAMPLE_S)
        );
    }
}
