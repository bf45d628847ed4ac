//! What to generate, decided: the validated arguments and the annotated function,
//! checked against each other and turned into everything expansion needs. Every refusal
//! happens here or earlier; expanding a plan cannot fail.

use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::{parse_quote, Expr, LitStr, Path, ReturnType, Type};

use crate::args::{Args, Errors, Patterns, Spanned};
use crate::function::{result_type, Function, Shape};

pub(crate) struct Plan {
    pub(crate) function: Function,
    /// `<crate>::__private`: every path the expansion emits starts here.
    pub(crate) private: Path,
    pub(crate) breaker: BreakerSource,
    pub(crate) classify: Classify,
    pub(crate) fallback: Option<Fallback>,
    pub(crate) call_timeout: Option<Spanned<Duration>>,
    pub(crate) strategy: Strategy,
    pub(crate) returns: Returns,
}

/// Which breaker the calls go through.
pub(crate) enum BreakerSource {
    /// A `static` of the function's own: the settings the attribute gave, as fields of
    /// the runtime's `Config` (its defaults apply to the others).
    Own {
        settings: Vec<Setting>,
        name: Option<LitStr>,
        /// `shared`: the quorum with which it joins the installed fleet backend.
        shared: Option<u32>,
        /// `per = expr`: a breaker per distinct value of `expr`, at most `max_keys`.
        per: Option<Per>,
    },
    /// `breaker = expr`.
    Shared(Expr),
}

/// `per = expr, max_keys = N, metrics_per_key`.
pub(crate) struct Per {
    pub(crate) key: Expr,
    pub(crate) max_keys: Option<u32>,
    /// Each key publishes series of its own, not the set as a whole.
    pub(crate) metrics_per_key: bool,
}

/// One field of the runtime's `Config`, and the expression of its value (paths in it
/// start at `__private`, written `#private`).
pub(crate) struct Setting {
    pub(crate) field: &'static str,
    pub(crate) value: Value,
}

/// A setting's value, as the expansion writes it.
pub(crate) enum Value {
    U32(u32),
    Bool(bool),
    Nanos(u64),
    Some(Box<Value>),
    Percent(u32),
    Backoff(u32),
    Calls(u32),
    Time(u64),
}

/// The attribute's settings as `Config` fields. `half_open_timeout` follows
/// `reset_timeout` unless given.
fn settings(args: &Args) -> Vec<Setting> {
    let mut settings = Vec::new();
    let mut set = |field, value| settings.push(Setting { field, value });
    if let Some(n) = &args.fail_max {
        set("fail_max", Value::U32(n.value));
    } else if args.throttle.is_some() {
        // The throttle alone, unless a trip rule is asked for.
        set("fail_max", Value::U32(0));
    }
    if let Some(d) = &args.reset_timeout {
        set("reset_timeout", Value::Nanos(nanos(d.value)));
    }
    if let Some(d) = args
        .half_open_timeout
        .as_ref()
        .or(args.reset_timeout.as_ref())
    {
        set("half_open_timeout", Value::Nanos(nanos(d.value)));
    }
    let some = |value| Value::Some(Box::new(value));
    let counts = [
        ("success_threshold", &args.success_threshold),
        ("probes", &args.probes),
        ("buckets", &args.buckets),
    ];
    for (field, n) in counts {
        if let Some(n) = n {
            set(field, Value::U32(n.value));
        }
    }
    if let Some(n) = &args.min_calls {
        set("min_calls", some(Value::U32(n.value)));
    }
    let durations = [
        ("within", &args.within),
        ("slow_call", &args.slow_call),
        ("max_reset_timeout", &args.max_reset_timeout),
    ];
    for (field, d) in durations {
        if let Some(d) = d {
            set(field, some(Value::Nanos(nanos(d.value))));
        }
    }
    if let Some(p) = &args.failure_rate {
        set("failure_rate", some(Value::Percent(p.value)));
    }
    if let Some(p) = &args.slow_rate {
        set("slow_rate", some(Value::Percent(p.value)));
    }
    if let Some(p) = &args.jitter {
        set("jitter", Value::Percent(p.value));
    }
    if let Some(p) = &args.throttle {
        set("throttle", some(Value::Percent(p.value)));
    }
    if let Some(p) = &args.max_throttle {
        set("max_throttle", some(Value::Percent(p.value)));
    }
    if let Some(b) = &args.backoff {
        set("backoff", some(Value::Backoff(b.value)));
    }
    if let Some(d) = &args.retry_after_cap {
        set("retry_after_cap", some(Value::Nanos(nanos(d.value))));
    }
    if args.open_on_retry_after.is_some() {
        set("open_on_retry_after", Value::Bool(true));
    }
    if let Some(w) = &args.window {
        set(
            "window",
            some(match w.value {
                crate::policy::Window::Calls(n) => Value::Calls(n),
                crate::policy::Window::Time(d) => Value::Time(nanos(d)),
            }),
        );
    }
    settings
}

/// How an error becomes a verdict: `ignore`, then `exclude`, then `include` or
/// `failure_if`; an error none of them claims is a failure.
pub(crate) struct Classify {
    pub(crate) ignore: Option<Patterns>,
    pub(crate) exclude: Option<Patterns>,
    pub(crate) include: Option<Patterns>,
    pub(crate) failure_if: Option<Expr>,
    /// `retry_after = path`: a failure's advice, read from its error.
    pub(crate) retry_after: Option<Path>,
}

/// `fallback = path`, called with the function's own arguments.
pub(crate) struct Fallback {
    pub(crate) path: Path,
    pub(crate) arguments: Vec<TokenStream>,
}

/// How the body runs under the permit.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strategy {
    /// One admission, one run, one settle, in the function's own body: a sync body runs
    /// as a closure called once, an async one as an awaited `async move` block.
    Inline { asynchronous: bool },
    /// The function returns a future: admission happens when it is called, the run and
    /// the settle when the returned future is awaited (boxed again if it was boxed).
    Deferred { boxed: bool },
}

/// The function's return type, as generated code needs it.
pub(crate) struct Returns {
    /// The spans of its first and last token: errors about it are reported over both.
    pub(crate) first: Span,
    pub(crate) last: Span,
    /// Its `Result` type as it can be written in the body (`impl Trait` inferred), when
    /// it can be found: always for an inline body, for a future when its `Output` is
    /// spelled out.
    pub(crate) result: Option<Type>,
}

impl Plan {
    pub(crate) fn new(args: Args, function: Function) -> syn::Result<Plan> {
        let shape = function.shape();
        let settings = settings(&args);
        let mut errors = Errors::default();
        refuse_function_shapes(&function, shape, &mut errors);
        if let (Some(timeout), Shape::Sync) = (&args.call_timeout, shape) {
            errors.push(syn::Error::new(
                timeout.span,
                "`call_timeout` needs an `async fn` (or one returning a future): a blocking call cannot be abandoned; \
                 remove `call_timeout` or make the function async",
            ));
        }
        let fallback = match args.fallback {
            Some(path) => match function.forwarded_args() {
                Ok(arguments) => Some(Fallback { path, arguments }),
                Err(unnamed) => {
                    errors.push(syn::Error::new_spanned(
                        unnamed,
                        "`fallback` is called with this function's arguments, so each parameter needs a plain name (`x: T`, not a pattern)",
                    ));
                    None
                }
            },
            None => None,
        };
        let returns = match &function.sig.output {
            ReturnType::Type(_, ty) => Ok(returns(ty, shape)),
            ReturnType::Default => {
                let name = &function.sig.ident;
                Err(syn::Error::new_spanned(
                    name,
                    format!(
                        "`#[circuit_breaker]` needs a function that returns a `Result`, so failures can be counted: \
                         `fn {name}(...) -> Result<T, E>`"
                    ),
                ))
            }
        };
        let returns = errors.finish_with(returns)?;

        let krate = args
            .krate
            .unwrap_or_else(|| parse_quote!(::breaker_runtime));
        let breaker = match args.breaker {
            Some(shared) => BreakerSource::Shared(shared),
            None => BreakerSource::Own {
                settings,
                name: args.name,
                shared: args.shared.map(|s| s.value),
                per: args.per.map(|key| Per {
                    key,
                    max_keys: args.max_keys.map(|n| n.value),
                    metrics_per_key: args.metrics_per_key.is_some(),
                }),
            },
        };
        let strategy = match shape {
            Shape::Sync => Strategy::Inline {
                asynchronous: false,
            },
            Shape::Async => Strategy::Inline { asynchronous: true },
            Shape::ImplFuture => Strategy::Deferred { boxed: false },
            Shape::BoxedFuture => Strategy::Deferred { boxed: true },
        };
        Ok(Plan {
            function,
            private: parse_quote!(#krate::__private),
            breaker,
            classify: Classify {
                ignore: args.ignore,
                exclude: args.exclude,
                include: args.include,
                failure_if: args.failure_if,
                retry_after: args.retry_after,
            },
            fallback,
            call_timeout: args.call_timeout,
            strategy,
            returns,
        })
    }
}

/// Durations were checked to fit in `u64` nanoseconds when they were parsed.
pub(crate) fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

fn returns(ty: &Type, shape: Shape) -> Returns {
    let mut tokens = ty.to_token_stream().into_iter();
    let first = tokens.next().map_or_else(Span::call_site, |t| t.span());
    let last = tokens.last().map_or(first, |t| t.span());
    Returns {
        first,
        last,
        result: result_type(ty, shape),
    }
}

/// Function shapes the attribute cannot keep as they are.
fn refuse_function_shapes(function: &Function, shape: Shape, errors: &mut Errors) {
    if let Some(constness) = &function.sig.constness {
        errors.push(syn::Error::new_spanned(
            constness,
            "`#[circuit_breaker]` cannot go on a `const fn`: a breaker decides at run time; remove `const`",
        ));
    }
    // An async fn's `#[track_caller]` is a no-op already; anywhere else the body would
    // run in a closure, which reports its own location instead of the caller's.
    if shape != Shape::Async {
        if let Some(attr) = function
            .attrs
            .iter()
            .find(|a| a.path().is_ident("track_caller"))
        {
            errors.push(syn::Error::new_spanned(
                attr,
                "`#[circuit_breaker]` cannot keep `#[track_caller]`: the body runs inside a closure, so \
                 `Location::caller()` and panics would report that closure instead of your caller; \
                 remove `#[track_caller]`",
            ));
        }
    }
}
