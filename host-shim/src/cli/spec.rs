//! A request as written on the command line: `METHOD PATH [-H NAME:VALUE]... [-s STATUS] [-t MS]`.

use anyhow::{anyhow, bail, Context, Result};

/// One request to replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestSpec {
    /// The line as given, for the output.
    pub text: String,
    /// Request header lines, pseudo-headers first.
    pub headers: Vec<(String, String)>,
    /// What the upstream answers.
    pub status: u16,
    /// Virtual milliseconds the request takes.
    pub duration_ms: u64,
}

impl RequestSpec {
    pub fn parse(text: &str) -> Result<Self> {
        let mut words = text.split_whitespace();
        let method = words
            .next()
            .ok_or_else(|| anyhow!("empty request; want `METHOD PATH`"))?;
        let path = words
            .next()
            .ok_or_else(|| anyhow!("`{text}`: no path after {method}"))?;
        let mut extra = Vec::new();
        let mut status = 200;
        let mut duration_ms = 5;
        while let Some(flag) = words.next() {
            let value = words
                .next()
                .ok_or_else(|| anyhow!("`{text}`: {flag} needs a value"))?;
            match flag {
                "-H" => {
                    let (name, v) = value
                        .split_once(':')
                        .filter(|(n, _)| !n.is_empty())
                        .or_else(|| {
                            // `:authority:x` style pseudo-headers keep their leading colon.
                            value
                                .strip_prefix(':')
                                .and_then(|rest| rest.split_once(':'))
                                .map(|(n, v)| (&value[..n.len() + 1], v))
                        })
                        .ok_or_else(|| anyhow!("`{text}`: -H wants NAME:VALUE, got `{value}`"))?;
                    extra.push((name.to_string(), v.to_string()));
                }
                "-s" => status = value.parse().with_context(|| format!("`{text}`: -s"))?,
                "-t" => duration_ms = value.parse().with_context(|| format!("`{text}`: -t"))?,
                other => bail!("`{text}`: unknown flag {other} (want -H, -s or -t)"),
            }
        }
        let has = |name: &str| extra.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        let mut headers = vec![
            (":method".to_string(), method.to_string()),
            (":path".to_string(), path.to_string()),
        ];
        if !has(":authority") {
            headers.push((":authority".into(), "example.com".into()));
        }
        if !has(":scheme") {
            headers.push((":scheme".into(), "http".into()));
        }
        headers.extend(extra);
        Ok(Self {
            text: text.to_string(),
            headers,
            status,
            duration_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_headers_status_and_duration() {
        let spec = RequestSpec::parse(
            "POST /a -H traceparent:00-x-y-01 -H :authority:api -H x:1 -H x:2 -s 503 -t 40",
        )
        .unwrap();
        let names: Vec<_> = spec
            .headers
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        assert_eq!(
            names,
            [
                ":method=POST",
                ":path=/a",
                ":scheme=http",
                "traceparent=00-x-y-01",
                ":authority=api",
                "x=1",
                "x=2"
            ]
        );
        assert_eq!((spec.status, spec.duration_ms), (503, 40));
    }

    #[test]
    fn rejects_what_it_cannot_read() {
        assert!(RequestSpec::parse("").is_err());
        assert!(RequestSpec::parse("GET").is_err());
        assert!(RequestSpec::parse("GET / -H novalue").is_err());
        assert!(RequestSpec::parse("GET / -s").is_err());
        assert!(RequestSpec::parse("GET / -x 1").is_err());
    }
}
