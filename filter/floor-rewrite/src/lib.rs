//! floor-rewrite benchmark filter.
