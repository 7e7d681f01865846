//! propagation (being written).
