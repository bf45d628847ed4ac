//! Property test: random sequences of calls, verdicts, clock moves and manual
//! transitions, run against the real breaker and against a small reference model of the
//! rules; every observable must agree after every step.

use std::time::Duration;

use breaker_runtime::{CircuitBreaker, ErrorKind, ManualClock, Permit, State};
use breaker_tests::Recorder;
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

/// The rules, written plainly: one field per concept, no packing, no atomics.
#[derive(Debug)]
struct Model {
    fail_max: u32,
    success_threshold: u32,
    reset_timeout: u64,
    lease: u64,
    now: u64,
    state: State,
    fails: u32,
    successes: u32,
    /// Changes whenever the state changes or a probe is granted; permits carry it.
    generation: u64,
    probe_out: bool,
    open_until: u64,
    probe_until: u64,
    /// Sticky modes: until the next manual open, half-open or close.
    forced_open: bool,
    disabled: bool,
    transitions: Vec<String>,
}

impl Model {
    fn go(&mut self, to: State) {
        if self.state != to {
            self.transitions.push(format!("{}->{}", self.state, to));
        }
        self.state = to;
        self.generation += 1;
        self.probe_out = false;
    }

    fn open(&mut self) {
        self.open_until = self.now + self.reset_timeout;
        self.go(State::Open);
    }

    fn grant_probe(&mut self) -> Result<u64, ErrorKind> {
        self.generation += 1;
        self.probe_out = true;
        self.probe_until = self.now + self.lease;
        Ok(self.generation)
    }

    fn acquire(&mut self) -> Result<u64, ErrorKind> {
        match self.state {
            State::Closed => Ok(self.generation),
            State::Open if self.forced_open => Err(ErrorKind::ForcedOpen),
            State::Open if self.now < self.open_until => Err(ErrorKind::Open),
            State::Open => {
                self.go(State::HalfOpen);
                self.successes = 0;
                self.grant_probe()
            }
            State::HalfOpen if self.probe_out && self.now < self.probe_until => {
                Err(ErrorKind::ProbeInFlight)
            }
            State::HalfOpen => self.grant_probe(),
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
                if self.fails >= self.fail_max {
                    self.open();
                }
            }
            (State::HalfOpen, Verdict::Success) if self.probe_out => {
                self.successes += 1;
                self.fails = 0;
                if self.successes >= self.success_threshold {
                    self.successes = 0;
                    self.go(State::Closed);
                } else {
                    self.probe_out = false;
                }
            }
            (State::HalfOpen, Verdict::Failure) if self.probe_out => {
                self.fails += 1;
                self.open();
            }
            (State::HalfOpen, Verdict::Ignore | Verdict::Drop) => self.probe_out = false,
            _ => {}
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        let until = match self.state {
            State::Closed => return None,
            State::Open if self.forced_open => return None,
            State::Open => self.open_until,
            State::HalfOpen if self.probe_out => self.probe_until,
            State::HalfOpen => self.now,
        };
        Some(Duration::from_millis(until.saturating_sub(self.now)))
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

fn run(fail_max: u32, success_threshold: u32, reset: u64, lease: u64, ops: Vec<Op>) {
    let clock = ManualClock::new();
    let rec = Recorder::new();
    let breaker = CircuitBreaker::builder("model")
        .fail_max(fail_max)
        .success_threshold(success_threshold)
        .reset_timeout(Duration::from_millis(reset))
        .probe_lease(Duration::from_millis(lease))
        .clock(clock.clone())
        .listener_arc(rec.clone())
        .unregistered()
        .build();
    let mut model = Model {
        fail_max,
        success_threshold,
        reset_timeout: reset,
        lease,
        now: 0,
        state: State::Closed,
        fails: 0,
        successes: 0,
        generation: 0,
        probe_out: false,
        open_until: 0,
        probe_until: 0,
        forced_open: false,
        disabled: false,
        transitions: Vec::new(),
    };
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
                model.now += ms;
            }
            Op::Open => {
                breaker.open();
                model.open_until = model.now + model.reset_timeout;
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
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_breaker_follows_the_reference_model(
        fail_max in 1u32..5,
        success_threshold in 1u32..4,
        reset in 1u64..40,
        lease in 1u64..40,
        ops in proptest::collection::vec(op(), 1..120),
    ) {
        run(fail_max, success_threshold, reset, lease, ops);
    }
}
