//! Storage for output files, through `object_store`: a local folder (`file:///…` or a plain
//! path), HDFS (`hdfs://namenode:port/…`, pure Rust `hdfs-native`) or S3 (`s3://bucket/prefix`,
//! credentials and endpoint from the standard `AWS_*` environment variables).
//!
//! [`Storage::publish`] makes a file visible only once it is complete: on a local disk it is
//! written under `_temporary/` and renamed into place; HDFS writes a hidden `.name.tmp` file and
//! renames it; an S3 PUT is atomic. Readers (Spark, pyarrow, DuckDB) skip `_`- and `.`-prefixed
//! names.
//!
//! Failures are classified: transient ones (timeouts, connection resets, 5xx, throttling) are
//! retried with exponential backoff and jitter until they succeed, each one counted and
//! logged; permanent ones (authentication, permission, a missing bucket or folder) are errors
//! at once, naming the storage URL and the cause. [`Storage::open_for_writing`] probes the
//! storage at start-up, so a wrong URL or bad credentials fail within seconds. S3 requests are
//! retried here only (object_store's own retries are off), so never twice over.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

/// First and largest pause between two attempts of a failed storage operation.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(200), Duration::from_secs(30));
/// The pauses between the attempts of one operation: doubling from [`BACKOFF`]'s first to its
/// largest, each with ±25% jitter, so that writers retrying together spread out.
struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff(BACKOFF.0)
    }
}

impl Backoff {
    fn next_pause(&mut self) -> Duration {
        let pause = self.0.mul_f64(0.75 + fastrand::f64() / 2.0);
        self.0 = (self.0 * 2).min(BACKOFF.1);
        pause
    }
}

/// How long the start-up probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// A storage failure that retrying cannot fix.
#[derive(Debug, thiserror::Error)]
#[error("storage {url} failed: {cause}")]
pub struct PermanentStorageError {
    pub url: String,
    pub cause: String,
}

/// Words in an error's text that say retrying cannot help: access refused, a missing bucket, a
/// host name that does not resolve.
const PERMANENT_WORDS: [&str; 6] = [
    "AccessControlException",
    "Permission denied",
    "NoSuchBucket",
    "failed to lookup address",
    "Name or service not known",
    "dns error",
];

/// Whether retrying `error` is pointless: authentication, permission, a missing bucket, an
/// unknown host, an unsupported operation or a bad path. A server that does not answer (down,
/// restarting) is not permanent: it may come back.
pub fn is_permanent(error: &object_store::Error) -> bool {
    use object_store::Error;
    match error {
        Error::PermissionDenied { .. }
        | Error::Unauthenticated { .. }
        | Error::InvalidPath { .. }
        | Error::NotSupported { .. }
        | Error::NotImplemented { .. }
        | Error::UnknownConfigurationKey { .. } => true,
        Error::Generic { source, .. } | Error::NotFound { source, .. } => {
            let text = format!("{source:?} {source}");
            PERMANENT_WORDS.iter().any(|word| text.contains(word))
        }
        _ => false,
    }
}

/// A namenode given as `host:port` must resolve (the HDFS client would retry an unknown host
/// for minutes); a name without a port is an HA nameservice, resolved from the Hadoop settings.
fn check_namenode_resolves(url: &str, authority: &str) -> anyhow::Result<()> {
    use std::net::ToSocketAddrs;
    if !authority.contains(':') {
        return Ok(());
    }
    match authority.to_socket_addrs() {
        Ok(_) => Ok(()),
        Err(error) => Err(PermanentStorageError {
            url: url.to_string(),
            cause: format!("the namenode {authority} does not resolve: {error}"),
        }
        .into()),
    }
}

/// An HDFS client for the namenode at `url` whose connections live on one runtime for the whole
/// process, whose threads always run: hdfs-native keeps DataNode connections in a cache shared
/// by every client of the process, and a connection opened on a runtime nobody drives (another
/// storage's, between two of its calls) would hang whoever reuses it.
pub fn hdfs_store(url: &str) -> anyhow::Result<hdfs_native_object_store::HdfsObjectStore> {
    let io = deltalake_core::logstore::IORuntime::default().get_handle();
    let _inside = io.enter();
    hdfs_native_object_store::HdfsObjectStoreBuilder::new()
        .with_url(url)
        .with_io_runtime(io.clone())
        .build()
        .with_context(|| format!("cannot connect to HDFS at {url}"))
}

/// The folder of a local storage URL (`file:///dir` or a plain path); `None` for another
/// scheme.
fn local_dir(url: &str) -> Option<&str> {
    let dir = url.strip_prefix("file://").unwrap_or(url);
    (!dir.is_empty() && (!url.contains("://") || url.starts_with("file://"))).then_some(dir)
}

/// The single-threaded runtime a storage runs its requests on.
fn storage_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the storage runtime")
}

/// Storage failures seen so far, for progress reports and metrics.
#[derive(Debug, Clone, Default)]
pub struct StorageHealth {
    pub retries: u64,
    pub last_error: Option<String>,
}

/// What [`Storage::create`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// The file was not there: it is now, with the given contents.
    New,
    /// A file was there already, with these contents; it was left as it was.
    Existing(Vec<u8>),
}

/// Where a storage's store starts.
#[derive(Debug, Clone)]
enum Origin {
    /// A local folder: the store is prefixed with it.
    Local(std::path::PathBuf),
    /// A remote store whose root is this URL.
    Remote(String),
}

/// Where output files go.
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    /// Prefix of every path inside the store.
    base: ObjectPath,
    /// The store's root as a URL without path (`hdfs://host:port`, `s3://bucket`), or the
    /// local folder (absolute), for the Delta tables' log store.
    origin: Origin,
    url: String,
    local: bool,
    runtime: tokio::runtime::Runtime,
    health: std::sync::Mutex<StorageHealth>,
    /// How long a read, look-up or listing may take before it fails (`None`: as long as the
    /// client keeps trying; an HDFS client retries an absent NameNode for minutes).
    patience: Option<Duration>,
}

impl Storage {
    /// Opens `url`: `file:///abs/dir`, a plain path, `hdfs://host:port/dir` or `s3://bucket/dir`.
    pub fn open(url: &str) -> anyhow::Result<Storage> {
        let runtime = storage_runtime()?;
        let (store, base, origin): (Arc<dyn ObjectStore>, String, Origin) = if let Some(rest) =
            url.strip_prefix("hdfs://")
        {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            check_namenode_resolves(url, authority)?;
            let store = hdfs_store(&format!("hdfs://{authority}"))?;
            let origin = Origin::Remote(format!("hdfs://{authority}"));
            (Arc::new(store), path.to_string(), origin)
        } else if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, path) = rest.split_once('/').unwrap_or((rest, ""));
            // retried by [`Storage::retry`] only: one mechanism, every failure counted
            let no_retries = object_store::RetryConfig {
                max_retries: 0,
                ..Default::default()
            };
            let store = object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_retry(no_retries)
                .build()
                .with_context(|| {
                    format!("cannot configure S3 bucket {bucket} (AWS_* environment variables)")
                })?;
            let origin = Origin::Remote(format!("s3://{bucket}"));
            (Arc::new(store), path.to_string(), origin)
        } else {
            let Some(dir) = local_dir(url) else {
                bail!("unsupported storage URL {url:?}: use file:///dir, hdfs://host:port/dir or s3://bucket/dir");
            };
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the output folder {dir}"))?;
            let store = LocalFileSystem::new_with_prefix(dir)
                .with_context(|| format!("cannot open folder {dir}"))?;
            let absolute =
                std::fs::canonicalize(dir).with_context(|| format!("cannot open folder {dir}"))?;
            (Arc::new(store), String::new(), Origin::Local(absolute))
        };
        Ok(Storage::assemble(store, &base, url, origin, runtime))
    }

    /// Opens `url` to read what is there: as [`Storage::open`], but a local folder that does
    /// not exist is an error rather than created (a mistyped path leaves nothing behind).
    pub fn open_existing(url: &str) -> anyhow::Result<Storage> {
        if let Some(dir) = local_dir(url) {
            anyhow::ensure!(std::path::Path::new(dir).is_dir(), "no folder {dir}");
        }
        Storage::open(url)
    }

    /// A storage over any object store, e.g. an in-memory one in tests.
    pub fn with_store(store: Arc<dyn ObjectStore>, url: &str) -> anyhow::Result<Storage> {
        let runtime = storage_runtime()?;
        let origin = Origin::Remote(url.trim_end_matches('/').to_string());
        Ok(Storage::assemble(store, "", url, origin, runtime))
    }

    fn assemble(
        store: Arc<dyn ObjectStore>,
        base: &str,
        url: &str,
        origin: Origin,
        runtime: tokio::runtime::Runtime,
    ) -> Storage {
        // the URL is for messages: never with a password
        ratings_core::secrets::register_url(url);
        Storage {
            store,
            base: ObjectPath::from(base.trim_matches('/')),
            url: ratings_core::secrets::without_user_info(url).into_owned(),
            local: matches!(origin, Origin::Local(_)),
            origin,
            runtime,
            health: Default::default(),
            patience: None,
        }
    }

    /// The same storage, whose reads, look-ups and listings fail after `patience` without an
    /// answer (for tools that must answer promptly, such as `verify`).
    pub fn with_patience(mut self, patience: Duration) -> Storage {
        self.patience = Some(patience);
        self
    }

    /// Runs `operation` on the storage's runtime, within the patience if there is one.
    fn wait<T>(
        &self,
        what: &str,
        operation: impl std::future::Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<T> {
        self.runtime.block_on(async {
            match self.patience {
                None => operation.await,
                Some(limit) => tokio::time::timeout(limit, operation)
                    .await
                    .unwrap_or_else(|_| {
                        bail!(
                            "storage {} did not answer within {} s ({what})",
                            self.url,
                            limit.as_secs()
                        )
                    }),
            }
        })
    }

    /// Opens `url` like [`Storage::open`] and checks, once, that a file can be written there
    /// and deleted again: a permanent failure (bad credentials, a missing bucket, an unknown
    /// host) is an error now rather than retried forever later; a storage that does not answer
    /// yet is logged and retried as it is used (it may be restarting).
    pub fn open_for_writing(url: &str) -> anyhow::Result<Storage> {
        let storage = Storage::open(url)?;
        storage.probe()?;
        Ok(storage)
    }

    /// Writes a small file and deletes it again (see [`Storage::open_for_writing`]): for a
    /// storage opened to read first, then written to.
    pub fn probe(&self) -> anyhow::Result<()> {
        let path = self.path(&format!("_probe-{:016x}", fastrand::u64(..)));
        let attempt = async {
            self.store
                .put(&path, PutPayload::from_static(b"probe"))
                .await?;
            self.store.delete(&path).await
        };
        // the timer must be made inside the runtime
        let probing = async { tokio::time::timeout(PROBE_TIMEOUT, attempt).await };
        match self.runtime.block_on(probing) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) if is_permanent(&error) => Err(PermanentStorageError {
                url: self.url.clone(),
                cause: format!("cannot write a file there: {error}"),
            }
            .into()),
            Ok(Err(error)) => {
                self.note_unusable(format!("is not usable yet ({error})"));
                Ok(())
            }
            Err(_) => {
                let within = PROBE_TIMEOUT.as_secs();
                self.note_unusable(format!("did not answer within {within} s"));
                Ok(())
            }
        }
    }

    /// A probe that failed for a cause that may pass: a failed attempt like any other (counted
    /// in the health, so metrics and the summary show the outage), retried as it is used.
    fn note_unusable(&self, what: String) {
        self.count_failure(format!("storage {} {what}", self.url));
        tracing::warn!("storage {} {what}; retrying as it is used", self.url);
    }

    /// A store whose root is the storage's root, and the URL of the folder `relative` in it:
    /// what a Delta table's log store is built from.
    pub fn location_of(&self, relative: &str) -> anyhow::Result<(Arc<dyn ObjectStore>, url::Url)> {
        let relative = relative.trim_matches('/');
        let (store, url): (Arc<dyn ObjectStore>, String) = match &self.origin {
            Origin::Local(dir) => {
                let folder = dir.join(relative);
                let url = url::Url::from_directory_path(&folder).map_err(|()| {
                    anyhow::anyhow!("{} is not an absolute path", folder.display())
                })?;
                return Ok((Arc::new(LocalFileSystem::new()), url));
            }
            Origin::Remote(root) => {
                let path = format!("{}/{relative}", self.base.as_ref());
                let url = format!("{root}/{}/", path.trim_matches('/'));
                (Arc::clone(&self.store), url)
            }
        };
        let url = url::Url::parse(&url).with_context(|| format!("{url} is not a valid URL"))?;
        Ok((store, url))
    }

    /// Runs `operation` on the storage's runtime (the one its clients were started on).
    pub fn block_on<T>(&self, operation: impl std::future::Future<Output = T>) -> T {
        self.runtime.block_on(operation)
    }

    /// The URL this storage was opened with, without user-info (for messages).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Failed attempts so far (every one is retried and reported).
    pub fn health(&self) -> StorageHealth {
        self.health.lock().expect("storage health").clone()
    }

    fn path(&self, relative: &str) -> ObjectPath {
        ObjectPath::from(format!("{}/{}", self.base, relative.trim_matches('/')))
    }

    /// Writes a complete file so that it appears at `relative` atomically (see the module
    /// documentation), retrying until it succeeds.
    pub fn publish(&self, relative: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
        self.runtime
            .block_on(self.publish_retrying(relative, bytes))
    }

    /// Publishes several files at once, each like [`Storage::publish`]: on HDFS every new file
    /// waits ~0.5 s for the NameNode to complete it, a wait the files now share.
    pub fn publish_all(&self, files: Vec<(String, Vec<u8>)>) -> anyhow::Result<()> {
        self.runtime.block_on(self.publishing_all(files))
    }

    async fn publishing_all(&self, files: Vec<(String, Vec<u8>)>) -> anyhow::Result<()> {
        let writes = files
            .into_iter()
            .map(|(relative, bytes)| async move { self.publish_retrying(&relative, bytes).await });
        futures::future::try_join_all(writes).await.map(|_| ())
    }

    async fn publish_retrying(&self, relative: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
        // clients may wait on their own for an unreachable server (hdfs-native does): an
        // attempt that takes longer than this is abandoned, reported and retried
        let limit = Duration::from_secs(10 + (bytes.len() >> 20) as u64);
        let payload = PutPayload::from(bytes);
        let target = self.path(relative);
        self.retry(limit, || async {
            if self.local {
                let staging = self.path(&format!("_temporary/{}", relative.replace('/', "__")));
                self.store.put(&staging, payload.clone()).await?;
                self.store.rename(&staging, &target).await?;
            } else {
                self.store.put(&target, payload.clone()).await?;
            }
            Ok(())
        })
        .await
    }

    /// Creates a file at `relative` only if there is none yet (atomically: of two writers,
    /// exactly one creates it), retrying like [`Storage::publish`]. A file already there is
    /// returned to the caller, who tells its own (an earlier attempt that failed late) from
    /// another writer's by the contents.
    pub fn create(&self, relative: &str, bytes: Vec<u8>) -> anyhow::Result<Created> {
        self.runtime.block_on(self.create_retrying(relative, bytes))
    }

    /// Publishes `files` like [`Storage::publish_all`] and, at the same time, creates `new`
    /// like [`Storage::create`]: one round of writes.
    pub fn publish_all_and_create(
        &self,
        files: Vec<(String, Vec<u8>)>,
        new: (String, Vec<u8>),
    ) -> anyhow::Result<Created> {
        let creating = self.create_retrying(&new.0, new.1);
        let (created, ()) = self.runtime.block_on(futures::future::try_join(
            creating,
            self.publishing_all(files),
        ))?;
        Ok(created)
    }

    async fn create_retrying(&self, relative: &str, bytes: Vec<u8>) -> anyhow::Result<Created> {
        let limit = Duration::from_secs(10 + (bytes.len() >> 20) as u64);
        let payload = PutPayload::from(bytes);
        let target = self.path(relative);
        self.retry(limit, || async {
            let only_new = PutOptions::from(PutMode::Create);
            let Err(error) = self
                .store
                .put_opts(&target, payload.clone(), only_new)
                .await
            else {
                return Ok(Created::New);
            };
            // the file is there (not every store says so in the error: HDFS's rename may not):
            // another writer's, or this one's from an attempt that failed late
            match self.store.get(&target).await {
                Ok(found) => Ok(Created::Existing(found.bytes().await?.to_vec())),
                Err(_) => Err(error),
            }
        })
        .await
    }

    /// Moves a file to `to` (replacing it), retrying like [`Storage::publish`]. Returns
    /// `false`, doing nothing, when `from` does not exist (an earlier attempt moved it).
    pub fn rename(&self, from: &str, to: &str) -> anyhow::Result<bool> {
        let (source, target) = (self.path(from), self.path(to));
        let renaming = self.retry(Duration::from_secs(30), || async {
            let Err(error) = self.store.rename(&source, &target).await else {
                return Ok(true);
            };
            // an earlier attempt may have moved it before failing (timed out); HDFS reports a
            // missing source as a generic error, so ask
            match self.store.head(&source).await {
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                _ => Err(error),
            }
        });
        self.runtime.block_on(renaming)
    }

    /// Whether a file exists.
    pub fn exists(&self, relative: &str) -> anyhow::Result<bool> {
        let path = self.path(relative);
        self.wait(&format!("looking up {relative}"), async {
            match self.store.head(&path).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(error) => {
                    Err(error).with_context(|| format!("cannot look up {relative} in {}", self.url))
                }
            }
        })
    }

    /// A file's size in bytes.
    pub fn size(&self, relative: &str) -> anyhow::Result<u64> {
        let path = self.path(relative);
        self.wait(&format!("looking up {relative}"), async {
            let meta = self
                .store
                .head(&path)
                .await
                .with_context(|| format!("cannot look up {relative} in {}", self.url))?;
            Ok(meta.size)
        })
    }

    /// Deletes every file under `prefix`; returns how many.
    pub fn delete_all(&self, prefix: &str) -> anyhow::Result<usize> {
        let files = self.list(prefix)?;
        for file in &files {
            self.delete(file)?;
        }
        Ok(files.len())
    }

    /// Reads a whole file.
    pub fn read(&self, relative: &str) -> anyhow::Result<Vec<u8>> {
        let path = self.path(relative);
        self.wait(&format!("reading {relative}"), async {
            let result = self
                .store
                .get(&path)
                .await
                .with_context(|| format!("cannot read {relative} from {}", self.url))?;
            Ok(result.bytes().await?.to_vec())
        })
    }

    /// Deletes a file (a missing file is not an error).
    pub fn delete(&self, relative: &str) -> anyhow::Result<()> {
        let path = self.path(relative);
        match self.runtime.block_on(self.store.delete(&path)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => {
                Err(error).with_context(|| format!("cannot delete {relative} in {}", self.url))
            }
        }
    }

    /// Paths (relative to the base) of every file under `prefix`, sorted.
    pub fn list(&self, prefix: &str) -> anyhow::Result<Vec<String>> {
        let path = self.path(prefix);
        let base = self.base.as_ref().to_string();
        self.wait(&format!("listing {prefix}"), async {
            let metas: Vec<_> = self
                .store
                .list(Some(&path))
                .try_collect()
                .await
                .with_context(|| format!("cannot list {prefix} in {}", self.url))?;
            let mut names: Vec<String> = metas
                .into_iter()
                .map(|m| {
                    m.location
                        .as_ref()
                        .trim_start_matches(&base)
                        .trim_start_matches('/')
                        .to_string()
                })
                .collect();
            names.sort();
            Ok(names)
        })
    }

    /// Runs `attempt` until it succeeds, like the storage's own operations (backoff with
    /// jitter, every failure counted and reported): for operations of other clients on this
    /// storage (a Delta commit). An error that `permanent` says retrying cannot fix is returned
    /// at once.
    pub fn retry_blocking<T>(
        &self,
        mut attempt: impl FnMut() -> anyhow::Result<T>,
        permanent: impl Fn(&anyhow::Error) -> bool,
    ) -> anyhow::Result<T> {
        let mut backoff = Backoff::default();
        loop {
            let error = match attempt() {
                Ok(done) => return Ok(done),
                Err(error) if permanent(&error) => return Err(error),
                Err(error) => error.context(format!("storage {} failed", self.url)),
            };
            let pause = backoff.next_pause();
            self.note_retry(&error, pause);
            std::thread::sleep(pause);
        }
    }

    /// Runs `operation` until it succeeds, sleeping with exponential backoff and jitter between
    /// attempts; every failure is counted and reported. A permanent failure is an error at once.
    async fn retry<T, F, Fut>(&self, limit: Duration, mut operation: F) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, object_store::Error>>,
    {
        let mut backoff = Backoff::default();
        loop {
            let error = match tokio::time::timeout(limit, operation()).await {
                Ok(Ok(done)) => return Ok(done),
                Ok(Err(error)) if is_permanent(&error) => {
                    return Err(PermanentStorageError {
                        url: self.url.clone(),
                        cause: error.to_string(),
                    }
                    .into())
                }
                Ok(Err(error)) => anyhow::Error::new(error),
                Err(_) => anyhow::anyhow!("no answer within {limit:?}"),
            };
            let error = error.context(format!("storage {} failed", self.url));
            let pause = backoff.next_pause();
            self.note_retry(&error, pause);
            tokio::time::sleep(pause).await;
        }
    }

    fn note_retry(&self, error: &anyhow::Error, pause: Duration) {
        let attempt = self.count_failure(format!("{error:#}"));
        tracing::warn!("storage: {error:#}; retrying in {pause:.1?} (attempt {attempt})");
    }

    /// Counts a failed attempt in the health, with its error; the failures so far.
    fn count_failure(&self, error: String) -> u64 {
        let mut health = self.health.lock().expect("storage health");
        health.retries += 1;
        health.last_error = Some(error);
        health.retries
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use crate::testing::{Fault, FaultyStore};

    #[test]
    fn a_storage_not_usable_at_the_start_counts_a_failed_attempt_and_is_used_all_the_same() {
        let (storage, store) = FaultyStore::storage();
        store.fail(Fault::Transient, 1);
        storage.probe().unwrap();
        let health = storage.health();
        assert_eq!(health.retries, 1);
        let error = health.last_error.unwrap();
        assert!(error.contains("memory://test is not usable yet"), "{error}");
        storage.publish("a/file", b"data".to_vec()).unwrap();
        assert_eq!(storage.read("a/file").unwrap(), b"data");
    }

    #[test]
    fn a_permanent_failure_at_the_start_is_an_error_and_no_attempt_counted() {
        let (storage, store) = FaultyStore::storage();
        store.fail(Fault::Permanent, 1);
        assert!(storage.probe().is_err());
        assert_eq!(storage.health().retries, 0);
    }
}
