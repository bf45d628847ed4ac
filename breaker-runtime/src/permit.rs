//! The permission to make one call, and the verdict that ends it.

use std::fmt;

use crate::outcome::{CallError, Seen, Verdict};
use crate::{Advice, CircuitBreaker};

/// Permission to make one call through a breaker, from
/// [`CircuitBreaker::try_acquire`].
///
/// Make the call, then give exactly one verdict: [`success`](Permit::success),
/// [`failure`](Permit::failure) or [`ignore`](Permit::ignore). A permit dropped without a
/// verdict still reports, so no path can leave a half-open breaker waiting forever:
///
/// - dropped while its thread is panicking (the call panicked): a **failure**;
/// - dropped otherwise (a future cancelled mid-call, an early return): **neutral**, like
///   [`ignore`](Permit::ignore), which also frees the half-open probe slot.
///
/// A permit remembers the generation of the state it was granted in. If the breaker
/// changed state since (it opened while this call was running, say), the verdict is
/// discarded: a late result must not decide a state it never saw.
///
/// ```
/// use breaker_runtime::CircuitBreaker;
///
/// let breaker = CircuitBreaker::builder("permit-doc").fail_max(2).build();
/// let permit = breaker.try_acquire().expect("a closed breaker admits");
/// let answer: Result<u32, &str> = Err("connection refused");
/// match answer {
///     Ok(_) => permit.success(),
///     Err(_) => permit.failure(),
/// }
/// assert_eq!(breaker.fail_counter(), 1);
/// ```
#[must_use = "a permit reports a neutral outcome if dropped: give it a verdict with success(), failure() or ignore()"]
pub struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    /// Low half, the tag: the generation it was granted in, the flags below, and the
    /// high bits of the start time. High half: when listeners were attached at
    /// admission or calls are timed (the `STARTED` flag), the low 32 bits of the
    /// breaker's clock then, in microseconds (for the outcome's `elapsed` and for slow
    /// calls). One `u64`, so the permit is two plain words, built in registers and
    /// stored whole: two `u32` fields were stored apart and reloaded as one word when a
    /// permit moved into a future, which stalls on store forwarding (about 10 ns a call
    /// through the tower layer).
    bits: u64,
}

/// The tag and start time in one word.
#[inline(always)]
const fn pack(tag: u32, started: u32) -> u64 {
    tag as u64 | (started as u64) << 32
}

/// The tag of a permit's word.
#[inline(always)]
const fn tag_of(bits: u64) -> u32 {
    bits as u32
}

/// The low 32 bits of the start time in a permit's word.
#[inline(always)]
const fn started_of(bits: u64) -> u32 {
    (bits >> 32) as u32
}

const PROBE: u32 = 1 << 31;
/// Listeners were attached at admission: they hear of the outcome.
const LISTENED: u32 = 1 << 30;
/// The start time is kept.
const STARTED: u32 = 1 << 29;
/// The generation, as wide as the state word's, in the low bits.
const GENERATION: u32 = (1 << crate::state::GEN_BITS) - 1;
/// The start time's bits above the 32 in `started`: between the generation and the
/// flags.
const START_SHIFT: u32 = crate::state::GEN_BITS;
const START_HIGH: u32 = (STARTED - 1) & !GENERATION;
/// How many bits of a start time (microseconds) a permit keeps: 42, 50 days.
pub(crate) const START_BITS: u32 = 32 + START_HIGH.count_ones();

impl<'a> Permit<'a> {
    /// `started`: the call's start time (microseconds, 42 bits) when listeners were
    /// attached at admission (`listened`) or calls are timed.
    #[inline(always)]
    pub(crate) fn new(
        breaker: &'a CircuitBreaker,
        generation: u32,
        probe: bool,
        started: Option<u64>,
        listened: bool,
    ) -> Self {
        let mut tag = generation & GENERATION;
        if probe {
            tag |= PROBE;
        }
        if listened {
            tag |= LISTENED;
        }
        let mut low = 0;
        if let Some(started) = started {
            tag |= STARTED | (((started >> 32) as u32) << START_SHIFT) & START_HIGH;
            low = started as u32;
        }
        Permit {
            breaker,
            bits: pack(tag, low),
        }
    }

    /// The start time, when it was kept.
    #[inline(always)]
    fn started(tag: u32, started: u32) -> Option<u64> {
        (tag & STARTED != 0)
            .then(|| (u64::from((tag & START_HIGH) >> START_SHIFT) << 32) | u64::from(started))
    }

    /// The call succeeded: a closed breaker's failure count goes back to zero; a
    /// half-open breaker counts a successful probe, and closes once it has
    /// `success_threshold` of them.
    #[inline]
    pub fn success(self) {
        self.finish(Verdict::Success);
    }

    /// The call failed: a closed breaker counts it, and opens at `fail_max`; a failed
    /// half-open probe reopens the breaker and restarts its reset timer.
    #[inline]
    pub fn failure(self) {
        self.finish(Verdict::Failure);
    }

    /// The call failed, and the upstream said how long to wait before calling again (a
    /// `Retry-After`, a gRPC `RetryInfo`: see [`Advice`]): a failure, and when the
    /// breaker opens (from this failure or a later one: the latest advice counts), it
    /// stays open for the advised time, capped by
    /// [`retry_after_cap`](crate::Builder::retry_after_cap), instead of its
    /// `reset_timeout`; with [`open_on_retry_after`](crate::Builder::open_on_retry_after)
    /// it opens at once.
    #[inline]
    pub fn failure_with_advice(self, advice: Advice) {
        self.finish_advised(None, advice);
    }

    /// The call's outcome says nothing about the dependency's health (Resilience4j's
    /// ignored exceptions): nothing is counted, and a half-open probe slot is freed for
    /// the next caller.
    #[inline]
    pub fn ignore(self) {
        self.finish(Verdict::Ignore);
    }

    /// Reports `Ok` as a success and `Err` as a failure; listeners see the error through
    /// its `Display` and `Debug` forms (see
    /// [`CallOutcome::error`](crate::listener::CallOutcome::error)), and `tracing` gives
    /// its `Display` form as `exception.message`.
    // Always inlined: a closed success must stay two loads at the call site, and the
    // compiler's own estimate sometimes leaves this out of line.
    #[inline(always)]
    pub fn record<T, E: fmt::Debug + fmt::Display>(self, result: &Result<T, E>) {
        match result {
            Ok(_) => self.finish(Verdict::Success),
            Err(error) => self.finish_with(
                Verdict::Failure,
                Some(Seen::of::<E>(CallError::Display(error))),
            ),
        }
    }

    /// True when this call is the half-open probe that will decide whether the breaker
    /// closes.
    pub fn is_probe(&self) -> bool {
        tag_of(self.bits) & PROBE != 0
    }

    /// The breaker this permit belongs to.
    pub fn breaker(&self) -> &'a CircuitBreaker {
        self.breaker
    }

    #[inline(always)]
    pub(crate) fn finish(self, verdict: Verdict) {
        self.finish_with(verdict, None);
    }

    /// The verdict, with the error the call returned (for listeners and tracing).
    #[inline(always)]
    pub(crate) fn finish_with(self, verdict: Verdict, error: Option<Seen<'_>>) {
        // The verdict replaces the drop's: forgetting the permit skips `Drop`.
        let (breaker, bits) = (self.breaker, self.bits);
        std::mem::forget(self);
        let tag = tag_of(bits);
        let started = Permit::started(tag, started_of(bits));
        breaker.record(
            tag & GENERATION,
            verdict,
            started,
            tag & LISTENED != 0,
            error,
        );
    }
}

impl Permit<'_> {
    /// A failure with an upstream's advice, and the error the call returned.
    pub(crate) fn finish_advised(self, error: Option<Seen<'_>>, advice: Advice) {
        let (breaker, bits) = (self.breaker, self.bits);
        std::mem::forget(self);
        let tag = tag_of(bits);
        let started = Permit::started(tag, started_of(bits));
        breaker.record_advised(
            tag & GENERATION,
            started,
            tag & LISTENED != 0,
            error,
            advice,
        );
    }
}

impl Drop for Permit<'_> {
    #[inline]
    fn drop(&mut self) {
        // Fields by value: taking `&self` in the cold call would force the permit into
        // memory on the hot path.
        abandoned(self.breaker, self.bits);
    }
}

/// A permit dropped without a verdict: a panic is a failure, anything else (a cancelled
/// future) is neutral.
#[cold]
#[inline(never)]
fn abandoned(breaker: &CircuitBreaker, bits: u64) {
    let (tag, started) = (tag_of(bits), started_of(bits));
    let verdict = if std::thread::panicking() {
        Verdict::Failure
    } else {
        Verdict::Ignore
    };
    let started = Permit::started(tag, started);
    breaker.record(
        tag & GENERATION,
        verdict,
        started,
        tag & LISTENED != 0,
        None,
    );
}

/// The verdict methods of a permit that finishes through `self.finish(verdict, error)`
/// ([`OwnedPermit`], [`KeyedPermit`](crate::keyed::KeyedPermit)): the same five, with
/// the same meaning as [`Permit`]'s.
macro_rules! verdicts {
    () => {
        /// The call succeeded (see [`Permit::success`](crate::Permit::success)).
        #[inline]
        pub fn success(self) {
            self.finish($crate::Verdict::Success, None);
        }

        /// The call failed (see [`Permit::failure`](crate::Permit::failure)).
        #[inline]
        pub fn failure(self) {
            self.finish($crate::Verdict::Failure, None);
        }

        /// The call failed, with the upstream's advice of how long to wait (see
        /// [`Permit::failure_with_advice`](crate::Permit::failure_with_advice)).
        pub fn failure_with_advice(self, advice: $crate::Advice) {
            self.finish_advised(None, advice);
        }

        /// The outcome says nothing about the dependency (see
        /// [`Permit::ignore`](crate::Permit::ignore)).
        pub fn ignore(self) {
            self.finish($crate::Verdict::Ignore, None);
        }

        /// Gives `verdict`.
        #[inline]
        pub fn verdict(self, verdict: $crate::Verdict) {
            self.finish(verdict, None);
        }

        /// Reports `Ok` as a success and `Err` as a failure (see
        /// [`Permit::record`](crate::Permit::record)).
        pub fn record<T, E: ::std::fmt::Debug + ::std::fmt::Display>(self, result: &Result<T, E>) {
            match result {
                Ok(_) => self.finish($crate::Verdict::Success, None),
                Err(error) => self.finish(
                    $crate::Verdict::Failure,
                    Some($crate::outcome::Seen::of::<E>(
                        $crate::outcome::CallError::Display(error),
                    )),
                ),
            }
        }
    };
}
pub(crate) use verdicts;

/// A permit without its breaker: what a call holds when it cannot borrow the breaker
/// for as long as it runs (a keyed set's call looks its breaker up again at the end).
/// It must be [attached](Detached::attach) again to give its verdict; dropped, it
/// reports nothing.
pub(crate) struct Detached {
    bits: u64,
}

impl<'a> Permit<'a> {
    /// The permit without its breaker; no verdict is given.
    #[inline(always)]
    pub(crate) fn detach(self) -> Detached {
        let detached = Detached { bits: self.bits };
        std::mem::forget(self);
        detached
    }
}

impl Detached {
    /// The permit again, on `breaker`: the one it was granted by (a permit attached to
    /// another breaker would give a verdict to a generation it never saw).
    #[inline(always)]
    pub(crate) fn attach(self, breaker: &CircuitBreaker) -> Permit<'_> {
        Permit {
            breaker,
            bits: self.bits,
        }
    }

    pub(crate) fn is_probe(&self) -> bool {
        tag_of(self.bits) & PROBE != 0
    }
}

/// Permission to make one call, holding its breaker: the [`Permit`] for a call that
/// must own what it uses (a spawned task, a `'static` future), from
/// [`CircuitBreaker::try_acquire_owned`].
///
/// It clones the breaker's handle when granted (a reference count, one atomic add) and
/// gives its verdict as a [`Permit`] does; dropped without one, it reports the same
/// way (a failure while panicking, neutral otherwise).
///
/// ```
/// use breaker_runtime::CircuitBreaker;
///
/// let breaker = CircuitBreaker::builder("owned-permit-doc").build();
/// let permit = breaker.try_acquire_owned().unwrap();
/// std::thread::spawn(move || permit.success()).join().unwrap();
/// assert_eq!(breaker.fail_counter(), 0);
/// ```
#[must_use = "a permit reports a neutral outcome if dropped: give it a verdict with success(), failure() or ignore()"]
pub struct OwnedPermit {
    breaker: CircuitBreaker,
    permit: Option<Detached>,
}

impl OwnedPermit {
    pub(crate) fn new(breaker: CircuitBreaker, permit: Detached) -> Self {
        OwnedPermit {
            breaker,
            permit: Some(permit),
        }
    }

    verdicts!();

    /// True when this call is a half-open probe.
    pub fn is_probe(&self) -> bool {
        self.permit.as_ref().is_some_and(Detached::is_probe)
    }

    /// The breaker this permit belongs to.
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    // Inlined, so that `success()` gives a constant verdict and takes the success path
    // alone, as a borrowed permit's does.
    #[inline(always)]
    pub(crate) fn finish(mut self, verdict: Verdict, error: Option<Seen<'_>>) {
        if let Some(permit) = self.permit.take() {
            permit.attach(&self.breaker).finish_with(verdict, error);
        }
    }

    pub(crate) fn finish_advised(mut self, error: Option<Seen<'_>>, advice: Advice) {
        if let Some(permit) = self.permit.take() {
            permit.attach(&self.breaker).finish_advised(error, advice);
        }
    }
}

impl Drop for OwnedPermit {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            // The permit's own drop decides: failure while panicking, neutral otherwise.
            drop(permit.attach(&self.breaker));
        }
    }
}

impl fmt::Debug for OwnedPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedPermit")
            .field("breaker", &self.breaker.name())
            .field("probe", &self.is_probe())
            .finish()
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("breaker", &self.breaker.name())
            .field("generation", &(tag_of(self.bits) & GENERATION))
            .field("probe", &self.is_probe())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;
    use crate::outcome::CallOutcome;
    use crate::{AdviceSource, ManualClock, State};

    #[test]
    fn the_tag_packs_generation_start_and_flags_without_overlap() {
        assert_eq!(START_BITS, 42, "50 days of microseconds");
        assert_eq!(GENERATION & START_HIGH, 0);
        assert_eq!((GENERATION | START_HIGH) & (STARTED | LISTENED | PROBE), 0);
        let started = (1u64 << START_BITS) - 3;
        let breaker = crate::CircuitBreaker::builder("permit-tag")
            .unregistered()
            .build();
        let permit = Permit::new(&breaker, GENERATION, true, Some(started), true);
        let tag = tag_of(permit.bits);
        assert_eq!(Permit::started(tag, started_of(permit.bits)), Some(started));
        assert_eq!(tag & GENERATION, GENERATION);
        assert!(permit.is_probe() && tag & LISTENED != 0);
        permit.ignore();
        let plain = Permit::new(&breaker, 5, false, None, false);
        let tag = tag_of(plain.bits);
        assert_eq!(Permit::started(tag, started_of(plain.bits)), None);
        assert!(!plain.is_probe() && tag & LISTENED == 0);
        assert_eq!(tag & GENERATION, 5);
        plain.ignore();
    }

    /// What a listener heard: each outcome's verdict, error and duration.
    #[derive(Default)]
    struct Heard(Mutex<Vec<String>>);

    impl crate::Listener for Heard {
        fn on_outcome(&self, _: &CircuitBreaker, outcome: &CallOutcome<'_>) {
            let error = outcome.error().map(|e| e.to_string());
            self.0.lock().unwrap().push(format!(
                "{:?} {error:?} {:?}",
                outcome.verdict(),
                outcome.elapsed()
            ));
        }
    }

    impl Heard {
        fn take(&self) -> Vec<String> {
            std::mem::take(&mut self.0.lock().unwrap())
        }
    }

    fn breaker(name: &str, clock: &ManualClock) -> CircuitBreaker {
        CircuitBreaker::builder(name.to_string())
            .fail_max(3)
            .reset_timeout(Duration::from_secs(10))
            .clock(clock.clone())
            .unregistered()
            .build()
    }

    fn advice() -> Advice {
        Advice::new(Duration::from_secs(30), AdviceSource::RetryAfter).unwrap()
    }

    #[test]
    fn each_verdict_of_a_borrowed_permit_reaches_the_breaker() {
        let clock = ManualClock::new();
        let b = breaker("permit-verdicts", &clock);
        b.try_acquire().unwrap().failure();
        b.try_acquire().unwrap().failure();
        assert_eq!(b.fail_counter(), 2);
        b.try_acquire().unwrap().ignore();
        drop(b.try_acquire().unwrap());
        assert_eq!(b.fail_counter(), 2, "neutral: ignored, or dropped");
        b.try_acquire().unwrap().success();
        assert_eq!(b.fail_counter(), 0, "a success starts the count over");
        b.try_acquire().unwrap().record(&Err::<(), _>("refused"));
        assert_eq!(b.fail_counter(), 1);
        b.try_acquire().unwrap().record(&Ok::<_, &str>(()));
        assert_eq!(b.fail_counter(), 0);
        for _ in 0..3 {
            b.try_acquire().unwrap().failure_with_advice(advice());
        }
        assert_eq!(b.state(), State::Open);
        assert_eq!(
            b.open_period(),
            Some(Duration::from_secs(30)),
            "the advice's"
        );
        assert_eq!(
            b.try_acquire().unwrap_err().retry_after(),
            Some(Duration::from_secs(30))
        );
    }

    #[test]
    fn each_verdict_of_an_owned_permit_reaches_the_breaker() {
        let clock = ManualClock::new();
        let b = breaker("owned-verdicts", &clock);
        b.try_acquire_owned().unwrap().failure();
        b.try_acquire_owned().unwrap().verdict(Verdict::Failure);
        assert_eq!(b.fail_counter(), 2);
        b.try_acquire_owned().unwrap().ignore();
        drop(b.try_acquire_owned().unwrap());
        assert_eq!(b.fail_counter(), 2);
        b.try_acquire_owned().unwrap().success();
        assert_eq!(b.fail_counter(), 0);
        b.try_acquire_owned()
            .unwrap()
            .record(&Err::<(), _>("refused"));
        b.try_acquire_owned()
            .unwrap()
            .record(&Err::<(), _>("refused"));
        assert_eq!(b.fail_counter(), 2);
        b.try_acquire_owned().unwrap().record(&Ok::<_, &str>(()));
        assert_eq!(b.fail_counter(), 0);
        for _ in 0..3 {
            b.try_acquire_owned().unwrap().failure_with_advice(advice());
        }
        assert_eq!(b.open_period(), Some(Duration::from_secs(30)));
        let owned = b.try_acquire_owned();
        assert!(owned.is_err());
    }

    #[test]
    fn a_permit_dropped_while_panicking_is_a_failure() {
        let clock = ManualClock::new();
        let b = breaker("permit-panic", &clock);
        for owned in [false, true] {
            let b = b.clone();
            let result = std::panic::catch_unwind(move || {
                if owned {
                    let _permit = b.try_acquire_owned().unwrap();
                    panic!("the call panicked");
                } else {
                    let _permit = b.try_acquire().unwrap();
                    panic!("the call panicked");
                }
            });
            assert!(result.is_err());
        }
        assert_eq!(b.fail_counter(), 2, "both permits failed as they unwound");
    }

    #[test]
    fn the_probe_knows_it_is_one_and_its_verdict_decides() {
        let clock = ManualClock::new();
        let b = breaker("permit-probe", &clock);
        let closed = b.try_acquire().unwrap();
        assert!(!closed.is_probe());
        closed.success();
        let closed = b.try_acquire_owned().unwrap();
        assert!(!closed.is_probe());
        closed.success();
        b.open();
        clock.advance(Duration::from_secs(10));
        // A dropped probe frees its slot; a failed one reopens.
        let probe = b.try_acquire().unwrap();
        assert!(probe.is_probe());
        assert!(b.try_acquire().is_err(), "one probe at a time");
        drop(probe);
        let probe = b.try_acquire_owned().unwrap();
        assert!(probe.is_probe(), "the slot was free again");
        assert!(format!("{probe:?}").contains("probe: true"));
        probe.failure();
        assert_eq!(b.state(), State::Open);
        clock.advance(Duration::from_secs(10));
        let probe = b.try_acquire_owned().unwrap();
        drop(probe);
        let probe = b.try_acquire().unwrap();
        assert!(probe.is_probe());
        probe.success();
        assert_eq!(b.state(), State::Closed);
    }

    #[test]
    fn listeners_hear_each_outcome_with_its_error_and_duration() {
        let clock = ManualClock::new();
        let heard = Arc::new(Heard::default());
        let b = CircuitBreaker::builder("permit-heard")
            .fail_max(10)
            .clock(clock.clone())
            .listener_arc(heard.clone())
            .unregistered()
            .build();
        let ms = |n| clock.advance(Duration::from_millis(n));
        let permit = b.try_acquire().unwrap();
        ms(5);
        permit.record(&Err::<(), _>("reset"));
        let permit = b.try_acquire().unwrap();
        ms(7);
        permit.failure_with_advice(advice());
        let permit = b.try_acquire().unwrap();
        ms(1);
        drop(permit);
        let permit = b.try_acquire_owned().unwrap();
        ms(2);
        permit.failure_with_advice(advice());
        let permit = b.try_acquire_owned().unwrap();
        ms(3);
        permit.success();
        assert_eq!(
            heard.take(),
            [
                "Failure Some(\"reset\") Some(5ms)",
                "Failure None Some(7ms)",
                "Ignore None Some(1ms)",
                "Failure None Some(2ms)",
                "Success None Some(3ms)",
            ]
        );
    }

    #[test]
    fn a_late_verdict_of_an_earlier_state_is_discarded() {
        let clock = ManualClock::new();
        let b = breaker("permit-late", &clock);
        let early = b.try_acquire().unwrap();
        let early_owned = b.try_acquire_owned().unwrap();
        b.open();
        b.close();
        early.failure();
        early_owned.failure_with_advice(advice());
        assert_eq!(b.fail_counter(), 0, "granted under another generation");
    }

    #[test]
    fn permits_say_what_they_are() {
        let clock = ManualClock::new();
        let b = breaker("permit-debug", &clock);
        let permit = b.try_acquire().unwrap();
        assert_eq!(
            format!("{permit:?}"),
            "Permit { breaker: \"permit-debug\", generation: 0, probe: false }"
        );
        assert!(permit.breaker().ptr_eq(&b));
        permit.success();
        let owned = b.try_acquire_owned().unwrap();
        assert_eq!(
            format!("{owned:?}"),
            "OwnedPermit { breaker: \"permit-debug\", probe: false }"
        );
        assert!(owned.breaker().ptr_eq(&b));
        owned.success();
    }
}
