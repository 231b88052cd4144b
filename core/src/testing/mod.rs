//! For backend authors: the behavioural suite every storage backend must pass
//! ([`store_test_suite!`](crate::store_test_suite)), and the helpers it runs on.

mod store_suite;

pub use store_suite::*;
