//! A raw-TCP HTTP/1.1 client for 127.0.0.1, so a test can send exactly the bytes it means: repeated
//! header lines, odd bytes, huge heads. One request per connection (`connection: close`), bounded by a
//! timeout on connect, write and every read.

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};

use crate::http1;

/// Default bound on connect, write and each read.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A response as received.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Every header line (lower-case name, value), in order.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        http1::header(&self.headers, name)
    }

    /// Every value of a header, one per line.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        http1::header_all(&self.headers, name)
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A request to build and send; header lines go out in the order added, repeats allowed.
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    timeout: Duration,
}

impl Request {
    /// A request with any method.
    pub fn new(method: &str, target: &str) -> Request {
        Request {
            method: method.to_string(),
            target: target.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// A GET.
    pub fn get(target: &str) -> Request {
        Request::new("GET", target)
    }

    /// Adds a header line (a second call with the same name adds a second line).
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets the body (sent with `content-length`).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }

    /// Bounds connect, write and each read.
    pub fn timeout(mut self, timeout: Duration) -> Request {
        self.timeout = timeout;
        self
    }

    /// The exact bytes that [`Request::send`] writes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{} {} HTTP/1.1\r\n", self.method, self.target).into_bytes();
        let has = |n: &str| self.headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(n));
        if !has("host") {
            out.extend_from_slice(b"host: 127.0.0.1\r\n");
        }
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if !has("connection") {
            out.extend_from_slice(b"connection: close\r\n");
        }
        if !self.body.is_empty() && !has("content-length") {
            out.extend_from_slice(format!("content-length: {}\r\n", self.body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }

    /// Sends to `127.0.0.1:port` and reads the response.
    pub fn send(&self, port: u16) -> Result<Response> {
        send_raw(port, &self.to_bytes(), &self.method, self.timeout)
            .with_context(|| format!("{} {} to 127.0.0.1:{port}", self.method, self.target))
    }
}

/// Writes `bytes` as they are to `127.0.0.1:port` and reads one response to a `method` request.
pub fn send_raw(port: u16, bytes: &[u8], method: &str, timeout: Duration) -> Result<Response> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(bytes)?;
    let mut reader = BufReader::new(stream);
    let head = http1::read_head(&mut reader)?
        .ok_or_else(|| anyhow!("connection closed before a response"))?;
    let status = head
        .start_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| anyhow!("bad status line {:?}", head.start_line))?;
    let framing = http1::response_framing(&head, method, status)?;
    let body = http1::read_body(&mut reader, framing)?;
    Ok(Response {
        status,
        headers: head.headers,
        body,
    })
}

/// GET `target` from `127.0.0.1:port` with the default timeout.
pub fn get(port: u16, target: &str) -> Result<Response> {
    Request::get(target).send(port)
}
