//! One hop: extract, sample, inject (being written).
