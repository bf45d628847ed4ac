//! Zero heap allocations per call, in every state: a counting global allocator watches
//! this thread while the breaker works.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use breaker_runtime::{
    circuit_breaker, registry, CircuitBreaker, CircuitBreakerError, ManualClock,
};

struct Counting;

thread_local! {
    // `const` and without a destructor: reading it never allocates.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Heap allocations made by this thread while `f` runs.
fn allocations(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[derive(Debug)]
struct E;

impl From<CircuitBreakerError> for E {
    fn from(_: CircuitBreakerError) -> Self {
        E
    }
}

impl std::fmt::Display for E {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("failed")
    }
}

#[circuit_breaker(name = "alloc-sync", fail_max = 3)]
fn annotated(fail: bool) -> Result<u32, E> {
    if fail {
        Err(E)
    } else {
        Ok(1)
    }
}

#[circuit_breaker(name = "alloc-async", fail_max = 3)]
async fn annotated_async(fail: bool) -> Result<u32, E> {
    if fail {
        Err(E)
    } else {
        Ok(1)
    }
}

struct Noop;

impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

fn poll_once<F: Future>(waker: &Waker, f: F) -> Option<F::Output> {
    match pin!(f).poll(&mut Context::from_waker(waker)) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

/// One call and one transition on this thread first: with the `metrics` feature, this
/// thread's counting block and the breaker's metric handles are created then, once.
fn warm_up(b: &CircuitBreaker) {
    let _ = b.call(|| Ok::<u32, E>(1));
    b.open();
    b.close();
}

#[test]
fn runtime_calls_allocate_nothing_in_any_state() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("alloc-runtime")
        .fail_max(2)
        .reset_timeout(Duration::from_secs(10))
        .clock(clock.clone())
        .build();
    let ok = || Ok::<u32, E>(1);
    let err = || Err::<u32, E>(E);
    warm_up(&b);

    assert_eq!(
        allocations(|| {
            let _ = b.call(ok);
        }),
        0,
        "closed success"
    );
    assert_eq!(
        allocations(|| {
            let _ = b.call(err);
        }),
        0,
        "closed failure"
    );
    assert_eq!(
        allocations(|| {
            let _ = b.call(ok);
        }),
        0,
        "closed success resetting a count"
    );
    assert_eq!(
        allocations(|| {
            let _ = b.call(err);
        }),
        0
    );
    assert_eq!(
        allocations(|| {
            let _ = b.call(err);
        }),
        0,
        "the failure that opens"
    );
    assert_eq!(
        allocations(|| {
            let _ = b.call(ok);
        }),
        0,
        "open rejection"
    );
    assert_eq!(
        allocations(|| {
            let _ = b.try_acquire();
        }),
        0,
        "open rejection via try_acquire"
    );
    clock.advance(Duration::from_secs(10));
    let probe = b.try_acquire().unwrap();
    assert_eq!(
        allocations(|| {
            let _ = b.try_acquire();
        }),
        0,
        "rejection while a probe runs"
    );
    assert_eq!(allocations(|| probe.success()), 0, "the probe that closes");
    assert_eq!(
        allocations(|| {
            let _ = b.try_acquire();
        }),
        0,
        "a permit dropped unused"
    );
    assert_eq!(allocations(|| b.open()), 0, "manual transitions");
    assert_eq!(allocations(|| b.close()), 0);
}

#[test]
fn annotated_calls_allocate_nothing_after_the_first() {
    annotated(false).unwrap(); // the first call builds and registers the breaker
    warm_up(&registry::get("alloc-sync").unwrap());
    assert_eq!(
        allocations(|| {
            let _ = annotated(false);
        }),
        0,
        "closed success"
    );
    assert_eq!(
        allocations(|| {
            let _ = annotated(true);
        }),
        0,
        "closed failure"
    );
    let _ = annotated(true);
    assert_eq!(
        allocations(|| {
            let _ = annotated(true);
        }),
        0,
        "the failure that opens"
    );
    assert_eq!(
        allocations(|| {
            let _ = annotated(false);
        }),
        0,
        "open rejection"
    );
    registry::get("alloc-sync").unwrap().close();

    let waker = Waker::from(Arc::new(Noop));
    poll_once(&waker, annotated_async(false)).unwrap().unwrap();
    warm_up(&registry::get("alloc-async").unwrap());
    assert_eq!(
        allocations(|| {
            let _ = poll_once(&waker, annotated_async(false));
        }),
        0,
        "async success"
    );
    assert_eq!(
        allocations(|| {
            let _ = poll_once(&waker, annotated_async(true));
        }),
        0,
        "async failure"
    );
    registry::get("alloc-async").unwrap().open();
    assert_eq!(
        allocations(|| {
            let _ = poll_once(&waker, annotated_async(false));
        }),
        0,
        "async rejection"
    );
}

#[test]
fn keyed_calls_on_a_known_key_allocate_nothing() {
    let hosts: breaker_runtime::keyed::Breakers<String> =
        breaker_runtime::keyed::Breakers::new(|host: &String| {
            CircuitBreaker::builder(format!("alloc-keyed[{host}]")).unregistered()
        });
    let ok = || Ok::<u32, E>(1);
    for _ in 0..3 {
        let _ = hosts.call("a.example", ok); // makes the key's breaker, warms the thread
        hosts.try_acquire("a.example").unwrap().success();
    }
    assert_eq!(
        allocations(|| {
            let _ = hosts.call("a.example", ok);
        }),
        0,
        "call by key"
    );
    assert_eq!(
        allocations(|| hosts.try_acquire("a.example").unwrap().success()),
        0,
        "try_acquire by key"
    );
}

#[test]
fn the_counter_sees_allocations() {
    assert_eq!(
        allocations(|| {
            let _ = Box::new(1u64);
        }),
        1,
        "the harness itself works"
    );
}

#[test]
fn a_shared_breaker_allocates_nothing_per_call_either() {
    // No Redis at this address: the breaker runs locally, its backend degraded; the call
    // path is the same as with one (no I/O on it either way).
    let backend = breaker_runtime::shared::RedisBackend::builder("redis://127.0.0.1:9")
        .namespace("alloc")
        .build()
        .unwrap();
    let b = CircuitBreaker::builder("alloc-shared")
        .fail_max(1)
        .reset_timeout(Duration::from_secs(3600))
        .shared(&backend)
        .build();
    warm_up(&b);
    assert_eq!(
        allocations(|| {
            let _ = b.call(|| Ok::<u32, E>(1));
        }),
        0,
        "closed success"
    );
    let _ = b.call(|| Err::<u32, E>(E)); // trips: the vote is the background thread's
    assert_eq!(b.state(), breaker_runtime::State::Open);
    assert_eq!(
        allocations(|| {
            let _ = b.call(|| Ok::<u32, E>(1));
        }),
        0,
        "open rejection (asking the fleet for a refresh)"
    );
}
