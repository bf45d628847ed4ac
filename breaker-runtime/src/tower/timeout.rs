//! How long a call through the layer may run: [`NoTimeout`] (the default) or a
//! [`CallTimeout`] (feature `tokio`), chosen by [`CircuitBreakerLayer::call_timeout`].
//!
//! The timer lives inside the layer's response future, so a call that runs too long
//! ends *through the breaker*, as a failure. A `tower::timeout::TimeoutLayer` placed
//! outside the breaker drops the call instead, and a dropped call is neutral: a
//! dependency that hangs would never trip the breaker.
//!
//! [`CircuitBreakerLayer::call_timeout`]: super::CircuitBreakerLayer::call_timeout

use std::future::Future;
#[cfg(feature = "tokio")]
use std::pin::Pin;
#[cfg(feature = "tokio")]
use std::task::{Context, Poll};
use std::time::Duration;

/// What limits the time a call through the layer may take. Implemented by
/// [`NoTimeout`] and [`CallTimeout`]; the layer's third type parameter.
pub trait Deadline: Clone {
    /// The timer a call runs against: it completes, with the limit, when the call has
    /// run too long; [`NoTimeout`]'s never does.
    type Timer: Future<Output = Duration>;

    /// A timer for a call starting now.
    fn start(&self) -> Self::Timer;
}

/// Calls may take any time (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTimeout;

/// Its timer is `Pending`, which takes no room and is never ready: the call's future
/// pays nothing for the timeout it does not have.
impl Deadline for NoTimeout {
    type Timer = std::future::Pending<Duration>;

    #[inline(always)]
    fn start(&self) -> Self::Timer {
        std::future::pending()
    }
}

/// A call still running after this long fails with the breaker's timeout error
/// ([`ErrorKind::Timeout`](crate::ErrorKind::Timeout)) and counts as a failure; timed
/// with tokio's timer (feature `tokio`), so tests may pause and advance it.
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
#[derive(Debug, Clone, Copy)]
pub struct CallTimeout(pub(super) Duration);

#[cfg(feature = "tokio")]
impl CallTimeout {
    /// The longest a call may run.
    pub fn limit(&self) -> Duration {
        self.0
    }
}

#[cfg(feature = "tokio")]
impl Deadline for CallTimeout {
    type Timer = TimeLimit;

    #[inline]
    fn start(&self) -> TimeLimit {
        TimeLimit {
            sleep: tokio::time::sleep(self.0),
            limit: self.0,
        }
    }
}

#[cfg(feature = "tokio")]
pin_project_lite::pin_project! {
    /// A [`CallTimeout`]'s timer: tokio's `Sleep`, unboxed, and the limit it stands for.
    #[derive(Debug)]
    pub struct TimeLimit {
        #[pin]
        sleep: tokio::time::Sleep,
        limit: Duration,
    }
}

#[cfg(feature = "tokio")]
impl Future for TimeLimit {
    type Output = Duration;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Duration> {
        let this = self.project();
        this.sleep.poll(cx).map(|()| *this.limit)
    }
}
