//! The macro never panics, whatever it is given: generated inputs go through the whole
//! pipeline (parse, plan, expand) as plain functions over `proc_macro2` tokens, and each
//! must come back as valid tokens or as errors.

use std::str::FromStr;

use proc_macro2::TokenStream;
use proptest::prelude::*;

/// Values of every kind, right and wrong, for any key.
const VALUES: &[&str] = &[
    "0",
    "1",
    "5",
    "4095",
    "4096",
    "1048575",
    "1048576",
    "18446744073709551616",
    "-1",
    "5u32",
    "1.5",
    "true",
    "'c'",
    "b\"x\"",
    "\"\"",
    "\"60s\"",
    "\"1m30s\"",
    "\"250ms\"",
    "\"0s\"",
    "\"600000000h\"",
    "\"sixty seconds\"",
    "\" 5s \"",
    "\"5\"",
    "\"user-profile\"",
    "\"::renamed\"",
    "\"not a path!\"",
    "[]",
    "[E::A]",
    "[E::A, E::B(_)]",
    "[E::A | E::B]",
    "[1..=2, _]",
    "E::A",
    "|e| true",
    "|e: &E| matches!(e, E::A)",
    "SHARED",
    "self.breaker",
    "Self::cached",
    "cached::<u8>",
    "|| 5",
    "some::path",
    "(1, 2)",
    "{ x }",
    "N",
    "r#fail_max",
];

/// Keys as written: the real ones, near misses and nonsense.
const KEYS: &[&str] = &[
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
    "fail_mx",
    "timeout",
    "zzzz",
    "r#crate",
    "self",
    "_",
];

/// Functions of every shape, and things that are not functions.
const ITEMS: &[&str] = &[
    "fn f(x: u8) -> Result<u8, E> { Ok(x) }",
    "async fn f(x: u8) -> Result<u8, E> { Ok(x) }",
    "pub fn f(&mut self) -> Result<&mut u8, E> { todo!() }",
    "fn f<'a, T: Clone, const N: usize>(v: &'a [T; N]) -> Result<&'a T, E> where T: 'a { Ok(&v[0]) }",
    "fn f() -> impl Future<Output = Result<u8, E>> + Send { async { Ok(1) } }",
    "fn f(&self) -> Pin<Box<dyn Future<Output = Result<u8, E>> + Send + '_>> { Box::pin(async { Ok(1) }) }",
    "fn f() -> BoxFuture<'static, io::Result<u8>> { todo!() }",
    "fn f() -> impl Future { async {} }",
    "fn f() -> Result<impl Display, E> { Ok(1) }",
    "const fn f() -> Result<(), E> { Ok(()) }",
    "#[track_caller] fn f() -> Result<(), E> { Ok(()) }",
    "#[track_caller] async fn f() -> Result<(), E> { Ok(()) }",
    "fn f((a, b): (u8, u8)) -> Result<u8, E> { Ok(a) }",
    "fn f() {}",
    "fn f() -> u32 { 1 }",
    "unsafe extern \"C\" fn f(p: *const u8) -> Result<u8, E> { Ok(*p) }",
    "fn f() -> Result<u8, E>;",
    "struct S;",
    "pub(crate) enum E { A }",
    "impl S {}",
    "fn",
    "",
    "fn f() -> Result<u8, E> { let x = ; }",
];

/// Random token soup: punctuation, literals, idents and groups.
fn soup() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        Just(",".to_string()),
        Just("=".to_string()),
        Just("::".to_string()),
        Just("#".to_string()),
        Just("|".to_string()),
        Just("&".to_string()),
        Just("->".to_string()),
        Just("..=".to_string()),
        prop::sample::select(KEYS).prop_map(str::to_string),
        prop::sample::select(VALUES).prop_map(str::to_string),
        "[a-z_][a-z0-9_]{0,6}",
    ];
    prop::collection::vec(atom, 0..12)
        .prop_map(|atoms| atoms.join(" "))
        .prop_recursive(2, 24, 4, |inner| {
            prop_oneof![
                inner.clone().prop_map(|s| format!("[{s}]")),
                inner.clone().prop_map(|s| format!("({s})")),
                inner.prop_map(|s| format!("{{{s}}}")),
            ]
        })
}

/// Argument lists: `key = value` pairs, shuffled and duplicated, joined by commas that
/// may be missing or doubled, sometimes cut short, sometimes with soup in between.
fn arguments() -> impl Strategy<Value = String> {
    let pair = (
        prop::sample::select(KEYS),
        prop::sample::select(VALUES),
        0u8..10,
    )
        .prop_map(|(key, value, form)| match form {
            0 => key.to_string(),
            1 => format!("{key} {value}"),
            2 => format!("{key} = "),
            _ => format!("{key} = {value}"),
        });
    let separator = prop::sample::select(&[", ", ", ", ", ", ",, ", " "][..]);
    (
        prop::collection::vec((pair, separator), 0..8),
        prop::option::of(soup()),
        any::<prop::sample::Index>(),
        any::<bool>(),
    )
        .prop_map(|(pairs, soup, cut, truncate)| {
            let mut text: String = pairs.into_iter().map(|(p, s)| format!("{p}{s}")).collect();
            if let Some(soup) = soup {
                text.push_str(&soup);
            }
            if truncate && !text.is_empty() {
                let mut at = cut.index(text.len());
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                text.truncate(at);
            }
            text
        })
}

fn item() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(ITEMS).prop_map(str::to_string),
        1 => soup(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn the_pipeline_answers_with_tokens_or_errors(args in arguments(), item in item()) {
        // Text that does not even lex never reaches a macro: rustc rejects it first.
        let (Ok(args), Ok(item)) = (TokenStream::from_str(&args), TokenStream::from_str(&item))
        else {
            return Ok(());
        };
        match crate::pipeline(args.clone(), item.clone()) {
            Ok(expanded) => {
                // A successful expansion is one function again (its body is kept as
                // tokens: a syntax error in it is the compiler's to report, on it).
                let parsed = syn::parse2::<crate::function::Function>(expanded.clone());
                prop_assert!(parsed.is_ok(), "{args} / {item}\n=> {expanded}");
            }
            Err(error) => {
                let tokens = error.to_compile_error().to_string();
                prop_assert!(tokens.contains("compile_error"), "{tokens}");
            }
        }
        // The attribute as the compiler calls it, with the item given back on errors.
        let _ = crate::attribute(args, item);
    }
}
