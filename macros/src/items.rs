//! One annotated function: what it declares (parameters, docs, receiver) and the builder
//! expression that turns it into a `Tool`, `Prompt`, `Resource` or `ResourceTemplate`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Attribute, FnArg, Ident, LitStr, Pat, Signature, Type};

use crate::args::{ItemArgs, RawArgs, PROMPT_KEYS, RESOURCE_KEYS, TEMPLATE_KEYS, TOOL_KEYS};

/// The four kinds of item, named as their attributes are.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Tool,
    Prompt,
    Resource,
    ResourceTemplate,
}

impl Kind {
    /// The kind an attribute names (`tool`, `fastmcp_core::tool`, …), if any.
    pub(crate) fn of(attr: &Attribute) -> Option<Kind> {
        let last = attr.path().segments.last()?.ident.to_string();
        match last.as_str() {
            "tool" => Some(Kind::Tool),
            "prompt" => Some(Kind::Prompt),
            "resource" => Some(Kind::Resource),
            "resource_template" => Some(Kind::ResourceTemplate),
            _ => None,
        }
    }

    pub(crate) fn attr(self) -> &'static str {
        match self {
            Kind::Tool => "tool",
            Kind::Prompt => "prompt",
            Kind::Resource => "resource",
            Kind::ResourceTemplate => "resource_template",
        }
    }

    /// The suffix of the companion function `#[tool]` and friends generate: `add_tool()`.
    pub(crate) fn suffix(self) -> &'static str {
        match self {
            Kind::Tool => "tool",
            Kind::Prompt => "prompt",
            Kind::Resource => "resource",
            Kind::ResourceTemplate => "template",
        }
    }

    /// The `RegistryBuilder` method that adds this kind.
    pub(crate) fn register_method(self) -> Ident {
        let name = match self {
            Kind::Tool => "tool",
            Kind::Prompt => "prompt",
            Kind::Resource => "resource",
            Kind::ResourceTemplate => "resource_template",
        };
        Ident::new(name, Span::call_site())
    }
}

/// `r#type` → `type`.
pub(crate) fn unraw(ident: &Ident) -> String {
    let s = ident.to_string();
    s.strip_prefix("r#").map(str::to_string).unwrap_or(s)
}

/// How a parameter receives the request's `Context`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum CtxPass {
    Owned,
    Borrowed,
}

struct Param {
    ident: Ident,
    ty: Type,
    /// Docs and serde/schemars attributes, moved onto the argument struct's field.
    field_attrs: Vec<Attribute>,
    ctx: Option<CtxPass>,
}

/// Where the function lives, which decides how it is called.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Host {
    /// A free function: `add(…)`.
    Module,
    /// An associated function of the `#[catalog]` impl: `Self::add(…)`, or `__this.add(…)` with
    /// `&self`.
    Impl,
}

/// What the function's signature and attributes say.
struct FnInfo {
    name: Ident,
    params: Vec<Param>,
    has_self: bool,
    docs: Option<String>,
}

/// Whether `ty` is the request context (`Context`, `fastmcp_core::Context`, `&Context`).
fn ctx_pass(ty: &Type) -> Option<CtxPass> {
    let is_ctx = |t: &Type| match t {
        Type::Path(p) => p
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident == "Context" && s.arguments.is_empty()),
        _ => false,
    };
    match ty {
        Type::Reference(r) if r.mutability.is_none() && is_ctx(&r.elem) => Some(CtxPass::Borrowed),
        t if is_ctx(t) => Some(CtxPass::Owned),
        _ => None,
    }
}

/// Attributes rustc accepts on parameters; they stay where they are.
fn stays_on_param(attr: &Attribute) -> bool {
    [
        "cfg", "cfg_attr", "allow", "warn", "deny", "forbid", "expect",
    ]
    .iter()
    .any(|k| attr.path().is_ident(k))
}

/// The text of `///` comments: lines joined, one leading space dropped from each.
pub(crate) fn doc_text(attrs: &[Attribute]) -> Option<String> {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
        .map(|l| l.strip_prefix(' ').map(str::to_string).unwrap_or(l))
        .collect();
    let text = lines.join("\n").trim().to_string();
    (!text.is_empty()).then_some(text)
}

/// Drops the attributes rustc rejects on parameters (after an error, so it is the only one).
pub(crate) fn strip_param_attrs(sig: &mut Signature) {
    for input in sig.inputs.iter_mut() {
        if let FnArg::Typed(pt) = input {
            pt.attrs.retain(stays_on_param);
        }
    }
}

/// Reads the signature, moving the parameters' docs and serde/schemars attributes out of it
/// (rustc rejects them on parameters; they belong on the argument struct's fields).
fn analyse(kind: Kind, sig: &mut Signature, attrs: &[Attribute]) -> syn::Result<FnInfo> {
    let what = kind.attr();
    if sig.asyncness.is_none() {
        return Err(syn::Error::new(
            sig.fn_token.span(),
            format!(
                "#[{what}] needs an `async fn`: write `async fn {}(…)` (a handler may await \
                 nothing, but it runs as a future)",
                sig.ident
            ),
        ));
    }
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &sig.generics,
            format!(
                "#[{what}] cannot be generic: its input schema is fixed when the server starts"
            ),
        ));
    }
    if let Some(v) = &sig.variadic {
        return Err(syn::Error::new_spanned(
            v,
            "variadic functions are not supported",
        ));
    }
    let mut params = Vec::new();
    let mut has_self = false;
    let mut ctx_seen = false;
    for input in sig.inputs.iter_mut() {
        match input {
            FnArg::Receiver(r) => {
                if r.reference.is_none() || r.mutability.is_some() {
                    return Err(syn::Error::new_spanned(
                        &*r,
                        format!(
                            "#[{what}] methods take `&self`: calls run concurrently, so keep \
                             mutable state behind a lock or in the session (`ctx.set_state`)"
                        ),
                    ));
                }
                has_self = true;
            }
            FnArg::Typed(pt) => {
                let Pat::Ident(pi) = &*pt.pat else {
                    return Err(syn::Error::new_spanned(
                        &pt.pat,
                        format!(
                            "#[{what}] parameters need plain names (they become the argument names)"
                        ),
                    ));
                };
                let (stay, moved): (Vec<_>, Vec<_>) = pt.attrs.drain(..).partition(stays_on_param);
                pt.attrs = stay;
                let ctx = ctx_pass(&pt.ty);
                if ctx.is_some() {
                    if ctx_seen {
                        return Err(syn::Error::new_spanned(
                            &pt.ty,
                            "only one `Context` parameter is allowed",
                        ));
                    }
                    ctx_seen = true;
                }
                params.push(Param {
                    ident: pi.ident.clone(),
                    ty: (*pt.ty).clone(),
                    field_attrs: moved,
                    ctx,
                });
            }
        }
    }
    Ok(FnInfo {
        name: sig.ident.clone(),
        params,
        has_self,
        docs: doc_text(attrs),
    })
}

/// The generated argument struct: one field per parameter other than `Context`, carrying the
/// parameter's docs (its schema description) and serde/schemars attributes.
fn args_struct(info: &FnInfo) -> (Ident, TokenStream) {
    let name = format_ident!("__FastmcpArgs");
    let fields = info.params.iter().filter(|p| p.ctx.is_none()).map(|p| {
        let Param {
            ident,
            ty,
            field_attrs,
            ..
        } = p;
        // Spanned at the user's type, so "`T: JsonSchema` is not satisfied" points at it.
        quote_spanned!(ty.span()=> #(#field_attrs)* #ident: #ty)
    });
    let tokens = quote! {
        #[derive(::fastmcp_core::__private::serde::Deserialize, ::fastmcp_core::schemars::JsonSchema)]
        #[serde(crate = "::fastmcp_core::__private::serde")]
        #[schemars(crate = "::fastmcp_core::schemars")]
        #[allow(non_camel_case_types, dead_code)]
        struct #name { #(#fields,)* }
    };
    (name, tokens)
}

/// The call of the user's function. `values` gives each non-`Context` parameter's expression.
fn call_expr(info: &FnInfo, host: Host, values: impl Fn(&Param) -> TokenStream) -> TokenStream {
    let name = &info.name;
    let args = info.params.iter().map(|p| match p.ctx {
        Some(CtxPass::Owned) => quote!(__ctx),
        Some(CtxPass::Borrowed) => quote!(&__ctx),
        None => values(p),
    });
    match (host, info.has_self) {
        (Host::Module, _) => quote!(#name(#(#args),*)),
        (Host::Impl, true) => quote!(__this.#name(#(#args),*)),
        (Host::Impl, false) => quote!(Self::#name(#(#args),*)),
    }
}

/// Whether the handler must be an `async move` block (to own what the call borrows) rather than
/// the call's own future.
fn needs_block(info: &FnInfo, host: Host) -> bool {
    (host == Host::Impl && info.has_self)
        || info.params.iter().any(|p| p.ctx == Some(CtxPass::Borrowed))
}

/// Wraps `call` into the handler's body: clones the shared `self` per call when there is one.
fn handler_body(info: &FnInfo, host: Host, prelude: TokenStream, call: TokenStream) -> TokenStream {
    let this = (host == Host::Impl && info.has_self)
        .then(|| quote!(let __this = ::std::sync::Arc::clone(&__this);));
    if needs_block(info, host) || !prelude.is_empty() {
        quote!({ #this async move { #prelude #call.await } })
    } else {
        quote!(#call)
    }
}

fn ctx_binding(info: &FnInfo) -> TokenStream {
    if info.params.iter().any(|p| p.ctx.is_some()) {
        quote!(__ctx)
    } else {
        quote!(_)
    }
}

fn description(args: &ItemArgs, info: &FnInfo) -> Option<TokenStream> {
    match (&args.description, &info.docs) {
        (Some(d), _) => Some(quote!(.description(#d))),
        (None, Some(d)) => Some(quote!(.description(#d))),
        (None, None) => None,
    }
}

fn item_name(args: &ItemArgs, info: &FnInfo) -> LitStr {
    args.name
        .clone()
        .unwrap_or_else(|| LitStr::new(&unraw(&info.name), info.name.span()))
}

/// A parsed item: the cleaned function and the expression building its registry item.
pub(crate) struct Expanded {
    pub(crate) builder: TokenStream,
}

/// Expands one annotated function. `sig` is cleaned in place (parameter attributes moved out).
pub(crate) fn expand(
    kind: Kind,
    raw: &RawArgs,
    attr_span: Span,
    sig: &mut Signature,
    attrs: &[Attribute],
    host: Host,
) -> syn::Result<Expanded> {
    let info = analyse(kind, sig, attrs)?;
    if info.has_self && host == Host::Module {
        return Err(syn::Error::new(
            sig.ident.span(),
            format!(
                "#[{}] on a method needs #[catalog] on its impl block, which registers it with \
                 the instance it is given",
                kind.attr()
            ),
        ));
    }
    match kind {
        Kind::Tool | Kind::Prompt => {
            if let Some(uri) = &raw.uri {
                return Err(syn::Error::new_spanned(
                    uri,
                    format!(
                        "#[{}] takes no URI; name it with `name = \"…\"`",
                        kind.attr()
                    ),
                ));
            }
        }
        Kind::Resource | Kind::ResourceTemplate => {
            if raw.uri.is_none() {
                return Err(syn::Error::new(
                    attr_span,
                    format!(
                        "#[{}] needs its URI first: #[{}(\"{}\")]",
                        kind.attr(),
                        kind.attr(),
                        if kind == Kind::Resource {
                            "scheme://path"
                        } else {
                            "scheme://items/{id}"
                        }
                    ),
                ));
            }
        }
    }
    let builder = match kind {
        Kind::Tool => tool(&info, raw, host)?,
        Kind::Prompt => prompt(&info, raw, host)?,
        Kind::Resource => resource(&info, raw, host)?,
        Kind::ResourceTemplate => template(&info, raw, host)?,
    };
    Ok(Expanded { builder })
}

fn tool(info: &FnInfo, raw: &RawArgs, host: Host) -> syn::Result<TokenStream> {
    let args = ItemArgs::from_metas(&raw.items, TOOL_KEYS, "tool")?;
    let name = item_name(&args, info);
    let description = description(&args, info);
    let title = args.title.as_ref().map(|t| quote!(.title(#t)));
    let hint = |v: Option<bool>| match v {
        Some(b) => quote!(::std::option::Option::Some(#b)),
        None => quote!(::std::option::Option::None),
    };
    let annotations = [
        args.read_only,
        args.destructive,
        args.idempotent,
        args.open_world,
    ]
    .iter()
    .any(Option::is_some)
    .then(|| {
        let (r, d, i, o) = (
            hint(args.read_only),
            hint(args.destructive),
            hint(args.idempotent),
            hint(args.open_world),
        );
        quote!(.annotations(::fastmcp_core::protocol::ToolAnnotations {
            read_only_hint: #r,
            destructive_hint: #d,
            idempotent_hint: #i,
            open_world_hint: #o,
            ..::std::default::Default::default()
        }))
    });
    let scopes = (!args.scopes.is_empty()).then(|| {
        let s = &args.scopes;
        quote!(.scopes([#(#s),*]))
    });
    let (args_ty, args_struct) = args_struct(info);
    let call = call_expr(info, host, |p| {
        let id = &p.ident;
        quote!(__args.#id)
    });
    let body = handler_body(info, host, TokenStream::new(), call);
    let ctx = ctx_binding(info);
    Ok(quote! {{
        #args_struct
        ::fastmcp_core::Tool::new(#name)
            #description
            #title
            #annotations
            #scopes
            .handler(move |__args: #args_ty, #ctx: ::fastmcp_core::Context| #body)
    }})
}

/// Checks that every `complete(…)` entry names one of `known`.
fn check_completions(args: &ItemArgs, known: &[String], what: &str) -> syn::Result<()> {
    for c in &args.completions {
        if !known.contains(&c.name) {
            return Err(syn::Error::new(
                c.span,
                format!(
                    "`complete({} = …)` names no {what}; the {what}s are: {}",
                    c.name,
                    if known.is_empty() {
                        "(none)".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        }
    }
    Ok(())
}

fn completers(args: &ItemArgs) -> TokenStream {
    let calls = args.completions.iter().map(|c| {
        let (name, completer) = (&c.name, &c.completer);
        quote!(.complete(#name, #completer))
    });
    quote!(#(#calls)*)
}

fn value_params(info: &FnInfo) -> Vec<String> {
    info.params
        .iter()
        .filter(|p| p.ctx.is_none())
        .map(|p| unraw(&p.ident))
        .collect()
}

fn prompt(info: &FnInfo, raw: &RawArgs, host: Host) -> syn::Result<TokenStream> {
    let args = ItemArgs::from_metas(&raw.items, PROMPT_KEYS, "prompt")?;
    check_completions(&args, &value_params(info), "argument")?;
    let name = item_name(&args, info);
    let description = description(&args, info);
    let title = args.title.as_ref().map(|t| quote!(.title(#t)));
    let complete = completers(&args);
    let (args_ty, args_struct) = args_struct(info);
    let call = call_expr(info, host, |p| {
        let id = &p.ident;
        quote!(__args.#id)
    });
    let body = handler_body(info, host, TokenStream::new(), call);
    let ctx = ctx_binding(info);
    Ok(quote! {{
        #args_struct
        ::fastmcp_core::Prompt::new(#name)
            #description
            #title
            #complete
            .handler(move |__args: #args_ty, #ctx: ::fastmcp_core::Context| #body)
    }})
}

fn resource(info: &FnInfo, raw: &RawArgs, host: Host) -> syn::Result<TokenStream> {
    let args = ItemArgs::from_metas(&raw.items, RESOURCE_KEYS, "resource")?;
    let uri = raw
        .uri
        .as_ref()
        .ok_or_else(|| syn::Error::new(Span::call_site(), "#[resource] needs its URI first"))?;
    if uri.value().contains('{') {
        return Err(syn::Error::new_spanned(
            uri,
            "this URI has variables: use #[resource_template(\"…\")] for a family of resources",
        ));
    }
    if let Some(p) = info.params.iter().find(|p| p.ctx.is_none()) {
        return Err(syn::Error::new_spanned(
            &p.ident,
            format!(
                "a #[resource] takes no parameter besides `Context` (`{}` has nothing to come \
                 from); use #[resource_template(\"scheme://…/{{{}}}\")] to take it from the URI",
                unraw(&p.ident),
                unraw(&p.ident)
            ),
        ));
    }
    let name = item_name(&args, info);
    let description = description(&args, info);
    let title = args.title.as_ref().map(|t| quote!(.title(#t)));
    let mime = args.mime_type.as_ref().map(|m| quote!(.mime_type(#m)));
    let call = call_expr(info, host, |_| TokenStream::new());
    let body = handler_body(info, host, TokenStream::new(), call);
    let ctx = ctx_binding(info);
    Ok(quote! {
        ::fastmcp_core::Resource::new(#uri, #name)
            #description
            #title
            #mime
            .handler(move |#ctx: ::fastmcp_core::Context| #body)
    })
}

/// The `{variable}` names of a URI template, with the same reading as the runtime parser.
fn template_variables(uri: &LitStr) -> syn::Result<Vec<String>> {
    let text = uri.value();
    let mut vars = Vec::new();
    let mut rest = text.as_str();
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            return Err(syn::Error::new_spanned(
                uri,
                "unclosed `{` in the URI template",
            ));
        };
        let var = &rest[open + 1..open + close];
        let valid = !var.is_empty()
            && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !var.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            return Err(syn::Error::new_spanned(
                uri,
                format!("`{{{var}}}` is not a simple variable: use `{{name}}` with letters, digits and `_`"),
            ));
        }
        if vars.iter().any(|v| v == var) {
            return Err(syn::Error::new_spanned(
                uri,
                format!("the variable `{var}` appears twice in the URI template"),
            ));
        }
        vars.push(var.to_string());
        rest = &rest[open + close + 1..];
    }
    if vars.is_empty() {
        return Err(syn::Error::new_spanned(
            uri,
            "this URI template has no `{variable}`: use #[resource(\"…\")] for a single resource",
        ));
    }
    Ok(vars)
}

fn template(info: &FnInfo, raw: &RawArgs, host: Host) -> syn::Result<TokenStream> {
    let args = ItemArgs::from_metas(&raw.items, TEMPLATE_KEYS, "resource_template")?;
    let uri = raw.uri.as_ref().ok_or_else(|| {
        syn::Error::new(
            Span::call_site(),
            "#[resource_template] needs its URI template first",
        )
    })?;
    let vars = template_variables(uri)?;
    let params = value_params(info);
    for v in &vars {
        if !params.contains(v) {
            return Err(syn::Error::new_spanned(
                uri,
                format!(
                    "the template variable `{v}` has no parameter: add `{v}: String` (or any \
                     type that parses from a string) to `{}`",
                    info.name
                ),
            ));
        }
    }
    for p in info.params.iter().filter(|p| p.ctx.is_none()) {
        if !vars.contains(&unraw(&p.ident)) {
            return Err(syn::Error::new_spanned(
                &p.ident,
                format!(
                    "the parameter `{}` is not a variable of the URI template {:?}",
                    unraw(&p.ident),
                    uri.value()
                ),
            ));
        }
    }
    check_completions(&args, &vars, "template variable")?;
    let name = item_name(&args, info);
    let description = description(&args, info);
    let title = args.title.as_ref().map(|t| quote!(.title(#t)));
    let mime = args.mime_type.as_ref().map(|m| quote!(.mime_type(#m)));
    let complete = completers(&args);
    let prelude = info
        .params
        .iter()
        .filter(|p| p.ctx.is_none())
        .map(|p| {
            let (id, ty) = (&p.ident, &p.ty);
            let var = unraw(id);
            quote_spanned!(ty.span()=>
                let #id: #ty = ::fastmcp_core::__private::template_var(&__params, #var)?;
            )
        })
        .collect::<TokenStream>();
    let call = call_expr(info, host, |p| {
        let id = &p.ident;
        quote!(#id)
    });
    let body = handler_body(info, host, prelude, call);
    let ctx = ctx_binding(info);
    Ok(quote! {
        ::fastmcp_core::ResourceTemplate::new(#uri, #name)
            #description
            #title
            #mime
            #complete
            .handler(move |__params: ::fastmcp_core::TemplateParams, #ctx: ::fastmcp_core::Context| #body)
    })
}
