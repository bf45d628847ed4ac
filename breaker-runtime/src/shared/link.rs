//! One shared breaker's side of the fleet: what its calls ask of the background task, and
//! what the task has granted. The call path only sets flags here (an atomic OR and a
//! wake-up, on rare paths: a local trip, a due probe, a settled probe); it never waits
//! and never allocates.

use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};
use std::sync::{Arc, Mutex};

use super::replica::View;
use crate::events::{Manual, ProbeTurn};
use crate::sync::lock;
use crate::traceparent::TraceParent;
use crate::{Name, State, Verdict};

/// The flags the call path raises for the task.
pub(crate) const WANT_VOTE: u32 = 1;
pub(crate) const WANT_PROBE: u32 = 1 << 1;
pub(crate) const WANT_REPORT: u32 = 1 << 2;
pub(crate) const WANT_REFRESH: u32 = 1 << 3;
pub(crate) const WANT_MANUAL: u32 = 1 << 4;

/// What a replica's task wakes on: shared by the task and every link of its backend.
pub(crate) struct Wake {
    /// Set while the backend answers; the call path reads it to decide whether a due
    /// probe waits for the fleet or goes ahead locally.
    pub(crate) healthy: AtomicBool,
    #[cfg(feature = "redis")]
    pub(crate) notify: tokio::sync::Notify,
    /// The links with flags raised, each once until the task takes its flags: the task
    /// serves these and no others, so its work follows what happens, not how many
    /// breakers there are. Room for every link is reserved when it joins, so raising a
    /// flag never allocates.
    pub(crate) queue: Mutex<Vec<Name>>,
}

impl Wake {
    pub(crate) fn new() -> Self {
        Wake {
            healthy: AtomicBool::new(false),
            #[cfg(feature = "redis")]
            notify: tokio::sync::Notify::new(),
            queue: Mutex::new(Vec::new()),
        }
    }

    /// Room in the queue for one more link.
    pub(crate) fn reserve(&self) {
        lock(&self.queue).reserve(1);
    }

    /// The links queued since the task last looked, in `into` (emptied first); the
    /// queue keeps the room.
    pub(crate) fn take_queue(&self, into: &mut Vec<Name>) {
        into.clear();
        let mut queue = lock(&self.queue);
        let room = queue.capacity();
        std::mem::swap(&mut *queue, into);
        // Empty now: room for `room` links again.
        queue.reserve(room);
    }

    fn now(&self) {
        #[cfg(feature = "redis")]
        self.notify.notify_one();
    }
}

/// The fleet's grant of the probe to this replica: fences the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ticket {
    pub(crate) token: String,
    pub(crate) gen: u64,
}

pub(crate) struct Link {
    pub(crate) name: Name,
    pub(crate) quorum: u32,
    pub(crate) wake: Arc<Wake>,
    flags: AtomicU32,
    /// A ticket granted and not yet used by a caller.
    ticket: Mutex<Option<Ticket>>,
    /// The ticket of the probe running, and then its verdict, until reported.
    report: Mutex<Option<(Ticket, Option<Verdict>)>>,
    /// The newest fleet view applied here (re-published after a failover lost it).
    applied: Mutex<Option<View>>,
    /// A manual transition to pass on to the fleet (the latest wins).
    manual: Mutex<Option<Manual>>,
    /// Where this replica's latest opening began (its `circuit_breaker.open` span,
    /// feature `opentelemetry`): sent with its vote, or with a failed probe's report.
    opening: Mutex<Option<TraceParent>>,
    /// The span of the latest probe call that succeeded here: sent with its report.
    probe: Mutex<Option<TraceParent>>,
    /// When the last refresh was asked for (milliseconds of the task's clock), so that
    /// rejected calls ask at most every 250 ms.
    last_refresh: AtomicU64,
}

impl Link {
    pub(crate) fn new(name: Name, quorum: u32, wake: Arc<Wake>) -> Self {
        Link {
            name,
            quorum,
            wake,
            flags: AtomicU32::new(0),
            ticket: Mutex::new(None),
            report: Mutex::new(None),
            applied: Mutex::new(None),
            manual: Mutex::new(None),
            opening: Mutex::new(None),
            probe: Mutex::new(None),
            last_refresh: AtomicU64::new(0),
        }
    }

    fn want(&self, flag: u32) {
        let before = self.flags.fetch_or(flag, AcqRel);
        if before == 0 {
            // The first flag since the task took them: queue this link, once.
            lock(&self.wake.queue).push(self.name.clone());
        }
        if before & flag == 0 {
            self.wake.now();
        }
    }

    /// The task takes every flag raised since it last looked.
    pub(crate) fn take_flags(&self) -> u32 {
        self.flags.swap(0, AcqRel)
    }

    pub(crate) fn healthy(&self) -> bool {
        self.wake.healthy.load(Acquire)
    }

    /// The breaker tripped on its own evidence: cast this replica's vote.
    pub(crate) fn tripped(&self) {
        self.want(WANT_VOTE);
    }

    /// Where this replica's latest opening began, for its vote or report to carry.
    #[cfg_attr(not(feature = "opentelemetry"), allow(dead_code))]
    pub(crate) fn opening_began(&self, at: TraceParent) {
        *lock(&self.opening) = Some(at);
    }

    /// The span of a probe call that succeeded, for its report to carry.
    #[cfg_attr(not(feature = "opentelemetry"), allow(dead_code))]
    pub(crate) fn probe_succeeded(&self, at: TraceParent) {
        *lock(&self.probe) = Some(at);
    }

    /// What a request about `verdict` carries: the opening's trace for a vote or a
    /// failed probe (`None` as the verdict stands for a vote), the probe's for a success.
    pub(crate) fn trace_for(&self, verdict: Option<Verdict>) -> Option<TraceParent> {
        match verdict {
            Some(Verdict::Success) => lock(&self.probe).take(),
            Some(Verdict::Ignore) => None,
            None | Some(Verdict::Failure) => *lock(&self.opening),
        }
    }

    /// A caller found the fleet's probe due.
    pub(crate) fn probe_turn(&self) -> ProbeTurn {
        if !self.healthy() {
            return ProbeTurn::Local;
        }
        let ticket = lock(&self.ticket).take();
        match ticket {
            Some(ticket) => {
                *lock(&self.report) = Some((ticket, None));
                ProbeTurn::Granted
            }
            None => {
                self.want(WANT_PROBE);
                ProbeTurn::Wait
            }
        }
    }

    /// A ticket claimed by [`probe_turn`](Self::probe_turn) for a probe that did not
    /// happen: back to the slot, for the next caller.
    pub(crate) fn unclaim(&self) {
        let mut report = lock(&self.report);
        if let Some((ticket, None)) = report.take() {
            *lock(&self.ticket) = Some(ticket);
        }
    }

    /// The task got the probe for this replica.
    pub(crate) fn granted(&self, ticket: Ticket) {
        *lock(&self.ticket) = Some(ticket);
    }

    /// The fleet's probe that ran here ended with `verdict`.
    pub(crate) fn settled(&self, verdict: Verdict) {
        let mut report = lock(&self.report);
        if let Some((_, slot @ None)) = report.as_mut() {
            *slot = Some(verdict);
            drop(report);
            self.want(WANT_REPORT);
        }
    }

    /// The verdict to report, with the ticket that fences it.
    pub(crate) fn take_report(&self) -> Option<(Ticket, Verdict)> {
        let mut report = lock(&self.report);
        match report.take() {
            Some((ticket, Some(verdict))) => Some((ticket, verdict)),
            other => {
                *report = other; // still running
                None
            }
        }
    }

    /// A call was rejected: ask for the fleet's state, at most every 250 ms.
    pub(crate) fn rejected(&self, now_ms: u64) {
        let last = self.last_refresh.load(Relaxed);
        if now_ms.saturating_sub(last) >= 250
            && self
                .last_refresh
                .compare_exchange(last, now_ms, Release, Relaxed)
                .is_ok()
        {
            self.want(WANT_REFRESH);
        }
    }

    /// Whether `view` is newer (by `(epoch, gen)`) than what was applied here; if so,
    /// it is the fleet's from now on.
    pub(crate) fn newer(&self, view: View) -> bool {
        let mut applied = lock(&self.applied);
        if applied.map_or(true, |a| (view.epoch, view.gen) > (a.epoch, a.gen)) {
            *applied = Some(view);
            true
        } else {
            false
        }
    }

    /// The fleet's state as last heard, if anything was.
    pub(crate) fn fleet_state(&self) -> Option<State> {
        lock(&self.applied).map(|v| v.state)
    }

    /// The newest fleet view applied here.
    pub(crate) fn applied(&self) -> Option<View> {
        *lock(&self.applied)
    }

    /// A manual transition was applied here: pass it on to the fleet.
    pub(crate) fn manual(&self, transition: Manual) {
        *lock(&self.manual) = Some(transition);
        self.want(WANT_MANUAL);
    }

    pub(crate) fn take_manual(&self) -> Option<Manual> {
        lock(&self.manual).take()
    }

    /// Forgets any ticket: the fleet moved on (closed, or reopened).
    pub(crate) fn forget_ticket(&self) {
        lock(&self.ticket).take();
    }
}
