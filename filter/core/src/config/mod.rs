//! Plugin configuration: a serde shape with defaults (`shape`), validated into [`Settings`].

pub mod settings;

pub use settings::*;
