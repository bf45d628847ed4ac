//! `#[circuit_breaker(shared)]`: the function's breaker joins the fleet through the
//! backend installed for the process, even one installed after the breaker was built. A
//! second replica, built by hand with a backend of its own, trips the fleet; the
//! annotated function's breaker follows.

use std::time::Duration;

use breaker_runtime::shared::{self, BackendHealth, InstallError, RedisBackend};
use breaker_runtime::{circuit_breaker, registry, ErrorKind, State};
use breaker_tests::fleet::{connected, replica};
use breaker_tests::redis_server::RedisServer;
use breaker_tests::{poll_until, TestError as E};

#[circuit_breaker(name = "fleet-attribute", fail_max = 2, reset_timeout = "60s", shared)]
fn fetch() -> Result<&'static str, E> {
    Ok("answer")
}

#[test]
fn an_annotated_function_follows_the_fleet() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    // The function's breaker is built before any backend is installed (its first call):
    // it runs locally, and says so in the snapshot...
    assert_eq!(fetch(), Ok("answer"));
    let fleet_of = || {
        breaker_runtime::registry::BreakerInfo::of(&registry::get("fleet-attribute").unwrap())
            .fleet
            .map(|f| f.backend)
    };
    assert_eq!(fleet_of(), Some(BackendHealth::NotInstalled));
    // ...until one is installed: then it joins.
    let installed = RedisBackend::builder(server.url())
        .namespace("attribute")
        .build()
        .unwrap();
    shared::install(installed.clone()).unwrap();
    let again = RedisBackend::builder(server.url()).build().unwrap();
    assert_eq!(shared::install(again), Err(InstallError::AlreadyInstalled));
    poll_until(Duration::from_secs(10), || {
        fleet_of() == Some(BackendHealth::Healthy)
    })
    .expect("it joined the installed backend");

    let other = replica(&server.url(), "attribute", "fleet-attribute", |b| {
        b.fail_max(2)
    });
    connected(std::slice::from_ref(&other));
    let other_replica = other.breaker;
    for _ in 0..2 {
        let _ = other_replica.call(|| Err::<(), _>(E::Down));
    }
    poll_until(Duration::from_secs(5), || {
        registry::get("fleet-attribute").unwrap().state() == State::Open
    })
    .expect("the function's breaker opens with the fleet");
    assert_eq!(
        fetch(),
        Err(E::rejected(ErrorKind::Open, "fleet-attribute"))
    );
}
