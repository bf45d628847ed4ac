//! Feature `metrics`: every call counted, published through the [`metrics`] facade so any
//! exporter (Prometheus, StatsD, ...) sees it.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `circuit_breaker_calls_total` | counter | `breaker`, `outcome` = `success`, `failure`, `rejected`, `ignored` |
//! | `circuit_breaker_state` | gauge: 0 closed, 1 open, 2 half-open | `breaker` |
//! | `circuit_breaker_transitions_total` | counter | `breaker`, `from`, `to` (`closed`, `open`, `half-open`) |
//!
//! Counting must not bring back the cross-core write that the closed path avoids, so
//! each thread counts in a block of its own for each breaker (a plain load and store, no
//! atomic read-modify-write, on a cache line no other core writes). The totals are summed
//! from all blocks and handed to the facade by [`publish`]: call it where your exporter
//! renders (a Prometheus `/metrics` handler, a timer). Transitions are published as they
//! happen, together with their breaker's call counts.
//!
//! ```
//! use breaker_runtime::{metrics, CircuitBreaker};
//!
//! let breaker = CircuitBreaker::builder("metrics-doc").build();
//! let _ = breaker.call(|| Ok::<_, Box<dyn std::error::Error + Send + Sync>>(1));
//! assert_eq!(breaker.calls().success, 1);
//! metrics::publish(); // before your exporter renders
//! ```

use std::cell::RefCell;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use crate::{registry, CircuitBreaker, State};

/// A call's outcome, as counted.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Outcome {
    Success = 0,
    Failure = 1,
    Rejected = 2,
    Ignored = 3,
}

impl From<crate::permit::Verdict> for Outcome {
    #[inline(always)]
    fn from(verdict: crate::permit::Verdict) -> Self {
        match verdict {
            crate::permit::Verdict::Success => Outcome::Success,
            crate::permit::Verdict::Failure => Outcome::Failure,
            crate::permit::Verdict::Ignore => Outcome::Ignored,
        }
    }
}

/// Calls through one breaker since it was built, by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Calls {
    /// Calls that succeeded (including excluded errors).
    pub success: u64,
    /// Calls that failed, panicked or timed out.
    pub failure: u64,
    /// Calls refused without running.
    pub rejected: u64,
    /// Calls with a neutral outcome (ignored errors, cancelled futures).
    pub ignored: u64,
}

/// One thread's counts for one breaker; written only by that thread.
#[repr(align(64))]
#[derive(Default)]
struct Block([AtomicU64; 4]);

/// A breaker's counting state.
pub(crate) struct Counters {
    id: u64,
    /// Every thread's block, for summing; locked only when a thread first counts and
    /// when totals are read.
    blocks: Mutex<Vec<Arc<Block>>>,
    /// The facade's handles for this breaker, registered on first use so that publishing
    /// and transitions do not build (and allocate) metric keys every time.
    handles: OnceLock<Handles>,
}

/// Registered metric handles of one breaker. They bind to the recorder installed when
/// they are first used: install yours before the first call, as `metrics` advises.
struct Handles {
    calls: [metrics::Counter; 4],
    state: metrics::Gauge,
    /// Indexed by `from * 3 + to`.
    transitions: [metrics::Counter; 9],
}

const STATES: [State; 3] = [State::Closed, State::Open, State::HalfOpen];

fn index(state: State) -> usize {
    match state {
        State::Closed => 0,
        State::Open => 1,
        State::HalfOpen => 2,
    }
}

impl Handles {
    fn register(name: &'static str) -> Self {
        describe();
        Handles {
            calls: OUTCOMES.map(|outcome| {
                metrics::counter!("circuit_breaker_calls_total", "breaker" => name, "outcome" => outcome)
            }),
            state: metrics::gauge!("circuit_breaker_state", "breaker" => name),
            transitions: std::array::from_fn(|i| {
                let (from, to) = (STATES[i / 3], STATES[i % 3]);
                metrics::counter!(
                    "circuit_breaker_transitions_total",
                    "breaker" => name, "from" => from.as_str(), "to" => to.as_str()
                )
            }),
        }
    }
}

impl Counters {
    pub(crate) fn new() -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        Counters {
            id: NEXT_ID.fetch_add(1, Relaxed),
            blocks: Mutex::new(Vec::new()),
            handles: OnceLock::new(),
        }
    }

    /// Counts one call on this thread's block.
    #[inline]
    pub(crate) fn count(&self, outcome: Outcome) {
        // A thread that is exiting has no block any more: that call goes uncounted.
        let _ = LOCAL.try_with(|local| {
            let mut local = local.borrow_mut();
            if local.id != self.id {
                local.switch_to(self);
            }
            if let Some(block) = &local.block {
                let n = &block.0[outcome as usize];
                // Single writer: a load and a store, not a locked read-modify-write.
                n.store(n.load(Relaxed) + 1, Relaxed);
            }
        });
    }

    pub(crate) fn totals(&self) -> Calls {
        let blocks = self.blocks.lock().unwrap_or_else(PoisonError::into_inner);
        let sum = |i: usize| blocks.iter().map(|b| b.0[i].load(Relaxed)).sum();
        Calls {
            success: sum(0),
            failure: sum(1),
            rejected: sum(2),
            ignored: sum(3),
        }
    }
}

/// This thread's blocks: the one in use, and the others by breaker id.
struct Local {
    id: u64,
    block: Option<Arc<Block>>,
    all: Vec<(u64, Arc<Block>)>,
}

thread_local! {
    static LOCAL: RefCell<Local> = const {
        RefCell::new(Local { id: u64::MAX, block: None, all: Vec::new() })
    };
}

impl Local {
    #[cold]
    fn switch_to(&mut self, counters: &Counters) {
        let block = match self.all.iter().find(|(id, _)| *id == counters.id) {
            Some((_, block)) => block.clone(),
            None => {
                // Forget blocks whose breaker is gone (only this thread still holds them).
                self.all.retain(|(_, b)| Arc::strong_count(b) > 1);
                let block = Arc::new(Block::default());
                counters
                    .blocks
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(block.clone());
                self.all.push((counters.id, block.clone()));
                block
            }
        };
        self.id = counters.id;
        self.block = Some(block);
    }
}

const OUTCOMES: [&str; 4] = ["success", "failure", "rejected", "ignored"];

fn state_value(state: State) -> f64 {
    match state {
        State::Closed => 0.0,
        State::Open => 1.0,
        State::HalfOpen => 2.0,
    }
}

/// Hands the current counts and states of every registered breaker to the `metrics`
/// facade. Call it right before your exporter renders.
pub fn publish() {
    for breaker in registry::all() {
        publish_breaker(&breaker);
    }
}

fn describe() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        metrics::describe_counter!(
            "circuit_breaker_calls_total",
            "Calls through a circuit breaker, by outcome"
        );
        metrics::describe_gauge!(
            "circuit_breaker_state",
            "Circuit breaker state: 0 closed, 1 open, 2 half-open"
        );
        metrics::describe_counter!(
            "circuit_breaker_transitions_total",
            "Circuit breaker state changes"
        );
    });
}

pub(crate) fn publish_breaker(breaker: &CircuitBreaker) {
    let handles = breaker.metric_handles();
    let c = breaker.calls();
    for (counter, n) in handles
        .calls
        .iter()
        .zip([c.success, c.failure, c.rejected, c.ignored])
    {
        counter.absolute(n);
    }
    handles.state.set(state_value(breaker.state()));
}

/// A transition, published as it happens.
pub(crate) fn transition(breaker: &CircuitBreaker, from: State, to: State) {
    breaker.metric_handles().transitions[index(from) * 3 + index(to)].increment(1);
    publish_breaker(breaker);
}

impl Counters {
    fn handles(&self, name: &'static str) -> &Handles {
        self.handles.get_or_init(|| Handles::register(name))
    }
}

impl CircuitBreaker {
    fn metric_handles(&self) -> &Handles {
        self.counters().handles(self.name())
    }
}
