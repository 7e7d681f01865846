//! span (being written).
