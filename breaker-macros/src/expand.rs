//! The rewrite of a [`Plan`]: the signature is kept token for token; only the body is
//! wrapped, so generics, receivers, `?` and early `return` need no special cases.

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::ToTokens;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use crate::plan::{nanos, BreakerSource, Classify, Plan, Strategy, Value};

pub(crate) fn expand(plan: &Plan) -> TokenStream {
    let private = respanned(plan.private.to_token_stream(), Span::call_site());
    let Admission { prelude, acquire } = admission(plan, &private);
    let returns = &plan.returns;
    let result_ty = returns.result.as_ref();
    // Errors about the return type (not a Result, cannot carry a rejection) land on it,
    // the whole of it: generated code starts where the type starts and ends where it ends.
    let at_ret = respanned(private.clone(), returns.first);
    let reject = rejection_as_return(plan, &at_ret);
    let on_rejection = match &plan.fallback {
        Some(fallback) => {
            // Through `__private::fallback`, so that a fallback with other parameters is
            // refused with one message on the `fallback` path.
            let (path, arguments) = (&fallback.path, &fallback.arguments);
            let at = respanned(private.clone(), path.span());
            let call = quote_spanned!(path.span()=> #at::fallback((#(#arguments,)*), #path));
            match plan.strategy {
                Strategy::Inline { asynchronous: true } => quote!(#call.await),
                _ => call,
            }
        }
        None => reject.clone(),
    };
    // `&__cb_result` is the argument the `Outcome` bound is about: it spans the type.
    let result_arg = {
        let amp = quote_spanned!(returns.first=> &);
        let var = quote_spanned!(returns.last=> __cb_result);
        quote!(#amp #var)
    };
    let classify = classify(&plan.classify, &private);
    let view = quote! {
        |__cb_error| {
            #[allow(unused_imports)]
            use #private::{ViewAsDebug as _, ViewAsError as _, ViewNothing as _, ViewThroughDeref as _};
            (&&&&#private::ErrorView(__cb_error)).view()
        }
    };
    let settle = match &plan.classify.retry_after {
        None => quote_spanned! {returns.first=>
            #at_ret::settle(__cb_permit, #result_arg, #classify, #view)
        },
        // A failure's advice, read by the function the attribute names: checked on its
        // path (a function of another shape is refused there).
        Some(path) => {
            let at = respanned(private.clone(), path.span());
            let advise =
                quote_spanned!(path.span()=> |__cb_error| #at::retry_after(__cb_error, #path));
            quote_spanned! {returns.first=>
                #at_ret::settle_advised(__cb_permit, #result_arg, #classify, #view, #advise)
            }
        }
    };
    let body = &plan.function.body;

    let new_body = match plan.strategy {
        Strategy::Inline { asynchronous } => {
            let (annotation, run) = if asynchronous {
                let run = timed(plan, &private, quote!(async move #body), &on_rejection);
                (result_ty.map(|ty| quote!(: #ty)), run)
            } else {
                // The closure's own return type, so that the body's value is coerced to
                // it as the function's would be (`Ok(Box::new(x))` to `Box<dyn Trait>`).
                let ty = result_ty.map(|ty| quote!(-> #ty));
                (None, quote!(#private::once(move || #ty #body)))
            };
            quote! {
                #prelude
                let __cb_permit = match #acquire {
                    ::core::result::Result::Ok(permit) => permit,
                    ::core::result::Result::Err(__cb_rejection) => return #on_rejection,
                };
                let __cb_result #annotation = #run;
                #settle;
                __cb_result
            }
        }
        Strategy::Deferred { boxed } => {
            // The body's future may leave its error type to be inferred from the return
            // type: name it, so the outcome's error view knows what it is looking at.
            let annotation = result_ty.map(|ty| quote!(: #ty));
            // A timeout inside the returned future cannot call a fallback: the arguments
            // went into the body that built the future. It returns the timeout error.
            let run = timed(plan, &private, quote!(__cb_future), &reject);
            // Rejected at the call: keep the error, or the fallback's future (its
            // arguments are still here), and resolve it when the future is awaited.
            let (rejection_kept, rejection_answered) = match &plan.fallback {
                Some(_) => (on_rejection.clone(), quote!(__cb_rejection.await)),
                None => (quote!(__cb_rejection), reject.clone()),
            };
            let future = quote! {
                async move {
                    match __cb_admission {
                        ::core::result::Result::Ok((__cb_permit, __cb_future)) => {
                            let __cb_result #annotation = #run;
                            #settle;
                            __cb_result
                        }
                        ::core::result::Result::Err(__cb_rejection) => #rejection_answered,
                    }
                }
            };
            let future = if boxed {
                quote!(::std::boxed::Box::pin(#future))
            } else {
                future
            };
            quote! {
                // Admission happens at the call, as the body (which builds the future) runs.
                #prelude
                let __cb_admission = match #acquire {
                    ::core::result::Result::Ok(__cb_permit) => {
                        let __cb_future = #private::once(move || #body);
                        ::core::result::Result::Ok((__cb_permit, __cb_future))
                    }
                    ::core::result::Result::Err(__cb_rejection) => {
                        ::core::result::Result::Err(#rejection_kept)
                    }
                };
                #future
            }
        }
    };

    let function = &plan.function;
    let (attrs, vis, sig) = (&function.attrs, &function.vis, &function.sig);
    quote! {
        #(#attrs)*
        #vis #sig {
            #new_body
        }
    }
}

/// The rejection as the function's return value, `Err(E::from(rejection))`, resolved so
/// that a return type that cannot carry it is refused with our message, over the type.
fn rejection_as_return(plan: &Plan, at_ret: &TokenStream) -> TokenStream {
    let returns = &plan.returns;
    match &returns.result {
        Some(ty) => {
            let call = called_over(
                quote_spanned!(returns.first=> (&&&#at_ret::Reject::<#ty>::new()).reject),
                quote!(__cb_rejection),
                returns.last,
            );
            quote_spanned! {returns.first=> {
                #[allow(unused_imports)]
                use #at_ret::{RejectNotResult as _, RejectUnsupported as _, RejectViaFrom as _};
                #at_ret::rejected(#call)
            }}
        }
        None => called_over(
            quote_spanned!(returns.first=> #at_ret::reject),
            quote!(__cb_rejection),
            returns.last,
        ),
    }
}

/// How a call is admitted: statements to run first, and the expression that asks for
/// its permit (`Result<permit, CircuitBreakerError>`).
struct Admission {
    prelude: TokenStream,
    acquire: TokenStream,
}

/// The function's breaker: the shared one named by `breaker = ...`, or a `static` of
/// its own, submitted for link-time registration and built on first use (a call, or
/// the first read of the registry), or, with `per = ...`, a `static` set of breakers
/// by key. Unset settings go to the runtime as `None`, which applies its defaults.
fn admission(plan: &Plan, private: &TokenStream) -> Admission {
    // A rejection a fallback answers is not a failure of the caller's trace.
    let acquire = |breaker: TokenStream| match plan.fallback {
        Some(_) => quote!(#private::try_acquire_answered(#breaker)),
        None => quote!(#breaker.try_acquire()),
    };
    let (settings, name, shared, per) = match &plan.breaker {
        BreakerSource::Shared(shared) => {
            let at = respanned(private.clone(), shared.span());
            let breaker = quote_spanned! {shared.span()=> {
                #[allow(unused_imports)]
                use #at::{ViaAsBreaker as _, ViaDeref as _};
                (&&#at::BreakerRef(&#shared)).breaker()
            }};
            return Admission {
                prelude: TokenStream::new(),
                acquire: acquire(breaker),
            };
        }
        BreakerSource::Own {
            settings,
            name,
            shared,
            per,
        } => (settings, name, shared, per),
    };
    let option = |value: Option<TokenStream>| match value {
        Some(value) => quote!(::core::option::Option::Some(#value)),
        None => quote!(::core::option::Option::None),
    };
    let fields = settings.iter().map(|setting| {
        let field = syn::Ident::new(setting.field, Span::call_site());
        let value = value(&setting.value, private);
        quote!(#field: #value)
    });
    let config = quote!(#private::Config { #(#fields,)* ..#private::Config::DEFAULT });
    let name = option(name.as_ref().map(|name| quote!(#name)));
    let shared = option(shared.map(|quorum| quote!(#quorum)));
    let locate = quote! {
        fn __cb_locator() {}
        fn __cb_name() -> &'static str {
            #private::function_path(__cb_locator)
        }
    };
    let Some(per) = per else {
        let breaker = quote! {{
            static __CB_BREAKER: #private::StaticBreaker =
                #private::StaticBreaker::new(#config, #name, #shared);
            #locate
            #private::inventory::submit! {
                #private::Registration::new(&__CB_BREAKER, __cb_name)
            }
            __CB_BREAKER.get(__cb_name)
        }};
        return Admission {
            prelude: TokenStream::new(),
            acquire: acquire(breaker),
        };
    };
    let max_keys = option(per.max_keys.map(|n| {
        let n = n as usize;
        quote!(#n)
    }));
    let metrics_per_key = per.metrics_per_key;
    let set = quote! {
        static __CB_PER: #private::PerKey =
            #private::PerKey::new(#config, #name, #shared, #max_keys, #metrics_per_key);
        #locate
    };
    // The key and its label, resolved on the expression's tokens: a value that cannot be
    // a key is refused there.
    let expr = &per.key;
    let at = respanned(private.clone(), expr.span());
    let key = quote_spanned! {expr.span()=> {
        #[allow(unused_imports)]
        use #at::{KeyViaRef as _, KeyViaValue as _};
        (&&#at::KeyArg(&(#expr))).key()
    }};
    let label = quote! {
        |__cb_key| {
            #[allow(unused_imports)]
            use #private::{LabelViaDebug as _, LabelViaDisplay as _, LabelViaHash as _};
            (&&&#private::KeyLabel(__cb_key)).label()
        }
    };
    match plan.strategy {
        // A synchronous call borrows its key's breaker under a guard of the set for as
        // long as it runs: no allocation and no shared write for a known key.
        Strategy::Inline {
            asynchronous: false,
        } => Admission {
            prelude: quote! {
                let __cb_per = { #set __CB_PER.guard(__cb_name) };
            },
            acquire: acquire(quote_spanned!(expr.span()=> __cb_per.breaker(#key, #label))),
        },
        // A future must not hold the guard across an `.await`: its permit owns a handle
        // of the key's breaker instead.
        _ => {
            let answered = plan.fallback.is_some();
            Admission {
                prelude: TokenStream::new(),
                acquire: quote_spanned!(expr.span()=> {
                    #set
                    __CB_PER.try_acquire_owned::<#answered, _>(__cb_name, #key, #label)
                }),
            }
        }
    }
}

/// A `Config` field's value as a constant expression.
fn value(value: &Value, private: &TokenStream) -> TokenStream {
    match value {
        Value::U32(n) => quote!(#n),
        Value::Bool(b) => quote!(#b),
        Value::Nanos(n) => quote!(#private::Duration::from_nanos(#n)),
        Value::Some(inner) => {
            let inner = self::value(inner, private);
            quote!(::core::option::Option::Some(#inner))
        }
        Value::Percent(bp) => quote!(#private::Percent::from_basis_points(#bp)),
        Value::Backoff(n) => quote!(#private::Backoff::from_thousandths(#n)),
        Value::Calls(n) => quote!(#private::Window::Calls(#n)),
        Value::Time(n) => quote!(#private::Window::Time(#private::Duration::from_nanos(#n))),
    }
}

/// The closure that turns an error into a verdict, in [`Classify`]'s order.
fn classify(classify: &Classify, private: &TokenStream) -> TokenStream {
    let verdict = quote!(#private::Verdict);
    let matches = |patterns: &crate::args::Patterns| {
        let patterns = patterns.iter();
        quote!(::core::matches!(__cb_error, #(#patterns)|*))
    };
    let mut steps = Vec::new();
    if let Some(ignore) = &classify.ignore {
        let m = matches(ignore);
        steps.push(quote!(if #m { return #verdict::Ignore; }));
    }
    if let Some(exclude) = &classify.exclude {
        let m = matches(exclude);
        steps.push(quote!(if #m { return #verdict::Success; }));
    }
    if let Some(include) = &classify.include {
        let m = matches(include);
        steps.push(quote!(if !#m { return #verdict::Success; }));
    }
    if let Some(predicate) = &classify.failure_if {
        let call = quote_spanned!(predicate.span()=> #private::failure_if(__cb_error, #predicate));
        // Last of the steps: its answer is the verdict (a `Verdict` predicate may say
        // neutral), written so that no step after it is unreachable.
        steps.push(quote! {
            let __cb_verdict = #call;
            if !::core::matches!(__cb_verdict, #verdict::Failure) { return __cb_verdict; }
        });
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
    plan: &Plan,
    private: &TokenStream,
    run: TokenStream,
    rejected: &TokenStream,
) -> TokenStream {
    let Some(timeout) = &plan.call_timeout else {
        return quote!(#run.await);
    };
    let nanos = nanos(timeout.value);
    let limit = quote!(#private::Duration::from_nanos(#nanos));
    // The call sits on the `call_timeout` value: without the `tokio` feature, that is
    // where the compiler says the timer is missing.
    let at = respanned(private.clone(), timeout.span);
    let deadline = quote_spanned!(timeout.span=> #at::timeout(#limit, __cb_run));
    quote! {
        match { let __cb_run = #run; #deadline }.await {
            ::core::result::Result::Ok(result) => result,
            ::core::result::Result::Err(_) => {
                let __cb_rejection =
                    #private::CircuitBreakerError::timeout(__cb_permit.breaker().name_handle(), #limit);
                #private::timed_out(__cb_permit, &__cb_rejection);
                return #rejected;
            }
        }
    }
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

/// The item back, unchanged, with `error` beside it: the rest of the crate keeps
/// compiling against the original function, so only the real mistake is reported.
pub(crate) fn with_error(item: TokenStream, error: syn::Error) -> TokenStream {
    let mut out = error.to_compile_error();
    out.extend(item);
    out
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
