//! What a failing upstream advises: how long to wait before calling it again, and
//! where the advice came from. A failure may carry it; when the breaker opens, it stays
//! open for as long as the latest advice that counted toward the opening says (capped),
//! instead of for its own `reset_timeout`.

use std::fmt;
use std::time::Duration;

/// An upstream's advice with a failure: wait `delay` before calling again.
///
/// ```
/// use std::time::Duration;
/// use breaker_runtime::{Advice, AdviceSource, CircuitBreaker, ManualClock, State};
///
/// let clock = ManualClock::new();
/// let breaker = CircuitBreaker::builder("advice-doc").fail_max(3).clock(clock).build();
/// let advice = Advice::new(Duration::from_secs(30), AdviceSource::RetryAfter).unwrap();
/// // A 503 with `Retry-After: 30`, seen by hand:
/// for _ in 0..3 {
///     breaker.try_acquire().unwrap().failure_with_advice(advice);
/// }
/// assert_eq!(breaker.state(), State::Open);
/// assert_eq!(breaker.open_period(), Some(Duration::from_secs(30)), "not its 60 s");
/// assert_eq!(breaker.open_advice(), Some(advice));
/// // No delay is no advice.
/// assert!(Advice::new(Duration::ZERO, AdviceSource::RetryAfter).is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advice {
    delay: Duration,
    source: AdviceSource,
    at_once: bool,
}

impl Advice {
    /// Advice to wait `delay`, from `source`; `None` for a zero delay, which advises
    /// nothing.
    pub fn new(delay: Duration, source: AdviceSource) -> Option<Advice> {
        (!delay.is_zero()).then_some(Advice {
            delay,
            source,
            at_once: false,
        })
    }

    /// The same advice, asking to open at once: the failure that carries it opens a
    /// closed breaker whatever its threshold, as every advised failure does with
    /// `open_on_retry_after`. What the tower layer's and the reqwest middleware's
    /// `open_on_retry_after(true)` give; for a source that speaks for the whole service
    /// (one instance, or an upstream breaker's `circuit-breaker: open` marker).
    ///
    /// ```
    /// use std::time::Duration;
    /// use breaker_runtime::{Advice, AdviceSource, CircuitBreaker, ManualClock, State};
    ///
    /// let breaker = CircuitBreaker::builder("at-once-doc").fail_max(5).clock(ManualClock::new()).build();
    /// let advice = Advice::new(Duration::from_secs(12), AdviceSource::UpstreamBreaker).unwrap();
    /// breaker.try_acquire().unwrap().failure_with_advice(advice.at_once());
    /// assert_eq!(breaker.state(), State::Open, "one failure, not five");
    /// assert_eq!(breaker.open_period(), Some(Duration::from_secs(12)));
    /// ```
    #[must_use]
    pub fn at_once(mut self) -> Advice {
        self.at_once = true;
        self
    }

    /// Whether this advice asks to open at once (see [`at_once`](Self::at_once)).
    pub fn opens_at_once(&self) -> bool {
        self.at_once
    }

    /// How long to wait before calling again.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// Where the advice came from.
    pub fn source(&self) -> AdviceSource {
        self.source
    }
}

/// Where an [`Advice`] came from: the values of `circuit_breaker.open.advice_source` and
/// of the `source` label of `circuit_breaker_advised_openings_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AdviceSource {
    /// An HTTP `Retry-After` header (RFC 9110, section 10.2.3).
    RetryAfter,
    /// A gRPC status's `google.rpc.RetryInfo` detail.
    GrpcRetryInfo,
    /// A gRPC `grpc-retry-pushback-ms` trailer (gRFC A6).
    GrpcPushback,
    /// The `circuit-breaker: open` marker of an upstream service's own breaker, with
    /// its `Retry-After`.
    UpstreamBreaker,
    /// The attribute's `retry_after = ...` function, or your own code.
    Function,
}

impl AdviceSource {
    /// Every source, each at the place its number says.
    pub(crate) const ALL: [AdviceSource; 5] = [
        AdviceSource::RetryAfter,
        AdviceSource::GrpcRetryInfo,
        AdviceSource::GrpcPushback,
        AdviceSource::UpstreamBreaker,
        AdviceSource::Function,
    ];

    /// `retry_after`, `grpc_retry_info`, `grpc_pushback`, `upstream_breaker` or
    /// `function`.
    pub const fn as_str(self) -> &'static str {
        match self {
            AdviceSource::RetryAfter => "retry_after",
            AdviceSource::GrpcRetryInfo => "grpc_retry_info",
            AdviceSource::GrpcPushback => "grpc_pushback",
            AdviceSource::UpstreamBreaker => "upstream_breaker",
            AdviceSource::Function => "function",
        }
    }

    const fn number(self) -> u64 {
        match self {
            AdviceSource::RetryAfter => 0,
            AdviceSource::GrpcRetryInfo => 1,
            AdviceSource::GrpcPushback => 2,
            AdviceSource::UpstreamBreaker => 3,
            AdviceSource::Function => 4,
        }
    }
}

impl fmt::Display for AdviceSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An advice packed in one word for a breaker's atomics: a number of milliseconds in the
/// low 59 bits (a deadline on the breaker's clock, or a duration), a flag above them,
/// and the source, plus one, in the top 4 bits; 0 for none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Packed(pub(crate) u64);

const MILLIS: u64 = (1 << 59) - 1;
const FLAG: u64 = 1 << 59;

impl Packed {
    pub(crate) const NONE: Packed = Packed(0);

    pub(crate) fn new(millis: u64, source: AdviceSource) -> Packed {
        Packed(millis.min(MILLIS) | (source.number() + 1) << 60)
    }

    /// The same, flagged (an opening the advice made at once).
    pub(crate) fn flagged(self) -> Packed {
        Packed(self.0 | FLAG)
    }

    pub(crate) fn is_flagged(self) -> bool {
        self.0 & FLAG != 0
    }

    /// The milliseconds and the source, if this is an advice.
    pub(crate) fn get(self) -> Option<(u64, AdviceSource)> {
        let source = (self.0 >> 60).checked_sub(1)?;
        let source = AdviceSource::ALL.get(source as usize).copied()?;
        Some((self.0 & MILLIS, source))
    }

    /// The advice itself, its milliseconds read as its delay.
    pub(crate) fn advice(self) -> Option<Advice> {
        let (millis, source) = self.get()?;
        Advice::new(Duration::from_millis(millis), source)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_packed_advice_keeps_its_millis_and_source() {
        for source in AdviceSource::ALL {
            for millis in [0, 1, 30_000, MILLIS, u64::MAX] {
                let packed = Packed::new(millis, source);
                assert_eq!(packed.get(), Some((millis.min(MILLIS), source)));
                assert!(!packed.is_flagged());
                assert_eq!(packed.flagged().get(), packed.get());
                assert!(packed.flagged().is_flagged());
            }
        }
        assert_eq!(Packed::NONE.get(), None);
        assert_eq!(Packed(6 << 60).get(), None, "no sixth source");
    }

    #[test]
    fn names_are_the_conventions() {
        let names: Vec<&str> = AdviceSource::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            names,
            [
                "retry_after",
                "grpc_retry_info",
                "grpc_pushback",
                "upstream_breaker",
                "function"
            ]
        );
        assert_eq!(AdviceSource::GrpcPushback.to_string(), "grpc_pushback");
    }
}
