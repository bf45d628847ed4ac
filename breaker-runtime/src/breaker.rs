//! The circuit breaker: pybreaker's state machine on one atomic word.
//!
//! This file is the state machine and nothing else: admission, recording, and the
//! automatic transitions, each one compare-and-swap on the [`Word`]. The transitions
//! made from outside (by hand, or applied from the fleet) are in [`manual`]. What an
//! event causes outside the word (listeners, `tracing`, `metrics`, the fleet) is
//! [`events`]'s business: the one way out of the core.
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

mod manual;

use crate::advice::{Advice, Packed};
use crate::backoff;
use crate::clock::{ClockCell, ClockSource};
use crate::config::{Config, Rules};
use crate::error::CircuitBreakerError;
use crate::events::{self, Counted, ProbeTurn, Sinks};
use crate::outcome::{CallOutcome, Seen, Trigger, Verdict};
use crate::permit::{OwnedPermit, Permit};
use crate::state::{State, Word};
use crate::sync::AtomicU64;
use crate::window::{Tally, WindowSnapshot};
use crate::{Clock, Name};

pub use manual::ThisReplica;

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
///   reopens it and restarts the timer. A probe still running after
///   `half_open_timeout` (default `reset_timeout`) counts as a failure: the breaker
///   reopens, and the probe's late result is discarded, so a hung probe cannot wedge it.
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

// `repr(C)` keeps the order below. The `Arc`'s reference counts sit just before this
// struct, and an owned permit (a tower layer's call, an async keyed call) adds to them
// and takes away on every call: the settings, read only on slow paths, come first, so
// that the word, read on every call, is at least 64 bytes past the counts and never on
// their cache line. The fields written on transitions come after the word.
#[repr(C)]
struct Inner {
    name: Name,
    /// Read only on cold paths, and the same for every breaker of a keyed set (which
    /// then share one): a keyed breaker costs a pointer for it, not its 152 bytes.
    config: Arc<Config>,
    rules: Rules,
    /// Seeds the jitter of open durations.
    seed: u64,
    /// The packed [`Word`]: state, counters, probe flag, sticky modes, listening flag
    /// and generation.
    word: AtomicU64,
    /// Clock time before which an open breaker rejects.
    open_until: AtomicU64,
    /// Clock time at which the half-open probes out count as failed: the last probe's
    /// start plus `half_open_timeout`.
    probe_until: AtomicU64,
    /// Clock time of the last state change.
    changed_at: AtomicU64,
    /// The backoff attempt of the current (or last) open period: 1 at the first
    /// opening from closed, one more at each reopening, 0 once closed.
    attempt: AtomicU64,
    /// The latest advice of a failure that counts toward an opening: its deadline in
    /// milliseconds on the breaker's clock, and its source (a [`Packed`]; 0 for none).
    advice: AtomicU64,
    /// The advice that set the current (or last) open period: its duration in
    /// milliseconds and its source, flagged when it opened the breaker at once (a
    /// [`Packed`]; 0 for none).
    advised: AtomicU64,
    /// The window of a rate policy, the failures of a `within` one.
    tally: Tally,
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

    /// Whether the two point to one breaker.
    pub(crate) fn same(&self, other: &WeakBreaker) -> bool {
        Weak::ptr_eq(&self.0, &other.0)
    }

    /// Reads the breaker's reference counts (and so brings them to this core's cache),
    /// without taking a handle.
    #[inline]
    pub(crate) fn touch(&self) {
        std::hint::black_box(self.0.strong_count());
    }

    /// Whether this is a handle on `breaker`.
    pub(crate) fn points_to(&self, breaker: &CircuitBreaker) -> bool {
        std::ptr::eq(self.0.as_ptr(), Arc::as_ptr(&breaker.inner))
    }
}

impl Drop for Inner {
    /// The last handle went: the registry forgets the breaker now, not at some later
    /// sweep, so that its entry (and the memory the entry keeps) goes with it.
    fn drop(&mut self) {
        crate::events::dropped(&self.name, self as *const Inner as usize);
    }
}

impl CircuitBreaker {
    /// A breaker as the builder describes it, closed. Whether global listeners are
    /// attached is for the registry to tell it ([`listen`](Self::listen)) when it is
    /// enrolled.
    pub(crate) fn new(name: Name, config: Arc<Config>, clock: ClockCell, sinks: Sinks) -> Self {
        let tally = Tally::new(&config);
        let word = Word::initial(tally.counts_every_call(), config.slow_call.is_some())
            .with_listening(sinks.has_own_listeners());
        let changed_at = clock.now_nanos();
        CircuitBreaker {
            inner: Arc::new(Inner {
                word: AtomicU64::new(word.0),
                open_until: AtomicU64::new(0),
                probe_until: AtomicU64::new(0),
                changed_at: AtomicU64::new(changed_at),
                attempt: AtomicU64::new(0),
                advice: AtomicU64::new(0),
                advised: AtomicU64::new(0),
                seed: backoff::seed(),
                name,
                rules: Rules::from(&*config),
                config,
                tally,
                clock,
                sinks,
            }),
        }
    }

    /// Where the breaker lives: an identity for as long as any handle, weak or not, is
    /// alive.
    pub(crate) fn address(&self) -> usize {
        Arc::as_ptr(&self.inner) as usize
    }

    pub(crate) fn downgrade(&self) -> WeakBreaker {
        WeakBreaker(Arc::downgrade(&self.inner))
    }

    /// True when both handles refer to the same breaker.
    pub fn ptr_eq(&self, other: &CircuitBreaker) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The breaker's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The breaker's name as a [`Name`], to keep (a clone copies a pointer).
    pub fn name_handle(&self) -> &Name {
        &self.inner.name
    }

    /// The settings it was built with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Its settings, to share with another breaker of the same ones.
    pub(crate) fn shared_config(&self) -> &Arc<Config> {
        &self.inner.config
    }

    /// The state word as it is now.
    #[inline(always)]
    pub(crate) fn word(&self) -> Word {
        Word(self.inner.word.load(Acquire))
    }

    /// The current state.
    #[inline]
    pub fn state(&self) -> State {
        self.word().state()
    }

    /// Failures counted so far. Consecutive failures by default: a success resets it;
    /// opening keeps it (as in pybreaker), and [`close`](Self::close) resets it. With
    /// `within`, the failures within that time; with a rate policy, the failures in its
    /// window (in half-open: the failed probes).
    pub fn fail_counter(&self) -> u32 {
        let word = self.word();
        if word.is_counted() && word.state() == State::HalfOpen {
            word.probe_failures()
        } else if !self.inner.rules.window_trips {
            // Consecutive failures, with or without a throttle beside them: in the word.
            word.failures()
        } else {
            self.inner.tally.failures(self.now())
        }
    }

    /// Successful probes counted in the current half-open period.
    pub fn success_counter(&self) -> u32 {
        self.word().successes()
    }

    /// Half-open probes let through and not yet finished.
    pub fn probes_in_flight(&self) -> u32 {
        self.word().in_flight()
    }

    /// A rate policy's window as it is now (frozen while the breaker is open); `None`
    /// for the consecutive and `within` policies.
    ///
    /// ```
    /// use breaker_runtime::{CircuitBreaker, Window};
    ///
    /// let breaker = CircuitBreaker::builder("window-doc")
    ///     .failure_rate(50)
    ///     .window(Window::Calls(4))
    ///     .build();
    /// breaker.try_acquire().unwrap().success();
    /// breaker.try_acquire().unwrap().failure();
    /// let window = breaker.window().unwrap();
    /// assert_eq!((window.calls, window.failures), (2, 1));
    /// assert_eq!(window.failure_rate, None, "below min_calls (4): no rate yet");
    /// ```
    pub fn window(&self) -> Option<WindowSnapshot> {
        let (counts, min_calls) = self.inner.tally.window(self.now())?;
        // `min_calls` is at least 1 (validated), so a rate never divides by zero.
        let rate = |n: u32| {
            (counts.calls >= min_calls).then(|| f64::from(n) * 100.0 / f64::from(counts.calls))
        };
        Some(WindowSnapshot {
            calls: counts.calls,
            failures: counts.failures,
            slow: counts.slow,
            failure_rate: rate(counts.failures),
            slow_rate: rate(counts.slow),
        })
    }

    /// The backoff attempt: 1 at the first opening from closed, one more at each
    /// reopening from half-open, 0 once closed.
    pub fn attempt(&self) -> u32 {
        self.inner.attempt.load(Relaxed) as u32
    }

    /// How long until a call may be let through as a probe: `None` while closed or
    /// forced open; the rest of the open duration while open (`reset_timeout`, backed
    /// off and jittered); zero while half-open with a probe slot free; the rest of the
    /// running probes' `half_open_timeout` while every slot is taken.
    pub fn retry_after(&self) -> Option<Duration> {
        let word = self.word();
        let until = match word.state() {
            State::Closed => return None,
            State::Open if word.is_forced_open() => return None,
            State::Open => self.inner.open_until.load(Relaxed),
            State::HalfOpen if self.may_grant(word) => return Some(Duration::ZERO),
            State::HalfOpen => self.inner.probe_until.load(Relaxed),
        };
        Some(Duration::from_nanos(until.saturating_sub(self.now())))
    }

    /// How long the current open period lasts in all, from the moment the breaker
    /// opened: its `reset_timeout`, backed off and jittered as configured (see
    /// [`retry_after`](Self::retry_after) for the time left). `None` unless open, and
    /// while forced open (no period ends it).
    ///
    /// ```
    /// use std::time::Duration;
    /// use breaker_runtime::{CircuitBreaker, ManualClock};
    ///
    /// let clock = ManualClock::new();
    /// let breaker = CircuitBreaker::builder("open-period-doc").clock(clock.clone()).build();
    /// assert_eq!(breaker.open_period(), None);
    /// breaker.open();
    /// clock.advance(Duration::from_secs(20));
    /// assert_eq!(breaker.open_period(), Some(Duration::from_secs(60)));
    /// assert_eq!(breaker.retry_after(), Some(Duration::from_secs(40)));
    /// ```
    pub fn open_period(&self) -> Option<Duration> {
        let word = self.word();
        (word.state() == State::Open && !word.is_forced_open()).then(|| {
            let until = self.inner.open_until.load(Relaxed);
            Duration::from_nanos(until.saturating_sub(self.inner.changed_at.load(Relaxed)))
        })
    }

    /// The rejection a call would get now, without asking for a permit (so without
    /// granting a probe): `None` when a call would be let through (closed; open with
    /// its probe due; half-open with a probe slot free, or a probe out past its
    /// timeout). What a tower service's `poll_ready` asks, to stop polling its inner
    /// service while the breaker refuses. Closed, it is one load.
    ///
    /// ```
    /// use breaker_runtime::{CircuitBreaker, ErrorKind};
    ///
    /// let breaker = CircuitBreaker::builder("refusal-doc").build();
    /// assert!(breaker.refusal().is_none());
    /// breaker.open();
    /// assert_eq!(breaker.refusal().unwrap().kind(), ErrorKind::Open);
    /// ```
    #[inline]
    pub fn refusal(&self) -> Option<CircuitBreakerError> {
        let word = self.word();
        if word.state() == State::Closed {
            return None;
        }
        self.refusal_now(word)
    }

    #[cold]
    fn refusal_now(&self, word: Word) -> Option<CircuitBreakerError> {
        let now = self.now();
        if let Some(error) = self.open_rejection(word, now) {
            return Some(error);
        }
        (word.state() == State::HalfOpen
            && self.overdue_probe(word, now).is_none()
            && !self.may_grant(word))
        .then(|| CircuitBreakerError::probe_in_flight(self.inner.name.clone()))
    }

    /// The upstream's advice that set the breaker's current (or last) open period, if
    /// advice did: a failure that counted toward the opening carried a `Retry-After`,
    /// a gRPC `RetryInfo` or pushback, or an upstream breaker's marker (see
    /// [`Advice`]). Its delay is the open period it set (capped by
    /// [`retry_after_cap`](crate::Builder::retry_after_cap)). `None` for an opening
    /// timed by `reset_timeout`, and once the breaker has closed.
    pub fn open_advice(&self) -> Option<Advice> {
        Packed(self.inner.advised.load(Relaxed)).advice()
    }

    /// Whether the current (or last) opening was made at once by an advised failure
    /// (`open_on_retry_after`), rather than by the trip rule.
    pub(crate) fn opened_by_advice(&self) -> bool {
        Packed(self.inner.advised.load(Relaxed)).is_flagged()
    }

    /// Forgets the advice of the current open period (an opening by hand, or the
    /// fleet's, is timed as it says).
    pub(crate) fn forget_advised(&self) {
        self.inner.advised.store(0, Relaxed);
    }

    /// Time since the breaker last changed state (or was built).
    pub fn since_last_change(&self) -> Duration {
        Duration::from_nanos(
            self.now()
                .saturating_sub(self.inner.changed_at.load(Relaxed)),
        )
    }

    /// The breaker's clock, in nanoseconds since its origin.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        self.inner.clock.now_nanos()
    }

    pub(crate) fn sinks(&self) -> &Sinks {
        &self.inner.sinks
    }

    /// The clock it reads now.
    pub(crate) fn clock_source(&self) -> &ClockSource {
        self.inner.clock.source()
    }

    /// Handles to this breaker alive now, this one included.
    pub(crate) fn handle_count(&self) -> usize {
        Arc::strong_count(&self.inner)
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
        self.acquire::<false>()
    }

    /// [`try_acquire`](Self::try_acquire) for a call whose rejection a fallback answers:
    /// the caller's trace is not told the call failed.
    #[inline(always)]
    pub(crate) fn try_acquire_answered(&self) -> Result<Permit<'_>, CircuitBreakerError> {
        self.acquire::<true>()
    }

    /// Admission; `ANSWERED` when a fallback answers a rejection (observers see the
    /// rejection, the caller's span does not fail).
    #[inline(always)]
    fn acquire<const ANSWERED: bool>(&self) -> Result<Permit<'_>, CircuitBreakerError> {
        let word = self.word();
        if word.admits_quietly() {
            return Ok(Permit::new(self, word.generation(), false, None, false));
        }
        self.acquire_slow::<ANSWERED>(word)
    }

    /// [`try_acquire`](Self::try_acquire) for a call that must own its permit (a
    /// spawned task, a `'static` future): the permit holds a clone of this handle.
    #[inline]
    pub fn try_acquire_owned(&self) -> Result<OwnedPermit, CircuitBreakerError> {
        let permit = self.try_acquire()?.detach();
        Ok(OwnedPermit::new(self.clone(), permit))
    }

    /// Admission when the breaker is not closed, has listeners to tell, or times its
    /// calls.
    #[cold]
    #[inline(never)]
    fn acquire_slow<const ANSWERED: bool>(
        &self,
        word: Word,
    ) -> Result<Permit<'_>, CircuitBreakerError> {
        // Closed and not throttling (one test of the word, as before throttles), closed
        // and throttling, or not closed.
        match word.closed_and_throttling() {
            (true, false) => return Ok(self.admit(word, false)),
            (true, true) => {
                if let Some(refusal) = self.throttle_refusal(word) {
                    return self.refuse::<ANSWERED>(refusal);
                }
                return Ok(self.admit(word, false));
            }
            (false, _) => {}
        }
        let now = self.now();
        // The rejection of an open breaker, the common case here, decided before (and
        // kept apart from) the probe's bookkeeping.
        if let Some(error) = self.open_rejection(word, now) {
            return self.reject::<ANSWERED>(error, word, now);
        }
        self.acquire_probe::<ANSWERED>(word, now)
    }

    /// Why a caller is rejected while `word` is open: its probe is not due yet, or
    /// never (forced open). `None` when it is not open, or its probe is due.
    #[inline(always)]
    fn open_rejection(&self, word: Word, now: u64) -> Option<CircuitBreakerError> {
        let name = &self.inner.name;
        if word.state() != State::Open {
            return None;
        }
        if word.is_forced_open() {
            return Some(CircuitBreakerError::forced_open(name.clone()));
        }
        let until = self.inner.open_until.load(Relaxed);
        (now < until).then(|| CircuitBreakerError::open(name.clone(), until - now))
    }

    /// Admission of a probe, or the rejection of a caller that came too late for one.
    #[cold]
    #[inline(never)]
    fn acquire_probe<const ANSWERED: bool>(
        &self,
        mut word: Word,
        now: u64,
    ) -> Result<Permit<'_>, CircuitBreakerError> {
        let inner = &*self.inner;
        // Proceeds when the breaker may let this call through as a probe: open with its
        // deadline passed, or half-open with a probe slot free. The swap grants the
        // probe: half-open (a new period, the next generation, from open), one more
        // probe in flight. A failed swap means another thread changed the word first
        // (it took the last slot, or closed the breaker): decide again on what it left.
        loop {
            let mut new_period = false;
            if let Some(error) = self.open_rejection(word, now) {
                return self.reject::<ANSWERED>(error, word, now);
            }
            let next = match word.state() {
                State::Closed => return Ok(self.admit(word, false)),
                State::Open => match self.probe_turn(word) {
                    Some(fleet) => {
                        new_period = true;
                        word.enter(State::HalfOpen)
                            .with_fresh_probe_tally()
                            .with_probe_granted()
                            .with_fleet(fleet)
                    }
                    None => {
                        return self.reject::<ANSWERED>(
                            CircuitBreakerError::open(inner.name.clone(), 0),
                            word,
                            now,
                        )
                    }
                },
                State::HalfOpen => {
                    if let Some(deadline) = self.overdue_probe(word, now) {
                        // A probe outlived `half_open_timeout`: it failed, as of its
                        // deadline. Decide again on the reopened breaker.
                        word = self.probe_timed_out(word, deadline);
                        continue;
                    }
                    if !self.may_grant(word) {
                        let error = CircuitBreakerError::probe_in_flight(inner.name.clone());
                        return self.reject::<ANSWERED>(error, word, now);
                    }
                    match self.probe_turn(word) {
                        Some(fleet) => word.with_probe_granted().with_fleet(fleet),
                        None => {
                            let error = CircuitBreakerError::probe_in_flight(inner.name.clone());
                            return self.reject::<ANSWERED>(error, word, now);
                        }
                    }
                }
            };
            // Published before the grant: whoever sees the probe out sees its deadline.
            let deadline = now.saturating_add(inner.rules.half_open_timeout);
            if new_period {
                inner.probe_until.store(deadline, Relaxed);
            } else {
                inner.probe_until.fetch_max(deadline, Relaxed);
            }
            match inner.word.compare_exchange(word.0, next.0, AcqRel, Acquire) {
                Ok(_) => {
                    self.announce(word, next, now, Trigger::Call(None));
                    return Ok(self.admit(next, true));
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

    /// A permit for `word`'s generation; listeners, if any, hear of the call first. The
    /// start time is kept when listeners want the call's duration or slow calls count.
    fn admit(&self, word: Word, probe: bool) -> Permit<'_> {
        let started = if word.is_listening() {
            Some(events::admitted(self))
        } else if word.is_timed() {
            Some(events::micros(self.now()))
        } else {
            None
        };
        Permit::new(self, word.generation(), probe, started, word.is_listening())
    }

    /// Whether a half-open breaker has a probe slot free: fewer than `probes` out, and
    /// fewer than the period's probes let through (a neutral outcome gives its back).
    /// The deadline of a probe in flight that outlived `half_open_timeout` by `now`
    /// (it failed, as of that deadline), if one did.
    #[inline]
    fn overdue_probe(&self, word: Word, now: u64) -> Option<u64> {
        let deadline = self.inner.probe_until.load(Relaxed);
        (word.in_flight() > 0 && now >= deadline).then_some(deadline)
    }

    fn may_grant(&self, word: Word) -> bool {
        let rules = &self.inner.rules;
        let recorded = word.successes()
            + if word.is_counted() {
                word.probe_failures()
            } else {
                0
            };
        word.in_flight() < rules.probes && word.in_flight() + recorded < rules.success_threshold
    }

    /// The backoff attempt of an opening from `from`: 1 from closed, one more from
    /// half-open, unchanged (at least 1) when an open breaker's timer restarts.
    fn next_attempt(&self, from: State) -> u32 {
        let attempt = self.inner.attempt.load(Relaxed) as u32;
        match from {
            State::Closed => 1,
            State::HalfOpen => attempt.saturating_add(1),
            State::Open => attempt.max(1),
        }
    }

    /// Raises the open deadline for the opening `from` → `to` at `at`, before the swap
    /// that publishes it; returns its attempt and the advice that timed it (if any),
    /// for the winner to store. The period is the latest advice's, if a failure that
    /// counted toward the opening carried one that has not run out (capped by
    /// `retry_after_cap`, not jittered: the upstream said when); otherwise
    /// `reset_timeout`, backed off and jittered. The backoff's attempt advances either
    /// way. (Two threads opening one generation at once with different advice: the
    /// later deadline stands.)
    fn raise_deadline(&self, from: Word, to: Word, at: u64) -> (u32, Packed) {
        self.raise_deadline_with(from, to, at, Packed(self.inner.advice.load(Relaxed)))
    }

    /// [`raise_deadline`](Self::raise_deadline) for an opening by hand: timed by
    /// `reset_timeout` (and the backoff), whatever advice the failures carried.
    pub(crate) fn raise_reset_deadline(&self, from: Word, to: Word, at: u64) -> u32 {
        self.raise_deadline_with(from, to, at, Packed::NONE).0
    }

    fn raise_deadline_with(&self, from: Word, to: Word, at: u64, advice: Packed) -> (u32, Packed) {
        let inner = &*self.inner;
        let attempt = self.next_attempt(from.state());
        let advised = advice
            .get()
            .map(|(until_ms, source)| (until_ms.saturating_mul(1_000_000), source))
            .filter(|(until, _)| *until > at);
        let (duration, advised) = match advised {
            Some((until, source)) => {
                let duration = (until - at).min(inner.rules.advice_cap);
                (duration, Packed::new(duration / 1_000_000, source))
            }
            None => {
                let u = backoff::unit(inner.seed, to.generation());
                let duration = backoff::open_duration(&inner.rules, attempt, u);
                (duration, Packed::NONE)
            }
        };
        inner
            .open_until
            .fetch_max(at.saturating_add(duration), Relaxed);
        (attempt, advised)
    }

    /// An opening took effect: its attempt and the advice that timed it are stored, and
    /// the advice the failures carried is spent.
    fn opened(&self, attempt: u32, advised: Packed) {
        let inner = &*self.inner;
        inner.attempt.store(u64::from(attempt), Relaxed);
        inner.advised.store(advised.0, Relaxed);
        inner.advice.store(0, Relaxed);
    }

    /// The half-open probes out since before `deadline` failed: reopens the breaker as
    /// of `deadline` (so the open period does not depend on when traffic notices), and
    /// returns the word as it is afterwards, whoever changed it.
    fn probe_timed_out(&self, word: Word, deadline: u64) -> Word {
        let next = word.reopened();
        let (attempt, advised) = self.raise_deadline(word, next, deadline);
        match self
            .inner
            .word
            .compare_exchange(word.0, next.0, AcqRel, Acquire)
        {
            Ok(_) => {
                self.opened(attempt, advised);
                self.announce(word, next, deadline, Trigger::ProbeTimedOut);
                if word.defers_to_fleet() {
                    events::fleet_probe_settled(self, Verdict::Failure);
                }
                next
            }
            Err(actual) => Word(actual),
        }
    }

    /// A transition into closed took effect: the window, the `within` count, the
    /// backoff and any advice start over.
    fn closed(&self) {
        self.inner.tally.clear();
        self.inner.attempt.store(0, Relaxed);
        self.inner.advice.store(0, Relaxed);
        self.inner.advised.store(0, Relaxed);
    }

    /// Whether the throttle refuses this call: its probability (computed again when a
    /// refresh is due) against this thread's draw. A probability back at zero ends the
    /// throttling, so that admission is quiet again.
    #[cold]
    #[inline(never)]
    fn throttle_refusal(&self, word: Word) -> Option<CircuitBreakerError> {
        let throttle = self.inner.tally.throttle()?;
        let now = self.now();
        let p = if throttle.stale(now) {
            throttle.refresh(now)
        } else {
            throttle.probability()
        };
        if p == 0 {
            self.set_throttling(word, false);
            return None;
        }
        if crate::throttle::draw() >= p {
            return None;
        }
        throttle.refused(now);
        Some(CircuitBreakerError::throttled(self.inner.name.clone(), p))
    }

    /// Sets or clears the throttling flag of a closed `word`'s generation (a change of
    /// state since clears it anyway).
    fn set_throttling(&self, mut word: Word, on: bool) {
        while word.state() == State::Closed && word.is_throttling() != on {
            let next = word.with_throttling(on);
            match self
                .inner
                .word
                .compare_exchange(word.0, next.0, AcqRel, Acquire)
            {
                Ok(_) => return,
                Err(actual) => word = Word(actual),
            }
        }
    }

    /// A closed breaker's throttle after a failure at `now`: its probability computed
    /// again, and the throttling flag set once it is above zero.
    #[cold]
    #[inline(never)]
    fn throttle_after_failure(&self, now: u64) {
        if let Some(throttle) = self.inner.tally.throttle() {
            let p = throttle.refresh(now);
            self.set_throttling(self.word(), p > 0);
        }
    }

    /// The throttle's refusal, returned as the `Err` it is, and told.
    #[inline(always)]
    fn refuse<const ANSWERED: bool>(
        &self,
        error: CircuitBreakerError,
    ) -> Result<Permit<'_>, CircuitBreakerError> {
        let refusal = Err(error);
        if let Err(error) = &refusal {
            events::throttled(self, error, ANSWERED);
        }
        refusal
    }

    /// The probability, in [0, 1], with which the throttle refuses a call now: `None`
    /// for a breaker without `throttle`; 0 while it is not throttling, and whenever the
    /// breaker is not closed (see the [`throttle`](crate::throttle) module).
    pub fn throttle_probability(&self) -> Option<f64> {
        let throttle = self.inner.tally.throttle()?;
        let word = self.word();
        // Only a closed word throttles: every change of state clears the flag.
        let p = if word.is_throttling() {
            throttle.probability()
        } else {
            0
        };
        Some(f64::from(p) / f64::from(crate::window::MILLION))
    }

    /// Builds the rejection in place, as the `Err` it is returned as: building the
    /// error first and moving it into the `Result` afterwards copies it with wide loads
    /// of narrow stores, which stalls store forwarding on the rejection path.
    #[inline(always)]
    fn reject<const ANSWERED: bool>(
        &self,
        error: CircuitBreakerError,
        word: Word,
        now: u64,
    ) -> Result<Permit<'_>, CircuitBreakerError> {
        let rejection = Err(error);
        if let Err(error) = &rejection {
            events::rejected(self, error, word, now, ANSWERED);
        }
        rejection
    }

    // --- recording ------------------------------------------------------------------

    /// Applies a permit's verdict. The common case (a success while closed, with no
    /// failure counted, no listener and no window) is one load and no write. `started`
    /// is the call's start time (microseconds) when listeners were attached at its
    /// admission or calls are timed; `error` is what the call returned, for listeners
    /// and tracing.
    #[inline(always)]
    pub(crate) fn record(
        &self,
        generation: u32,
        verdict: Verdict,
        started: Option<u64>,
        listened: bool,
        error: Option<Seen<'_>>,
    ) {
        events::counted(self, Counted::from(verdict));
        let word = self.word();
        if verdict == Verdict::Success && word.is_quiet_closed() {
            return;
        }
        if verdict == Verdict::Success && word.counts_plainly(generation) {
            // A rate policy's success: it only counts (a success never trips). A word
            // that counts plainly has no listener to tell.
            return self.count_success();
        }
        self.record_slow(word, generation, verdict, started, listened, error);
    }

    /// A failure that carries an upstream's advice (see [`Advice`]): never on the
    /// closed-state success path.
    #[cold]
    #[inline(never)]
    pub(crate) fn record_advised(
        &self,
        generation: u32,
        started: Option<u64>,
        listened: bool,
        error: Option<Seen<'_>>,
        advice: Advice,
    ) {
        events::counted(self, Counted::Failure);
        let word = self.word();
        self.record_outcome(
            word,
            generation,
            Verdict::Failure,
            started,
            listened,
            error,
            Some(advice),
        );
    }

    /// A closed rate policy's plain success, into its window. Out of line but not
    /// cold: for such a breaker it is every healthy call. Dated with the recent time
    /// (a load, where a clock read would be most of what this costs).
    #[inline(never)]
    fn count_success(&self) {
        self.inner
            .tally
            .count_success(|| self.inner.clock.recent_nanos());
    }

    #[cold]
    #[inline(never)]
    fn record_slow(
        &self,
        word: Word,
        generation: u32,
        verdict: Verdict,
        started: Option<u64>,
        listened: bool,
        error: Option<Seen<'_>>,
    ) {
        // A timed rate policy's closed-state success, unheard and not slow: it only
        // counts, so it skips the state machine below.
        let plain = verdict == Verdict::Success
            && !listened
            && word.is_timed()
            && word.is_counted()
            && word.state() == State::Closed
            && word.generation() == generation
            && !word.is_disabled();
        if let (true, Some(started)) = (plain, started) {
            let now = self.now();
            if !self.is_slow(started, now) {
                return self.inner.tally.count_success(|| now);
            }
        }
        self.record_outcome(word, generation, verdict, started, listened, error, None);
    }

    /// Whether a call that started at `started` (microseconds, from its permit) and
    /// ended at `now` took strictly longer than `slow_call`.
    fn is_slow(&self, started: u64, now: u64) -> bool {
        let elapsed = events::micros(now).wrapping_sub(started) & events::MICROS_MASK;
        u128::from(elapsed) * 1_000 > u128::from(self.inner.rules.slow_call)
    }

    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn record_outcome(
        &self,
        mut word: Word,
        generation: u32,
        verdict: Verdict,
        started: Option<u64>,
        listened: bool,
        error: Option<Seen<'_>>,
        advice: Option<Advice>,
    ) {
        let inner = &*self.inner;
        let rules = &inner.rules;
        let current = word.generation() == generation && !word.is_disabled();
        // A window records the outcome (a rate's, `within`'s, a throttle's); the window
        // decides the trip, or consecutive failures counted in the word do.
        let counted = !matches!(inner.tally, Tally::Consecutive);
        let windowed = counted && rules.window_trips;
        self.failure_counted(current, verdict);
        // The clock is read once, and only when something needs it: a window, a slow
        // call, a half-open deadline, an opening.
        let mut clock = None;
        let mut now = || *clock.get_or_insert_with(|| self.now());
        let slow = match started {
            Some(started) if word.is_timed() && verdict != Verdict::Ignore => {
                self.is_slow(started, now())
            }
            _ => false,
        };
        // An advice with a failure that counts (closed, or a probe's: a permit of the
        // current generation is never one of an open word, since opening moves the
        // generation on): the latest is kept, as a deadline, for the opening it leads
        // to. A late one changes nothing.
        let advice = advice.filter(|_| current && verdict == Verdict::Failure);
        if let Some(advice) = advice {
            let until = now().saturating_add(crate::clock::duration_to_nanos(advice.delay()));
            let until_ms = until.div_ceil(1_000_000);
            inner
                .advice
                .store(Packed::new(until_ms, advice.source()).0, Relaxed);
        }
        // With `open_on_retry_after` (the breaker's, or the advice's own), such a failure
        // opens a closed breaker at once.
        let at_once = advice.is_some_and(|a| rules.open_on_advice || a.opens_at_once());
        // A closed breaker's window takes the outcome once, before the state is
        // decided; whether it trips is then a matter of one swap.
        let recorded = current
            && counted
            && word.state() == State::Closed
            && inner.tally.record(verdict, slow, now(), rules);
        let trips = windowed && current && word.state() == State::Closed && (recorded || at_once);
        // Proceeds when the verdict belongs to the current generation and changes the
        // word: a failure to count (opening at `fail_max`), a failure count to reset, a
        // window that trips, a probe's result. A failed swap means another thread
        // changed the word first; the verdict is weighed again against what it left
        // (and discarded if that was a new generation).
        let mut attempt = None;
        let mut timed_out = false;
        let changed = loop {
            if word.generation() != generation || word.is_disabled() {
                break None; // granted under an earlier state, or disabled: discarded
            }
            let next = match (word.state(), verdict) {
                (State::Closed, _) if windowed => {
                    if !trips {
                        break None;
                    }
                    let next = word.enter(State::Open);
                    attempt = Some(self.raise_deadline(word, next, now()));
                    next
                }
                (State::Closed, Verdict::Success) if word.failures() != 0 => word.with_failures(0),
                (State::Closed, Verdict::Failure) => {
                    let failures = word.failures().saturating_add(1);
                    if failures >= rules.fail_max || at_once {
                        let next = word.with_failures(failures).enter(State::Open);
                        attempt = Some(self.raise_deadline(word, next, now()));
                        next
                    } else {
                        word.with_failures(failures)
                    }
                }
                // Every permit of a half-open generation is a probe, in flight until its
                // verdict: the guard keeps a broken word from being released below zero.
                (State::HalfOpen, verdict) if word.in_flight() != 0 => {
                    let deadline = inner.probe_until.load(Relaxed);
                    timed_out = now() >= deadline;
                    let next = if timed_out {
                        // Too late: the probe failed at its deadline; its result is
                        // discarded.
                        word.reopened()
                    } else {
                        self.probe_result(word, verdict, slow)
                    };
                    if next.state() == State::Open {
                        let at = if timed_out { deadline } else { now() };
                        attempt = Some(self.raise_deadline(word, next, at));
                    }
                    next
                }
                _ => break None,
            };
            match inner.word.compare_exchange(word.0, next.0, AcqRel, Acquire) {
                Ok(_) => break Some((word, next)),
                Err(actual) => {
                    word = Word(actual);
                    attempt = None;
                }
            }
        };
        if !trips
            && current
            && verdict == Verdict::Failure
            && word.state() == State::Closed
            && inner.tally.throttle().is_some()
        {
            // A failure that did not open the breaker: its throttle may start refusing.
            self.throttle_after_failure(now());
        }
        let verdict = if timed_out { Verdict::Failure } else { verdict };
        if let Some((from, to)) = changed {
            if let (Some((attempt, advised)), State::Open) = (attempt, to.state()) {
                let by_advice = at_once && from.state() == State::Closed;
                self.opened(
                    attempt,
                    if by_advice {
                        advised.flagged()
                    } else {
                        advised
                    },
                );
            }
            if to.state() == State::Closed && from.failures() != 0 && to.failures() == 0 {
                // A success reset the failure count: the failures before it, and their
                // advice, no longer count toward an opening.
                inner.advice.store(0, Relaxed);
                events::failures_forgotten(self);
            }
        }
        let outcome = started
            .filter(|_| listened)
            .map(|started| events::outcome_since(self, verdict, started, error));
        if let Some(outcome) = &outcome {
            events::ended(self, outcome);
        }
        if let Some((from, to)) = changed {
            let cause = outcome.unwrap_or(CallOutcome::new(verdict, error, None));
            let now = clock.unwrap_or_else(|| self.now());
            // A probe's late result is discarded: its timeout, not its outcome, decided.
            let trigger = if timed_out {
                Trigger::ProbeTimedOut
            } else {
                Trigger::Call(Some(&cause))
            };
            self.announce(from, to, now, trigger);
            // (A closed word never defers to the fleet: `from` is the half-open one.)
            if from.defers_to_fleet() {
                // The fleet's probe ended (a neutral end too: it gives the lease back),
                // reported once its transition is announced (a reopening's trace is then
                // known, for the report to carry).
                events::fleet_probe_settled(self, verdict);
            }
        }
    }

    /// A failure that counts (this generation's, the breaker enabled): its observers may
    /// keep what it needs to be traced back to (an opening links to the calls that
    /// caused it, with `opentelemetry`; without, nobody observes it).
    #[inline(always)]
    fn failure_counted(&self, current: bool, verdict: Verdict) {
        if current && verdict == Verdict::Failure {
            events::failed(self);
        }
    }

    /// A half-open breaker's word after one of its probes ended with `verdict`.
    fn probe_result(&self, word: Word, verdict: Verdict, slow: bool) -> Word {
        let rules = &self.inner.rules;
        let released = word.with_probe_released();
        let failed = verdict == Verdict::Failure;
        match verdict {
            Verdict::Ignore => released,
            _ if !word.is_counted() => {
                if failed {
                    return word.reopened();
                }
                let successes = word.successes() + 1;
                if successes >= rules.success_threshold {
                    word.without_counters().enter(State::Closed)
                } else {
                    released.with_failures(0).with_successes(successes)
                }
            }
            _ => {
                // A rate policy: reopen as soon as the failed (or slow) probes alone reach
                // the rate over the period's probes; close once all are recorded below it.
                let failures = word.probe_failures() + u32::from(failed);
                let slow = word.slow_probes() + u32::from(slow);
                let successes = word.successes() + u32::from(!failed);
                let period = rules.success_threshold;
                if rules.probes_reopen(failures, slow, period) {
                    word.reopened()
                } else if successes + failures >= period {
                    word.without_counters().enter(State::Closed)
                } else {
                    released
                        .with_successes(successes)
                        .with_probe_tally(failures, slow)
                }
            }
        }
    }

    /// Reports a change won by this thread's compare-and-swap: each is announced exactly
    /// once. A change of state has its effects here and reaches every observer; a change
    /// of sticky mode alone (`disable()` on a closed breaker) reaches those that name
    /// modes (`tracing`).
    fn announce(&self, from: Word, to: Word, now: u64, trigger: Trigger<'_>) {
        // The phase names the state (a forced-open word is open, a disabled one
        // closed): the same phase is the same state and the same sticky mode.
        if from.phase() == to.phase() {
            return;
        }
        let moved = from.state() != to.state();
        if moved {
            self.inner.changed_at.fetch_max(now, Relaxed);
            // Closing (by a probe, by hand, by the fleet; not by `disable`) starts the
            // window, the `within` count and the backoff over.
            if to.state() == State::Closed && !to.is_disabled() {
                self.closed();
            }
        }
        events::transition(self, from, to, trigger);
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

#[cfg(all(test, not(loom)))]
mod tests;

#[cfg(all(test, not(loom)))]
mod footprint {
    /// The memory per breaker that BENCHMARKS.md reports, held: a consecutive breaker
    /// (the default, and each of a keyed set) is one allocation of its `Inner`; a
    /// policy's window is a separate one, so it costs nothing where it is not used.
    #[test]
    fn memory_per_breaker_stays_as_documented() {
        // 272 bytes (288 with `metrics`) with the events' sinks, which `events` holds to
        // their own size: 48 bytes (64); 16 of them the advice an opening follows; and
        // its settings, behind a pointer, which the breakers of a keyed set share (184
        // bytes).
        let sinks = std::mem::size_of::<crate::events::Sinks>();
        assert!(std::mem::size_of::<super::Inner>() <= 224 + sinks);
        assert!(std::mem::size_of::<crate::Config>() <= 184);
        assert!(std::mem::size_of::<crate::lanes::Lanes>() <= 176);
        assert!(std::mem::size_of::<crate::window::Tally>() <= 16);
        assert!(std::mem::size_of::<crate::window::Rate>() <= 264);
        assert!(std::mem::size_of::<crate::window::Within>() <= 56);
    }

    /// The word lies at least a cache line past the `Arc`'s counts (16 bytes before
    /// `Inner`), which owned permits write on every call.
    #[test]
    fn the_word_is_off_the_reference_counts_line() {
        assert!(16 + std::mem::offset_of!(super::Inner, word) >= 64);
    }
}
