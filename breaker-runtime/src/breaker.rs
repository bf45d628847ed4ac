//! The circuit breaker: pybreaker's state machine on one atomic word.

use std::fmt;
use std::future::Future;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::builder::{Builder, Config, Limits};
use crate::clock::ClockSource;
use crate::listener::{self, CallError, CallOutcome, Listener};
use crate::permit::{Permit, Verdict};
use crate::state::{State, Word};
use crate::sync::AtomicU64;
use crate::Clock;
use crate::{registry, CircuitBreakerError};

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

// `repr(C)` keeps the order below: the word and the listener flag, read on every call,
// share the first cache line; the fields written on transitions come after.
#[repr(C)]
pub(crate) struct Inner {
    /// The packed [`Word`]: state, counters, probe flag and generation.
    word: AtomicU64,
    /// Whether this breaker has listeners of its own: read on every call, so it sits
    /// beside the word.
    has_listeners: bool,
    /// Clock time before which an open breaker rejects. Raised with `fetch_max` before
    /// the transition to open is published, so whoever sees the open state sees a
    /// deadline at least as late as the one that opening set.
    open_until: AtomicU64,
    /// Clock time until which a half-open probe holds its slot; raised the same way.
    probe_until: AtomicU64,
    /// Clock time of the last state change.
    changed_at: AtomicU64,
    name: &'static str,
    config: Config,
    limits: Limits,
    clock: ClockSource,
    /// A clock installed after the breaker was built ([`CircuitBreaker::set_clock`]).
    clock_override: OnceLock<ClockSource>,
    listeners: Box<[Arc<dyn Listener>]>,
    #[cfg(feature = "metrics")]
    counters: crate::metrics::Counters,
}

impl CircuitBreaker {
    /// Starts configuring a breaker called `name` (the name shows in errors, logs,
    /// metrics and the [`registry`](crate::registry)).
    pub fn builder(name: &'static str) -> Builder {
        Builder::new(name)
    }

    pub(crate) fn from_builder(builder: Builder) -> Self {
        let inner = Arc::new(Inner {
            word: AtomicU64::new(Word::INITIAL.0),
            has_listeners: !builder.listeners.is_empty(),
            open_until: AtomicU64::new(0),
            probe_until: AtomicU64::new(0),
            changed_at: AtomicU64::new(builder.clock.now_nanos()),
            name: builder.name,
            limits: Limits::from(&builder.config),
            config: builder.config,
            clock: builder.clock,
            clock_override: OnceLock::new(),
            listeners: builder.listeners.into_boxed_slice(),
            #[cfg(feature = "metrics")]
            counters: crate::metrics::Counters::new(),
        });
        let breaker = CircuitBreaker { inner };
        if builder.register {
            registry::register(&breaker);
        }
        breaker
    }

    pub(crate) fn from_inner(inner: Arc<Inner>) -> Self {
        CircuitBreaker { inner }
    }

    pub(crate) fn downgrade(&self) -> std::sync::Weak<Inner> {
        Arc::downgrade(&self.inner)
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
    pub fn calls(&self) -> crate::metrics::Calls {
        self.inner.counters.totals()
    }

    #[cfg(feature = "metrics")]
    pub(crate) fn counters(&self) -> &crate::metrics::Counters {
        &self.inner.counters
    }

    /// How long until a call may be let through as a probe: `None` while closed or
    /// forced open; the rest of `reset_timeout` while open; zero while half-open with the
    /// probe slot free; the rest of the running probe's lease while it is taken.
    pub fn retry_after(&self) -> Option<Duration> {
        let word = self.word();
        let until = match (word.state(), word.probe_in_flight()) {
            (State::Closed, _) => return None,
            (State::Open, _) if word.forced_open() => return None,
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

    fn now(&self) -> u64 {
        match self.inner.clock_override.get() {
            Some(clock) => clock.now_nanos(),
            None => self.inner.clock.now_nanos(),
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
        let installed = self
            .inner
            .clock_override
            .set(ClockSource::Custom(Arc::new(clock)))
            .is_ok();
        if installed {
            self.inner.open_until.store(0, Relaxed);
            self.inner.probe_until.store(0, Relaxed);
            self.inner.changed_at.store(self.now(), Relaxed);
            self.close();
        }
        installed
    }

    #[inline(always)]
    pub(crate) fn listening(&self) -> bool {
        self.inner.has_listeners || listener::any_global()
    }

    pub(crate) fn local_listeners(&self) -> &[Arc<dyn Listener>] {
        &self.inner.listeners
    }

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
        if word.state() == State::Closed {
            return Ok(self.admit(word.generation(), false));
        }
        self.acquire_slow(word)
    }

    #[inline(always)]
    fn admit(&self, generation: u32, probe: bool) -> Permit<'_> {
        let listening = self.listening();
        let started = if listening { self.before_call() } else { 0 };
        Permit::new(self, generation, probe, listening, started)
    }

    /// Tells the listeners of an admitted call, and returns its start time (after them),
    /// in microseconds: a scalar, so the permit stays in registers on the fast path.
    #[cold]
    #[inline(never)]
    fn before_call(&self) -> u32 {
        listener::dispatch(self, |l| l.before_call(self));
        micros(self.now())
    }

    #[cold]
    #[inline(never)]
    fn acquire_slow(&self, mut word: Word) -> Result<Permit<'_>, CircuitBreakerError> {
        let inner = &*self.inner;
        let now = self.now();
        loop {
            let next = match word.state() {
                State::Closed => return Ok(self.admit(word.generation(), false)),
                State::Open if word.forced_open() => {
                    return self.reject(CircuitBreakerError::forced_open(inner.name));
                }
                State::Open => {
                    let until = inner.open_until.load(Relaxed);
                    if now < until {
                        let wait = until - now;
                        return self.reject(CircuitBreakerError::open(inner.name, wait));
                    }
                    word.grant_probe().with_successes(0)
                }
                State::HalfOpen => {
                    if word.probe_in_flight() && now < inner.probe_until.load(Relaxed) {
                        return self.reject(CircuitBreakerError::probe_in_flight(inner.name));
                    }
                    word.grant_probe()
                }
            };
            inner
                .probe_until
                .fetch_max(now.saturating_add(inner.limits.probe_lease), Relaxed);
            match inner.word.compare_exchange(word.0, next.0, AcqRel, Acquire) {
                Ok(_) => {
                    self.announce(word, next, now, None);
                    return Ok(self.admit(next.generation(), true));
                }
                Err(actual) => word = Word(actual),
            }
        }
    }

    /// Builds the rejection in place, as the `Err` it is returned as: building the
    /// error first and moving it into the `Result` afterwards copies it with wide loads
    /// of narrow stores, which stalls store forwarding on the rejection path.
    #[inline(always)]
    fn reject(&self, error: CircuitBreakerError) -> Result<Permit<'_>, CircuitBreakerError> {
        #[cfg(feature = "metrics")]
        self.inner.counters.count(crate::metrics::Outcome::Rejected);
        let rejection = Err(error);
        if let Err(error) = &rejection {
            #[cfg(feature = "tracing")]
            tracing::debug!(breaker = self.name(), reason = ?error.kind(), "call rejected by circuit breaker: {error}");
            if self.listening() {
                listener::dispatch(self, |l| l.on_rejected(self, error));
            }
        }
        rejection
    }

    /// Applies a permit's verdict. The common case (a success while closed with no
    /// failures counted) is a single load and no write. `listening` holds the call's
    /// start time when there were listeners at admission, so the fast path need not ask
    /// again; `error` is what the call returned, for listeners and tracing.
    #[inline(always)]
    pub(crate) fn record(
        &self,
        generation: u32,
        verdict: Verdict,
        listening: Option<u32>,
        error: Option<CallError<'_>>,
    ) {
        let word = self.word();
        #[cfg(feature = "metrics")]
        self.inner.counters.count(verdict.into());
        if !(verdict == Verdict::Success && word.is_clean_closed()) {
            self.record_slow(word, generation, verdict, listening, error);
        } else if let Some(started) = listening {
            self.notify_outcome(verdict, started, error);
        }
    }

    #[cold]
    #[inline(never)]
    fn record_slow(
        &self,
        mut word: Word,
        generation: u32,
        verdict: Verdict,
        listening: Option<u32>,
        error: Option<CallError<'_>>,
    ) {
        let inner = &*self.inner;
        let limits = &inner.limits;
        let mut now = None;
        let open_at = |now: &mut Option<u64>| {
            let t = *now.get_or_insert_with(|| self.now());
            inner
                .open_until
                .fetch_max(t.saturating_add(limits.reset_timeout), Relaxed);
            t
        };
        let changed = loop {
            if word.generation() != generation || word.disabled() {
                break None; // granted under an earlier state, or disabled: discarded
            }
            let next = match (word.state(), verdict) {
                (State::Closed, Verdict::Success) if word.failures() != 0 => word.with_failures(0),
                (State::Closed, Verdict::Failure) => {
                    let failures = word.failures().saturating_add(1);
                    if failures >= limits.fail_max {
                        open_at(&mut now);
                        word.with_failures(failures).enter(State::Open)
                    } else {
                        word.with_failures(failures)
                    }
                }
                (State::HalfOpen, verdict) if word.probe_in_flight() => match verdict {
                    Verdict::Success => {
                        let successes = word.successes() + 1;
                        if successes >= limits.success_threshold {
                            word.with_failures(0).with_successes(0).enter(State::Closed)
                        } else {
                            word.with_failures(0)
                                .with_successes(successes)
                                .release_probe()
                        }
                    }
                    Verdict::Failure => {
                        open_at(&mut now);
                        word.with_failures(word.failures().saturating_add(1))
                            .enter(State::Open)
                    }
                    Verdict::Ignore => word.release_probe(),
                },
                _ => break None,
            };
            match inner.word.compare_exchange(word.0, next.0, AcqRel, Acquire) {
                Ok(_) => break Some((word, next)),
                Err(actual) => word = Word(actual),
            }
        };
        let outcome = listening.map(|started| self.outcome(verdict, started, error));
        if let Some(outcome) = &outcome {
            listener::dispatch(self, |l| l.on_outcome(self, outcome));
        }
        if let Some((from, to)) = changed {
            if from.state() != to.state() {
                let cause = outcome.unwrap_or(CallOutcome::new(verdict, error, None));
                self.announce(from, to, now.unwrap_or_else(|| self.now()), Some(&cause));
            }
        }
    }

    /// The outcome of a call that started at `started` (microseconds), as of now.
    fn outcome<'e>(
        &self,
        verdict: Verdict,
        started: u32,
        error: Option<CallError<'e>>,
    ) -> CallOutcome<'e> {
        let elapsed = micros(self.now()).wrapping_sub(started);
        CallOutcome::new(
            verdict,
            error,
            Some(Duration::from_micros(u64::from(elapsed))),
        )
    }

    #[cold]
    #[inline(never)]
    fn notify_outcome(&self, verdict: Verdict, started: u32, error: Option<CallError<'_>>) {
        let outcome = self.outcome(verdict, started, error);
        listener::dispatch(self, |l| l.on_outcome(self, &outcome));
    }

    /// Reports a state change won by this thread's compare-and-swap: each transition is
    /// announced exactly once. `cause` is the call whose outcome made it, if one did.
    fn announce(&self, from: Word, to: Word, now: u64, cause: Option<&CallOutcome<'_>>) {
        let (from, to) = (from.state(), to.state());
        if from == to {
            return;
        }
        self.inner.changed_at.fetch_max(now, Relaxed);
        #[cfg(feature = "metrics")]
        crate::metrics::transition(self, from, to);
        #[cfg(feature = "tracing")]
        {
            let name = self.name();
            let error = cause
                .and_then(CallOutcome::error)
                .map(tracing::field::display);
            let elapsed = cause
                .and_then(CallOutcome::elapsed)
                .map(tracing::field::debug);
            if to == State::Open {
                tracing::warn!(breaker = name, from = %from, to = %to, error, elapsed, "circuit breaker '{name}' opened");
            } else {
                tracing::info!(breaker = name, from = %from, to = %to, error, elapsed, "circuit breaker '{name}' is now {to}");
            }
        }
        #[cfg(not(feature = "tracing"))]
        let _ = cause;
        if self.listening() {
            listener::dispatch(self, |l| l.on_state_change(self, from, to));
        }
    }

    /// Applies a manual transition: `change` maps the current word to the next one, or
    /// to `None` when there is nothing to do.
    fn force(&self, now: u64, change: impl Fn(Word) -> Option<Word>) {
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
    pub fn open(&self) {
        let now = self.now();
        self.inner
            .open_until
            .fetch_max(now.saturating_add(self.inner.limits.reset_timeout), Relaxed);
        self.force(now, |w| {
            let next = match w.state() {
                State::Open => w.unstuck(),
                _ => w.unstuck().enter(State::Open),
            };
            (next != w).then_some(next)
        });
    }

    /// Moves the breaker to half-open: the next call is a probe. The success count
    /// restarts from zero; any probe running is forgotten (its result is discarded).
    pub fn half_open(&self) {
        self.force(self.now(), |w| {
            let next = match w.state() {
                State::HalfOpen => w.unstuck(),
                _ => w.unstuck().enter(State::HalfOpen),
            }
            .with_successes(0);
            (next != w).then_some(next)
        });
    }

    /// Closes the breaker and resets both counters. Calls in flight from before are
    /// discarded when they finish. Also ends [`force_open`](Self::force_open) and
    /// [`disable`](Self::disable).
    pub fn close(&self) {
        self.force(self.now(), |w| {
            let next = match w.state() {
                State::Closed => w.unstuck(),
                _ => w.unstuck().enter(State::Closed),
            }
            .with_failures(0)
            .with_successes(0);
            (next != w).then_some(next)
        });
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
        self.force(self.now(), |w| (!w.forced_open()).then(|| w.force_open()));
    }

    /// Turns the breaker into a pass-through: every call is admitted and no outcome is
    /// counted (Resilience4j's `DISABLED`), until [`close`](Self::close) (or
    /// [`open`](Self::open), [`half_open`](Self::half_open)). Its state reads `closed`.
    pub fn disable(&self) {
        self.force(self.now(), |w| (!w.disabled()).then(|| w.disable()));
    }

    /// True between [`force_open`](Self::force_open) and the next manual transition.
    pub fn is_forced_open(&self) -> bool {
        self.word().forced_open()
    }

    /// True between [`disable`](Self::disable) and the next manual transition.
    pub fn is_disabled(&self) -> bool {
        self.word().disabled()
    }

    /// Runs `f` through the breaker: rejected without running while open, otherwise
    /// run and its `Ok`/`Err` counted as a success/failure. A rejection comes back in
    /// `f`'s own error type, so `E` must implement `From<CircuitBreakerError>`
    /// (`Box<dyn Error + Send + Sync>` and `anyhow::Error` do already), and `Debug`, the
    /// form in which [listeners](crate::Listener::on_outcome) see the error (the
    /// attribute shows them an error type's `std::error::Error` side). A panic in `f`
    /// counts as a failure and keeps unwinding.
    ///
    /// ```
    /// use breaker_runtime::{CircuitBreaker, State};
    ///
    /// type BoxError = Box<dyn std::error::Error + Send + Sync>;
    /// let breaker = CircuitBreaker::builder("call-doc").fail_max(2).build();
    ///
    /// let down = || -> Result<(), BoxError> { Err("connection refused".into()) };
    /// assert_eq!(breaker.call(down).unwrap_err().to_string(), "connection refused");
    /// assert_eq!(breaker.call(down).unwrap_err().to_string(), "connection refused");
    /// assert_eq!(breaker.state(), State::Open);
    ///
    /// let rejected = breaker.call(|| -> Result<(), BoxError> { unreachable!() });
    /// assert!(rejected.unwrap_err().to_string().contains("'call-doc' is open"));
    /// ```
    #[inline]
    pub fn call<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce() -> Result<T, E>,
        E: From<CircuitBreakerError> + fmt::Debug,
    {
        let permit = self.try_acquire()?;
        let result = f();
        permit.record(&result);
        result
    }

    /// Awaits `future` through the breaker: the future-based twin of
    /// [`call`](Self::call). A rejected future is dropped without being polled. If the
    /// returned future is itself dropped before it finishes (a timeout, a `select!`), the
    /// call counts as neutral and frees the half-open probe slot.
    ///
    /// It needs no particular async runtime.
    ///
    /// ```
    /// use breaker_runtime::CircuitBreaker;
    ///
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     use std::task::{Context, Poll, Waker};
    /// #     let mut f = std::pin::pin!(f);
    /// #     loop {
    /// #         if let Poll::Ready(v) = f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
    /// #             return v;
    /// #         }
    /// #     }
    /// # }
    /// type BoxError = Box<dyn std::error::Error + Send + Sync>;
    /// let breaker = CircuitBreaker::builder("call-async-doc").build();
    /// let answer = block_on(breaker.call_async(async { Ok::<_, BoxError>(42) }));
    /// assert_eq!(answer.unwrap(), 42);
    /// ```
    pub async fn call_async<T, E, F>(&self, future: F) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
        E: From<CircuitBreakerError> + fmt::Debug,
    {
        let permit = self.try_acquire()?;
        let result = future.await;
        permit.record(&result);
        result
    }
}

/// A clock reading in microseconds, wrapping at 32 bits (71 minutes): a call's start,
/// kept in the permit beside its tag.
#[inline]
fn micros(nanos: u64) -> u32 {
    (nanos / 1_000) as u32
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
