//! The permission to make one call, and the verdict that ends it.

use std::fmt;

use crate::CircuitBreaker;

/// What a finished call means to the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The dependency answered: resets the failure streak, counts towards closing.
    Success,
    /// The dependency failed.
    Failure,
    /// Says nothing about the dependency: counts nothing, frees a probe slot.
    Ignore,
}

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
    generation: u32,
    probe: bool,
    armed: bool,
}

impl<'a> Permit<'a> {
    #[inline(always)]
    pub(crate) fn new(breaker: &'a CircuitBreaker, generation: u32, probe: bool) -> Self {
        Permit {
            breaker,
            generation,
            probe,
            armed: true,
        }
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

    /// The call's outcome says nothing about the dependency's health (Resilience4j's
    /// ignored exceptions): nothing is counted, and a half-open probe slot is freed for
    /// the next caller.
    #[inline]
    pub fn ignore(self) {
        self.finish(Verdict::Ignore);
    }

    /// Reports `Ok` as a success and `Err` as a failure.
    #[inline]
    pub fn record<T, E>(self, result: &Result<T, E>) {
        self.finish(match result {
            Ok(_) => Verdict::Success,
            Err(_) => Verdict::Failure,
        });
    }

    /// True when this call is the half-open probe that will decide whether the breaker
    /// closes.
    pub fn is_probe(&self) -> bool {
        self.probe
    }

    /// The breaker this permit belongs to.
    pub fn breaker(&self) -> &'a CircuitBreaker {
        self.breaker
    }

    #[inline(always)]
    fn finish(mut self, verdict: Verdict) {
        self.armed = false;
        self.breaker.record(self.generation, verdict);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.armed {
            let verdict = if std::thread::panicking() {
                Verdict::Failure
            } else {
                Verdict::Ignore
            };
            self.breaker.record(self.generation, verdict);
        }
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("breaker", &self.breaker.name())
            .field("generation", &self.generation)
            .field("probe", &self.probe)
            .finish()
    }
}
