//! gRPC status codes as verdicts: which statuses say the server is failing.
//!
//! A gRPC call that returns a status is, to HTTP, a `200 OK` whose `grpc-status` (in the
//! headers of a trailers-only response, or in the trailers after the body) carries the
//! outcome. [`GrpcErrors`] decides what each code means to a breaker:
//!
//! | verdict | codes |
//! |---|---|
//! | failure | `UNAVAILABLE`, `DEADLINE_EXCEEDED`, `INTERNAL`, `UNKNOWN`, `DATA_LOSS` (and a missing or unreadable status, which gRPC reads as `UNKNOWN`) |
//! | neutral | `CANCELLED` (the client gave up: nothing learnt about the server) |
//! | success | every other code, `OK`, `INVALID_ARGUMENT`, `NOT_FOUND`, `PERMISSION_DENIED`, ... (the server answered) |
//!
//! `RESOURCE_EXHAUSTED` and `UNIMPLEMENTED` are successes unless asked for with
//! [`GrpcErrors::failure_on`]. The tower layer reads the status with
//! [`tower::GrpcErrors`](crate::tower::GrpcErrors) (feature `tower`); a
//! `#[circuit_breaker]` tonic client method uses [`classify`] (feature `tonic`):
//!
//! ```ignore
//! #[circuit_breaker(fail_max = 5, failure_if = breaker_runtime::grpc::classify)]
//! async fn check(&mut self) -> Result<Response<HealthCheckResponse>, tonic::Status> { ... }
//! ```
//!
//! **Upstream advice.** A failing status may say how long to wait: a
//! `google.rpc.RetryInfo` in its details (feature `tonic`, which decodes them), or else a
//! `grpc-retry-pushback-ms` trailer (gRFC A6; a negative or malformed value says not to
//! retry, and is no advice here). [`GrpcErrors::advice`] reads them for the tower layer;
//! [`retry_after`] for the attribute's `retry_after = breaker_runtime::grpc::retry_after`.
//! An opening then lasts as long as the server said (see [`Advice`]). A rejection by an
//! upstream breaker-runtime service (its `ErrorInfo` reason `CIRCUIT_BREAKER_OPEN`) is
//! advice of source `upstream_breaker`.

use std::time::Duration;

use crate::{Advice, AdviceSource, Verdict};

/// The trailer of gRFC A6's server pushback.
pub const PUSHBACK: &str = "grpc-retry-pushback-ms";

/// A gRPC status code (the numbers of `grpc-status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Code {
    /// `OK` (0).
    Ok = 0,
    /// `CANCELLED` (1).
    Cancelled = 1,
    /// `UNKNOWN` (2).
    Unknown = 2,
    /// `INVALID_ARGUMENT` (3).
    InvalidArgument = 3,
    /// `DEADLINE_EXCEEDED` (4).
    DeadlineExceeded = 4,
    /// `NOT_FOUND` (5).
    NotFound = 5,
    /// `ALREADY_EXISTS` (6).
    AlreadyExists = 6,
    /// `PERMISSION_DENIED` (7).
    PermissionDenied = 7,
    /// `RESOURCE_EXHAUSTED` (8).
    ResourceExhausted = 8,
    /// `FAILED_PRECONDITION` (9).
    FailedPrecondition = 9,
    /// `ABORTED` (10).
    Aborted = 10,
    /// `OUT_OF_RANGE` (11).
    OutOfRange = 11,
    /// `UNIMPLEMENTED` (12).
    Unimplemented = 12,
    /// `INTERNAL` (13).
    Internal = 13,
    /// `UNAVAILABLE` (14).
    Unavailable = 14,
    /// `DATA_LOSS` (15).
    DataLoss = 15,
    /// `UNAUTHENTICATED` (16).
    Unauthenticated = 16,
}

const fn bit(code: Code) -> u32 {
    1 << code as u32
}

/// What each gRPC status means to a breaker (see the [module](self)): failures by
/// default `UNAVAILABLE`, `DEADLINE_EXCEEDED`, `INTERNAL`, `UNKNOWN`, `DATA_LOSS`;
/// `CANCELLED` neutral; the rest successes.
///
/// ```
/// use breaker_runtime::grpc::{Code, GrpcErrors};
/// use breaker_runtime::Verdict;
///
/// let grpc = GrpcErrors::new();
/// assert_eq!(grpc.verdict(Code::Unavailable as i32), Verdict::Failure);
/// assert_eq!(grpc.verdict(Code::NotFound as i32), Verdict::Success);
/// assert_eq!(grpc.verdict(Code::Cancelled as i32), Verdict::Ignore);
/// let strict = grpc.failure_on(Code::ResourceExhausted);
/// assert_eq!(strict.verdict(Code::ResourceExhausted as i32), Verdict::Failure);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrpcErrors {
    failures: u32,
    neutral: u32,
    /// The server's `RetryInfo` and pushback read as advice.
    advice: bool,
    /// An advised failure opens at once.
    at_once: bool,
}

impl GrpcErrors {
    /// The default classification.
    pub const fn new() -> Self {
        GrpcErrors {
            failures: bit(Code::Unavailable)
                | bit(Code::DeadlineExceeded)
                | bit(Code::Internal)
                | bit(Code::Unknown)
                | bit(Code::DataLoss),
            neutral: bit(Code::Cancelled),
            advice: true,
            at_once: false,
        }
    }

    /// Counts `code` as a failure too (`RESOURCE_EXHAUSTED`, say, when the server sheds
    /// load by it, or `UNIMPLEMENTED` against a server that should have the method).
    pub const fn failure_on(mut self, code: Code) -> Self {
        self.failures |= bit(code);
        self.neutral &= !bit(code);
        self
    }

    /// The verdict for the status numbered `code`; a number outside the 17 codes is
    /// `UNKNOWN`, as gRPC reads it.
    pub const fn verdict(&self, code: i32) -> Verdict {
        let code = if code >= 0 && code <= Code::Unauthenticated as i32 {
            code as u32
        } else {
            Code::Unknown as u32
        };
        if self.failures & (1 << code) != 0 {
            Verdict::Failure
        } else if self.neutral & (1 << code) != 0 {
            Verdict::Ignore
        } else {
            Verdict::Success
        }
    }

    /// The verdict for a `grpc-status` header or trailer value as it arrived: a
    /// missing or unreadable one is `UNKNOWN`.
    pub fn verdict_of_header(&self, value: Option<&[u8]>) -> Verdict {
        let code = value
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.trim().parse::<i32>().ok())
            .unwrap_or(Code::Unknown as i32);
        self.verdict(code)
    }
}

impl GrpcErrors {
    /// Whether a failing status's `RetryInfo` and `grpc-retry-pushback-ms` are taken as
    /// advice (the default) or ignored.
    pub const fn honour_retry_after(mut self, honour: bool) -> Self {
        self.advice = honour;
        self
    }

    /// Whether one failure with advice opens the breaker at once, whatever its
    /// threshold, for the advised time (capped); off by default. For a server whose
    /// advice speaks for the whole service: one instance, not one of many behind a load
    /// balancer, or a breaker-runtime service whose own breaker is open.
    pub const fn open_on_retry_after(mut self, on: bool) -> Self {
        self.at_once = on;
        self
    }

    /// For a failing status, the server's advice in `headers` (a trailers-only
    /// response's headers, or a response's trailers): its `RetryInfo` (feature `tonic`),
    /// else its pushback. Read only after a failure: a success parses nothing.
    ///
    /// ```
    /// use std::time::Duration;
    /// use breaker_runtime::grpc::GrpcErrors;
    ///
    /// let mut trailers = http::HeaderMap::new();
    /// trailers.insert("grpc-retry-pushback-ms", "1500".parse().unwrap());
    /// assert_eq!(GrpcErrors::new().advice(&trailers).unwrap().delay(), Duration::from_millis(1500));
    /// trailers.insert("grpc-retry-pushback-ms", "-1".parse().unwrap());
    /// assert!(GrpcErrors::new().advice(&trailers).is_none(), "gRFC A6: do not retry");
    /// ```
    pub fn advice(&self, headers: &http::HeaderMap) -> Option<Advice> {
        if !self.advice {
            return None;
        }
        let advice = self.advice_in(headers)?;
        Some(if self.at_once {
            advice.at_once()
        } else {
            advice
        })
    }

    fn advice_in(&self, headers: &http::HeaderMap) -> Option<Advice> {
        #[cfg(feature = "tonic")]
        if let Some(status) = tonic::Status::from_header_map(headers) {
            if let Some(advice) = retry_info(&status) {
                return Some(advice);
            }
        }
        const NAME: http::HeaderName = http::HeaderName::from_static(PUSHBACK);
        pushback(headers.get(&NAME).map(|v| v.as_bytes()))
    }
}

/// A pushback value as advice: milliseconds, zero or more; a negative or malformed one
/// (gRFC A6: do not retry) is none, and so is zero.
fn pushback(value: Option<&[u8]>) -> Option<Advice> {
    let millis: i64 = std::str::from_utf8(value?).ok()?.trim().parse().ok()?;
    let millis = u64::try_from(millis).ok()?;
    Advice::new(Duration::from_millis(millis), AdviceSource::GrpcPushback)
}

/// A status's `RetryInfo` as advice: of source `upstream_breaker` when the status is an
/// upstream breaker's rejection.
#[cfg(feature = "tonic")]
fn retry_info(status: &tonic::Status) -> Option<Advice> {
    use tonic_types::StatusExt;
    let delay = status.get_details_retry_info()?.retry_delay?;
    let source = if crate::boundary::is_upstream_rejection_status(status) {
        AdviceSource::UpstreamBreaker
    } else {
        AdviceSource::GrpcRetryInfo
    };
    Advice::new(delay, source)
}

/// A failing `tonic::Status`'s advice, for the attribute's `retry_after` on a tonic
/// client method: its `RetryInfo`, else its `grpc-retry-pushback-ms` metadata (see the
/// [module](self)). `None` for a status that is no failure, or advises nothing.
///
/// ```ignore
/// #[circuit_breaker(failure_if = breaker_runtime::grpc::classify,
///                   retry_after = breaker_runtime::grpc::retry_after)]
/// async fn charge(&mut self, order: Order) -> Result<Response<Receipt>, tonic::Status> { ... }
/// ```
#[cfg(feature = "tonic")]
#[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
pub fn retry_after(status: &tonic::Status) -> Option<Advice> {
    if GrpcErrors::new().verdict(status.code() as i32) != Verdict::Failure {
        return None;
    }
    retry_info(status).or_else(|| pushback(status.metadata().get(PUSHBACK).map(|v| v.as_bytes())))
}

impl Default for GrpcErrors {
    fn default() -> Self {
        Self::new()
    }
}

/// A `tonic::Status` as a verdict, by [`GrpcErrors::new`]'s default: for the
/// attribute's `failure_if` on a tonic client method (`CANCELLED` is neutral).
#[cfg(feature = "tonic")]
#[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
pub fn classify(status: &tonic::Status) -> Verdict {
    let verdict = GrpcErrors::new().verdict(status.code() as i32);
    if verdict == Verdict::Failure && crate::boundary::is_upstream_rejection_status(status) {
        crate::boundary::upstream_refused();
    }
    verdict
}

/// Whether a `tonic::Status` says the server is failing, by [`GrpcErrors::new`]'s
/// default (`CANCELLED` counts as not failing here; [`classify`] makes it neutral).
#[cfg(feature = "tonic")]
#[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
pub fn is_failure(status: &tonic::Status) -> bool {
    classify(status) == Verdict::Failure
}

/// A rejection as the `tonic::Status` a tonic client method returns: `UNAVAILABLE`
/// (`DEADLINE_EXCEEDED` for a `call_timeout`), with the breaker's message, and the
/// [`CircuitBreakerError`](crate::CircuitBreakerError) as its source, so
/// `status.source().and_then(|e| e.downcast_ref::<CircuitBreakerError>())` tells a
/// rejection from the server's own `UNAVAILABLE`. This is what lets
/// `#[circuit_breaker]` sit on a method returning `Result<_, tonic::Status>`.
///
/// ```
/// use breaker_runtime::{CircuitBreaker, CircuitBreakerError};
///
/// let breaker = CircuitBreaker::builder("grpc-doc").build();
/// breaker.open();
/// let status = tonic::Status::from(breaker.try_acquire().unwrap_err());
/// assert_eq!(status.code(), tonic::Code::Unavailable);
/// let source = std::error::Error::source(&status).unwrap();
/// assert!(source.downcast_ref::<CircuitBreakerError>().unwrap().is_open());
/// ```
#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_pushback_is_milliseconds_and_nothing_else() {
        let delay = |v: &str| pushback(Some(v.as_bytes())).map(|a| a.delay());
        assert_eq!(delay("1500"), Some(Duration::from_millis(1500)));
        assert_eq!(delay(" 20 "), Some(Duration::from_millis(20)));
        for none in ["-1", "0", "", "soon", "1.5", "99999999999999999999"] {
            assert_eq!(delay(none), None, "{none:?}");
        }
        assert_eq!(pushback(None), None);
        assert_eq!(
            pushback(Some(b"7")).map(|a| a.source()),
            Some(AdviceSource::GrpcPushback)
        );
    }

    #[test]
    fn every_code_has_the_documented_verdict() {
        let grpc = GrpcErrors::new();
        let failures = [2, 4, 13, 14, 15];
        for code in 0..=16 {
            let expected = if failures.contains(&code) {
                Verdict::Failure
            } else if code == 1 {
                Verdict::Ignore
            } else {
                Verdict::Success
            };
            assert_eq!(grpc.verdict(code), expected, "code {code}");
        }
        assert_eq!(
            grpc.verdict(99),
            Verdict::Failure,
            "unknown numbers are UNKNOWN"
        );
        assert_eq!(grpc.verdict_of_header(Some(b"5")), Verdict::Success);
        assert_eq!(grpc.verdict_of_header(Some(b"x")), Verdict::Failure);
        assert_eq!(grpc.verdict_of_header(None), Verdict::Failure);
        let opted = grpc
            .failure_on(Code::ResourceExhausted)
            .failure_on(Code::Unimplemented)
            .failure_on(Code::Cancelled);
        for code in [8, 12, 1] {
            assert_eq!(opted.verdict(code), Verdict::Failure, "code {code}");
        }
    }
}
