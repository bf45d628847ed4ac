//! A replica's side of the fleet protocol, without I/O: which requests its breakers'
//! calls asked for, and what each reply does to them. The Redis task runs these requests
//! as scripts; the tests' in-memory fleet runs them on a model of the server, with lost,
//! delayed and duplicated messages.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::link::{Link, Ticket, WANT_MANUAL, WANT_PROBE, WANT_REFRESH, WANT_REPORT, WANT_VOTE};
use crate::breaker::WeakBreaker;
use crate::config::Rules;
use crate::events::Manual;
use crate::traceparent::TraceParent;
use crate::{State, Verdict};

/// A fleet record as a reply or an event describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct View {
    pub(crate) state: State,
    pub(crate) epoch: u64,
    pub(crate) gen: u64,
    pub(crate) open_remaining: Duration,
    pub(crate) cause: Cause,
    /// Where the record's last transition began: the opening span of the replica that
    /// tripped, or the probe call that closed it.
    pub(crate) trace: Option<TraceParent>,
}

/// What made the fleet's last transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cause {
    /// The breakers' own evidence: votes, probes.
    Auto,
    /// `open()`, `half_open()` or `close()` on a replica.
    Manual,
    /// `force_open()`: sticky.
    Forced,
    /// `disable()`: sticky.
    Disabled,
}

impl Cause {
    /// As the fleet writes it.
    pub(crate) fn word(self) -> &'static str {
        match self {
            Cause::Auto => "auto",
            Cause::Manual => "manual",
            Cause::Forced => "forced",
            Cause::Disabled => "disabled",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Cause> {
        Some(match text {
            "auto" => Cause::Auto,
            "manual" => Cause::Manual,
            "forced" => Cause::Forced,
            "disabled" => Cause::Disabled,
            _ => return None,
        })
    }
}

/// `closed`, `open` or `half_open`, as the fleet writes them.
pub(crate) fn state_word(state: State) -> &'static str {
    match state {
        State::Closed => "closed",
        State::Open => "open",
        State::HalfOpen => "half_open",
    }
}

/// The state a [`state_word`] names.
pub(crate) fn parse_state(text: &str) -> Option<State> {
    Some(match text {
        "closed" => State::Closed,
        "open" => State::Open,
        "half_open" => State::HalfOpen,
        _ => return None,
    })
}

/// What a replica asks of the fleet for one of its breakers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Request {
    /// A manual transition for the whole fleet.
    Force(Manual),
    /// This replica tripped, in the span of this opening.
    Vote(Option<TraceParent>),
    /// The probe's verdict, fenced by its ticket, with the span of the probe (a
    /// success) or of the reopening (a failure).
    Report(Ticket, Verdict, Option<TraceParent>),
    /// Asks for the probe's lease, with this token.
    Acquire(String),
    /// Reads the record.
    Snapshot,
    /// Writes this view back, unless the record is as new or newer (by `(epoch, gen)`);
    /// answers the record's view. After a reconnection: a failover may have lost the
    /// newest writes, and a generation never goes backwards for a replica that saw it.
    Restore(View),
}

/// The fleet's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    /// The record (none: it does not exist).
    View(Option<View>),
    /// The lease is this replica's, in generation `gen`.
    Granted { gen: u64 },
    /// Not now: try again after `wait_ms`.
    Denied { wait_ms: u64, view: Option<View> },
}

/// One breaker of this replica in the fleet.
#[derive(Clone)]
pub(crate) struct Member {
    pub(crate) link: Arc<Link>,
    pub(crate) breaker: WeakBreaker,
    pub(crate) rules: Rules,
    /// Its record, its bucket's version counter and event channel (`layout.rs`).
    pub(crate) key: String,
    pub(crate) version_key: String,
    pub(crate) channel: String,
    pub(crate) bucket: u16,
}

/// A replica's own bookkeeping between requests. Times are milliseconds of the
/// replica's clock (only ever compared with each other).
pub(crate) struct Replica {
    pub(crate) rid: String,
    lease_seq: u64,
    /// Per key: no probe request before this time (the fleet said to wait).
    probe_not_before: HashMap<String, u64>,
    /// Per key: when this replica last tripped, to vote again after an outage.
    tripped_at: HashMap<String, u64>,
}

impl Replica {
    pub(crate) fn new(rid: String) -> Replica {
        Replica {
            rid,
            lease_seq: 0,
            probe_not_before: HashMap::new(),
            tripped_at: HashMap::new(),
        }
    }

    /// What `member`'s calls asked for since last time, in the order to send it.
    pub(crate) fn requests(&mut self, member: &Member, now_ms: u64) -> Vec<Request> {
        let link = &member.link;
        let flags = link.take_flags();
        let mut requests = Vec::new();
        if flags & WANT_MANUAL != 0 {
            if let Some(transition) = link.take_manual() {
                requests.push(Request::Force(transition));
            }
        }
        if flags & WANT_VOTE != 0 {
            self.tripped_at.insert(member.key.clone(), now_ms);
            requests.push(Request::Vote(link.trace_for(None)));
        }
        if flags & WANT_REPORT != 0 {
            if let Some((ticket, verdict)) = link.take_report() {
                requests.push(Request::Report(
                    ticket,
                    verdict,
                    link.trace_for(Some(verdict)),
                ));
            }
        }
        if flags & WANT_PROBE != 0
            && self
                .probe_not_before
                .get(&member.key)
                .map_or(true, |at| now_ms >= *at)
        {
            self.lease_seq += 1;
            requests.push(Request::Acquire(format!("{}:{}", self.rid, self.lease_seq)));
        }
        if flags & WANT_REFRESH != 0 {
            requests.push(Request::Snapshot);
        }
        requests
    }

    /// After a reconnection's snapshot: whether this replica's recent trip must be voted
    /// again (the vote may never have arrived).
    pub(crate) fn revote(&self, member: &Member, now_ms: u64) -> bool {
        let recent = self
            .tripped_at
            .get(&member.key)
            .is_some_and(|at| now_ms.saturating_sub(*at) < millis_of(member.rules.reset_timeout));
        recent
            && member
                .breaker
                .upgrade()
                .is_some_and(|b| b.state() == State::Open)
    }

    /// What a reconciliation asks for `member`: its newest view written back where the
    /// server lost it (its open time as the breaker has it left), or just the record.
    pub(crate) fn reconcile(&self, member: &Member) -> Request {
        let Some(mut view) = member.link.applied() else {
            return Request::Snapshot;
        };
        if view.state == State::Open {
            view.open_remaining = member
                .breaker
                .upgrade()
                .and_then(|b| b.retry_after())
                .unwrap_or(Duration::ZERO);
        }
        Request::Restore(view)
    }

    /// What a reply to `request` does to the breaker.
    pub(crate) fn on_reply(
        &mut self,
        member: &Member,
        request: &Request,
        reply: Reply,
        now_ms: u64,
    ) {
        match reply {
            Reply::View(view) => {
                if let Some(view) = view {
                    apply(member, view);
                }
            }
            Reply::Granted { gen } => {
                if let (Request::Acquire(token), Some(breaker)) =
                    (request, member.breaker.upgrade())
                {
                    member.link.granted(Ticket {
                        token: token.clone(),
                        gen,
                    });
                    breaker.fleet_half_open();
                }
            }
            Reply::Denied { wait_ms, view } => {
                self.probe_not_before
                    .insert(member.key.clone(), now_ms + wait_ms.clamp(10, 1_000));
                if let Some(view) = view {
                    apply(member, view);
                }
            }
        }
    }
}

/// Applies a fleet view to the local breaker, if it is newer than what was applied.
pub(crate) fn apply(member: &Member, view: View) {
    let Some(breaker) = member.breaker.upgrade() else {
        return;
    };
    let link = &member.link;
    if !link.newer(view) {
        return;
    }
    // Never trusted beyond the longest this replica could itself be open for: its reset
    // timeout, or an upstream's advice, capped.
    let remaining = view
        .open_remaining
        .min(Duration::from_nanos(longest_open(&member.rules)));
    if view.state == State::Closed || view.cause != Cause::Auto {
        link.forget_ticket();
    }
    let here = breaker.this_replica();
    match (view.cause, view.state) {
        (Cause::Forced, _) => here.force_open(),
        (Cause::Disabled, _) => here.disable(),
        (Cause::Manual, State::Closed) => here.close(),
        (Cause::Manual, State::Open) => breaker.fleet_opened_by_hand(remaining),
        (Cause::Manual, State::HalfOpen) => breaker.fleet_opened_by_hand(Duration::ZERO),
        (Cause::Auto, State::Closed) => breaker.fleet_closed(view.trace),
        (Cause::Auto, _) => breaker.fleet_opened(remaining, view.trace),
    }
}

/// The fleet's lease outlives the local one by a margin, so a replica gives up its probe
/// before the fleet hands the lease to another.
pub(crate) fn fleet_lease_ms(rules: &Rules) -> u64 {
    let lease = rules.half_open_timeout;
    millis_of(lease.saturating_add((lease / 10).max(10_000_000)))
}

/// Every key lives at least ten minutes and twice a full open-and-probe cycle.
pub(crate) fn ttl_ms(rules: &Rules) -> u64 {
    let cycle = millis_of(longest_open(rules)).saturating_add(fleet_lease_ms(rules));
    cycle.saturating_mul(2).max(600_000)
}

/// The longest a breaker of `rules` opens for by itself (nanoseconds): its reset
/// timeout, or an upstream's advice, capped.
pub(crate) fn longest_open(rules: &Rules) -> u64 {
    rules.reset_timeout.max(rules.advice_cap)
}

/// How long the fleet opens for when this replica's opening (a vote) or reopening (a
/// failed probe's report) asks: the local open period's rest when an upstream's advice
/// set it, so that the fleet opens until the same instant (on the server's clock, as
/// every deadline of the fleet); `reset_timeout` otherwise.
pub(crate) fn open_ms(member: &Member) -> u64 {
    let advised = member
        .breaker
        .upgrade()
        .filter(|b| b.open_advice().is_some())
        .and_then(|b| b.retry_after());
    match advised {
        Some(rest) if !rest.is_zero() => millis_of(crate::clock::duration_to_nanos(rest)),
        _ => millis_of(member.rules.reset_timeout),
    }
}

/// Nanoseconds as whole milliseconds, at least one.
pub(crate) fn millis_of(nanos: u64) -> u64 {
    (nanos / 1_000_000).max(1)
}

/// The `outcome` a report carries.
pub(crate) fn outcome(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Success => "success",
        Verdict::Failure => "failure",
        Verdict::Ignore => "neutral",
    }
}

/// The `transition` a manual request carries.
pub(crate) fn transition(manual: Manual) -> &'static str {
    match manual {
        Manual::Open => "open",
        Manual::HalfOpen => "half_open",
        Manual::Close => "close",
        Manual::ForceOpen => "force_open",
        Manual::Disable => "disable",
    }
}
