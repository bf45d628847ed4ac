//! The atomics the state machine is built on: `std`'s, or `loom`'s when the crate is
//! compiled with `--cfg loom`, so the loom model checks the very code users run.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::AtomicU64;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::AtomicU64;

/// Locks `mutex`, poisoned or not. Each lock of this crate guards a swap, a push or a
/// read, so a panic while one was held (in a metrics recorder, say) left its data whole,
/// and the breaker must keep working after it.
pub(crate) fn lock<T: ?Sized>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
