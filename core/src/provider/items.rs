//! Stored items ([`CatalogItem`]) as registry items: the bridge between the catalog's data and
//! the engine's registry, so neither depends on the other.

use std::sync::Arc;

use serde_json::Value;

use crate::catalog::http::Plan;
use crate::catalog::{
    pieces, render, render_prompt, CatalogItem, HttpToolSpec, Outbound, Piece, PromptSpec,
    ResourceSpec, TemplateSpec,
};
use crate::protocol::{GetPromptResult, PromptArgument, PromptInfo, Role, ToolInfo};
use crate::registry::{
    Completer, Prompt, RegistryBuilder, Resource, ResourceBody, ResourceTemplate, Tool,
};

/// Adds `item` to a registry being built. HTTP tools send their requests through `outbound`
/// (without one, a call is an error result saying so).
pub(crate) fn add_to(
    item: &CatalogItem,
    r: &mut RegistryBuilder,
    outbound: Option<&Arc<dyn Outbound>>,
) {
    match item {
        CatalogItem::HttpTool(t) => {
            r.tool(tool(t, outbound));
        }
        CatalogItem::Prompt(p) => {
            r.prompt(prompt(p));
        }
        CatalogItem::Resource(s) => {
            r.resource(resource(s));
        }
        CatalogItem::ResourceTemplate(t) => {
            r.resource_template(template(t));
        }
        // Served by the upstream provider, which needs the network.
        CatalogItem::McpServer(_) => {}
    }
}

fn tool(spec: &HttpToolSpec, outbound: Option<&Arc<dyn Outbound>>) -> Tool {
    let info = ToolInfo {
        name: spec.name.clone(),
        title: spec.title.clone(),
        description: spec.description.clone(),
        input_schema: spec.input_schema.clone(),
        output_schema: spec.output_schema.clone(),
        annotations: spec.annotations.clone(),
    };
    let plan = Arc::new(Plan::new(spec, outbound.cloned()));
    Tool::from_parts(
        info,
        Arc::new(move |args, _ctx| {
            let plan = Arc::clone(&plan);
            Box::pin(async move { plan.call(args).await })
        }),
    )
    .with_scopes(spec.scopes.iter().cloned())
}

/// Parsed once; a text that no longer parses (validated when stored) renders as written.
fn parsed(text: &str) -> Vec<Piece> {
    pieces(text).unwrap_or_else(|_| vec![Piece::Text(text.to_string())])
}

fn prompt(spec: &PromptSpec) -> Prompt {
    let info = PromptInfo {
        name: spec.name.clone(),
        title: spec.title.clone(),
        description: spec.description.clone(),
        arguments: spec
            .arguments
            .iter()
            .map(|a| PromptArgument {
                name: a.name.clone(),
                description: a.description.clone(),
                required: Some(a.required),
            })
            .collect(),
    };
    let messages: Arc<[(Role, Vec<Piece>)]> = spec
        .messages
        .iter()
        .map(|m| (m.role, parsed(&m.text)))
        .collect();
    let required: Arc<[String]> = spec
        .arguments
        .iter()
        .filter(|a| a.required)
        .map(|a| a.name.clone())
        .collect();
    let name = spec.name.clone();
    let description = spec.description.clone();
    let mut prompt = Prompt::from_parts(
        info,
        Arc::new(move |args: Value, _ctx| {
            let result =
                render_prompt(&name, &required, &messages, &args).map(|messages| GetPromptResult {
                    description: description.clone(),
                    messages,
                });
            Box::pin(async move { result })
        }),
    );
    for a in spec.arguments.iter().filter(|a| !a.suggestions.is_empty()) {
        prompt = prompt.complete(&a.name, Completer::from_values(a.suggestions.clone()));
    }
    prompt
}

fn resource(spec: &ResourceSpec) -> Resource {
    let mut r = Resource::new(&spec.uri, &spec.name);
    if let Some(t) = &spec.title {
        r = r.title(t);
    }
    if let Some(d) = &spec.description {
        r = r.description(d);
    }
    if let Some(m) = &spec.mime_type {
        r = r.mime_type(m);
    }
    let body = match (&spec.text, &spec.blob) {
        (_, Some(b)) => ResourceBody::Blob(b.clone()),
        (Some(t), None) => ResourceBody::Text(t.clone()),
        (None, None) => ResourceBody::Text(String::new()),
    };
    r.handler(move |_ctx| {
        let body = body.clone();
        async move { Ok(body) }
    })
}

fn template(spec: &TemplateSpec) -> ResourceTemplate {
    let mut t = ResourceTemplate::new(&spec.uri_template, &spec.name);
    if let Some(x) = &spec.title {
        t = t.title(x);
    }
    if let Some(d) = &spec.description {
        t = t.description(d);
    }
    if let Some(m) = &spec.mime_type {
        t = t.mime_type(m);
    }
    for (var, values) in &spec.completions {
        t = t.complete(var, Completer::from_values(values.clone()));
    }
    let ps: Arc<[Piece]> = parsed(&spec.text).into();
    t.handler(move |params, _ctx| {
        let text = render(&ps, |v| params.get(v).cloned().unwrap_or_default());
        async move { Ok(text) }
    })
}
