//! otlp (being written).
