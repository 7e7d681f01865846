//! Free TCP ports on 127.0.0.1 for listeners that must be known before Envoy starts (a cluster that
//! points at another listener). The OS picks the port; a process-wide set makes sure no port is handed
//! out twice by this process, so parallel tests do not collide with each other.

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::{Mutex, PoisonError};

use anyhow::{bail, Result};

static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A port on 127.0.0.1 that was free a moment ago and that this process has not handed out before.
pub fn free_port() -> Result<u16> {
    for _ in 0..50 {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut guard = HANDED_OUT.lock().unwrap_or_else(PoisonError::into_inner);
        if guard.get_or_insert_with(HashSet::new).insert(port) {
            return Ok(port);
        }
    }
    bail!("no fresh free port on 127.0.0.1 after 50 tries")
}
