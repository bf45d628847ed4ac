//! The response future of [`CircuitBreakerService`](super::CircuitBreakerService): the
//! inner call with its permit, or a rejection. Not boxed.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::{BoxError, Classify, LayerPermit};
use crate::outcome::{CallError, Seen};
use crate::{CircuitBreakerError, Verdict};

pin_project_lite::pin_project! {
    /// The future of a call through the breaker. Dropped before it completes, the call
    /// counts as neutral (its permit's drop), which frees a half-open probe slot. With a
    /// [`call_timeout`](super::CircuitBreakerLayer::call_timeout), it runs the call
    /// against the timer `T` (unboxed) and ends it as a failure when the timer fires
    /// first.
    pub struct ResponseFuture<F, C, T = std::future::Pending<Duration>> {
        #[pin]
        state: State<F, C, T>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F, C, T> {
        Called {
            #[pin]
            future: F,
            permit: Option<LayerPermit>,
            classify: C,
            #[pin]
            timer: T,
        },
        Rejected {
            rejection: Option<Box<CircuitBreakerError>>,
        },
    }
}

impl<F, C, T> ResponseFuture<F, C, T> {
    #[inline]
    pub(super) fn called(future: F, permit: LayerPermit, classify: C, timer: T) -> Self {
        ResponseFuture {
            state: State::Called {
                future,
                permit: Some(permit),
                classify,
                timer,
            },
        }
    }

    pub(super) fn rejected(rejection: Box<CircuitBreakerError>) -> Self {
        ResponseFuture {
            state: State::Rejected {
                rejection: Some(rejection),
            },
        }
    }
}

impl<F, C, T, R, E> Future for ResponseFuture<F, C, T>
where
    F: Future<Output = Result<R, E>>,
    E: Into<BoxError>,
    C: Classify<R>,
    T: Future<Output = Duration>,
{
    type Output = Result<C::Response, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Called {
                future,
                permit,
                classify,
                timer,
            } => {
                if let Poll::Ready(result) = future.poll(cx) {
                    let permit = permit.take().expect(COMPLETED);
                    return Poll::Ready(match result {
                        Ok(response) => Ok(classify.response(response, permit)),
                        Err(error) => {
                            let error = error.into();
                            permit.finish(
                                classify.error(&error),
                                Some(Seen::of::<BoxError>(CallError::Error(&*error))),
                            );
                            Err(error)
                        }
                    });
                }
                let limit = std::task::ready!(timer.poll(cx));
                Poll::Ready(Err(timed_out(permit.take().expect(COMPLETED), limit)))
            }
            StateProj::Rejected { rejection } => {
                Poll::Ready(Err(rejection.take().expect(COMPLETED)))
            }
        }
    }
}

const COMPLETED: &str = "a response future is not polled after it completed";

/// The call ran out of time: a failure, reported with the breaker's timeout error, which
/// is also what the caller gets.
#[cold]
#[inline(never)]
fn timed_out(permit: LayerPermit, limit: Duration) -> Box<CircuitBreakerError> {
    let error = CircuitBreakerError::timeout(permit.breaker().name_handle().clone(), limit);
    permit.finish(
        Verdict::Failure,
        Some(Seen::of::<CircuitBreakerError>(CallError::Error(&error))),
    );
    Box::new(error)
}

impl<F, C, T> std::fmt::Debug for ResponseFuture<F, C, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Called { .. } => "called",
            State::Rejected { .. } => "rejected",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
