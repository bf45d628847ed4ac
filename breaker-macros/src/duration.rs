//! Durations written in the attribute: `"60s"`, `"1m30s"`, `"250ms"`, `"2h"`, or an
//! integer number of seconds. Parsed at expansion time, so a typo is a compile error.

use std::time::Duration;

use syn::{Lit, LitInt, LitStr};

/// The longest duration the runtime holds: it counts time in `u64` nanoseconds.
const MAX_NANOS: u64 = u64::MAX;

/// A positive duration from a string (humantime's syntax) or integer-seconds literal.
pub(crate) fn parse(key: &str, lit: &Lit) -> syn::Result<Duration> {
    let duration = match lit {
        Lit::Str(s) => from_str(key, s)?,
        Lit::Int(i) => from_int(key, i)?,
        other => {
            return Err(syn::Error::new_spanned(
                other,
                format!("`{key}` takes a duration: write `{key} = \"60s\"` (or \"1m30s\", \"250ms\", \"2h\") or an integer number of seconds"),
            ))
        }
    };
    if duration.as_nanos() > u128::from(MAX_NANOS) {
        return Err(syn::Error::new_spanned(
            lit,
            format!(
                "`{key}` is too long: the runtime keeps durations as 64-bit nanoseconds, so at most \
                 about 584 years (18446744073s); write a shorter one, e.g. `{key} = \"1h\"`"
            ),
        ));
    }
    if duration.is_zero() {
        return Err(syn::Error::new_spanned(
            lit,
            format!("`{key}` must be longer than zero, e.g. `{key} = \"30s\"`"),
        ));
    }
    Ok(duration)
}

fn from_str(key: &str, lit: &LitStr) -> syn::Result<Duration> {
    humantime::parse_duration(lit.value().trim()).map_err(|e| {
        syn::Error::new_spanned(
            lit,
            format!("`{key}` is not a duration ({e}): write it like \"60s\", \"1m30s\", \"250ms\" or \"2h\""),
        )
    })
}

fn from_int(key: &str, lit: &LitInt) -> syn::Result<Duration> {
    if !lit.suffix().is_empty() {
        return Err(syn::Error::new_spanned(
            lit,
            format!("`{key}` takes whole seconds without a suffix, or a string such as \"250ms\""),
        ));
    }
    let seconds: u64 = lit.base10_parse()?;
    Ok(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn parsed(lit: Lit) -> Result<Duration, String> {
        parse("reset_timeout", &lit).map_err(|e| e.to_string())
    }

    #[test]
    fn strings_in_humantime_syntax() {
        assert_eq!(parsed(parse_quote!("60s")), Ok(Duration::from_secs(60)));
        assert_eq!(parsed(parse_quote!("1m30s")), Ok(Duration::from_secs(90)));
        assert_eq!(
            parsed(parse_quote!("250ms")),
            Ok(Duration::from_millis(250))
        );
        assert_eq!(parsed(parse_quote!("2h")), Ok(Duration::from_secs(7200)));
        assert_eq!(parsed(parse_quote!(" 5s ")), Ok(Duration::from_secs(5)));
    }

    #[test]
    fn integers_are_seconds() {
        assert_eq!(parsed(parse_quote!(45)), Ok(Duration::from_secs(45)));
    }

    #[test]
    fn zero_garbage_and_wrong_kinds_are_refused_with_an_example() {
        let zero = parsed(parse_quote!("0s")).unwrap_err();
        assert!(zero.contains("must be longer than zero"), "{zero}");
        assert!(parsed(parse_quote!(0)).is_err());
        let garbage = parsed(parse_quote!("sixty seconds")).unwrap_err();
        assert!(
            garbage.starts_with("`reset_timeout` is not a duration"),
            "{garbage}"
        );
        assert!(garbage.contains("\"1m30s\""), "{garbage}");
        let float = parsed(parse_quote!(1.5)).unwrap_err();
        assert!(float.contains("takes a duration"), "{float}");
        let huge = parsed(parse_quote!("600000000h")).unwrap_err();
        assert!(huge.starts_with("`reset_timeout` is too long"), "{huge}");
        assert!(huge.contains("about 584 years"), "{huge}");
        assert!(
            parsed(parse_quote!(18446744073)).is_ok(),
            "just under the limit"
        );
        assert!(parsed(parse_quote!(18446744074)).is_err(), "just over it");
        let suffixed = parsed(parse_quote!(5u32)).unwrap_err();
        assert!(suffixed.contains("without a suffix"), "{suffixed}");
    }
}
