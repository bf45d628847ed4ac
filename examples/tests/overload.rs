//! The overload simulation, seeded: its table is the same on every run (pinned here,
//! as BENCHMARKS.md shows it), and at 4C the throttle keeps the load reaching the
//! upstream at twice what it accepts (the SRE book's K = 2) once its first window has
//! passed, while without a breaker the upstream receives all 4C.
//!
//! `OVERLOAD_TABLE=overwrite cargo test -p breaker-examples --test overload` writes the
//! table again after a change to the model (and BENCHMARKS.md should follow).

use breaker_examples::overload::{render, run, table, Load, Policy, SECONDS, SEED};

const PINNED: &str = "tests/overload.table";

#[test]
fn the_table_of_a_seeded_run_is_the_same_on_every_run() {
    let text = render(&table());
    assert_eq!(text, render(&table()), "two runs in one process");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(PINNED);
    if std::env::var_os("OVERLOAD_TABLE").is_some_and(|v| v == "overwrite") {
        std::fs::write(&path, &text).unwrap();
    }
    let pinned = std::fs::read_to_string(&path).expect("the pinned table");
    assert_eq!(text, pinned, "the seeded table changed: see {PINNED}");
}

#[test]
fn at_4c_the_throttle_sends_twice_what_is_accepted_and_no_breaker_sends_everything() {
    let load = Load::constant(4.0, SECONDS);
    let throttled = run(Policy::Throttle, &load, SEED + 4);
    // After the first window (two minutes): sent ≈ 2 × accepted.
    let (sent, accepted) = throttled.sent_and_succeeded_from(120);
    let ratio = sent as f64 / (2.0 * accepted as f64);
    assert!(
        (0.9..=1.1).contains(&ratio),
        "sent {sent}, accepted {accepted}: {ratio}"
    );
    assert!(throttled.refused > 0);

    let unprotected = run(Policy::None, &load, SEED + 4);
    assert_eq!(
        unprotected.sent, unprotected.offered,
        "every request reaches it"
    );
    let offered_rate = unprotected.offered as f64 / SECONDS as f64;
    assert!(
        (offered_rate - 400.0).abs() < 10.0,
        "4C offered: {offered_rate}/s"
    );
    assert_eq!(unprotected.refused, 0);
}
