//! Property test: random sequences of calls, verdicts, clock moves and manual
//! transitions, run against the real breaker and against a small reference model of the
//! rules (consecutive failures, one or several probes, the half-open timeout, backoff);
//! every observable must agree after every step.

use std::time::Duration;

use crate::tests::support::Recorder;
use breaker_runtime::{CircuitBreaker, ErrorKind, ManualClock, Permit, State};
use proptest::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Verdict {
    Success,
    Failure,
    Ignore,
    Drop,
}

#[derive(Debug, Clone)]
enum Op {
    /// Take a permit and keep it outstanding.
    Acquire,
    /// Give outstanding permit `i % len` its verdict.
    Finish(usize, Verdict),
    /// Take a permit and give it a verdict at once.
    Call(Verdict),
    Advance(u64),
    Open,
    HalfOpen,
    Close,
    ForceOpen,
    Disable,
}

fn verdict() -> impl Strategy<Value = Verdict> {
    prop_oneof![
        Just(Verdict::Success),
        Just(Verdict::Failure),
        Just(Verdict::Ignore),
        Just(Verdict::Drop)
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Acquire),
        3 => (any::<usize>(), verdict()).prop_map(|(i, v)| Op::Finish(i, v)),
        6 => verdict().prop_map(Op::Call),
        3 => (0u64..30).prop_map(Op::Advance),
        1 => Just(Op::Open),
        1 => Just(Op::HalfOpen),
        1 => Just(Op::Close),
        1 => Just(Op::ForceOpen),
        1 => Just(Op::Disable),
    ]
}

/// The settings a run draws.
#[derive(Debug, Clone, Copy)]
struct Settings {
    fail_max: u32,
    /// `success_threshold` (one probe at a time) when `probes` is 1.
    success_threshold: u32,
    probes: u32,
    reset: u64,
    half_open_timeout: u64,
    /// In thousandths; 1,000 is no backoff. The cap is 3 × `reset`.
    backoff: u32,
}

/// The rules, written plainly: one field per concept, no packing, no atomics. Times in
/// nanoseconds.
#[derive(Debug)]
struct Model {
    s: Settings,
    now: u64,
    state: State,
    fails: u32,
    successes: u32,
    /// Changes whenever the state changes; permits carry it.
    generation: u64,
    in_flight: u32,
    attempt: u32,
    open_until: u64,
    probe_until: u64,
    /// Sticky modes: until the next manual open, half-open or close.
    forced_open: bool,
    disabled: bool,
    transitions: Vec<String>,
}

impl Model {
    fn new(s: Settings) -> Self {
        Model {
            s,
            now: 0,
            state: State::Closed,
            fails: 0,
            successes: 0,
            generation: 0,
            in_flight: 0,
            attempt: 0,
            open_until: 0,
            probe_until: 0,
            forced_open: false,
            disabled: false,
            transitions: Vec::new(),
        }
    }

    fn go(&mut self, to: State) {
        if self.state != to {
            self.transitions.push(format!("{}->{}", self.state, to));
        }
        self.state = to;
        self.generation += 1;
        self.in_flight = 0;
    }

    /// Attempt `a`'s open duration: `reset × backoff^(a−1)`, capped at 3 × `reset`.
    fn duration(&self, attempt: u32) -> u64 {
        let reset = self.s.reset;
        let cap = 3 * reset;
        if self.s.backoff == 1_000 || attempt <= 1 {
            return reset;
        }
        let grown = reset as f64 * (f64::from(self.s.backoff) / 1000.0).powi(attempt as i32 - 1);
        if grown >= cap as f64 {
            cap
        } else {
            grown as u64
        }
    }

    fn next_attempt(&self) -> u32 {
        match self.state {
            State::Closed => 1,
            State::HalfOpen => self.attempt + 1,
            State::Open => self.attempt.max(1),
        }
    }

    /// Opens (from closed or half-open) as of `at`.
    fn open_at(&mut self, at: u64) {
        self.attempt = self.next_attempt();
        self.open_until = self.open_until.max(at + self.duration(self.attempt));
        if self.state == State::HalfOpen {
            self.successes = 0;
        }
        self.go(State::Open);
    }

    fn needed(&self) -> u32 {
        if self.s.probes > 1 {
            self.s.probes
        } else {
            self.s.success_threshold
        }
    }

    fn may_grant(&self) -> bool {
        self.in_flight < self.s.probes && self.in_flight + self.successes < self.needed()
    }

    fn acquire(&mut self) -> Result<u64, ErrorKind> {
        match self.state {
            State::Closed => Ok(self.generation),
            State::Open if self.forced_open => Err(ErrorKind::ForcedOpen),
            State::Open if self.now < self.open_until => Err(ErrorKind::Open),
            State::Open => {
                self.go(State::HalfOpen);
                self.successes = 0;
                self.in_flight = 1;
                self.probe_until = self.now + self.s.half_open_timeout;
                Ok(self.generation)
            }
            State::HalfOpen if self.in_flight > 0 && self.now >= self.probe_until => {
                // A probe timed out: it failed at its deadline.
                self.fails += 1;
                self.open_at(self.probe_until);
                self.acquire()
            }
            State::HalfOpen if self.may_grant() => {
                self.in_flight += 1;
                self.probe_until = self.probe_until.max(self.now + self.s.half_open_timeout);
                Ok(self.generation)
            }
            State::HalfOpen => Err(ErrorKind::ProbeInFlight),
        }
    }

    fn finish(&mut self, generation: u64, verdict: Verdict) {
        if generation != self.generation || self.disabled {
            return;
        }
        match (self.state, verdict) {
            (State::Closed, Verdict::Success) => self.fails = 0,
            (State::Closed, Verdict::Failure) => {
                self.fails += 1;
                if self.fails >= self.s.fail_max {
                    self.open_at(self.now);
                }
            }
            (State::HalfOpen, _) if self.in_flight > 0 && self.now >= self.probe_until => {
                self.fails += 1;
                self.open_at(self.probe_until);
            }
            (State::HalfOpen, Verdict::Success) if self.in_flight > 0 => {
                self.successes += 1;
                self.in_flight -= 1;
                self.fails = 0;
                if self.successes >= self.needed() {
                    self.successes = 0;
                    self.attempt = 0;
                    self.go(State::Closed);
                }
            }
            (State::HalfOpen, Verdict::Failure) if self.in_flight > 0 => {
                self.fails += 1;
                self.open_at(self.now);
            }
            (State::HalfOpen, Verdict::Ignore | Verdict::Drop) if self.in_flight > 0 => {
                self.in_flight -= 1;
            }
            _ => {}
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        let until = match self.state {
            State::Closed => return None,
            State::Open if self.forced_open => return None,
            State::Open => self.open_until,
            State::HalfOpen if self.may_grant() => self.now,
            State::HalfOpen => self.probe_until,
        };
        Some(Duration::from_nanos(until.saturating_sub(self.now)))
    }
}

fn give(permit: Permit<'_>, verdict: Verdict) {
    match verdict {
        Verdict::Success => permit.success(),
        Verdict::Failure => permit.failure(),
        Verdict::Ignore => permit.ignore(),
        Verdict::Drop => drop(permit),
    }
}

const MS: u64 = 1_000_000;

fn run(s: Settings, ops: Vec<Op>) {
    let clock = ManualClock::new();
    let rec = Recorder::new();
    let mut builder = CircuitBreaker::builder("model")
        .fail_max(s.fail_max)
        .reset_timeout(Duration::from_nanos(s.reset))
        .half_open_timeout(Duration::from_nanos(s.half_open_timeout))
        .clock(clock.clone())
        .listener_arc(rec.clone())
        .unregistered();
    builder = if s.probes > 1 {
        builder.probes(s.probes)
    } else {
        builder.success_threshold(s.success_threshold)
    };
    if s.backoff != 1_000 {
        builder = builder
            .backoff(f64::from(s.backoff) / 1000.0)
            .max_reset_timeout(Duration::from_nanos(3 * s.reset));
    }
    let breaker = builder.build();
    let mut model = Model::new(s);
    let mut outstanding: Vec<(Permit<'_>, u64)> = Vec::new();

    for (step, op) in ops.into_iter().enumerate() {
        match op.clone() {
            Op::Acquire | Op::Call(_) => {
                let real = breaker.try_acquire();
                let expected = model.acquire();
                match (real, expected) {
                    (Ok(permit), Ok(generation)) => {
                        assert_eq!(
                            permit.is_probe(),
                            model.state == State::HalfOpen,
                            "step {step}"
                        );
                        assert_eq!(breaker.probes_in_flight(), model.in_flight, "step {step}");
                        match op {
                            Op::Call(v) => {
                                give(permit, v);
                                model.finish(generation, v);
                            }
                            _ => outstanding.push((permit, generation)),
                        }
                    }
                    (Err(e), Err(kind)) => assert_eq!(e.kind(), kind, "step {step}: {op:?}"),
                    (real, expected) => panic!(
                        "step {step} {op:?}: breaker gave {:?}, model {expected:?}",
                        real.map(|p| p.is_probe())
                    ),
                }
            }
            Op::Finish(i, v) => {
                if !outstanding.is_empty() {
                    let (permit, generation) = outstanding.swap_remove(i % outstanding.len());
                    give(permit, v);
                    model.finish(generation, v);
                }
            }
            Op::Advance(ms) => {
                clock.advance(Duration::from_millis(ms));
                model.now += ms * MS;
            }
            Op::Open => {
                breaker.open();
                model.attempt = model.next_attempt();
                model.open_until = model
                    .open_until
                    .max(model.now + model.duration(model.attempt));
                if model.state != State::Open {
                    model.go(State::Open);
                }
                (model.forced_open, model.disabled) = (false, false);
            }
            Op::HalfOpen => {
                breaker.half_open();
                if model.state != State::HalfOpen {
                    model.go(State::HalfOpen);
                }
                model.successes = 0;
                (model.forced_open, model.disabled) = (false, false);
            }
            Op::Close => {
                breaker.close();
                if model.state != State::Closed {
                    model.go(State::Closed);
                }
                model.fails = 0;
                model.successes = 0;
                model.attempt = 0;
                (model.forced_open, model.disabled) = (false, false);
            }
            Op::ForceOpen => {
                breaker.force_open();
                if !model.forced_open {
                    model.go(State::Open);
                    (model.forced_open, model.disabled) = (true, false);
                }
            }
            Op::Disable => {
                breaker.disable();
                if !model.disabled {
                    model.go(State::Closed);
                    (model.forced_open, model.disabled) = (false, true);
                }
            }
        }
        let ctx = format!("after step {step} ({op:?}): {model:?}");
        assert_eq!(breaker.state(), model.state, "{ctx}");
        assert_eq!(breaker.fail_counter(), model.fails, "{ctx}");
        assert_eq!(breaker.success_counter(), model.successes, "{ctx}");
        assert_eq!(breaker.retry_after(), model.retry_after(), "{ctx}");
        assert_eq!(rec.transitions(), model.transitions, "{ctx}");
        assert_eq!(breaker.is_forced_open(), model.forced_open, "{ctx}");
        assert_eq!(breaker.is_disabled(), model.disabled, "{ctx}");
        assert_eq!(breaker.attempt(), model.attempt, "{ctx}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_breaker_follows_the_reference_model(
        fail_max in 1u32..5,
        success_threshold in 1u32..4,
        probes in prop_oneof![Just(1u32), 2u32..4],
        reset in 1u64..40,
        half_open_timeout in 1u64..40,
        backoff in prop_oneof![Just(1_000u32), Just(1_500), Just(2_000)],
        ops in proptest::collection::vec(op(), 1..120),
    ) {
        let s = Settings {
            fail_max,
            success_threshold: if probes > 1 { 1 } else { success_threshold },
            probes,
            reset: reset * MS,
            half_open_timeout: half_open_timeout * MS,
            backoff,
        };
        run(s, ops);
    }
}
