//! Examples of breaker-runtime live in `examples/`.
