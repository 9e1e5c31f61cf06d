//! https targets.
