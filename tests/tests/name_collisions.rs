//! One name, two meanings, and the process keeps running: each collision in both orders,
//! with the registry read first and not, with `metrics` on and a Prometheus recorder
//! installed. Whether the registry was read is process-wide, so each scenario runs in a
//! process of its own: the scenarios are ignored tests that
//! `each_collision_in_a_process_of_its_own` runs one by one in a child process, a fresh
//! run of this binary.

use std::time::Duration;

use breaker_runtime::keyed::Breakers;
use breaker_runtime::shared::RedisBackend;
use breaker_runtime::{circuit_breaker, metrics, registry, CircuitBreaker, ConfigError, State};
use breaker_tests::redis_server::RedisServer;
use breaker_tests::{poll_until, TestError as E};
use metrics_exporter_prometheus::PrometheusBuilder;

const SCENARIOS: &[&str] = &[
    "hand_built_first_registry_unread",
    "hand_built_first_registry_read",
    "annotated_first_registry_unread",
    "annotated_first_registry_read",
    "another_backend_registry_unread",
    "another_backend_registry_read",
    "two_functions_one_name",
    "a_key_named_like_another_breaker",
];

#[test]
fn each_collision_in_a_process_of_its_own() {
    let this = std::env::current_exe().unwrap();
    for scenario in SCENARIOS {
        let run = std::process::Command::new(&this)
            .args([scenario, "--exact", "--ignored", "--nocapture"])
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&run.stdout);
        let err = String::from_utf8_lossy(&run.stderr);
        assert!(
            run.status.success() && out.contains("1 passed"),
            "{scenario} failed:\n{out}\n{err}"
        );
    }
}

/// What the dependency answers: `Ok` when it is up.
fn answer(up: bool) -> Result<(), E> {
    if up {
        Ok(())
    } else {
        Err(E::Down)
    }
}

#[circuit_breaker(name = "collide-annotated", fail_max = 3)]
fn annotated(up: bool) -> Result<(), E> {
    answer(up)
}

/// A Prometheus recorder for the process, the publisher at a millisecond's pace.
fn recorder() -> metrics_exporter_prometheus::PrometheusHandle {
    let handle = PrometheusBuilder::new().install_recorder().unwrap();
    metrics::set_publish_interval(Duration::from_millis(1));
    handle
}

/// After a collision: every registry read answers, the annotated function's breaker
/// holds its name with its own settings and works, an export runs, the admin router
/// answers, and the background publisher is alive and publishing.
fn still_running(handle: &metrics_exporter_prometheus::PrometheusHandle) {
    let owner = registry::get("collide-annotated").expect("the annotated function's");
    assert_eq!(owner.config().fail_max, 3);
    assert!(registry::all().iter().any(|b| b.ptr_eq(&owner)));
    assert!(registry::snapshot()
        .to_string()
        .contains("collide-annotated"));
    metrics::publish();
    for _ in 0..3 {
        let _ = annotated(false);
    }
    assert_eq!(
        owner.state(),
        State::Open,
        "its calls go through its breaker"
    );
    owner.close();
    assert!(annotated(true).is_ok());

    let admin = admin_get("/admin/breakers/collide-annotated");
    assert!(admin.contains("\"fail_max\":3"), "{admin}");
    assert!(admin_get("/admin/breakers").contains("collide-annotated"));

    // The publisher thread went on: a transition after the collision reaches the
    // exporter through it (published every millisecond), and it is still there.
    owner.force_open();
    let line = r#"circuit_breaker_state{breaker="collide-annotated"} 1"#;
    poll_until(Duration::from_secs(10), || {
        handle.render().lines().any(|l| l == line)
    })
    .expect("published");
    let threads: Vec<String> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_string())
        .collect();
    assert!(
        threads.iter().any(|t| t == "breaker-metrics"),
        "{threads:?}"
    );
    owner.close();
}

/// One request to the admin router, through the router itself.
fn admin_get(path: &str) -> String {
    use tower::ServiceExt;
    let router = axum::Router::new().nest(
        "/admin",
        breaker_runtime::admin::router(breaker_runtime::admin::Access::read_only()),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let request = http::Request::get(path)
            .body(axum::body::Body::empty())
            .unwrap();
        let response = router.oneshot(request).await.unwrap();
        assert_eq!(response.status(), 200);
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        String::from_utf8(body.to_vec()).unwrap()
    })
}

/// A hand-built breaker under the annotated function's name with other settings: refused,
/// by `try_build` as a value and by `build` with a message naming the function.
fn hand_built_is_refused() {
    let other = CircuitBreaker::builder("collide-annotated")
        .fail_max(9)
        .try_build();
    assert_eq!(other.unwrap_err(), ConfigError::NameTaken);
    let panic = std::panic::catch_unwind(|| {
        CircuitBreaker::builder("collide-annotated")
            .fail_max(9)
            .build()
    })
    .unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("name_collisions::annotated") && message.contains("#[circuit_breaker]"),
        "{message}"
    );
    // The same settings share the function's breaker.
    let same = CircuitBreaker::builder("collide-annotated")
        .fail_max(3)
        .build();
    assert!(same.ptr_eq(&registry::get("collide-annotated").unwrap()));
}

#[test]
#[ignore = "a scenario: run by each_collision_in_a_process_of_its_own"]
fn hand_built_first_registry_unread() {
    let handle = recorder();
    hand_built_is_refused();
    still_running(&handle);
}

#[test]
#[ignore = "a scenario: run by each_collision_in_a_process_of_its_own"]
fn hand_built_first_registry_read() {
    let handle = recorder();
    assert!(!registry::all().is_empty());
    hand_built_is_refused();
    still_running(&handle);
}

#[test]
#[ignore = "a scenario: run by each_collision_in_a_process_of_its_own"]
fn annotated_first_registry_unread() {
    let handle = recorder();
    assert!(annotated(true).is_ok());
    hand_built_is_refused();
    still_running(&handle);
}

#[test]
#[ignore = "a scenario: run by each_collision_in_a_process_of_its_own"]
fn annotated_first_registry_read() {
    let handle = recorder();
    assert!(registry::get("collide-annotated").is_some());
    assert!(annotated(true).is_ok());
    hand_built_is_refused();
    still_running(&handle);
}

/// One name on two backends: the second is refused, whichever comes first; the first
/// again is the same breaker.
fn another_backend(read_first: bool) {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let handle = recorder();
    if read_first {
        let _ = registry::all();
    }
    let backend = |namespace: &str| {
        RedisBackend::builder(server.url())
            .namespace(namespace)
            .build()
            .unwrap()
    };
    let (a, b) = (backend("collide-a"), backend("collide-b"));
    for (first, second, name) in [(&a, &b, "collide-fleet-ab"), (&b, &a, "collide-fleet-ba")] {
        let joined = CircuitBreaker::builder(name).shared(first).build();
        let elsewhere = CircuitBreaker::builder(name).shared(second).try_build();
        assert_eq!(elsewhere.unwrap_err(), ConfigError::NameTaken, "{name}");
        let again = CircuitBreaker::builder(name).shared(first).build();
        assert!(again.ptr_eq(&joined), "{name}: the same backend shares it");
        let quorum = CircuitBreaker::builder(name)
            .shared(first)
            .quorum(2)
            .try_build();
        assert_eq!(
            quorum.unwrap_err(),
            ConfigError::NameTaken,
            "{name}: quorum"
        );
    }
    still_running(&handle);
}

#[test]
#[ignore = "a scenario: run by each_collision_in_a_process_of_its_own"]
fn another_backend_registry_unread() {
    another_backend(false);
}

#[test]
#[ignore = "a scenario: run by each_collision_in_a_process_of_its_own"]
fn another_backend_registry_read() {
    another_backend(true);
}

#[circuit_breaker(name = "collide-twice", fail_max = 2)]
fn twice_two(up: bool) -> Result<(), E> {
    answer(up)
}

#[circuit_breaker(name = "collide-twice", fail_max = 7)]
fn twice_seven(up: bool) -> Result<(), E> {
    answer(up)
}

#[test]
#[ignore = "a scenario: run by each_collision_in_a_process_of_its_own"]
fn two_functions_one_name() {
    let handle = recorder();
    // Two annotated functions given one name with other settings: one holds the name,
    // the other runs on a breaker of its own; both keep their settings and never panic.
    let listed = registry::get("collide-twice").expect("one of them holds the name");
    assert!([2, 7].contains(&listed.config().fail_max));
    for _ in 0..2 {
        let _ = twice_two(false);
        let _ = twice_seven(false);
    }
    assert!(
        twice_two(true).is_err(),
        "fail_max = 2: open after two failures"
    );
    assert!(twice_seven(true).is_ok(), "fail_max = 7: still closed");
    still_running(&handle);
}

#[test]
#[ignore = "a scenario: run by each_collision_in_a_process_of_its_own"]
fn a_key_named_like_another_breaker() {
    let handle = recorder();
    let taken = CircuitBreaker::builder("collide-key[a]")
        .fail_max(9)
        .build();
    let set: Breakers<String> = Breakers::builder(|key: &String| {
        CircuitBreaker::builder(format!("collide-key[{key}]")).fail_max(1)
    })
    .build();
    // The key's call works, on a breaker of its own with the template's settings.
    assert_eq!(set.call("a", || Err::<(), _>(E::Down)), Err(E::Down));
    assert_eq!(set.get("a").unwrap().state(), State::Open);
    assert!(!set.get("a").unwrap().ptr_eq(&taken));
    assert!(registry::get("collide-key[a]").unwrap().ptr_eq(&taken));
    assert_eq!(taken.state(), State::Closed);
    still_running(&handle);
}
