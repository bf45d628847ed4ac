//! Compile-time behaviour of `#[circuit_breaker]`: what must compile, and every refusal
//! with its message pinned by a `.stderr` golden. Regenerate goldens after an intended
//! change with `TRYBUILD=overwrite cargo test -p breaker-tests --test ui`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("ui/pass/*.rs");
    t.compile_fail("ui/fail/*.rs");
}
