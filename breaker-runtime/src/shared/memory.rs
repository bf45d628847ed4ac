//! The fleet's server side in memory, on a clock the test moves: the same protocol as
//! the Lua scripts (`scripts.rs`), rule for rule, for the property tests of
//! `simulation.rs`.

use std::collections::HashMap;
use std::time::Duration;

use super::replica::{Cause, Reply, Request, View};
use crate::events::Manual;
use crate::traceparent::TraceParent;
use crate::{State, Verdict};

#[derive(Debug, Clone)]
struct Record {
    epoch: u64,
    gen: u64,
    state: State,
    open_until: u64,
    probe: String,
    probe_until: u64,
    probe_ok: u32,
    cause: Cause,
    trace: Option<TraceParent>,
    votes: HashMap<String, u64>,
}

impl Record {
    fn fresh(now: u64) -> Record {
        Record {
            epoch: now,
            gen: 0,
            state: State::Closed,
            open_until: 0,
            probe: String::new(),
            probe_until: 0,
            probe_ok: 0,
            cause: Cause::Auto,
            trace: None,
            votes: HashMap::new(),
        }
    }

    fn sticky(&self) -> bool {
        matches!(self.cause, Cause::Forced | Cause::Disabled)
    }

    fn view(&self, now: u64) -> View {
        View {
            state: self.state,
            epoch: self.epoch,
            gen: self.gen,
            open_remaining: Duration::from_millis(self.open_until.saturating_sub(now)),
            cause: self.cause,
            trace: self.trace,
        }
    }

    fn open(&mut self, now: u64, reset: u64, trace: Option<TraceParent>) {
        self.trace = trace;
        self.gen += 1;
        self.cause = Cause::Auto;
        self.state = State::Open;
        self.open_until = now + reset;
        self.probe.clear();
        self.probe_until = 0;
        self.probe_ok = 0;
    }
}

/// The arguments a request carries besides itself (the scripts' `ARGV`).
pub(crate) struct Args<'a> {
    pub(crate) rid: &'a str,
    pub(crate) quorum: u32,
    /// The window votes count in, and how long an opening by hand lasts.
    pub(crate) reset_ms: u64,
    /// How long an opening by a vote or a failed probe lasts: `reset_ms`, or the rest of
    /// an advised open period.
    pub(crate) open_ms: u64,
    pub(crate) lease_ms: u64,
    pub(crate) success_threshold: u32,
}

/// Every record of one namespace, and what was published.
#[derive(Default)]
pub(crate) struct Server {
    pub(crate) now_ms: u64,
    records: HashMap<String, Record>,
    /// Published events, in order: `(breaker name, view)`.
    pub(crate) published: Vec<(String, View)>,
    /// Leases granted so far.
    pub(crate) grants: u64,
}

impl Server {
    /// Runs `request` for breaker `name`, as its script would.
    pub(crate) fn handle(&mut self, name: &str, request: &Request, args: &Args<'_>) -> Reply {
        let now = self.now_ms;
        let known = self.records.contains_key(name);
        let mut r = self
            .records
            .get(name)
            .cloned()
            .unwrap_or_else(|| Record::fresh(now));
        let mut publish = false;
        let reply = match request {
            Request::Vote(trace) => {
                r.votes.insert(args.rid.to_string(), now);
                r.votes
                    .retain(|_, at| now.saturating_sub(*at) <= args.reset_ms && *at <= now);
                if r.state == State::Closed && !r.sticky() && r.votes.len() as u32 >= args.quorum {
                    r.open(now, args.open_ms, *trace);
                    publish = true;
                }
                self.records.insert(name.to_string(), r.clone());
                Reply::View(Some(r.view(now)))
            }
            Request::Acquire(token) => {
                if r.sticky() {
                    return Reply::Denied {
                        wait_ms: 1000,
                        view: Some(r.view(now)),
                    };
                }
                if r.state == State::Open && now >= r.open_until {
                    r.state = State::HalfOpen;
                    r.probe.clear();
                }
                if r.state == State::HalfOpen && (r.probe.is_empty() || now >= r.probe_until) {
                    r.probe = token.clone();
                    r.probe_until = now + args.lease_ms;
                    self.grants += 1;
                    let gen = r.gen;
                    self.records.insert(name.to_string(), r);
                    return Reply::Granted { gen };
                }
                let wait = match r.state {
                    State::Open => r.open_until.saturating_sub(now),
                    State::HalfOpen => r.probe_until.saturating_sub(now),
                    State::Closed => 0,
                };
                return Reply::Denied {
                    wait_ms: wait,
                    view: Some(r.view(now)),
                };
            }
            Request::Report(ticket, verdict, trace) => {
                if r.state != State::HalfOpen || r.probe != ticket.token || r.gen != ticket.gen {
                    return Reply::View(Some(r.view(now)));
                }
                match verdict {
                    Verdict::Failure => {
                        r.open(now, args.open_ms, *trace);
                        publish = true;
                    }
                    Verdict::Success => {
                        r.probe.clear();
                        r.probe_ok += 1;
                        if r.probe_ok >= args.success_threshold {
                            r.gen += 1;
                            r.cause = Cause::Auto;
                            r.state = State::Closed;
                            r.probe_ok = 0;
                            r.open_until = 0;
                            r.trace = *trace;
                            r.votes.clear();
                            publish = true;
                        }
                    }
                    Verdict::Ignore => r.probe.clear(),
                }
                self.records.insert(name.to_string(), r.clone());
                Reply::View(Some(r.view(now)))
            }
            Request::Snapshot => {
                return Reply::View(known.then(|| r.view(now)));
            }
            Request::Restore(view) => {
                if known && (r.epoch, r.gen) >= (view.epoch, view.gen) {
                    return Reply::View(Some(r.view(now)));
                }
                let remaining = u64::try_from(view.open_remaining.as_millis()).unwrap_or(u64::MAX);
                (r.epoch, r.gen, r.state, r.cause) = (view.epoch, view.gen, view.state, view.cause);
                r.open_until = match view.state {
                    State::Open => now + remaining,
                    State::HalfOpen => now,
                    State::Closed => 0,
                };
                r.probe.clear();
                r.probe_until = 0;
                r.probe_ok = 0;
                r.trace = view.trace;
                publish = true;
                self.records.insert(name.to_string(), r.clone());
                Reply::View(Some(r.view(now)))
            }
            Request::Force(manual) => {
                r.gen += 1;
                r.probe.clear();
                r.probe_until = 0;
                r.probe_ok = 0;
                r.trace = None;
                let (state, cause, until) = match manual {
                    Manual::Open => (State::Open, Cause::Manual, now + args.reset_ms),
                    Manual::HalfOpen => (State::HalfOpen, Cause::Manual, now),
                    Manual::ForceOpen => (State::Open, Cause::Forced, 0),
                    Manual::Disable => (State::Closed, Cause::Disabled, 0),
                    Manual::Close => (State::Closed, Cause::Manual, 0),
                };
                (r.state, r.cause, r.open_until) = (state, cause, until);
                if state == State::Closed {
                    r.votes.clear();
                }
                publish = true;
                self.records.insert(name.to_string(), r.clone());
                Reply::View(Some(r.view(now)))
            }
        };
        if publish {
            self.published.push((name.to_string(), r.view(now)));
        }
        reply
    }
}
