//! The `#[circuit_breaker]` attribute. Use it through `breaker-runtime`, which
//! re-exports it with its documentation: `use breaker_runtime::circuit_breaker;`.
#![forbid(unsafe_code)]

mod args;
mod duration;
mod expand;
mod function;

use proc_macro::TokenStream;

/// Routes every call of the function through a circuit breaker. The full documentation
/// is on `breaker_runtime::circuit_breaker`.
#[proc_macro_attribute]
pub fn circuit_breaker(args: TokenStream, item: TokenStream) -> TokenStream {
    let item2 = proc_macro2::TokenStream::from(item.clone());
    let function = match syn::parse::<function::Function>(item) {
        Ok(function) => function,
        Err(_) => {
            let error = syn::Error::new(
                item_keyword(&item2),
                "`#[circuit_breaker]` goes on a function with a body: `fn` or `async fn`, free or a method",
            );
            return expand::with_error(item2, error).into();
        }
    };
    let result = syn::parse::<args::Args>(args).and_then(|args| expand::expand(args, function));
    match result {
        Ok(tokens) => tokens.into(),
        Err(error) => expand::with_error(item2, error).into(),
    }
}

/// Where to point when the item is not a function: its first keyword after attributes
/// and visibility (`struct`, `enum`, `trait`, ...).
fn item_keyword(item: &proc_macro2::TokenStream) -> proc_macro2::Span {
    use proc_macro2::TokenTree;
    let mut tokens = item.clone().into_iter().peekable();
    while let Some(token) = tokens.next() {
        match &token {
            // An attribute: `#` then `[...]`.
            TokenTree::Punct(p) if p.as_char() == '#' => {
                tokens.next();
            }
            TokenTree::Ident(i) if i == "pub" => {
                if matches!(tokens.peek(), Some(TokenTree::Group(_))) {
                    tokens.next();
                }
            }
            _ => return token.span(),
        }
    }
    proc_macro2::Span::call_site()
}
