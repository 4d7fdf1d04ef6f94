//! Helpers for the criterion benchmarks (see `benches/`).
