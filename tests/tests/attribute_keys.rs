//! Every key of `#[circuit_breaker]`, driven deterministically: time through tokio's
//! paused clock (which the runtime follows with its `tokio-clock` feature), state through the
//! registry.

use std::future::pending;
use std::sync::LazyLock;
use std::time::Duration;

use breaker_runtime::{circuit_breaker, registry, CircuitBreaker, ErrorKind, State};

use breaker_tests::TestError as E;

fn breaker(name: &str) -> CircuitBreaker {
    registry::get(name).unwrap_or_else(|| panic!("no breaker named {name}"))
}

const SECOND: Duration = Duration::from_secs(1);

// --- fail_max, reset_timeout, success_threshold, name ----------------------------------

#[circuit_breaker(
    fail_max = 3,
    reset_timeout = "1m30s",
    success_threshold = 2,
    name = "keys-config"
)]
fn configured(result: Result<(), E>) -> Result<(), E> {
    result
}

#[tokio::test(start_paused = true)]
async fn reset_timeout_and_success_threshold_follow_the_attribute() {
    for _ in 0..3 {
        assert_eq!(configured(Err(E::Down)), Err(E::Down));
    }
    let b = breaker("keys-config");
    let c = b.config();
    assert_eq!(
        (c.fail_max, c.reset_timeout, c.success_threshold),
        (3, 90 * SECOND, 2)
    );
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.retry_after(), Some(90 * SECOND));

    tokio::time::advance(89 * SECOND).await;
    assert_eq!(
        configured(Ok(())),
        Err(E::rejected(ErrorKind::Open, "keys-config"))
    );
    tokio::time::advance(SECOND).await;
    assert_eq!(configured(Ok(())), Ok(()));
    assert_eq!((b.state(), b.success_counter()), (State::HalfOpen, 1));
    assert_eq!(configured(Ok(())), Ok(()));
    assert_eq!(b.state(), State::Closed);
}

#[circuit_breaker(reset_timeout = 5, fail_max = 1, name = "keys-integer-seconds")]
fn integer_seconds() -> Result<(), E> {
    Err(E::Down)
}

#[test]
fn durations_may_be_integer_seconds() {
    let _ = integer_seconds();
    assert_eq!(
        breaker("keys-integer-seconds").config().reset_timeout,
        5 * SECOND
    );
}

#[circuit_breaker]
fn defaults() -> Result<(), E> {
    Ok(())
}

#[test]
fn a_bare_attribute_takes_pybreakers_defaults() {
    defaults().unwrap();
    let c = *breaker("attribute_keys::defaults").config();
    assert_eq!(
        (c.fail_max, c.reset_timeout, c.success_threshold),
        (5, 60 * SECOND, 1)
    );
}

// --- exclude, ignore, include, failure_if ---------------------------------------------

#[circuit_breaker(fail_max = 2, exclude = [E::NotFound, E::Status(400..=499)], name = "keys-exclude")]
fn excluding(result: Result<(), E>) -> Result<(), E> {
    result
}

#[test]
fn excluded_errors_count_as_successes() {
    let b = breaker_after(|| excluding(Ok(())), "keys-exclude");
    assert_eq!(excluding(Err(E::Down)), Err(E::Down));
    assert_eq!(b.fail_counter(), 1);
    assert_eq!(
        excluding(Err(E::Status(404))),
        Err(E::Status(404)),
        "the error is returned as is"
    );
    assert_eq!(
        b.fail_counter(),
        0,
        "and it reset the streak, like a success"
    );
    assert_eq!(excluding(Err(E::Down)), Err(E::Down));
    assert_eq!(excluding(Err(E::NotFound)), Err(E::NotFound));
    assert_eq!(
        excluding(Err(E::Status(503))),
        Err(E::Status(503)),
        "500s are not excluded"
    );
    assert_eq!(b.fail_counter(), 1);

    // In half-open, an excluded error is a successful probe (as in pybreaker).
    b.half_open();
    assert_eq!(excluding(Err(E::NotFound)), Err(E::NotFound));
    assert_eq!(b.state(), State::Closed);
}

#[circuit_breaker(fail_max = 2, ignore = [E::Cancelled], exclude = [E::NotFound], name = "keys-ignore")]
fn ignoring(result: Result<(), E>) -> Result<(), E> {
    result
}

#[test]
fn ignored_errors_count_nothing_and_free_the_probe() {
    let b = breaker_after(|| ignoring(Ok(())), "keys-ignore");
    let _ = ignoring(Err(E::Down));
    let _ = ignoring(Err(E::Cancelled));
    assert_eq!(b.fail_counter(), 1, "neither a failure nor a success");
    b.half_open();
    assert_eq!(ignoring(Err(E::Cancelled)), Err(E::Cancelled));
    assert_eq!(
        b.state(),
        State::HalfOpen,
        "an ignored probe decides nothing"
    );
    assert_eq!(ignoring(Ok(())), Ok(()), "and the next caller may probe");
    assert_eq!(b.state(), State::Closed);
}

#[circuit_breaker(fail_max = 1, include = [E::Timeout | E::Status(500..=599)], name = "keys-include")]
fn including(result: Result<(), E>) -> Result<(), E> {
    result
}

#[test]
fn with_include_only_matching_errors_are_failures() {
    let b = breaker_after(|| including(Ok(())), "keys-include");
    let _ = including(Err(E::Status(404)));
    let _ = including(Err(E::NotFound));
    assert_eq!(b.state(), State::Closed);
    let _ = including(Err(E::Status(502)));
    assert_eq!(b.state(), State::Open);
}

fn is_server_side(e: &E) -> bool {
    matches!(e, E::Down | E::Timeout)
}

#[circuit_breaker(fail_max = 1, failure_if = is_server_side, name = "keys-failure-if-path")]
fn predicate_path(result: Result<(), E>) -> Result<(), E> {
    result
}

#[circuit_breaker(fail_max = 1, failure_if = |e| matches!(e, E::Status(code) if *code >= 500), name = "keys-failure-if-closure")]
fn predicate_closure(result: Result<(), E>) -> Result<(), E> {
    result
}

#[test]
fn failure_if_classifies_with_a_path_or_a_closure() {
    let by_path = breaker_after(|| predicate_path(Ok(())), "keys-failure-if-path");
    let _ = predicate_path(Err(E::NotFound));
    assert_eq!(by_path.state(), State::Closed);
    let _ = predicate_path(Err(E::Timeout));
    assert_eq!(by_path.state(), State::Open);

    let by_closure = breaker_after(|| predicate_closure(Ok(())), "keys-failure-if-closure");
    let _ = predicate_closure(Err(E::Status(429)));
    assert_eq!(by_closure.state(), State::Closed);
    let _ = predicate_closure(Err(E::Status(503)));
    assert_eq!(by_closure.state(), State::Open);
}

#[circuit_breaker(fail_max = 1, failure_if = |e: &std::io::Error| e.kind() != std::io::ErrorKind::NotFound, name = "keys-io")]
fn io_classified(kind: std::io::ErrorKind) -> std::io::Result<()> {
    Err(kind.into())
}

#[test]
fn failure_if_on_a_foreign_error_type() {
    let b = breaker_after(|| io_classified(std::io::ErrorKind::NotFound), "keys-io");
    assert_eq!(b.state(), State::Closed);
    let _ = io_classified(std::io::ErrorKind::ConnectionReset);
    assert_eq!(b.state(), State::Open);
}

// --- breaker = ... ------------------------------------------------------------------------

static SHARED: LazyLock<CircuitBreaker> =
    LazyLock::new(|| CircuitBreaker::builder("keys-shared").fail_max(2).build());

#[circuit_breaker(breaker = SHARED)]
fn shared_one(result: Result<(), E>) -> Result<(), E> {
    result
}

#[circuit_breaker(breaker = SHARED, exclude = [E::NotFound])]
async fn shared_two(result: Result<(), E>) -> Result<(), E> {
    result
}

#[tokio::test]
async fn functions_naming_one_breaker_share_it() {
    let _ = shared_one(Err(E::Down));
    let _ = shared_two(Err(E::NotFound)).await;
    assert_eq!(
        SHARED.fail_counter(),
        0,
        "shared_two's exclusion reset shared_one's failure"
    );
    let _ = shared_one(Err(E::Down));
    let _ = shared_two(Err(E::Down)).await;
    assert_eq!(SHARED.state(), State::Open);
    assert_eq!(
        shared_one(Ok(())),
        Err(E::rejected(ErrorKind::Open, "keys-shared"))
    );
}

struct HostClient {
    breaker: CircuitBreaker,
    up: bool,
}

impl HostClient {
    fn new(host: &'static str, up: bool) -> Self {
        HostClient {
            breaker: CircuitBreaker::builder(host)
                .fail_max(1)
                .unregistered()
                .build(),
            up,
        }
    }

    #[circuit_breaker(breaker = self.breaker)]
    async fn fetch(&self) -> Result<&'static str, E> {
        if self.up {
            Ok("body")
        } else {
            Err(E::Down)
        }
    }
}

#[tokio::test]
async fn one_breaker_per_instance_through_self() {
    let a = HostClient::new("host-a", false);
    let b = HostClient::new("host-b", true);
    let _ = a.fetch().await;
    assert_eq!(a.fetch().await, Err(E::rejected(ErrorKind::Open, "host-a")));
    assert_eq!(b.fetch().await, Ok("body"), "host b has its own breaker");
}

static ONCE_CELL: once_cell::sync::Lazy<CircuitBreaker> = once_cell::sync::Lazy::new(|| {
    CircuitBreaker::builder("keys-once-cell")
        .fail_max(1)
        .build()
});

#[circuit_breaker(breaker = ONCE_CELL)]
fn through_once_cell(ok: bool) -> Result<(), E> {
    if ok {
        Ok(())
    } else {
        Err(E::Down)
    }
}

struct Pooled {
    breaker: std::sync::Arc<CircuitBreaker>,
}

impl Pooled {
    #[circuit_breaker(breaker = self.breaker)]
    fn get(&self) -> Result<(), E> {
        Err(E::Down)
    }
}

#[circuit_breaker(breaker = breaker)]
fn through_parameter(breaker: &CircuitBreaker) -> Result<(), E> {
    let _ = breaker;
    Err(E::Down)
}

#[test]
fn breaker_takes_any_pointer_to_a_breaker() {
    let _ = through_once_cell(false);
    assert_eq!(
        through_once_cell(true),
        Err(E::rejected(ErrorKind::Open, "keys-once-cell")),
        "once_cell's Lazy"
    );

    let shared = std::sync::Arc::new(
        CircuitBreaker::builder("keys-arc")
            .fail_max(1)
            .unregistered()
            .build(),
    );
    let pooled = Pooled {
        breaker: shared.clone(),
    };
    let _ = pooled.get();
    assert_eq!(shared.state(), State::Open, "an Arc field");

    let local = CircuitBreaker::builder("keys-param")
        .fail_max(1)
        .unregistered()
        .build();
    let _ = through_parameter(&local);
    assert_eq!(local.state(), State::Open, "a reference parameter");
}

// --- fallback -------------------------------------------------------------------------------

fn cached(id: u32) -> Result<String, E> {
    Ok(format!("cached {id}"))
}

#[circuit_breaker(fail_max = 1, fallback = cached, name = "keys-fallback")]
fn with_fallback(id: u32) -> Result<String, E> {
    let _ = id;
    Err(E::Down)
}

#[test]
fn fallback_answers_while_rejecting() {
    assert_eq!(with_fallback(1), Err(E::Down), "a failure is not replaced");
    assert_eq!(with_fallback(2), Ok("cached 2".into()));
}

/// An error type with no `From<CircuitBreakerError>`: fine, since a fallback answers
/// rejections.
#[derive(Debug, PartialEq)]
struct Plain;

struct Catalog;

impl Catalog {
    async fn stale(&self, id: u32) -> Result<String, Plain> {
        Ok(format!("stale {id}"))
    }

    #[circuit_breaker(fail_max = 1, fallback = Self::stale, name = "keys-fallback-async")]
    async fn fresh(&self, id: u32) -> Result<String, Plain> {
        let _ = id;
        Err(Plain)
    }
}

#[tokio::test]
async fn an_async_method_falls_back_to_another_method() {
    assert_eq!(Catalog.fresh(1).await, Err(Plain));
    assert_eq!(Catalog.fresh(7).await, Ok("stale 7".into()));
}

async fn cached_later(id: u32) -> Result<String, Plain> {
    Ok(format!("cached {id}"))
}

#[circuit_breaker(fail_max = 1, fallback = cached_later, name = "keys-fallback-future")]
fn fresh_later(id: u32) -> impl std::future::Future<Output = Result<String, Plain>> {
    async move {
        let _ = id;
        Err(Plain)
    }
}

#[tokio::test]
async fn a_future_returning_function_falls_back_too() {
    assert_eq!(fresh_later(1).await, Err(Plain));
    assert_eq!(fresh_later(2).await, Ok("cached 2".into()));
}

#[circuit_breaker(fail_max = 1, call_timeout = "250ms", name = "keys-timeout-future")]
fn hangs_later() -> impl std::future::Future<Output = Result<(), E>> {
    async {
        pending::<()>().await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn call_timeout_bounds_a_returned_future() {
    let started = tokio::time::Instant::now();
    assert_eq!(
        hangs_later().await,
        Err(E::rejected(ErrorKind::Timeout, "keys-timeout-future"))
    );
    assert_eq!(started.elapsed(), Duration::from_millis(250));
    assert_eq!(breaker("keys-timeout-future").state(), State::Open);
}

// --- call_timeout and cancellation ------------------------------------------------------

#[circuit_breaker(fail_max = 2, call_timeout = "500ms", name = "keys-timeout")]
async fn hangs(hang: bool) -> Result<(), E> {
    if hang {
        pending::<()>().await;
    }
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_call_past_call_timeout_is_abandoned_and_counted_as_a_failure() {
    let started = tokio::time::Instant::now();
    assert_eq!(
        hangs(true).await,
        Err(E::rejected(ErrorKind::Timeout, "keys-timeout"))
    );
    assert_eq!(
        started.elapsed(),
        Duration::from_millis(500),
        "abandoned at the limit"
    );
    let b = breaker("keys-timeout");
    assert_eq!(b.fail_counter(), 1);
    assert_eq!(hangs(false).await, Ok(()));
    assert_eq!(b.fail_counter(), 0);
    let _ = hangs(true).await;
    let _ = hangs(true).await;
    assert_eq!(b.state(), State::Open);
}

#[circuit_breaker(fail_max = 1, name = "keys-cancelled")]
async fn slow_probe() -> Result<(), E> {
    pending::<()>().await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_probe_frees_the_slot() {
    let b = breaker_after_async("keys-cancelled").await;
    b.half_open();
    // Start the probe and drop it midway, as a `select!` or a timeout would.
    let cancelled = tokio::time::timeout(SECOND, slow_probe()).await;
    assert!(cancelled.is_err());
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(b.fail_counter(), 0, "a cancelled call is not a failure");
    let again = tokio::time::timeout(SECOND, slow_probe()).await;
    assert!(
        again.is_err(),
        "the next caller was admitted as the probe, not rejected"
    );
}

#[circuit_breaker(fail_max = 1, name = "keys-panics")]
fn panics() -> Result<(), E> {
    panic!("bug in the body")
}

#[test]
fn a_panic_in_the_body_is_a_failure_and_keeps_unwinding() {
    assert!(std::panic::catch_unwind(panics).is_err());
    assert_eq!(breaker("keys-panics").state(), State::Open);
    assert_eq!(panics(), Err(E::rejected(ErrorKind::Open, "keys-panics")));
}

// --- crate = "..." -----------------------------------------------------------------------------

use breaker_tests::facade;

#[facade::circuit_breaker(fail_max = 1, crate = "breaker_tests::facade", name = "keys-renamed")]
fn through_renamed(ok: bool) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    if ok {
        Ok(())
    } else {
        Err("down".into())
    }
}

#[test]
fn a_reexported_runtime_is_reached_through_crate() {
    assert_eq!(through_renamed(false).unwrap_err().to_string(), "down");
    assert!(facade::registry::get("keys-renamed").is_some());
}

// --- helpers ----------------------------------------------------------------------------------

/// Calls `first` so the function's breaker exists, then returns it.
fn breaker_after<T>(first: impl FnOnce() -> T, name: &str) -> CircuitBreaker {
    let _ = first();
    breaker(name)
}

async fn breaker_after_async(name: &str) -> CircuitBreaker {
    let _ = tokio::time::timeout(Duration::from_millis(1), slow_probe()).await;
    breaker(name)
}

// --- a manual clock for an annotated function's breaker, through the registry -------------

#[circuit_breaker(name = "keys-set-clock", fail_max = 2, reset_timeout = "1m")]
fn clocked(up: bool) -> Result<(), E> {
    if up {
        Ok(())
    } else {
        Err(E::Down)
    }
}

#[test]
fn a_sync_test_drives_an_annotated_breaker_with_a_manual_clock() {
    clocked(true).unwrap();
    let b = breaker("keys-set-clock");
    let clock = breaker_runtime::ManualClock::new();
    assert!(b.set_clock(clock.clone()));
    assert!(
        !b.set_clock(breaker_runtime::ManualClock::new()),
        "once per breaker"
    );

    let _ = clocked(false);
    let _ = clocked(false);
    assert_eq!(
        b.retry_after(),
        Some(60 * SECOND),
        "measured by the manual clock"
    );
    clock.advance(59 * SECOND);
    assert_eq!(
        clocked(true),
        Err(E::rejected(ErrorKind::Open, "keys-set-clock"))
    );
    clock.advance(SECOND);
    assert_eq!(clocked(true), Ok(()));
    assert_eq!(b.state(), State::Closed);
}
