//! A backend that loses Redis says so once, and once when it recovers: never an event
//! per call (litellm's lesson: one latency blip must not log a traceback per request).

use std::time::Duration;

use breaker_runtime::conventions::events;
use breaker_tests::fleet::{connected, replica, Replica};
use breaker_tests::redis_server::RedisServer;
use breaker_tests::{capture_global_events, poll_until, TestError as E};
use tracing::Level;

#[test]
fn one_event_when_degraded_and_one_when_recovered() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let events = capture_global_events();
    let one = replica(&server.url(), "events", "fleet-events", |b| b.fail_max(1));
    connected(std::slice::from_ref(&one));
    let Replica { backend, breaker } = one;
    // Named by the conventions, at INFO (only an opening is WARN), with the message
    // equal to the name.
    let count = |level: Level, name: &str| {
        events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.level == level && e.name == name && e.field("message") == Some(name))
            .count()
    };
    server.freeze();
    let _ = breaker.call(|| Err::<(), _>(E::Down)); // the vote cannot be delivered
    poll_until(Duration::from_secs(5), || !backend.is_healthy()).expect("degraded");
    for _ in 0..500 {
        let _ = breaker.call(|| Ok::<_, E>(()));
    }
    breaker.close();
    for _ in 0..500 {
        let _ = breaker.call(|| Ok::<_, E>(()));
    }
    assert_eq!(count(Level::INFO, events::FLEET_DEGRADED), 1);
    server.thaw();
    poll_until(Duration::from_secs(15), || backend.is_healthy()).expect("recovered");
    poll_until(Duration::from_secs(5), || {
        count(Level::INFO, events::FLEET_RECOVERED) == 1
    })
    .expect("one event says so");
    assert_eq!(count(Level::INFO, events::FLEET_DEGRADED), 1, "still one");
}
