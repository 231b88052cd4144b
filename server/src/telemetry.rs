//! OpenTelemetry (feature `otel`): the spans of MCP requests, exported over OTLP/HTTP when the
//! standard variables name an endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`; `OTEL_EXPORTER_OTLP_PROTOCOL` picks `http/protobuf`,
//! the default, or `http/json`; `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_BSP_*`
//! as usual; `OTEL_SDK_DISABLED=true` turns it off). With none set nothing is exported, and the
//! spans cost one cached check each.
//!
//! Spans, all on the `tracing` target [`SPAN_TARGET`], which the log lines never show:
//! - `mcp.http`: one HTTP request to `/{entity}/mcp`, child of the caller's trace: W3C
//!   `traceparent`/`tracestate` from the request's `params._meta` (the MCP convention), else
//!   from the HTTP headers;
//! - `mcp.request` (named `{method} {tool or URI}`): the request in the engine, with its method,
//!   tool or URI, entity, session, era and outcome;
//! - `store.{operation}`: each session and event-stream store call under them.

pub use fastmcp_core::storage::traced::SPAN_TARGET;
use serde_json::Value;

/// The span of one HTTP request to an MCP endpoint, in the caller's trace when it sent one.
pub(crate) fn edge_span(headers: &poem::http::HeaderMap, body: &Value) -> tracing::Span {
    if !tracing::enabled!(target: SPAN_TARGET, tracing::Level::INFO) {
        return tracing::Span::none();
    }
    let span = tracing::info_span!(
        target: SPAN_TARGET,
        "mcp.http",
        otel.kind = "server",
        http.request.method = "POST",
    );
    #[cfg(feature = "otel")]
    otel::adopt_remote_parent(&span, headers, body);
    #[cfg(not(feature = "otel"))]
    let _ = (headers, body);
    span
}

#[cfg(feature = "otel")]
pub(crate) use otel::{layer, shutdown};

#[cfg(feature = "otel")]
mod otel {
    use std::collections::HashMap;
    use std::sync::OnceLock;

    use opentelemetry::propagation::TextMapPropagator;
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use opentelemetry_sdk::Resource;
    use serde_json::Value;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::registry::LookupSpan;
    use tracing_subscriber::Layer;

    use super::SPAN_TARGET;

    static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

    fn configured() -> bool {
        let set = |k: &str| std::env::var(k).is_ok_and(|v| !v.trim().is_empty());
        let disabled =
            std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
        !disabled
            && (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
    }

    /// The layer exporting this process's spans, when an OTLP endpoint is configured. An
    /// exporter that cannot be built is reported on stderr and tracing goes on without it.
    pub(crate) fn layer<S>() -> Option<impl Layer<S>>
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    {
        if !configured() {
            return None;
        }
        let exporter = match opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()
        {
            Ok(e) => e,
            Err(e) => {
                eprintln!("OpenTelemetry: cannot build the OTLP exporter: {e}");
                return None;
            }
        };
        let mut resource = Resource::builder();
        if std::env::var("OTEL_SERVICE_NAME").is_err() {
            resource = resource.with_service_name("fastmcp-mt");
        }
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource.build())
            .build();
        let tracer = provider.tracer("fastmcp-mt");
        let _ = PROVIDER.set(provider);
        Some(
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_filter(Targets::new().with_target(SPAN_TARGET, tracing::Level::TRACE)),
        )
    }

    /// Exports what is still buffered (at exit).
    pub(crate) fn shutdown() {
        if let Some(p) = PROVIDER.get() {
            if let Err(e) = p.shutdown() {
                eprintln!("OpenTelemetry: {e}");
            }
        }
    }

    /// Makes `span` a child of the caller's span: `params._meta.traceparent` (with
    /// `tracestate`) when the request carries one, else the HTTP headers.
    pub(super) fn adopt_remote_parent(
        span: &tracing::Span,
        headers: &poem::http::HeaderMap,
        body: &Value,
    ) {
        let meta = body
            .get("params")
            .and_then(|p| p.get("_meta"))
            .and_then(Value::as_object);
        let mut carrier: HashMap<String, String> = HashMap::new();
        for key in ["traceparent", "tracestate"] {
            let from_meta = meta.and_then(|m| m.get(key)).and_then(Value::as_str);
            let from_header = headers.get(key).and_then(|v| v.to_str().ok());
            if let Some(v) = from_meta.or(from_header) {
                carrier.insert(key.to_string(), v.to_string());
            }
        }
        if carrier.contains_key("traceparent") {
            let cx = TraceContextPropagator::new().extract(&carrier);
            let _ = span.set_parent(cx);
        }
    }
}
