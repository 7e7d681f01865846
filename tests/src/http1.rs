//! Just enough HTTP/1.1 framing for the harness, over raw bytes so a test sees exactly what crossed the
//! wire: a message head (start line and every header line, in order, raw and parsed) and a body framed
//! by `content-length`, `transfer-encoding: chunked`, or the end of the connection.

use std::io::{self, BufRead, Read};

/// Largest message head accepted (Envoy's own default limit is 60 KiB).
pub const MAX_HEAD_BYTES: usize = 1 << 20;
/// Largest body accepted.
pub const MAX_BODY_BYTES: usize = 64 << 20;

/// A message head: start line and header lines as received.
#[derive(Debug, Clone, Default)]
pub struct Head {
    /// The start line without its line ending (`GET / HTTP/1.1`, `HTTP/1.1 200 OK`).
    pub start_line: String,
    /// Every byte of the head, start line to the blank line included.
    pub raw: Vec<u8>,
    /// Every header line as (lower-case name, value trimmed of surrounding whitespace), in order;
    /// repeated lines stay separate.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// The first value of header `name` (case-insensitive) in a list of lines.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Every value of header `name` (case-insensitive), one per line, in order.
pub fn header_all<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Reads one head. `Ok(None)` when the connection ended cleanly before its first byte.
pub fn read_head(reader: &mut impl BufRead) -> io::Result<Option<Head>> {
    let mut raw = Vec::new();
    let mut lines: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            if raw.is_empty() {
                return Ok(None);
            }
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed inside a message head",
            ));
        }
        raw.extend_from_slice(&line);
        if raw.len() > MAX_HEAD_BYTES {
            return Err(io::Error::other("message head larger than 1 MiB"));
        }
        let trimmed = trim_line_end(&line);
        if trimmed.is_empty() {
            if lines.is_empty() {
                // Tolerate a stray CRLF between messages (RFC 9112 section 2.2).
                raw.clear();
                continue;
            }
            break;
        }
        lines.push(trimmed.to_vec());
    }
    let mut iter = lines.into_iter();
    let start_line = String::from_utf8_lossy(&iter.next().unwrap_or_default()).into_owned();
    let headers = iter
        .map(|line| {
            let text = String::from_utf8_lossy(&line).into_owned();
            match text.split_once(':') {
                Some((n, v)) => (n.trim().to_ascii_lowercase(), v.trim().to_string()),
                None => (text.trim().to_ascii_lowercase(), String::new()),
            }
        })
        .collect();
    Ok(Some(Head {
        start_line,
        raw,
        headers,
    }))
}

fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// How a body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// Exactly this many bytes.
    Length(usize),
    /// Chunked transfer coding.
    Chunked,
    /// Until the peer closes (responses only).
    UntilClose,
}

/// The framing of a request body (RFC 9112 section 6.3: no length means no body).
pub fn request_framing(head: &Head) -> io::Result<Framing> {
    framing(head, Framing::None)
}

/// The framing of a response body to a request with method `method`.
pub fn response_framing(head: &Head, method: &str, status: u16) -> io::Result<Framing> {
    if method.eq_ignore_ascii_case("HEAD") || status / 100 == 1 || status == 204 || status == 304 {
        return Ok(Framing::None);
    }
    framing(head, Framing::UntilClose)
}

fn framing(head: &Head, otherwise: Framing) -> io::Result<Framing> {
    if let Some(te) = head.header("transfer-encoding") {
        if te.to_ascii_lowercase().contains("chunked") {
            return Ok(Framing::Chunked);
        }
    }
    match head.header("content-length") {
        Some(v) => v
            .trim()
            .parse::<usize>()
            .map(Framing::Length)
            .map_err(|_| io::Error::other(format!("bad content-length {v:?}"))),
        None => Ok(otherwise),
    }
}

/// Reads a body with the given framing.
pub fn read_body(reader: &mut impl BufRead, framing: Framing) -> io::Result<Vec<u8>> {
    match framing {
        Framing::None => Ok(Vec::new()),
        Framing::Length(n) => {
            if n > MAX_BODY_BYTES {
                return Err(io::Error::other(format!("body of {n} bytes is too large")));
            }
            let mut body = vec![0; n];
            reader.read_exact(&mut body)?;
            Ok(body)
        }
        Framing::UntilClose => {
            let mut body = Vec::new();
            reader
                .take(MAX_BODY_BYTES as u64 + 1)
                .read_to_end(&mut body)?;
            Ok(body)
        }
        Framing::Chunked => read_chunked(reader),
    }
}

fn read_chunked(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut line = Vec::new();
        reader.read_until(b'\n', &mut line)?;
        let text = String::from_utf8_lossy(trim_line_end(&line)).into_owned();
        let size_text = text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| io::Error::other(format!("bad chunk size line {text:?}")))?;
        if size == 0 {
            // Trailer section, ended by an empty line.
            loop {
                let mut trailer = Vec::new();
                if reader.read_until(b'\n', &mut trailer)? == 0
                    || trim_line_end(&trailer).is_empty()
                {
                    return Ok(body);
                }
            }
        }
        if body.len() + size > MAX_BODY_BYTES {
            return Err(io::Error::other("chunked body too large"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        if let Some(chunk) = body.get_mut(start..) {
            reader.read_exact(chunk)?;
        }
        let mut crlf = Vec::new();
        reader.read_until(b'\n', &mut crlf)?;
    }
}

/// Serialises a response with a `content-length`.
pub fn write_response(status: u16, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status)).into_bytes();
    for (name, value) in headers {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    out
}

/// A reason phrase for the common codes (HTTP/1.1 clients ignore it, people read it).
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    #[test]
    fn repeated_lines_stay_separate_and_raw_is_exact() {
        let wire = b"GET /x HTTP/1.1\r\nHost: a\r\ntraceparent: one\r\nTraceparent:  two \r\n\r\n";
        let head = read_head(&mut BufReader::new(&wire[..])).unwrap().unwrap();
        assert_eq!(head.start_line, "GET /x HTTP/1.1");
        assert_eq!(header_all(&head.headers, "traceparent"), ["one", "two"]);
        assert_eq!(head.raw, wire.to_vec());
    }

    #[test]
    fn chunked_body_with_trailer() {
        let wire = b"4\r\nabcd\r\n3;x=y\r\nefg\r\n0\r\nt: v\r\n\r\n";
        let body = read_body(&mut BufReader::new(&wire[..]), Framing::Chunked).unwrap();
        assert_eq!(body, b"abcdefg");
    }

    #[test]
    fn clean_eof_is_none() {
        assert!(read_head(&mut BufReader::new(&b""[..])).unwrap().is_none());
    }
}
