//! The edge between HTTP and the engine: origin checks, request bodies, tenant routing and
//! admission.

// A refusal is a whole `poem::Response`, built once and returned at once; boxing it would only
// add an allocation to the refusal path (the same choice as in `transport`).
#![allow(clippy::result_large_err)]

mod admission;
pub(crate) mod body;
mod origin;

pub(crate) use admission::{
    admit, close_session, load_session, open_session, tenant, tenant_over_rate, NoSession,
    SessionCap,
};
