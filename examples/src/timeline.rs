//! The timeline the `user_auth` example prints: every line comes from the breaker's own
//! events, heard by a global [`Listener`], beside what each call returned and how long it
//! took; then a summary of what the breaker saved.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use breaker_runtime::listener::add_global_listener_arc;
use breaker_runtime::{CircuitBreaker, CircuitBreakerError, Listener, State};

/// How a call ended, as the caller saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// The dependency answered (a 404 included: it is an answer).
    Answered,
    /// The dependency failed.
    Failed,
    /// The call ran past its `call_timeout`.
    TimedOut,
    /// The breaker refused the call without running it.
    Rejected,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Answered => "answered",
            Kind::Failed => "failed",
            Kind::TimedOut => "timed out",
            Kind::Rejected => "rejected",
        }
    }
}

/// One call, as the example reports it.
pub struct Call {
    /// How it ended.
    pub kind: Kind,
    /// What it returned, for the timeline.
    pub detail: String,
    /// How long the caller waited.
    pub latency: Duration,
    /// How many requests reached the dependency (0 for a rejection).
    pub reached: u64,
}

#[derive(Clone, Debug)]
enum Event {
    Admitted { probe: bool },
    Success,
    Failure,
    Rejected(CircuitBreakerError),
    Transition(State, State),
}

/// Hears one breaker's events, as they happen.
struct Heard {
    breaker: &'static str,
    events: Mutex<Vec<(Event, State)>>,
}

impl Listener for Heard {
    fn before_call(&self, b: &CircuitBreaker) {
        let probe = b.state() == State::HalfOpen;
        self.record(b, Event::Admitted { probe });
    }
    fn on_success(&self, b: &CircuitBreaker) {
        self.record(b, Event::Success);
    }
    fn on_failure(&self, b: &CircuitBreaker) {
        self.record(b, Event::Failure);
    }
    fn on_rejected(&self, b: &CircuitBreaker, error: &CircuitBreakerError) {
        self.record(b, Event::Rejected(error.clone()));
    }
    fn on_state_change(&self, b: &CircuitBreaker, from: State, to: State) {
        self.record(b, Event::Transition(from, to));
    }
}

impl Heard {
    fn record(&self, b: &CircuitBreaker, event: Event) {
        if b.name() == self.breaker {
            self.events.lock().unwrap().push((event, b.state()));
        }
    }

    fn take(&self) -> Vec<(Event, State)> {
        std::mem::take(&mut *self.events.lock().unwrap())
    }
}

/// What happened to one kind of call, for the summary.
#[derive(Default)]
struct Tally {
    calls: u64,
    reached: u64,
    total: Duration,
}

/// The timeline of one breaker: listens to it from [`Timeline::new`] on, prints a line
/// per event as each call is [`record`](Timeline::record)ed, and a summary at the end.
pub struct Timeline {
    heard: Arc<Heard>,
    color: bool,
    started: Instant,
    calls: u64,
    tallies: BTreeMap<Kind, Tally>,
    /// Latencies of the calls that failed in the current outage: what each rejected call
    /// would have cost without the breaker.
    outage_cost: Vec<Duration>,
    saved: Duration,
}

impl Timeline {
    /// Starts listening to the breaker called `breaker`. Colour only on a terminal, and
    /// not with `NO_COLOR`.
    pub fn new(breaker: &'static str) -> Self {
        let heard = Arc::new(Heard {
            breaker,
            events: Mutex::new(Vec::new()),
        });
        add_global_listener_arc(heard.clone());
        Timeline {
            heard,
            color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
            started: Instant::now(),
            calls: 0,
            tallies: BTreeMap::new(),
            outage_cost: Vec::new(),
            saved: Duration::ZERO,
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// A heading for the next part of the story.
    pub fn phase(&self, title: &str) {
        println!("\n{}", self.paint("1", &format!("── {title}")));
    }

    /// The dependency changed: a new outage starts counting its cost.
    pub fn dependency_changed(&mut self) {
        self.outage_cost.clear();
    }

    /// Prints what the breaker did during `call`, which just ended.
    pub fn record(&mut self, call: Call) {
        self.calls += 1;
        let tally = self.tallies.entry(call.kind).or_default();
        tally.calls += 1;
        tally.reached += call.reached;
        tally.total += call.latency;
        match call.kind {
            Kind::Failed | Kind::TimedOut => self.outage_cost.push(call.latency),
            Kind::Rejected if !self.outage_cost.is_empty() => {
                let mean =
                    self.outage_cost.iter().sum::<Duration>() / self.outage_cost.len() as u32;
                self.saved += mean.saturating_sub(call.latency);
            }
            _ => {}
        }

        // An outcome is shown in the state its call was admitted in; a transition in the
        // state it led to.
        let mut admitted_in = None;
        for (event, state) in self.heard.take() {
            let at = format!("{:>7.3}s", self.started.elapsed().as_secs_f64());
            let column = |s: State| format!("{:<9}", s.to_string());
            let line = match event {
                Event::Admitted { probe } => {
                    admitted_in = Some((state, probe));
                    continue;
                }
                Event::Transition(from, to) => {
                    let code = if to == State::Open { "1;31" } else { "1;32" };
                    let text = format!("{from} → {to}");
                    format!(
                        "{at}  {}  {}",
                        self.paint(code, &column(to)),
                        self.paint(code, &text)
                    )
                }
                Event::Success | Event::Failure => {
                    let (during, probe) = admitted_in.unwrap_or((state, false));
                    let (code, verdict) = match (&event, probe) {
                        (Event::Success, false) => ("32", "ok"),
                        (Event::Success, true) => ("32", "ok, probe"),
                        (_, false) => ("31", "FAILED"),
                        (_, true) => ("31", "FAILED, probe"),
                    };
                    self.outcome_line(
                        &at,
                        &column(during),
                        code,
                        verdict,
                        &call.detail,
                        call.latency,
                    )
                }
                Event::Rejected(error) => self.outcome_line(
                    &at,
                    &column(state),
                    "33",
                    "rejected",
                    &error.to_string(),
                    call.latency,
                ),
            };
            println!("{line}");
        }
    }

    fn outcome_line(
        &self,
        at: &str,
        state: &str,
        code: &str,
        verdict: &str,
        detail: &str,
        latency: Duration,
    ) -> String {
        let call = format!("call #{:<3}", self.calls);
        let verdict = self.paint(code, &format!("{verdict:<13}"));
        format!(
            "{at}  {state}  {call} {verdict} {detail:<66} {:>9}",
            human(latency)
        )
    }

    /// The table of outcomes, and the waiting the breaker saved.
    pub fn summary(&self, dependency: &str) {
        println!("\n{}", self.paint("1", "── Summary"));
        println!(
            "  {:<12} {:>6} {:>22} {:>14}",
            "outcome",
            "calls",
            format!("reached {dependency}"),
            "mean latency"
        );
        for (kind, t) in &self.tallies {
            let mean = t.total / t.calls.max(1) as u32;
            println!(
                "  {:<12} {:>6} {:>22} {:>14}",
                kind.as_str(),
                t.calls,
                t.reached,
                human(mean)
            );
        }
        let reached: u64 = self.tallies.values().map(|t| t.reached).sum();
        let rejected = self.tallies.get(&Kind::Rejected).map_or(0, |t| t.calls);
        println!(
            "\n  {} calls made; {reached} reached {dependency}; {rejected} rejected by the breaker without touching the network.",
            self.calls
        );
        println!(
            "  Without the breaker those {rejected} calls would have hit a failing service: about {} of waiting saved.",
            human(self.saved)
        );
    }
}

/// A duration for people: ns, µs, ms or s.
pub fn human(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos < 1_000 {
        format!("{nanos} ns")
    } else if nanos < 1_000_000 {
        format!("{:.1} µs", nanos as f64 / 1e3)
    } else if nanos < 1_000_000_000 {
        format!("{:.1} ms", nanos as f64 / 1e6)
    } else {
        format!("{:.2} s", nanos as f64 / 1e9)
    }
}
