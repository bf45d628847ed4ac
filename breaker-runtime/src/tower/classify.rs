//! What a call's result means to the breaker: the default, HTTP statuses, gRPC
//! statuses (which may come at the end of the body), or a closure of yours.

use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};

use super::BoxError;
use super::LayerPermit;
use crate::grpc::GrpcErrors;
use crate::server_errors::ServerErrors;
use crate::Verdict;

/// Turns a call's result into a verdict, given to the call's permit.
///
/// Implemented by [`ErrorsAsFailures`] (the default), [`ServerErrors`], [`GrpcErrors`]
/// and any `Fn(Result<&Response, &BoxError>) -> Verdict + Clone`:
///
/// ```
/// use breaker_runtime::tower::{BoxError, CircuitBreakerLayer};
/// use breaker_runtime::{CircuitBreaker, Verdict};
///
/// // Only 503 counts as the dependency failing; a transport error too.
/// let layer = CircuitBreakerLayer::new(CircuitBreaker::builder("only-503").build())
///     .classify(|result: Result<&http::Response<()>, &BoxError>| match result {
///         Ok(response) if response.status() == 503 => Verdict::Failure,
///         Ok(_) => Verdict::Success,
///         Err(_) => Verdict::Failure,
///     });
/// # let _ = layer;
/// ```
pub trait Classify<Res>: Clone {
    /// What the service answers: the response as it came, or (to watch its body to the
    /// end) with its body wrapped.
    type Response;

    /// Gives `permit` its verdict for `response`, or hands the permit into the
    /// response's body to give it at the end of the stream.
    fn response(&self, response: Res, permit: LayerPermit) -> Self::Response;

    /// The verdict for an error of the inner service (a transport error): a failure
    /// unless said otherwise.
    fn error(&self, error: &BoxError) -> Verdict {
        let _ = error;
        Verdict::Failure
    }
}

/// The default: any response is a success, any error of the inner service a failure.
#[derive(Debug, Clone, Copy, Default)]
pub struct ErrorsAsFailures;

impl<Res> Classify<Res> for ErrorsAsFailures {
    type Response = Res;

    #[inline]
    fn response(&self, response: Res, permit: LayerPermit) -> Res {
        permit.success();
        response
    }
}

impl<Res, F> Classify<Res> for F
where
    F: Fn(Result<&Res, &BoxError>) -> Verdict + Clone,
{
    type Response = Res;

    #[inline]
    fn response(&self, response: Res, permit: LayerPermit) -> Res {
        permit.verdict(self(Ok(&response)));
        response
    }

    fn error(&self, error: &BoxError) -> Verdict {
        self(Err(error))
    }
}

impl<B> Classify<http::Response<B>> for ServerErrors {
    type Response = http::Response<B>;

    #[inline]
    fn response(&self, response: http::Response<B>, permit: LayerPermit) -> http::Response<B> {
        let verdict = self.verdict(response.status());
        if verdict != Verdict::Failure {
            // Nothing is read or parsed on a success.
            permit.verdict(verdict);
            return response;
        }
        let marked = crate::boundary::is_upstream_rejection(response.headers());
        if marked {
            crate::boundary::upstream_refused();
        }
        match self.advice_marked(response.status(), response.headers(), || marked) {
            Some(advice) => permit.failure_with_advice(advice),
            None => permit.verdict(verdict),
        }
        response
    }
}

/// gRPC responses (see [`grpc`](crate::grpc) for the verdict of each code). The status
/// is read from the headers of a trailers-only response, at once; otherwise the body is
/// wrapped in a [`GrpcBody`] and the verdict given when its trailers arrive. A body that
/// ends without a status, or fails, is a failure; one dropped before its end is
/// neutral; a response that is not gRPC at all (a 5xx from a proxy) is classified by
/// its HTTP status.
impl<B> Classify<http::Response<B>> for GrpcErrors {
    type Response = http::Response<GrpcBody<B>>;

    fn response(&self, response: http::Response<B>, permit: LayerPermit) -> Self::Response {
        let (parts, body) = response.into_parts();
        let pending = if let Some(status) = parts.headers.get(&GRPC_STATUS) {
            // Trailers-only: the call's outcome is in the headers.
            let verdict = self.verdict_of_header(Some(status.as_bytes()));
            upstream_refusal(verdict, &parts.headers);
            give(permit, verdict, self, &parts.headers);
            None
        } else if parts.status != http::StatusCode::OK {
            permit.verdict(ServerErrors::new().verdict(parts.status));
            None
        } else {
            Some(permit)
        };
        let body = GrpcBody {
            inner: body,
            permit: pending,
            classify: *self,
        };
        http::Response::from_parts(parts, body)
    }
}

/// Made once: a lookup by a `&str` parses the name on every response.
const GRPC_STATUS: http::HeaderName = http::HeaderName::from_static("grpc-status");

/// Gives `permit` its gRPC verdict; a failure with the server's advice in `headers` (its
/// `RetryInfo` or pushback), if any. A success parses nothing.
fn give(permit: LayerPermit, verdict: Verdict, classify: &GrpcErrors, headers: &http::HeaderMap) {
    match (verdict == Verdict::Failure)
        .then(|| classify.advice(headers))
        .flatten()
    {
        Some(advice) => permit.failure_with_advice(advice),
        None => permit.verdict(verdict),
    }
}

/// A failed gRPC call whose status (headers or trailers) carries an upstream breaker's
/// `ErrorInfo` marks its span (features `tonic` and `opentelemetry`; without `tonic`
/// the status details are not decoded).
fn upstream_refusal(verdict: Verdict, headers: &http::HeaderMap) {
    #[cfg(feature = "tonic")]
    if verdict == Verdict::Failure {
        let refused = tonic::Status::from_header_map(headers)
            .is_some_and(|status| crate::boundary::is_upstream_rejection_status(&status));
        if refused {
            crate::boundary::upstream_refused();
        }
    }
    #[cfg(not(feature = "tonic"))]
    let _ = (verdict, headers);
}

pin_project_lite::pin_project! {
    /// A gRPC response body that gives its call's permit the verdict of the
    /// `grpc-status` trailer when it arrives.
    pub struct GrpcBody<B> {
        #[pin]
        inner: B,
        permit: Option<LayerPermit>,
        classify: GrpcErrors,
    }
}

impl<B> GrpcBody<B> {
    /// The body, without the watch.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B: Body> Body for GrpcBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = std::task::ready!(this.inner.poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(trailers) = frame.trailers_ref() {
                    if let Some(permit) = this.permit.take() {
                        let status = trailers.get(&GRPC_STATUS).map(|v| v.as_bytes());
                        let verdict = this.classify.verdict_of_header(status);
                        upstream_refusal(verdict, trailers);
                        give(permit, verdict, this.classify, trailers);
                    }
                }
            }
            // A body that broke, or ended with no status: gRPC reads both as UNKNOWN.
            Some(Err(_)) | None => {
                if let Some(permit) = this.permit.take() {
                    permit.verdict(this.classify.verdict_of_header(None));
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        // Not at the end while a verdict waits: the caller polls once more, and the
        // end without a status (a failure, as gRPC reads it) is seen, not dropped.
        self.permit.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> std::fmt::Debug for GrpcBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcBody")
            .field("watching", &self.permit.is_some())
            .finish()
    }
}
