//! What can go wrong when loading or driving a module, with messages that say what to do.

use std::fmt;
use std::path::PathBuf;

use crate::state::logs::LogEntry;

/// Log lines an error carries for context (the guest's panic message is usually the last one).
pub const LOG_LINES_IN_ERRORS: usize = 8;

/// A shim error.
#[derive(Debug)]
pub enum Error {
    /// The .wasm file could not be read.
    Read {
        /// The path given.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// wasmtime rejected the module (not wasm, or a feature it cannot compile).
    Compile(String),
    /// The module is not a proxy-wasm 0.2 module (no `proxy_abi_version_0_2_*` export).
    NotProxyWasm,
    /// The module imports host functions the shim does not serve (`module.name` each).
    UnsupportedImports(Vec<String>),
    /// An export the host calls has a signature other than the ABI's.
    BadExport {
        /// The export.
        name: &'static str,
        /// wasmtime's complaint.
        reason: String,
    },
    /// The module has no exported `memory`, or no allocator the host can hand data over with.
    MissingExport(&'static str),
    /// Instantiation failed (a start function trapped, a limit was hit).
    Instantiate(String),
    /// The guest trapped or panicked in a callback; the VM is now failed, as Envoy marks it.
    Trap {
        /// The callback, e.g. `proxy_on_request_headers`.
        callback: &'static str,
        /// Its context id.
        context_id: u32,
        /// The trap as wasmtime reports it.
        message: String,
        /// The last log lines (the SDK logs a panic's message before trapping).
        logs: Vec<LogEntry>,
    },
    /// A call after an earlier trap: a failed VM takes no more callbacks.
    VmFailed(String),
    /// `proxy_on_vm_start` returned false.
    VmStartFailed {
        /// The last log lines.
        logs: Vec<LogEntry>,
    },
    /// `proxy_on_configure` returned false: the plugin rejected its configuration.
    ConfigureFailed {
        /// The last log lines (hoptrace logs the offending field).
        logs: Vec<LogEntry>,
    },
    /// No pending callout has this id (answered, failed, timed out or never dispatched).
    UnknownCallout(u32),
    /// No live HTTP context has this id (ended, or never started).
    UnknownStream(u32),
}

/// Appends log lines to an error message, one per line.
fn with_logs(f: &mut fmt::Formatter<'_>, logs: &[LogEntry]) -> fmt::Result {
    if logs.is_empty() {
        return Ok(());
    }
    f.write_str("; last log lines:")?;
    for line in logs {
        write!(f, "\n  {line}")?;
    }
    Ok(())
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read { path, source } => write!(f, "reading {}: {source}", path.display()),
            Self::Compile(e) => write!(f, "compiling the module: {e}"),
            Self::NotProxyWasm => f.write_str(
                "not a proxy-wasm module: it exports no proxy_abi_version_0_2_1 (or 0_2_0) marker",
            ),
            Self::UnsupportedImports(names) => write!(
                f,
                "the module imports host functions the shim does not serve: {}",
                names.join(", ")
            ),
            Self::BadExport { name, reason } => {
                write!(
                    f,
                    "export `{name}` does not have the ABI's signature: {reason}"
                )
            }
            Self::MissingExport(name) => write!(f, "the module does not export `{name}`"),
            Self::Instantiate(e) => write!(f, "instantiating the module: {e}"),
            Self::Trap {
                callback,
                context_id,
                message,
                logs,
            } => {
                write!(
                    f,
                    "guest trapped in {callback} (context {context_id}): {message}"
                )?;
                with_logs(f, logs)
            }
            Self::VmFailed(cause) => write!(f, "the VM failed earlier and takes no calls: {cause}"),
            Self::VmStartFailed { logs } => {
                f.write_str("proxy_on_vm_start returned false")?;
                with_logs(f, logs)
            }
            Self::ConfigureFailed { logs } => {
                f.write_str(
                    "proxy_on_configure returned false: the plugin rejected its configuration",
                )?;
                with_logs(f, logs)
            }
            Self::UnknownCallout(id) => write!(f, "no pending callout with id {id}"),
            Self::UnknownStream(id) => write!(f, "no live HTTP context with id {id}"),
        }
    }
}

/// `Display` already says everything, causes included, so no `source()` chain repeats it.
impl std::error::Error for Error {}
