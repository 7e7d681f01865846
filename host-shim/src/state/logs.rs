//! Captured guest logs (`proxy_log`, and `fd_write` to stdout/stderr as Envoy logs them).

use std::collections::VecDeque;
use std::fmt;

use crate::abi::LogLevel;
use crate::limits::MAX_LOG_LINES;

/// One log line a guest wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// Its level.
    pub level: LogLevel,
    /// The text (invalid UTF-8 replaced).
    pub message: String,
    /// The context that was effective when it was written.
    pub context_id: u32,
}

impl fmt::Display for LogEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{:?}] (context {}) {}",
            self.level, self.context_id, self.message
        )
    }
}

/// The newest [`MAX_LOG_LINES`] lines and how many older ones were dropped.
#[derive(Clone, Debug, Default)]
pub struct Logs {
    lines: VecDeque<LogEntry>,
    dropped: u64,
}

impl Logs {
    /// Keeps a line, dropping the oldest when full.
    pub fn push(&mut self, entry: LogEntry) {
        if self.lines.len() == MAX_LOG_LINES {
            self.lines.pop_front();
            self.dropped += 1;
        }
        self.lines.push_back(entry);
    }

    /// The kept lines, oldest first.
    pub fn lines(&self) -> impl Iterator<Item = &LogEntry> {
        self.lines.iter()
    }

    /// Lines dropped because the log was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Forgets every kept line.
    pub fn clear(&mut self) {
        self.lines.clear();
    }

    /// The newest `n` lines, oldest first, for an error message.
    pub fn tail(&self, n: usize) -> Vec<LogEntry> {
        self.lines
            .iter()
            .skip(self.lines.len().saturating_sub(n))
            .cloned()
            .collect()
    }
}
