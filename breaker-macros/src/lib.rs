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
                proc_macro2::Span::call_site(),
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
