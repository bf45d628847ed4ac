//! `per = ...` in every shape: a borrowed key, a field, `self`, generics, an async fn, a
//! function returning a future; the expansion warns about nothing.
#![deny(warnings)]

use std::future::Future;

use breaker_runtime::circuit_breaker;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[circuit_breaker(per = host, max_keys = 10)]
fn by_host(host: &str) -> Result<usize, BoxError> {
    Ok(host.len())
}

#[circuit_breaker(per = host, metrics_per_key)]
fn by_host_published_per_key(host: &str) -> Result<usize, BoxError> {
    Ok(host.len())
}

pub struct Job {
    pub tenant: u64,
}

#[circuit_breaker(fail_max = 3, per = job.tenant)]
fn by_field(job: Job) -> Result<u64, BoxError> {
    Ok(job.tenant)
}

#[circuit_breaker(per = key)]
fn generic<K: std::hash::Hash + Eq + Clone + Send + Sync + 'static>(key: K) -> Result<(), BoxError> {
    let _ = key;
    Ok(())
}

struct Client {
    name: String,
}

impl Client {
    #[circuit_breaker(per = self.name, failure_rate = "50%", window = "10 calls")]
    async fn get(&self, path: &str) -> Result<String, BoxError> {
        Ok(format!("{}{path}", self.name))
    }
}

#[circuit_breaker(per = id)]
fn deferred(id: u32) -> impl Future<Output = Result<u32, BoxError>> {
    async move { Ok(id) }
}

fn main() {
    let _ = by_host("a");
    let _ = by_field(Job { tenant: 1 });
    let _ = generic(7u8);
    let _ = Client { name: "x".into() }.get("/");
    let _ = deferred(1);
}
