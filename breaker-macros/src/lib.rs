//! The `#[circuit_breaker]` attribute; use it through `breaker-runtime`.
