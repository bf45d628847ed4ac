//! A breaker per authority for [`reqwest-middleware`](https://docs.rs/reqwest-middleware)
//! clients (feature `reqwest`).
//!
//! [`CircuitBreakerMiddleware`] keeps one breaker per authority the client talks to
//! (`scheme://host:port`, the port always written out), made on first use from your
//! template, in a [`Breakers`] set (so at most 1,024 authorities by default, an open
//! breaker never evicted). One host answering 503 opens its own breaker; the others
//! keep working.
//!
//! - **Classification**: by default [`ServerErrors`]' (a 5xx response is a failure, any
//!   other response a success, an error of the request a failure); see
//!   [`classify`](CircuitBreakerMiddleware::classify) for 429 and 408, or a closure.
//!   The verdict is given when the response's head arrives: reading the body is yours.
//! - **A rejection** is a [`reqwest_middleware::Error::Middleware`] whose inner error
//!   downcasts to [`CircuitBreakerError`]: the request never leaves the process.
//!   [`rejection`] finds it in whatever the client returns, also when `reqwest-retry`
//!   (or another middleware) wrapped it.
//! - **With retries**, put `reqwest-retry` *outside* the breaker, that is *before* it in
//!   the `.with(...)` chain (the first middleware added runs first). Each attempt then
//!   goes through the breaker and counts; once it opens, the rejection is a
//!   `Middleware` error, which `reqwest-retry` treats as fatal: no retry storm against a
//!   host known to be down. The other order would count a whole retried request as one
//!   call, and retry nothing a rejection could stop.
//!
//! ```no_run
//! use breaker_runtime::reqwest::CircuitBreakerMiddleware;
//! use breaker_runtime::{CircuitBreaker, CircuitBreakerError};
//! use std::time::Duration;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let breakers = CircuitBreakerMiddleware::new(|authority: &str| {
//!     CircuitBreaker::builder(format!("http[{authority}]"))
//!         .fail_max(5)
//!         .reset_timeout(Duration::from_secs(30))
//! });
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     // .with(RetryTransientMiddleware::new_with_policy(..)) goes here, outside.
//!     .with(breakers)
//!     .build();
//!
//! match client.get("http://127.0.0.1:8080/health").send().await {
//!     Ok(response) => println!("{}", response.status()),
//!     Err(error) => match breaker_runtime::reqwest::rejection(&error) {
//!         Some(rejection) => println!("not sent: {rejection}; retry after {:?}", rejection.retry_after()),
//!         None => println!("failed: {error}"),
//!     },
//! }
//! # Ok(())
//! # }
//! ```

use std::fmt::Write as _;
use std::sync::Arc;

use ::reqwest::{Request, Response};
use reqwest_middleware::{Error, Middleware, Next};

use crate::keyed::Breakers;
use crate::listener::CallError;
use crate::outcome::Seen;
pub use crate::server_errors::ServerErrors;
use crate::{Builder, CircuitBreakerError, Verdict};

/// The breaker's rejection in an error the client returned, if the request was refused
/// by a breaker of this middleware: directly, or wrapped by a middleware outside it
/// (`reqwest-retry`'s `RetryError`, with or without retries, or any wrapper that keeps
/// its error as a `source()`).
///
/// A plain `downcast_ref` does not reach it through `reqwest-retry`: its error is
/// *transparent*, so the error it wraps is skipped by the `source()` chain. This looks
/// at every level.
///
/// ```
/// use breaker_runtime::{reqwest::rejection, CircuitBreakerError};
///
/// let other = reqwest_middleware::Error::middleware(std::io::Error::other("no route"));
/// assert!(rejection(&other).is_none());
/// ```
pub fn rejection(error: &Error) -> Option<&CircuitBreakerError> {
    let Error::Middleware(inner) = error else {
        return None;
    };
    if let Some(rejection) = inner.downcast_ref::<CircuitBreakerError>() {
        return Some(rejection);
    }
    inner.chain().find_map(|cause| {
        cause
            .downcast_ref::<NotSent>()
            .map(|not_sent| &not_sent.0)
            .or_else(|| cause.downcast_ref::<CircuitBreakerError>())
            .or_else(|| cause.downcast_ref::<Error>().and_then(rejection))
    })
}

/// What a rejection's error holds beneath the rejection: its `source()`, which stays in
/// the chain where a transparent wrapper hides the error itself, so that [`rejection`]
/// finds it at any depth.
#[derive(Debug)]
struct NotSent(CircuitBreakerError);

impl std::fmt::Display for NotSent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request was not sent")
    }
}

impl std::error::Error for NotSent {}

/// The error of a refused request: the rejection (what it displays as and downcasts to),
/// with [`NotSent`] as its source.
fn refused(rejection: CircuitBreakerError) -> Error {
    Error::Middleware(anyhow::Error::new(NotSent(rejection.clone())).context(rejection))
}

/// What a request's result means to its authority's breaker.
///
/// Implemented by [`ServerErrors`] (the default) and by any
/// `Fn(Result<&reqwest::Response, &reqwest_middleware::Error>) -> Verdict`:
///
/// ```
/// use breaker_runtime::reqwest::CircuitBreakerMiddleware;
/// use breaker_runtime::{CircuitBreaker, Verdict};
///
/// // Only 503 and transport errors count against a host.
/// let middleware = CircuitBreakerMiddleware::new(|a: &str| CircuitBreaker::builder(a.to_string()))
///     .classify(|result: Result<&reqwest::Response, &reqwest_middleware::Error>| match result {
///         Ok(response) if response.status() == 503 => Verdict::Failure,
///         Ok(_) => Verdict::Success,
///         Err(_) => Verdict::Failure,
///     });
/// # let _ = middleware;
/// ```
pub trait ClassifyResponse: Send + Sync + 'static {
    /// The verdict for a request's result.
    fn verdict(&self, result: Result<&Response, &Error>) -> Verdict;

    /// For a failure: the upstream's advice of how long to wait, if it gave one (see
    /// [`Advice`](crate::Advice)). None by default; [`ServerErrors`] reads
    /// `Retry-After`.
    fn advice(&self, result: Result<&Response, &Error>) -> Option<crate::Advice> {
        let _ = result;
        None
    }
}

impl ClassifyResponse for ServerErrors {
    fn verdict(&self, result: Result<&Response, &Error>) -> Verdict {
        match result {
            Ok(response) => {
                let verdict = ServerErrors::verdict(self, response.status());
                if verdict == Verdict::Failure
                    && crate::boundary::is_upstream_rejection(response.headers())
                {
                    crate::boundary::upstream_refused();
                }
                verdict
            }
            Err(_) => Verdict::Failure,
        }
    }

    fn advice(&self, result: Result<&Response, &Error>) -> Option<crate::Advice> {
        let response = result.ok()?;
        ServerErrors::advice(self, response.status(), response.headers())
    }
}

impl<F> ClassifyResponse for F
where
    F: Fn(Result<&Response, &Error>) -> Verdict + Send + Sync + 'static,
{
    fn verdict(&self, result: Result<&Response, &Error>) -> Verdict {
        self(result)
    }
}

/// A `reqwest_middleware::Middleware` with a breaker per authority: see the
/// [module](self).
#[derive(Clone)]
pub struct CircuitBreakerMiddleware {
    breakers: Breakers<String>,
    classify: Arc<dyn ClassifyResponse>,
    /// An advised failure opens its authority's breaker at once.
    at_once: bool,
}

impl CircuitBreakerMiddleware {
    /// A breaker per authority, each made on first use by `template`, given the
    /// authority as `scheme://host:port`; at most
    /// [`DEFAULT_MAX_KEYS`](crate::keyed::DEFAULT_MAX_KEYS) authorities have their own
    /// (see [`with_breakers`](Self::with_breakers) to choose).
    pub fn new(template: impl Fn(&str) -> Builder + Send + Sync + 'static) -> Self {
        Self::with_breakers(
            Breakers::builder(move |authority: &String| template(authority))
                .name(crate::keyed::numbered("reqwest"))
                .build(),
        )
    }

    /// The breakers of `breakers`, keyed by authority (`scheme://host:port`): for your
    /// own `max_keys`, `idle_ttl`, name or clock, or to keep a handle on the set.
    ///
    /// ```
    /// use breaker_runtime::keyed::Breakers;
    /// use breaker_runtime::reqwest::CircuitBreakerMiddleware;
    /// use breaker_runtime::CircuitBreaker;
    ///
    /// let hosts: Breakers<String> = Breakers::builder(|authority: &String| {
    ///     CircuitBreaker::builder(format!("api[{authority}]")).fail_max(3)
    /// })
    /// .max_keys(64)
    /// .name("api")
    /// .build();
    /// let middleware = CircuitBreakerMiddleware::with_breakers(hosts.clone());
    /// # let _ = middleware;
    /// // Later: hosts.get("https://api.example.com:443"), hosts.snapshot().
    /// ```
    pub fn with_breakers(breakers: Breakers<String>) -> Self {
        CircuitBreakerMiddleware {
            breakers,
            classify: Arc::new(ServerErrors::new()),
            at_once: false,
        }
    }

    /// Decides what a request's result means (default [`ServerErrors::new`]):
    /// `ServerErrors::new().failure_on(StatusCode::TOO_MANY_REQUESTS)`, or a closure.
    pub fn classify(mut self, classify: impl ClassifyResponse) -> Self {
        self.classify = Arc::new(classify);
        self
    }

    /// One failure with advice (a `503` with `Retry-After`, say) opens its authority's
    /// breaker at once, whatever the threshold, for the advised time (capped by the
    /// breaker's `retry_after_cap`); off by default. Turn it on when an authority's
    /// `Retry-After` speaks for the whole service behind it (see
    /// [`ServerErrors::open_on_retry_after`]).
    ///
    /// ```
    /// use breaker_runtime::reqwest::CircuitBreakerMiddleware;
    /// use breaker_runtime::CircuitBreaker;
    ///
    /// let middleware = CircuitBreakerMiddleware::new(|a: &str| CircuitBreaker::builder(a.to_string()))
    ///     .open_on_retry_after(true);
    /// # let _ = middleware;
    /// ```
    pub fn open_on_retry_after(mut self, on: bool) -> Self {
        self.at_once = on;
        self
    }

    /// The breakers, one per authority seen.
    pub fn breakers(&self) -> &Breakers<String> {
        &self.breakers
    }
}

/// `scheme://host:port` of `url`, the port written out even when it is the scheme's
/// default, so `http://a` and `http://a:80` share a breaker.
fn authority(url: &::reqwest::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    let mut key = String::with_capacity(url.scheme().len() + host.len() + 9);
    key.push_str(url.scheme());
    key.push_str("://");
    key.push_str(host);
    if let Some(port) = url.port_or_known_default() {
        let _ = write!(key, ":{port}");
    }
    key
}

#[async_trait::async_trait]
impl Middleware for CircuitBreakerMiddleware {
    async fn handle(
        &self,
        request: Request,
        extensions: &mut http::Extensions,
        next: Next<'_>,
    ) -> Result<Response, Error> {
        let permit = self
            .breakers
            .try_acquire_owned(authority(request.url()).as_str())
            .map_err(refused)?;
        // A dropped future (the caller gave up) drops the permit: neutral.
        let result = next.run(request, extensions).await;
        let verdict = self.classify.verdict(result.as_ref());
        let seen = result
            .as_ref()
            .err()
            .map(|e| Seen::of::<Error>(CallError::Error(e)));
        let advice = (verdict == Verdict::Failure)
            .then(|| self.classify.advice(result.as_ref()))
            .flatten()
            .map(|advice| {
                if self.at_once {
                    advice.at_once()
                } else {
                    advice
                }
            });
        match advice {
            Some(advice) => permit.finish_advised(seen, advice),
            None => permit.finish(verdict, seen),
        }
        result
    }
}

impl std::fmt::Debug for CircuitBreakerMiddleware {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CircuitBreakerMiddleware")
            .field("authorities", &self.breakers.len())
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::authority;

    #[test]
    fn the_authority_has_scheme_host_and_port() {
        let key = |url: &str| authority(&url.parse().unwrap());
        assert_eq!(key("http://a.example/x?y"), "http://a.example:80");
        assert_eq!(key("http://a.example:80/"), "http://a.example:80");
        assert_eq!(key("https://a.example/"), "https://a.example:443");
        assert_eq!(key("http://127.0.0.1:8080/p"), "http://127.0.0.1:8080");
        assert_eq!(key("http://[::1]:9/"), "http://[::1]:9");
        assert_ne!(key("http://a.example/"), key("https://a.example/"));
    }
}
