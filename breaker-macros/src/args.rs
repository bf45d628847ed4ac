//! The attribute's arguments: parsed into raw `key = value` pairs, then validated in
//! explicit passes (one value per key, kinds, ranges, combinations), each refusal a
//! `syn::Error` on the offending token.

use std::time::Duration;

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{bracketed, Expr, Ident, Lit, LitStr, Pat, Path, Token};

use crate::duration;

/// Every key the attribute takes, in the order the documentation lists them.
pub(crate) const KEYS: &[&str] = &[
    "fail_max",
    "reset_timeout",
    "success_threshold",
    "call_timeout",
    "exclude",
    "ignore",
    "include",
    "failure_if",
    "name",
    "breaker",
    "fallback",
    "crate",
];

/// Keys that configure the function's own breaker, so they cannot go with `breaker`.
const CONFIG_KEYS: &[&str] = &["fail_max", "reset_timeout", "success_threshold", "name"];

/// The most counted failures `fail_max` may be (the runtime's packed counter).
const MAX_FAIL_MAX: u64 = (1 << 20) - 1;
const MAX_SUCCESS_THRESHOLD: u64 = (1 << 12) - 1;

/// A value and the token it came from.
pub(crate) struct Spanned<T> {
    pub(crate) value: T,
    pub(crate) span: Span,
}

/// A bracketed list of patterns: `[E::NotFound, E::Status(400..=499)]`.
pub(crate) struct Patterns {
    pub(crate) key: Ident,
    pub(crate) patterns: Punctuated<Pat, Token![,]>,
}

/// The validated arguments.
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
    pub(crate) krate: Option<Path>,
}

/// One `key = value` as written, before its value is checked.
enum Value {
    Lit(Lit),
    List(Punctuated<Pat, Token![,]>),
    Expr(Expr),
}

/// A value of the wrong kind is reported on its own tokens.
impl quote::ToTokens for Value {
    fn to_tokens(&self, tokens: &mut proc_macro2::TokenStream) {
        match self {
            Value::Lit(lit) => lit.to_tokens(tokens),
            Value::List(patterns) => patterns.to_tokens(tokens),
            Value::Expr(expr) => expr.to_tokens(tokens),
        }
    }
}

struct Raw {
    key: Ident,
    value: Value,
}

/// Pass 1: the shape `key = value, ...`, with each key known.
struct RawArgs(Vec<Raw>);

impl Parse for RawArgs {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut raw = Vec::new();
        while !input.is_empty() {
            let key = input.call(Ident::parse_any)?;
            let name = key.to_string();
            if !KEYS.contains(&name.as_str()) {
                return Err(unknown_key(&key));
            }
            if !input.peek(Token![=]) {
                return Err(syn::Error::new_spanned(
                    &key,
                    format!("expected `{name} = ...`: every argument is a `key = value` pair"),
                ));
            }
            input.parse::<Token![=]>()?;
            let value = match name.as_str() {
                "exclude" | "ignore" | "include" => Value::List(pattern_list(&key, input)?),
                "failure_if" | "breaker" | "fallback" => Value::Expr(input.parse()?),
                _ if input.peek(Lit) => Value::Lit(input.parse()?),
                _ => Value::Expr(input.parse()?),
            };
            raw.push(Raw { key, value });
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(RawArgs(raw))
    }
}

fn unknown_key(key: &Ident) -> syn::Error {
    let name = key.to_string();
    let nearest = KEYS
        .iter()
        .map(|k| (strsim::damerau_levenshtein(&name, k), *k))
        .min()
        .filter(|(distance, _)| *distance <= 3);
    let message = match nearest {
        Some((_, k)) => format!("unknown argument `{name}`; did you mean `{k}`?"),
        None => format!(
            "unknown argument `{name}`; expected one of: {}",
            KEYS.join(", ")
        ),
    };
    syn::Error::new_spanned(key, message)
}

fn pattern_list(key: &Ident, input: ParseStream) -> syn::Result<Punctuated<Pat, Token![,]>> {
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
        let mut seen: Vec<Ident> = Vec::new();
        for Raw { key, value } in raw {
            if seen.contains(&key) {
                errors.push(syn::Error::new_spanned(
                    &key,
                    format!("`{key}` is given twice; keep one"),
                ));
                continue;
            }
            seen.push(key.clone());
            if let Err(e) = args.set(&key, value) {
                errors.push(e);
            }
        }
        // Pass 3: combinations.
        if args.breaker.is_some() {
            for key in seen
                .iter()
                .filter(|k| CONFIG_KEYS.contains(&k.to_string().as_str()))
            {
                errors.push(syn::Error::new_spanned(
                    key,
                    format!(
                        "`{key}` configures the function's own breaker, but `breaker = ...` uses a shared one: \
                         set `{key}` where that breaker is built, or remove `breaker`"
                    ),
                ));
            }
        }
        if let (Some(include), Some(_)) = (&args.include, &args.failure_if) {
            let key = seen
                .iter()
                .rfind(|k| *k == "include" || *k == "failure_if")
                .unwrap_or(&include.key);
            errors.push(syn::Error::new_spanned(
                key,
                "`include` and `failure_if` both decide which errors count as failures: use one \
                 (patterns fit in a predicate: `failure_if = |e| matches!(e, MyError::Timeout)`)",
            ));
        }
        errors.finish()?;
        Ok(args)
    }
}

impl Args {
    fn set(&mut self, key: &Ident, value: Value) -> syn::Result<()> {
        let name = key.to_string();
        match (name.as_str(), value) {
            ("fail_max", value) => {
                self.fail_max = Some(count(
                    key,
                    value,
                    MAX_FAIL_MAX,
                    "consecutive failures that open the breaker",
                )?)
            }
            ("success_threshold", value) => {
                self.success_threshold = Some(count(
                    key,
                    value,
                    MAX_SUCCESS_THRESHOLD,
                    "successful probes that close the breaker",
                )?)
            }
            ("reset_timeout", value) => self.reset_timeout = Some(duration_value(key, value)?),
            ("call_timeout", value) => self.call_timeout = Some(duration_value(key, value)?),
            ("exclude", Value::List(patterns)) => {
                self.exclude = Some(Patterns {
                    key: key.clone(),
                    patterns,
                })
            }
            ("ignore", Value::List(patterns)) => {
                self.ignore = Some(Patterns {
                    key: key.clone(),
                    patterns,
                })
            }
            ("include", Value::List(patterns)) => {
                self.include = Some(Patterns {
                    key: key.clone(),
                    patterns,
                })
            }
            ("failure_if", Value::Expr(expr)) => self.failure_if = Some(expr),
            ("breaker", Value::Expr(expr)) => self.breaker = Some(expr),
            ("fallback", Value::Expr(expr)) => self.fallback = Some(function_path(expr)?),
            ("name", value) => self.name = Some(name_value(value)?),
            ("crate", value) => self.krate = Some(crate_path(value)?),
            _ => {
                return Err(syn::Error::new_spanned(
                    key,
                    format!("unexpected value for `{key}`"),
                ))
            }
        }
        Ok(())
    }
}

fn count(key: &Ident, value: Value, max: u64, meaning: &str) -> syn::Result<Spanned<u32>> {
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
    if n == 0 || n > max {
        return Err(syn::Error::new_spanned(
            &lit,
            format!("`{key}` must be between 1 and {max} ({meaning}), e.g. `{key} = 5`"),
        ));
    }
    Ok(Spanned {
        value: n as u32,
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

fn function_path(expr: Expr) -> syn::Result<Path> {
    match expr {
        Expr::Path(p) if p.qself.is_none() => Ok(p.path),
        other => Err(syn::Error::new_spanned(
            other,
            "`fallback` takes the path of a function with the same parameters and return type: `fallback = cached_profile`",
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
        assert_eq!(args.exclude.unwrap().patterns.len(), 2);
        assert_eq!(args.ignore.unwrap().patterns.len(), 1);
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
            .starts_with("`fail_max` must be between 1 and 1048575"));
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
