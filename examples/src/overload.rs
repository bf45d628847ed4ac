//! An overload, simulated: the library side of `cargo run --release --example overload`
//! (and of its test).
//!
//! **The upstream** has capacity C = 100 requests a second: 10 workers, 100 ms of work
//! each. It queues what it cannot start at once, up to 40 requests (0.4 s of work),
//! and answers `503` at once beyond that; each `503` still costs it 10 ms of a worker
//! (accepting the connection, reading the request, answering), paid before the next
//! request is started. So it slows as its queue fills, and loses capacity to the
//! requests it turns away.
//!
//! **The client** is one service calling it, with Poisson arrivals at the offered load,
//! a 1 s timeout, no retries, and one of four policies: no breaker; `fail_max = 5`
//! (consecutive failures, `reset_timeout = "10s"`); `failure_rate = "50%"` over
//! `window = "10s"` with `min_calls = 20` (`reset_timeout = "10s"`); `throttle = "50%"`
//! (two minutes, `min_calls = 20`, `max_throttle = "90%"`: the defaults). A `503`
//! and a timeout are failures, an answer within the timeout a success.
//!
//! Everything runs on virtual time in one thread: an event queue, the breakers on a
//! [`ManualClock`] moved to each event's time, the arrivals and the throttle's draws
//! from fixed seeds. The same run gives the same figures on every machine.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt::Write as _;
use std::time::Duration;

use breaker_runtime::{CircuitBreaker, ErrorKind, ManualClock, OwnedPermit, Window};

/// The upstream's capacity, requests a second.
pub const CAPACITY: f64 = 100.0;
const WORKERS: usize = 10;
const SERVICE: u64 = 100 * MS;
const QUEUE: usize = 40;
const REJECTION_COST: u64 = 10 * MS;
const TIMEOUT: u64 = 1_000 * MS;
const MS: u64 = 1_000_000;
const SECOND: u64 = 1_000_000_000;

/// What stands between the client and the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Every request goes.
    None,
    /// `fail_max = 5`.
    Consecutive,
    /// `failure_rate = "50%"`.
    Rate,
    /// `throttle = "50%"`.
    Throttle,
}

impl Policy {
    /// The four, in the table's order.
    pub const ALL: [Policy; 4] = [
        Policy::None,
        Policy::Consecutive,
        Policy::Rate,
        Policy::Throttle,
    ];

    /// How the table names it.
    pub fn label(self) -> &'static str {
        match self {
            Policy::None => "no breaker",
            Policy::Consecutive => "fail_max = 5",
            Policy::Rate => "failure_rate = \"50%\"",
            Policy::Throttle => "throttle = \"50%\"",
        }
    }

    fn breaker(self, clock: &ManualClock) -> Option<CircuitBreaker> {
        let builder = CircuitBreaker::builder(format!("overload-{self:?}"))
            .clock(clock.clone())
            .unregistered();
        let builder = match self {
            Policy::None => return None,
            Policy::Consecutive => builder.fail_max(5).reset_timeout(Duration::from_secs(10)),
            Policy::Rate => builder
                .failure_rate(50)
                .window(Window::Time(Duration::from_secs(10)))
                .min_calls(20)
                .reset_timeout(Duration::from_secs(10)),
            Policy::Throttle => builder.throttle(50),
        };
        Some(builder.build())
    }
}

/// The offered load over time, as a multiple of the capacity: constant, or in steps.
#[derive(Debug, Clone)]
pub struct Load {
    /// `(from second, multiple of C)`, in order; the first from 0.
    pub steps: Vec<(u64, f64)>,
    /// How long the run lasts, seconds.
    pub seconds: u64,
}

impl Load {
    /// `multiple` × C for `seconds`.
    pub fn constant(multiple: f64, seconds: u64) -> Load {
        Load {
            steps: vec![(0, multiple)],
            seconds,
        }
    }

    fn at(&self, t: u64) -> f64 {
        let second = t / SECOND;
        self.steps
            .iter()
            .rev()
            .find(|(from, _)| *from <= second)
            .map_or(0.0, |(_, m)| *m)
    }
}

/// What one run saw, in total and second by second.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// Requests the client asked for.
    pub offered: u64,
    /// Requests that reached the upstream.
    pub sent: u64,
    /// Requests the breaker refused (open, or throttled).
    pub refused: u64,
    /// Answers within the timeout.
    pub succeeded: u64,
    /// `503`s.
    pub unavailable: u64,
    /// Requests the client gave up on at its timeout.
    pub timed_out: u64,
    /// Latency of each success, nanoseconds.
    latencies: Vec<u64>,
    /// Per second: offered, sent, succeeded.
    pub per_second: Vec<[u64; 3]>,
}

impl Run {
    /// Successes as a share of what the upstream could serve over the run.
    pub fn goodput(&self, seconds: u64) -> f64 {
        self.succeeded as f64 / (CAPACITY * seconds as f64)
    }

    /// The 99th percentile latency of the successes.
    pub fn p99(&self) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        match sorted.len() {
            0 => Duration::ZERO,
            n => Duration::from_nanos(sorted[(n * 99).div_ceil(100) - 1]),
        }
    }

    /// Sent, and succeeded, from second `from` on.
    pub fn sent_and_succeeded_from(&self, from: usize) -> (u64, u64) {
        self.per_second[from.min(self.per_second.len())..]
            .iter()
            .fold((0, 0), |(s, a), [_, sent, ok]| (s + sent, a + ok))
    }

    fn second(&mut self, t: u64) -> &mut [u64; 3] {
        let i = (t / SECOND) as usize;
        if self.per_second.len() <= i {
            self.per_second.resize(i + 1, [0; 3]);
        }
        &mut self.per_second[i]
    }
}

/// A request in the upstream, or on its way back.
struct InFlight {
    permit: Option<OwnedPermit>,
    sent_at: u64,
    /// The client gave up on it (its permit settled as a failure).
    abandoned: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// The next request of the client.
    Arrival,
    /// A worker is done with its job (the request's id, or none for a rejection's cost).
    Done(Option<usize>),
    /// The client's timeout for request id.
    Timeout(usize),
}

/// SplitMix64: the arrivals' generator.
struct Random(u64);

impl Random {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // In (0, 1]: a logarithm's argument.
        ((z >> 11) + 1) as f64 / (1u64 << 53) as f64
    }
}

/// One run of `load` under `policy`, seeded by `seed`.
pub fn run(policy: Policy, load: &Load, seed: u64) -> Run {
    breaker_runtime::throttle::seed_this_thread(seed ^ 0x7472_6f74);
    let clock = ManualClock::new();
    // The breakers' clock starts past zero, as a running process's does.
    clock.advance(Duration::from_secs(1));
    let origin = clock_nanos(&clock);
    let breaker = policy.breaker(&clock);
    let mut arrivals = Random(seed);
    let mut out = Run::default();
    let mut events: BinaryHeap<Reverse<(u64, u64, Event)>> = BinaryHeap::new();
    let mut order = 0u64;
    let mut push = |events: &mut BinaryHeap<_>, at: u64, event: Event| {
        order += 1;
        events.push(Reverse((at, order, event)));
    };
    let mut requests: Vec<InFlight> = Vec::new();
    let mut queue: VecDeque<usize> = VecDeque::new();
    let mut overhead = 0u32; // rejections whose cost no worker has paid yet
    let mut idle = WORKERS;
    let end = load.seconds * SECOND;
    push(&mut events, 0, Event::Arrival);
    while let Some(Reverse((now, _, event))) = events.pop() {
        if now >= end {
            break;
        }
        let elapsed = clock_nanos(&clock) - origin;
        clock.advance(Duration::from_nanos(now - elapsed));
        match event {
            Event::Arrival => {
                let rate = load.at(now) * CAPACITY;
                if rate > 0.0 {
                    let gap = -arrivals.unit().ln() / rate;
                    push(
                        &mut events,
                        now + (gap * SECOND as f64) as u64,
                        Event::Arrival,
                    );
                }
                out.offered += 1;
                out.second(now)[0] += 1;
                let permit = match &breaker {
                    None => None,
                    Some(b) => match b.try_acquire_owned() {
                        Ok(permit) => Some(permit),
                        Err(e) => {
                            debug_assert!(matches!(
                                e.kind(),
                                ErrorKind::Open | ErrorKind::Throttled | ErrorKind::ProbeInFlight
                            ));
                            out.refused += 1;
                            continue;
                        }
                    },
                };
                out.sent += 1;
                out.second(now)[1] += 1;
                if queue.len() >= QUEUE {
                    // 503 at once; the work of turning it away comes later.
                    out.unavailable += 1;
                    if let Some(p) = permit {
                        p.failure();
                    }
                    if idle > 0 {
                        idle -= 1;
                        push(&mut events, now + REJECTION_COST, Event::Done(None));
                    } else {
                        overhead += 1;
                    }
                    continue;
                }
                let id = requests.len();
                requests.push(InFlight {
                    permit,
                    sent_at: now,
                    abandoned: false,
                });
                push(&mut events, now + TIMEOUT, Event::Timeout(id));
                if idle > 0 {
                    idle -= 1;
                    push(&mut events, now + SERVICE, Event::Done(Some(id)));
                } else {
                    queue.push_back(id);
                }
            }
            Event::Done(job) => {
                if let Some(id) = job {
                    let request = &mut requests[id];
                    if !request.abandoned {
                        request.abandoned = true; // answered: its timeout does nothing
                        out.succeeded += 1;
                        out.second(now)[2] += 1;
                        out.latencies.push(now - request.sent_at);
                        if let Some(p) = request.permit.take() {
                            p.success();
                        }
                    }
                }
                // The worker pays the rejections' cost first, then takes the next request.
                if overhead > 0 {
                    overhead -= 1;
                    push(&mut events, now + REJECTION_COST, Event::Done(None));
                } else if let Some(next) = queue.pop_front() {
                    push(&mut events, now + SERVICE, Event::Done(Some(next)));
                } else {
                    idle += 1;
                }
            }
            Event::Timeout(id) => {
                let request = &mut requests[id];
                if !request.abandoned {
                    // The client gives up; the upstream still does the work.
                    request.abandoned = true;
                    out.timed_out += 1;
                    if let Some(p) = request.permit.take() {
                        p.failure();
                    }
                }
            }
        }
    }
    out.per_second.resize(load.seconds as usize, [0; 3]);
    out
}

fn clock_nanos(clock: &ManualClock) -> u64 {
    use breaker_runtime::Clock;
    clock.now().as_nanos() as u64
}

/// The offered loads of the table, as multiples of C.
pub const LOADS: [f64; 5] = [0.5, 1.0, 1.5, 2.0, 4.0];
/// Each run of the table lasts this long (virtual seconds).
pub const SECONDS: u64 = 300;
/// The table's seed.
pub const SEED: u64 = 2026;

/// Every load under every policy.
pub fn table() -> Vec<(f64, Vec<(Policy, Run)>)> {
    LOADS
        .iter()
        .enumerate()
        .map(|(i, &multiple)| {
            let load = Load::constant(multiple, SECONDS);
            let runs = Policy::ALL
                .iter()
                .map(|&policy| (policy, run(policy, &load, SEED + i as u64)))
                .collect();
            (multiple, runs)
        })
        .collect()
}

/// The table as text, one block per load.
pub fn render(table: &[(f64, Vec<(Policy, Run)>)]) -> String {
    let mut out = String::new();
    for (multiple, runs) in table {
        let _ = writeln!(
            out,
            "offered {multiple}C ({:.0} requests/s, {SECONDS} s)",
            multiple * CAPACITY
        );
        let _ = writeln!(
            out,
            "  {:<22} {:>8} {:>20} {:>16} {:>12}",
            "policy", "goodput", "upstream received", "refused locally", "p99 (ok)"
        );
        for (policy, run) in runs {
            let received = format!(
                "{} ({:.2}C)",
                run.sent,
                run.sent as f64 / (CAPACITY * SECONDS as f64)
            );
            let _ = writeln!(
                out,
                "  {:<22} {:>7.1}% {:>20} {:>16} {:>9} ms",
                policy.label(),
                run.goodput(SECONDS) * 100.0,
                received,
                run.refused,
                run.p99().as_millis()
            );
        }
        out.push('\n');
    }
    out
}

/// The plot's scenario: 0.5C for a minute, 4C for three, 0.5C for two.
pub fn plot_load() -> Load {
    Load {
        steps: vec![(0, 0.5), (60, 4.0), (240, 0.5)],
        seconds: 360,
    }
}

/// An SVG of the plot's scenario under each policy: offered load, load reaching the
/// upstream and goodput, each a multiple of C, five-second averages.
pub fn plot(path: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    let load = plot_load();
    let runs: Vec<(Policy, Run)> = Policy::ALL
        .iter()
        .map(|&p| (p, run(p, &load, SEED)))
        .collect();
    let root = SVGBackend::new(path, (900, 1000)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(
        "Offered load 0.5C → 4C → 0.5C; capacity C = 100/s (five-second averages)",
        ("sans-serif", 18),
    )?;
    let panels = root.split_evenly((Policy::ALL.len(), 1));
    for ((policy, run), panel) in runs.iter().zip(panels.iter()) {
        let mut chart = ChartBuilder::on(panel)
            .caption(policy.label(), ("sans-serif", 15))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(44)
            .build_cartesian_2d(0f64..load.seconds as f64, 0f64..4.5f64)?;
        chart
            .configure_mesh()
            .x_desc("seconds")
            .y_desc("× C")
            .light_line_style(WHITE)
            .draw()?;
        let series = |column: usize| -> Vec<(f64, f64)> {
            run.per_second
                .chunks(5)
                .enumerate()
                .map(|(i, chunk)| {
                    let sum: u64 = chunk.iter().map(|s| s[column]).sum();
                    let t = (i * 5) as f64 + 2.5;
                    (t, sum as f64 / chunk.len() as f64 / CAPACITY)
                })
                .collect()
        };
        for (column, label, color) in [
            (0, "offered", RGBColor(120, 120, 120)),
            (1, "reaching the upstream", RGBColor(207, 34, 46)),
            (2, "goodput", RGBColor(26, 127, 55)),
        ] {
            chart
                .draw_series(LineSeries::new(series(column), color.stroke_width(2)))?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK.mix(0.3))
            .draw()?;
    }
    root.present()?;
    Ok(())
}
