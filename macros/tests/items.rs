//! What the attribute macros generate, observed the way a client sees it (through the
//! in-process client, in both eras): schemas and descriptions, calls, the context wherever it
//! is, prompts, resources, templates, completion, scopes, and `&self` methods.

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering};

use fastmcp_core::{catalog, McpServer, McpServerBuilder, Principal};
use fastmcp_testing::{Era, TestClient};
use serde_json::{json, Value};

const ERAS: [Era; 2] = [Era::Handshake, Era::Modern];

#[catalog]
mod shop {
    use fastmcp_core::protocol::PromptMessage;
    use fastmcp_core::schemars::{self, JsonSchema};
    use fastmcp_core::{
        prompt, resource, resource_template, tool, Context, Error, Result, Structured,
    };
    use serde::{Deserialize, Serialize};

    #[derive(Deserialize, JsonSchema, Clone, Copy)]
    #[serde(rename_all = "lowercase")]
    pub(crate) enum Unit {
        Kg,
        Lb,
    }

    #[derive(Serialize, JsonSchema)]
    pub(crate) struct Price {
        /// Total, in cents.
        pub(crate) cents: u64,
    }

    fn default_quantity() -> u32 {
        1
    }

    /// Price an order line.
    ///
    /// Second paragraph.
    #[tool(read_only, open_world = false, title = "Price")]
    pub(crate) async fn price(
        /// Cents per unit.
        unit_cents: u64,
        /// How many (default 1).
        #[serde(default = "default_quantity")]
        #[schemars(range(min = 1, max = 1000))]
        quantity: u32,
        /// Unit of measure.
        unit: Option<Unit>,
    ) -> Result<Structured<Price>> {
        let factor = match unit {
            Some(Unit::Lb) => 2,
            _ => 1,
        };
        Ok(Structured::new(Price {
            cents: unit_cents * u64::from(quantity) * factor,
        }))
    }

    /// Who is calling (the context first, by value).
    #[tool(name = "who-am-i")]
    pub(crate) async fn whoami(ctx: Context) -> Result<String> {
        Ok(ctx.entity_id().to_string())
    }

    /// Logs, with the context last and borrowed.
    #[tool]
    pub(crate) async fn shout(text: String, ctx: &Context) -> Result<String> {
        ctx.info(format!("shouting {text}")).await?;
        Ok(text.to_uppercase())
    }

    /// Fails as a tool.
    #[tool(destructive, idempotent = false, scopes = ["admin"])]
    pub(crate) async fn wipe(r#type: String) -> Result<String> {
        Err(Error::tool(format!("cannot wipe {type}")))
    }

    /// The shop's README.
    #[resource("shop://readme", mime_type = "text/markdown", title = "Read me")]
    pub(crate) async fn readme(ctx: Context) -> Result<String> {
        Ok(format!("# Shop of {}", ctx.entity_id()))
    }

    /// A constant resource with no context at all.
    #[resource("shop://motd", name = "motd")]
    pub(crate) async fn message_of_the_day() -> Result<&'static str> {
        Ok("open")
    }

    /// One item, by id.
    #[resource_template(
        "shop://items/{id}/{color}",
        mime_type = "application/json",
        complete(color = ["red", "green", "blue"], id = item_ids)
    )]
    pub(crate) async fn item(id: u32, ctx: &Context, color: String) -> Result<String> {
        Ok(serde_json::json!({ "id": id, "color": color, "entity": ctx.entity_id() }).to_string())
    }

    pub(crate) async fn item_ids(typed: String, _ctx: Context) -> Result<Vec<String>> {
        Ok(["10", "11", "20"]
            .into_iter()
            .filter(|v| v.starts_with(&typed))
            .map(String::from)
            .collect())
    }

    /// Ask for a haiku.
    #[prompt(title = "Haiku", complete(season = ["spring", "summer", "autumn", "winter"]))]
    pub(crate) async fn haiku(
        /// What the poem is about.
        topic: String,
        /// The season, if any.
        season: Option<String>,
    ) -> Result<Vec<PromptMessage>> {
        Ok(vec![PromptMessage::user(format!(
            "A haiku about {topic}{}",
            season.map(|s| format!(" in {s}")).unwrap_or_default()
        ))])
    }

    /// Not an MCP item: `#[catalog]` leaves it alone.
    pub(crate) fn helper() -> u32 {
        7
    }
}

struct Counter {
    hits: AtomicU64,
    label: &'static str,
}

#[catalog]
impl Counter {
    /// Counts calls on the shared instance.
    #[tool]
    async fn hit(&self, by: Option<u64>) -> fastmcp_core::Result<String> {
        let n = self.hits.fetch_add(by.unwrap_or(1), Ordering::SeqCst) + by.unwrap_or(1);
        Ok(format!("{} {n}", self.label))
    }

    /// An associated fn (no `self`) in the same block.
    #[tool(read_only)]
    async fn label_of(ctx: fastmcp_core::Context, suffix: String) -> fastmcp_core::Result<String> {
        Ok(format!("{}-{suffix}", ctx.entity_id()))
    }

    /// A method as a resource.
    #[resource("counter://now")]
    async fn now(&self) -> fastmcp_core::Result<String> {
        Ok(self.hits.load(Ordering::SeqCst).to_string())
    }

    fn untouched(&self) -> &'static str {
        self.label
    }
}

fn server() -> McpServerBuilder {
    McpServer::builder("macros", "1")
        .with(shop::register)
        .with(|r| {
            Counter {
                hits: AtomicU64::new(0),
                label: "hits",
            }
            .register(r)
        })
}

async fn client(era: Era) -> TestClient {
    TestClient::builder(server())
        .era(era)
        .entity("acme")
        .log_level("info")
        .connect()
        .await
        .unwrap()
}

fn find<'a>(items: &'a [Value], key: &str, name: &str) -> &'a Value {
    items
        .iter()
        .find(|t| t[key] == name)
        .unwrap_or_else(|| panic!("no {name} in {items:?}"))
}

#[tokio::test]
async fn a_tool_listing_comes_from_the_signature_and_docs() {
    let c = client(Era::Handshake).await;
    let tools = c.list_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(
        names,
        ["price", "who-am-i", "shout", "wipe", "hit", "label_of"],
        "every item, in declaration order, named by fn or by `name`"
    );
    let price = find(&tools, "name", "price");
    assert_eq!(
        price["description"],
        "Price an order line.\n\nSecond paragraph."
    );
    assert_eq!(price["title"], "Price");
    assert_eq!(price["annotations"]["readOnlyHint"], true);
    assert_eq!(price["annotations"]["openWorldHint"], false);
    assert!(price["annotations"].get("destructiveHint").is_none());
    let schema = &price["inputSchema"];
    assert_eq!(schema["type"], "object");
    assert_eq!(
        schema["properties"]["unit_cents"]["description"],
        "Cents per unit."
    );
    assert_eq!(schema["properties"]["quantity"]["minimum"], 1);
    assert_eq!(schema["properties"]["quantity"]["maximum"], 1000);
    assert_eq!(schema["properties"]["quantity"]["default"], 1);
    assert_eq!(
        schema["required"],
        json!(["unit_cents"]),
        "defaulted and Option parameters are optional"
    );
    assert!(schema["properties"].get("ctx").is_none());
    assert_eq!(
        price["outputSchema"]["properties"]["cents"]["type"],
        "integer"
    );

    let wipe = find(&tools, "name", "wipe");
    assert_eq!(wipe["annotations"]["destructiveHint"], true);
    assert_eq!(wipe["annotations"]["idempotentHint"], false);
    assert!(
        wipe["inputSchema"]["properties"].get("type").is_some(),
        "a raw identifier is named without `r#`"
    );
    let whoami = find(&tools, "name", "who-am-i");
    assert_eq!(whoami["inputSchema"]["properties"], json!({}));
}

#[tokio::test]
async fn tools_run_with_their_arguments_and_context_in_both_eras() {
    for era in ERAS {
        let c = client(era).await;
        let r = c
            .call_tool(
                "price",
                json!({"unit_cents": 250, "quantity": 3, "unit": "lb"}),
            )
            .await
            .unwrap();
        assert_eq!(r.structured().unwrap()["cents"], 1500, "{era:?}");
        let r = c
            .call_tool("price", json!({"unit_cents": 250}))
            .await
            .unwrap();
        assert_eq!(
            r.structured().unwrap()["cents"],
            250,
            "serde default, {era:?}"
        );

        let err = c
            .call_tool("price", json!({"unit_cents": "lots"}))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(-32602), "{era:?}");
        assert!(err.to_string().contains("unit_cents"), "{err}");
        let err = c.call_tool("price", json!({})).await.unwrap_err();
        assert!(err.to_string().contains("unit_cents"), "missing: {err}");

        let r = c.call_tool("who-am-i", json!({})).await.unwrap();
        assert_eq!(r.text(), "acme");

        let r = c.call_tool("shout", json!({"text": "hi"})).await.unwrap();
        assert_eq!(r.text(), "HI");
        let logs = c.logs();
        assert!(
            logs.iter().any(|l| l == "shouting hi"),
            "a borrowed context logs: {logs:?}, {era:?}"
        );
    }
}

#[tokio::test]
async fn tool_errors_and_scopes_work_as_with_the_builder() {
    let admin = Principal {
        subject: "root".into(),
        scopes: ["admin".to_string()].into(),
        ..Principal::anonymous()
    };
    for era in ERAS {
        let c = TestClient::builder(server())
            .era(era)
            .principal(admin.clone())
            .connect()
            .await
            .unwrap();
        let r = c.call_tool("wipe", json!({"type": "disk"})).await.unwrap();
        assert!(r.is_error());
        assert_eq!(r.text(), "cannot wipe disk");

        let guest = TestClient::builder(server())
            .era(era)
            .principal(Principal {
                subject: "guest".into(),
                ..Principal::anonymous()
            })
            .connect()
            .await
            .unwrap();
        assert!(
            guest
                .call_tool("wipe", json!({"type": "disk"}))
                .await
                .is_err(),
            "scopes = [\"admin\"] is enforced, {era:?}"
        );
    }
}

#[tokio::test]
async fn methods_share_one_instance() {
    let c = client(Era::Handshake).await;
    assert_eq!(
        c.call_tool("hit", json!({})).await.unwrap().text(),
        "hits 1"
    );
    assert_eq!(
        c.call_tool("hit", json!({"by": 5})).await.unwrap().text(),
        "hits 6"
    );
    let now = c.read_resource("counter://now").await.unwrap();
    assert_eq!(now[0]["text"], "6");
    let r = c
        .call_tool("label_of", json!({"suffix": "x"}))
        .await
        .unwrap();
    assert_eq!(r.text(), "acme-x");
    let counter = Counter {
        hits: AtomicU64::new(0),
        label: "plain",
    };
    assert_eq!(
        counter.untouched(),
        "plain",
        "unmarked methods stay as written"
    );
    assert_eq!(shop::helper(), 7);
}

#[tokio::test]
async fn resources_and_templates_read_in_both_eras() {
    for era in ERAS {
        let c = client(era).await;
        let listed = c.list_resources().await.unwrap();
        let readme = find(&listed, "uri", "shop://readme");
        assert_eq!(readme["name"], "readme");
        assert_eq!(readme["title"], "Read me");
        assert_eq!(readme["mimeType"], "text/markdown");
        assert_eq!(readme["description"], "The shop's README.");
        assert_eq!(find(&listed, "uri", "shop://motd")["name"], "motd");

        let body = c.read_resource("shop://readme").await.unwrap();
        assert_eq!(body[0]["text"], "# Shop of acme", "{era:?}");
        assert_eq!(body[0]["mimeType"], "text/markdown");
        assert_eq!(
            c.read_resource("shop://motd").await.unwrap()[0]["text"],
            "open"
        );

        let templates = c.list_resource_templates().await.unwrap();
        let item = find(&templates, "uriTemplate", "shop://items/{id}/{color}");
        assert_eq!(item["name"], "item");
        assert_eq!(item["mimeType"], "application/json");

        let body = c.read_resource("shop://items/42/red").await.unwrap();
        let v: Value = serde_json::from_str(body[0]["text"].as_str().unwrap()).unwrap();
        assert_eq!(
            v,
            json!({"id": 42, "color": "red", "entity": "acme"}),
            "{era:?}"
        );

        let err = c.read_resource("shop://items/forty/red").await.unwrap_err();
        assert_eq!(
            err.code(),
            Some(-32602),
            "a variable that does not parse, {era:?}"
        );
        assert!(err.to_string().contains("`id`"), "{err}");
    }
}

#[tokio::test]
async fn prompts_render_and_everything_completes() {
    for era in ERAS {
        let c = client(era).await;
        let prompts = c.list_prompts().await.unwrap();
        let haiku = find(&prompts, "name", "haiku");
        assert_eq!(haiku["title"], "Haiku");
        assert_eq!(haiku["description"], "Ask for a haiku.");
        let args = haiku["arguments"].as_array().unwrap();
        let topic = find(args, "name", "topic");
        assert_eq!(topic["required"], true);
        assert_eq!(topic["description"], "What the poem is about.");
        assert_eq!(find(args, "name", "season")["required"], false);

        let r = c
            .get_prompt("haiku", json!({"topic": "rain", "season": "autumn"}))
            .await
            .unwrap();
        assert_eq!(
            r["messages"][0]["content"]["text"],
            "A haiku about rain in autumn"
        );
        let err = c.get_prompt("haiku", json!({})).await.unwrap_err();
        assert_eq!(err.code(), Some(-32602), "{era:?}");
        assert!(err.to_string().contains("topic"), "{err}");

        let prompt_ref = json!({"type": "ref/prompt", "name": "haiku"});
        assert_eq!(
            c.complete(prompt_ref, "season", "s").await.unwrap(),
            ["spring", "summer"]
        );
        let template_ref = json!({"type": "ref/resource", "uri": "shop://items/{id}/{color}"});
        assert_eq!(
            c.complete(template_ref.clone(), "color", "g")
                .await
                .unwrap(),
            ["green"]
        );
        assert_eq!(
            c.complete(template_ref, "id", "1").await.unwrap(),
            ["10", "11"],
            "an async completer fn, {era:?}"
        );
    }
}

#[tokio::test]
async fn the_functions_stay_callable() {
    use fastmcp_core::registry::RegistryBuilder;
    let out = shop::price(100, 2, None).await.unwrap();
    let result = fastmcp_core::registry::ToolOutput::into_call_result(out).unwrap();
    assert_eq!(result.structured_content.unwrap()["cents"], 200);
    // The companions are ordinary values too.
    let mut r = RegistryBuilder::new();
    r.tool(shop::price_tool()).prompt(shop::haiku_prompt());
    let registry = r.build();
    assert_eq!(registry.tools()[0].info().name, "price");
    assert_eq!(shop::readme_resource().info().uri, "shop://readme");
    assert_eq!(
        shop::item_template().info().uri_template,
        "shop://items/{id}/{color}"
    );
}
