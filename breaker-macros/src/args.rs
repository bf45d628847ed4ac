//! The attribute's arguments: parsed into typed `key = value` pairs, then validated in
//! explicit passes (one value per key, kinds, ranges, combinations), each refusal a
//! `syn::Error` on the offending token.

use std::time::Duration;

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{bracketed, Expr, Ident, Lit, LitStr, Pat, Path, Token};

use crate::{duration, policy};

/// Every key the attribute takes, grouped by the kind of value it takes, so that each
/// value is parsed as what its key needs and no mismatch can reach the later passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    /// An integer in a range.
    Count(CountKey),
    /// A duration literal.
    Duration(DurationKey),
    /// A bracketed list of patterns.
    Patterns(PatternKey),
    /// An expression.
    Expr(ExprKey),
    /// `name = "..."`
    Name,
    /// `crate = "..."`
    Crate,
    /// `shared` or `shared(quorum = N)`: no `= value`.
    Shared,
    /// A percentage string, `"50%"`.
    Percent(PercentKey),
    /// `window = "100 calls"` or a duration.
    Window,
    /// `backoff = 2.0`.
    Backoff,
    /// A flag: the key alone, no `= value`.
    Flag(FlagKey),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlagKey {
    /// `metrics_per_key`: `per = ...`'s breakers publish series per key.
    MetricsPerKey,
    /// `open_on_retry_after`: one advised failure opens the breaker.
    OpenOnRetryAfter,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CountKey {
    FailMax,
    SuccessThreshold,
    Probes,
    Buckets,
    MinCalls,
    MaxKeys,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DurationKey {
    ResetTimeout,
    CallTimeout,
    HalfOpenTimeout,
    SlowCall,
    MaxResetTimeout,
    Within,
    RetryAfterCap,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PercentKey {
    FailureRate,
    SlowRate,
    Jitter,
    Throttle,
    MaxThrottle,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatternKey {
    Exclude,
    Ignore,
    Include,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExprKey {
    FailureIf,
    Breaker,
    Fallback,
    Per,
    RetryAfter,
}

impl Key {
    /// In the order the documentation lists them.
    pub(crate) const ALL: [Key; 33] = [
        Key::Count(CountKey::FailMax),
        Key::Duration(DurationKey::ResetTimeout),
        Key::Count(CountKey::SuccessThreshold),
        Key::Percent(PercentKey::FailureRate),
        Key::Window,
        Key::Count(CountKey::Buckets),
        Key::Count(CountKey::MinCalls),
        Key::Duration(DurationKey::SlowCall),
        Key::Percent(PercentKey::SlowRate),
        Key::Count(CountKey::Probes),
        Key::Duration(DurationKey::HalfOpenTimeout),
        Key::Backoff,
        Key::Duration(DurationKey::MaxResetTimeout),
        Key::Percent(PercentKey::Jitter),
        Key::Duration(DurationKey::Within),
        Key::Percent(PercentKey::Throttle),
        Key::Percent(PercentKey::MaxThrottle),
        Key::Expr(ExprKey::RetryAfter),
        Key::Duration(DurationKey::RetryAfterCap),
        Key::Flag(FlagKey::OpenOnRetryAfter),
        Key::Expr(ExprKey::Per),
        Key::Count(CountKey::MaxKeys),
        Key::Flag(FlagKey::MetricsPerKey),
        Key::Duration(DurationKey::CallTimeout),
        Key::Patterns(PatternKey::Exclude),
        Key::Patterns(PatternKey::Ignore),
        Key::Patterns(PatternKey::Include),
        Key::Expr(ExprKey::FailureIf),
        Key::Name,
        Key::Expr(ExprKey::Breaker),
        Key::Expr(ExprKey::Fallback),
        Key::Crate,
        Key::Shared,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Key::Count(CountKey::FailMax) => "fail_max",
            Key::Count(CountKey::SuccessThreshold) => "success_threshold",
            Key::Count(CountKey::Probes) => "probes",
            Key::Count(CountKey::Buckets) => "buckets",
            Key::Count(CountKey::MinCalls) => "min_calls",
            Key::Count(CountKey::MaxKeys) => "max_keys",
            Key::Duration(DurationKey::ResetTimeout) => "reset_timeout",
            Key::Duration(DurationKey::CallTimeout) => "call_timeout",
            Key::Duration(DurationKey::HalfOpenTimeout) => "half_open_timeout",
            Key::Duration(DurationKey::SlowCall) => "slow_call",
            Key::Duration(DurationKey::MaxResetTimeout) => "max_reset_timeout",
            Key::Duration(DurationKey::Within) => "within",
            Key::Duration(DurationKey::RetryAfterCap) => "retry_after_cap",
            Key::Percent(PercentKey::FailureRate) => "failure_rate",
            Key::Percent(PercentKey::SlowRate) => "slow_rate",
            Key::Percent(PercentKey::Jitter) => "jitter",
            Key::Percent(PercentKey::Throttle) => "throttle",
            Key::Percent(PercentKey::MaxThrottle) => "max_throttle",
            Key::Window => "window",
            Key::Backoff => "backoff",
            Key::Patterns(PatternKey::Exclude) => "exclude",
            Key::Patterns(PatternKey::Ignore) => "ignore",
            Key::Patterns(PatternKey::Include) => "include",
            Key::Expr(ExprKey::FailureIf) => "failure_if",
            Key::Expr(ExprKey::Breaker) => "breaker",
            Key::Expr(ExprKey::Fallback) => "fallback",
            Key::Expr(ExprKey::Per) => "per",
            Key::Expr(ExprKey::RetryAfter) => "retry_after",
            Key::Name => "name",
            Key::Crate => "crate",
            Key::Shared => "shared",
            Key::Flag(FlagKey::MetricsPerKey) => "metrics_per_key",
            Key::Flag(FlagKey::OpenOnRetryAfter) => "open_on_retry_after",
        }
    }

    /// The key `ident` names, or an error suggesting the nearest one.
    fn of(ident: &Ident) -> syn::Result<Key> {
        let name = ident.to_string();
        if let Some(key) = Key::ALL.into_iter().find(|k| k.as_str() == name) {
            return Ok(key);
        }
        let nearest = Key::ALL
            .iter()
            .map(|k| (strsim::damerau_levenshtein(&name, k.as_str()), k.as_str()))
            .min()
            .filter(|(distance, _)| *distance <= 3);
        let message = match nearest {
            Some((_, k)) => format!("unknown argument `{name}`; did you mean `{k}`?"),
            None => {
                let all: Vec<&str> = Key::ALL.iter().map(|k| k.as_str()).collect();
                format!(
                    "unknown argument `{name}`; expected one of: {}",
                    all.join(", ")
                )
            }
        };
        Err(syn::Error::new_spanned(ident, message))
    }

    /// Keys that configure the function's own breaker, so they cannot go with `breaker`
    /// (`per` has a refusal of its own).
    fn configures_own_breaker(self) -> bool {
        !matches!(
            self,
            Key::Duration(DurationKey::CallTimeout) | Key::Patterns(_) | Key::Expr(_) | Key::Crate
        )
    }
}

/// The largest `fail_max` and `success_threshold` the runtime's packed counters hold.
/// The runtime has the same limits (`breaker-runtime/src/state.rs`); the pass case
/// `tests/ui/pass/limits.rs` uses these exact values, so the two cannot drift apart
/// without a failing test.
const MAX_FAIL_MAX: u64 = (1 << 16) - 1;
const MAX_SUCCESS_THRESHOLD: u64 = (1 << 12) - 1;
const MAX_PROBES: u64 = (1 << 8) - 1;
/// A count window holds at most this many calls, so `min_calls` needs no more.
const MAX_MIN_CALLS: u64 = 1 << 20;
/// A quorum larger than any fleet is a typo.
const MAX_QUORUM: u64 = 1000;
/// Sixteen million breakers (some 6 GB) is past any sensible cap.
const MAX_MAX_KEYS: u64 = 1 << 24;

/// A value and the token it came from.
pub(crate) struct Spanned<T> {
    pub(crate) value: T,
    pub(crate) span: Span,
}

/// The validated arguments: every key once at most, each of the right kind and in range,
/// in combinations that make sense. Unset keys are `None`: the runtime applies the
/// defaults.
#[derive(Default)]
pub(crate) struct Args {
    pub(crate) fail_max: Option<Spanned<u32>>,
    pub(crate) reset_timeout: Option<Spanned<Duration>>,
    pub(crate) success_threshold: Option<Spanned<u32>>,
    pub(crate) call_timeout: Option<Spanned<Duration>>,
    pub(crate) exclude: Option<Patterns>,
    pub(crate) ignore: Option<Patterns>,
    pub(crate) include: Option<Patterns>,
    pub(crate) failure_if: Option<Expr>,
    pub(crate) name: Option<LitStr>,
    pub(crate) breaker: Option<Expr>,
    pub(crate) fallback: Option<Path>,
    /// `per = expr`: a breaker per distinct value of `expr`.
    pub(crate) per: Option<Expr>,
    pub(crate) max_keys: Option<Spanned<u32>>,
    /// `metrics_per_key`: the token it was written as.
    pub(crate) metrics_per_key: Option<Ident>,
    /// `retry_after = path`: the function that reads an error's advice.
    pub(crate) retry_after: Option<Path>,
    pub(crate) retry_after_cap: Option<Spanned<Duration>>,
    /// `open_on_retry_after`: the token it was written as.
    pub(crate) open_on_retry_after: Option<Ident>,
    pub(crate) krate: Option<Path>,
    /// `shared`: the breaker joins the fleet through the installed backend, with this
    /// quorum.
    pub(crate) shared: Option<Spanned<u32>>,
    pub(crate) probes: Option<Spanned<u32>>,
    pub(crate) buckets: Option<Spanned<u32>>,
    pub(crate) min_calls: Option<Spanned<u32>>,
    pub(crate) half_open_timeout: Option<Spanned<Duration>>,
    pub(crate) slow_call: Option<Spanned<Duration>>,
    pub(crate) max_reset_timeout: Option<Spanned<Duration>>,
    pub(crate) within: Option<Spanned<Duration>>,
    /// Percentages in basis points.
    pub(crate) failure_rate: Option<Spanned<u32>>,
    pub(crate) slow_rate: Option<Spanned<u32>>,
    pub(crate) jitter: Option<Spanned<u32>>,
    pub(crate) throttle: Option<Spanned<u32>>,
    pub(crate) max_throttle: Option<Spanned<u32>>,
    pub(crate) window: Option<Spanned<policy::Window>>,
    /// In thousandths.
    pub(crate) backoff: Option<Spanned<u32>>,
}

/// A bracketed list of patterns: `[E::NotFound, E::Status(400..=499)]`.
pub(crate) type Patterns = Punctuated<Pat, Token![,]>;

/// A literal-valued key's value as written, before its kind is checked.
pub(crate) enum Value {
    Lit(Lit),
    Expr(Expr),
}

impl Parse for Value {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.peek(Lit) {
            Ok(Value::Lit(input.parse()?))
        } else {
            Ok(Value::Expr(input.parse()?))
        }
    }
}

/// A value of the wrong kind is reported on its own tokens.
impl quote::ToTokens for Value {
    fn to_tokens(&self, tokens: &mut proc_macro2::TokenStream) {
        match self {
            Value::Lit(lit) => lit.to_tokens(tokens),
            Value::Expr(expr) => expr.to_tokens(tokens),
        }
    }
}

/// One `key = value`, its value parsed as its key's kind needs.
enum Raw {
    Count(CountKey, Ident, Value),
    Duration(DurationKey, Ident, Value),
    Patterns(PatternKey, Patterns),
    Expr(ExprKey, Expr),
    Name(Value),
    Crate(Value),
    /// The quorum, as written, or none for a bare `shared`.
    Shared(Ident, Option<(Ident, Value)>),
    Percent(PercentKey, Ident, Value),
    Window(Ident, Value),
    Backoff(Ident, Value),
    Flag(FlagKey, Ident),
}

/// Pass 1: the shape `key = value, ...`, with each key known.
struct RawArgs(Vec<(Key, Ident, Raw)>);

impl Parse for RawArgs {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut raw = Vec::new();
        while !input.is_empty() {
            let ident = input.call(Ident::parse_any)?;
            let key = Key::of(&ident)?;
            let value = match key {
                Key::Count(k) => {
                    equals(&ident, input)?;
                    Raw::Count(k, ident.clone(), input.parse()?)
                }
                Key::Duration(k) => {
                    equals(&ident, input)?;
                    Raw::Duration(k, ident.clone(), input.parse()?)
                }
                Key::Patterns(k) => {
                    equals(&ident, input)?;
                    Raw::Patterns(k, pattern_list(&ident, input)?)
                }
                Key::Expr(k) => {
                    equals(&ident, input)?;
                    Raw::Expr(k, input.parse()?)
                }
                Key::Name => {
                    equals(&ident, input)?;
                    Raw::Name(input.parse()?)
                }
                Key::Crate => {
                    equals(&ident, input)?;
                    Raw::Crate(input.parse()?)
                }
                Key::Shared => Raw::Shared(ident.clone(), shared_options(&ident, input)?),
                Key::Flag(k) => {
                    no_value(&ident, input)?;
                    Raw::Flag(k, ident.clone())
                }
                Key::Percent(k) => {
                    equals(&ident, input)?;
                    Raw::Percent(k, ident.clone(), input.parse()?)
                }
                Key::Window => {
                    equals(&ident, input)?;
                    Raw::Window(ident.clone(), input.parse()?)
                }
                Key::Backoff => {
                    equals(&ident, input)?;
                    Raw::Backoff(ident.clone(), input.parse()?)
                }
            };
            raw.push((key, ident, value));
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(RawArgs(raw))
    }
}

/// The `=` of `key = value`.
fn equals(key: &Ident, input: ParseStream) -> syn::Result<()> {
    if !input.peek(Token![=]) {
        return Err(syn::Error::new_spanned(
            key,
            format!("expected `{key} = ...`: every argument is a `key = value` pair"),
        ));
    }
    input.parse::<Token![=]>().map(drop)
}

/// A flag is its key alone.
fn no_value(key: &Ident, input: ParseStream) -> syn::Result<()> {
    if input.peek(Token![=]) || input.peek(syn::token::Paren) {
        let rest: proc_macro2::TokenTree = input.parse()?;
        return Err(syn::Error::new_spanned(
            rest,
            format!("`{key}` is a flag and takes no value: write `{key}` alone, or remove it"),
        ));
    }
    Ok(())
}

/// `shared` alone, or `shared(quorum = N)`.
fn shared_options(key: &Ident, input: ParseStream) -> syn::Result<Option<(Ident, Value)>> {
    if input.peek(Token![=]) {
        let eq: Token![=] = input.parse()?;
        return Err(syn::Error::new_spanned(
            eq,
            format!("`{key}` takes no value: write `{key}`, or `{key}(quorum = 2)` to open the fleet only when 2 replicas trip"),
        ));
    }
    if !input.peek(syn::token::Paren) {
        return Ok(None);
    }
    let content;
    syn::parenthesized!(content in input);
    let option = content.call(Ident::parse_any)?;
    if option != "quorum" {
        return Err(syn::Error::new_spanned(
            &option,
            format!("`{key}(...)` takes one option, `quorum`: write `{key}(quorum = 2)`"),
        ));
    }
    equals(&option, &content)?;
    let value = content.parse()?;
    if !content.is_empty() {
        return Err(content.error("`shared(...)` takes only `quorum = N`"));
    }
    Ok(Some((option, value)))
}

fn pattern_list(key: &Ident, input: ParseStream) -> syn::Result<Patterns> {
    if !input.peek(syn::token::Bracket) {
        let found: Expr = input.parse()?;
        return Err(syn::Error::new_spanned(
            found,
            format!(
                "`{key}` takes a list of patterns in brackets: write `{key} = [MyError::NotFound]`"
            ),
        ));
    }
    let content;
    bracketed!(content in input);
    let patterns = content.parse_terminated(Pat::parse_multi_with_leading_vert, Token![,])?;
    if patterns.is_empty() {
        return Err(syn::Error::new_spanned(
            key,
            format!("`{key} = []` matches nothing: list at least one pattern, or remove `{key}`"),
        ));
    }
    Ok(patterns)
}

impl Parse for Args {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let RawArgs(raw) = input.parse()?;
        let mut errors = Errors::default();
        let mut args = Args::default();
        // Pass 2: one value per key, of the right kind and in range.
        let mut seen: Vec<(Key, Ident)> = Vec::new();
        let mut values_refused = false;
        for (key, ident, value) in raw {
            if seen.iter().any(|(k, _)| *k == key) {
                errors.push(syn::Error::new_spanned(
                    &ident,
                    format!("`{ident}` is given twice; keep one"),
                ));
                continue;
            }
            if let Err(e) = args.set(value) {
                errors.push(e);
                values_refused = true;
            }
            seen.push((key, ident));
        }
        // Pass 3: combinations.
        if args.breaker.is_some() {
            for (_, ident) in seen.iter().filter(|(k, _)| k.configures_own_breaker()) {
                errors.push(syn::Error::new_spanned(
                    ident,
                    format!(
                        "`{ident}` configures the function's own breaker, but `breaker = ...` uses a shared one: \
                         set `{ident}` where that breaker is built, or remove `breaker`"
                    ),
                ));
            }
        }
        let ident_of = |key: Key| seen.iter().find(|(k, _)| *k == key).map(|(_, i)| i);
        if let (Some(per), Some(_)) = (ident_of(Key::Expr(ExprKey::Per)), &args.breaker) {
            errors.push(syn::Error::new_spanned(
                per,
                "`per` makes a breaker per key from this function's settings, but `breaker = ...` names one \
                 breaker for every call: remove `per`, or remove `breaker` and set the policy here",
            ));
        }
        let lone_max_keys = args.per.is_none() && args.breaker.is_none();
        if let (Some(max_keys), true) = (ident_of(Key::Count(CountKey::MaxKeys)), lone_max_keys) {
            errors.push(syn::Error::new_spanned(
                max_keys,
                "`max_keys` caps the breakers of `per = ...`: add `per = <the key>`, e.g. `per = host`, or remove `max_keys`",
            ));
        }
        if let (Some(per_key), true) = (ident_of(Key::Flag(FlagKey::MetricsPerKey)), lone_max_keys)
        {
            errors.push(syn::Error::new_spanned(
                per_key,
                "`metrics_per_key` makes each breaker of `per = ...` publish its own series: add `per = <the key>`, \
                 e.g. `per = host`, or remove `metrics_per_key` (a breaker of its own publishes its series already)",
            ));
        }
        let deciding: Vec<&Ident> = seen
            .iter()
            .filter(|(k, _)| {
                matches!(
                    k,
                    Key::Patterns(PatternKey::Include) | Key::Expr(ExprKey::FailureIf)
                )
            })
            .map(|(_, ident)| ident)
            .collect();
        if let [_, later] = deciding[..] {
            errors.push(syn::Error::new_spanned(
                later,
                "`include` and `failure_if` both decide which errors count as failures: use one \
                 (patterns fit in a predicate: `failure_if = |e| matches!(e, MyError::Timeout)`)",
            ));
        }
        // A value refused above leaves its key unset: checking the policy's combinations
        // now would report that key as missing, on top of its real mistake.
        if !values_refused {
            let ident = |key: Key| seen.iter().find(|(k, _)| *k == key).map(|(_, i)| i);
            policy::check(&args, ident, &mut errors);
        }
        errors.finish()?;
        Ok(args)
    }
}

impl Args {
    fn set(&mut self, raw: Raw) -> syn::Result<()> {
        match raw {
            Raw::Count(CountKey::FailMax, ident, value) => {
                let meaning = "consecutive failures that open the breaker";
                self.fail_max = Some(count(&ident, value, MAX_FAIL_MAX, meaning)?);
            }
            Raw::Count(CountKey::SuccessThreshold, ident, value) => {
                let meaning = "successful probes that close the breaker";
                self.success_threshold =
                    Some(count(&ident, value, MAX_SUCCESS_THRESHOLD, meaning)?);
            }
            Raw::Duration(DurationKey::ResetTimeout, ident, value) => {
                self.reset_timeout = Some(duration_value(&ident, value)?);
            }
            Raw::Duration(DurationKey::CallTimeout, ident, value) => {
                self.call_timeout = Some(duration_value(&ident, value)?);
            }
            Raw::Duration(DurationKey::HalfOpenTimeout, ident, value) => {
                self.half_open_timeout = Some(duration_value(&ident, value)?);
            }
            Raw::Duration(DurationKey::SlowCall, ident, value) => {
                self.slow_call = Some(duration_value(&ident, value)?);
            }
            Raw::Duration(DurationKey::MaxResetTimeout, ident, value) => {
                self.max_reset_timeout = Some(duration_value(&ident, value)?);
            }
            Raw::Duration(DurationKey::Within, ident, value) => {
                self.within = Some(duration_value(&ident, value)?);
            }
            Raw::Duration(DurationKey::RetryAfterCap, ident, value) => {
                self.retry_after_cap = Some(duration_value(&ident, value)?);
            }
            Raw::Count(CountKey::Probes, ident, value) => {
                let meaning = "calls a half-open breaker lets through together";
                self.probes = Some(count(&ident, value, MAX_PROBES, meaning)?);
            }
            Raw::Count(CountKey::Buckets, ident, value) => {
                self.buckets = Some(policy::buckets(&ident, value)?);
            }
            Raw::Count(CountKey::MinCalls, ident, value) => {
                let meaning = "calls the window must hold before it can trip";
                self.min_calls = Some(count(&ident, value, MAX_MIN_CALLS, meaning)?);
            }
            Raw::Percent(key, ident, value) => {
                let percent = policy::percent(&ident, value, key == PercentKey::Jitter)?;
                *match key {
                    PercentKey::FailureRate => &mut self.failure_rate,
                    PercentKey::SlowRate => &mut self.slow_rate,
                    PercentKey::Jitter => &mut self.jitter,
                    PercentKey::Throttle => &mut self.throttle,
                    PercentKey::MaxThrottle => &mut self.max_throttle,
                } = Some(percent);
            }
            Raw::Window(ident, value) => self.window = Some(policy::window(&ident, value)?),
            Raw::Backoff(ident, value) => self.backoff = Some(policy::backoff(&ident, value)?),
            Raw::Patterns(PatternKey::Exclude, patterns) => self.exclude = Some(patterns),
            Raw::Patterns(PatternKey::Ignore, patterns) => self.ignore = Some(patterns),
            Raw::Patterns(PatternKey::Include, patterns) => self.include = Some(patterns),
            Raw::Expr(ExprKey::FailureIf, expr) => self.failure_if = Some(expr),
            Raw::Expr(ExprKey::Breaker, expr) => self.breaker = Some(expr),
            Raw::Expr(ExprKey::Fallback, expr) => {
                self.fallback = Some(function_path(expr, "fallback")?);
            }
            Raw::Expr(ExprKey::Per, expr) => self.per = Some(expr),
            Raw::Expr(ExprKey::RetryAfter, expr) => {
                self.retry_after = Some(function_path(expr, "retry_after")?);
            }
            Raw::Count(CountKey::MaxKeys, ident, value) => {
                let meaning = "keys that get a breaker of their own";
                self.max_keys = Some(count(&ident, value, MAX_MAX_KEYS, meaning)?);
            }
            Raw::Flag(FlagKey::MetricsPerKey, ident) => self.metrics_per_key = Some(ident),
            Raw::Flag(FlagKey::OpenOnRetryAfter, ident) => self.open_on_retry_after = Some(ident),
            Raw::Name(value) => self.name = Some(name_value(value)?),
            Raw::Crate(value) => self.krate = Some(crate_path(value)?),
            Raw::Shared(key, None) => {
                self.shared = Some(Spanned {
                    value: 1,
                    span: key.span(),
                })
            }
            Raw::Shared(_, Some((quorum, value))) => {
                let meaning = "replicas that must trip for the fleet to open";
                self.shared = Some(count(&quorum, value, MAX_QUORUM, meaning)?);
            }
        }
        Ok(())
    }
}

pub(crate) fn count(
    key: &Ident,
    value: Value,
    max: u64,
    meaning: &str,
) -> syn::Result<Spanned<u32>> {
    let lit = match value {
        Value::Lit(Lit::Int(lit)) => lit,
        Value::Lit(Lit::Str(s)) => {
            return Err(syn::Error::new_spanned(
                &s,
                format!(
                    "`{key}` takes an integer, not a string: write `{key} = {}`",
                    s.value().trim()
                ),
            ))
        }
        other => {
            return Err(syn::Error::new_spanned(
                other,
                format!("`{key}` takes an integer literal, e.g. `{key} = 5`"),
            ))
        }
    };
    let n: u64 = lit.base10_parse()?;
    let in_range = u32::try_from(n)
        .ok()
        .filter(|n| (1..=max).contains(&u64::from(*n)));
    let Some(value) = in_range else {
        return Err(syn::Error::new_spanned(
            &lit,
            format!("`{key}` must be between 1 and {max} ({meaning}), e.g. `{key} = 5`"),
        ));
    };
    Ok(Spanned {
        value,
        span: lit.span(),
    })
}

fn duration_value(key: &Ident, value: Value) -> syn::Result<Spanned<Duration>> {
    match value {
        Value::Lit(lit) => Ok(Spanned { value: duration::parse(&key.to_string(), &lit)?, span: lit.span() }),
        other => Err(syn::Error::new_spanned(
            other,
            format!("`{key}` takes a duration literal: write `{key} = \"60s\"` (or \"1m30s\", \"250ms\", \"2h\")"),
        )),
    }
}

fn name_value(value: Value) -> syn::Result<LitStr> {
    match value {
        Value::Lit(Lit::Str(s)) if s.value().trim().is_empty() => Err(syn::Error::new_spanned(
            s,
            "`name` must not be empty: it names the breaker in errors, logs and metrics",
        )),
        Value::Lit(Lit::Str(s)) => Ok(s),
        other => Err(syn::Error::new_spanned(
            other,
            "`name` takes a string literal: `name = \"user-profile\"`",
        )),
    }
}

/// The path of a function, for `key`.
fn function_path(expr: Expr, key: &str) -> syn::Result<Path> {
    match expr {
        Expr::Path(p) if p.qself.is_none() => Ok(p.path),
        other => Err(syn::Error::new_spanned(
            other,
            match key {
                "fallback" => "`fallback` takes the path of a function with the same parameters and return type: `fallback = cached_profile`",
                _ => "`retry_after` takes the path of a function from the error to the advised wait, `fn(&E) -> Option<Duration>`: `retry_after = retry_after_of`",
            },
        )),
    }
}

fn crate_path(value: Value) -> syn::Result<Path> {
    let parsed = match &value {
        Value::Lit(Lit::Str(s)) => s.parse::<Path>().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| {
        syn::Error::new_spanned(
            value,
            "`crate` takes a path in a string: `crate = \"::my_breaker\"`",
        )
    })
}

/// Several errors reported together, so one compile shows every mistake.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub(crate) fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }

    /// `result`'s value when neither it nor anything before it was an error; otherwise
    /// every error so far, `result`'s included.
    pub(crate) fn finish_with<T>(mut self, result: syn::Result<T>) -> syn::Result<T> {
        match result {
            Ok(value) => self.finish().map(|()| value),
            Err(error) => match self.0.take() {
                Some(mut all) => {
                    all.combine(error);
                    Err(all)
                }
                None => Err(error),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(tokens: proc_macro2::TokenStream) -> Result<Args, String> {
        syn::parse2::<Args>(tokens).map_err(|e| {
            e.into_iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join(" | ")
        })
    }

    fn error(tokens: proc_macro2::TokenStream) -> String {
        match parse(tokens) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e,
        }
    }

    #[test]
    fn empty_takes_every_default() {
        let args = parse(quote::quote!()).unwrap();
        assert!(args.fail_max.is_none() && args.reset_timeout.is_none() && args.breaker.is_none());
    }

    #[test]
    fn every_key_in_any_order() {
        let args = parse(quote::quote!(
            reset_timeout = "1m30s",
            fail_max = 3,
            success_threshold = 2,
            call_timeout = "250ms",
            exclude = [E::NotFound, E::Status(400..=499)],
            ignore = [E::Cancelled | E::Busy],
            name = "user-profile",
            fallback = Self::cached,
            crate = "::renamed",
        ))
        .unwrap();
        assert_eq!(args.fail_max.unwrap().value, 3);
        assert_eq!(args.success_threshold.unwrap().value, 2);
        assert_eq!(args.reset_timeout.unwrap().value, Duration::from_secs(90));
        assert_eq!(args.call_timeout.unwrap().value, Duration::from_millis(250));
        assert_eq!(args.exclude.unwrap().len(), 2);
        assert_eq!(args.ignore.unwrap().len(), 1);
        assert_eq!(args.name.unwrap().value(), "user-profile");
        let fallback = args.fallback.unwrap();
        assert_eq!(
            quote::quote!(#fallback).to_string().replace(' ', ""),
            "Self::cached"
        );
        assert!(args.krate.is_some());
    }

    #[test]
    fn integer_seconds_for_durations() {
        let args = parse(quote::quote!(reset_timeout = 30)).unwrap();
        assert_eq!(args.reset_timeout.unwrap().value, Duration::from_secs(30));
    }

    #[test]
    fn unknown_keys_get_the_nearest_suggestion() {
        assert_eq!(
            error(quote::quote!(fail_mx = 3)),
            "unknown argument `fail_mx`; did you mean `fail_max`?"
        );
        assert_eq!(
            error(quote::quote!(reset_timout = "1s")),
            "unknown argument `reset_timout`; did you mean `reset_timeout`?"
        );
        assert!(error(quote::quote!(zzzzzzzzzzzz = 1)).contains("expected one of: fail_max"));
    }

    #[test]
    fn duplicates_wrong_kinds_and_ranges_are_refused() {
        assert!(error(quote::quote!(fail_max = 1, fail_max = 2))
            .starts_with("`fail_max` is given twice"));
        assert_eq!(
            error(quote::quote!(fail_max = "5")),
            "`fail_max` takes an integer, not a string: write `fail_max = 5`"
        );
        assert!(error(quote::quote!(fail_max = 0))
            .starts_with("`fail_max` must be between 1 and 65535"));
        assert!(error(quote::quote!(success_threshold = 0))
            .starts_with("`success_threshold` must be between 1"));
        assert!(error(quote::quote!(fail_max = N)).contains("takes an integer literal"));
        assert!(error(quote::quote!(reset_timeout = "0s")).contains("longer than zero"));
        assert!(error(quote::quote!(name = "")).contains("must not be empty"));
        assert!(error(quote::quote!(fail_max)).contains("expected `fail_max = ...`"));
    }

    #[test]
    fn lists_need_brackets() {
        assert_eq!(
            error(quote::quote!(exclude = E::NotFound)),
            "`exclude` takes a list of patterns in brackets: write `exclude = [MyError::NotFound]`"
        );
        assert!(error(quote::quote!(ignore = [])).contains("matches nothing"));
    }

    #[test]
    fn nonsensical_combinations_are_refused() {
        let e = error(quote::quote!(breaker = SHARED, fail_max = 3, name = "x"));
        assert!(
            e.contains("`fail_max` configures the function's own breaker"),
            "{e}"
        );
        assert!(
            e.contains("`name` configures the function's own breaker"),
            "{e}"
        );
        let e = error(quote::quote!(include = [E::Io(_)], failure_if = |e| true));
        assert!(
            e.starts_with("`include` and `failure_if` both decide"),
            "{e}"
        );
        // These make sense together.
        parse(quote::quote!(
            breaker = SHARED,
            exclude = [E::A],
            call_timeout = "1s",
            fallback = f
        ))
        .unwrap();
        parse(quote::quote!(
            include = [E::Io(_)],
            exclude = [E::Io(K::NotFound)],
            ignore = [E::B]
        ))
        .unwrap();
    }

    #[test]
    fn several_mistakes_are_reported_at_once() {
        let e = error(quote::quote!(fail_max = 0, success_threshold = "2"));
        assert!(
            e.contains("`fail_max` must be") && e.contains("`success_threshold` takes an integer"),
            "{e}"
        );
    }

    #[test]
    fn fallback_must_be_a_path() {
        assert!(error(quote::quote!(fallback = || 5))
            .starts_with("`fallback` takes the path of a function"));
    }
}
