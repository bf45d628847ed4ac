//! The policy keys' values (percentages, windows, backoff factors, buckets) and the
//! combinations of policy keys the runtime would refuse, each refused here on its
//! token with what to write instead.

use std::time::Duration;

use syn::{Ident, Lit};

use crate::args::{Args, Errors, Key, Spanned, Value};
use crate::duration;

/// `window = "100 calls"` or `window = "60s"`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Window {
    Calls(u32),
    Time(Duration),
}

/// The runtime's limits (`breaker-runtime/src/builder.rs`), pinned by the pass case
/// `tests/ui/pass/policies.rs`.
const MAX_WINDOW_CALLS: u32 = 65_536;
const MIN_WINDOW: Duration = Duration::from_secs(1);
const MIN_BUCKET: Duration = Duration::from_millis(100);
const DEFAULT_BUCKETS: u32 = 10;
const DEFAULT_RESET_TIMEOUT: Duration = Duration::from_secs(60);

/// `"50%"`: a percentage with at most two decimals, in basis points. `jitter` takes
/// 0 % up to (not including) 100 %, the rates more than 0 % up to 100 %.
pub(crate) fn percent(key: &Ident, value: Value, jitter: bool) -> syn::Result<Spanned<u32>> {
    let example = if jitter { "20%" } else { "50%" };
    let s = match value {
        Value::Lit(Lit::Str(s)) => s,
        Value::Lit(Lit::Int(n)) => {
            return Err(syn::Error::new_spanned(
                &n,
                format!(
                    "`{key}` takes a percentage string: write `{key} = \"{}%\"`",
                    n.base10_digits()
                ),
            ))
        }
        Value::Lit(Lit::Float(f)) => {
            let digits = f.base10_digits();
            let hint = match digits.parse::<f64>() {
                Ok(x) if x > 0.0 && x <= 1.0 => format!("`{key} = \"{}%\"`", x * 100.0),
                _ => format!("`{key} = \"{digits}%\"`"),
            };
            return Err(syn::Error::new_spanned(
                &f,
                format!("`{key}` takes a percentage string, not a number: write {hint}"),
            ));
        }
        other => {
            return Err(syn::Error::new_spanned(
                other,
                format!("`{key}` takes a percentage string, e.g. `{key} = \"{example}\"`"),
            ))
        }
    };
    let text = s.value();
    let bp = text
        .trim()
        .strip_suffix('%')
        .and_then(|number| basis_points(number.trim()));
    let range = if jitter {
        "from 0% up to (not including) 100%"
    } else {
        "more than 0% and at most 100%"
    };
    let in_range = |bp: u32| {
        if jitter {
            bp < 10_000
        } else {
            bp > 0 && bp <= 10_000
        }
    };
    match bp {
        Some(bp) if in_range(bp) => Ok(Spanned {
            value: bp,
            span: s.span(),
        }),
        Some(_) => Err(syn::Error::new_spanned(
            &s,
            format!("`{key}` must be {range}, e.g. `{key} = \"{example}\"`"),
        )),
        None => Err(syn::Error::new_spanned(
            &s,
            format!(
                "`{key}` is not a percentage: write a number with at most two decimals and `%`, e.g. `{key} = \"{example}\"`"
            ),
        )),
    }
}

/// `"12.5"` as 1250 basis points; `None` unless digits with at most two decimals.
fn basis_points(number: &str) -> Option<u32> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > 2 {
        return None;
    }
    let whole: u32 = whole.parse().ok().filter(|w| *w <= 1_000)?;
    let fraction: u32 = format!("{fraction:0<2}").parse().ok()?;
    Some(whole * 100 + fraction)
}

/// `"100 calls"` or a duration string; a bare integer is ambiguous and refused.
pub(crate) fn window(key: &Ident, value: Value) -> syn::Result<Spanned<Window>> {
    let hint =
        format!("write the last N calls, `{key} = \"100 calls\"`, or a time, `{key} = \"60s\"`");
    let s = match value {
        Value::Lit(Lit::Str(s)) => s,
        Value::Lit(Lit::Int(n)) => {
            return Err(syn::Error::new_spanned(
                &n,
                format!("a bare number is ambiguous for `{key}`: {hint}"),
            ))
        }
        other => {
            return Err(syn::Error::new_spanned(
                other,
                format!("`{key}` takes a string: {hint}"),
            ))
        }
    };
    let text = s.value();
    let calls = text
        .trim()
        .strip_suffix("calls")
        .or_else(|| text.trim().strip_suffix("call"));
    let window = match calls {
        Some(n) => match n.trim().parse::<u32>() {
            Ok(n) if (1..=MAX_WINDOW_CALLS).contains(&n) => Window::Calls(n),
            _ => {
                return Err(syn::Error::new_spanned(
                    &s,
                    format!(
                        "a count window holds between 1 and {MAX_WINDOW_CALLS} calls, e.g. `{key} = \"100 calls\"`"
                    ),
                ))
            }
        },
        None => Window::Time(duration::parse(&key.to_string(), &Lit::Str(s.clone()))?),
    };
    Ok(Spanned {
        value: window,
        span: s.span(),
    })
}

/// `backoff = 2.0`: a factor from 1.0 to 10.0, in thousandths.
pub(crate) fn backoff(key: &Ident, value: Value) -> syn::Result<Spanned<u32>> {
    let (factor, lit) = match value {
        Value::Lit(Lit::Float(f)) => (f.base10_parse::<f64>()?, Lit::Float(f)),
        Value::Lit(Lit::Int(n)) => (n.base10_parse::<f64>()?, Lit::Int(n)),
        other => {
            return Err(syn::Error::new_spanned(
                other,
                format!("`{key}` takes a number from 1.0 to 10.0, e.g. `{key} = 2.0`"),
            ))
        }
    };
    if !(1.0..=10.0).contains(&factor) {
        return Err(syn::Error::new_spanned(
            &lit,
            format!(
                "`{key}` must be from 1.0 to 10.0 (it multiplies the open duration at each reopening), e.g. `{key} = 2.0`"
            ),
        ));
    }
    Ok(Spanned {
        value: (factor * 1000.0).round() as u32,
        span: lit.span(),
    })
}

/// `buckets = 10`: 2 to 60.
pub(crate) fn buckets(key: &Ident, value: Value) -> syn::Result<Spanned<u32>> {
    let meaning = "buckets a time window is split into";
    let n = crate::args::count(key, value, 60, meaning)?;
    if n.value < 2 {
        return Err(syn::Error::new(
            n.span,
            format!("`{key}` must be between 2 and 60 ({meaning}), e.g. `{key} = 10`"),
        ));
    }
    Ok(n)
}

/// The combinations of policy keys that make no sense, each reported on the key (or
/// value) to change. `ident` finds the key as written.
pub(crate) fn check<'a>(
    args: &Args,
    ident: impl Fn(Key) -> Option<&'a Ident>,
    errors: &mut Errors,
) {
    use crate::args::{CountKey, DurationKey, PercentKey};
    let refuse = |errors: &mut Errors, key: Key, message: String| {
        if let Some(ident) = ident(key) {
            errors.push(syn::Error::new_spanned(ident, message));
        }
    };
    let rate = args.failure_rate.is_some() || args.slow_call.is_some();
    let throttle = args.throttle.is_some();
    if args.max_throttle.is_some() && !throttle {
        refuse(
            errors,
            Key::Percent(PercentKey::MaxThrottle),
            "`max_throttle` caps a throttle's refusals: add `throttle = \"50%\"`, or remove `max_throttle`".into(),
        );
    }
    if throttle && args.within.is_some() {
        refuse(
            errors,
            Key::Percent(PercentKey::Throttle),
            "`throttle` does not go with `within`: pair it with `fail_max` (failures in a row) or `failure_rate` over its `window`, or use it alone".into(),
        );
    }
    if let (
        true,
        Some(Spanned {
            value: Window::Calls(_),
            span,
        }),
    ) = (throttle, &args.window)
    {
        errors.push(syn::Error::new(
            *span,
            "`throttle` counts the calls asked for and accepted over a time, not over the last N calls: give `window` a duration, e.g. `window = \"2m\"` (the default), or remove it",
        ));
    }
    if args.fail_max.is_some() && args.failure_rate.is_some() {
        refuse(
            errors,
            Key::Count(CountKey::FailMax),
            "`fail_max` counts failures in a row and `failure_rate` a rate over a window: a breaker trips on one of them; remove `fail_max` (or `failure_rate`)".into(),
        );
    }
    if args.fail_max.is_some() && args.slow_call.is_some() {
        refuse(
            errors,
            Key::Duration(DurationKey::SlowCall),
            "`slow_call` belongs to the rate policy: use `failure_rate = \"50%\"` (or `slow_call` alone) with a `window` instead of `fail_max`, or remove `slow_call`".into(),
        );
    }
    if args.probes.is_some() && args.success_threshold.is_some() {
        refuse(
            errors,
            Key::Count(CountKey::Probes),
            "`probes` and `success_threshold` both say how a half-open breaker closes: `probes = K` lets K calls through together and closes when all succeed, `success_threshold = N` lets one through at a time, N times; keep one".into(),
        );
    }
    if args.slow_rate.is_some() && args.slow_call.is_none() {
        refuse(
            errors,
            Key::Percent(PercentKey::SlowRate),
            "`slow_rate` needs `slow_call`, the duration above which a call is slow: add e.g. `slow_call = \"2s\"`".into(),
        );
    }
    if let Some(within) = &args.within {
        if rate {
            refuse(
                errors,
                Key::Duration(DurationKey::Within),
                "`within` counts `fail_max` failures within a time; it does not go with `failure_rate` or `slow_call`, which compute a rate over `window`: remove `within`".into(),
            );
        } else if args.fail_max.is_none() {
            refuse(
                errors,
                Key::Duration(DurationKey::Within),
                "`within` needs `fail_max`, the number of failures within that time that opens the breaker: add e.g. `fail_max = 5`".into(),
            );
        }
        time_span(errors, "within", within, args.buckets.as_ref());
    }
    match &args.window {
        None if rate => {
            let key = if args.failure_rate.is_some() {
                Key::Percent(PercentKey::FailureRate)
            } else {
                Key::Duration(DurationKey::SlowCall)
            };
            let name = key.as_str();
            refuse(
                errors,
                key,
                format!("`{name}` needs a `window`: the last N calls, `window = \"100 calls\"`, or a time with `min_calls`, `window = \"60s\", min_calls = 20`"),
            );
        }
        None if throttle => {
            // The throttle's default two minutes.
            let length = Spanned {
                value: Duration::from_secs(120),
                span: args.throttle.as_ref().map_or_else(proc_macro2::Span::call_site, |t| t.span),
            };
            time_span(errors, "window", &length, args.buckets.as_ref());
        }
        None => {}
        // Refused above when it is a count window.
        Some(Spanned {
            value: Window::Time(length),
            span,
        }) if throttle && !rate => {
            let length = Spanned {
                value: *length,
                span: *span,
            };
            time_span(errors, "window", &length, args.buckets.as_ref());
        }
        Some(_) if throttle && !rate => {}
        Some(_) if !rate => refuse(
            errors,
            Key::Window,
            "a `window` is only used by `failure_rate`, `slow_call` or `throttle`: add `failure_rate = \"50%\"`, or remove `window`".into(),
        ),
        Some(Spanned {
            value: Window::Calls(n),
            ..
        }) => {
            if let Some(min) = &args.min_calls {
                if min.value > *n {
                    errors.push(syn::Error::new(
                        min.span,
                        format!(
                            "`min_calls` ({}) cannot be more than the window's {n} calls: the window would never hold enough calls to trip; lower it, or widen the window",
                            min.value
                        ),
                    ));
                }
            }
            if let Some(buckets) = &args.buckets {
                errors.push(syn::Error::new(
                    buckets.span,
                    "`buckets` splits a time window: a count window (`\"N calls\"`) has none; remove `buckets`, or give `window` a duration",
                ));
            }
        }
        Some(Spanned {
            value: Window::Time(length),
            span,
        }) => {
            if args.min_calls.is_none() {
                errors.push(syn::Error::new(
                    *span,
                    "a time window needs `min_calls`, the calls it must hold before it can trip (without it a quiet breaker trips on its first failure): add e.g. `min_calls = 20`",
                ));
            }
            let length = Spanned {
                value: *length,
                span: *span,
            };
            time_span(errors, "window", &length, args.buckets.as_ref());
        }
    }
    // With a rate and no window, the missing window is what is reported above.
    if args.min_calls.is_some() && args.window.is_none() && !rate && !throttle {
        refuse(
            errors,
            Key::Count(CountKey::MinCalls),
            "`min_calls` is only used with a rate `window`: remove it, or add `failure_rate` and `window`".into(),
        );
    }
    if args.buckets.is_some() && args.within.is_none() && args.window.is_none() && !throttle {
        refuse(
            errors,
            Key::Count(CountKey::Buckets),
            "`buckets` splits a time window (or `within`): remove it, or add `window = \"60s\"`"
                .into(),
        );
    }
    if let Some(max) = &args.max_reset_timeout {
        let reset = args
            .reset_timeout
            .as_ref()
            .map_or(DEFAULT_RESET_TIMEOUT, |r| r.value);
        if args.backoff.is_none() {
            refuse(
                errors,
                Key::Duration(DurationKey::MaxResetTimeout),
                "`max_reset_timeout` caps a backoff: add e.g. `backoff = 2.0`, or remove `max_reset_timeout`".into(),
            );
        } else if max.value < reset {
            errors.push(syn::Error::new(
                max.span,
                format!(
                    "`max_reset_timeout` must be at least `reset_timeout` ({}): it caps how long a backed-off breaker stays open",
                    humantime::format_duration(reset)
                ),
            ));
        }
    }
}

/// A time window (or `within`): at least 1 s, each bucket at least 100 ms.
fn time_span(
    errors: &mut Errors,
    key: &str,
    length: &Spanned<Duration>,
    buckets: Option<&Spanned<u32>>,
) {
    if length.value < MIN_WINDOW {
        errors.push(syn::Error::new(
            length.span,
            format!("`{key}` must be at least 1s, e.g. `{key} = \"10s\"`"),
        ));
        return;
    }
    let n = buckets.map_or(DEFAULT_BUCKETS, |b| b.value);
    if length.value / n < MIN_BUCKET {
        let span = buckets.map_or(length.span, |b| b.span);
        errors.push(syn::Error::new(
            span,
            format!(
                "each bucket must be at least 100ms, but {} in {n} buckets makes {}: use fewer `buckets` or a longer `{key}`",
                humantime::format_duration(length.value),
                humantime::format_duration(length.value / n)
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basis_points_take_two_decimals_at_most() {
        assert_eq!(basis_points("50"), Some(5_000));
        assert_eq!(basis_points("12.5"), Some(1_250));
        assert_eq!(basis_points("0.05"), Some(5));
        assert_eq!(basis_points("1.234"), None);
        assert_eq!(basis_points("-1"), None);
        assert_eq!(basis_points(".5"), None);
        assert_eq!(basis_points("1e2"), None);
        assert_eq!(basis_points("99999999999"), None);
    }
}
