//! The circuit breaker: pybreaker's state machine on one atomic word.
//!
//! This file is the state machine and nothing else: admission, recording, and the
//! transitions, each one compare-and-swap on the [`Word`]. What an event causes outside
//! the word (listeners, `tracing`, `metrics`) is [`events`]'s business.
//!
//! Memory ordering, once for every loop below: the word is loaded with `Acquire` and
//! swapped with `AcqRel`, so a thread that sees a state also sees what was written before
//! it was published. The deadlines (`open_until`, `probe_until`) are raised with
//! `fetch_max` *before* the compare-and-swap that publishes the state they belong to:
//! whoever sees "open" sees a deadline at least as late as the one that opening set (the
//! loom model fails if the two are swapped). A deadline raised by a compare-and-swap
//! that then loses is harmless: the winner raised its own, and `fetch_max` keeps the
//! later one, which only ever delays a probe by the time between the two attempts.

use std::fmt;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::builder::{Builder, Config, Rules};
use crate::clock::ClockCell;
use crate::events::{self, Counted, Manual, Sinks};
use crate::listener::{CallError, CallOutcome};
use crate::permit::{Permit, Verdict};
use crate::shared::ProbeTurn;
use crate::state::{State, Word};
use crate::sync::AtomicU64;
use crate::{CircuitBreakerError, Clock};

/// A circuit breaker: counts consecutive failures of calls to a dependency, opens after
/// `fail_max` of them, rejects calls at once while open, and after `reset_timeout` lets
/// a single probe through (success closes it, failure reopens it).
///
/// A `CircuitBreaker` is a cheap handle (`Clone` shares the same breaker), `Send + Sync`,
/// and fits in a `static`:
///
/// ```
/// use std::sync::LazyLock;
/// use breaker_runtime::CircuitBreaker;
///
/// static PROFILES: LazyLock<CircuitBreaker> =
///     LazyLock::new(|| CircuitBreaker::builder("user-profile").fail_max(5).build());
///
/// fn fetch_profile(id: u64) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
///     PROFILES.call(|| Ok(format!("profile {id}")))
/// }
///
/// assert_eq!(fetch_profile(7).unwrap(), "profile 7");
/// ```
///
/// # Semantics
///
/// - **Closed**: each failure adds one to a consecutive count, a success resets it. The
///   failure that brings it to `fail_max` opens the breaker, and that call still returns
///   its own error.
/// - **Open**: calls are rejected without running, with a [`CircuitBreakerError`] that
///   says when to retry. No timer thread: the first call made once `reset_timeout` has
///   passed since the breaker opened becomes the half-open probe.
/// - **Half-open**: one probe at a time; other callers are rejected at once, not queued.
///   `success_threshold` consecutive successful probes close the breaker; a failed probe
///   reopens it and restarts the timer. A probe that runs longer than `probe_lease`
///   (default `reset_timeout`) stops blocking: the next caller probes instead.
/// - Results from an earlier state are discarded (each permit carries a generation).
///
/// # Cost
///
/// A closed-state call loads one atomic word to be admitted and, on success, loads it
/// again; it writes to shared memory only when there is a failure count to reset. No
/// lock, no allocation, no clock read. An open-state rejection reads the clock once.
#[derive(Clone)]
pub struct CircuitBreaker {
    inner: Arc<Inner>,
}

// `repr(C)` keeps the order below: the word, read on every call, starts the first cache
// line; the fields written on transitions come after.
#[repr(C)]
struct Inner {
    /// The packed [`Word`]: state, counters, probe flag, sticky modes, listening flag
    /// and generation.
    word: AtomicU64,
    /// Clock time before which an open breaker rejects.
    open_until: AtomicU64,
    /// Clock time until which a half-open probe holds its slot.
    probe_until: AtomicU64,
    /// Clock time of the last state change.
    changed_at: AtomicU64,
    name: &'static str,
    config: Config,
    rules: Rules,
    clock: ClockCell,
    sinks: Sinks,
}

/// A handle that does not keep its breaker alive: what the registry holds.
#[derive(Clone)]
pub(crate) struct WeakBreaker(Weak<Inner>);

impl WeakBreaker {
    pub(crate) fn upgrade(&self) -> Option<CircuitBreaker> {
        self.0.upgrade().map(|inner| CircuitBreaker { inner })
    }

    pub(crate) fn is_alive(&self) -> bool {
        self.0.strong_count() > 0
    }
}

impl CircuitBreaker {
    /// Starts configuring a breaker called `name` (the name shows in errors, logs,
    /// metrics and the [`registry`](crate::registry)).
    pub fn builder(name: &'static str) -> Builder {
        Builder::new(name)
    }

    /// A breaker as the builder describes it, closed. Whether global listeners are
    /// attached is for the registry to tell it ([`listen`](Self::listen)) when it is
    /// enrolled.
    pub(crate) fn new(name: &'static str, config: Config, clock: ClockCell, sinks: Sinks) -> Self {
        let word = Word::INITIAL.with_listening(sinks.has_own_listeners());
        let changed_at = clock.now_nanos();
        CircuitBreaker {
            inner: Arc::new(Inner {
                word: AtomicU64::new(word.0),
                open_until: AtomicU64::new(0),
                probe_until: AtomicU64::new(0),
                changed_at: AtomicU64::new(changed_at),
                name,
                rules: Rules::from(&config),
                config,
                clock,
                sinks,
            }),
        }
    }

    pub(crate) fn downgrade(&self) -> WeakBreaker {
        WeakBreaker(Arc::downgrade(&self.inner))
    }

    /// True when both handles refer to the same breaker.
    pub fn ptr_eq(&self, other: &CircuitBreaker) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The breaker's name.
    pub fn name(&self) -> &'static str {
        self.inner.name
    }

    /// The settings it was built with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    #[inline(always)]
    fn word(&self) -> Word {
        Word(self.inner.word.load(Acquire))
    }

    /// The current state.
    #[inline]
    pub fn state(&self) -> State {
        self.word().state()
    }

    /// Consecutive failures counted so far. A success resets it; opening keeps it (as in
    /// pybreaker), and [`close`](Self::close) resets it.
    pub fn fail_counter(&self) -> u32 {
        self.word().failures()
    }

    /// Successful probes counted in the current half-open period.
    pub fn success_counter(&self) -> u32 {
        self.word().successes()
    }

    /// Calls through this breaker since it was built, by outcome (feature `metrics`).
    #[cfg(feature = "metrics")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
    pub fn calls(&self) -> crate::metrics::Calls {
        self.inner.sinks.counters().totals()
    }

    /// How long until a call may be let through as a probe: `None` while closed or
    /// forced open; the rest of `reset_timeout` while open; zero while half-open with the
    /// probe slot free; the rest of the running probe's lease while it is taken.
    pub fn retry_after(&self) -> Option<Duration> {
        let word = self.word();
        let until = match (word.state(), word.probe_in_flight()) {
            (State::Closed, _) => return None,
            (State::Open, _) if word.is_forced_open() => return None,
            (State::Open, _) => self.inner.open_until.load(Relaxed),
            (State::HalfOpen, true) => self.inner.probe_until.load(Relaxed),
            (State::HalfOpen, false) => return Some(Duration::ZERO),
        };
        Some(Duration::from_nanos(until.saturating_sub(self.now())))
    }

    /// Time since the breaker last changed state (or was built).
    pub fn since_last_change(&self) -> Duration {
        Duration::from_nanos(
            self.now()
                .saturating_sub(self.inner.changed_at.load(Relaxed)),
        )
    }

    /// The breaker's clock, in nanoseconds since its origin.
    pub(crate) fn now(&self) -> u64 {
        self.inner.clock.now_nanos()
    }

    pub(crate) fn sinks(&self) -> &Sinks {
        &self.inner.sinks
    }

    /// Its settings in the state machine's units (for its fleet membership).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn rules(&self) -> Rules {
        self.inner.rules
    }

    /// Whether the fleet holds this breaker's open or half-open state (for tests).
    #[cfg(test)]
    pub(crate) fn held_by_fleet(&self) -> bool {
        self.word().defers_to_fleet()
    }

    /// Sets or clears the listening flag: listeners were attached or removed (globally),
    /// so calls must, or need no longer, take the path that tells them.
    pub(crate) fn listen(&self, global: bool) {
        let on = global || self.inner.sinks.has_own_listeners();
        if on {
            self.inner.word.fetch_or(Word::LISTENING, AcqRel);
        } else {
            self.inner.word.fetch_and(!Word::LISTENING, AcqRel);
        }
    }

    /// Replaces this breaker's clock, typically with a [`ManualClock`](crate::ManualClock)
    /// in a test: this is how a test drives the breaker of a `#[circuit_breaker]`
    /// function (reached through the [`registry`](crate::registry)) past its
    /// `reset_timeout` without sleeping. The breaker is closed and its counters reset, so
    /// no deadline measured by the old clock carries over.
    ///
    /// A breaker's clock can be replaced once: returns `false`, changing nothing, when it
    /// already was.
    ///
    /// ```
    /// use std::time::Duration;
    /// use breaker_runtime::{circuit_breaker, registry, ManualClock, State};
    ///
    /// #[circuit_breaker(name = "set-clock-doc", fail_max = 1, reset_timeout = "30s")]
    /// fn fetch(up: bool) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    ///     if up { Ok(()) } else { Err("down".into()) }
    /// }
    ///
    /// let clock = ManualClock::new();
    /// assert!(registry::get("set-clock-doc").unwrap().set_clock(clock.clone()));
    ///
    /// let _ = fetch(false);
    /// assert!(fetch(true).is_err(), "open");
    /// clock.advance(Duration::from_secs(30));
    /// assert!(fetch(true).is_ok(), "the probe closes it");
    /// assert_eq!(registry::get("set-clock-doc").unwrap().state(), State::Closed);
    /// ```
    pub fn set_clock(&self, clock: impl Clock) -> bool {
        let installed = self.inner.clock.replace(clock);
        if installed {
            self.inner.open_until.store(0, Relaxed);
            self.inner.probe_until.store(0, Relaxed);
            self.inner.changed_at.store(self.now(), Relaxed);
            self.close();
        }
        installed
    }

    // --- admission ------------------------------------------------------------------

    /// Asks to make one call. Closed: granted. Open: rejected until `reset_timeout` has
    /// passed, then granted as the half-open probe. Half-open: granted as the probe when
    /// no other probe is running, rejected otherwise.
    ///
    /// Report the call's outcome on the returned [`Permit`].
    ///
    /// ```
    /// use breaker_runtime::{CircuitBreaker, ErrorKind};
    ///
    /// let breaker = CircuitBreaker::builder("try-acquire-doc").build();
    /// breaker.try_acquire().unwrap().success();
    /// breaker.open();
    /// let rejection = breaker.try_acquire().unwrap_err();
    /// assert_eq!(rejection.kind(), ErrorKind::Open);
    /// assert_eq!(rejection.name(), "try-acquire-doc");
    /// ```
    #[inline(always)]
    pub fn try_acquire(&self) -> Result<Permit<'_>, CircuitBreakerError> {
        let word = self.word();
        if word.admits_quietly() {
            return Ok(Permit::new(self, word.generation(), false, None));
        }
        self.acquire_slow(word)
    }

    /// Admission when the breaker is not closed, or has listeners to tell.
    #[cold]
    #[inline(never)]
    fn acquire_slow(&self, mut word: Word) -> Result<Permit<'_>, CircuitBreakerError> {
        let inner = &*self.inner;
        let listening = word.is_listening();
        if word.state() == State::Closed {
            return Ok(self.admit(word.generation(), false, listening));
        }
        let now = self.now();
        // Proceeds when the breaker may let this call through as a probe: open with its
        // deadline passed, or half-open with the probe slot free (or its lease expired).
        // The swap grants the probe: half-open, probe flag set, next generation. A
        // failed swap means another thread changed the word first (it took the probe,
        // or closed the breaker): decide again on the word it left.
        loop {
            let next = match word.state() {
                State::Closed => return Ok(self.admit(word.generation(), false, listening)),
                State::Open if word.is_forced_open() => {
                    return self.reject(CircuitBreakerError::forced_open(inner.name), word, now);
                }
                State::Open => {
                    let until = inner.open_until.load(Relaxed);
                    if now < until {
                        let error = CircuitBreakerError::open(inner.name, until - now);
                        return self.reject(error, word, now);
                    }
                    match self.probe_turn(word) {
                        Some(fleet) => word
                            .with_probe_granted()
                            .with_successes(0)
                            .with_fleet(fleet),
                        None => {
                            return self.reject(CircuitBreakerError::open(inner.name, 0), word, now)
                        }
                    }
                }
                State::HalfOpen => {
                    if word.probe_in_flight() && now < inner.probe_until.load(Relaxed) {
                        let error = CircuitBreakerError::probe_in_flight(inner.name);
                        return self.reject(error, word, now);
                    }
                    match self.probe_turn(word) {
                        Some(fleet) => word.with_probe_granted().with_fleet(fleet),
                        None => {
                            let error = CircuitBreakerError::probe_in_flight(inner.name);
                            return self.reject(error, word, now);
                        }
                    }
                }
            };
            inner
                .probe_until
                .fetch_max(now.saturating_add(inner.rules.probe_lease), Relaxed);
            match inner.word.compare_exchange(word.0, next.0, AcqRel, Acquire) {
                Ok(_) => {
                    self.announce(word, next, now, None);
                    return Ok(self.admit(next.generation(), true, next.is_listening()));
                }
                Err(actual) => {
                    if next.defers_to_fleet() {
                        // The fleet's ticket was claimed for a probe that did not happen:
                        // give it back for the next attempt.
                        events::fleet_probe_unclaimed(self);
                    }
                    word = Word(actual);
                }
            }
        }
    }

    /// Whether this caller may probe now: `Some(held)` if so, `held` telling whether the
    /// fleet still holds the breaker (it granted this probe) or this replica probes on its
    /// own clock; `None` when the fleet's probe is asked for and this call must wait.
    fn probe_turn(&self, word: Word) -> Option<bool> {
        if !word.defers_to_fleet() {
            return Some(false);
        }
        match events::fleet_probe_turn(self) {
            ProbeTurn::Granted => Some(true),
            ProbeTurn::Local => Some(false),
            ProbeTurn::Wait => None,
        }
    }

    /// A permit for generation `generation`; listeners, if any, hear of the call first.
    fn admit(&self, generation: u32, probe: bool, listening: bool) -> Permit<'_> {
        let started = listening.then(|| events::admitted(self));
        Permit::new(self, generation, probe, started)
    }

    /// Builds the rejection in place, as the `Err` it is returned as: building the
    /// error first and moving it into the `Result` afterwards copies it with wide loads
    /// of narrow stores, which stalls store forwarding on the rejection path.
    #[inline(always)]
    fn reject(
        &self,
        error: CircuitBreakerError,
        word: Word,
        now: u64,
    ) -> Result<Permit<'_>, CircuitBreakerError> {
        let rejection = Err(error);
        if let Err(error) = &rejection {
            events::rejected(self, error, word.is_listening(), now);
        }
        rejection
    }

    // --- recording ------------------------------------------------------------------

    /// Applies a permit's verdict. The common case (a success while closed, with no
    /// failure counted and no listener) is one load and no write. `started` is the
    /// call's start time when listeners were attached at its admission; `error` is what
    /// the call returned, for listeners and tracing.
    #[inline(always)]
    pub(crate) fn record(
        &self,
        generation: u32,
        verdict: Verdict,
        started: Option<u32>,
        error: Option<CallError<'_>>,
    ) {
        events::counted(self, Counted::from(verdict));
        let word = self.word();
        if !(verdict == Verdict::Success && word.is_quiet_closed()) {
            self.record_slow(word, generation, verdict, started, error);
        }
    }

    #[cold]
    #[inline(never)]
    fn record_slow(
        &self,
        mut word: Word,
        generation: u32,
        verdict: Verdict,
        started: Option<u32>,
        error: Option<CallError<'_>>,
    ) {
        let inner = &*self.inner;
        let rules = &inner.rules;
        let mut now = None;
        let open_at = |now: &mut Option<u64>| {
            let t = *now.get_or_insert_with(|| self.now());
            inner
                .open_until
                .fetch_max(t.saturating_add(rules.reset_timeout), Relaxed);
            t
        };
        // Proceeds when the verdict belongs to the current generation and changes the
        // word: a failure to count (opening at `fail_max`), a failure count to reset, a
        // probe's result. A failed swap means another thread changed the word first;
        // the verdict is weighed again against what it left (and discarded if that was a
        // new generation).
        let changed = loop {
            if word.generation() != generation || word.is_disabled() {
                break None; // granted under an earlier state, or disabled: discarded
            }
            let next = match (word.state(), verdict) {
                (State::Closed, Verdict::Success) if word.failures() != 0 => word.with_failures(0),
                (State::Closed, Verdict::Failure) => {
                    let failures = word.failures().saturating_add(1);
                    if failures >= rules.fail_max {
                        open_at(&mut now);
                        word.with_failures(failures).enter(State::Open)
                    } else {
                        word.with_failures(failures)
                    }
                }
                (State::HalfOpen, verdict) if word.probe_in_flight() => match verdict {
                    Verdict::Success => {
                        let successes = word.successes() + 1;
                        if successes >= rules.success_threshold {
                            word.with_failures(0).with_successes(0).enter(State::Closed)
                        } else {
                            word.with_failures(0)
                                .with_successes(successes)
                                .with_probe_released()
                        }
                    }
                    Verdict::Failure => {
                        open_at(&mut now);
                        word.with_failures(word.failures().saturating_add(1))
                            .enter(State::Open)
                    }
                    Verdict::Ignore => word.with_probe_released(),
                },
                _ => break None,
            };
            match inner.word.compare_exchange(word.0, next.0, AcqRel, Acquire) {
                Ok(_) => break Some((word, next)),
                Err(actual) => word = Word(actual),
            }
        };
        if let Some((from, _)) = changed {
            if from.state() == State::HalfOpen && from.defers_to_fleet() {
                events::fleet_probe_settled(self, verdict);
            }
        }
        let outcome = started.map(|started| events::outcome_since(self, verdict, started, error));
        if let Some(outcome) = &outcome {
            events::ended(self, outcome);
        }
        if let Some((from, to)) = changed {
            let cause = outcome.unwrap_or(CallOutcome::new(verdict, error, None));
            let now = now.unwrap_or_else(|| self.now());
            self.announce(from, to, now, Some(&cause));
        }
    }

    /// Reports a state change won by this thread's compare-and-swap: each transition is
    /// announced exactly once.
    fn announce(&self, from: Word, to: Word, now: u64, cause: Option<&CallOutcome<'_>>) {
        if from.state() == to.state() {
            return;
        }
        self.inner.changed_at.fetch_max(now, Relaxed);
        // A trip on this replica's own evidence (a call's outcome), not one the fleet
        // told it of, nor a manual transition.
        let tripped_here =
            cause.is_some() && from.state() == State::Closed && !to.defers_to_fleet();
        events::transition(
            self,
            from.state(),
            to.state(),
            cause,
            to.is_listening(),
            tripped_here,
        );
    }
}

/// The fleet's transitions, applied by the backend's task (feature `redis`; the
/// in-memory backend for tests will call them too).
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
impl CircuitBreaker {
    /// The fleet is open: so is this replica, until `remaining` from now at least, and
    /// its probe is the fleet's to grant. Sticky modes win.
    pub(crate) fn fleet_opened(&self, remaining: Duration) {
        let now = self.now();
        let until = now.saturating_add(crate::clock::duration_to_nanos(remaining));
        self.inner.open_until.fetch_max(until, Relaxed);
        self.transition_manually(now, |w| {
            if w.is_forced_open()
                || w.is_disabled()
                || w.defers_to_fleet() && w.state() == State::Open
            {
                return None;
            }
            let next = match w.state() {
                State::Open => w,
                _ => w.enter(State::Open),
            };
            Some(next.with_fleet(true))
        });
    }

    /// The fleet was opened by hand (or set half-open: `remaining` zero): open here too,
    /// held by the fleet, until `remaining` from now, whatever the deadline was.
    pub(crate) fn fleet_opened_by_hand(&self, remaining: Duration) {
        let now = self.now();
        let until = now.saturating_add(crate::clock::duration_to_nanos(remaining));
        self.inner.open_until.store(until, Relaxed);
        self.transition_manually(now, |w| {
            let next = w.moved_to(State::Open).with_fleet(true);
            (next != w).then_some(next)
        });
    }

    /// The fleet granted this replica its probe: half-open, for the next caller to take.
    pub(crate) fn fleet_half_open(&self) {
        self.transition_manually(self.now(), |w| {
            (w.defers_to_fleet() && w.state() == State::Open)
                .then(|| w.enter(State::HalfOpen).with_fleet(true).with_successes(0))
        });
    }

    /// The fleet closed: so does this replica, if the fleet held it.
    pub(crate) fn fleet_closed(&self) {
        self.transition_manually(self.now(), |w| {
            w.defers_to_fleet()
                .then(|| w.enter(State::Closed).with_failures(0).with_successes(0))
        });
    }

    /// The fleet's verdict is out of reach: this replica keeps its state and probes on
    /// its own clock, as an unshared breaker.
    pub(crate) fn fleet_released(&self) {
        self.transition_manually(self.now(), |w| {
            w.defers_to_fleet().then(|| w.with_fleet(false))
        });
    }
}

impl CircuitBreaker {
    // --- manual transitions ---------------------------------------------------------

    /// Applies a manual transition: `change` maps the current word to the next one, or
    /// to `None` when there is nothing to do. A failed swap means another thread changed
    /// the word first; `change` is applied again to what it left.
    fn transition_manually(&self, now: u64, change: impl Fn(Word) -> Option<Word>) {
        let mut word = self.word();
        while let Some(next) = change(word) {
            match self
                .inner
                .word
                .compare_exchange(word.0, next.0, AcqRel, Acquire)
            {
                Ok(_) => return self.announce(word, next, now, None),
                Err(actual) => word = Word(actual),
            }
        }
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
        self.this_replica().open();
        events::manual(self, Manual::Open);
    }

    /// Moves the breaker to half-open: the next call is a probe. The success count
    /// restarts from zero; any probe running is forgotten (its result is discarded).
    pub fn half_open(&self) {
        self.this_replica().half_open();
        events::manual(self, Manual::HalfOpen);
    }

    /// Closes the breaker and resets both counters. Calls in flight from before are
    /// discarded when they finish. Also ends [`force_open`](Self::force_open) and
    /// [`disable`](Self::disable).
    pub fn close(&self) {
        self.this_replica().close();
        events::manual(self, Manual::Close);
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
        self.this_replica().force_open();
        events::manual(self, Manual::ForceOpen);
    }

    /// Turns the breaker into a pass-through: every call is admitted and no outcome is
    /// counted (Resilience4j's `DISABLED`), until [`close`](Self::close) (or
    /// [`open`](Self::open), [`half_open`](Self::half_open)). Its state reads `closed`.
    pub fn disable(&self) {
        self.this_replica().disable();
        events::manual(self, Manual::Disable);
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
        b.inner
            .open_until
            .fetch_max(now.saturating_add(b.inner.rules.reset_timeout), Relaxed);
        b.transition_manually(now, |w| {
            let next = w.moved_to(State::Open);
            (next != w).then_some(next)
        });
    }

    /// [`CircuitBreaker::half_open`], here only.
    pub fn half_open(&self) {
        let b = self.breaker;
        b.transition_manually(b.now(), |w| {
            let next = w.moved_to(State::HalfOpen).with_successes(0);
            (next != w).then_some(next)
        });
    }

    /// [`CircuitBreaker::close`], here only.
    pub fn close(&self) {
        let b = self.breaker;
        b.transition_manually(b.now(), |w| {
            let next = w.moved_to(State::Closed).with_failures(0).with_successes(0);
            (next != w).then_some(next)
        });
    }

    /// [`CircuitBreaker::force_open`], here only.
    pub fn force_open(&self) {
        let b = self.breaker;
        b.transition_manually(b.now(), |w| (!w.is_forced_open()).then(|| w.forced_open()));
    }

    /// [`CircuitBreaker::disable`], here only.
    pub fn disable(&self) {
        let b = self.breaker;
        b.transition_manually(b.now(), |w| (!w.is_disabled()).then(|| w.disabled()));
    }
}

// Every operation leaves the breaker consistent (one compare-and-swap publishes each
// change, and a panicking listener is contained), so observing it after a caught panic
// is fine: no `AssertUnwindSafe` needed around code that uses a breaker.
impl std::panic::UnwindSafe for CircuitBreaker {}
impl std::panic::RefUnwindSafe for CircuitBreaker {}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = self.word();
        f.debug_struct("CircuitBreaker")
            .field("name", &self.inner.name)
            .field("state", &word.state())
            .field("fail_counter", &word.failures())
            .field("success_counter", &word.successes())
            .field("config", &self.inner.config)
            .finish()
    }
}
