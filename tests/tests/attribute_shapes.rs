//! `#[circuit_breaker]` on every shape of function: the signature is kept, the body is
//! wrapped, and every call goes through the function's breaker.

use std::sync::Arc;

use breaker_runtime::{
    circuit_breaker, registry, CircuitBreaker, CircuitBreakerError, ErrorKind, State,
};

use breaker_tests::TestError as E;

fn breaker(name: &str) -> CircuitBreaker {
    registry::get(name).unwrap_or_else(|| panic!("no breaker named {name}"))
}

// --- free functions -------------------------------------------------------------------

#[circuit_breaker(fail_max = 2)]
fn sync_free(ok: bool) -> Result<u32, E> {
    if ok {
        Ok(1)
    } else {
        Err(E::Down)
    }
}

#[test]
fn a_sync_function_trips_and_then_fails_fast() {
    assert_eq!(sync_free(true), Ok(1));
    assert_eq!(sync_free(false), Err(E::Down));
    assert_eq!(
        sync_free(false),
        Err(E::Down),
        "the tripping call returns its own error"
    );
    let b = breaker("attribute_shapes::sync_free");
    assert_eq!(b.state(), State::Open);
    assert_eq!(
        sync_free(true),
        Err(E::rejected(ErrorKind::Open, "attribute_shapes::sync_free"))
    );
}

#[circuit_breaker(fail_max = 2)]
fn early_returns(path: u8) -> Result<(), E> {
    if path == 0 {
        return Err(E::Down);
    }
    let parsed: u32 = "x".parse().map_err(|_| E::Down)?;
    let _ = parsed;
    Ok(())
}

#[test]
fn question_mark_and_early_return_are_counted() {
    assert_eq!(early_returns(0), Err(E::Down));
    assert_eq!(breaker("attribute_shapes::early_returns").fail_counter(), 1);
    assert_eq!(early_returns(1), Err(E::Down), "via ?");
    assert_eq!(
        breaker("attribute_shapes::early_returns").state(),
        State::Open
    );
}

#[circuit_breaker(fail_max = 1)]
async fn async_free(ok: bool) -> Result<u32, E> {
    tokio::task::yield_now().await;
    if ok {
        Ok(2)
    } else {
        Err(E::Down)
    }
}

#[tokio::test]
async fn an_async_function_trips_and_then_fails_fast() {
    assert_eq!(async_free(true).await, Ok(2));
    assert_eq!(async_free(false).await, Err(E::Down));
    assert_eq!(
        async_free(true).await,
        Err(E::rejected(ErrorKind::Open, "attribute_shapes::async_free"))
    );
}

#[circuit_breaker(fail_max = 1)]
fn returns_impl_future(ok: bool) -> impl std::future::Future<Output = Result<u8, E>> + Send {
    async move {
        if ok {
            Ok(3)
        } else {
            Err(E::Down)
        }
    }
}

#[tokio::test]
async fn a_function_returning_impl_future_is_guarded() {
    assert_eq!(returns_impl_future(true).await, Ok(3));
    assert_eq!(returns_impl_future(false).await, Err(E::Down));
    assert_eq!(
        returns_impl_future(true).await,
        Err(E::rejected(
            ErrorKind::Open,
            "attribute_shapes::returns_impl_future"
        ))
    );
}

// --- generics -------------------------------------------------------------------------

#[circuit_breaker(fail_max = 2)]
fn generic<T>(value: T, fail: impl Fn() -> bool) -> Result<u64, E>
where
    T: Into<u64> + Copy,
{
    if fail() {
        Err(E::Down)
    } else {
        Ok(value.into())
    }
}

#[test]
fn all_instantiations_of_a_generic_function_share_one_breaker() {
    assert_eq!(generic(7u8, || false), Ok(7));
    assert_eq!(generic(1u16, || true), Err(E::Down));
    assert_eq!(generic(2u32, || true), Err(E::Down));
    let b = breaker("attribute_shapes::generic");
    assert_eq!(
        b.state(),
        State::Open,
        "u16 and u32 failures count together"
    );
    assert_eq!(
        generic(3u64, || false),
        Err(E::rejected(ErrorKind::Open, "attribute_shapes::generic"))
    );
}

// --- methods ---------------------------------------------------------------------------

struct Client {
    up: bool,
    calls: u32,
}

impl Client {
    #[circuit_breaker(fail_max = 1)]
    fn by_ref(&self) -> Result<bool, E> {
        if self.up {
            Ok(true)
        } else {
            Err(E::Down)
        }
    }

    #[circuit_breaker(fail_max = 1)]
    fn by_mut(&mut self) -> Result<u32, E> {
        self.calls += 1;
        if self.up {
            Ok(self.calls)
        } else {
            Err(E::Down)
        }
    }

    #[circuit_breaker(fail_max = 1)]
    fn by_value(self) -> Result<u32, E> {
        if self.up {
            Ok(self.calls)
        } else {
            Err(E::Down)
        }
    }

    #[circuit_breaker(fail_max = 1)]
    async fn by_arc(self: Arc<Self>) -> Result<bool, E> {
        if self.up {
            Ok(true)
        } else {
            Err(E::Down)
        }
    }

    /// Same name as `Other::get` below: the two must be two breakers.
    #[circuit_breaker(fail_max = 1)]
    fn get(&self) -> Result<(), E> {
        Err(E::Down)
    }
}

struct Other;

impl Other {
    #[circuit_breaker(fail_max = 1)]
    fn get(&self) -> Result<(), E> {
        Ok(())
    }
}

#[test]
fn methods_with_every_receiver() {
    let down = Client {
        up: false,
        calls: 0,
    };
    assert_eq!(down.by_ref(), Err(E::Down));
    assert_eq!(
        down.by_ref(),
        Err(E::rejected(
            ErrorKind::Open,
            "attribute_shapes::Client::by_ref"
        ))
    );

    let mut c = Client { up: true, calls: 0 };
    assert_eq!(c.by_mut(), Ok(1));
    assert_eq!(c.by_mut(), Ok(2), "the body mutates through &mut self");
    assert_eq!(c.by_value(), Ok(2), "the body consumes self");
    assert_eq!(
        Client {
            up: false,
            calls: 0
        }
        .by_value(),
        Err(E::Down)
    );
    assert_eq!(
        Client { up: true, calls: 0 }.by_value(),
        Err(E::rejected(
            ErrorKind::Open,
            "attribute_shapes::Client::by_value"
        ))
    );
}

#[tokio::test]
async fn a_method_taking_self_arc() {
    assert_eq!(
        Arc::new(Client { up: true, calls: 0 }).by_arc().await,
        Ok(true)
    );
    assert_eq!(
        Arc::new(Client {
            up: false,
            calls: 0
        })
        .by_arc()
        .await,
        Err(E::Down)
    );
    assert_eq!(
        Arc::new(Client { up: true, calls: 0 }).by_arc().await,
        Err(E::rejected(
            ErrorKind::Open,
            "attribute_shapes::Client::by_arc"
        ))
    );
}

#[test]
fn methods_with_the_same_name_in_two_impls_are_two_breakers() {
    let _ = Client { up: true, calls: 0 }.get();
    let _ = Other.get();
    let client = breaker("attribute_shapes::Client::get");
    let other = breaker("attribute_shapes::Other::get");
    assert!(!client.ptr_eq(&other));
    assert_eq!(client.state(), State::Open);
    assert_eq!(other.state(), State::Closed);
    assert_eq!(Other.get(), Ok(()));
}

// --- traits ----------------------------------------------------------------------------

#[async_trait::async_trait]
trait Profiles {
    async fn profile(&self, id: u64) -> Result<String, E>;
}

struct Remote {
    up: bool,
}

// `#[async_trait]` goes on the impl block; `#[circuit_breaker]` on the method inside it.
#[async_trait::async_trait]
impl Profiles for Remote {
    #[circuit_breaker(fail_max = 1)]
    async fn profile(&self, id: u64) -> Result<String, E> {
        if self.up {
            Ok(format!("user {id}"))
        } else {
            Err(E::Down)
        }
    }
}

#[tokio::test]
async fn a_method_of_an_async_trait_impl() {
    let remote: Box<dyn Profiles + Send + Sync> = Box::new(Remote { up: true });
    assert_eq!(remote.profile(1).await, Ok("user 1".into()));
    assert_eq!(Remote { up: false }.profile(2).await, Err(E::Down));
    let err = Remote { up: true }.profile(3).await.unwrap_err();
    let E::Rejected {
        kind: ErrorKind::Open,
        breaker: name,
    } = err
    else {
        panic!("expected a rejection, got {err:?}")
    };
    assert!(
        name.contains("Remote") && name.ends_with("profile"),
        "{name}"
    );
}

trait Sync2 {
    fn fetch(&self) -> Result<u8, E>;
}

impl Sync2 for Remote {
    #[circuit_breaker(fail_max = 1)]
    fn fetch(&self) -> Result<u8, E> {
        if self.up {
            Ok(1)
        } else {
            Err(E::Down)
        }
    }
}

#[test]
fn a_method_of_a_trait_impl() {
    assert_eq!(Remote { up: false }.fetch(), Err(E::Down));
    let rejected = Remote { up: true }.fetch();
    assert!(
        matches!(&rejected, Err(E::Rejected { kind: ErrorKind::Open, breaker }) if breaker.contains("Remote") && breaker.ends_with("::fetch")),
        "{rejected:?}"
    );
    let listed: Vec<_> = registry::all()
        .into_iter()
        .filter(|b| b.name().ends_with("::fetch"))
        .collect();
    assert_eq!(
        listed.len(),
        1,
        "{:?}",
        listed.iter().map(|b| b.name()).collect::<Vec<_>>()
    );
}

// --- alongside other attributes, unsafe, aliases ----------------------------------------

/// Documented, inlined, must-use, instrumented: all kept.
#[must_use]
#[inline]
#[tracing::instrument(level = "debug")]
#[circuit_breaker(fail_max = 3)]
fn with_other_attributes(x: u8) -> Result<u8, E> {
    Ok(x)
}

#[tracing::instrument]
#[circuit_breaker(fail_max = 3)]
async fn instrumented_async(x: u8) -> Result<u8, E> {
    Ok(x)
}

#[circuit_breaker]
unsafe fn raw_read(p: *const u8) -> Result<u8, E> {
    Ok(*p)
}

#[circuit_breaker(fail_max = 1)]
fn io_alias(fail: bool) -> std::io::Result<u8> {
    if fail {
        Err(std::io::Error::other("disk on fire"))
    } else {
        Ok(1)
    }
}

#[circuit_breaker(fail_max = 1)]
fn anyhow_alias(fail: bool) -> anyhow::Result<u8> {
    if fail {
        anyhow::bail!("down")
    }
    Ok(1)
}

#[circuit_breaker(fail_max = 1)]
fn boxed_error(fail: bool) -> Result<u8, Box<dyn std::error::Error + Send + Sync>> {
    if fail {
        Err("down".into())
    } else {
        Ok(1)
    }
}

#[tokio::test]
async fn other_attributes_unsafe_and_aliases() {
    assert_eq!(with_other_attributes(4), Ok(4));
    assert_eq!(instrumented_async(5).await, Ok(5));
    let byte = 9u8;
    assert_eq!(unsafe { raw_read(&byte) }, Ok(9));

    assert_eq!(anyhow_alias(true).unwrap_err().to_string(), "down");
    let rejected = anyhow_alias(false).unwrap_err();
    let rejection = rejected
        .downcast_ref::<CircuitBreakerError>()
        .expect("a CircuitBreakerError inside");
    assert!(rejection.is_open());

    assert_eq!(boxed_error(true).unwrap_err().to_string(), "down");
    assert!(boxed_error(false).unwrap_err().is::<CircuitBreakerError>());
}

#[test]
fn io_error_gets_the_rejection() {
    assert_eq!(io_alias(true).unwrap_err().to_string(), "disk on fire");
    let rejected = io_alias(false).unwrap_err();
    assert!(rejected.get_ref().unwrap().is::<CircuitBreakerError>());
}

#[test]
fn the_breaker_is_registered_before_the_first_call() {
    #[circuit_breaker(name = "attribute-shapes-eager")]
    fn eager() -> Result<(), E> {
        Ok(())
    }
    let before = registry::get("attribute-shapes-eager").expect("listed from the start");
    eager().unwrap();
    let after = registry::get("attribute-shapes-eager").unwrap();
    assert!(
        before.ptr_eq(&after),
        "the first call uses the breaker listed before it"
    );
}
