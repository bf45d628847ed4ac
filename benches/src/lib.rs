//! Benchmarks of `breaker-runtime` against its peers live in `benches/`; see BENCHMARKS.md.
