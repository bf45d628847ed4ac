//! Listeners: code you hook onto a breaker's events.
//!
//! A listener is attached to one breaker through its [`Builder`](crate::Builder), or to
//! every breaker in the process with [`add_global_listener`] (the only way to reach the
//! breakers that `#[circuit_breaker]` builds for you).
//!
//! Listeners run on the calling thread, after the state word has been updated and never
//! while any lock of the breaker is held (it has none), so a listener may call the breaker
//! it listens to. A listener that panics is contained: the panic is caught, the breaker's
//! state is already consistent, and the caller's result is unchanged.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

pub use crate::outcome::{CallError, CallOutcome};
use crate::{registry, CircuitBreaker, CircuitBreakerError, State, Verdict};

/// Hooks called on a breaker's events. Every method has an empty default body, so a
/// listener implements only what it cares about.
///
/// The events, in pybreaker's terms plus the one it lacks (rejections):
///
/// | method | when |
/// |---|---|
/// | [`before_call`](Listener::before_call) | a call was admitted and is about to run |
/// | [`on_outcome`](Listener::on_outcome) | a call ended: its verdict, its error, its duration |
/// | [`on_success`](Listener::on_success) | a call reported success |
/// | [`on_failure`](Listener::on_failure) | a call reported failure (or panicked) |
/// | [`on_ignored`](Listener::on_ignored) | a call reported a neutral outcome, or was cancelled |
/// | [`on_rejected`](Listener::on_rejected) | a call was refused without running |
/// | [`on_state_change`](Listener::on_state_change) | the breaker changed state |
///
/// `on_outcome` is the one the breaker calls when a call ends; its default body calls
/// `on_success`, `on_failure` or `on_ignored`, so implement either it (to see the error
/// and the duration, like pybreaker's `failure(cb, exc)`) or the three short ones.
///
/// An outcome's event comes before the transition it caused: the failure that opens a
/// breaker is reported by `on_failure`, then by `on_state_change(Closed, Open)`. Exactly
/// one thread reports each transition.
///
/// # Example
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
/// use breaker_runtime::{CircuitBreaker, Listener, State};
///
/// #[derive(Default)]
/// struct Trips(AtomicU32);
///
/// impl Listener for Trips {
///     fn on_state_change(&self, _: &CircuitBreaker, _from: State, to: State) {
///         if to == State::Open {
///             self.0.fetch_add(1, Ordering::Relaxed);
///         }
///     }
/// }
///
/// let trips = Arc::new(Trips::default());
/// let breaker = CircuitBreaker::builder("listener-doc")
///     .fail_max(2)
///     .listener_arc(trips.clone())
///     .build();
/// for _ in 0..2 {
///     let _ = breaker.call(|| Err::<(), Box<dyn std::error::Error + Send + Sync>>("down".into()));
/// }
/// assert_eq!(trips.0.load(Ordering::Relaxed), 1);
/// ```
pub trait Listener: Send + Sync + 'static {
    /// A call was admitted and is about to run.
    fn before_call(&self, breaker: &CircuitBreaker) {
        let _ = breaker;
    }

    /// A call ended. `outcome` says how it counted, the error it returned (also for an
    /// excluded or ignored error) and how long it ran, measured with the breaker's clock
    /// from admission (after `before_call`) to the verdict.
    ///
    /// The default calls [`on_success`](Self::on_success),
    /// [`on_failure`](Self::on_failure) or [`on_ignored`](Self::on_ignored).
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use breaker_runtime::listener::CallOutcome;
    /// use breaker_runtime::{CircuitBreaker, Listener, ManualClock, Verdict};
    ///
    /// #[derive(Default)]
    /// struct Failures(Mutex<Vec<String>>);
    ///
    /// impl Listener for Failures {
    ///     fn on_outcome(&self, _: &CircuitBreaker, outcome: &CallOutcome<'_>) {
    ///         if outcome.verdict() == Verdict::Failure {
    ///             let error = outcome.error().map(|e| e.to_string()).unwrap_or_default();
    ///             let took = outcome.elapsed().unwrap_or_default();
    ///             self.0.lock().unwrap().push(format!("{error} after {took:?}"));
    ///         }
    ///     }
    /// }
    ///
    /// let clock = ManualClock::new();
    /// let failures = Arc::new(Failures::default());
    /// let breaker = CircuitBreaker::builder("on-outcome-doc")
    ///     .clock(clock.clone())
    ///     .listener_arc(failures.clone())
    ///     .build();
    /// let _ = breaker.call(|| {
    ///     clock.advance(std::time::Duration::from_millis(250));
    ///     Err::<(), Box<dyn std::error::Error + Send + Sync>>("connection reset".into())
    /// });
    /// assert_eq!(*failures.0.lock().unwrap(), ["connection reset after 250ms"]);
    /// ```
    fn on_outcome(&self, breaker: &CircuitBreaker, outcome: &CallOutcome<'_>) {
        match outcome.verdict() {
            Verdict::Success => self.on_success(breaker),
            Verdict::Failure => self.on_failure(breaker),
            Verdict::Ignore => self.on_ignored(breaker),
        }
    }

    /// A call reported success (or an excluded error, which counts as one).
    fn on_success(&self, breaker: &CircuitBreaker) {
        let _ = breaker;
    }

    /// A call reported failure, panicked, or ran past its `call_timeout`.
    fn on_failure(&self, breaker: &CircuitBreaker) {
        let _ = breaker;
    }

    /// A call reported a neutral outcome (an ignored error), or its permit was dropped
    /// without a verdict (a cancelled future).
    fn on_ignored(&self, breaker: &CircuitBreaker) {
        let _ = breaker;
    }

    /// A call was refused without running.
    fn on_rejected(&self, breaker: &CircuitBreaker, error: &CircuitBreakerError) {
        let _ = (breaker, error);
    }

    /// The breaker went from `from` to `to`.
    fn on_state_change(&self, breaker: &CircuitBreaker, from: State, to: State) {
        let _ = (breaker, from, to);
    }
}

/// Identifies a global listener, to remove it with [`remove_global_listener`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenerId(u64);

static GLOBAL: RwLock<Vec<(ListenerId, Arc<dyn Listener>)>> = RwLock::new(Vec::new());
/// How many global listeners there are: the one number the hot path reads.
static GLOBAL_COUNT: AtomicUsize = AtomicUsize::new(0);
/// Bumped on every change, so threads know when their cached copy is stale.
static GLOBAL_VERSION: AtomicU64 = AtomicU64::new(0);
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// A list of listeners as one thread sees it.
type Snapshot = Arc<[Arc<dyn Listener>]>;

thread_local! {
    // Each thread keeps its own copy of the global list, so dispatching an event takes
    // no lock and touches no reference count that another thread also writes.
    static CACHE: RefCell<(u64, Snapshot)> =
        RefCell::new((u64::MAX, Arc::from(Vec::new())));
}

/// Attaches `listener` to every circuit breaker in the process, including the ones
/// `#[circuit_breaker]` creates, and those built later.
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use breaker_runtime::{listener, CircuitBreaker, CircuitBreakerError, Listener};
///
/// static REJECTED: AtomicU32 = AtomicU32::new(0);
///
/// struct CountRejections;
/// impl Listener for CountRejections {
///     fn on_rejected(&self, breaker: &CircuitBreaker, _: &CircuitBreakerError) {
///         if breaker.name() == "global-listener-doc" {
///             REJECTED.fetch_add(1, Ordering::Relaxed);
///         }
///     }
/// }
///
/// let id = listener::add_global_listener(CountRejections);
/// let breaker = CircuitBreaker::builder("global-listener-doc").build();
/// breaker.open();
/// assert!(breaker.try_acquire().is_err());
/// assert_eq!(REJECTED.load(Ordering::Relaxed), 1);
/// assert!(listener::remove_global_listener(id));
/// ```
pub fn add_global_listener(listener: impl Listener) -> ListenerId {
    add_global_listener_arc(Arc::new(listener))
}

/// [`add_global_listener`] for a listener you keep a reference to.
pub fn add_global_listener_arc(listener: Arc<dyn Listener>) -> ListenerId {
    let id = ListenerId(NEXT_ID.fetch_add(1, Ordering::Relaxed));
    let mut all = GLOBAL.write().unwrap_or_else(PoisonError::into_inner);
    all.push((id, listener));
    publish(all.len());
    drop(all);
    registry::relisten();
    id
}

/// Detaches a global listener. Returns false when `id` was already removed.
pub fn remove_global_listener(id: ListenerId) -> bool {
    let mut all = GLOBAL.write().unwrap_or_else(PoisonError::into_inner);
    let before = all.len();
    all.retain(|(each, _)| *each != id);
    publish(all.len());
    let removed = all.len() != before;
    drop(all);
    registry::relisten();
    removed
}

fn publish(count: usize) {
    GLOBAL_VERSION.fetch_add(1, Ordering::Release);
    GLOBAL_COUNT.store(count, Ordering::Release);
}

/// Whether any global listener is attached.
pub(crate) fn any_global() -> bool {
    GLOBAL_COUNT.load(Ordering::Relaxed) != 0
}

/// This thread's copy of the global listeners, refreshed when they changed.
pub(crate) fn global_snapshot() -> Snapshot {
    let version = GLOBAL_VERSION.load(Ordering::Acquire);
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.0 != version {
            let all = GLOBAL.read().unwrap_or_else(PoisonError::into_inner);
            *cache = (version, all.iter().map(|(_, l)| Arc::clone(l)).collect());
        }
        Arc::clone(&cache.1)
    })
}
