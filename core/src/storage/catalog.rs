//! The stored catalog: items defined as data, per entity or global, shared by every instance.

use async_trait::async_trait;

use super::error::StoreResult;
use crate::catalog::{CatalogItem, CatalogKind, CatalogScope};

/// How [`CatalogStore::put_catalog_item`] treats an item that already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutMode {
    /// Only create: an item of the same kind and key is a [`Conflict`](super::StoreError::Conflict).
    Create,
    /// Create or replace.
    Upsert,
}

/// One scope's items as of one version.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CatalogSnapshot {
    /// The scope's version when the items were read (0: never written).
    pub version: u64,
    /// The items, in the order they were first created.
    pub items: Vec<CatalogItem>,
}

/// Catalog items as data, shared by every instance.
///
/// Guarantees:
/// - Every write of a scope (a put or a delete that removed something) increases that scope's
///   version, and the store-wide epoch, atomically with the write as seen by
///   [`catalog`](Self::catalog): a snapshot's items are exactly those of its version.
/// - The epoch increases after (or with) the scope's version, so a reader that sees a new
///   epoch and then reads versions sees the new version: instances poll the epoch (one cheap
///   read) and read versions only when it moved.
/// - `put` with [`PutMode::Create`] fails with `Conflict` when the kind and key exist, and with
///   `InvalidValue` when the scope already holds `max_items` items (a replacement does not
///   count); nothing is written then.
/// - Scopes are isolated: nothing read or written under one entity touches another.
/// - Items are stored as given; validation happens before ([`CatalogItem::validate`]).
#[async_trait]
pub trait CatalogStore: Send + Sync + 'static {
    /// Writes `item` into `scope`; returns the scope's new version.
    async fn put_catalog_item(
        &self,
        scope: &CatalogScope,
        item: &CatalogItem,
        mode: PutMode,
        max_items: usize,
    ) -> StoreResult<u64>;

    /// Deletes the item of `kind` keyed `key`; the scope's new version, or `None` when there
    /// was no such item (nothing changes then).
    async fn delete_catalog_item(
        &self,
        scope: &CatalogScope,
        kind: CatalogKind,
        key: &str,
    ) -> StoreResult<Option<u64>>;

    /// Every item of `scope`, with the version they are at.
    async fn catalog(&self, scope: &CatalogScope) -> StoreResult<CatalogSnapshot>;

    /// The versions of `scopes`, in order (0 for a scope never written).
    async fn catalog_versions(&self, scopes: &[CatalogScope]) -> StoreResult<Vec<u64>>;

    /// A number that grows with every write of any scope.
    async fn catalog_epoch(&self) -> StoreResult<u64>;
}
