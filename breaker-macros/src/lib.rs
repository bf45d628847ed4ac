//! The `#[circuit_breaker]` attribute. Use it through `breaker-runtime`, which
//! re-exports it with its documentation: `use breaker_runtime::circuit_breaker;`.
//!
//! The pipeline, each step a plain function over `proc_macro2` tokens: parse the
//! arguments (`args`) and the function (`function`), check them against each other into
//! a `plan::Plan`, and expand the plan (`expand`), which cannot fail.
#![forbid(unsafe_code)]

mod args;
mod duration;
mod expand;
mod function;
#[cfg(test)]
mod never_panics;
mod plan;
mod policy;

use proc_macro2::TokenStream;

/// Routes every call of the function through a circuit breaker. The full documentation
/// is on `breaker_runtime::circuit_breaker`.
#[proc_macro_attribute]
pub fn circuit_breaker(
    args: proc_macro::TokenStream,
    item: proc_macro::TokenStream,
) -> proc_macro::TokenStream {
    attribute(args.into(), item.into()).into()
}

/// The attribute over `proc_macro2` tokens: the expansion, or the item unchanged beside
/// the errors.
fn attribute(args: TokenStream, item: TokenStream) -> TokenStream {
    match pipeline(args, item.clone()) {
        Ok(tokens) => tokens,
        Err(error) => expand::with_error(item, error),
    }
}

fn pipeline(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let function = syn::parse2::<function::Function>(item.clone()).map_err(|_| {
        syn::Error::new(
            item_keyword(&item),
            "`#[circuit_breaker]` goes on a function with a body: `fn` or `async fn`, free or a method",
        )
    })?;
    let args = syn::parse2::<args::Args>(args)?;
    let plan = plan::Plan::new(args, function)?;
    Ok(expand::expand(&plan))
}

/// Where to point when the item is not a function: its first keyword after attributes
/// and visibility (`struct`, `enum`, `trait`, ...).
fn item_keyword(item: &TokenStream) -> proc_macro2::Span {
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
