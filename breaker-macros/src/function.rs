//! The annotated item: a function whose body is kept as raw tokens, so a syntax error
//! inside it is reported by the compiler on the user's code, not by this macro.

use proc_macro2::{Delimiter, Group, TokenStream};
use quote::ToTokens;
use syn::parse::{Parse, ParseStream};
use syn::visit_mut::VisitMut;
use syn::{Attribute, FnArg, Pat, ReturnType, Signature, Type, TypeParamBound, Visibility};

pub(crate) struct Function {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) sig: Signature,
    pub(crate) body: Group,
}

impl Parse for Function {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        let sig = input.parse()?;
        let body: Group = input.parse()?;
        if body.delimiter() != Delimiter::Brace || !input.is_empty() {
            return Err(input.error("expected a function body"));
        }
        Ok(Function {
            attrs,
            vis,
            sig,
            body,
        })
    }
}

/// How the function produces its `Result`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Shape {
    /// `fn f() -> Result<T, E>`
    Sync,
    /// `async fn f() -> Result<T, E>`
    Async,
    /// `fn f() -> impl Future<Output = Result<T, E>>`
    ImplFuture,
    /// `fn f() -> Pin<Box<dyn Future<Output = Result<T, E>>>>`, as `#[async_trait]` writes
    /// async methods, or a `BoxFuture` alias of it.
    BoxedFuture,
}

impl Function {
    pub(crate) fn shape(&self) -> Shape {
        if self.sig.asyncness.is_some() {
            return Shape::Async;
        }
        match &self.sig.output {
            ReturnType::Type(_, ty) => future_shape(ty).unwrap_or(Shape::Sync),
            ReturnType::Default => Shape::Sync,
        }
    }

    /// The argument list to forward to a `fallback`, or the parameter that has no name.
    pub(crate) fn forwarded_args(&self) -> Result<Vec<TokenStream>, &FnArg> {
        self.sig
            .inputs
            .iter()
            .map(|arg| match arg {
                FnArg::Receiver(r) => Ok(r.self_token.to_token_stream()),
                FnArg::Typed(t) => match &*t.pat {
                    Pat::Ident(p) if p.subpat.is_none() => Ok(p.ident.to_token_stream()),
                    _ => Err(arg),
                },
            })
            .collect()
    }
}

fn future_shape(ty: &Type) -> Option<Shape> {
    match ty {
        Type::ImplTrait(t) if t.bounds.iter().any(is_future_bound) => Some(Shape::ImplFuture),
        Type::Paren(p) => future_shape(&p.elem),
        Type::Group(g) => future_shape(&g.elem),
        Type::Path(p) => {
            let last = p.path.segments.last()?;
            match last.ident.to_string().as_str() {
                "BoxFuture" | "LocalBoxFuture" => Some(Shape::BoxedFuture),
                "Pin" => {
                    let inner = first_type_arg(&last.arguments)?;
                    let Type::Path(boxed) = inner else {
                        return None;
                    };
                    let boxed = boxed.path.segments.last()?;
                    if boxed.ident != "Box" {
                        return None;
                    }
                    match first_type_arg(&boxed.arguments)? {
                        Type::TraitObject(o) if o.bounds.iter().any(is_future_bound) => {
                            Some(Shape::BoxedFuture)
                        }
                        _ => None,
                    }
                }
                _ => None,
            }
        }
        _ => None,
    }
}

fn first_type_arg(args: &syn::PathArguments) -> Option<&Type> {
    let syn::PathArguments::AngleBracketed(args) = args else {
        return None;
    };
    args.args.iter().find_map(|a| match a {
        syn::GenericArgument::Type(t) => Some(t),
        _ => None,
    })
}

fn is_future_bound(bound: &TypeParamBound) -> bool {
    matches!(bound, TypeParamBound::Trait(t) if t.path.segments.last().is_some_and(|s| s.ident == "Future"))
}

/// The type the function's `Result` has, as it can be written in the body: the return
/// type itself, or a returned future's `Output`, with each `impl Trait` (which cannot be
/// written there) replaced by `_` for the compiler to infer. Writing it down fixes the
/// error type before the body's value is settled, even when the body leaves it to be
/// inferred from the return type.
pub(crate) fn result_type(ty: &Type, shape: Shape) -> Option<Type> {
    let ty = match shape {
        Shape::Sync | Shape::Async => ty,
        Shape::ImplFuture | Shape::BoxedFuture => future_output(ty)?,
    };
    let mut ty = ty.clone();
    InferImplTrait.visit_type_mut(&mut ty);
    Some(ty)
}

struct InferImplTrait;

impl VisitMut for InferImplTrait {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        match ty {
            Type::ImplTrait(t) => {
                *ty = Type::Infer(syn::TypeInfer {
                    attrs: Vec::new(),
                    underscore_token: syn::Token![_](t.impl_token.span),
                });
            }
            _ => syn::visit_mut::visit_type_mut(self, ty),
        }
    }
}

type Bounds = syn::punctuated::Punctuated<TypeParamBound, syn::Token![+]>;

/// The `Output = X` of a `Future` bound.
fn output_of(bounds: &Bounds) -> Option<&Type> {
    bounds.iter().find_map(|b| match b {
        TypeParamBound::Trait(t) => match &t.path.segments.last()?.arguments {
            syn::PathArguments::AngleBracketed(args) => args.args.iter().find_map(|a| match a {
                syn::GenericArgument::AssocType(assoc) if assoc.ident == "Output" => {
                    Some(&assoc.ty)
                }
                _ => None,
            }),
            _ => None,
        },
        _ => None,
    })
}

fn future_output(ty: &Type) -> Option<&Type> {
    match ty {
        Type::ImplTrait(t) => output_of(&t.bounds),
        Type::TraitObject(t) => output_of(&t.bounds),
        Type::Paren(p) => future_output(&p.elem),
        Type::Group(g) => future_output(&g.elem),
        Type::Path(p) => {
            let last = p.path.segments.last()?;
            match last.ident.to_string().as_str() {
                "BoxFuture" | "LocalBoxFuture" => first_type_arg(&last.arguments),
                "Pin" | "Box" => future_output(first_type_arg(&last.arguments)?),
                _ => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn shape(f: TokenStream) -> Shape {
        syn::parse2::<Function>(f).unwrap().shape()
    }

    #[test]
    fn shapes() {
        assert_eq!(
            shape(quote::quote!(
                fn f() -> Result<u8, E> {}
            )),
            Shape::Sync
        );
        assert_eq!(
            shape(quote::quote!(
                async fn f() -> Result<u8, E> {}
            )),
            Shape::Async
        );
        assert_eq!(
            shape(quote::quote!(
                fn f() -> impl Future<Output = Result<u8, E>> + Send {}
            )),
            Shape::ImplFuture
        );
        assert_eq!(
            shape(quote::quote!(
                fn f<'a>(
                    &'a self,
                ) -> ::core::pin::Pin<Box<dyn ::core::future::Future<Output = R> + Send + 'a>>
                {
                }
            )),
            Shape::BoxedFuture
        );
        assert_eq!(
            shape(quote::quote!(
                fn f() -> BoxFuture<'static, Result<u8, E>> {}
            )),
            Shape::BoxedFuture
        );
        assert_eq!(
            shape(quote::quote!(
                fn f() -> Pin<Box<u8>> {}
            )),
            Shape::Sync
        );
    }

    #[test]
    fn result_types_of_each_shape() {
        let name = |ty: Type, shape| {
            result_type(&ty, shape).map(|t| quote::quote!(#t).to_string().replace(' ', ""))
        };
        assert_eq!(
            name(parse_quote!(Result<u8, E>), Shape::Sync).as_deref(),
            Some("Result<u8,E>")
        );
        assert_eq!(
            name(
                parse_quote!(impl Future<Output = io::Result<u8>> + Send),
                Shape::ImplFuture
            )
            .as_deref(),
            Some("io::Result<u8>")
        );
        assert_eq!(
            name(
                parse_quote!(Pin<Box<dyn Future<Output = Result<u8, E>> + Send + 'a>>),
                Shape::BoxedFuture
            )
            .as_deref(),
            Some("Result<u8,E>")
        );
        assert_eq!(
            name(
                parse_quote!(BoxFuture<'a, Result<u8, E>>),
                Shape::BoxedFuture
            )
            .as_deref(),
            Some("Result<u8,E>")
        );
        assert_eq!(
            name(parse_quote!(Result<impl Debug, E>), Shape::Sync).as_deref(),
            Some("Result<_,E>")
        );
        assert_eq!(
            name(
                parse_quote!(impl Future<Output = io::Result<Vec<impl Debug>>>),
                Shape::ImplFuture
            )
            .as_deref(),
            Some("io::Result<Vec<_>>")
        );
    }

    #[test]
    fn a_body_is_required() {
        assert!(syn::parse2::<Function>(quote::quote!(
            fn f() -> Result<u8, E>;
        ))
        .is_err());
        assert!(syn::parse2::<Function>(quote::quote!(
            struct S;
        ))
        .is_err());
    }

    #[test]
    fn arguments_are_forwarded_by_name() {
        let f: Function = syn::parse2(quote::quote!(
            fn f(&self, mut a: u8, b: u8) -> R {}
        ))
        .unwrap();
        let args: Vec<String> = f
            .forwarded_args()
            .ok()
            .unwrap()
            .iter()
            .map(|t| t.to_string())
            .collect();
        assert_eq!(args, ["self", "a", "b"]);
        let f: Function = syn::parse2(quote::quote!(
            fn f((a, b): (u8, u8)) -> R {}
        ))
        .unwrap();
        assert!(f.forwarded_args().is_err());
    }
}
