//! Resources: static URIs and RFC 6570 (level 1) URI templates.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::context::Context;
use crate::error::Result;
use crate::protocol::{ResourceContents, ResourceInfo, ResourceTemplateInfo};
use crate::registry::Completer;

/// What a resource handler returns.
#[derive(Debug, Clone)]
pub enum ResourceBody {
    /// Text, served with the resource's MIME type.
    Text(String),
    /// Base64-encoded bytes, served with the resource's MIME type.
    Blob(String),
    /// Full control over one or more content items.
    Contents(Vec<ResourceContents>),
}

impl From<String> for ResourceBody {
    fn from(s: String) -> Self {
        ResourceBody::Text(s)
    }
}

impl From<&'static str> for ResourceBody {
    fn from(s: &'static str) -> Self {
        ResourceBody::Text(s.to_string())
    }
}

impl From<ResourceContents> for ResourceBody {
    fn from(c: ResourceContents) -> Self {
        ResourceBody::Contents(vec![c])
    }
}

impl ResourceBody {
    pub(crate) fn into_contents(self, uri: &str, mime: Option<&str>) -> Vec<ResourceContents> {
        let mime_type = mime.map(str::to_string);
        match self {
            ResourceBody::Text(text) => vec![ResourceContents {
                uri: uri.to_string(),
                mime_type,
                text: Some(text),
                blob: None,
            }],
            ResourceBody::Blob(blob) => vec![ResourceContents {
                uri: uri.to_string(),
                mime_type,
                text: None,
                blob: Some(blob),
            }],
            ResourceBody::Contents(c) => c,
        }
    }
}

type StaticHandler = Arc<dyn Fn(Context) -> BoxFuture<'static, Result<ResourceBody>> + Send + Sync>;
type TemplateHandler =
    Arc<dyn Fn(TemplateParams, Context) -> BoxFuture<'static, Result<ResourceBody>> + Send + Sync>;

/// Variables extracted from a URI by a template, by name.
pub type TemplateParams = HashMap<String, String>;

/// A resource with a fixed URI.
#[derive(Clone)]
pub struct Resource {
    pub(crate) info: ResourceInfo,
    pub(crate) handler: StaticHandler,
}

impl Resource {
    /// Defines a resource; finish with [`handler`](Self::handler).
    pub fn new(uri: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            info: ResourceInfo {
                uri: uri.into(),
                name: name.into(),
                title: None,
                description: None,
                mime_type: None,
            },
            handler: Arc::new(|_| Box::pin(async { Ok(ResourceBody::Text(String::new())) })),
        }
    }

    /// What it is.
    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.info.description = Some(d.into());
        self
    }

    /// Display title.
    pub fn title(mut self, t: impl Into<String>) -> Self {
        self.info.title = Some(t.into());
        self
    }

    /// MIME type.
    pub fn mime_type(mut self, m: impl Into<String>) -> Self {
        self.info.mime_type = Some(m.into());
        self
    }

    /// The async function that produces the contents.
    pub fn handler<B, F, Fut>(mut self, f: F) -> Self
    where
        B: Into<ResourceBody>,
        F: Fn(Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<B>> + Send + 'static,
    {
        let f = Arc::new(f);
        self.handler = Arc::new(move |ctx| {
            let fut = f(ctx);
            Box::pin(async move { fut.await.map(Into::into) })
        });
        self
    }

    /// The listing.
    pub fn info(&self) -> &ResourceInfo {
        &self.info
    }
}

/// A family of resources addressed by a URI template such as `demo://profile/{name}`.
#[derive(Clone)]
pub struct ResourceTemplate {
    pub(crate) info: ResourceTemplateInfo,
    pub(crate) template: UriTemplate,
    pub(crate) handler: TemplateHandler,
    pub(crate) completers: HashMap<String, Completer>,
}

impl ResourceTemplate {
    /// Defines a template; finish with [`handler`](Self::handler).
    pub fn new(uri_template: impl Into<String>, name: impl Into<String>) -> Self {
        let uri_template = uri_template.into();
        Self {
            template: UriTemplate::parse(&uri_template),
            info: ResourceTemplateInfo {
                uri_template,
                name: name.into(),
                title: None,
                description: None,
                mime_type: None,
            },
            handler: Arc::new(|_, _| Box::pin(async { Ok(ResourceBody::Text(String::new())) })),
            completers: HashMap::new(),
        }
    }

    /// What it is.
    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.info.description = Some(d.into());
        self
    }

    /// Display title.
    pub fn title(mut self, t: impl Into<String>) -> Self {
        self.info.title = Some(t.into());
        self
    }

    /// MIME type.
    pub fn mime_type(mut self, m: impl Into<String>) -> Self {
        self.info.mime_type = Some(m.into());
        self
    }

    /// Completion for one template variable (`completion/complete` with `ref/resource`).
    pub fn complete(mut self, variable: impl Into<String>, completer: Completer) -> Self {
        self.completers.insert(variable.into(), completer);
        self
    }

    /// The async function that produces the contents from the URI's variables.
    pub fn handler<B, F, Fut>(mut self, f: F) -> Self
    where
        B: Into<ResourceBody>,
        F: Fn(TemplateParams, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<B>> + Send + 'static,
    {
        let f = Arc::new(f);
        self.handler = Arc::new(move |params, ctx| {
            let fut = f(params, ctx);
            Box::pin(async move { fut.await.map(Into::into) })
        });
        self
    }

    /// The listing.
    pub fn info(&self) -> &ResourceTemplateInfo {
        &self.info
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(String),
    Var(String),
}

/// A parsed URI template with simple `{var}` expressions (RFC 6570 level 1). A variable matches
/// one or more characters other than `/`, up to the next literal.
#[derive(Debug, Clone, PartialEq)]
pub struct UriTemplate {
    parts: Vec<Part>,
}

impl UriTemplate {
    /// Parses `template`; an unclosed `{` is taken literally.
    pub fn parse(template: &str) -> Self {
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}') else {
                break;
            };
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_string()));
            }
            parts.push(Part::Var(rest[open + 1..open + close].to_string()));
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        Self { parts }
    }

    /// The variables' values if `uri` matches.
    pub fn matches(&self, uri: &str) -> Option<TemplateParams> {
        let mut params = TemplateParams::new();
        let mut rest = uri;
        let mut i = 0;
        while i < self.parts.len() {
            match &self.parts[i] {
                Part::Literal(lit) => rest = rest.strip_prefix(lit.as_str())?,
                Part::Var(name) => {
                    let end = match self.parts.get(i + 1) {
                        Some(Part::Literal(next)) => rest.find(next.as_str())?,
                        Some(Part::Var(_)) => return None,
                        None => rest.len(),
                    };
                    let value = &rest[..end];
                    if value.is_empty() || value.contains('/') {
                        return None;
                    }
                    params.insert(name.clone(), value.to_string());
                    rest = &rest[end..];
                }
            }
            i += 1;
        }
        rest.is_empty().then_some(params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_and_extract() {
        let t = UriTemplate::parse("test://template/{id}/data");
        assert_eq!(t.matches("test://template/123/data").unwrap()["id"], "123");
        assert!(t.matches("test://template//data").is_none());
        assert!(t.matches("test://template/1/2/data").is_none());
        assert!(t.matches("test://template/123/datax").is_none());
        let t = UriTemplate::parse("demo://profile/{name}");
        assert_eq!(t.matches("demo://profile/alice").unwrap()["name"], "alice");
        assert!(t.matches("demo://profile/").is_none());
        assert!(t.matches("demo://other/alice").is_none());
    }
}
