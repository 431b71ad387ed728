//! What the coordinator commits: [`EpochWork`], the work of one epoch as the coordinator sees
//! it — the engine's state and the sinks' files — implemented by the [`Pipeline`], and by a
//! fake in the coordinator's tests (no engine, no Parquet writer); [`EpochTables`], the tables
//! a committed epoch's files are added to, implemented by the Delta stage.

use ratings_connectors::checkpoint::EpochOffsets;
use ratings_connectors::parquet::ParquetState;

use crate::pipeline::Pipeline;
use crate::sink::{ParquetEpoch, RowsSince};

/// The work cut into epochs. See the module documentation.
pub(crate) trait EpochWork {
    /// Writes what is buffered, as at the end of a batch.
    fn end_batch(&mut self) -> anyhow::Result<()>;
    /// Bytes of finished files held for the open epoch.
    fn held_bytes(&self) -> usize;
    /// The open epoch ends: its files and their state (`None` without file outputs).
    fn take_epoch(&mut self) -> anyhow::Result<Option<ParquetEpoch>>;
    /// The watermark now.
    fn watermark(&self) -> Option<i64>;
    /// The state to checkpoint: the engine's snapshot.
    fn snapshot(&self) -> Vec<u8>;
    /// `epoch` opens: files finished from now on belong to it.
    fn begin_epoch(&mut self, epoch: u64);
    /// The files' state back as checkpointed (at `watermark`); whether an output keeps one.
    fn restore(
        &mut self,
        state: &ParquetState,
        rows: &RowsSince,
        watermark: Option<i64>,
    ) -> anyhow::Result<bool>;
}

/// Tables (Delta Lake) that a committed epoch's files become part of, once they are in place.
pub(crate) trait EpochTables {
    /// Adds the epoch's data files (`offsets.publications`) to their tables, in one commit
    /// per table, each marked with the epoch — unless the table has the epoch already.
    fn commit_epoch(&mut self, offsets: &EpochOffsets) -> anyhow::Result<()>;
}

impl EpochWork for Pipeline {
    fn end_batch(&mut self) -> anyhow::Result<()> {
        Pipeline::end_batch(self)
    }
    fn held_bytes(&self) -> usize {
        self.outputs().held_bytes()
    }
    fn take_epoch(&mut self) -> anyhow::Result<Option<ParquetEpoch>> {
        self.outputs_mut().take_epoch()
    }
    fn watermark(&self) -> Option<i64> {
        self.engine().watermark()
    }
    fn snapshot(&self) -> Vec<u8> {
        self.engine().snapshot()
    }
    fn begin_epoch(&mut self, epoch: u64) {
        self.outputs_mut().begin_epoch(epoch)
    }
    fn restore(
        &mut self,
        state: &ParquetState,
        rows: &RowsSince,
        watermark: Option<i64>,
    ) -> anyhow::Result<bool> {
        self.outputs_mut().restore(state, rows, watermark)
    }
}
