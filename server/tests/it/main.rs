//! One integration-test binary (one link step on a 2-core machine), a module per area.

mod dispatcher;
mod http;
