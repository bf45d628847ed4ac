//! Running a closure or a future through a breaker: admission, the call, its verdict.

use std::fmt;
use std::future::Future;

use crate::{CircuitBreaker, CircuitBreakerError};

impl CircuitBreaker {
    /// Runs `f` through the breaker: rejected without running while open, otherwise
    /// run and its `Ok`/`Err` counted as a success/failure. A rejection comes back in
    /// `f`'s own error type, so `E` must implement `From<CircuitBreakerError>`
    /// (`Box<dyn Error + Send + Sync>`, `anyhow::Error` and `io::Error` do already), and
    /// `Display` and `Debug`, the forms in which [listeners](crate::Listener::on_outcome)
    /// and `tracing` see the error (`exception.message` is its `Display` form; the
    /// attribute also shows them an error type's `std::error::Error` side). A panic in
    /// `f` counts as a failure and keeps unwinding.
    ///
    /// ```
    /// use breaker_runtime::{CircuitBreaker, State};
    ///
    /// type BoxError = Box<dyn std::error::Error + Send + Sync>;
    /// let breaker = CircuitBreaker::builder("call-doc").fail_max(2).build();
    ///
    /// let down = || -> Result<(), BoxError> { Err("connection refused".into()) };
    /// assert_eq!(breaker.call(down).unwrap_err().to_string(), "connection refused");
    /// assert_eq!(breaker.call(down).unwrap_err().to_string(), "connection refused");
    /// assert_eq!(breaker.state(), State::Open);
    ///
    /// let rejected = breaker.call(|| -> Result<(), BoxError> { unreachable!() });
    /// assert!(rejected.unwrap_err().to_string().contains("'call-doc' is open"));
    /// ```
    #[inline]
    pub fn call<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce() -> Result<T, E>,
        E: From<CircuitBreakerError> + fmt::Debug + fmt::Display,
    {
        let permit = self.try_acquire()?;
        let result = f();
        permit.record(&result);
        result
    }

    /// Awaits `future` through the breaker: the future-based twin of
    /// [`call`](Self::call). A rejected future is dropped without being polled. If the
    /// returned future is itself dropped before it finishes (a timeout, a `select!`), the
    /// call counts as neutral and frees the half-open probe slot.
    ///
    /// It needs no particular async runtime.
    ///
    /// ```
    /// use breaker_runtime::CircuitBreaker;
    ///
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     use std::task::{Context, Poll, Waker};
    /// #     let mut f = std::pin::pin!(f);
    /// #     loop {
    /// #         if let Poll::Ready(v) = f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
    /// #             return v;
    /// #         }
    /// #     }
    /// # }
    /// type BoxError = Box<dyn std::error::Error + Send + Sync>;
    /// let breaker = CircuitBreaker::builder("call-async-doc").build();
    /// let answer = block_on(breaker.call_async(async { Ok::<_, BoxError>(42) }));
    /// assert_eq!(answer.unwrap(), 42);
    /// ```
    pub async fn call_async<T, E, F>(&self, future: F) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
        E: From<CircuitBreakerError> + fmt::Debug + fmt::Display,
    {
        let permit = self.try_acquire()?;
        let result = future.await;
        permit.record(&result);
        result
    }
}
