//! The attribute arguments: `#[tool(read_only, scopes = ["admin"])]`,
//! `#[resource_template("x://{id}", mime_type = "text/plain", complete(id = ["a", "b"]))]`.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, ExprArray, Lit, LitStr, Meta, MetaNameValue, Token};

/// What follows the attribute's name, before interpretation by kind: an optional leading URI
/// string, then `key`, `key = value` and `key(…)` items.
pub(crate) struct RawArgs {
    pub(crate) uri: Option<LitStr>,
    pub(crate) items: Vec<Meta>,
}

impl Parse for RawArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let uri = if input.peek(LitStr) {
            let lit: LitStr = input.parse()?;
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
            Some(lit)
        } else {
            None
        };
        let items = Punctuated::<Meta, Token![,]>::parse_terminated(input)?;
        Ok(Self {
            uri,
            items: items.into_iter().collect(),
        })
    }
}

/// One `complete(arg = …)` entry: the argument (or template variable) and its completer.
pub(crate) struct Completion {
    pub(crate) name: String,
    pub(crate) span: Span,
    pub(crate) completer: TokenStream,
}

/// Everything any kind may be given; each kind rejects what it does not take.
#[derive(Default)]
pub(crate) struct ItemArgs {
    pub(crate) name: Option<LitStr>,
    pub(crate) title: Option<LitStr>,
    pub(crate) description: Option<LitStr>,
    pub(crate) mime_type: Option<LitStr>,
    pub(crate) read_only: Option<bool>,
    pub(crate) destructive: Option<bool>,
    pub(crate) idempotent: Option<bool>,
    pub(crate) open_world: Option<bool>,
    pub(crate) scopes: Vec<LitStr>,
    pub(crate) completions: Vec<Completion>,
}

/// The keys each kind accepts, for the error that lists them.
pub(crate) const TOOL_KEYS: &[&str] = &[
    "name",
    "title",
    "description",
    "read_only",
    "destructive",
    "idempotent",
    "open_world",
    "scopes",
];
pub(crate) const PROMPT_KEYS: &[&str] = &["name", "title", "description", "complete"];
pub(crate) const RESOURCE_KEYS: &[&str] = &["name", "title", "description", "mime_type"];
pub(crate) const TEMPLATE_KEYS: &[&str] =
    &["name", "title", "description", "mime_type", "complete"];

impl ItemArgs {
    /// Interprets `items`, accepting only `allowed` keys.
    pub(crate) fn from_metas(items: &[Meta], allowed: &[&str], what: &str) -> syn::Result<Self> {
        let mut out = ItemArgs::default();
        for meta in items {
            let key = meta
                .path()
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_default();
            if !allowed.contains(&key.as_str()) {
                return Err(syn::Error::new_spanned(
                    meta.path(),
                    format!(
                        "unknown argument `{}` for #[{what}]; expected one of: {}",
                        {
                            let path = meta.path();
                            quote!(#path).to_string().replace(' ', "")
                        },
                        allowed.join(", ")
                    ),
                ));
            }
            match key.as_str() {
                "name" => out.name = Some(string_value(meta)?),
                "title" => out.title = Some(string_value(meta)?),
                "description" => out.description = Some(string_value(meta)?),
                "mime_type" => out.mime_type = Some(string_value(meta)?),
                "read_only" => out.read_only = Some(flag_value(meta)?),
                "destructive" => out.destructive = Some(flag_value(meta)?),
                "idempotent" => out.idempotent = Some(flag_value(meta)?),
                "open_world" => out.open_world = Some(flag_value(meta)?),
                "scopes" => out.scopes = string_array(meta)?,
                "complete" => out.completions.extend(completions(meta)?),
                _ => unreachable!("checked against `allowed`"),
            }
        }
        Ok(out)
    }
}

fn name_value(meta: &Meta) -> syn::Result<&Expr> {
    match meta {
        Meta::NameValue(nv) => Ok(&nv.value),
        _ => Err(syn::Error::new_spanned(
            meta,
            format!(
                "expected `{} = …`",
                meta.path()
                    .get_ident()
                    .map(ToString::to_string)
                    .unwrap_or_default()
            ),
        )),
    }
}

fn string_value(meta: &Meta) -> syn::Result<LitStr> {
    match name_value(meta)? {
        Expr::Lit(l) => match &l.lit {
            Lit::Str(s) => Ok(s.clone()),
            other => Err(syn::Error::new_spanned(other, "expected a string literal")),
        },
        other => Err(syn::Error::new_spanned(other, "expected a string literal")),
    }
}

/// `read_only` alone is `true`; `read_only = false` is allowed too.
fn flag_value(meta: &Meta) -> syn::Result<bool> {
    match meta {
        Meta::Path(_) => Ok(true),
        _ => match name_value(meta)? {
            Expr::Lit(l) => match &l.lit {
                Lit::Bool(b) => Ok(b.value),
                other => Err(syn::Error::new_spanned(other, "expected `true` or `false`")),
            },
            other => Err(syn::Error::new_spanned(other, "expected `true` or `false`")),
        },
    }
}

fn strings_of(array: &ExprArray) -> syn::Result<Vec<LitStr>> {
    array
        .elems
        .iter()
        .map(|e| match e {
            Expr::Lit(l) => match &l.lit {
                Lit::Str(s) => Ok(s.clone()),
                other => Err(syn::Error::new_spanned(other, "expected a string literal")),
            },
            other => Err(syn::Error::new_spanned(other, "expected a string literal")),
        })
        .collect()
}

fn string_array(meta: &Meta) -> syn::Result<Vec<LitStr>> {
    match name_value(meta)? {
        Expr::Array(a) => strings_of(a),
        other => Err(syn::Error::new_spanned(
            other,
            "expected an array of strings: `[\"a\", \"b\"]`",
        )),
    }
}

/// `complete(style = ["brief", "detailed"], name = my_completer)`: a list of values, or an async
/// fn `(typed: String, ctx: Context) -> Result<Vec<String>>`.
fn completions(meta: &Meta) -> syn::Result<Vec<Completion>> {
    let Meta::List(list) = meta else {
        return Err(syn::Error::new_spanned(
            meta,
            "expected `complete(argument = [\"value\", …])` or `complete(argument = async_fn)`",
        ));
    };
    let entries = list.parse_args_with(Punctuated::<MetaNameValue, Token![,]>::parse_terminated)?;
    entries
        .into_iter()
        .map(|nv| {
            let Some(ident) = nv.path.get_ident() else {
                return Err(syn::Error::new_spanned(
                    &nv.path,
                    "expected an argument name",
                ));
            };
            let completer = match &nv.value {
                Expr::Array(a) => {
                    let values = strings_of(a)?;
                    quote!(::fastmcp_core::Completer::from_values([#(#values),*]))
                }
                other => quote!(::fastmcp_core::Completer::from_fn(#other)),
            };
            Ok(Completion {
                name: crate::items::unraw(ident),
                span: ident.span(),
                completer,
            })
        })
        .collect()
}
