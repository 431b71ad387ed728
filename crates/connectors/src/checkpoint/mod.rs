//! The checkpoint store, laid out like Spark's so an operator can read it:
//!
//! ```text
//! <dir>/metadata          the checkpoint's id (JSON), written when it is created
//! <dir>/offsets/<epoch>   source offsets and watermark the epoch ends at, and the files it
//!                         publishes (JSON)
//! <dir>/state/<epoch>     the processor's state at that point (binary)
//! <dir>/rows/<epoch>      rows the open Parquet files received during the epoch (binary)
//! <dir>/staging/<epoch>-<n> the epoch's finished files, moved into place once it commits
//! <dir>/claims/<epoch>    the incarnation that numbers an epoch so (created only if absent)
//! <dir>/commits/<epoch>   the epoch's outputs are committed (JSON); written with the next
//!                         epoch's files (or when the processor stops), so it costs the
//!                         commit no file creation of its own
//! ```
//!
//! `<dir>` defaults to `checkpoints/ratings_stream/processor` on the configured storage. Every
//! file starts with a header line `RSCKPT <version> <kind> crc32=<hex> len=<bytes>` followed by
//! its body, and is published atomically ([`Storage::publish`]). An epoch counts as committed
//! once its commit record exists; one with offsets but none (the newest after a stop, or one a
//! crash interrupted) is *pending*, and its consumer-group tag in Kafka decides it on restart
//! (`ratings-runtime`'s recovery). A damaged, truncated or missing file, or one from a newer format, is an
//! error that names the file: the store never silently falls back to an older epoch or a fresh
//! start.
//!
//! Epoch numbers are claimed before any file of the epoch is written: a processor creates
//! `claims/<epoch>` with its incarnation, and only the one that created it writes that epoch's
//! files. Two incarnations running at once (with high availability, a paused lease holder that
//! wakes up after its successor recovered from the same epoch) so never write over each
//! other's files; the loser numbers its epoch with the next free number.

use std::sync::Arc;

use crate::storage::{Created, Storage};

mod inspect;
mod records;

pub use inspect::inspect;
pub use records::{
    CheckpointError, CheckpointMetadata, CommitRecord, EpochOffsets, FileSize, Owner, Restored,
};

/// The format this build writes and the newest it reads. Version 2: the processor state
/// records each window type's Parquet folder (version 1 had the tumbling/sliding pair's).
pub const FORMAT_VERSION: u32 = 2;
/// The default folder of the checkpoints, relative to the storage base.
pub const DEFAULT_DIR: &str = "checkpoints/ratings_stream/processor";

/// The kinds of checkpoint files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Metadata,
    Owner,
    Offsets,
    State,
    Rows,
    Commit,
    Claim,
}

impl Kind {
    fn folder(self) -> &'static str {
        match self {
            Kind::Metadata | Kind::Owner => "",
            Kind::Rows => "rows",
            Kind::Offsets => "offsets",
            Kind::State => "state",
            Kind::Commit => "commits",
            Kind::Claim => "claims",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Metadata => "metadata",
            Kind::Owner => "owner",
            Kind::Rows => "rows",
            Kind::Offsets => "offsets",
            Kind::State => "state",
            Kind::Commit => "commit",
            Kind::Claim => "claim",
        }
    }
}

/// See the module documentation.
pub struct CheckpointStore {
    storage: Arc<Storage>,
    dir: String,
}

/// What sealing an epoch writes (see [`CheckpointStore::seal`]).
pub struct EpochFiles<'a> {
    /// The finished Parquet files, staged as `staging/<epoch>-<index>`.
    pub staged: Vec<Vec<u8>>,
    /// The rows the open Parquet files received, if any.
    pub rows: Option<Vec<u8>>,
    /// The state snapshot.
    pub state: Vec<u8>,
    pub offsets: &'a EpochOffsets,
    /// The commit record of the previous epoch, if it is still to be written.
    pub previous_commit: Option<CommitRecord>,
    /// The number to claim for the epoch after this one (for the incarnation in `offsets`).
    pub next_epoch: u64,
}

/// A checkpoint file: the `RSCKPT` header line (version, kind, checksum, length), then `body`.
fn framed(kind: Kind, body: &[u8]) -> Vec<u8> {
    let header = format!(
        "RSCKPT {FORMAT_VERSION} {} crc32={:08x} len={}\n",
        kind.name(),
        crc32fast::hash(body),
        body.len()
    );
    let mut file = header.into_bytes();
    file.extend_from_slice(body);
    file
}

impl CheckpointStore {
    /// The store in `dir` (relative to the storage base).
    pub fn new(storage: Arc<Storage>, dir: &str) -> CheckpointStore {
        CheckpointStore {
            storage,
            dir: dir.trim_matches('/').to_string(),
        }
    }

    /// `<storage url>/<dir>`, for messages.
    pub fn location(&self) -> String {
        format!("{}/{}", self.storage.url().trim_end_matches('/'), self.dir)
    }

    fn path(&self, kind: Kind, epoch: u64) -> String {
        match kind {
            Kind::Metadata => format!("{}/metadata", self.dir),
            Kind::Owner => format!("{}/owner", self.dir),
            _ => format!("{}/{}/{epoch}", self.dir, kind.folder()),
        }
    }

    /// The checkpoint folder, relative to the storage base.
    pub fn dir(&self) -> &str {
        &self.dir
    }

    /// The storage the checkpoint lives on.
    pub fn storage(&self) -> &Arc<Storage> {
        &self.storage
    }

    /// The checkpoint's metadata, created (with a new id) when there is none yet.
    pub fn open_or_create(&self) -> anyhow::Result<CheckpointMetadata> {
        if !self.storage.exists(&self.path(Kind::Metadata, 0))? {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            let metadata = CheckpointMetadata {
                id: format!("{:016x}", fastrand::u64(..)),
                created_at_millis: now.as_millis() as i64,
                raw_from_watermark: None,
            };
            let body = serde_json::to_vec_pretty(&metadata)?;
            // of two processors creating the checkpoint at once, one writes the id and the
            // other reads it
            let (path, bytes) = self.file(Kind::Metadata, 0, &body);
            if self.storage.create(&path, bytes)? == Created::New {
                return Ok(metadata);
            }
        }
        self.read_json(Kind::Metadata, 0, "not valid metadata JSON")
    }

    /// Records that the raw dataset begins at `watermark` (see
    /// [`CheckpointMetadata::raw_from_watermark`]).
    pub fn record_raw_start(&self, watermark: i64) -> anyhow::Result<()> {
        let mut metadata = self.open_or_create()?;
        metadata.raw_from_watermark = Some(watermark);
        self.write(Kind::Metadata, 0, &serde_json::to_vec_pretty(&metadata)?)
    }

    /// Claims epoch number `epoch` for `incarnation`: `true` when it is this incarnation's
    /// (now, or by an earlier call), `false` when another incarnation holds it.
    pub fn claim(&self, epoch: u64, incarnation: &str) -> anyhow::Result<bool> {
        let (path, bytes) = self.file(Kind::Claim, epoch, incarnation.as_bytes());
        let found = self.storage.create(&path, bytes.clone())?;
        Ok(claimed(found, &bytes))
    }

    /// Claims the first epoch number from `from` on that no other incarnation holds; returns
    /// it and the numbers passed over (another's).
    pub fn claim_first_free(
        &self,
        from: u64,
        incarnation: &str,
    ) -> anyhow::Result<(u64, Vec<u64>)> {
        let mut passed = Vec::new();
        let mut epoch = from;
        while !self.claim(epoch, incarnation)? {
            tracing::warn!(
                "checkpoint: epoch {epoch} is claimed by another processor (one that ran at the \
                 same time, fenced now); numbering this one's next epoch {}",
                epoch + 1
            );
            passed.push(epoch);
            epoch += 1;
        }
        Ok((epoch, passed))
    }

    /// Records the processor now running the job.
    pub fn write_owner(&self, owner: &Owner) -> anyhow::Result<()> {
        self.write(Kind::Owner, 0, &serde_json::to_vec_pretty(owner)?)
    }

    /// The processor that last started on this checkpoint, if one recorded itself.
    pub fn owner(&self) -> anyhow::Result<Option<Owner>> {
        if !self.storage.exists(&self.path(Kind::Owner, 0))? {
            return Ok(None);
        }
        self.read_json(Kind::Owner, 0, "not a valid owner record")
            .map(Some)
    }

    /// Whether the folder holds anything.
    pub fn exists(&self) -> anyhow::Result<bool> {
        Ok(!self.storage.list(&self.dir)?.is_empty())
    }

    /// Deletes the whole checkpoint; returns how many files it had.
    pub fn reset(&self) -> anyhow::Result<usize> {
        self.storage.delete_all(&self.dir)
    }

    /// Where the `index`-th file an epoch publishes waits until the epoch commits (one flat
    /// folder: no empty folders are left behind once the files move).
    pub fn staging_path(&self, epoch: u64, index: usize) -> String {
        format!("{}/staging/{epoch}-{index}", self.dir)
    }

    /// Stores the `index`-th finished file of `epoch` under its staging path.
    pub fn stage(&self, epoch: u64, index: usize, bytes: Vec<u8>) -> anyhow::Result<()> {
        self.storage
            .publish(&self.staging_path(epoch, index), bytes)
    }

    /// Completes a committed epoch: moves its staged files into place (skipping those an
    /// earlier attempt moved), then writes its commit record.
    pub fn finalize(&self, offsets: &EpochOffsets, committed_at_millis: i64) -> anyhow::Result<()> {
        self.move_into_place(offsets, |_| true)?;
        self.commit(&CommitRecord {
            epoch: offsets.epoch,
            committed_at_millis,
        })
    }

    /// Moves a committed epoch's staged files whose path `which` accepts into place, skipping
    /// those an earlier attempt moved; its commit record is the caller's (see
    /// [`EpochFiles::previous_commit`]).
    pub fn move_into_place(
        &self,
        offsets: &EpochOffsets,
        which: impl Fn(&str) -> bool,
    ) -> anyhow::Result<()> {
        for (index, target) in offsets.publications.iter().enumerate() {
            if !which(target) {
                continue;
            }
            let staged = self.staging_path(offsets.epoch, index);
            if !self.storage.rename(&staged, target)? {
                anyhow::ensure!(
                    self.storage.exists(target)?,
                    "{} lost its staged file {staged}: neither it nor {target} exists",
                    self.location()
                );
            }
        }
        Ok(())
    }

    /// Forgets an epoch that did not commit: its staged files, rows, state and offsets.
    pub fn roll_back(&self, epoch: u64) -> anyhow::Result<()> {
        self.discard_staged(epoch)?;
        for kind in [Kind::Rows, Kind::State, Kind::Offsets] {
            self.storage.delete(&self.path(kind, epoch))?;
        }
        Ok(())
    }

    /// Deletes the files an epoch staged.
    fn discard_staged(&self, epoch: u64) -> anyhow::Result<()> {
        let prefix = format!("{epoch}-");
        for staged in self.storage.list(&format!("{}/staging", self.dir))? {
            if staged
                .rsplit('/')
                .next()
                .is_some_and(|n| n.starts_with(&prefix))
            {
                self.storage.delete(&staged)?;
            }
        }
        Ok(())
    }

    /// The offsets record of an epoch (committed or pending).
    pub fn read_offsets(&self, epoch: u64) -> anyhow::Result<EpochOffsets> {
        self.read_json(Kind::Offsets, epoch, "not valid offsets JSON")
    }

    /// The commit record of a committed epoch.
    pub fn commit_record(&self, epoch: u64) -> anyhow::Result<CommitRecord> {
        self.read_json(Kind::Commit, epoch, "not a valid commit record")
    }

    /// Reads and checks a file whose body is JSON; `problem` says what a body that does not
    /// parse is not.
    fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        kind: Kind,
        epoch: u64,
        problem: &str,
    ) -> anyhow::Result<T> {
        let body = self.read(kind, epoch)?;
        Ok(
            serde_json::from_slice(&body).map_err(|e| CheckpointError::Damaged {
                path: format!(
                    "{}/{}",
                    self.storage.url().trim_end_matches('/'),
                    self.path(kind, epoch)
                ),
                reason: format!("{problem}: {e}"),
            })?,
        )
    }

    /// Stores the rows the open Parquet files received during an epoch.
    pub fn write_rows(&self, epoch: u64, rows: &[u8]) -> anyhow::Result<()> {
        self.write(Kind::Rows, epoch, rows)
    }

    /// The rows of an epoch (empty when the epoch wrote none).
    pub fn read_rows(&self, epoch: u64) -> anyhow::Result<Option<Vec<u8>>> {
        if !self.storage.exists(&self.path(Kind::Rows, epoch))? {
            return Ok(None);
        }
        Ok(Some(self.read(Kind::Rows, epoch)?))
    }

    fn write(&self, kind: Kind, epoch: u64, body: &[u8]) -> anyhow::Result<()> {
        let (path, bytes) = self.file(kind, epoch, body);
        self.storage.publish(&path, bytes)
    }

    /// The checkpoint file of `kind` for `epoch`: its path and its framed contents.
    fn file(&self, kind: Kind, epoch: u64, body: &[u8]) -> (String, Vec<u8>) {
        (self.path(kind, epoch), framed(kind, body))
    }

    /// Writes everything an epoch needs before Kafka may commit it, all at once (each file
    /// still appears atomically): its finished files under their staging paths, the rows of
    /// the open files, the state and the offsets record — and the previous epoch's commit
    /// record. On HDFS each new file waits ~0.5 s for the NameNode, so the files are written
    /// together: one wait per epoch.
    ///
    /// The epoch after it is claimed at the same time ([`CheckpointStore::claim`]): returns
    /// whether [`EpochFiles::next_epoch`] is this incarnation's.
    pub fn seal(&self, epoch: EpochFiles<'_>) -> anyhow::Result<bool> {
        let id = epoch.offsets.epoch;
        let mut files: Vec<(String, Vec<u8>)> = (epoch.staged.into_iter().enumerate())
            .map(|(index, bytes)| (self.staging_path(id, index), bytes))
            .collect();
        if let Some(rows) = epoch.rows {
            files.push(self.file(Kind::Rows, id, &rows));
        }
        files.push(self.file(Kind::State, id, &epoch.state));
        let offsets = serde_json::to_vec_pretty(epoch.offsets)?;
        files.push(self.file(Kind::Offsets, id, &offsets));
        if let Some(record) = epoch.previous_commit {
            let body = serde_json::to_vec_pretty(&record)?;
            files.push(self.file(Kind::Commit, record.epoch, &body));
        }
        let incarnation = epoch.offsets.incarnation.as_deref().unwrap_or_default();
        let claim = self.file(Kind::Claim, epoch.next_epoch, incarnation.as_bytes());
        let found = self.storage.publish_all_and_create(files, claim.clone())?;
        Ok(claimed(found, &claim.1))
    }

    /// Records where the input stands at the end of an epoch.
    pub fn write_offsets(&self, offsets: &EpochOffsets) -> anyhow::Result<()> {
        self.write(
            Kind::Offsets,
            offsets.epoch,
            &serde_json::to_vec_pretty(offsets)?,
        )
    }

    /// Stores the engine snapshot of an epoch.
    pub fn write_state(&self, epoch: u64, snapshot: &[u8]) -> anyhow::Result<()> {
        self.write(Kind::State, epoch, snapshot)
    }

    /// Marks an epoch committed (write it after its offsets, state and outputs).
    pub fn commit(&self, record: &CommitRecord) -> anyhow::Result<()> {
        self.write(
            Kind::Commit,
            record.epoch,
            &serde_json::to_vec_pretty(record)?,
        )
    }

    /// Epochs that have a file of `kind`, ascending.
    fn epochs(&self, kind: Kind) -> anyhow::Result<Vec<u64>> {
        let prefix = format!("{}/{}", self.dir, kind.folder());
        let mut epochs: Vec<u64> = self
            .storage
            .list(&prefix)?
            .iter()
            .filter_map(|path| path.rsplit('/').next()?.parse().ok())
            .collect();
        epochs.sort_unstable();
        Ok(epochs)
    }

    /// Committed epochs, ascending.
    pub fn committed_epochs(&self) -> anyhow::Result<Vec<u64>> {
        self.epochs(Kind::Commit)
    }

    /// Epochs sealed after the last one with a commit record (at most two: the newest
    /// committed one, whose record is written with the next epoch's files, and the one after
    /// it): on restart, their outputs are completed or rolled back by what Kafka committed.
    pub fn pending_epochs(&self) -> anyhow::Result<Vec<u64>> {
        let last = self.committed_epochs()?.last().copied();
        Ok(self
            .epochs(Kind::Offsets)?
            .into_iter()
            .filter(|e| last.is_none_or(|l| *e > l))
            .collect())
    }

    /// Reads and checks one file; the body on success.
    fn read(&self, kind: Kind, epoch: u64) -> Result<Vec<u8>, CheckpointError> {
        self.read_versioned(kind, epoch).map(|(_, body)| body)
    }

    /// Reads and checks one file; the format version it was written with, and its body.
    fn read_versioned(&self, kind: Kind, epoch: u64) -> Result<(u32, Vec<u8>), CheckpointError> {
        let path = self.path(kind, epoch);
        let full = format!("{}/{path}", self.storage.url().trim_end_matches('/'));
        let bytes = self
            .storage
            .read(&path)
            .map_err(|e| CheckpointError::Missing {
                epoch,
                path: full.clone(),
                reason: format!("{e:#}"),
            })?;
        check_envelope(&bytes, kind).map_err(|problem| match problem {
            Problem::Version(found) => CheckpointError::FutureVersion {
                path: full.clone(),
                found,
            },
            Problem::Damaged(reason) => CheckpointError::Damaged {
                path: full.clone(),
                reason,
            },
        })
    }

    /// The last committed epoch's offsets and state, or `None` for an empty store. An epoch
    /// pruned while it is read (another processor committed newer ones meanwhile, e.g. the
    /// holder of the high-availability lease) is no error: the newest one is read instead, as
    /// often as it happens — each time, the other processor has made progress, and however
    /// slow this reader is, it reads an epoch whole once the other pauses or keeps it longer.
    pub fn latest(&self) -> anyhow::Result<Option<Restored>> {
        loop {
            let Some(epoch) = self.committed_epochs()?.last().copied() else {
                return Ok(None);
            };
            match self.restore(epoch) {
                Ok(restored) => return Ok(Some(restored)),
                Err(error) if self.committed_epochs()?.last() > Some(&epoch) => {
                    tracing::info!(
                        "checkpoint: {error:#}; epoch {epoch} was pruned meanwhile (another \
                         processor committed newer epochs): reading the newest one"
                    );
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// The committed epoch `epoch`'s offsets and state.
    fn restore(&self, epoch: u64) -> anyhow::Result<Restored> {
        self.read(Kind::Commit, epoch)?;
        let offsets = self.read_offsets(epoch)?;
        let (state_version, state) = self.read_versioned(Kind::State, epoch)?;
        Ok(Restored {
            offsets,
            state,
            state_version,
        })
    }

    /// Deletes every epoch older than the newest `keep` committed ones, except the rows and
    /// claims of epochs from `rows_needed_from` on (open Parquet files are rebuilt from them); an
    /// old epoch without a commit record (a fenced predecessor's, or one whose pruning was cut
    /// short) goes with its staged files.
    /// Returns how many epochs went.
    pub fn prune(&self, keep: usize, rows_needed_from: u64) -> anyhow::Result<usize> {
        let committed = self.committed_epochs()?;
        let Some(&oldest_kept) = committed.iter().rev().nth(keep.max(1) - 1) else {
            return Ok(0);
        };
        let mut removed = 0;
        let mut old: Vec<u64> = self.epochs(Kind::Offsets)?;
        old.extend(&committed);
        old.sort_unstable();
        old.dedup();
        for epoch in old.into_iter().filter(|e| *e < oldest_kept) {
            if committed.binary_search(&epoch).is_err() {
                // never committed (a fenced predecessor's epoch), or committed and half pruned
                // (a prune cut short once its commit record went): its staged files go; its
                // rows follow the rule below like every epoch's, since an open file may still
                // be rebuilt from them (a predecessor's are never read: the lineage skips them)
                self.discard_staged(epoch)?;
            }
            // the commit record goes first, so a half-pruned epoch never looks committed
            for kind in [Kind::Commit, Kind::State, Kind::Offsets] {
                self.storage.delete(&self.path(kind, epoch))?;
            }
            removed += 1;
        }
        // a claim stays as long as the rows: a number another incarnation could claim again
        // is one whose files nobody reads any more
        let rows_kept_from = rows_needed_from.min(oldest_kept);
        for kind in [Kind::Rows, Kind::Claim] {
            for epoch in self.epochs(kind)? {
                if epoch < rows_kept_from {
                    self.storage.delete(&self.path(kind, epoch))?;
                }
            }
        }
        Ok(removed)
    }
}

/// Whether a claim's file, as [`Storage::create`] found it, is `ours`.
fn claimed(found: Created, ours: &[u8]) -> bool {
    match found {
        Created::New => true,
        Created::Existing(bytes) => bytes == ours,
    }
}

enum Problem {
    Version(u32),
    Damaged(String),
}

/// Checks the header line of a checkpoint file; returns its version and body.
fn check_envelope(bytes: &[u8], kind: Kind) -> Result<(u32, Vec<u8>), Problem> {
    let damaged = |reason: &str| Problem::Damaged(reason.to_string());
    let newline = bytes
        .iter()
        .position(|b| *b == b'\n')
        .ok_or_else(|| damaged("no header line"))?;
    let header =
        std::str::from_utf8(&bytes[..newline]).map_err(|_| damaged("header is not text"))?;
    let fields: Vec<&str> = header.split(' ').collect();
    let [magic, version, file_kind, crc, len] = fields[..] else {
        return Err(damaged("malformed header"));
    };
    if magic != "RSCKPT" {
        return Err(damaged("not a ratings-stream checkpoint file"));
    }
    let version: u32 = version.parse().map_err(|_| damaged("malformed version"))?;
    if version > FORMAT_VERSION {
        return Err(Problem::Version(version));
    }
    if file_kind != kind.name() {
        return Err(Problem::Damaged(format!(
            "holds {file_kind}, expected {}",
            kind.name()
        )));
    }
    let body = &bytes[newline + 1..];
    let expected_len: usize = len
        .strip_prefix("len=")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| damaged("malformed length"))?;
    if body.len() != expected_len {
        return Err(Problem::Damaged(format!(
            "truncated: {} of {expected_len} bytes",
            body.len()
        )));
    }
    let expected_crc = crc
        .strip_prefix("crc32=")
        .and_then(|c| u32::from_str_radix(c, 16).ok())
        .ok_or_else(|| damaged("malformed checksum"))?;
    if crc32fast::hash(body) != expected_crc {
        return Err(damaged("checksum mismatch"));
    }
    Ok((version, body.to_vec()))
}

#[cfg(test)]
mod tests;
