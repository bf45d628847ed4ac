//! The values a policy is configured with: percentages, windows and backoff factors.
//!
//! They are exact: a percentage is a whole number of basis points and a backoff factor
//! a whole number of thousandths, so that a rate is compared in integers (no
//! floating-point edge at exactly 50 %) and a [`Config`](crate::Config) stays `Eq`.

use std::fmt;
use std::time::Duration;

/// A percentage with up to two decimals, kept in basis points (1 % = 100).
///
/// ```
/// use breaker_runtime::Percent;
///
/// assert_eq!(Percent::new(50.0), Percent::from_basis_points(5_000));
/// assert_eq!(Percent::new(12.345).basis_points(), 1_235, "rounded to two decimals");
/// assert_eq!(Percent::new(33.5).to_string(), "33.5%");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Percent(u32);

impl Percent {
    /// 0 %.
    pub const ZERO: Percent = Percent(0);
    /// 100 %.
    pub const HUNDRED: Percent = Percent(10_000);

    /// `percent` %, rounded to two decimals. A value that is not a finite number becomes
    /// one that every setting refuses (above 100 %).
    pub fn new(percent: f64) -> Percent {
        if percent.is_finite() && (0.0..=1_000.0).contains(&percent) {
            Percent((percent * 100.0).round() as u32)
        } else {
            Percent(u32::MAX)
        }
    }

    /// `bp` basis points: 1 % is 100, 100 % is 10,000.
    pub const fn from_basis_points(bp: u32) -> Percent {
        Percent(bp)
    }

    /// The percentage in basis points.
    pub const fn basis_points(self) -> u32 {
        self.0
    }

    /// The percentage as a number of percent (50.0 for 50 %).
    pub fn as_f64(self) -> f64 {
        f64::from(self.0) / 100.0
    }

    /// More than 0 % and at most 100 %: what a rate threshold must be.
    pub(crate) const fn is_rate(self) -> bool {
        self.0 > 0 && self.0 <= 10_000
    }
}

/// What a builder's percentage setting takes ([`failure_rate`](crate::Builder::failure_rate),
/// [`slow_rate`](crate::Builder::slow_rate), [`jitter`](crate::Builder::jitter),
/// [`throttle`](crate::Builder::throttle), [`max_throttle`](crate::Builder::max_throttle)): a
/// [`Percent`], or a whole number of percent (`50` is 50 %).
///
/// A bare float does not compile: `0.5` reads as 50 % to some and as half a percent to
/// others, and either reading would be silently wrong for someone. Write `50`, or
/// [`Percent::new(50.0)`](Percent::new) (a number of percent, two decimals kept).
///
/// ```compile_fail
/// breaker_runtime::CircuitBreaker::builder("p").failure_rate(0.5);
/// ```
#[diagnostic::on_unimplemented(
    message = "a percentage is a whole number of percent or a `Percent`, not `{Self}`",
    label = "write `50` or `Percent::new(50.0)` for 50 %, `Percent::new(0.5)` for half a percent",
    note = "a bare float is refused: `0.5` reads as 50 % to some and as 0.5 % to others"
)]
pub trait IntoPercent {
    /// The percentage.
    fn into_percent(self) -> Percent;
}

impl IntoPercent for Percent {
    fn into_percent(self) -> Percent {
        self
    }
}

/// `50` is 50 %.
impl IntoPercent for u32 {
    fn into_percent(self) -> Percent {
        Percent(self.saturating_mul(100))
    }
}

/// `50` is 50 % (an integer literal's type when nothing else decides it); a negative
/// number is refused as every setting's range.
impl IntoPercent for i32 {
    fn into_percent(self) -> Percent {
        u32::try_from(self).map_or(Percent(u32::MAX), u32::into_percent)
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == u32::MAX {
            return f.write_str("not a percentage");
        }
        let (whole, hundredths) = (self.0 / 100, self.0 % 100);
        match hundredths {
            0 => write!(f, "{whole}%"),
            h if h % 10 == 0 => write!(f, "{whole}.{}%", h / 10),
            h => write!(f, "{whole}.{h:02}%"),
        }
    }
}

/// The rule a breaker trips on, from [`Config::policy`](crate::Config::policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
pub enum Policy {
    /// `fail_max` consecutive failures (pybreaker's rule, the default).
    Consecutive,
    /// `fail_max` failures within the `within` time.
    Within,
    /// A failure rate or slow-call rate over a window.
    Rate,
    /// No trip rule: the breaker only throttles (`throttle` without `fail_max`, a rate
    /// or `within`); it opens only by hand or by its fleet.
    Throttle,
}

impl Policy {
    /// `consecutive`, `within`, `rate` or `throttle`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Policy::Consecutive => "consecutive",
            Policy::Within => "within",
            Policy::Rate => "rate",
            Policy::Throttle => "throttle",
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The calls a failure rate is computed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Window {
    /// The last N completed calls (attribute: `window = "100 calls"`).
    Calls(u32),
    /// The calls completed within this long (attribute: `window = "60s"`), in
    /// [`Config::buckets`](crate::Config::buckets) buckets aligned on the breaker's clock.
    Time(Duration),
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Window::Calls(n) => write!(f, "{n} calls"),
            Window::Time(d) => write!(f, "{d:?}"),
        }
    }
}

/// A backoff factor with three decimals: each reopening from half-open multiplies the
/// open duration by it.
///
/// ```
/// use breaker_runtime::Backoff;
///
/// assert_eq!(Backoff::new(2.0).thousandths(), 2_000);
/// assert_eq!(Backoff::new(1.5).to_string(), "1.5");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Backoff(u32);

impl Backoff {
    /// The factor `factor`, rounded to three decimals. A value that is not a finite
    /// number becomes one that every setting refuses.
    pub fn new(factor: f64) -> Backoff {
        if factor.is_finite() && (0.0..=1_000_000.0).contains(&factor) {
            Backoff((factor * 1000.0).round() as u32)
        } else {
            Backoff(u32::MAX)
        }
    }

    /// The factor `n / 1000`.
    pub const fn from_thousandths(n: u32) -> Backoff {
        Backoff(n)
    }

    /// The factor in thousandths (2,000 for 2.0).
    pub const fn thousandths(self) -> u32 {
        self.0
    }

    /// The factor.
    pub fn factor(self) -> f64 {
        f64::from(self.0) / 1000.0
    }
}

impl fmt::Display for Backoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == u32::MAX {
            return f.write_str("not a number");
        }
        write!(f, "{}", self.factor())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_are_exact_basis_points() {
        assert_eq!(Percent::new(0.01).basis_points(), 1);
        assert_eq!(Percent::new(100.0), Percent::HUNDRED);
        assert!(Percent::new(100.0).is_rate() && !Percent::ZERO.is_rate());
        assert!(!Percent::new(100.01).is_rate());
        assert!(!Percent::new(f64::NAN).is_rate());
        assert!(!Percent::new(-1.0).is_rate());
        assert_eq!(Percent::new(7.05).to_string(), "7.05%");
        assert_eq!(Percent::new(80.0).to_string(), "80%");
    }

    #[test]
    fn backoff_factors_are_thousandths() {
        assert_eq!(Backoff::new(1.0005).thousandths(), 1_001);
        assert_eq!(Backoff::new(f64::INFINITY).thousandths(), u32::MAX);
        assert_eq!(Backoff::from_thousandths(2_500).factor(), 2.5);
        assert_eq!(Backoff::new(1.5).to_string(), "1.5");
        assert_eq!(Backoff::new(f64::NAN).to_string(), "not a number");
    }

    #[test]
    fn settings_show_as_they_are_written() {
        assert_eq!(Percent::new(12.5).to_string(), "12.5%");
        assert_eq!(Percent::new(0.1).to_string(), "0.1%");
        assert_eq!(Percent::new(f64::NAN).to_string(), "not a percentage");
        assert_eq!(Percent::new(12.5).as_f64(), 12.5);
        let names: Vec<String> = [
            Policy::Consecutive,
            Policy::Within,
            Policy::Rate,
            Policy::Throttle,
        ]
        .iter()
        .map(|p| format!("{p:>12}|{}", p.as_str()))
        .collect();
        assert_eq!(
            names,
            [
                " consecutive|consecutive",
                "      within|within",
                "        rate|rate",
                "    throttle|throttle"
            ]
        );
        assert_eq!(Window::Calls(100).to_string(), "100 calls");
        assert_eq!(Window::Time(Duration::from_secs(60)).to_string(), "60s");
    }
}
