//! [`BlobSource`]: where a stage shard reads its upstream outputs from — the store itself
//! on the machine that holds it, or an [`ObjectDir`](crate::ObjectDir) of copied objects on
//! a cluster node that must not open the store.

use polars::prelude::DataFrame;

use crate::digest::Digest;
use crate::error::StoreError;
use crate::store::Store;
use crate::table::TableRef;

/// Read access to blobs and tables by digest: everything a shard needs from upstream.
///
/// Every implementation verifies what it returns against the digest it was asked for.
pub trait BlobSource: Send + Sync {
    /// The blob with `digest` ([`StoreError::MissingBlob`] or [`StoreError::CorruptBlob`]
    /// when it is absent or damaged).
    fn get_blob(&self, digest: &Digest) -> Result<Vec<u8>, StoreError>;

    /// The table `table` refers to, after checking its digest.
    fn read_table(&self, table: &TableRef) -> Result<DataFrame, StoreError>;
}

impl BlobSource for Store {
    fn get_blob(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        Store::get_blob(self, digest)
    }

    fn read_table(&self, table: &TableRef) -> Result<DataFrame, StoreError> {
        Store::read_table(self, table)
    }
}
