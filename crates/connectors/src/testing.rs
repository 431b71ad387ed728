//! Test support (feature `testing`): an in-memory object store that fails on demand, so that
//! storage failures can be driven in fast unit tests of the layers above.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::stream::BoxStream;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

use crate::storage::Storage;

/// How the next operations fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A transient failure (like a connection reset): retried.
    Transient,
    /// Permission denied: not retried.
    Permanent,
}

/// An [`InMemory`] store whose writes (puts and copies) fail while a fault is armed.
#[derive(Debug, Default)]
pub struct FaultyStore {
    inner: InMemory,
    fault: Mutex<Option<(Fault, u32)>>,
    failures: AtomicU32,
}

impl std::fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FaultyStore")
    }
}

impl FaultyStore {
    /// A storage over a new faulty store, and the store to arm.
    pub fn storage() -> (Storage, Arc<FaultyStore>) {
        let store = Arc::new(FaultyStore::default());
        let storage =
            Storage::with_store(Arc::clone(&store) as Arc<dyn ObjectStore>, "memory://test")
                .expect("an in-memory storage");
        (storage, store)
    }

    /// The next `times` writes fail with `fault`.
    pub fn fail(&self, fault: Fault, times: u32) {
        *self.fault.lock().expect("fault") = Some((fault, times));
    }

    /// Writes that failed so far.
    pub fn failures(&self) -> u32 {
        self.failures.load(Ordering::Relaxed)
    }

    fn check(&self, path: &Path) -> Result<()> {
        let mut fault = self.fault.lock().expect("fault");
        let Some((kind, left)) = fault.as_mut() else {
            return Ok(());
        };
        let kind = *kind;
        *left -= 1;
        if *left == 0 {
            *fault = None;
        }
        self.failures.fetch_add(1, Ordering::Relaxed);
        let source = format!("injected {kind:?} fault").into();
        Err(match kind {
            Fault::Transient => object_store::Error::Generic {
                store: "FaultyStore",
                source,
            },
            Fault::Permanent => object_store::Error::PermissionDenied {
                path: path.to_string(),
                source,
            },
        })
    }
}

#[async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.check(location)?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.check(location)?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.check(to)?;
        self.inner.copy_opts(from, to, options).await
    }
}
