//! The fleet's verdicts, applied to this replica's breaker by the backend's task (feature
//! `redis`; the in-memory fleet of the tests applies them too). They go through the
//! state machine's small API for transitions decided outside it
//! ([`CircuitBreaker::transition_manually`] and the open deadline), so the state machine
//! knows nothing of the fleet.

use std::time::Duration;

use crate::clock::duration_to_nanos;
use crate::outcome::Trigger;
use crate::traceparent::TraceParent;
use crate::{CircuitBreaker, State};

#[cfg_attr(not(feature = "redis"), allow(dead_code))]
impl CircuitBreaker {
    /// The fleet is open: so is this replica, until `remaining` from now at least, and
    /// its probe is the fleet's to grant. Sticky modes win. `origin`: where the opening
    /// began (the opening span of the replica that tripped).
    pub(crate) fn fleet_opened(&self, remaining: Duration, origin: Option<TraceParent>) {
        let now = self.now();
        let until = now.saturating_add(duration_to_nanos(remaining));
        self.extend_open_until(until);
        self.transition_manually(now, Trigger::Fleet(origin), |w| {
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
        let until = now.saturating_add(duration_to_nanos(remaining));
        self.set_open_until(until);
        self.transition_manually(now, Trigger::Fleet(None), |w| {
            let next = w.moved_to(State::Open).with_fleet(true);
            (next != w).then_some(next)
        });
    }

    /// The fleet granted this replica its probe: half-open, for the next caller to take.
    pub(crate) fn fleet_half_open(&self) {
        self.transition_manually(self.now(), Trigger::Fleet(None), |w| {
            (w.defers_to_fleet() && w.state() == State::Open).then(|| {
                w.enter(State::HalfOpen)
                    .with_fleet(true)
                    .with_fresh_probe_tally()
            })
        });
    }

    /// The fleet closed: so does this replica, if the fleet held it. `origin`: the probe
    /// call that closed the fleet.
    pub(crate) fn fleet_closed(&self, origin: Option<TraceParent>) {
        self.transition_manually(self.now(), Trigger::Fleet(origin), |w| {
            w.defers_to_fleet()
                .then(|| w.without_counters().enter(State::Closed))
        });
    }

    /// The fleet's verdict is out of reach: this replica keeps its state and probes on
    /// its own clock, as an unshared breaker.
    pub(crate) fn fleet_released(&self) {
        self.transition_manually(self.now(), Trigger::Fleet(None), |w| {
            w.defers_to_fleet().then(|| w.with_fleet(false))
        });
    }
}
