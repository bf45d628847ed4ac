//! One breaker through every state, on the default clock: closed, open, half-open,
//! closed again, plus the sticky modes. Short and silent enough to run under valgrind,
//! which CI does (`valgrind --error-exitcode=1`).
//!
//! `cargo run --example lifecycle`

use std::time::Duration;

use breaker_runtime::{circuit_breaker, registry, CircuitBreaker, ErrorKind, State};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

// The probe may run for longer than the 1 ms reset timeout (under valgrind, it does):
// `half_open_timeout` defaults to `reset_timeout`, and a probe outliving it fails.
#[circuit_breaker(
    fail_max = 2,
    reset_timeout = "1ms",
    half_open_timeout = "60s",
    name = "lifecycle-fn"
)]
fn fetch(up: bool) -> Result<&'static str, BoxError> {
    if up {
        Ok("ok")
    } else {
        Err("connection refused".into())
    }
}

fn main() {
    // A breaker built by hand, on the default (monotonic) clock.
    let breaker = CircuitBreaker::builder("lifecycle")
        .fail_max(2)
        .reset_timeout(Duration::from_secs(60))
        .build();
    let down = || Err::<(), BoxError>("connection refused".into());
    assert!(
        breaker.call(|| Ok::<_, BoxError>(())).is_ok(),
        "closed: admitted"
    );
    let _ = breaker.call(down);
    let _ = breaker.call(down);
    assert_eq!(breaker.state(), State::Open, "two failures open it");
    let rejection = breaker.try_acquire().unwrap_err();
    assert_eq!(rejection.kind(), ErrorKind::Open, "open: rejected");
    assert!(rejection.retry_after().unwrap() <= Duration::from_secs(60));
    breaker.half_open();
    let probe = breaker.try_acquire().expect("half-open: the probe");
    assert_eq!(
        breaker.try_acquire().unwrap_err().kind(),
        ErrorKind::ProbeInFlight,
        "one probe at a time"
    );
    probe.success();
    assert_eq!(breaker.state(), State::Closed, "the probe closed it");
    breaker.force_open();
    assert_eq!(
        breaker.try_acquire().unwrap_err().kind(),
        ErrorKind::ForcedOpen
    );
    breaker.disable();
    assert!(breaker.call(down).is_err() && breaker.state() == State::Closed);
    breaker.close();

    // The breaker of an annotated function, opened and then probed once its 1 ms
    // reset timeout has passed on the coarse clock (read until it has moved on).
    assert_eq!(fetch(true).unwrap(), "ok");
    let _ = fetch(false);
    let _ = fetch(false);
    let handle = registry::get("lifecycle-fn").expect("registered");
    assert_eq!(handle.state(), State::Open);
    while handle.retry_after() != Some(Duration::ZERO) && handle.state() == State::Open {
        std::hint::spin_loop();
    }
    assert_eq!(fetch(true).unwrap(), "ok", "the probe closes it");
    assert_eq!(handle.state(), State::Closed);

    println!("{}", registry::snapshot());
}
