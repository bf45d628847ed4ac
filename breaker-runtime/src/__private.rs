//! What `#[circuit_breaker]` expands into. Not a public API: names and signatures here
//! change without notice. Generated code reaches everything through this one module so
//! that the macro never names the crate's public items directly.

use std::marker::PhantomData;
use std::sync::OnceLock;

pub use std::time::Duration;

pub use crate::listener::CallError;
use crate::outcome::Seen;
pub use crate::outcome::Verdict;
pub use crate::CircuitBreakerError;
use crate::{Advice, CircuitBreaker, Permit};
pub use crate::{Backoff, Config, Percent, Window};

mod per_key;
pub use per_key::{
    ErasedKey, KeyArg, KeyLabel, KeyViaRef, KeyViaValue, LabelViaDebug, LabelViaDisplay,
    LabelViaHash, PerGuard, PerKey, PerKeyValue,
};

/// The breaker of one annotated function: a `static` inside the function body, built
/// and registered on first use: its first call, or the first read of the registry
/// (see [`Registration`]), whichever comes first.
pub struct StaticBreaker {
    cell: OnceLock<CircuitBreaker>,
    config: Config,
    name: Option<&'static str>,
    /// `shared`: the quorum with which it joins the installed fleet backend.
    shared: Option<u32>,
}

impl StaticBreaker {
    /// The attribute's settings, written out over [`Config::DEFAULT`] (the runtime's
    /// defaults apply where the attribute left one unset). `name` is the `name = "..."`
    /// argument; without it the breaker is named after the function's path, found at
    /// first use.
    ///
    /// The macro validated every value against its own copy of the runtime's limits;
    /// this checks them again at compile time (it runs in the `static`'s initializer), so
    /// should the two ever drift apart the build fails instead of the first call.
    pub const fn new(config: Config, name: Option<&'static str>, shared: Option<u32>) -> Self {
        assert!(
            config.validate().is_ok(),
            "#[circuit_breaker] accepted a setting that breaker-runtime refuses: \
             breaker-macros and breaker-runtime must be the same version"
        );
        StaticBreaker {
            cell: OnceLock::new(),
            config,
            name,
            shared,
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
            // The macro validated every value at compile time, and the function owns its
            // name (the registry builds it before any other breaker of that name), so
            // only another annotated function given the same `name` with other settings
            // can have taken it. Its calls must not fail for that: this one then runs on
            // a breaker of its own, outside the registry, and says so.
            let builder = || {
                let builder = CircuitBreaker::builder(name).config(self.config);
                match self.shared {
                    Some(quorum) => builder.shared_installed().quorum(quorum),
                    None => builder,
                }
            };
            match builder().owned_by(crate::registry::owner(self)).try_build() {
                Ok(breaker) => breaker,
                Err(_taken) => {
                    let function = locate();
                    crate::registry::runs_privately(
                        name,
                        format_args!("the #[circuit_breaker] function `{function}`"),
                    );
                    builder().unregistered().build()
                }
            }
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

/// Link-time registration, so that annotated functions' breakers are in the registry
/// before their first call.
pub use inventory;

/// An annotated function's breaker, submitted to [`inventory`] by the expansion: the
/// registry builds every one of them the first time it is read.
pub use crate::registry::Registration;

/// What the registry asks of an annotated function's breaker on its first read: to be
/// built (and so registered), as its first call would.
impl crate::registry::BuildOnRead for StaticBreaker {
    fn build(&'static self, locate: fn() -> &'static str) {
        self.get(locate);
    }

    fn name(&'static self, locate: fn() -> &'static str) -> &'static str {
        self.name.unwrap_or_else(locate)
    }
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
/// says, and `view` shows it to listeners (both run only for errors).
#[inline(always)]
pub fn settle<R: Outcome>(
    permit: impl Settles,
    result: &R,
    classify: impl FnOnce(&R::Error) -> Verdict,
    view: impl for<'e> FnOnce(&'e R::Error) -> Option<CallError<'e>>,
) {
    match result.error() {
        None => permit.settle_with(Verdict::Success, None),
        Some(error) => {
            let seen = view(error).map(Seen::of::<R::Error>);
            permit.settle_with(classify(error), seen);
        }
    }
}

/// [`settle`] for a function with `retry_after = f`: a failure carries the advice `advise`
/// reads from its error (called only for a failure).
#[inline(always)]
pub fn settle_advised<R: Outcome>(
    permit: impl Settles,
    result: &R,
    classify: impl FnOnce(&R::Error) -> Verdict,
    view: impl for<'e> FnOnce(&'e R::Error) -> Option<CallError<'e>>,
    advise: impl FnOnce(&R::Error) -> Option<Advice>,
) {
    match result.error() {
        None => permit.settle_with(Verdict::Success, None),
        Some(error) => {
            let seen = view(error).map(Seen::of::<R::Error>);
            match classify(error) {
                Verdict::Failure => match advise(error) {
                    Some(advice) => permit.settle_advised(seen, advice),
                    None => permit.settle_with(Verdict::Failure, seen),
                },
                verdict => permit.settle_with(verdict, seen),
            }
        }
    }
}

/// Calls a `retry_after` function with its argument type taken from the error, so a
/// closure or a generic function needs no annotation. It answers the wait
/// (`Option<Duration>`: advice of source `function`) or an [`Advice`] with a source of
/// its own (`breaker_runtime::grpc::retry_after`).
#[inline(always)]
pub fn retry_after<E: ?Sized, A: RetryAfterAnswer>(
    error: &E,
    read: impl FnOnce(&E) -> A,
) -> Option<Advice> {
    read(error).advice()
}

/// What a `retry_after` function may answer.
#[diagnostic::on_unimplemented(
    message = "a `retry_after` function answers `Option<Duration>` (or `Option<breaker_runtime::Advice>`), not `{Self}`",
    label = "this function answers `{Self}`",
    note = "write `fn retry_after_of(e: &MyError) -> Option<std::time::Duration>`: the wait the upstream advised, or `None`"
)]
pub trait RetryAfterAnswer {
    /// The answer as advice.
    fn advice(self) -> Option<Advice>;
}

impl RetryAfterAnswer for Option<Duration> {
    #[inline(always)]
    fn advice(self) -> Option<Advice> {
        Advice::new(self?, crate::AdviceSource::Function)
    }
}

impl RetryAfterAnswer for Option<Advice> {
    #[inline(always)]
    fn advice(self) -> Option<Advice> {
        self
    }
}

/// Admission for a function with a `fallback`: a rejection is answered, so the caller's
/// trace is not told the call failed.
#[inline(always)]
pub fn try_acquire_answered(breaker: &CircuitBreaker) -> Result<Permit<'_>, CircuitBreakerError> {
    breaker.try_acquire_answered()
}

/// A call abandoned at its `call_timeout`: a failure, with the timeout as its error.
#[inline]
pub fn timed_out(permit: impl Settles, error: &CircuitBreakerError) {
    permit.settle_with(
        Verdict::Failure,
        Some(Seen::of::<CircuitBreakerError>(CallError::Error(error))),
    );
}

/// What generated code gives a verdict to: a [`Permit`], or the [`OwnedPermit`](crate::OwnedPermit) of a
/// `per = ...` async function (whose future holds no guard across an `.await`).
pub trait Settles {
    /// Gives the verdict, with the error listeners see.
    fn settle_with(self, verdict: Verdict, error: Option<Seen<'_>>);
    /// Gives a failure with the upstream's advice.
    fn settle_advised(self, error: Option<Seen<'_>>, advice: Advice);
}

impl Settles for Permit<'_> {
    #[inline(always)]
    fn settle_with(self, verdict: Verdict, error: Option<Seen<'_>>) {
        self.finish_with(verdict, error);
    }

    fn settle_advised(self, error: Option<Seen<'_>>, advice: Advice) {
        self.finish_advised(error, advice);
    }
}

impl Settles for crate::OwnedPermit {
    #[inline]
    fn settle_with(self, verdict: Verdict, error: Option<Seen<'_>>) {
        self.finish(verdict, error);
    }

    fn settle_advised(self, error: Option<Seen<'_>>, advice: Advice) {
        self.finish_advised(error, advice);
    }
}

/// An error as listeners see it: `(&&&&ErrorView(error)).view()`.
///
/// Method resolution tries, from the most references down: the error type implements
/// `std::error::Error` ([`ViewAsError`]); it dereferences to one, as
/// `Box<dyn Error + Send + Sync>` and `anyhow::Error` do ([`ViewThroughDeref`]); it
/// implements `Debug` ([`ViewAsDebug`]); anything else shows nothing ([`ViewNothing`]).
pub struct ErrorView<'e, E: ?Sized>(pub &'e E);

/// An error type that implements `std::error::Error` (and is `'static`, so listeners
/// can downcast it).
pub trait ViewAsError<'e> {
    /// The view.
    fn view(&self) -> Option<CallError<'e>>;
}

impl<'e, E: std::error::Error + 'static> ViewAsError<'e> for &&&ErrorView<'e, E> {
    #[inline(always)]
    fn view(&self) -> Option<CallError<'e>> {
        Some(CallError::Error(self.0))
    }
}

/// An error type that dereferences to `dyn Error + Send + Sync`.
pub trait ViewThroughDeref<'e> {
    /// The view.
    fn view(&self) -> Option<CallError<'e>>;
}

impl<'e, E> ViewThroughDeref<'e> for &&ErrorView<'e, E>
where
    E: std::ops::Deref<Target = dyn std::error::Error + Send + Sync>,
{
    #[inline(always)]
    fn view(&self) -> Option<CallError<'e>> {
        Some(CallError::Error(&**self.0))
    }
}

/// An error type that is only `Debug`.
pub trait ViewAsDebug<'e> {
    /// The view.
    fn view(&self) -> Option<CallError<'e>>;
}

impl<'e, E: std::fmt::Debug> ViewAsDebug<'e> for &ErrorView<'e, E> {
    #[inline(always)]
    fn view(&self) -> Option<CallError<'e>> {
        Some(CallError::Debug(self.0))
    }
}

/// An error type listeners cannot show.
pub trait ViewNothing<'e> {
    /// The view.
    fn view(&self) -> Option<CallError<'e>>;
}

impl<'e, E> ViewNothing<'e> for ErrorView<'e, E> {
    #[inline(always)]
    fn view(&self) -> Option<CallError<'e>> {
        None
    }
}

/// Calls a `failure_if` predicate with its argument type taken from the error, so a
/// closure needs no type annotation. The predicate answers a `bool` (failure or
/// success) or a [`Verdict`] (which may be neutral: `breaker_runtime::grpc::classify`).
#[inline(always)]
pub fn failure_if<E: ?Sized, A: FailureIfAnswer>(
    error: &E,
    predicate: impl FnOnce(&E) -> A,
) -> Verdict {
    predicate(error).verdict()
}

/// What a `failure_if` predicate may answer.
#[diagnostic::on_unimplemented(
    message = "a `failure_if` predicate answers `bool` or `breaker_runtime::Verdict`, not `{Self}`",
    label = "this predicate answers `{Self}`",
    note = "write `failure_if = |e| matches!(e, MyError::Timeout)`, or a function `fn(&E) -> Verdict`"
)]
pub trait FailureIfAnswer {
    /// The answer as a verdict.
    fn verdict(self) -> Verdict;
}

impl FailureIfAnswer for bool {
    #[inline(always)]
    fn verdict(self) -> Verdict {
        if self {
            Verdict::Failure
        } else {
            Verdict::Success
        }
    }
}

impl FailureIfAnswer for Verdict {
    #[inline(always)]
    fn verdict(self) -> Verdict {
        self
    }
}

/// Turns a rejection into the function's return type `R`:
/// `rejected((&&&Reject::<R>::new()).reject(error))`.
///
/// Method resolution tries the impls from the most references down:
/// - `RejectViaFrom`, when `R` is a `Result` whose error type converts from
///   [`CircuitBreakerError`]: the rejection as `Err(E::from(error))`;
/// - `RejectUnsupported`, for any other `Result`: it answers [`Unconvertible`], which
///   [`rejected`] refuses with our message (on the whole return type, where the call's
///   tokens are placed) instead of a bare missing `From` impl;
/// - `RejectNotResult`, for a type that is no `Result` at all: it compiles, because
///   [`settle`]'s `Outcome` bound already reports that mistake, once.
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

/// A rejection converted into the return type.
pub struct Rejected<R>(R);

/// A rejection that the return type cannot hold.
pub struct Unconvertible<R>(PhantomData<R>);

/// The rejection as `Err(E::from(error))`.
pub trait RejectViaFrom<R> {
    /// Converts.
    fn reject(&self, error: CircuitBreakerError) -> Rejected<R>;
}

impl<T, E: From<CircuitBreakerError>> RejectViaFrom<Result<T, E>> for &&Reject<Result<T, E>> {
    #[cold]
    fn reject(&self, error: CircuitBreakerError) -> Rejected<Result<T, E>> {
        Rejected(Err(E::from(error)))
    }
}

/// A `Result` whose error type has no `From<CircuitBreakerError>`.
pub trait RejectUnsupported<R> {
    /// Cannot convert: [`rejected`] refuses the answer.
    fn reject(&self, error: CircuitBreakerError) -> Unconvertible<R>;
}

impl<T, E> RejectUnsupported<Result<T, E>> for &Reject<Result<T, E>> {
    fn reject(&self, _: CircuitBreakerError) -> Unconvertible<Result<T, E>> {
        Unconvertible(PhantomData)
    }
}

/// Chosen only for a return type that is not a `Result`, which [`settle`] refuses
/// already: one mistake, one error.
pub trait RejectNotResult<R> {
    /// Never runs: the function does not compile.
    fn reject(&self, error: CircuitBreakerError) -> Rejected<R>;
}

impl<R> RejectNotResult<R> for Reject<R> {
    fn reject(&self, _: CircuitBreakerError) -> Rejected<R> {
        unreachable!("a function that does not return a Result does not compile")
    }
}

/// The value to return for a rejection.
#[inline(always)]
pub fn rejected<X>(rejection: X) -> X::Return
where
    X: Carries + IntoReturn<X::Return>,
{
    rejection.into_return()
}

/// The return type a rejection is meant for, so that a refusal can name it.
pub trait Carries {
    /// The function's return type.
    type Return;
}

impl<R> Carries for Rejected<R> {
    type Return = R;
}

impl<R> Carries for Unconvertible<R> {
    type Return = R;
}

/// Implemented for [`Rejected`] only: its message is what the compiler says when the
/// function's error type cannot carry a rejection.
#[diagnostic::on_unimplemented(
    message = "`#[circuit_breaker]` cannot return a rejection as `{R}`",
    label = "rejected calls return this type, so it must be a `Result` whose error type implements `From<CircuitBreakerError>`",
    note = "implement `From<breaker_runtime::CircuitBreakerError>` for the error type, or add `fallback = some_function` to `#[circuit_breaker]`"
)]
pub trait IntoReturn<R> {
    /// The value to return.
    fn into_return(self) -> R;
}

impl<R> IntoReturn<R> for Rejected<R> {
    #[inline(always)]
    fn into_return(self) -> R {
        self.0
    }
}

/// Calls `fallback = f` with the function's arguments, as a tuple (given first, so that
/// their types are known before `f` is checked against them): a fallback that does
/// not take them is refused by [`Fallback`]'s message, on the `fallback` path, rather
/// than by a type mismatch with a suggestion to edit the function's parameters.
#[inline(always)]
pub fn fallback<Args, F: Fallback<Args>>(args: Args, f: F) -> F::Output {
    f.call(args)
}

/// A function that can stand in for an annotated function: same parameters.
#[diagnostic::on_unimplemented(
    message = "`fallback = ...` must take the same parameters as the function it stands in for",
    label = "this is called with the function's arguments, of types `{Args}`",
    note = "a fallback has the annotated function's parameters (including `self` for a method) and its return type"
)]
pub trait Fallback<Args> {
    /// What the fallback returns (the function's return type, or its future).
    type Output;
    /// Calls it.
    fn call(self, args: Args) -> Self::Output;
}

macro_rules! fallback_arity {
    ($($arg:ident)*) => {
        impl<F, R, $($arg),*> Fallback<($($arg,)*)> for F
        where
            F: FnOnce($($arg),*) -> R,
        {
            type Output = R;
            #[inline(always)]
            #[allow(non_snake_case)]
            fn call(self, ($($arg,)*): ($($arg,)*)) -> R {
                self($($arg),*)
            }
        }
    };
}

fallback_arity!();
fallback_arity!(A1);
fallback_arity!(A1 A2);
fallback_arity!(A1 A2 A3);
fallback_arity!(A1 A2 A3 A4);
fallback_arity!(A1 A2 A3 A4 A5);
fallback_arity!(A1 A2 A3 A4 A5 A6);
fallback_arity!(A1 A2 A3 A4 A5 A6 A7);
fallback_arity!(A1 A2 A3 A4 A5 A6 A7 A8);
fallback_arity!(A1 A2 A3 A4 A5 A6 A7 A8 A9);
fallback_arity!(A1 A2 A3 A4 A5 A6 A7 A8 A9 A10);
fallback_arity!(A1 A2 A3 A4 A5 A6 A7 A8 A9 A10 A11);
fallback_arity!(A1 A2 A3 A4 A5 A6 A7 A8 A9 A10 A11 A12);

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
