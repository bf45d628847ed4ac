//! What the registry reports: [`BreakerInfo`] per breaker, and the [`Snapshot`] of all of
//! them, a table for logs (`Display`) and JSON for endpoints (`Serialize`, feature
//! `serde`).

use std::fmt;
use std::time::Duration;

use crate::shared::FleetInfo;
use crate::{Advice, CircuitBreaker, Config, Name, Policy, State, WindowSnapshot};

use super::all;

/// A point-in-time view of one breaker, from [`list`] or [`snapshot`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BreakerInfo {
    /// The breaker's name.
    pub name: Name,
    /// Its state.
    pub state: State,
    /// The rule it trips on.
    pub policy: Policy,
    /// Failures counted (see [`CircuitBreaker::fail_counter`]).
    pub fail_counter: u32,
    /// Successful probes in the current half-open period.
    pub success_counter: u32,
    /// Time until a probe is allowed (see [`CircuitBreaker::retry_after`]); zero when
    /// the next call would be let through as a probe (the table says `probe due`).
    pub retry_after: Option<Duration>,
    /// Time since its last state change.
    pub since_last_change: Duration,
    /// The upstream's advice that set its current (or last) open period, if advice did
    /// (see [`CircuitBreaker::open_advice`]).
    pub advice: Option<Advice>,
    /// For a breaker with a throttle: the probability, 0 to 1, with which it refuses a
    /// call now (see [`CircuitBreaker::throttle_probability`]).
    pub throttle_probability: Option<f64>,
    /// Its settings.
    pub config: Config,
    /// For a rate policy: the calls, failures and slow calls in its window, and the
    /// rates (none below `min_calls`).
    pub window: Option<WindowSnapshot>,
    /// Calls through it by outcome (feature `metrics`); `None` for a key of a keyed set
    /// that counts per set (see
    /// [`metrics_per_key`](crate::keyed::BreakersBuilder::metrics_per_key)), whose calls
    /// are its set's.
    #[cfg(feature = "metrics")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
    pub calls: Option<crate::metrics::Calls>,
    /// For a shared breaker: the fleet's state and the backend's health (its `state`
    /// above is this replica's).
    pub fleet: Option<FleetInfo>,
}

impl BreakerInfo {
    /// Reads `breaker` now.
    pub fn of(breaker: &CircuitBreaker) -> Self {
        BreakerInfo {
            name: breaker.name_handle().clone(),
            state: breaker.state(),
            policy: breaker.config().policy(),
            fail_counter: breaker.fail_counter(),
            success_counter: breaker.success_counter(),
            retry_after: breaker.retry_after(),
            since_last_change: breaker.since_last_change(),
            advice: breaker.open_advice(),
            throttle_probability: breaker.throttle_probability(),
            config: *breaker.config(),
            window: breaker.window(),
            #[cfg(feature = "metrics")]
            calls: breaker.own_calls(),
            fleet: breaker.sinks().fleet_info(),
        }
    }
}

/// Every live registered breaker with its state and counters, in name order.
pub fn list() -> Vec<BreakerInfo> {
    all().iter().map(BreakerInfo::of).collect()
}

/// Every registered breaker at one moment: for a health or admin endpoint (it is
/// `serde::Serialize` with the `serde` feature) or a log line (`Display` is a table).
///
/// ```
/// use breaker_runtime::{registry, CircuitBreaker};
///
/// let breaker = CircuitBreaker::builder("snapshot-doc").fail_max(3).build();
/// breaker.open();
/// let snapshot = registry::snapshot();
/// let table = snapshot.to_string();
/// assert!(table.lines().next().unwrap().starts_with("breaker"));
/// assert!(table.lines().any(|l| l.starts_with("snapshot-doc") && l.contains("open")));
/// ```
pub fn snapshot() -> Snapshot {
    Snapshot { breakers: list() }
}

/// All registered breakers at one moment, from [`snapshot`].
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Snapshot {
    /// One entry per breaker, in name order.
    pub breakers: Vec<BreakerInfo>,
}

impl fmt::Display for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .breakers
            .iter()
            .map(|b| b.name.len())
            .chain([7])
            .max()
            .unwrap_or(7);
        let policies: Vec<String> = self.breakers.iter().map(policy_column).collect();
        let policy_width = policies
            .iter()
            .map(String::len)
            .chain([11])
            .max()
            .unwrap_or(11);
        // The advice that timed an open period: `30.0s retry_after`.
        let advised: Vec<String> = self
            .breakers
            .iter()
            .map(|b| match b.advice {
                None => "-".to_string(),
                Some(a) => format!("{:.1}s {}", a.delay().as_secs_f64(), a.source()),
            })
            .collect();
        let advised_width = advised
            .iter()
            .map(String::len)
            .chain([7])
            .max()
            .unwrap_or(7);
        writeln!(
            f,
            "{:<width$}  {:<9}  {:>8}  {:>9}  {:>11}  {:<advised_width$}  {:>12}  {:<policy_width$}  fleet",
            "breaker",
            "state",
            "failures",
            "successes",
            "retry after",
            "advised",
            "since change",
            "policy"
        )?;
        for ((b, policy), advised) in self.breakers.iter().zip(&policies).zip(&advised) {
            let retry = match b.retry_after {
                None => "-".to_string(),
                // Open past its reset timeout, or half-open with a slot free: the next
                // call is let through as a probe.
                Some(d) if d.is_zero() => "probe due".to_string(),
                Some(d) => format!("{:.1}s", d.as_secs_f64()),
            };
            let fleet = match &b.fleet {
                None => "-".to_string(),
                Some(fleet) => format!(
                    "{} ({})",
                    fleet.fleet_state.map_or("unknown", State::as_str),
                    fleet.backend.as_str()
                ),
            };
            writeln!(
                f,
                "{:<width$}  {:<9}  {:>8}  {:>9}  {:>11}  {:<advised_width$}  {:>11.1}s  {:<policy_width$}  {fleet}",
                b.name,
                b.state.as_str(),
                b.fail_counter,
                b.success_counter,
                retry,
                advised,
                b.since_last_change.as_secs_f64(),
                policy,
            )?;
        }
        Ok(())
    }
}

/// `consecutive`, `within`, or a rate policy with what its window holds, failures and
/// calls named: `rate: 3 failures in 20 calls (15.0%)`, with slow calls when it counts
/// them, and `below min_calls` until the window holds enough calls for a rate. A
/// throttle says how much it refuses: `consecutive; throttling 12.5%`, `throttle: 0%`.
fn policy_column(b: &BreakerInfo) -> String {
    let rule = rule_column(b);
    match b.throttle_probability {
        None => rule,
        Some(p) if b.policy == Policy::Throttle => format!("throttle: {:.1}%", p * 100.0),
        Some(p) => format!("{rule}; throttling {:.1}%", p * 100.0),
    }
}

fn rule_column(b: &BreakerInfo) -> String {
    let (Some(w), Policy::Rate) = (&b.window, b.policy) else {
        return b.policy.to_string();
    };
    let slow = b.config.slow_call.is_some();
    let plural = |n: u32, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut column = format!("rate: {}", plural(w.failures, "failure", "failures"));
    if slow {
        column.push_str(&format!(", {} slow", w.slow));
    }
    column.push_str(&format!(" in {}", plural(w.calls, "call", "calls")));
    match (w.failure_rate, w.slow_rate) {
        (Some(failed), Some(slowed)) if slow => {
            column.push_str(&format!(" ({failed:.1}% failed, {slowed:.1}% slow)"));
        }
        (Some(failed), _) => column.push_str(&format!(" ({failed:.1}%)")),
        (None, _) => column.push_str(" (below min_calls)"),
    }
    column
}

#[cfg(feature = "serde")]
mod serialize {
    use serde::ser::{Serialize, SerializeStruct, Serializer};

    use super::BreakerInfo;
    use crate::{Config, State};

    impl Serialize for State {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(self.as_str())
        }
    }

    /// Durations as seconds (`f64`), named with a `_secs` suffix; percentages as
    /// numbers of percent; unset settings as `null`.
    impl Serialize for Config {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let secs = |d: Option<std::time::Duration>| d.map(|d| d.as_secs_f64());
            let mut c = s.serialize_struct("Config", 20)?;
            c.serialize_field("policy", self.policy().as_str())?;
            c.serialize_field("fail_max", &self.fail_max)?;
            c.serialize_field("reset_timeout_secs", &self.reset_timeout.as_secs_f64())?;
            c.serialize_field("success_threshold", &self.success_threshold)?;
            c.serialize_field(
                "half_open_timeout_secs",
                &self.half_open_timeout.as_secs_f64(),
            )?;
            c.serialize_field("probes", &self.probes)?;
            c.serialize_field("within_secs", &secs(self.within))?;
            c.serialize_field("failure_rate", &self.failure_rate.map(|p| p.as_f64()))?;
            c.serialize_field("slow_call_secs", &secs(self.slow_call))?;
            c.serialize_field("slow_rate", &self.slow_rate.map(|p| p.as_f64()))?;
            c.serialize_field("window", &self.window.map(|w| w.to_string()))?;
            c.serialize_field("buckets", &self.buckets)?;
            c.serialize_field("min_calls", &self.min_calls)?;
            c.serialize_field("backoff", &self.backoff.map(|b| b.factor()))?;
            c.serialize_field("max_reset_timeout_secs", &secs(self.max_reset_timeout))?;
            c.serialize_field("jitter", &self.jitter.as_f64())?;
            c.serialize_field("retry_after_cap_secs", &self.advice_cap().as_secs_f64())?;
            c.serialize_field("open_on_retry_after", &self.open_on_retry_after)?;
            c.serialize_field("throttle", &self.throttle.map(|p| p.as_f64()))?;
            c.serialize_field(
                "max_throttle",
                &self.throttle.map(|_| {
                    self.max_throttle
                        .unwrap_or(crate::config::MAX_THROTTLE)
                        .as_f64()
                }),
            )?;
            c.end()
        }
    }

    /// `{"state": "open" | ... | null, "backend": "healthy" | "degraded" | "not installed"}`.
    impl Serialize for crate::shared::FleetInfo {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut f = s.serialize_struct("FleetInfo", 2)?;
            f.serialize_field("state", &self.fleet_state)?;
            f.serialize_field("backend", self.backend.as_str())?;
            f.end()
        }
    }

    /// `{"seconds": 30.0, "source": "retry_after"}`.
    struct Advised(crate::Advice);

    impl Serialize for Advised {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut a = s.serialize_struct("Advice", 2)?;
            a.serialize_field("seconds", &self.0.delay().as_secs_f64())?;
            a.serialize_field("source", self.0.source().as_str())?;
            a.end()
        }
    }

    impl Serialize for BreakerInfo {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut b = s.serialize_struct("BreakerInfo", 13)?;
            b.serialize_field("name", self.name.as_str())?;
            b.serialize_field("state", &self.state)?;
            b.serialize_field("policy", self.policy.as_str())?;
            b.serialize_field("fail_counter", &self.fail_counter)?;
            b.serialize_field("success_counter", &self.success_counter)?;
            b.serialize_field(
                "retry_after_secs",
                &self.retry_after.map(|d| d.as_secs_f64()),
            )?;
            b.serialize_field(
                "since_last_change_secs",
                &self.since_last_change.as_secs_f64(),
            )?;
            b.serialize_field("advice", &self.advice.map(Advised))?;
            b.serialize_field("throttle_probability", &self.throttle_probability)?;
            b.serialize_field("config", &self.config)?;
            b.serialize_field("window", &self.window)?;
            #[cfg(feature = "metrics")]
            b.serialize_field("calls", &self.calls)?;
            b.serialize_field("fleet", &self.fleet)?;
            b.end()
        }
    }
}
