//! The rewrite: the signature is kept token for token; only the body is wrapped, so
//! generics, receivers, `?` and early `return` need no special cases.

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{parse_quote, Path, ReturnType};

use crate::args::{Args, Errors, Patterns};
use crate::function::{result_type, Function, Shape};

pub(crate) fn expand(args: Args, function: Function) -> syn::Result<TokenStream> {
    let shape = function.shape();
    check(&args, &function, shape)?;

    let krate: Path = args
        .krate
        .clone()
        .unwrap_or_else(|| parse_quote!(::breaker_runtime));
    let private_at = |span: Span| respanned(quote!(#krate::__private), span);
    let private = private_at(Span::call_site());
    let breaker = breaker(&args, &private, &private_at);
    let classify = classify(&args, &private);
    let ReturnType::Type(_, ret) = &function.sig.output else {
        unreachable!("check() refused a function without a return type")
    };
    // Errors about the return type (not a Result, cannot carry a rejection) land on it,
    // the whole of it: generated code starts where the type starts and ends where it ends.
    let (ret_first, ret_last) = first_and_last(ret);
    let at_ret = private_at(ret_first);
    // The `Result` type, as it can be written in the body.
    let result_ty = result_type(ret, shape);
    let result_ty = result_ty.as_ref();
    let reject = match result_ty {
        Some(ty) => {
            let call = called_over(
                quote_spanned!(ret_first=> (&&&#at_ret::Reject::<#ty>::new()).reject),
                quote!(__cb_rejection),
                ret_last,
            );
            quote_spanned! {ret_first=> {
                #[allow(unused_imports)]
                use #at_ret::{RejectNotResult as _, RejectUnsupported as _, RejectViaFrom as _};
                #at_ret::rejected(#call)
            }}
        }
        None => called_over(
            quote_spanned!(ret_first=> #at_ret::reject),
            quote!(__cb_rejection),
            ret_last,
        ),
    };
    let rejected = match &args.fallback {
        Some(fallback) => {
            // Through `__private::fallback`, so that a fallback with other parameters is
            // refused with one message on the `fallback` path.
            let forwarded = function.forwarded_args().unwrap_or_default();
            let at = private_at(fallback.span());
            let call =
                quote_spanned!(fallback.span()=> #at::fallback((#(#forwarded,)*), #fallback));
            match shape {
                Shape::Async => quote!(#call.await),
                _ => call,
            }
        }
        None => reject.clone(),
    };
    // `&__cb_result` is the argument the `Outcome` bound is about: it spans the type.
    let result_arg = {
        let amp = quote_spanned!(ret_first=> &);
        let var = quote_spanned!(ret_last=> __cb_result);
        quote!(#amp #var)
    };
    let view = quote! {
        |__cb_error| {
            #[allow(unused_imports)]
            use #private::{ViewAsDebug as _, ViewAsError as _, ViewNothing as _, ViewThroughDeref as _};
            (&&&&#private::ErrorView(__cb_error)).view()
        }
    };
    let settle =
        quote_spanned!(ret_first=> #at_ret::settle(__cb_permit, #result_arg, #classify, #view));
    let body = &function.body;

    let new_body = match shape {
        Shape::Sync => {
            let annotated = result_ty.map(|ty| quote!(-> #ty));
            quote! {
                let __cb_permit = match #breaker.try_acquire() {
                    ::core::result::Result::Ok(permit) => permit,
                    ::core::result::Result::Err(__cb_rejection) => return #rejected,
                };
                let __cb_result = #private::once(move || #annotated #body);
                #settle;
                __cb_result
            }
        }
        Shape::Async => {
            let annotated = result_ty.map(|ty| quote!(: #ty));
            let run = quote!(async move #body);
            let run = timed(&args, &private, run, &rejected);
            quote! {
                let __cb_permit = match #breaker.try_acquire() {
                    ::core::result::Result::Ok(permit) => permit,
                    ::core::result::Result::Err(__cb_rejection) => return #rejected,
                };
                let __cb_result #annotated = #run;
                #settle;
                __cb_result
            }
        }
        Shape::ImplFuture | Shape::BoxedFuture => {
            // The body's future may leave its error type to be inferred from the return
            // type: name it, so the outcome's error view knows what it is looking at.
            let annotated = result_ty.map(|ty| quote!(: #ty));
            // A timeout inside the returned future cannot call a fallback: the arguments
            // went into the body that built the future. It returns the timeout error.
            let run = timed(&args, &private, quote!(__cb_future), &reject);
            // Rejected at the call: keep the error, or the fallback's future (its
            // arguments are still here), and resolve it when the future is awaited.
            let (kept, resolved) = match &args.fallback {
                Some(_) => (rejected.clone(), quote!(__cb_rejection.await)),
                None => (quote!(__cb_rejection), reject.clone()),
            };
            let future = quote! {
                async move {
                    match __cb_admission {
                        ::core::result::Result::Ok((__cb_permit, __cb_future)) => {
                            let __cb_result #annotated = #run;
                            #settle;
                            __cb_result
                        }
                        ::core::result::Result::Err(__cb_rejection) => #resolved,
                    }
                }
            };
            let future = match shape {
                Shape::BoxedFuture => quote!(::std::boxed::Box::pin(#future)),
                _ => future,
            };
            quote! {
                // Admission happens at the call, as the body (which builds the future) runs.
                let __cb_admission = match #breaker.try_acquire() {
                    ::core::result::Result::Ok(__cb_permit) => {
                        let __cb_future = #private::once(move || #body);
                        ::core::result::Result::Ok((__cb_permit, __cb_future))
                    }
                    ::core::result::Result::Err(__cb_rejection) => ::core::result::Result::Err(#kept),
                };
                #future
            }
        }
    };

    let Function {
        attrs, vis, sig, ..
    } = &function;
    Ok(quote! {
        #(#attrs)*
        #vis #sig {
            #new_body
        }
    })
}

/// The function's breaker: the shared one named by `breaker = ...`, or a `static` of
/// its own, submitted for link-time registration and built on first use (a call, or
/// the first read of the registry).
fn breaker(
    args: &Args,
    private: &TokenStream,
    private_at: &dyn Fn(Span) -> TokenStream,
) -> TokenStream {
    if let Some(shared) = &args.breaker {
        let at = private_at(shared.span());
        return quote_spanned! {shared.span()=> {
            #[allow(unused_imports)]
            use #at::{ViaAsBreaker as _, ViaDeref as _};
            (&&#at::BreakerRef(&#shared)).breaker()
        }};
    }
    let fail_max = args.fail_max.as_ref().map_or(5, |s| s.value);
    let success_threshold = args.success_threshold.as_ref().map_or(1, |s| s.value);
    let reset = args
        .reset_timeout
        .as_ref()
        .map_or(60_000_000_000, |s| s.value.as_nanos() as u64);
    let name = match &args.name {
        Some(name) => quote!(::core::option::Option::Some(#name)),
        None => quote!(::core::option::Option::None),
    };
    quote! {{
        static __CB_BREAKER: #private::StaticBreaker =
            #private::StaticBreaker::new(#fail_max, #reset, #success_threshold, #name);
        fn __cb_locator() {}
        fn __cb_name() -> &'static str {
            #private::function_path(__cb_locator)
        }
        #private::inventory::submit! {
            #private::Registration::new(&__CB_BREAKER, __cb_name)
        }
        __CB_BREAKER.get(__cb_name)
    }}
}

/// The closure that turns an error into a verdict. Precedence: `ignore`, then
/// `exclude`, then `include` or `failure_if`; an error none of them claims is a failure.
fn classify(args: &Args, private: &TokenStream) -> TokenStream {
    let verdict = quote!(#private::Verdict);
    let matches = |p: &Patterns| {
        let patterns = p.patterns.iter();
        quote!(::core::matches!(__cb_error, #(#patterns)|*))
    };
    let mut steps = Vec::new();
    if let Some(ignore) = &args.ignore {
        let m = matches(ignore);
        steps.push(quote!(if #m { return #verdict::Ignore; }));
    }
    if let Some(exclude) = &args.exclude {
        let m = matches(exclude);
        steps.push(quote!(if #m { return #verdict::Success; }));
    }
    if let Some(include) = &args.include {
        let m = matches(include);
        steps.push(quote!(if !#m { return #verdict::Success; }));
    }
    if let Some(predicate) = &args.failure_if {
        let call = quote_spanned!(predicate.span()=> #private::failure_if(__cb_error, #predicate));
        steps.push(quote!(if !#call { return #verdict::Success; }));
    }
    if steps.is_empty() {
        return quote!(|_| #verdict::Failure);
    }
    quote! {
        |__cb_error| {
            #(#steps)*
            #verdict::Failure
        }
    }
}

/// `run`, abandoned after `call_timeout` if one is set: the abandoned call is a failure
/// and the function returns the breaker's timeout error (or the fallback's answer).
fn timed(
    args: &Args,
    private: &TokenStream,
    run: TokenStream,
    rejected: &TokenStream,
) -> TokenStream {
    let Some(timeout) = &args.call_timeout else {
        return quote!(#run.await);
    };
    let nanos = timeout.value.as_nanos() as u64;
    let span = timeout.span;
    let limit = quote!(#private::Duration::from_nanos(#nanos));
    let deadline = quote_spanned!(span=> #private::timeout(#limit, #run));
    quote! {
        match #deadline.await {
            ::core::result::Result::Ok(result) => result,
            ::core::result::Result::Err(_) => {
                let __cb_rejection =
                    #private::CircuitBreakerError::timeout(__cb_permit.breaker().name(), #limit);
                #private::timed_out(__cb_permit, &__cb_rejection);
                return #rejected;
            }
        }
    }
}

/// Refusals that need the function as well as the arguments.
fn check(args: &Args, function: &Function, shape: Shape) -> syn::Result<()> {
    let mut errors = Errors::default();
    let sig = &function.sig;
    if let Some(constness) = &sig.constness {
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
    if let ReturnType::Default = sig.output {
        errors.push(syn::Error::new_spanned(
            &sig.ident,
            format!(
                "`#[circuit_breaker]` needs a function that returns a `Result`, so failures can be counted: \
                 `fn {}(...) -> Result<T, E>`",
                sig.ident
            ),
        ));
    }
    if let (Some(timeout), Shape::Sync) = (&args.call_timeout, shape) {
        errors.push(syn::Error::new(
            timeout.span,
            "`call_timeout` needs an `async fn` (or one returning a future): a blocking call cannot be abandoned; \
             remove `call_timeout` or make the function async",
        ));
    }
    if args.fallback.is_some() {
        if let Err(unnamed) = function.forwarded_args() {
            errors.push(syn::Error::new_spanned(
                unnamed,
                "`fallback` is called with this function's arguments, so each parameter needs a plain name (`x: T`, not a pattern)",
            ));
        }
    }
    errors.finish()
}

/// The item back, unchanged, with `error` beside it: the rest of the crate keeps
/// compiling against the original function, so only the real mistake is reported.
pub(crate) fn with_error(item: TokenStream, error: syn::Error) -> TokenStream {
    let mut out = error.to_compile_error();
    out.extend(item);
    out
}

/// The spans of the first and the last token of `item`: on stable Rust a span cannot be
/// joined, but an expression whose first token has one and whose last has the other is
/// reported by the compiler over the whole range.
fn first_and_last(item: &impl quote::ToTokens) -> (Span, Span) {
    let mut tokens = item.to_token_stream().into_iter();
    let first = tokens.next().map_or_else(Span::call_site, |t| t.span());
    let last = tokens.last().map_or(first, |t| t.span());
    (first, last)
}

/// The call `head(args)` whose parentheses sit at `last`: with `head` spanned at the
/// start of an item, the compiler reports a failed bound of the call over the whole item.
fn called_over(head: TokenStream, args: TokenStream, last: Span) -> TokenStream {
    let mut parens = Group::new(proc_macro2::Delimiter::Parenthesis, args);
    parens.set_span(last);
    let mut call = head;
    call.extend([TokenTree::Group(parens)]);
    call
}

/// `tokens` with every span set to `span`, so that a type error in generated code that
/// is about the user's code (the return type, the `breaker` expression) is reported there.
fn respanned(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|token| match token {
            TokenTree::Group(g) => {
                let mut group = Group::new(g.delimiter(), respanned(g.stream(), span));
                group.set_span(span);
                TokenTree::Group(group)
            }
            mut other => {
                other.set_span(span);
                other
            }
        })
        .collect()
}
