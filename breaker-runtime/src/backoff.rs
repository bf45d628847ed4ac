//! How long a breaker stays open: `reset_timeout`, backed off and jittered.
//!
//! Attempt `a` is 1 at the first opening from closed and one more at each reopening
//! from half-open. The duration is `min(reset_timeout × backoff^(a−1), cap)`, then
//! shortened by `jitter × u`, `u` uniform in [0, 1): it never exceeds the cap and keeps
//! its spread at the cap (Resilience4j randomizes before capping, so its jitter
//! vanishes there).
//!
//! `u` is a hash of a per-breaker seed and the generation of the open state it is for,
//! not a draw from a shared generator: every thread that computes the deadline of one
//! opening (the winner of the compare-and-swap and any loser that raced it) computes
//! the same one, and breakers opened together in a fleet still spread apart.

use crate::config::Rules;

/// The open duration of attempt `attempt`, in nanoseconds, with `u` in [0, 1).
pub(crate) fn open_duration(rules: &Rules, attempt: u32, u: f64) -> u64 {
    let base = rules.reset_timeout;
    let capped = if rules.backoff == 1_000 || attempt <= 1 {
        base.min(rules.max_reset_timeout.max(base))
    } else {
        let exponent = attempt.saturating_sub(1).min(i32::MAX as u32) as i32;
        let factor = (f64::from(rules.backoff) / 1000.0).powi(exponent);
        let grown = base as f64 * factor;
        let cap = rules.max_reset_timeout;
        if grown >= cap as f64 {
            cap
        } else {
            grown as u64
        }
    };
    if rules.jitter == 0 {
        return capped;
    }
    let share = f64::from(rules.jitter) / 10_000.0 * u;
    (capped as f64 * (1.0 - share)) as u64
}

/// A number in [0, 1) from `seed` and `generation`: SplitMix64's finalizer.
pub(crate) fn unit(seed: u64, generation: u32) -> f64 {
    let mut z = seed.wrapping_add(u64::from(generation).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// A seed that differs between breakers and between processes.
pub(crate) fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_usize(&h as *const _ as usize);
    h.finish()
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{Backoff, Config, Percent};

    const S: u64 = 1_000_000_000;

    fn rules(backoff: f64, max: Option<u64>, jitter: f64) -> Rules {
        Rules::from(&Config {
            reset_timeout: Duration::from_secs(10),
            backoff: Some(Backoff::new(backoff)),
            max_reset_timeout: max.map(Duration::from_secs),
            jitter: Percent::new(jitter),
            ..Config::DEFAULT
        })
    }

    #[test]
    fn backs_off_to_the_cap() {
        let r = rules(2.0, Some(60), 0.0);
        let d: Vec<u64> = (1..=5).map(|a| open_duration(&r, a, 0.5) / S).collect();
        assert_eq!(d, [10, 20, 40, 60, 60]);
        let r = rules(3.0, None, 0.0);
        assert_eq!(open_duration(&r, 9, 0.0), 100 * S, "10 × reset by default");
        assert_eq!(open_duration(&r, u32::MAX, 0.0), 100 * S, "no overflow");
    }

    #[test]
    fn jitter_shortens_and_keeps_its_spread_at_the_cap() {
        let r = rules(2.0, Some(60), 20.0);
        assert_eq!(open_duration(&r, 9, 0.0), 60 * S);
        assert_eq!(open_duration(&r, 9, 0.5), 54 * S);
        assert!(open_duration(&r, 9, 0.999_999) > 48 * S);
    }

    #[test]
    fn unit_is_in_range_and_spread() {
        let us: Vec<f64> = (0..1000).map(|g| unit(42, g)).collect();
        assert!(us.iter().all(|u| (0.0..1.0).contains(u)));
        let low = us.iter().filter(|u| **u < 0.5).count();
        assert!((400..600).contains(&low), "{low}");
        assert_eq!(unit(42, 7), unit(42, 7), "same opening, same deadline");
    }

    #[test]
    fn unit_is_splitmix64() {
        // SplitMix64's first output from seed 0 is 0xE220A8397B1DCDAF (Vigna's
        // reference): generation 1 of seed 0 is that state, its top 53 bits the unit.
        let top = 0xE220_A839_7B1D_CDAF_u64 >> 11;
        assert_eq!(unit(0, 1), top as f64 / (1u64 << 53) as f64);
        assert_ne!(unit(42, 7), unit(42, 8), "another opening, another draw");
        assert_ne!(unit(42, 7), unit(43, 7), "another breaker, another draw");
    }

    #[test]
    fn seeds_differ_between_breakers() {
        let seeds: std::collections::HashSet<u64> = (0..16).map(|_| seed()).collect();
        assert!(seeds.len() > 1, "{seeds:?}");
    }

    #[test]
    fn a_long_timeout_is_kept_to_the_nanosecond() {
        // Above 2^53 ns (104 days) a float round trip would round: the first opening
        // and a breaker without backoff or jitter take the reset timeout as it is.
        let long = Duration::from_nanos((1 << 53) + 1);
        let at = |backoff: Option<f64>| {
            Rules::from(&Config {
                reset_timeout: long,
                backoff: backoff.map(Backoff::new),
                ..Config::DEFAULT
            })
        };
        assert_eq!(open_duration(&at(Some(2.0)), 1, 0.5), (1 << 53) + 1);
        assert_eq!(open_duration(&at(None), 3, 0.5), (1 << 53) + 1);
    }
}
