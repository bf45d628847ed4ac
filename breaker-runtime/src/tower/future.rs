//! The response future of [`CircuitBreakerService`](super::CircuitBreakerService): the
//! inner call with its permit, or a rejection. Not boxed.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{BoxError, Classify, LayerPermit};
use crate::CircuitBreakerError;

pin_project_lite::pin_project! {
    /// The future of a call through the breaker. Dropped before it completes, the call
    /// counts as neutral (its permit's drop), which frees a half-open probe slot.
    pub struct ResponseFuture<F, C> {
        #[pin]
        state: State<F, C>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F, C> {
        Called {
            #[pin]
            future: F,
            permit: Option<LayerPermit>,
            classify: C,
        },
        Rejected {
            rejection: Option<Box<CircuitBreakerError>>,
        },
    }
}

impl<F, C> ResponseFuture<F, C> {
    #[inline]
    pub(super) fn called(future: F, permit: LayerPermit, classify: C) -> Self {
        ResponseFuture {
            state: State::Called {
                future,
                permit: Some(permit),
                classify,
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

impl<F, C, T, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    C: Classify<T>,
{
    type Output = Result<C::Response, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Called {
                future,
                permit,
                classify,
            } => {
                let result = std::task::ready!(future.poll(cx));
                let permit = permit
                    .take()
                    .expect("a response future is not polled after it completed");
                Poll::Ready(match result {
                    Ok(response) => Ok(classify.response(response, permit)),
                    Err(error) => {
                        let error = error.into();
                        let seen = crate::listener::CallError::Error(&*error);
                        permit.finish(classify.error(&error), Some(seen));
                        Err(error)
                    }
                })
            }
            StateProj::Rejected { rejection } => Poll::Ready(Err(rejection
                .take()
                .expect("a response future is not polled after it completed"))),
        }
    }
}

impl<F, C> std::fmt::Debug for ResponseFuture<F, C> {
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
