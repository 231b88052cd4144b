//! The edge between HTTP and the engine: origin checks, tenant routing and admission.

mod admission;
mod origin;

pub(crate) use admission::{admit, load_session, tenant, tenant_over_rate};
