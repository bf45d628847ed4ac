//! A breaker's rejection across a service boundary: what a service answers when its
//! breaker refuses a call, and how a client recognises that answer from upstream.
//!
//! **Server side.** With feature `axum`, [`CircuitBreakerError`] is an
//! `axum::response::IntoResponse`: a rejection answers `503 Service Unavailable` with
//! `Retry-After` (whole seconds, rounded up; absent while forced open) and the marker
//! header `circuit-breaker: open`; a call abandoned at its `call_timeout` answers `504
//! Gateway Timeout` without the marker (the dependency was slow; nothing refused); a
//! call the throttle refused answers `503` with `circuit-breaker: throttled` and no
//! `Retry-After` (the service is up, shedding: the next call may go through). The
//! breaker's name is not sent: it can tell a stranger about your internals. Wrap the
//! error in [`Disclosed`] to send it in `circuit-breaker-name`. With feature `tonic`,
//! the `tonic::Status` made from a rejection (`Status::from(error)`) carries
//! `google.rpc.ErrorInfo` with reason [`GRPC_REASON`] and `google.rpc.RetryInfo` with
//! the time left, as gRPC's richer error model has them.
//!
//! **Client side.** [`ServerErrors`](crate::server_errors::ServerErrors) (the tower
//! layer's and the reqwest middleware's) and `GrpcErrors` (with feature `tonic`) still
//! count such an answer as a failure of the upstream service, and with feature
//! `opentelemetry` they mark the call's span `error.type =
//! upstream_circuit_breaker_open`, so a trace shows which hop refused.
//!
//! ```
//! # #[cfg(feature = "axum")] {
//! use axum_core::response::IntoResponse; // `axum::response::IntoResponse`
//! use breaker_runtime::CircuitBreaker;
//!
//! let breaker = CircuitBreaker::builder("payments-api").build();
//! breaker.open();
//! let response = breaker.try_acquire().unwrap_err().into_response();
//! assert_eq!(response.status(), 503);
//! assert_eq!(response.headers()["circuit-breaker"], "open");
//! assert_eq!(response.headers()["retry-after"], "60");
//! assert!(breaker_runtime::boundary::is_upstream_rejection(response.headers()));
//! # }
//! ```

use crate::CircuitBreakerError;

/// The header that marks an HTTP answer as a breaker's rejection.
pub const HEADER: &str = "circuit-breaker";
/// Its value.
pub const HEADER_OPEN: &str = "open";
/// Its value on a call the throttle refused: the service is up, and shedding.
pub const HEADER_THROTTLED: &str = "throttled";
/// The header that names the breaker, sent only for a [`Disclosed`] error.
pub const NAME_HEADER: &str = "circuit-breaker-name";
/// The `google.rpc.ErrorInfo` reason of a gRPC status made from a rejection.
pub const GRPC_REASON: &str = "CIRCUIT_BREAKER_OPEN";
/// The `google.rpc.ErrorInfo` reason of a gRPC status made from a call the throttle
/// refused.
pub const GRPC_REASON_THROTTLED: &str = "CIRCUIT_BREAKER_THROTTLED";
/// The `google.rpc.ErrorInfo` domain of a gRPC status made from a rejection.
pub const GRPC_DOMAIN: &str = "circuit-breaker";

/// [`HEADER`] as a header name made once: a lookup by a `&str` parses and validates
/// the name on every call, several times what the lookup itself costs.
const MARKER: http::HeaderName = http::HeaderName::from_static(HEADER);

/// Whether an HTTP answer carries the marker of an upstream breaker's rejection.
pub fn is_upstream_rejection(headers: &http::HeaderMap) -> bool {
    headers.get(&MARKER).is_some_and(|value| {
        value
            .as_bytes()
            .eq_ignore_ascii_case(HEADER_OPEN.as_bytes())
    })
}

/// Whether a gRPC status carries the `ErrorInfo` of an upstream breaker's rejection.
#[cfg(feature = "tonic")]
#[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
pub fn is_upstream_rejection_status(status: &tonic::Status) -> bool {
    use tonic_types::StatusExt;
    status.code() != tonic::Code::Ok
        && status
            .get_details_error_info()
            .is_some_and(|info| info.reason == GRPC_REASON)
}

/// An upstream breaker refused the call being classified: its span says so (feature
/// `opentelemetry`).
#[cfg(any(feature = "tower", feature = "reqwest", feature = "tonic"))]
pub(crate) fn upstream_refused() {
    #[cfg(feature = "opentelemetry")]
    crate::telemetry::otel::mark_upstream_refusal();
}

/// A [`CircuitBreakerError`] that tells the other side which breaker refused: its
/// response carries the breaker's name in [`NAME_HEADER`] (feature `axum`). For services
/// whose callers may know your breakers' names.
#[derive(Debug, Clone)]
pub struct Disclosed(pub CircuitBreakerError);

/// Whole seconds, rounded up: a client that waits them finds the breaker ready.
#[cfg(any(feature = "axum", test))]
fn whole_seconds(d: std::time::Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(feature = "axum")]
mod axum_response {
    use axum_core::response::{IntoResponse, Response};
    use http::{header, HeaderValue, StatusCode};

    use super::{whole_seconds, Disclosed, HEADER_OPEN, HEADER_THROTTLED, NAME_HEADER};
    use crate::CircuitBreakerError;

    /// `503` with `Retry-After` and `circuit-breaker: open` for a rejection; `504` for a
    /// call abandoned at its `call_timeout`. No breaker name (see [`Disclosed`]).
    impl IntoResponse for CircuitBreakerError {
        fn into_response(self) -> Response {
            if self.is_timeout() {
                return (StatusCode::GATEWAY_TIMEOUT, "upstream call timed out").into_response();
            }
            if self.is_throttled() {
                // No Retry-After: the next call may well go through.
                let mut response =
                    (StatusCode::SERVICE_UNAVAILABLE, "circuit breaker throttled").into_response();
                response
                    .headers_mut()
                    .insert(super::MARKER, HeaderValue::from_static(HEADER_THROTTLED));
                return response;
            }
            let mut response =
                (StatusCode::SERVICE_UNAVAILABLE, "circuit breaker open").into_response();
            let headers = response.headers_mut();
            headers.insert(super::MARKER, HeaderValue::from_static(HEADER_OPEN));
            if let Some(retry) = self.retry_after() {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(whole_seconds(retry)));
            }
            response
        }
    }

    /// The error's response, with the breaker's name in `circuit-breaker-name`.
    impl IntoResponse for Disclosed {
        fn into_response(self) -> Response {
            let name = HeaderValue::from_str(self.0.name()).ok();
            let mut response = self.0.into_response();
            if let Some(name) = name {
                response.headers_mut().insert(NAME_HEADER, name);
            }
            response
        }
    }
}

#[cfg(feature = "tonic")]
impl From<CircuitBreakerError> for tonic::Status {
    /// `UNAVAILABLE` for a rejection, with `ErrorInfo` (reason [`GRPC_REASON`]) and
    /// `RetryInfo` (the time left, when there is one); `UNAVAILABLE` with reason
    /// [`GRPC_REASON_THROTTLED`] and no `RetryInfo` for a call the throttle refused;
    /// `DEADLINE_EXCEEDED` for a call abandoned at its `call_timeout`. The error is the status's `source()` (local
    /// only: the name of the breaker is not sent).
    fn from(error: CircuitBreakerError) -> Self {
        use tonic_types::{ErrorDetails, StatusExt};
        let mut status = if error.is_timeout() {
            tonic::Status::deadline_exceeded("upstream call timed out")
        } else if error.is_throttled() {
            // The service is up and shedding: no ErrorInfo of an open breaker, no
            // RetryInfo.
            tonic::Status::with_error_details(
                tonic::Code::Unavailable,
                "circuit breaker throttled",
                ErrorDetails::with_error_info(
                    GRPC_REASON_THROTTLED,
                    GRPC_DOMAIN,
                    std::collections::HashMap::<String, String>::new(),
                ),
            )
        } else {
            let mut details = ErrorDetails::with_error_info(
                GRPC_REASON,
                GRPC_DOMAIN,
                std::collections::HashMap::<String, String>::new(),
            );
            if let Some(retry) = error.retry_after() {
                details.set_retry_info(Some(retry));
            }
            tonic::Status::with_error_details(
                tonic::Code::Unavailable,
                "circuit breaker open",
                details,
            )
        };
        status.set_source(std::sync::Arc::new(error));
        status
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::time::Duration;

    #[test]
    fn retry_after_is_rounded_up_to_whole_seconds() {
        assert_eq!(super::whole_seconds(Duration::from_secs(30)), 30);
        assert_eq!(super::whole_seconds(Duration::from_millis(29_001)), 30);
        assert_eq!(super::whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(super::whole_seconds(Duration::ZERO), 0);
    }
}
