//! Plugin configuration in two phases: JSON → a serde shape with defaults and
//! `deny_unknown_fields` (`shape`), then a validating conversion into runtime [`Settings`]
//! (`validate`). Every refusal is a [`ConfigError`] naming the field.

pub mod defaults;
pub mod error;
mod path;
pub mod settings;
pub mod shape;
pub mod validate;

pub use error::ConfigError;
pub use settings::*;
pub use shape::ConfigShape;

/// Parse and validate the plugin configuration. Empty input (no bytes, or only whitespace) gives
/// the defaults: Envoy passes an empty configuration when none is set.
pub fn parse_config(json: &[u8]) -> Result<Settings, ConfigError> {
    if json.iter().all(u8::is_ascii_whitespace) {
        return Ok(Settings::default());
    }
    let doc: serde_json::Value = serde_json::from_slice(json)
        .map_err(|e| ConfigError::new(error::ROOT, format!("invalid JSON: {e}")))?;
    if !doc.is_object() {
        // Checked here because a derived struct would also accept an array, by position.
        return Err(ConfigError::new(
            error::ROOT,
            format!(
                "invalid type: {}, expected a JSON object",
                shape::unexpected(&doc)
            )
            .replace('`', "\""),
        ));
    }
    let shape: ConfigShape = path::deserialize(&doc)?;
    Settings::try_from(shape)
}

#[cfg(test)]
mod tests;
