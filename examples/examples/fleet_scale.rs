//! What a fleet of shared breakers costs as it grows: `cargo run --release --example
//! fleet_scale` starts a `redis-server` of its own (Debian package `redis-server`) and,
//! for 100, 1,000 and 10,000 shared breakers on each of 2 and 10 replicas (in this one
//! process, each replica with a backend and connections of its own, as separate
//! processes would have), measures:
//!
//! - **idle load**: the commands Redis runs per second and per replica while nothing
//!   happens (`INFO commandstats`, commands inside scripts included);
//! - **propagation**: the time from a call that trips one replica's breaker until every
//!   other replica's breaker of that name is open, over trips at random moments, idle
//!   and then right after every connection was killed (`CLIENT KILL`), while each
//!   replica reads all its breakers' records again; the median, the 99th percentile and
//!   the maximum;
//! - **memory**: heap bytes per shared breaker in the process (a counting allocator),
//!   beside a local breaker's, and bytes per breaker record in Redis (`MEMORY USAGE`).
//!
//! Prints a Markdown table (BENCHMARKS.md, "A fleet at scale"). Options:
//! `--breakers 100,1000,10000`, `--replicas 2,10`, `--trips 50`, `--idle-secs 20`,
//! `--seed N`, and `--quick` (100 breakers on 2 replicas, 10 trips, 6 s idle: a smoke
//! run).

use std::alloc::{GlobalAlloc, Layout, System};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use breaker_examples::own_redis::OwnRedis;
use breaker_runtime::shared::RedisBackend;
use breaker_runtime::{CircuitBreaker, State};

/// Counts the bytes the process holds on the heap, for memory per breaker.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; only a counter is
// added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static HEAP: Counting = Counting;

fn heap() -> isize {
    LIVE.load(Relaxed)
}

/// The heap once the background threads are quiet: two readings 500 ms apart within
/// 4 KiB of each other (the count is process-wide: a replica's thread still working
/// would be counted against the breakers).
fn quiet_heap() -> isize {
    let mut last = heap();
    for _ in 0..30 {
        std::thread::sleep(Duration::from_millis(500));
        let now = heap();
        if (now - last).abs() < 4096 {
            return now;
        }
        last = now;
    }
    last
}

/// The server the rows run against, and a plain connection to it for its counts.
struct Redis {
    /// The server, when this process started it.
    server: Option<OwnRedis>,
    url: String,
    connection: redis::Connection,
}

impl Redis {
    fn start() -> Redis {
        let own = OwnRedis::start();
        let mut redis = Redis::connect(own.url().to_string());
        redis.server = Some(own);
        redis
    }

    /// A connection to the server at `url`.
    fn connect(url: String) -> Redis {
        let client = redis::Client::open(url.as_str()).unwrap();
        let started = Instant::now();
        let connection = loop {
            match client.get_connection() {
                Ok(connection) => break connection,
                Err(_) if started.elapsed() < Duration::from_secs(10) => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(e) => panic!("redis-server did not start: {e}"),
            }
        };
        Redis {
            server: None,
            url,
            connection,
        }
    }

    fn query<T: redis::FromRedisValue>(&mut self, words: &[&str]) -> T {
        let mut cmd = redis::cmd(words[0]);
        for word in &words[1..] {
            cmd.arg(*word);
        }
        cmd.query(&mut self.connection)
            .expect("a command to our redis-server")
    }

    /// Calls of each command since the last `CONFIG RESETSTAT`, by name.
    fn command_stats(&mut self) -> Vec<(String, u64)> {
        let info: String = self.query(&["INFO", "commandstats"]);
        info.lines()
            .filter_map(|line| line.strip_prefix("cmdstat_"))
            .filter_map(|line| {
                let (name, rest) = line.split_once(':')?;
                let calls = rest
                    .strip_prefix("calls=")?
                    .split(',')
                    .next()?
                    .parse()
                    .ok()?;
                Some((name.to_string(), calls))
            })
            .collect()
    }

    /// Every command the replicas sent or ran inside scripts (this program's own `INFO`
    /// and `CONFIG` left out).
    fn fleet_commands(&mut self) -> u64 {
        self.command_stats()
            .into_iter()
            .filter(|(name, _)| name != "info" && !name.starts_with("config"))
            .map(|(_, calls)| calls)
            .sum()
    }

    fn script_runs(&mut self) -> u64 {
        self.command_stats()
            .into_iter()
            .filter(|(name, _)| name == "evalsha")
            .map(|(_, calls)| calls)
            .sum()
    }
}

/// xorshift64*: random moments and breakers, reproducible from the seed printed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

struct Replica {
    backend: RedisBackend,
    breakers: Vec<CircuitBreaker>,
}

fn breaker(i: usize) -> breaker_runtime::Builder {
    CircuitBreaker::builder(format!("dep-{i}"))
        .fail_max(1)
        .reset_timeout(Duration::from_secs(600))
        .unregistered()
}

fn wait(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Median, 99th percentile and maximum.
struct Spread {
    samples: Vec<Duration>,
}

impl Spread {
    fn at(&self, quantile: f64) -> Duration {
        let mut sorted = self.samples.clone();
        sorted.sort();
        let rank = ((quantile * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }

    fn show(&self) -> String {
        let ms = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1e3);
        format!(
            "{} / {} / {}",
            ms(self.at(0.5)),
            ms(self.at(0.99)),
            ms(self.at(1.0))
        )
    }
}

struct Row {
    breakers: usize,
    replicas: usize,
    joined_in: Duration,
    idle_per_replica: f64,
    idle: Spread,
    reconciling: Spread,
    during_reconciliation: usize,
    heap_shared: f64,
    record_bytes: f64,
}

impl Row {
    /// One line of JSON, for the parent process.
    fn to_json(&self) -> String {
        let nanos = |s: &Spread| {
            s.samples
                .iter()
                .map(|d| d.as_nanos() as u64)
                .collect::<Vec<_>>()
        };
        serde_json::json!({
            "breakers": self.breakers,
            "replicas": self.replicas,
            "joined_in": self.joined_in.as_nanos() as u64,
            "idle_per_replica": self.idle_per_replica,
            "idle": nanos(&self.idle),
            "reconciling": nanos(&self.reconciling),
            "during_reconciliation": self.during_reconciliation,
            "heap_shared": self.heap_shared,
            "record_bytes": self.record_bytes,
        })
        .to_string()
    }

    fn from_json(line: &str) -> Row {
        let v: serde_json::Value = serde_json::from_str(line).expect("a row from the child");
        let int = |k: &str| v[k].as_u64().expect("a number");
        let float = |k: &str| v[k].as_f64().expect("a number");
        let spread = |k: &str| Spread {
            samples: v[k]
                .as_array()
                .expect("samples")
                .iter()
                .map(|n| Duration::from_nanos(n.as_u64().expect("nanoseconds")))
                .collect(),
        };
        Row {
            breakers: int("breakers") as usize,
            replicas: int("replicas") as usize,
            joined_in: Duration::from_nanos(int("joined_in")),
            idle_per_replica: float("idle_per_replica"),
            idle: spread("idle"),
            reconciling: spread("reconciling"),
            during_reconciliation: int("during_reconciliation") as usize,
            heap_shared: float("heap_shared"),
            record_bytes: float("record_bytes"),
        }
    }
}

struct Settings {
    breakers: Vec<usize>,
    replicas: Vec<usize>,
    trips: usize,
    idle: Duration,
    seed: u64,
    /// In a child process: measure one row against the server at this URL.
    row: Option<String>,
}

/// The time from a call tripping `from`'s breaker `i` until every replica's is open.
fn trip(fleet: &[Replica], from: usize, i: usize) -> Duration {
    let started = Instant::now();
    let _ = fleet[from].breakers[i]
        .call(|| Err::<(), Box<dyn std::error::Error + Send + Sync>>("down".into()));
    loop {
        if fleet.iter().all(|r| r.breakers[i].state() == State::Open) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "an opening did not reach every replica in 10 s"
        );
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// A breaker none of the replicas has seen open yet, and a replica to trip it.
fn pick(fleet: &[Replica], rng: &mut Rng) -> (usize, usize) {
    let n = fleet[0].breakers.len() as u64;
    loop {
        let i = rng.below(n - 1) as usize + 1; // breaker 0 warmed the connections up
        if fleet.iter().all(|r| r.breakers[i].state() == State::Closed) {
            return (rng.below(fleet.len() as u64) as usize, i);
        }
    }
}

fn run(redis: &mut Redis, breakers: usize, replicas: usize, s: &Settings, rng: &mut Rng) -> Row {
    let namespace = format!("scale-{breakers}x{replicas}-{}", std::process::id());
    eprintln!("\n{replicas} replicas x {breakers} shared breakers ({namespace})");

    // Each replica's backend, connected with one breaker; then the rest join.
    let mut fleet: Vec<Replica> = (0..replicas)
        .map(|_| {
            let backend = RedisBackend::builder(redis.url.as_str())
                .namespace(namespace.as_str())
                .build()
                .expect("a valid URL");
            let first = breaker(0).shared(&backend).build();
            Replica {
                backend,
                breakers: vec![first],
            }
        })
        .collect();
    wait("the replicas to connect", Duration::from_secs(20), || {
        fleet.iter().all(|r| r.backend.is_healthy())
    });
    let before = quiet_heap();
    let scripts_before = redis.script_runs();
    let joining = Instant::now();
    for replica in &mut fleet {
        let backend = replica.backend.clone();
        replica
            .breakers
            .extend((1..breakers).map(|i| breaker(i).shared(&backend).build()));
    }
    // Each joining breaker's record is read once (a script run), in pipelined batches.
    let joined = ((breakers - 1) * replicas) as u64;
    wait("the breakers to join", Duration::from_secs(300), || {
        redis.script_runs() - scripts_before >= joined
    });
    let joined_in = joining.elapsed();
    let heap_shared = (quiet_heap() - before) as f64 / joined as f64;
    eprintln!("  joined in {joined_in:?}, {heap_shared:.0} B of heap per breaker");

    // Idle: nothing happens for `idle` (several 5-second polls).
    std::thread::sleep(Duration::from_secs(1));
    let _: () = redis.query(&["CONFIG", "RESETSTAT"]);
    std::thread::sleep(s.idle);
    let idle_per_replica = redis.fleet_commands() as f64 / s.idle.as_secs_f64() / replicas as f64;
    eprintln!("  idle: {idle_per_replica:.2} commands/s per replica");

    // Trips at random moments: up to 400 ms apart, a poll every 5 s.
    let mut idle = Vec::new();
    let mut tripped = Vec::new();
    for _ in 0..s.trips {
        std::thread::sleep(Duration::from_millis(rng.below(400)));
        let (from, i) = pick(&fleet, rng);
        idle.push(trip(&fleet, from, i));
        tripped.push(i);
    }
    let idle = Spread { samples: idle };
    eprintln!("  idle trips (median / p99 / max, ms): {}", idle.show());
    // Closed again for the whole fleet (a manual transition), to be tripped again.
    for &i in &tripped {
        fleet[0].breakers[i].close();
    }
    wait("the fleet to close", Duration::from_secs(30), || {
        tripped
            .iter()
            .all(|&i| fleet.iter().all(|r| r.breakers[i].state() == State::Closed))
    });

    // Every connection killed: each replica reconnects and reads all its records again
    // (one script each, pipelined), while openings keep coming at random moments, up to
    // 20 ms apart. When a reconciliation is over, the connections are killed again: the
    // trips are all made right after a reconnection, as many as can be during one.
    let rereads = (breakers * replicas) as u64;
    let mut scripts_before = 0;
    let mut reconciling = Vec::new();
    let mut during_reconciliation = 0;
    while reconciling.len() < s.trips {
        if reconciling.is_empty() || redis.script_runs() - scripts_before >= rereads {
            scripts_before = redis.script_runs();
            // The command connections first: killing the subscriptions first, the
            // replicas would reconnect before the second kill, which would then take
            // the new connections too.
            let _: u64 = redis.query(&["CLIENT", "KILL", "TYPE", "normal"]);
            let _: u64 = redis.query(&["CLIENT", "KILL", "TYPE", "pubsub"]);
            wait("the replicas to reconnect", Duration::from_secs(30), || {
                redis.script_runs() > scripts_before && fleet.iter().all(|r| r.backend.is_healthy())
            });
        }
        std::thread::sleep(Duration::from_millis(rng.below(20)));
        let (from, i) = pick(&fleet, rng);
        reconciling.push(trip(&fleet, from, i));
        tripped.push(i);
        // Counted when the reconciliation was still going after the opening reached
        // every replica: it ran through the trip.
        if redis.script_runs() - scripts_before < rereads {
            during_reconciliation += 1;
        }
    }
    let reconciling = Spread {
        samples: reconciling,
    };
    eprintln!(
        "  trips after the reconnection (median / p99 / max, ms): {} ({} during the reconciliation)",
        reconciling.show(),
        during_reconciliation
    );

    // A breaker's record exists once it has transitioned; the others have none.
    let records: Vec<i64> = tripped
        .iter()
        .map(|&i| {
            let key = fleet[0].backend.record_key(&format!("dep-{i}"));
            redis.query(&["MEMORY", "USAGE", &key, "SAMPLES", "0"])
        })
        .collect();
    let untouched = (1..breakers)
        .find(|i| !tripped.contains(i))
        .map(|i| fleet[0].backend.record_key(&format!("dep-{i}")));
    if let Some(key) = untouched {
        let exists: i64 = redis.query(&["EXISTS", &key]);
        assert_eq!(exists, 0, "a breaker that never transitioned has no record");
    }
    let record_bytes = records.iter().sum::<i64>() as f64 / records.len() as f64;
    drop(fleet);
    Row {
        breakers,
        replicas,
        joined_in,
        idle_per_replica,
        idle,
        reconciling,
        during_reconciliation,
        heap_shared,
        record_bytes,
    }
}

fn settings() -> Settings {
    let mut s = Settings {
        breakers: vec![100, 1_000, 10_000],
        replicas: vec![2, 10],
        trips: 50,
        idle: Duration::from_secs(20),
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            | 1,
        row: None,
    };
    let mut args = std::env::args().skip(1);
    let list = |value: Option<String>| -> Vec<usize> {
        value
            .expect("a value after the option")
            .split(',')
            .map(|n| n.trim().replace('_', "").parse().expect("a number"))
            .collect()
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--breakers" => s.breakers = list(args.next()),
            "--replicas" => s.replicas = list(args.next()),
            "--trips" => s.trips = list(args.next())[0],
            "--idle-secs" => s.idle = Duration::from_secs(list(args.next())[0] as u64),
            "--seed" => s.seed = list(args.next())[0] as u64 | 1,
            "--row" => s.row = Some(args.next().expect("the server's URL")),
            "--quick" => {
                (s.breakers, s.replicas, s.trips) = (vec![100], vec![2], 10);
                s.idle = Duration::from_secs(6);
            }
            other => panic!(
                "unknown option {other}: --breakers 100,1000 --replicas 2,10 --trips 50 \
                 --idle-secs 20 --seed N --quick"
            ),
        }
    }
    assert!(
        s.breakers.iter().all(|&n| n > s.trips + 1),
        "--breakers must exceed --trips + 1: each trip of a phase opens a breaker of its own"
    );
    s
}

/// Runs one row in a process of its own (`--row`), so that no row's heap count sees
/// another row's breakers or threads.
fn row_in_child(url: &str, breakers: usize, replicas: usize, s: &Settings, seed: u64) -> Row {
    let output = Command::new(std::env::current_exe().expect("this program"))
        .args(["--row", url, "--breakers", &breakers.to_string()])
        .args([
            "--replicas",
            &replicas.to_string(),
            "--trips",
            &s.trips.to_string(),
        ])
        .args(["--idle-secs", &s.idle.as_secs().to_string()])
        .args(["--seed", &seed.to_string()])
        .stderr(Stdio::inherit())
        .output()
        .expect("run a row");
    assert!(
        output.status.success(),
        "the row {replicas} x {breakers} failed"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    Row::from_json(stdout.lines().last().expect("a row"))
}

fn main() {
    let s = settings();
    if let Some(url) = &s.row {
        let mut redis = Redis::connect(url.clone());
        let row = run(
            &mut redis,
            s.breakers[0],
            s.replicas[0],
            &s,
            &mut Rng(s.seed),
        );
        println!("{}", row.to_json());
        return;
    }
    eprintln!("seed {} (--seed to repeat the same moments)", s.seed);
    let mut rng = Rng(s.seed);
    let redis = Redis::start();
    let mut redis = redis;
    let version: String = redis.query(&["INFO", "server"]);
    let version = version
        .lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .unwrap_or("?")
        .to_string();
    // A local breaker's heap, for comparison: measured before any replica runs.
    let before = heap();
    let local: Vec<CircuitBreaker> = (0..10_000).map(|i| breaker(i).build()).collect();
    let heap_local = (heap() - before) as f64 / local.len() as f64;
    drop(local);
    let mut rows = Vec::new();
    for &breakers in &s.breakers {
        for &replicas in &s.replicas {
            let seed = rng.below(u64::MAX) | 1;
            rows.push(row_in_child(&redis.url, breakers, replicas, &s, seed));
        }
    }

    println!(
        "\nredis-server {version} on loopback; {} trips per row at random moments; \
         propagation until every replica is open, median / p99 / max in ms\n",
        s.trips
    );
    println!(
        "| replicas × shared breakers | joined in | idle commands/s per replica | \
         opening, idle | opening, reconnected (during the reconciliation) | \
         heap per shared breaker | Redis per record |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} × {} | {:.2} s | {:.2} | {} | {} ({} of {}) | {:.0} B | {:.0} B |",
            r.replicas,
            r.breakers,
            r.joined_in.as_secs_f64(),
            r.idle_per_replica,
            r.idle.show(),
            r.reconciling.show(),
            r.during_reconciliation,
            r.reconciling.samples.len(),
            r.heap_shared,
            r.record_bytes,
        );
    }
    println!("\nA local breaker of the same settings: {heap_local:.0} B of heap.");
    let slowest = rows
        .iter()
        .flat_map(|r| r.idle.samples.iter().chain(&r.reconciling.samples))
        .max()
        .copied()
        .unwrap_or_default();
    println!(
        "\nslowest opening overall: {:.1} ms ({} the 200 ms bound)",
        slowest.as_secs_f64() * 1e3,
        if slowest <= Duration::from_millis(200) {
            "within"
        } else {
            "OVER"
        }
    );
}
