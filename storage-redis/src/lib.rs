//! # fastmcp-storage-redis
//!
//! Placeholder crate reserving the name and place of the redis backend. It exports nothing yet:
//! selecting a `redis` store URL fails at start-up with a clear error until the backend lands.
