//! Property test: random sequences of outcomes, call durations and clock advances, run
//! against the real breaker and against a plain reference model of each policy (a
//! `VecDeque` of outcomes); the window, the failure count and the state must agree after
//! every step.

use std::collections::VecDeque;
use std::time::Duration;

use breaker_runtime::{CircuitBreaker, ManualClock, Percent, State, Window};
use proptest::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    Success,
    Failure,
    Ignore,
}

#[derive(Debug, Clone)]
enum Op {
    /// A call that takes `took` ms, then ends with `outcome`.
    Call(Outcome, u64),
    Advance(u64),
    Close,
}

fn op() -> impl Strategy<Value = Op> {
    let outcome = prop_oneof![
        4 => Just(Outcome::Success),
        3 => Just(Outcome::Failure),
        1 => Just(Outcome::Ignore),
    ];
    prop_oneof![
        8 => (outcome, prop_oneof![3 => Just(0u64), 1 => 0u64..400]).prop_map(|(o, t)| Op::Call(o, t)),
        3 => (0u64..700).prop_map(Op::Advance),
        1 => Just(Op::Close),
    ]
}

/// Nanoseconds in a millisecond: the model keeps time as the breaker does.
const MS: u64 = 1_000_000;

/// One recorded outcome: when it completed, whether it failed, whether it was slow.
#[derive(Debug, Clone, Copy)]
struct Entry {
    at: u64,
    failed: bool,
    slow: bool,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    /// The last `n` calls.
    Count(usize),
    /// `length` ms in `buckets` buckets.
    Time { length: u64, buckets: u64 },
}

/// The rules of issue 12, written plainly: every outcome in a list, the window a filter.
#[derive(Debug)]
struct Model {
    kind: Kind,
    /// Basis points; `None` when not a trip rule.
    failure_rate: Option<u64>,
    slow_rate: Option<u64>,
    slow_ms: Option<u64>,
    min_calls: usize,
    /// `within` mode: `fail_max` failures in the window open.
    fail_max: Option<usize>,
    entries: VecDeque<Entry>,
    now: u64,
    open: bool,
}

impl Model {
    fn in_window(&self) -> Vec<Entry> {
        match self.kind {
            Kind::Count(n) => self.entries.iter().rev().take(n).copied().collect(),
            Kind::Time { length, buckets } => {
                // The breaker's own unit: a width that does not divide evenly in
                // milliseconds still does in nanoseconds, as the runtime computes it.
                let width = length * MS / buckets;
                let current = self.now / width;
                self.entries
                    .iter()
                    .filter(|e| e.at / width + buckets > current)
                    .copied()
                    .collect()
            }
        }
    }

    fn counts(&self) -> (u32, u32, u32) {
        let w = self.in_window();
        let n = |f: fn(&Entry) -> bool| w.iter().filter(|e| f(e)).count() as u32;
        (w.len() as u32, n(|e| e.failed), n(|e| e.slow))
    }

    fn record(&mut self, outcome: Outcome, took: u64) {
        if outcome == Outcome::Ignore || self.open {
            return;
        }
        let failed = outcome == Outcome::Failure;
        let slow = self.slow_ms.is_some_and(|limit| took > limit);
        if self.fail_max.is_some() && !failed {
            return; // `within` counts failures only
        }
        self.entries.push_back(Entry {
            at: self.now,
            failed,
            slow,
        });
        if !(failed || slow) {
            return; // a plain success never trips
        }
        let (calls, failures, slows) = self.counts();
        self.open = match self.fail_max {
            Some(fail_max) => failures as usize >= fail_max,
            None => {
                let reached = |n: u32, rate: Option<u64>| {
                    rate.is_some_and(|r| u64::from(n) * 10_000 >= r * u64::from(calls))
                };
                calls as usize >= self.min_calls
                    && (reached(failures, self.failure_rate) || reached(slows, self.slow_rate))
            }
        };
    }
}

fn run(mut model: Model, breaker: CircuitBreaker, clock: ManualClock, ops: Vec<Op>) {
    for (step, op) in ops.into_iter().enumerate() {
        match op.clone() {
            Op::Call(outcome, took) => match breaker.try_acquire() {
                Ok(permit) => {
                    assert!(!model.open, "step {step}: admitted while the model is open");
                    clock.advance(Duration::from_millis(took));
                    model.now += took * MS;
                    match outcome {
                        Outcome::Success => permit.success(),
                        Outcome::Failure => permit.failure(),
                        Outcome::Ignore => permit.ignore(),
                    }
                    model.record(outcome, took);
                }
                Err(e) => assert!(model.open, "step {step}: rejected ({e}) while closed"),
            },
            Op::Advance(ms) => {
                clock.advance(Duration::from_millis(ms));
                model.now += ms * MS;
            }
            Op::Close => {
                breaker.close();
                model.entries.clear();
                model.open = false;
            }
        }
        let ctx = format!("after step {step} ({op:?}), model {model:?}");
        let state = if model.open {
            State::Open
        } else {
            State::Closed
        };
        assert_eq!(breaker.state(), state, "{ctx}");
        if model.open {
            // Frozen while open: close both, and go on from a clean window.
            breaker.close();
            model.entries.clear();
            model.open = false;
        } else if model.fail_max.is_some() {
            assert_eq!(breaker.fail_counter(), model.counts().1, "{ctx}");
        } else {
            let w = breaker.window().unwrap();
            assert_eq!((w.calls, w.failures, w.slow), model.counts(), "{ctx}");
        }
    }
}

/// A rate policy's settings, drawn.
#[derive(Debug, Clone)]
struct Rate {
    kind: Kind,
    failure_rate: Option<u32>,
    slow: Option<(u64, u32)>,
    min_calls: usize,
}

fn rate() -> impl Strategy<Value = Rate> {
    let kind = prop_oneof![
        (1usize..8).prop_map(Kind::Count),
        (1u64..4, 2u64..6).prop_map(|(s, b)| Kind::Time {
            length: s * 1000,
            buckets: b
        }),
    ];
    let failure_rate = prop_oneof![Just(None), (1u32..=10_000).prop_map(Some)];
    let slow = prop_oneof![Just(None), (0u64..300, 1u32..=10_000).prop_map(Some)];
    (kind, failure_rate, slow, 1usize..8)
        .prop_filter("a rate policy trips on something", |(_, f, s, _)| {
            f.is_some() || s.is_some()
        })
        .prop_map(|(kind, failure_rate, slow, min_calls)| {
            let min_calls = match kind {
                Kind::Count(n) => min_calls.min(n),
                Kind::Time { .. } => min_calls,
            };
            Rate {
                kind,
                failure_rate,
                slow,
                min_calls,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn rate_policies_follow_the_reference_model(
        r in rate(),
        ops in proptest::collection::vec(op(), 1..150),
    ) {
        let clock = ManualClock::new();
        let mut builder = CircuitBreaker::builder("rate-model")
            .min_calls(r.min_calls as u32)
            .clock(clock.clone())
            .unregistered();
        builder = match r.kind {
            Kind::Count(n) => builder.window(Window::Calls(n as u32)),
            Kind::Time { length, buckets } => builder
                .window(Window::Time(Duration::from_millis(length)))
                .buckets(buckets as u32),
        };
        if let Some(bp) = r.failure_rate {
            builder = builder.failure_rate(Percent::from_basis_points(bp));
        }
        if let Some((ms, bp)) = r.slow {
            builder = builder
                .slow_call(Duration::from_millis(ms.max(1)))
                .slow_rate(Percent::from_basis_points(bp));
        }
        let model = Model {
            kind: r.kind,
            failure_rate: r.failure_rate.map(u64::from),
            slow_rate: r.slow.map(|(_, bp)| u64::from(bp)),
            slow_ms: r.slow.map(|(ms, _)| ms.max(1)),
            min_calls: r.min_calls,
            fail_max: None,
            entries: VecDeque::new(),
            now: 0,
            open: false,
        };
        run(model, builder.build(), clock, ops);
    }

    #[test]
    fn within_follows_the_reference_model(
        fail_max in 1usize..6,
        seconds in 1u64..4,
        buckets in 2u64..6,
        ops in proptest::collection::vec(op(), 1..150),
    ) {
        let clock = ManualClock::new();
        let breaker = CircuitBreaker::builder("within-model")
            .fail_max(fail_max as u32)
            .within(Duration::from_secs(seconds))
            .buckets(buckets as u32)
            .clock(clock.clone())
            .unregistered()
            .build();
        let model = Model {
            kind: Kind::Time { length: seconds * 1000, buckets },
            failure_rate: None,
            slow_rate: None,
            slow_ms: None,
            min_calls: 0,
            fail_max: Some(fail_max),
            entries: VecDeque::new(),
            now: 0,
            open: false,
        };
        run(model, breaker, clock, ops);
    }
}
