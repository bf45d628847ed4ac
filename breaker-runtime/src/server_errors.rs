//! HTTP statuses as verdicts, and `Retry-After` as advice, shared by the tower layer
//! and the reqwest middleware.

use std::time::{Duration, SystemTime};

use crate::{Advice, AdviceSource, Verdict};

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
///
/// **Upstream advice.** A failure with status `503 Service Unavailable` or `429 Too Many
/// Requests` (when 429 counts) whose `Retry-After` says how long to wait (delay-seconds,
/// or an HTTP-date, taken relative to the response's `Date` when it has one, to the
/// local clock otherwise; RFC 9110, section 10.2.3) gives that advice with its failure:
/// an opening then lasts as long as the upstream said (see [`Advice`](crate::Advice)).
/// With the `circuit-breaker: open` marker of an upstream breaker-runtime service, the
/// advice's source is `upstream_breaker`. A date in the past, zero, or anything that
/// does not parse is no advice. [`honour_retry_after(false)`](Self::honour_retry_after)
/// ignores the header; [`open_on_retry_after(true)`](Self::open_on_retry_after) makes
/// one advised failure open the breaker at once.
///
/// ```
/// # #[cfg(feature = "tower")] use breaker_runtime::tower::ServerErrors;
/// # #[cfg(not(feature = "tower"))] use breaker_runtime::reqwest::ServerErrors;
/// use std::time::Duration;
/// use breaker_runtime::AdviceSource;
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert("retry-after", "30".parse().unwrap());
/// let advice = ServerErrors::new().advice(http::StatusCode::SERVICE_UNAVAILABLE, &headers).unwrap();
/// assert_eq!((advice.delay(), advice.source()), (Duration::from_secs(30), AdviceSource::RetryAfter));
/// headers.insert("date", "Sun, 06 Nov 1994 08:49:37 GMT".parse().unwrap());
/// headers.insert("retry-after", "Sun, 06 Nov 1994 08:50:07 GMT".parse().unwrap());
/// assert_eq!(ServerErrors::new().advice(http::StatusCode::SERVICE_UNAVAILABLE, &headers).unwrap().delay(), Duration::from_secs(30));
/// assert!(ServerErrors::new().honour_retry_after(false).advice(http::StatusCode::SERVICE_UNAVAILABLE, &headers).is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerErrors {
    /// 4xx statuses counted as failures, one bit each (bit n: 400 + n).
    client: u128,
    /// `Retry-After` read as advice.
    retry_after: bool,
    /// An advised failure opens at once.
    at_once: bool,
}

impl Default for ServerErrors {
    fn default() -> Self {
        ServerErrors::new()
    }
}

impl ServerErrors {
    /// 5xx statuses are failures.
    pub const fn new() -> Self {
        ServerErrors {
            client: 0,
            retry_after: true,
            at_once: false,
        }
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

    /// Whether a `503` or `429` failure's `Retry-After` is taken as advice (the
    /// default) or ignored.
    pub const fn honour_retry_after(mut self, honour: bool) -> Self {
        self.retry_after = honour;
        self
    }

    /// Whether one failure with advice opens the breaker at once, whatever its
    /// threshold, for the advised time (capped by the breaker's `retry_after_cap`); off
    /// by default (see [`Advice::at_once`]). Turn it on when the upstream's
    /// `Retry-After` speaks for the whole service: one instance, not one of many behind
    /// a load balancer, or a breaker-runtime service whose own breaker is open (its
    /// `circuit-breaker: open` marker).
    ///
    /// ```
    /// # #[cfg(feature = "tower")] use breaker_runtime::tower::ServerErrors;
    /// # #[cfg(not(feature = "tower"))] use breaker_runtime::reqwest::ServerErrors;
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("retry-after", "5".parse().unwrap());
    /// let classify = ServerErrors::new().open_on_retry_after(true);
    /// let advice = classify.advice(http::StatusCode::SERVICE_UNAVAILABLE, &headers).unwrap();
    /// assert!(advice.opens_at_once());
    /// ```
    pub const fn open_on_retry_after(mut self, on: bool) -> Self {
        self.at_once = on;
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

    /// The advice of a response with `status` and `headers`, if it is a failure whose
    /// `Retry-After` says how long to wait: a `503`, or a `429` that counts.
    pub fn advice(&self, status: http::StatusCode, headers: &http::HeaderMap) -> Option<Advice> {
        self.advice_marked(status, headers, || {
            crate::boundary::is_upstream_rejection(headers)
        })
    }

    /// [`advice`](Self::advice), told whether the answer carries an upstream breaker's
    /// marker (by a caller that looked already).
    pub(crate) fn advice_marked(
        &self,
        status: http::StatusCode,
        headers: &http::HeaderMap,
        marked: impl FnOnce() -> bool,
    ) -> Option<Advice> {
        let advising = status == http::StatusCode::SERVICE_UNAVAILABLE
            || status == http::StatusCode::TOO_MANY_REQUESTS;
        if !self.retry_after || !advising || self.verdict(status) != Verdict::Failure {
            return None;
        }
        let delay = retry_after(headers)?;
        let source = if marked() {
            AdviceSource::UpstreamBreaker
        } else {
            AdviceSource::RetryAfter
        };
        let advice = Advice::new(delay, source)?;
        Some(if self.at_once {
            advice.at_once()
        } else {
            advice
        })
    }
}

/// How long `Retry-After` says to wait: delay-seconds, or an HTTP-date (any of the
/// three forms RFC 9110 makes a recipient accept) less the response's `Date` (or the
/// local clock, without one). `None` for a date not after it, or a value that parses as
/// neither.
pub(crate) fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // More digits than a u64 holds: longer than any cap, so the longest there is.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let until = httpdate::parse_http_date(value).ok()?;
    let now = headers
        .get(http::header::DATE)
        .and_then(|date| date.to_str().ok())
        .and_then(|date| httpdate::parse_http_date(date.trim()).ok())
        .unwrap_or_else(SystemTime::now);
    until.duration_since(now).ok()
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
            .collect()
    }

    #[test]
    fn retry_after_is_seconds_or_a_date_and_nothing_else() {
        let date = ("date", "Sun, 06 Nov 1994 08:49:37 GMT");
        for (value, delay) in [
            ("30", Some(30)),
            (" 7 ", Some(7)),
            ("0", Some(0)),
            ("Sun, 06 Nov 1994 08:50:07 GMT", Some(30)),
            ("Sunday, 06-Nov-94 08:50:07 GMT", Some(30)),
            ("Sun Nov  6 08:50:07 1994", Some(30)),
            ("Sun, 06 Nov 1994 08:49:37 GMT", Some(0)),
            ("Sun, 06 Nov 1994 08:40:00 GMT", None),
            ("-5", None),
            ("1.5", None),
            ("soon", None),
            ("", None),
        ] {
            let got = retry_after(&headers(&[date, ("retry-after", value)]));
            assert_eq!(got, delay.map(Duration::from_secs), "{value:?}");
        }
        let huge = retry_after(&headers(&[("retry-after", "99999999999999999999999")]));
        assert_eq!(huge, Some(Duration::from_secs(u64::MAX)));
        assert_eq!(retry_after(&headers(&[])), None);
    }

    #[test]
    fn a_date_without_a_date_header_is_taken_against_the_local_clock() {
        let in_an_hour = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(3_600));
        let got = retry_after(&headers(&[("retry-after", &in_an_hour)])).unwrap();
        // The date has whole seconds: the local clock's fraction, and a slow machine.
        assert!(
            got > Duration::from_secs(3_590) && got <= Duration::from_secs(3_600),
            "{got:?}"
        );
        let an_hour_ago = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(3_600));
        assert_eq!(
            retry_after(&headers(&[("retry-after", &an_hour_ago)])),
            None
        );
    }

    #[test]
    fn open_on_retry_after_marks_the_advice() {
        let with = headers(&[("retry-after", "30")]);
        let status = http::StatusCode::SERVICE_UNAVAILABLE;
        assert!(!ServerErrors::new()
            .advice(status, &with)
            .unwrap()
            .opens_at_once());
        let at_once = ServerErrors::new().open_on_retry_after(true);
        assert!(at_once.advice(status, &with).unwrap().opens_at_once());
        assert!(!at_once
            .open_on_retry_after(false)
            .advice(status, &with)
            .unwrap()
            .opens_at_once());
    }

    #[test]
    fn only_a_503_or_a_429_that_counts_advises() {
        let with = headers(&[("retry-after", "30")]);
        let advice = |classify: ServerErrors, code: u16| {
            classify.advice(http::StatusCode::from_u16(code).unwrap(), &with)
        };
        assert!(advice(ServerErrors::new(), 503).is_some());
        assert!(
            advice(ServerErrors::new(), 500).is_none(),
            "a 500 advises nothing"
        );
        assert!(
            advice(ServerErrors::new(), 429).is_none(),
            "429 does not count"
        );
        let counted = ServerErrors::new().failure_on(http::StatusCode::TOO_MANY_REQUESTS);
        assert!(advice(counted, 429).is_some());
        assert!(advice(ServerErrors::new().honour_retry_after(false), 503).is_none());
        let marked = headers(&[("retry-after", "30"), ("circuit-breaker", "open")]);
        let source = ServerErrors::new()
            .advice(http::StatusCode::SERVICE_UNAVAILABLE, &marked)
            .map(|a| a.source());
        assert_eq!(source, Some(AdviceSource::UpstreamBreaker));
        let zero = headers(&[("retry-after", "0")]);
        assert!(ServerErrors::new()
            .advice(http::StatusCode::SERVICE_UNAVAILABLE, &zero)
            .is_none());
    }
}
