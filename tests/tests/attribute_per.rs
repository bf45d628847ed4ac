//! `#[circuit_breaker(per = ...)]`: a breaker per distinct value of an expression over
//! the arguments, on sync and async functions and methods, named `<function>[<key>]`.

use breaker_runtime::{circuit_breaker, registry, ErrorKind, State};
use breaker_tests::TestError;

#[circuit_breaker(name = "per-host", fail_max = 2, per = host)]
fn fetch(host: &str, up: bool) -> Result<String, TestError> {
    if up {
        Ok(format!("{host}: 200"))
    } else {
        Err(TestError::Status(503))
    }
}

#[test]
fn each_host_gets_a_breaker_of_its_own() {
    for _ in 0..2 {
        assert_eq!(fetch("a.example", false), Err(TestError::Status(503)));
    }
    assert_eq!(
        fetch("a.example", true),
        Err(TestError::rejected(ErrorKind::Open, "per-host[a.example]"))
    );
    assert_eq!(fetch("b.example", true).unwrap(), "b.example: 200");
    let a = registry::get("per-host[a.example]").expect("listed under its key");
    assert_eq!(a.state(), State::Open);
    assert_eq!(
        registry::get("per-host[b.example]").unwrap().state(),
        State::Closed
    );
}

struct Request {
    tenant_id: u64,
    path: String,
}

#[circuit_breaker(name = "per-tenant", fail_max = 1, per = req.tenant_id, max_keys = 2)]
fn serve(req: Request, up: bool) -> Result<String, TestError> {
    if up {
        Ok(req.path)
    } else {
        Err(TestError::Down)
    }
}

#[test]
fn a_field_of_an_argument_moved_into_the_body_is_a_key_and_max_keys_caps_them() {
    let req = |tenant_id| Request {
        tenant_id,
        path: format!("/t/{tenant_id}"),
    };
    assert_eq!(serve(req(1), false), Err(TestError::Down));
    assert_eq!(
        serve(req(1), true),
        Err(TestError::rejected(ErrorKind::Open, "per-tenant[1]"))
    );
    assert_eq!(serve(req(2), true).unwrap(), "/t/2");
    // A third tenant is beyond `max_keys = 2`: it shares the overflow breaker.
    assert_eq!(serve(req(3), true).unwrap(), "/t/3");
    assert!(registry::get("per-tenant[3]").is_none());
    assert_eq!(
        registry::get("per-tenant{overflow}").unwrap().state(),
        State::Closed
    );
}

#[circuit_breaker(name = "per-async", fail_max = 1, per = host)]
async fn fetch_async(host: String, up: bool) -> Result<u16, TestError> {
    tokio::task::yield_now().await;
    if up {
        Ok(200)
    } else {
        Err(TestError::Status(503))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_functions_are_keyed_and_their_futures_are_send() {
    let task = tokio::spawn(fetch_async("a".to_string(), false));
    assert_eq!(task.await.unwrap(), Err(TestError::Status(503)));
    assert_eq!(
        fetch_async("a".to_string(), true).await,
        Err(TestError::rejected(ErrorKind::Open, "per-async[a]"))
    );
    assert_eq!(fetch_async("b".to_string(), true).await, Ok(200));
}

struct Client {
    region: &'static str,
}

impl Client {
    #[circuit_breaker(name = "per-method", fail_max = 1, per = self.region)]
    fn call(&mut self, up: bool) -> Result<&mut Self, TestError> {
        if up {
            Ok(self)
        } else {
            Err(TestError::Down)
        }
    }
}

#[test]
fn a_method_keys_on_a_field_of_self() {
    let mut eu = Client { region: "eu" };
    let mut us = Client { region: "us" };
    assert!(eu.call(false).is_err());
    assert!(matches!(eu.call(true), Err(TestError::Rejected { .. })));
    assert!(us.call(true).is_ok());
    assert_eq!(
        registry::get("per-method[eu]").unwrap().state(),
        State::Open
    );
}

/// A key with `Debug` but no `Display` is labelled by its `Debug` form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Region {
    Eu,
}

#[circuit_breaker(name = "per-debug", per = region)]
fn by_region(region: Region) -> Result<(), TestError> {
    let _ = region;
    Ok(())
}

#[test]
fn a_key_without_display_is_named_by_its_debug_form() {
    by_region(Region::Eu).unwrap();
    assert!(registry::get("per-debug[Eu]").is_some());
}
