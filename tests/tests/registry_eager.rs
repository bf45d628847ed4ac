//! Annotated functions' breakers are in the registry from program start, before any
//! call: a health page lists them, and an operator can force one open before traffic
//! reaches it. This file's functions are never called before the assertions below.

use std::time::Duration;

use breaker_runtime::{circuit_breaker, registry, ErrorKind, State};

use breaker_tests::TestError as E;

#[circuit_breaker(name = "eager-payments", fail_max = 7, reset_timeout = "90s")]
fn charge(cents: u64) -> Result<u64, E> {
    Ok(cents)
}

#[circuit_breaker(fail_max = 2, success_threshold = 3)]
async fn ship(parcel: u32) -> Result<u32, E> {
    Ok(parcel)
}

#[test]
fn uncalled_functions_are_listed_with_their_configuration() {
    let snapshot = registry::snapshot();
    let payments = snapshot
        .breakers
        .iter()
        .find(|b| b.name == "eager-payments")
        .expect("listed before its first call");
    assert_eq!(payments.state, State::Closed);
    assert_eq!((payments.fail_counter, payments.success_counter), (0, 0));
    assert_eq!(payments.config.fail_max, 7);
    assert_eq!(payments.config.reset_timeout, Duration::from_secs(90));

    let shipping = snapshot
        .breakers
        .iter()
        .find(|b| b.name == "registry_eager::ship")
        .expect("an unnamed function is listed under its path");
    // (Its state is the other test's to change.)
    assert_eq!(shipping.config.fail_max, 2);
    assert_eq!(shipping.config.success_threshold, 3);
    assert!(snapshot.to_string().contains("eager-payments"));
}

#[tokio::test]
async fn a_breaker_forced_open_before_the_first_call_rejects_it() {
    registry::get("registry_eager::ship")
        .expect("reachable by name from the start")
        .force_open();
    assert_eq!(
        ship(1).await,
        Err(E::rejected(ErrorKind::ForcedOpen, "registry_eager::ship"))
    );
    registry::get("registry_eager::ship").unwrap().close();
    assert_eq!(ship(2).await, Ok(2));
    // The other function was never called at all, and is still there.
    assert!(registry::get("eager-payments").is_some());
    let _ = charge;
}
