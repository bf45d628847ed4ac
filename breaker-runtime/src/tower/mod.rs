//! The breaker as tower middleware: hyper and axum clients, tonic channels, anything
//! built with `tower::ServiceBuilder` (feature `tower`).
//!
//! [`CircuitBreakerLayer::new`] wraps a service in a breaker; [`CircuitBreakerLayer::keyed`]
//! in a breaker per key of the request (per host, per tenant), from a
//! [`keyed::Breakers`](crate::keyed::Breakers) set.
//!
//! - **`poll_ready` never fails because of the breaker**: tower reads an error there as
//!   "this service is dead, discard it". While the breaker refuses, `poll_ready` answers
//!   ready *without polling the inner service* (as `tower::load_shed` does), and the
//!   call that follows is rejected at once. Admission happens in `call`.
//! - **Errors are `tower::BoxError`**; a rejection is a boxed
//!   [`CircuitBreakerError`], so `error.downcast_ref::<CircuitBreakerError>()` tells it
//!   apart (with its kind and when to retry).
//! - **The response future is not boxed.** Dropping it before it completes counts the
//!   call as neutral, which frees a half-open probe slot at once. It is `'static`, so
//!   it holds a clone of the breaker's handle (a reference count's increment and
//!   decrement per call); [`CircuitBreakerLayer::from_static`] over a breaker in a
//!   `static` borrows it instead, and writes nothing shared per call.
//! - **Classification** ([`Classify`]): by default any response is a success and any
//!   error of the inner service a failure. [`ServerErrors`] reads HTTP statuses (5xx is
//!   a failure; 429 and 408 on request); [`GrpcErrors`] reads gRPC statuses, in the
//!   headers or in the trailers after the body; any closure over the result works too.
//!
//! ```
//! use std::convert::Infallible;
//! use breaker_runtime::tower::{CircuitBreakerLayer, ServerErrors};
//! use breaker_runtime::{CircuitBreaker, CircuitBreakerError, State};
//! use tower_layer::Layer;
//! use tower_service::Service;
//!
//! # fn block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     use std::task::{Context, Poll, Waker};
//! #     let mut f = std::pin::pin!(f);
//! #     loop {
//! #         if let Poll::Ready(v) = f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
//! #             return v;
//! #         }
//! #     }
//! # }
//! # struct Upstream;
//! # impl Service<http::Request<()>> for Upstream {
//! #     type Response = http::Response<()>;
//! #     type Error = Infallible;
//! #     type Future = std::future::Ready<Result<Self::Response, Infallible>>;
//! #     fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Infallible>> {
//! #         std::task::Poll::Ready(Ok(()))
//! #     }
//! #     fn call(&mut self, _: http::Request<()>) -> Self::Future {
//! #         std::future::ready(Ok(http::Response::builder().status(503).body(()).unwrap()))
//! #     }
//! # }
//! let breaker = CircuitBreaker::builder("upstream").fail_max(2).build();
//! let layer = CircuitBreakerLayer::new(breaker.clone()).classify(ServerErrors::new());
//! let mut service = layer.layer(Upstream); // answers 503
//!
//! for _ in 0..2 {
//!     let response = block_on(service.call(http::Request::new(()))).unwrap();
//!     assert_eq!(response.status(), 503);
//! }
//! assert_eq!(breaker.state(), State::Open);
//! let rejected = block_on(service.call(http::Request::new(()))).unwrap_err();
//! assert!(rejected.downcast_ref::<CircuitBreakerError>().unwrap().is_open());
//! ```

mod classify;
mod future;
mod permit;
mod timeout;

use std::hash::Hash;
use std::sync::Arc;
use std::task::{Context, Poll};

pub use classify::{Classify, ErrorsAsFailures, GrpcBody};
pub use future::ResponseFuture;
pub use permit::LayerPermit;
#[cfg(feature = "tokio")]
pub use timeout::{CallTimeout, TimeLimit};
pub use timeout::{Deadline, NoTimeout};

pub use crate::grpc::GrpcErrors;
use crate::keyed::Breakers;
pub use crate::server_errors::ServerErrors;
use crate::{CircuitBreaker, CircuitBreakerError};

/// The error type of the wrapped service: tower's `BoxError`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where a call's permit comes from: one breaker (borrowed for `'static`, or a handle),
/// or a key's breaker of a set.
pub trait Admit<Req>: Clone {
    /// The rejection a call would get now, when it can be told before seeing the
    /// request (one breaker); `None` otherwise.
    fn refusal(&self) -> Option<CircuitBreakerError>;
    /// A permit for `request`, or its rejection.
    fn admit(&self, request: &Req) -> Result<LayerPermit, CircuitBreakerError>;
}

impl<Req> Admit<Req> for CircuitBreaker {
    #[inline]
    fn refusal(&self) -> Option<CircuitBreakerError> {
        CircuitBreaker::refusal(self)
    }

    #[inline]
    fn admit(&self, _: &Req) -> Result<LayerPermit, CircuitBreakerError> {
        self.try_acquire_owned().map(LayerPermit::from)
    }
}

impl<Req> Admit<Req> for &'static CircuitBreaker {
    #[inline]
    fn refusal(&self) -> Option<CircuitBreakerError> {
        CircuitBreaker::refusal(self)
    }

    #[inline]
    fn admit(&self, _: &Req) -> Result<LayerPermit, CircuitBreakerError> {
        self.try_acquire().map(LayerPermit::from)
    }
}

/// A key's breaker of a [`Breakers`] set, the key taken from the request.
pub struct KeyedBy<K, F> {
    breakers: Breakers<K>,
    key: Arc<F>,
}

impl<K, F> Clone for KeyedBy<K, F> {
    fn clone(&self) -> Self {
        KeyedBy {
            breakers: self.breakers.clone(),
            key: Arc::clone(&self.key),
        }
    }
}

impl<Req, K, F> Admit<Req> for KeyedBy<K, F>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    F: Fn(&Req) -> K,
{
    fn refusal(&self) -> Option<CircuitBreakerError> {
        None
    }

    #[inline]
    fn admit(&self, request: &Req) -> Result<LayerPermit, CircuitBreakerError> {
        self.breakers
            .try_acquire_owned(&(self.key)(request))
            .map(LayerPermit::from)
    }
}

/// A [`tower_layer::Layer`] that puts a breaker in front of a service.
#[derive(Clone)]
pub struct CircuitBreakerLayer<B = CircuitBreaker, C = ErrorsAsFailures, T = NoTimeout> {
    breaker: B,
    classify: C,
    timeout: T,
}

impl CircuitBreakerLayer {
    /// Every call through `breaker`; any response a success and any error a failure
    /// until [`classify`](Self::classify) says otherwise. Each call's future holds a
    /// clone of the handle (one reference-count increment and decrement per call);
    /// [`from_static`](CircuitBreakerLayer::from_static) avoids even that.
    pub fn new(breaker: CircuitBreaker) -> Self {
        CircuitBreakerLayer {
            breaker,
            classify: ErrorsAsFailures,
            timeout: NoTimeout,
        }
    }
}

impl CircuitBreakerLayer<&'static CircuitBreaker> {
    /// [`new`](CircuitBreakerLayer::new) for a breaker that lives as long as the program
    /// (a `static`, or one leaked at startup): each call's future borrows it, so no
    /// reference count is touched per call. The cheapest layer, on any number of
    /// threads.
    ///
    /// ```
    /// use std::sync::LazyLock;
    /// use breaker_runtime::tower::{CircuitBreakerLayer, ServerErrors};
    /// use breaker_runtime::CircuitBreaker;
    ///
    /// static ORDERS: LazyLock<CircuitBreaker> =
    ///     LazyLock::new(|| CircuitBreaker::builder("orders-api").fail_max(5).build());
    ///
    /// let layer = CircuitBreakerLayer::from_static(&ORDERS).classify(ServerErrors::new());
    /// # let _ = layer;
    /// ```
    pub fn from_static(breaker: &'static CircuitBreaker) -> Self {
        CircuitBreakerLayer {
            breaker,
            classify: ErrorsAsFailures,
            timeout: NoTimeout,
        }
    }
}

impl<K, F> CircuitBreakerLayer<KeyedBy<K, F>> {
    /// Every call through the breaker of its key in `breakers`, the key being what
    /// `key` returns for the request: an authority, a tenant.
    ///
    /// ```
    /// use breaker_runtime::keyed::Breakers;
    /// use breaker_runtime::tower::{CircuitBreakerLayer, ServerErrors};
    /// use breaker_runtime::CircuitBreaker;
    ///
    /// let hosts: Breakers<String> =
    ///     Breakers::new(|host: &String| CircuitBreaker::builder(format!("http[{host}]")));
    /// let layer = CircuitBreakerLayer::keyed(hosts, |req: &http::Request<()>| {
    ///     req.uri().authority().map_or_else(String::new, |a| a.to_string())
    /// })
    /// .classify(ServerErrors::new());
    /// # let _ = layer;
    /// ```
    pub fn keyed(breakers: Breakers<K>, key: F) -> Self {
        CircuitBreakerLayer {
            breaker: KeyedBy {
                breakers,
                key: Arc::new(key),
            },
            classify: ErrorsAsFailures,
            timeout: NoTimeout,
        }
    }
}

impl<B, C, T> CircuitBreakerLayer<B, C, T> {
    /// Decides what a call's result means: [`ServerErrors`], [`GrpcErrors`], or a
    /// closure `Fn(Result<&Response, &BoxError>) -> Verdict`.
    pub fn classify<C2>(self, classify: C2) -> CircuitBreakerLayer<B, C2, T> {
        CircuitBreakerLayer {
            breaker: self.breaker,
            classify,
            timeout: self.timeout,
        }
    }

    /// A call still running after `limit` fails with the breaker's timeout error
    /// ([`ErrorKind::Timeout`](crate::ErrorKind::Timeout), downcast from the
    /// `BoxError`) and counts as a failure, as the attribute's `call_timeout` does
    /// (feature `tokio`; tokio's timer, so `tokio::time::pause` drives it in tests).
    ///
    /// This is where a timeout belongs when a hung dependency must trip the breaker: a
    /// `tower::timeout::TimeoutLayer` *outside* the breaker drops the call when it fires,
    /// and a dropped call is neutral. (Inside the breaker, between it and the service,
    /// a `TimeoutLayer`'s `Elapsed` error reaches the breaker as a failure too.)
    ///
    /// ```
    /// use std::time::Duration;
    /// use breaker_runtime::tower::{CircuitBreakerLayer, ServerErrors};
    /// use breaker_runtime::CircuitBreaker;
    ///
    /// let breaker = CircuitBreaker::builder("payments-api").fail_max(5).build();
    /// let layer = CircuitBreakerLayer::new(breaker)
    ///     .classify(ServerErrors::new())
    ///     .call_timeout(Duration::from_secs(2));
    /// # let _ = layer;
    /// ```
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn call_timeout(
        self,
        limit: std::time::Duration,
    ) -> CircuitBreakerLayer<B, C, CallTimeout> {
        CircuitBreakerLayer {
            breaker: self.breaker,
            classify: self.classify,
            timeout: CallTimeout(limit),
        }
    }
}

impl<B, T> CircuitBreakerLayer<B, ServerErrors, T> {
    /// One `503` (or counted `429`) with a `Retry-After` opens the breaker at once,
    /// whatever its threshold, for the advised time (capped by the breaker's
    /// `retry_after_cap`); off by default. See [`ServerErrors::open_on_retry_after`] for
    /// when to turn it on.
    ///
    /// ```
    /// use breaker_runtime::tower::{CircuitBreakerLayer, ServerErrors};
    /// use breaker_runtime::CircuitBreaker;
    ///
    /// // Orders' own breaker answers `503`, `Retry-After` and `circuit-breaker: open`
    /// // for the whole service: one such answer is enough.
    /// let layer = CircuitBreakerLayer::new(CircuitBreaker::builder("orders-client").build())
    ///     .classify(ServerErrors::new())
    ///     .open_on_retry_after(true);
    /// # let _ = layer;
    /// ```
    pub fn open_on_retry_after(mut self, on: bool) -> Self {
        self.classify = self.classify.open_on_retry_after(on);
        self
    }
}

impl<B, T> CircuitBreakerLayer<B, GrpcErrors, T> {
    /// One failing status with a `RetryInfo` or a pushback opens the breaker at once,
    /// whatever its threshold, for the advised time (capped); off by default (see
    /// [`GrpcErrors::open_on_retry_after`]).
    pub fn open_on_retry_after(mut self, on: bool) -> Self {
        self.classify = self.classify.open_on_retry_after(on);
        self
    }
}

impl<S, B: Clone, C: Clone, T: Clone> tower_layer::Layer<S> for CircuitBreakerLayer<B, C, T> {
    type Service = CircuitBreakerService<S, B, C, T>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreakerService {
            inner,
            breaker: self.breaker.clone(),
            classify: self.classify.clone(),
            timeout: self.timeout.clone(),
            refused: None,
        }
    }
}

/// A service behind a breaker: from [`CircuitBreakerLayer`].
pub struct CircuitBreakerService<S, B = CircuitBreaker, C = ErrorsAsFailures, T = NoTimeout> {
    inner: S,
    breaker: B,
    classify: C,
    timeout: T,
    /// The breaker refused at the last `poll_ready`, which then left the inner service
    /// unpolled: the call that follows is rejected with this. Boxed (the box the error
    /// is returned in), so that clearing and testing it are one word each: a wider
    /// field, cleared by one store and read whole, stalls the closed path.
    refused: Option<Box<CircuitBreakerError>>,
}

/// A clone has not been polled: it starts without the refusal its original may hold
/// for its next call (tower asks `poll_ready` of each clone before its `call`).
impl<S: Clone, B: Clone, C: Clone, T: Clone> Clone for CircuitBreakerService<S, B, C, T> {
    fn clone(&self) -> Self {
        CircuitBreakerService {
            inner: self.inner.clone(),
            breaker: self.breaker.clone(),
            classify: self.classify.clone(),
            timeout: self.timeout.clone(),
            refused: None,
        }
    }
}

impl<S, B, C, T> CircuitBreakerService<S, B, C, T> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, Req, B, C, T> tower_service::Service<Req> for CircuitBreakerService<S, B, C, T>
where
    S: tower_service::Service<Req>,
    S::Error: Into<BoxError>,
    B: Admit<Req>,
    C: Classify<S::Response>,
    T: Deadline,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, C, T::Timer>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.refused = self.breaker.refusal().map(Box::new);
        if self.refused.is_some() {
            // Ready, so that the caller calls and gets the rejection at once; the inner
            // service is not asked, so nothing of it is reserved for a call that will not
            // reach it.
            return Poll::Ready(Ok(()));
        }
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        if let Some(rejection) = self.refused.take() {
            return ResponseFuture::rejected(rejection);
        }
        match self.breaker.admit(&request) {
            Ok(permit) => ResponseFuture::called(
                self.inner.call(request),
                permit,
                self.classify.clone(),
                self.timeout.start(),
            ),
            Err(rejection) => ResponseFuture::rejected(Box::new(rejection)),
        }
    }
}
