//! floor-noop benchmark filter.
