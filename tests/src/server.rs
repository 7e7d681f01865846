//! A small threaded HTTP/1.1 server on 127.0.0.1 shared by the echo upstream and the OTLP receiver:
//! one thread per connection, keep-alive, a handler that answers or closes without answering. Dropping
//! the [`Server`] stops the accept loop and every connection thread and waits for them.

use std::io::{BufReader, ErrorKind, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::http1::{self, Head};

/// How often an idle connection thread looks at the stop flag.
const IDLE_POLL: Duration = Duration::from_millis(100);
/// How long a started request may take to arrive completely.
const REQUEST_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A request as the server received it.
#[derive(Debug, Clone, Default)]
pub struct ServedRequest {
    /// Method (`GET`).
    pub method: String,
    /// Request target as sent (`/path?query`).
    pub target: String,
    /// The head, raw and parsed (every header line in order).
    pub head: Head,
    /// The body, de-chunked but otherwise as sent (still compressed if it was).
    pub body: Vec<u8>,
    /// Bytes on the wire for this request: head plus body as framed.
    pub wire_bytes: usize,
    /// Address of the peer.
    pub peer: Option<SocketAddr>,
}

impl ServedRequest {
    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The value of query parameter `name`, if present.
    pub fn query(&self, name: &str) -> Option<&str> {
        let (_, query) = self.target.split_once('?')?;
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
    }
}

/// What the handler wants done with a request.
#[derive(Debug, Clone)]
pub enum Answer {
    /// Send this response (a `content-length` is added).
    Respond {
        /// Status code.
        status: u16,
        /// Extra header lines.
        headers: Vec<(String, String)>,
        /// Body.
        body: Vec<u8>,
    },
    /// Close the connection without answering.
    Close,
}

impl Answer {
    /// A response with a plain-text body.
    pub fn text(status: u16, body: &str) -> Answer {
        Answer::Respond {
            status,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: body.as_bytes().to_vec(),
        }
    }
}

type Handler = dyn Fn(ServedRequest) -> Answer + Send + Sync;

/// A running server; dropping it stops it.
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Server {
    /// Serves on `127.0.0.1:0` (a free port).
    pub fn start(
        name: &str,
        handler: impl Fn(ServedRequest) -> Answer + Send + Sync + 'static,
    ) -> Result<Server> {
        Server::start_on("127.0.0.1:0", name, handler)
    }

    /// Serves on the given address (loopback addresses only in tests and the demo).
    pub fn start_on(
        addr: &str,
        name: &str,
        handler: impl Fn(ServedRequest) -> Answer + Send + Sync + 'static,
    ) -> Result<Server> {
        let listener = TcpListener::bind(addr).with_context(|| format!("{name}: bind {addr}"))?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let accept = {
            let stop = Arc::clone(&stop);
            let connections = Arc::clone(&connections);
            std::thread::Builder::new()
                .name(format!("{name}-accept"))
                .spawn(move || accept_loop(listener, stop, connections, handler))?
        };
        Ok(Server {
            addr,
            stop,
            accept: Some(accept),
            connections,
        })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept() with a connection of our own.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        let handles: Vec<_> = self
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
            .collect();
        for handle in handles {
            let _ = handle.join();
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    stop: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    handler: Arc<Handler>,
) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let stop = Arc::clone(&stop);
        let handler = Arc::clone(&handler);
        let spawned = std::thread::Builder::new()
            .name("conn".into())
            .spawn(move || serve_connection(stream, &stop, handler.as_ref()));
        if let Ok(handle) = spawned {
            let mut guard = connections.lock().unwrap_or_else(PoisonError::into_inner);
            guard.retain(|h| !h.is_finished());
            guard.push(handle);
        }
    }
}

fn serve_connection(stream: TcpStream, stop: &AtomicBool, handler: &Handler) {
    let peer = stream.peer_addr().ok();
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        if !wait_readable(&mut reader, stop) {
            return;
        }
        let _ = reader
            .get_ref()
            .set_read_timeout(Some(REQUEST_READ_TIMEOUT));
        let Ok(Some(head)) = http1::read_head(&mut reader) else {
            return;
        };
        let Ok(framing) = http1::request_framing(&head) else {
            return;
        };
        let before = head.raw.len();
        let Ok(body) = http1::read_body(&mut reader, framing) else {
            return;
        };
        let mut parts = head.start_line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("").to_string();
        let close_after = head
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let wire_bytes = before + framed_len(framing, body.len());
        let request = ServedRequest {
            method,
            target,
            head,
            body,
            wire_bytes,
            peer,
        };
        match handler(request) {
            Answer::Close => return,
            Answer::Respond {
                status,
                headers,
                body,
            } => {
                let bytes = http1::write_response(status, &headers, &body);
                if writer.write_all(&bytes).is_err() || close_after {
                    return;
                }
            }
        }
    }
}

/// The wire length of a body (chunk framing is not counted exactly; Envoy sends lengths).
fn framed_len(framing: http1::Framing, body_len: usize) -> usize {
    match framing {
        http1::Framing::Length(n) => n,
        _ => body_len,
    }
}

/// Waits until a request starts arriving; false when the peer closed or the server stops.
fn wait_readable(reader: &mut BufReader<TcpStream>, stop: &AtomicBool) -> bool {
    use std::io::BufRead;
    if reader.get_ref().set_read_timeout(Some(IDLE_POLL)).is_err() {
        return false;
    }
    loop {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        match reader.fill_buf() {
            Ok(buf) => return !buf.is_empty(),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}
