//! What `#[circuit_breaker]` expands into. Not a public API: names and signatures here
//! change without notice. Generated code reaches everything through this one module so
//! that the macro never names the crate's public items directly.

use std::marker::PhantomData;
use std::sync::OnceLock;

pub use std::time::Duration;

pub use crate::permit::Verdict;
pub use crate::CircuitBreakerError;
use crate::{CircuitBreaker, Config, Permit};

/// The breaker of one annotated function: a `static` inside the function body, built
/// and registered on the first call.
pub struct StaticBreaker {
    cell: OnceLock<CircuitBreaker>,
    config: Config,
    name: Option<&'static str>,
}

impl StaticBreaker {
    /// The attribute's settings, already validated by the macro. `name` is the
    /// `name = "..."` argument; without it the breaker is named after the function's
    /// path, found at first use.
    pub const fn new(
        fail_max: u32,
        reset_timeout_nanos: u64,
        success_threshold: u32,
        name: Option<&'static str>,
    ) -> Self {
        let reset_timeout = Duration::from_nanos(reset_timeout_nanos);
        let config = Config {
            fail_max,
            reset_timeout,
            success_threshold,
            probe_lease: reset_timeout,
        };
        StaticBreaker {
            cell: OnceLock::new(),
            config,
            name,
        }
    }

    /// The breaker; `locate` gives the default name (the function's path) on first use.
    #[inline(always)]
    pub fn get(&'static self, locate: fn() -> &'static str) -> &'static CircuitBreaker {
        match self.cell.get() {
            Some(breaker) => breaker,
            None => self.init(locate),
        }
    }

    #[cold]
    #[inline(never)]
    fn init(&'static self, locate: fn() -> &'static str) -> &'static CircuitBreaker {
        self.cell.get_or_init(|| {
            let name = self.name.unwrap_or_else(locate);
            // The macro validated every value at compile time.
            CircuitBreaker::builder(name).config(self.config).build()
        })
    }
}

/// Runs a function's body, wrapped in a closure so that `return` and `?` inside it end
/// the body and not the function. Taking it as `FnOnce` makes the compiler infer the
/// closure as one: a closure inferred as `FnMut` cannot hand out a reborrow of what it
/// captured (`&mut self -> Result<&mut T, E>`), an `FnOnce` one can.
#[inline(always)]
pub fn once<R>(body: impl FnOnce() -> R) -> R {
    body()
}

/// The path of the function that declares the item `marker`, as `module::Type::method`:
/// the default breaker name. Only this shim is generic, so each annotated function adds
/// one tiny instantiation; computed once per function, so the string is leaked.
#[inline]
pub fn function_path<F>(_marker: F) -> &'static str {
    path_of_marker(std::any::type_name::<F>())
}

fn path_of_marker(marker: &str) -> &'static str {
    let path = marker
        .rsplit_once("::")
        .map_or(marker, |(parent, _)| parent);
    Box::leak(path.replace("::{{closure}}", "").into_boxed_str())
}

/// The breaker named by `breaker = ...`: `(&&BreakerRef(&expr)).breaker()`.
///
/// Anything that dereferences to a `CircuitBreaker` (`LazyLock`, `once_cell`'s `Lazy`,
/// `Arc`, `Box`, a reference) goes through [`ViaDeref`], tried first because it takes one
/// more reference; a `CircuitBreaker` itself through [`ViaAsBreaker`], whose bound then
/// explains any other type.
pub struct BreakerRef<'a, T: ?Sized>(pub &'a T);

/// `breaker = LAZY` and other smart pointers.
pub trait ViaDeref<'a> {
    /// The breaker.
    fn breaker(&self) -> &'a CircuitBreaker;
}

impl<'a, T: std::ops::Deref<Target = CircuitBreaker> + ?Sized> ViaDeref<'a> for &BreakerRef<'a, T> {
    #[inline(always)]
    fn breaker(&self) -> &'a CircuitBreaker {
        self.0
    }
}

/// `breaker = self.breaker` and other plain breakers.
pub trait ViaAsBreaker<'a, T: ?Sized> {
    /// The breaker.
    fn breaker(&self) -> &'a CircuitBreaker
    where
        T: AsBreaker;
}

impl<'a, T: ?Sized> ViaAsBreaker<'a, T> for BreakerRef<'a, T> {
    #[inline(always)]
    fn breaker(&self) -> &'a CircuitBreaker
    where
        T: AsBreaker,
    {
        self.0.as_breaker()
    }
}

/// Implemented by `CircuitBreaker` only: its message is what the compiler says when
/// `breaker = ...` names something else.
#[diagnostic::on_unimplemented(
    message = "`breaker = ...` needs a `CircuitBreaker`, not `{Self}`",
    label = "this is not a circuit breaker",
    note = "name a `static` holding a `CircuitBreaker` (e.g. `LazyLock<CircuitBreaker>`) or an expression such as `self.breaker`"
)]
pub trait AsBreaker {
    /// The breaker itself.
    fn as_breaker(&self) -> &CircuitBreaker;
}

impl AsBreaker for CircuitBreaker {
    #[inline(always)]
    fn as_breaker(&self) -> &CircuitBreaker {
        self
    }
}

/// What an annotated function returns: a `Result`, whatever it is called
/// (`io::Result<T>`, `anyhow::Result<T>`).
#[diagnostic::on_unimplemented(
    message = "`#[circuit_breaker]` needs a function that returns a `Result`, not `{Self}`",
    label = "this must be a `Result<T, E>` (or an alias of one)",
    note = "the breaker counts `Err` as a failure and `Ok` as a success"
)]
pub trait Outcome {
    /// The error type.
    type Error;
    /// The error, if this is one.
    fn error(&self) -> Option<&Self::Error>;
}

impl<T, E> Outcome for Result<T, E> {
    type Error = E;
    #[inline(always)]
    fn error(&self) -> Option<&E> {
        self.as_ref().err()
    }
}

/// Gives the permit its verdict: `Ok` is a success, an `Err` is whatever `classify`
/// says (it runs only for errors).
#[inline(always)]
pub fn settle<R: Outcome>(
    permit: Permit<'_>,
    result: &R,
    classify: impl FnOnce(&R::Error) -> Verdict,
) {
    permit.finish(result.error().map_or(Verdict::Success, classify));
}

/// Calls a `failure_if` predicate with its argument type taken from the error, so a
/// closure needs no type annotation.
#[inline(always)]
pub fn failure_if<E: ?Sized>(error: &E, predicate: impl FnOnce(&E) -> bool) -> bool {
    predicate(error)
}

/// Turns a rejection into the function's return type `R`:
/// `(&&Reject::<R>::new()).reject(error)`.
///
/// Method resolution tries `RejectViaFrom` first (it takes one more reference), which
/// applies when `R` is a `Result` whose error type converts from
/// [`CircuitBreakerError`]. Otherwise it falls back to `RejectUnsupported`, whose
/// `Rejectable` bound no type meets, so the compiler reports our message instead of a
/// bare missing `From` impl.
pub struct Reject<R>(PhantomData<R>);

impl<R> Reject<R> {
    /// A resolver for return type `R`.
    #[inline(always)]
    pub const fn new() -> Self {
        Reject(PhantomData)
    }
}

impl<R> Default for Reject<R> {
    fn default() -> Self {
        Self::new()
    }
}

/// The rejection as `Err(E::from(error))`.
pub trait RejectViaFrom<R> {
    /// Converts.
    fn reject(&self, error: CircuitBreakerError) -> R;
}

impl<T, E: From<CircuitBreakerError>> RejectViaFrom<Result<T, E>> for &Reject<Result<T, E>> {
    #[cold]
    fn reject(&self, error: CircuitBreakerError) -> Result<T, E> {
        Err(E::from(error))
    }
}

/// Chosen only when `RejectViaFrom` does not apply, to fail with a helpful message. The
/// impl applies to every type, so method resolution picks it; the method's own bound
/// then fails with [`Rejectable`]'s message.
pub trait RejectUnsupported<R> {
    /// Never compiles: see [`Rejectable`].
    fn reject(&self, error: CircuitBreakerError) -> R
    where
        R: Rejectable;
}

impl<R> RejectUnsupported<R> for Reject<R> {
    fn reject(&self, _: CircuitBreakerError) -> R
    where
        R: Rejectable,
    {
        unreachable!("Rejectable has no implementations")
    }
}

/// Implemented by no type: its only purpose is the compiler message below.
#[diagnostic::on_unimplemented(
    message = "`#[circuit_breaker]` cannot return a rejection as `{Self}`",
    label = "rejected calls return this type, so it must be a `Result` whose error type implements `From<CircuitBreakerError>`",
    note = "implement `From<breaker_runtime::CircuitBreakerError>` for the error type, or add `fallback = some_function` to `#[circuit_breaker]`"
)]
pub trait Rejectable {}

/// For return types the macro cannot name (they contain `impl Trait`): plain
/// `Err(E::from(error))`.
#[cold]
pub fn reject<T, E: From<CircuitBreakerError>>(error: CircuitBreakerError) -> Result<T, E> {
    Err(E::from(error))
}

/// `call_timeout`: the call's future, abandoned after `limit`.
#[cfg(feature = "tokio")]
pub fn timeout<F: std::future::IntoFuture>(
    limit: Duration,
    future: F,
) -> tokio::time::Timeout<F::IntoFuture> {
    tokio::time::timeout(limit, future)
}

/// Without the `tokio` feature there is no timer: this bound is never met, and the
/// compiler says why.
#[cfg(not(feature = "tokio"))]
#[diagnostic::on_unimplemented(
    message = "`call_timeout` needs the `tokio` feature of breaker-runtime",
    label = "a timer is needed to abandon this call",
    note = "enable it in Cargo.toml: `breaker-runtime = {{ version = \"0.1\", features = [\"tokio\"] }}`"
)]
pub trait TimerAvailable {}

/// Stands in for the tokio-backed `timeout` when the feature is off.
#[cfg(not(feature = "tokio"))]
pub fn timeout<F: std::future::IntoFuture + TimerAvailable>(
    _limit: Duration,
    future: F,
) -> std::future::Ready<Result<<F as std::future::IntoFuture>::Output, ()>> {
    let _ = future;
    unreachable!("TimerAvailable has no implementations")
}
