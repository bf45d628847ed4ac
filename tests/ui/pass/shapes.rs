//! Shapes that must compile: the attribute changes no signature.
use std::sync::Arc;

use breaker_runtime::circuit_breaker;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[circuit_breaker]
pub fn free(x: u8) -> Result<u8, BoxError> {
    Ok(x)
}

#[circuit_breaker(fail_max = 2, reset_timeout = "250ms")]
pub async fn free_async(x: u8) -> Result<u8, BoxError> {
    Ok(x)
}

pub struct S<T>(T);

impl<T: Clone + Send + Sync + 'static> S<T> {
    #[circuit_breaker]
    pub fn get<'a>(&'a self, _key: &'a str) -> Result<&'a T, BoxError> {
        Ok(&self.0)
    }

    #[circuit_breaker]
    pub async fn take(self: Arc<Self>) -> Result<T, BoxError> {
        Ok(self.0.clone())
    }

    #[circuit_breaker]
    pub fn with_impl(&mut self, f: impl FnOnce(&mut T)) -> Result<(), BoxError> {
        f(&mut self.0);
        Ok(())
    }
}

#[circuit_breaker]
pub fn lifetimes<'a>(s: &'a str) -> Result<&'a str, BoxError> {
    Ok(s)
}

#[circuit_breaker]
pub fn impl_in_ok(n: u8) -> Result<impl Iterator<Item = u8>, BoxError> {
    Ok(0..n)
}

fn assert_send<F: std::future::Future + Send>(_: F) {}

fn main() {
    assert_send(free_async(1));
    let _ = free(1);
    let _ = lifetimes("x");
    let _ = impl_in_ok(3).map(|i| i.count());
}

#[circuit_breaker(fail_max = 3, shared)]
pub fn shared_bare() -> Result<(), BoxError> {
    Ok(())
}

#[circuit_breaker(shared(quorum = 2), reset_timeout = "30s")]
pub async fn shared_with_quorum() -> Result<(), BoxError> {
    Ok(())
}
