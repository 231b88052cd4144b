//! What a server offers: tools, resources (static and templated), prompts and completions.
//!
//! Built once with [`RegistryBuilder`], then frozen: list results are rendered to JSON at build
//! time, so no request re-serialises the catalog.

mod prompt;
mod resource;
mod tool;

pub use prompt::{Prompt, PromptHandler};
pub use resource::{Resource, ResourceBody, ResourceTemplate, TemplateParams, UriTemplate};
pub use tool::{NoArgs, Structured, Tool, ToolHandler, ToolOutput};

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::protocol::ResourceContents;

/// Suggests values for one argument: gets the partial value typed so far.
pub type CompleteFn =
    Arc<dyn Fn(String, Context) -> BoxFuture<'static, Result<Vec<String>>> + Send + Sync>;

/// Completion provider for a prompt argument or template variable.
#[derive(Clone)]
pub struct Completer(pub(crate) CompleteFn);

impl Completer {
    /// Values from a fixed list that start with what was typed (case-insensitive).
    pub fn from_values<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let values: Arc<[String]> = values.into_iter().map(Into::into).collect();
        Completer(Arc::new(move |typed: String, _ctx| {
            let typed = typed.to_lowercase();
            let hits = values
                .iter()
                .filter(|v| v.to_lowercase().starts_with(&typed))
                .cloned()
                .collect();
            Box::pin(async move { Ok(hits) })
        }))
    }

    /// A custom async completer.
    pub fn from_fn<F, Fut>(f: F) -> Self
    where
        F: Fn(String, Context) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<Vec<String>>> + Send + 'static,
    {
        Completer(Arc::new(move |typed, ctx| Box::pin(f(typed, ctx))))
    }
}

/// Collects tools, resources and prompts; [`build`](Self::build) freezes them into a [`Registry`].
#[derive(Default)]
pub struct RegistryBuilder {
    tools: Vec<Tool>,
    resources: Vec<Resource>,
    templates: Vec<ResourceTemplate>,
    prompts: Vec<Prompt>,
}

impl RegistryBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a tool (a later one with the same name replaces an earlier one).
    pub fn tool(&mut self, tool: Tool) -> &mut Self {
        self.tools.retain(|t| t.info.name != tool.info.name);
        self.tools.push(tool);
        self
    }

    /// Adds a static resource.
    pub fn resource(&mut self, resource: Resource) -> &mut Self {
        self.resources.retain(|r| r.info.uri != resource.info.uri);
        self.resources.push(resource);
        self
    }

    /// Adds a resource template.
    pub fn resource_template(&mut self, template: ResourceTemplate) -> &mut Self {
        self.templates
            .retain(|t| t.info.uri_template != template.info.uri_template);
        self.templates.push(template);
        self
    }

    /// Adds a prompt.
    pub fn prompt(&mut self, prompt: Prompt) -> &mut Self {
        self.prompts.retain(|p| p.info.name != prompt.info.name);
        self.prompts.push(prompt);
        self
    }

    /// Freezes the catalog.
    pub fn build(self) -> Registry {
        fn render<T: serde::Serialize>(items: impl Iterator<Item = T>) -> Arc<[Value]> {
            items
                .map(|i| serde_json::to_value(i).unwrap_or(Value::Null))
                .collect()
        }
        let tool_index = self
            .tools
            .iter()
            .enumerate()
            .map(|(i, t)| (t.info.name.clone(), i))
            .collect();
        let prompt_index = self
            .prompts
            .iter()
            .enumerate()
            .map(|(i, p)| (p.info.name.clone(), i))
            .collect();
        let resource_index = self
            .resources
            .iter()
            .enumerate()
            .map(|(i, r)| (r.info.uri.clone(), i))
            .collect();
        Registry {
            tools_json: render(self.tools.iter().map(|t| &t.info)),
            resources_json: render(self.resources.iter().map(|r| &r.info)),
            templates_json: render(self.templates.iter().map(|t| &t.info)),
            prompts_json: render(self.prompts.iter().map(|p| &p.info)),
            tools: self.tools,
            tool_index,
            resources: self.resources,
            resource_index,
            templates: self.templates,
            prompts: self.prompts,
            prompt_index,
        }
    }
}

/// The frozen catalog.
#[derive(Default)]
pub struct Registry {
    tools: Vec<Tool>,
    tool_index: HashMap<String, usize>,
    pub(crate) tools_json: Arc<[Value]>,
    resources: Vec<Resource>,
    resource_index: HashMap<String, usize>,
    pub(crate) resources_json: Arc<[Value]>,
    templates: Vec<ResourceTemplate>,
    pub(crate) templates_json: Arc<[Value]>,
    prompts: Vec<Prompt>,
    prompt_index: HashMap<String, usize>,
    pub(crate) prompts_json: Arc<[Value]>,
}

impl Registry {
    /// The items of `parts` together, in order; of items with the same name (tools,
    /// prompts), URI (resources) or URI template, the first wins.
    pub fn merged(parts: &[Arc<Registry>]) -> Registry {
        use std::collections::HashSet;
        let mut b = RegistryBuilder::new();
        let (mut tools, mut resources, mut templates, mut prompts) = (
            HashSet::new(),
            HashSet::new(),
            HashSet::new(),
            HashSet::new(),
        );
        for p in parts {
            for t in &p.tools {
                if tools.insert(t.info.name.as_str()) {
                    b.tools.push(t.clone());
                }
            }
            for r in &p.resources {
                if resources.insert(r.info.uri.as_str()) {
                    b.resources.push(r.clone());
                }
            }
            for t in &p.templates {
                if templates.insert(t.info.uri_template.as_str()) {
                    b.templates.push(t.clone());
                }
            }
            for x in &p.prompts {
                if prompts.insert(x.info.name.as_str()) {
                    b.prompts.push(x.clone());
                }
            }
        }
        b.build()
    }

    /// The same items under the names an entity sees (`transforms`); of two items that end up
    /// with one name, the first wins.
    pub fn transformed(&self, transforms: &crate::storage::Transforms) -> Registry {
        use std::collections::HashSet;
        let mut b = RegistryBuilder::new();
        let (mut tools, mut prompts) = (HashSet::new(), HashSet::new());
        for t in &self.tools {
            let mut t = t.clone();
            t.info.name = transforms.tool_name(&t.info.name);
            if tools.insert(t.info.name.clone()) {
                b.tools.push(t);
            }
        }
        for p in &self.prompts {
            let mut p = p.clone();
            p.info.name = transforms.prompt_name(&p.info.name);
            if prompts.insert(p.info.name.clone()) {
                b.prompts.push(p);
            }
        }
        b.resources = self.resources.clone();
        b.templates = self.templates.clone();
        b.build()
    }

    /// Whether it holds nothing at all.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
            && self.resources.is_empty()
            && self.templates.is_empty()
            && self.prompts.is_empty()
    }

    /// A tool by name.
    pub fn tool(&self, name: &str) -> Option<&Tool> {
        self.tool_index.get(name).map(|&i| &self.tools[i])
    }

    /// All tools, in registration order.
    pub fn tools(&self) -> &[Tool] {
        &self.tools
    }

    /// All static resources.
    pub fn resources(&self) -> &[Resource] {
        &self.resources
    }

    /// All resource templates.
    pub fn templates(&self) -> &[ResourceTemplate] {
        &self.templates
    }

    /// All prompts.
    pub fn prompts(&self) -> &[Prompt] {
        &self.prompts
    }

    /// A prompt by name.
    pub fn prompt(&self, name: &str) -> Option<&Prompt> {
        self.prompt_index.get(name).map(|&i| &self.prompts[i])
    }

    /// Reads a resource: a static one by exact URI first, then the first matching template.
    pub async fn read_resource(&self, uri: &str, ctx: Context) -> Result<Vec<ResourceContents>> {
        if let Some(&i) = self.resource_index.get(uri) {
            let r = &self.resources[i];
            let body = (r.handler)(ctx).await?;
            return Ok(body.into_contents(uri, r.info.mime_type.as_deref()));
        }
        for t in &self.templates {
            if let Some(params) = t.template.matches(uri) {
                let body = (t.handler)(params, ctx).await?;
                return Ok(body.into_contents(uri, t.info.mime_type.as_deref()));
            }
        }
        Err(Error::ResourceNotFound(uri.to_string()))
    }

    /// What serves `uri`: the static resource's URI, or the matching template's `uriTemplate`
    /// (the name visibility rules use).
    pub fn resource_key(&self, uri: &str) -> Option<&str> {
        if let Some(&i) = self.resource_index.get(uri) {
            return Some(self.resources[i].info.uri.as_str());
        }
        self.templates
            .iter()
            .find(|t| t.template.matches(uri).is_some())
            .map(|t| t.info.uri_template.as_str())
    }

    /// Whether `uri` names a static resource or matches a template.
    pub fn has_resource(&self, uri: &str) -> bool {
        self.resource_index.contains_key(uri)
            || self
                .templates
                .iter()
                .any(|t| t.template.matches(uri).is_some())
    }

    /// The completer for a prompt argument (`ref/prompt`) or template variable (`ref/resource`).
    pub(crate) fn completer(
        &self,
        ref_type: &str,
        ref_name: &str,
        arg: &str,
    ) -> Result<Option<Completer>> {
        match ref_type {
            "ref/prompt" => {
                let p = self
                    .prompt(ref_name)
                    .ok_or_else(|| Error::unknown(crate::error::ItemKind::Prompt, ref_name))?;
                Ok(p.completers.get(arg).cloned())
            }
            "ref/resource" => {
                if let Some(t) = self
                    .templates
                    .iter()
                    .find(|t| t.info.uri_template == ref_name)
                {
                    return Ok(t.completers.get(arg).cloned());
                }
                if self.resource_index.contains_key(ref_name) {
                    return Ok(None);
                }
                Err(Error::unknown(
                    crate::error::ItemKind::ResourceTemplate,
                    ref_name,
                ))
            }
            other => Err(Error::invalid_params(format!(
                "unknown completion ref type: {other}"
            ))),
        }
    }
}
