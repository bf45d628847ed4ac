//! Callers that keep calling through a fleet's breakers while its Redis fails over,
//! recording what the failover tests assert: that no call waited on Redis and that no
//! two fleet probes overlapped for longer than one lease.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use breaker_runtime::CircuitBreaker;

use crate::{poll_until, TestError};

/// What one replica's callers call: `probed` against a dependency that stays down (each
/// probe taking 20 ms, so that overlaps would show), and `timed` with a dependency that
/// answers at once, timing every call.
#[derive(Clone)]
pub struct Calls {
    /// The breaker whose probes are recorded.
    pub probed: CircuitBreaker,
    /// The breakers whose calls are timed.
    pub timed: Vec<CircuitBreaker>,
}

/// Two threads per replica calling through its [`Calls`] until [`stop`](Traffic::stop).
pub struct Traffic {
    stop: Arc<AtomicBool>,
    probes: Arc<Mutex<Vec<(Instant, Instant)>>>,
    slowest: Arc<Mutex<Duration>>,
    threads: Vec<JoinHandle<()>>,
}

impl Traffic {
    /// Starts the callers, two threads for each replica's calls.
    pub fn start(replicas: &[Calls]) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let probes = Arc::new(Mutex::new(Vec::new()));
        let slowest = Arc::new(Mutex::new(Duration::ZERO));
        let threads = replicas
            .iter()
            .flat_map(|calls| [calls.clone(), calls.clone()])
            .map(|calls| {
                let (stop, probes, slowest) = (stop.clone(), probes.clone(), slowest.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        let _ = calls.probed.call(|| {
                            let began = Instant::now();
                            std::thread::park_timeout(Duration::from_millis(20));
                            probes.lock().unwrap().push((began, Instant::now()));
                            Err::<(), _>(TestError::Down)
                        });
                        for breaker in &calls.timed {
                            let started = Instant::now();
                            let _ = breaker.call(|| Ok::<_, TestError>(()));
                            let took = started.elapsed();
                            let mut slowest = slowest.lock().unwrap();
                            *slowest = (*slowest).max(took);
                        }
                        std::thread::park_timeout(Duration::from_millis(5));
                    }
                })
            })
            .collect();
        Traffic {
            stop,
            probes,
            slowest,
            threads,
        }
    }

    /// Waits for three probes from now: the fleet keeps probing.
    pub fn keeps_probing(&self) {
        let now = Instant::now();
        poll_until(Duration::from_secs(10), || {
            let probes = self.probes.lock().unwrap();
            probes.iter().filter(|p| p.0 >= now).count() >= 3
        })
        .expect("the fleet keeps probing");
    }

    /// Stops the callers, and checks that no call waited (took 50 ms or more) and that
    /// no two probes overlapped for longer than `lease`.
    pub fn stop(self, lease: Duration) {
        self.stop.store(true, Ordering::SeqCst);
        self.threads.into_iter().for_each(|t| t.join().unwrap());
        let slowest = *self.slowest.lock().unwrap();
        assert!(
            slowest < Duration::from_millis(50),
            "a call took {slowest:?}: it waited on Redis"
        );
        let mut probes = self.probes.lock().unwrap().clone();
        probes.sort();
        for (i, a) in probes.iter().enumerate() {
            for b in &probes[i + 1..] {
                let overlap = a.1.min(b.1).saturating_duration_since(b.0);
                assert!(
                    overlap <= lease,
                    "two fleet probes ran together for {overlap:?}"
                );
            }
        }
    }
}
