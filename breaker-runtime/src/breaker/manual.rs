//! The transitions made from outside the state machine: by hand (pybreaker's `open()`,
//! `half_open()`, `close()`, and the sticky `force_open()` and `disable()`), on one
//! replica or, through [`events`], on the whole fleet; and the small API through which
//! the fleet applies its verdicts ([`transition_manually`](CircuitBreaker::transition_manually),
//! the open deadline).

use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};

use super::CircuitBreaker;
use crate::events::{self, Manual};
use crate::outcome::Trigger;
use crate::state::{State, Word};

impl CircuitBreaker {
    /// Applies a transition decided outside the state machine (by hand, or by the
    /// fleet): `change` maps the current word to the next one, or to `None` when there
    /// is nothing to do. A failed swap means another thread changed the word first;
    /// `change` is applied again to what it left. The change is announced as made by
    /// `trigger` (by hand, or by the fleet).
    pub(crate) fn transition_manually(
        &self,
        now: u64,
        trigger: Trigger<'_>,
        change: impl Fn(Word) -> Option<Word>,
    ) {
        let mut word = self.word();
        while let Some(next) = change(word) {
            match self
                .inner
                .word
                .compare_exchange(word.0, next.0, AcqRel, Acquire)
            {
                Ok(_) => return self.announce(word, next, now, trigger),
                Err(actual) => word = Word(actual),
            }
        }
    }

    /// A manual transition, made here and passed on to the fleet of a shared breaker.
    fn by_hand(&self, transition: Manual) {
        let here = self.this_replica();
        match transition {
            Manual::Open => here.open(),
            Manual::HalfOpen => here.half_open(),
            Manual::Close => here.close(),
            Manual::ForceOpen => here.force_open(),
            Manual::Disable => here.disable(),
        }
        events::manual(self, transition);
    }

    /// Opens the breaker now, whatever its state, and restarts its reset timer: calls are
    /// rejected for `reset_timeout` from now. Counters are kept. Calling it while open
    /// only restarts the timer.
    ///
    /// On a [shared](crate::shared) breaker, this and the other manual transitions act on
    /// the whole fleet (every replica follows, as fast as it hears of fleet transitions;
    /// while Redis cannot be reached, on this replica only);
    /// [`this_replica`](Self::this_replica) acts on this replica alone.
    pub fn open(&self) {
        self.by_hand(Manual::Open);
    }

    /// Moves the breaker to half-open: the next call is a probe. The success count
    /// restarts from zero; any probe running is forgotten (its result is discarded).
    pub fn half_open(&self) {
        self.by_hand(Manual::HalfOpen);
    }

    /// Closes the breaker and resets both counters. Calls in flight from before are
    /// discarded when they finish. Also ends [`force_open`](Self::force_open) and
    /// [`disable`](Self::disable).
    pub fn close(&self) {
        self.by_hand(Manual::Close);
    }

    /// Opens the breaker and keeps it open: every call is rejected and no probe is let
    /// through, whatever the time, until [`close`](Self::close) (or
    /// [`open`](Self::open), [`half_open`](Self::half_open)). Unlike `open()`, it does not
    /// end after `reset_timeout`: for maintenance windows, and for testing your fallback
    /// paths.
    ///
    /// ```
    /// use breaker_runtime::{CircuitBreaker, ErrorKind, State};
    ///
    /// let breaker = CircuitBreaker::builder("force-open-doc").build();
    /// breaker.force_open();
    /// assert_eq!(breaker.state(), State::Open);
    /// assert_eq!(breaker.try_acquire().unwrap_err().kind(), ErrorKind::ForcedOpen);
    /// breaker.close();
    /// assert!(breaker.try_acquire().is_ok());
    /// ```
    pub fn force_open(&self) {
        self.by_hand(Manual::ForceOpen);
    }

    /// Turns the breaker into a pass-through: every call is admitted and no outcome is
    /// counted (Resilience4j's `DISABLED`), until [`close`](Self::close) (or
    /// [`open`](Self::open), [`half_open`](Self::half_open)). Its state reads `closed`.
    pub fn disable(&self) {
        self.by_hand(Manual::Disable);
    }

    /// The manual transitions for this replica alone: for a [shared](crate::shared)
    /// breaker, to take one replica out (say, while its host is drained) without
    /// touching the fleet. For an unshared breaker they are the breaker's own methods.
    ///
    /// ```
    /// use breaker_runtime::{CircuitBreaker, State};
    ///
    /// let breaker = CircuitBreaker::builder("this-replica-doc").build();
    /// breaker.this_replica().force_open();
    /// assert!(breaker.is_forced_open());
    /// breaker.this_replica().close();
    /// assert_eq!(breaker.state(), State::Closed);
    /// ```
    pub fn this_replica(&self) -> ThisReplica<'_> {
        ThisReplica { breaker: self }
    }

    /// True between [`force_open`](Self::force_open) and the next manual transition.
    pub fn is_forced_open(&self) -> bool {
        self.word().is_forced_open()
    }

    /// True between [`disable`](Self::disable) and the next manual transition.
    pub fn is_disabled(&self) -> bool {
        self.word().is_disabled()
    }
}

/// Manual transitions of one replica of a shared breaker, leaving the fleet alone; from
/// [`CircuitBreaker::this_replica`].
#[derive(Debug, Clone, Copy)]
pub struct ThisReplica<'a> {
    breaker: &'a CircuitBreaker,
}

impl ThisReplica<'_> {
    /// [`CircuitBreaker::open`], here only.
    pub fn open(&self) {
        let b = self.breaker;
        let now = b.now();
        let from = b.word();
        let next = from.moved_to(State::Open);
        let attempt = b.raise_reset_deadline(from, next, now);
        b.inner.attempt.store(u64::from(attempt), Relaxed);
        b.forget_advised();
        b.transition_manually(now, Trigger::Manual, |w| {
            let next = w.moved_to(State::Open);
            (next != w).then_some(next)
        });
    }

    /// [`CircuitBreaker::half_open`], here only.
    pub fn half_open(&self) {
        let b = self.breaker;
        b.transition_manually(b.now(), Trigger::Manual, |w| {
            let next = w.moved_to(State::HalfOpen).with_fresh_probe_tally();
            (next != w).then_some(next)
        });
    }

    /// [`CircuitBreaker::close`], here only.
    pub fn close(&self) {
        let b = self.breaker;
        b.transition_manually(b.now(), Trigger::Manual, |w| {
            let next = w.moved_to(State::Closed).without_counters();
            (next != w).then_some(next)
        });
        // A breaker that was closed already starts over too (after a transition, the
        // second clearing finds nothing to clear).
        b.closed();
    }

    /// [`CircuitBreaker::force_open`], here only.
    pub fn force_open(&self) {
        let b = self.breaker;
        b.transition_manually(b.now(), Trigger::Manual, |w| {
            (!w.is_forced_open()).then(|| w.forced_open())
        });
    }

    /// [`CircuitBreaker::disable`], here only.
    pub fn disable(&self) {
        let b = self.breaker;
        b.transition_manually(b.now(), Trigger::Manual, |w| {
            (!w.is_disabled()).then(|| w.disabled())
        });
    }
}

impl CircuitBreaker {
    /// Keeps the breaker open until `until` (clock nanoseconds) at least.
    pub(crate) fn extend_open_until(&self, until: u64) {
        self.inner.open_until.fetch_max(until, Relaxed);
    }

    /// Keeps the breaker open until `until` (clock nanoseconds), whatever the deadline
    /// was.
    pub(crate) fn set_open_until(&self, until: u64) {
        self.inner.open_until.store(until, Relaxed);
    }
}
