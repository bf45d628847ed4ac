//! HTTP statuses as verdicts, shared by the tower layer and the reqwest middleware.

use crate::Verdict;

/// HTTP responses: a 5xx status is a failure, any other a success; a transport error a
/// failure. `429 Too Many Requests` and `408 Request Timeout` count as failures when
/// asked for (a server that sheds load with them).
///
/// ```
/// # #[cfg(feature = "tower")] use breaker_runtime::tower::ServerErrors;
/// # #[cfg(not(feature = "tower"))] use breaker_runtime::reqwest::ServerErrors;
/// use breaker_runtime::Verdict;
///
/// let classify = ServerErrors::new().failure_on(http::StatusCode::TOO_MANY_REQUESTS);
/// assert_eq!(classify.verdict(http::StatusCode::BAD_GATEWAY), Verdict::Failure);
/// assert_eq!(classify.verdict(http::StatusCode::TOO_MANY_REQUESTS), Verdict::Failure);
/// assert_eq!(classify.verdict(http::StatusCode::NOT_FOUND), Verdict::Success);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerErrors {
    /// 4xx statuses counted as failures, one bit each (bit n: 400 + n).
    client: u128,
}

impl ServerErrors {
    /// 5xx statuses are failures.
    pub const fn new() -> Self {
        ServerErrors { client: 0 }
    }

    /// Counts `status`, a 4xx status (`429`, `408`), as a failure too; a status outside
    /// 400 to 499 changes nothing (5xx are failures already, and the rest are answers).
    pub const fn failure_on(mut self, status: http::StatusCode) -> Self {
        let code = status.as_u16();
        if code >= 400 && code <= 499 {
            self.client |= 1 << (code - 400);
        }
        self
    }

    /// The verdict for a response with `status`.
    pub const fn verdict(&self, status: http::StatusCode) -> Verdict {
        let code = status.as_u16();
        let client = code >= 400 && code <= 499 && self.client & (1 << (code - 400)) != 0;
        if (code >= 500 && code <= 599) || client {
            Verdict::Failure
        } else {
            Verdict::Success
        }
    }
}
