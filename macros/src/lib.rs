//! Attribute macros of FastMCP-MT, re-exported by `fastmcp_core`: a tool, prompt or resource
//! is an async fn with one attribute, and `#[catalog]` registers a whole module or impl block.
//!
//! ```ignore
//! use fastmcp_core::{tool, Result};
//!
//! /// Add two numbers.
//! #[tool(read_only)]
//! async fn add(/** First addend. */ a: f64, /** Second addend. */ b: f64) -> Result<String> {
//!     Ok((a + b).to_string())
//! }
//! // `add_tool()` is the `Tool`; `add` stays an ordinary async fn.
//! ```
//!
//! The generated code names `::fastmcp_core`, so the crate using the macros depends on it under
//! that name. See `fastmcp_core`'s documentation for the full reference and examples.

mod args;
mod catalog;
mod items;

use proc_macro::TokenStream;
use quote::{format_ident, quote};
use syn::spanned::Spanned;

use crate::args::RawArgs;
use crate::items::{Host, Kind};

/// Makes an async fn a tool, and generates `{name}_tool() -> fastmcp_core::Tool`.
#[proc_macro_attribute]
pub fn tool(attr: TokenStream, item: TokenStream) -> TokenStream {
    standalone(Kind::Tool, attr, item)
}

/// Makes an async fn a prompt, and generates `{name}_prompt() -> fastmcp_core::Prompt`.
#[proc_macro_attribute]
pub fn prompt(attr: TokenStream, item: TokenStream) -> TokenStream {
    standalone(Kind::Prompt, attr, item)
}

/// Makes an async fn the resource at a URI, and generates
/// `{name}_resource() -> fastmcp_core::Resource`.
#[proc_macro_attribute]
pub fn resource(attr: TokenStream, item: TokenStream) -> TokenStream {
    standalone(Kind::Resource, attr, item)
}

/// Makes an async fn a resource template, its parameters the URI's variables, and generates
/// `{name}_template() -> fastmcp_core::ResourceTemplate`.
#[proc_macro_attribute]
pub fn resource_template(attr: TokenStream, item: TokenStream) -> TokenStream {
    standalone(Kind::ResourceTemplate, attr, item)
}

/// On an inline module or an impl block: generates `register`, which adds every item marked
/// `#[tool]`, `#[prompt]`, `#[resource]` or `#[resource_template]` in it to a registry.
#[proc_macro_attribute]
pub fn catalog(attr: TokenStream, item: TokenStream) -> TokenStream {
    catalog::expand(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

fn standalone(kind: Kind, attr: TokenStream, item: TokenStream) -> TokenStream {
    let attr2: proc_macro2::TokenStream = attr.into();
    let attr_span = attr2.span();
    let result = (|| {
        let raw: RawArgs = syn::parse2(attr2)?;
        let mut func: syn::ItemFn = syn::parse(item).map_err(|e| {
            syn::Error::new(
                e.span(),
                format!("#[{}] goes on an `async fn`", kind.attr()),
            )
        })?;
        let expanded = match items::expand(
            kind,
            &raw,
            attr_span,
            &mut func.sig,
            &func.attrs,
            Host::Module,
        ) {
            Ok(e) => e,
            // Keep the function, so the one error is the only one reported.
            Err(e) => {
                items::strip_param_attrs(&mut func.sig);
                let err = e.into_compile_error();
                return Ok(quote!(#err #func));
            }
        };
        let vis = &func.vis;
        let name = &func.sig.ident;
        let companion = format_ident!("{}_{}", name, kind.suffix());
        let ty = match kind {
            Kind::Tool => quote!(::fastmcp_core::Tool),
            Kind::Prompt => quote!(::fastmcp_core::Prompt),
            Kind::Resource => quote!(::fastmcp_core::Resource),
            Kind::ResourceTemplate => quote!(::fastmcp_core::ResourceTemplate),
        };
        let doc = format!(
            "The {} made from [`{name}`] by `#[{}]`, ready for `RegistryBuilder::{}`.",
            match kind {
                Kind::Tool => "tool",
                Kind::Prompt => "prompt",
                Kind::Resource => "resource",
                Kind::ResourceTemplate => "resource template",
            },
            kind.attr(),
            kind.register_method()
        );
        let builder = expanded.builder;
        Ok::<_, syn::Error>(quote! {
            #func
            #[doc = #doc]
            #vis fn #companion() -> #ty {
                #builder
            }
        })
    })();
    result.unwrap_or_else(syn::Error::into_compile_error).into()
}
