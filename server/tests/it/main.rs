//! One integration-test binary (one link step on a 2-core machine), a module per area.

#![allow(clippy::unwrap_used, missing_docs, unreachable_pub)]

mod admin;
mod auth;
mod catalog;
mod demo;
mod dispatcher;
#[cfg(feature = "federation")]
mod federation;
mod http;
#[cfg(feature = "http-tools")]
mod http_tools;
#[cfg(feature = "http-tools")]
mod openapi_import;
