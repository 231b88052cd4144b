//! # fastmcp-storage-postgres
//!
//! Placeholder crate reserving the name and place of the postgres backend. It exports nothing yet:
//! selecting a `postgres` store URL fails at start-up with a clear error until the backend lands.
