//! `ConfigError`: why a configuration was refused, naming the field so the log line
//! `on_configure` writes tells the user what to fix.

use std::fmt;

/// The field path used for errors about the configuration as a whole (bad JSON, not an object,
/// unknown top-level keys): Envoy's name for the string that holds it.
pub const ROOT: &str = "configuration";

/// A refused configuration. Displays as `{field}: {message}`, e.g.
/// `batch.max_export_batch_size: must be > 0, got 0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted path of the offending key (`batch.max_queue_size`, `propagation.extract[1]`), or
    /// [`ROOT`] for the document itself. An unknown key is reported against the object holding it.
    pub field: String,
    /// What is wrong, with the offending value.
    pub message: String,
}

impl ConfigError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_field() {
        let e = ConfigError::new("batch.max_export_batch_size", "must be > 0, got 0");
        assert_eq!(
            e.to_string(),
            "batch.max_export_batch_size: must be > 0, got 0"
        );
    }
}
